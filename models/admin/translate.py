"""Translation of a document or letter, French <-> English and French <-> Italian, through an
OpenAI-compatible chat endpoint (Albert, Mistral, a local server), never translating figures,
names or references, and keeping the city's glossary of municipal terms.

Before the call, the text is masked: the names given (delegates, people, contract names), the
references (contract and complaint identifiers, code articles such as L3131-5), dates, amounts
and every other number become placeholders ``[[P1]]``, and each glossary term becomes ``[[G1]]``.
The model translates the masked text; after it, each ``[[P..]]`` is restored to its original and
each ``[[G..]]`` to the glossary's term in the target language. The answer is **rejected** when a
placeholder is missing, repeated or invented, or when a digit appears outside the restored
placeholders (a figure the model wrote itself). With no endpoint configured the result is
``unavailable``: no translation is made up.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .narrative import chat

PROMPT_VERSION = "translate-v1"
LANGS = {"fr": "French", "en": "English", "it": "Italian"}
PAIRS = {("fr", "en"), ("en", "fr"), ("fr", "it"), ("it", "fr")}
GLOSSARY = Path(__file__).with_name("reference") / "glossaire_municipal.csv"
PLACEHOLDER = re.compile(r"\[\[([PG])(\d+)\]\]")
# references first (they hold digits), then dates, then amounts and numbers with their unit
REFERENCE = re.compile(r"\b(?:[A-Z]{2,}(?:-[A-Z0-9]+)+|[LRD]\.?\s?\d{4}-\d+(?:-\d+)?)\b")
DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b|\b\d{4}-\d{2}-\d{2}\b")
AMOUNT = re.compile(r"[-+]?\d[\d\u00a0\u202f ]*(?:[.,]\d+)?(?:\s?(?:€|%|EUR))?")


@dataclass
class Translation:
    status: str            # translated | unavailable | rejected | error
    text: str | None       # the restored translation (translated only)
    reason: str            # why not, or "" when translated
    model: str | None
    prompt_version: str
    inputs_hash: str
    raw_output: str | None = None  # the model's answer as received (logged, even when rejected)


def load_glossary(path: Path = GLOSSARY) -> list[dict]:
    """Glossary rows (fr, en, it): longest French term first, so that a longer term wins."""
    with open(path, encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter=";") if r.get("fr")]
    for r in rows:
        if not all(r.get(k) for k in LANGS):
            raise ValueError(f"{path}: term {r.get('fr')!r} lacks a translation in {', '.join(LANGS)}")
    return sorted(rows, key=lambda r: -len(r["fr"]))


def mask(text: str, names: list[str], glossary: list[dict], source: str, target: str) -> tuple[str, dict, dict]:
    """(masked text, placeholder -> original, placeholder -> target term)."""
    kept: dict[str, str] = {}
    terms: dict[str, str] = {}

    def keep(m: re.Match) -> str:
        tok = m.group(0)
        lead = tok[: len(tok) - len(tok.lstrip())]
        trail = tok[len(tok.rstrip()):]
        key = f"[[P{len(kept) + 1}]]"
        kept[key] = tok.strip()
        return lead + key + trail

    for name in sorted({n for n in names if n and n.strip()}, key=len, reverse=True):
        text = re.sub(re.escape(name), keep, text)
    for pattern in (REFERENCE, DATE, AMOUNT):
        text = _outside_placeholders(text, pattern, keep)
    for row in glossary:
        def term(m: re.Match, row=row) -> str:
            key = f"[[G{len(terms) + 1}]]"
            t = row[target]
            terms[key] = t[0].upper() + t[1:] if m.group(0)[0].isupper() else t
            return key
        text = _outside_placeholders(text, re.compile(r"\b" + re.escape(row[source]) + r"\b", re.IGNORECASE), term)
    return text, kept, terms


def _outside_placeholders(text: str, pattern: re.Pattern, repl) -> str:
    parts = re.split(r"(\[\[[PG]\d+\]\])", text)
    return "".join(p if PLACEHOLDER.fullmatch(p) else pattern.sub(lambda m: repl(m) if m.group(0).strip() else
                                                                     m.group(0), p) for p in parts)


def restore(answer: str, kept: dict, terms: dict) -> tuple[str | None, str]:
    """(restored text, "") or (None, why the answer is rejected)."""
    found = [m.group(0) for m in PLACEHOLDER.finditer(answer)]
    expected = set(kept) | set(terms)
    missing = sorted(expected - set(found), key=_order)
    extra = sorted({f for f in found if f not in expected}, key=_order)
    twice = sorted({f for f in found if found.count(f) > 1 and f in kept}, key=_order)
    if missing or extra or twice:
        return None, "placeholders " + "; ".join(x for x in (
            f"missing {', '.join(missing)}" if missing else "", f"invented {', '.join(extra)}" if extra else "",
            f"repeated {', '.join(twice)}" if twice else "") if x)
    bare = PLACEHOLDER.sub(" ", answer)
    digits = re.findall(r"\S*\d\S*", bare)
    if digits:
        return None, f"figures written by the model: {', '.join(digits[:5])}"
    out = PLACEHOLDER.sub(lambda m: kept.get(m.group(0)) or terms[m.group(0)], answer)
    return out, ""


def _order(p: str) -> tuple:
    m = PLACEHOLDER.fullmatch(p)
    return (m.group(1), int(m.group(2))) if m else ("Z", 0)


def verify(source: str, translated: str, kept: dict) -> list[str]:
    """Every protected item of the source is in the translation as often as in the source."""
    return [v for v in set(kept.values()) if translated.count(v) < source.count(v)]


def inputs_hash(text: str, source: str, target: str, names: list[str], glossary: list[dict]) -> str:
    h = hashlib.sha256()
    for part in (text, source, target, "\x1f".join(sorted(names)), repr([(r["fr"], r["en"], r["it"]) for r in glossary]),
                 PROMPT_VERSION):
        h.update(part.encode())
        h.update(b"\x1e")
    return h.hexdigest()


def translate(text: str, source: str, target: str, endpoint: dict | None, names: list[str] = (),
              glossary: list[dict] | None = None,
              call: Callable[[dict, list[dict]], str] | None = None) -> Translation:
    """Translate ``text`` from ``source`` to ``target`` (fr, en, it; one side French)."""
    if (source, target) not in PAIRS:
        raise ValueError(f"translation {source} -> {target}: supported pairs are "
                         f"{', '.join(sorted(f'{a}->{b}' for a, b in PAIRS))}")
    glossary = load_glossary() if glossary is None else glossary
    names = list(names)
    ih = inputs_hash(text, source, target, names, glossary)
    if endpoint is None:
        return Translation("unavailable", None, "no language-model endpoint configured (LLM_BASE_URL and LLM_MODEL "
                           "unset): no translation made", None, PROMPT_VERSION, ih)
    masked, kept, terms = mask(text, names, glossary, source, target)
    messages = [
        {"role": "system", "content": f"You translate official letters of a French city from {LANGS[source]} into "
         f"{LANGS[target]}. Keep every token of the form [[P1]] or [[G1]] exactly as written, once each, where it "
         "belongs in the sentence: they stand for names, references, dates, figures and glossary terms. Write no "
         "digit yourself. Keep the line breaks. Answer with the translation only."},
        {"role": "user", "content": masked},
    ]
    try:
        answer = (call or chat)(endpoint, messages)
    except Exception as exc:  # noqa: BLE001 - an unreachable endpoint is reported, never raised
        return Translation("error", None, f"{type(exc).__name__}: {exc}"[:300], endpoint["model"], PROMPT_VERSION, ih)
    out, why = restore(answer.strip(), kept, terms)
    if out is None:
        return Translation("rejected", None, why, endpoint["model"], PROMPT_VERSION, ih, answer)
    lost = verify(text, out, kept)
    if lost:
        return Translation("rejected", None, f"protected items lost: {', '.join(lost[:5])}", endpoint["model"],
                           PROMPT_VERSION, ih, answer)
    return Translation("translated", out, "", endpoint["model"], PROMPT_VERSION, ih, answer)
