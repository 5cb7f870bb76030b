"""Optional narrative for a control report from an OpenAI-compatible chat endpoint (Albert,
Mistral, a local server). Off by default: on only when ``LLM_BASE_URL`` and ``LLM_MODEL`` are set
(``LLM_API_KEY`` optional, ``LLM_TIMEOUT_S`` default 30), read by orchestration/settings.py and
handed to the report asset as an endpoint (``endpoint_from_env(settings' environment)``). The model never writes a figure into a
report unchecked: every number in its text must be one of the report's figures (as formatted in
the report), otherwise the narrative is dropped and the report keeps its deterministic text.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from typing import Callable

NUMBER = re.compile(r"[-+]?\d[\d\u00a0\u202f ]*(?:[.,]\d+)?")


@dataclass
class Narrative:
    text: str | None
    status: str  # off | accepted | rejected: <why> | error: <why>
    raw: str | None = None  # the model's answer as received (for the audit log)


PROMPT_VERSION = "narrative-v1"


def endpoint_from_env(env: dict) -> dict | None:
    """The chat endpoint the environment `env` describes (LLM_*), or None when it names none."""
    base, model = env.get("LLM_BASE_URL"), env.get("LLM_MODEL")
    if not base or not model:
        return None
    return {"base_url": base.rstrip("/"), "model": model, "api_key": env.get("LLM_API_KEY", ""),
            "timeout": float(env.get("LLM_TIMEOUT_S", "30"))}


def chat(endpoint: dict, messages: list[dict]) -> str:
    """One /v1/chat/completions call (OpenAI protocol); returns the first choice's text."""
    url = endpoint["base_url"] + ("/chat/completions" if endpoint["base_url"].endswith("/v1") else "/v1/chat/completions")
    body = json.dumps({"model": endpoint["model"], "messages": messages, "temperature": 0.0}).encode()
    headers = {"Content-Type": "application/json"}
    if endpoint.get("api_key"):
        headers["Authorization"] = f"Bearer {endpoint['api_key']}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=endpoint.get("timeout", 30)) as resp:
        doc = json.loads(resp.read().decode())
    return doc["choices"][0]["message"]["content"]


def _canon(token: str) -> str:
    """A number as digits with '.' decimals and no grouping: '1 234,50' -> '1234.5'."""
    t = re.sub(r"[\s\u00a0\u202f]", "", token).replace(",", ".").lstrip("+")
    try:
        v = float(t)
    except ValueError:
        return t
    return f"{v:.6f}".rstrip("0").rstrip(".")


def unverified_numbers(text: str, allowed_texts: list[str]) -> list[str]:
    """Numbers in ``text`` that are not among the numbers of ``allowed_texts`` (the report's figures
    as printed, plus the years and identifiers it shows)."""
    allowed = {_canon(m.group().strip()) for t in allowed_texts for m in NUMBER.finditer(t)}
    allowed |= {_canon(m.group().strip().lstrip("-+")) for t in allowed_texts for m in NUMBER.finditer(t)}
    bad = []
    for m in NUMBER.finditer(text):
        tok = m.group().strip()
        if tok and _canon(tok) not in allowed and _canon(tok.lstrip("-+")) not in allowed:
            bad.append(tok)
    return bad


def draft_narrative(facts: str, allowed_texts: list[str], endpoint: dict | None = None,
                    call: Callable[[dict, list[dict]], str] | None = None) -> Narrative:
    """Ask the model for a short synthesis of ``facts`` (the report's deterministic text); keep it
    only if every number in it is one of ``allowed_texts``'s numbers."""
    if endpoint is None:
        return Narrative(None, "off")
    messages = [
        {"role": "system", "content": "Tu rédiges la synthèse d'un rapport de contrôle d'une délégation de "
         "service public pour une collectivité. Style administratif, neutre, en français, 120 mots au plus. "
         "N'écris aucun chiffre qui ne figure pas exactement, sous la même forme, dans les faits fournis."},
        {"role": "user", "content": "Faits établis (ne pas modifier les chiffres) :\n" + facts},
    ]
    try:
        text = (call or chat)(endpoint, messages).strip()
    except Exception as exc:  # noqa: BLE001 - an unreachable endpoint must never fail a report
        return Narrative(None, f"error: {type(exc).__name__}: {exc}"[:300])
    if not text:
        return Narrative(None, "rejected: empty answer", text)
    bad = unverified_numbers(text, allowed_texts)
    if bad:
        return Narrative(None, f"rejected: figures not in the data: {', '.join(bad[:5])}", text)
    return Narrative(text, "accepted", text)
