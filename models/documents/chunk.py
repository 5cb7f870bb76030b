"""Split (redacted) document text into overlapping chunks for embedding and search.

Text is cut into *units* (paragraphs, then sentences inside long paragraphs, then word windows
inside very long sentences), each with its character offsets; units are packed greedily into
chunks of about ``target_words`` words (never more than ``max_words`` unless a single unit is
longer), and each chunk after the first starts with the last units of the previous chunk, up to
``overlap_words`` words. Offsets refer to the text given, so a chunk is ``text[start:end]``.

PDF text has no paragraph marks (its lines are the wrapped lines of the page): single line
breaks are then treated as spaces inside sentences, and sentences are the units.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# Sentence end: . ! ? … followed by space and an upper-case letter, a digit, a quote or a token.
# Abbreviations that end with a dot are not sentence ends.
_ABBREV = {"m", "mm", "mme", "mmes", "mlle", "me", "dr", "pr", "st", "ste", "av", "bd", "n", "no", "art",
           "al", "cf", "p", "pp", "vol", "réf", "ref", "tél", "tel", "env", "etc", "ex", "fig", "min", "max",
           "cs", "hab", "ha", "km", "h"}
_SENT_END = re.compile(r"([.!?…])(['’\")»]*)(\s+)(?=[\"«(\[]?[A-ZÀ-ÖØ-Þ0-9\[])")
_PARA = re.compile(r"\n[ \t]*\n+")
# A line that starts a unit on its own even in PDF text: a speaker turn or a list item.
_TURN_START = re.compile(r"\n(?=(?:M\.|Mme|Mlle|Madame|Monsieur|Me|Dr)\s+(?:\[NOM\]|[A-ZÀ-Þ][\w'’\-]+)"
                         r"[^\n:]{0,40}\s:\s)"
                         r"|\n(?=\d{1,2}[.)]\s)|\n(?=[-•–]\s)")


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document: ``text == source_text[start:end]``."""

    doc_id: str
    chunk_no: int
    start: int
    end: int
    text: str
    n_words: int

    def as_dict(self) -> dict:
        return asdict(self)


def _n_words(s: str) -> int:
    return len(s.split())


def _split_spans(text: str, start: int, end: int, pattern: re.Pattern, keep_group_end: bool) -> list[tuple[int, int]]:
    spans = []
    pos = start
    for m in pattern.finditer(text, start, end):
        cut = m.start(3) if keep_group_end else m.start()
        if keep_group_end:
            # do not cut after an abbreviation ("M. Dupont", "n° 3", "tél. 04 ...")
            word = re.findall(r"[\wÀ-ÿ]+$", text[pos:m.start(1)])
            if m.group(1) == "." and word and (word[-1].lower() in _ABBREV or len(word[-1]) == 1):
                continue
        if cut > pos:
            spans.append((pos, cut))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def split_units(text: str, max_words: int = 300) -> list[tuple[int, int]]:
    """Character spans of paragraphs / sentences / word windows, each under ``max_words``."""
    paras = _split_spans(text, 0, len(text), _PARA, False)
    if len(paras) <= 1:
        # No blank lines (PDF, DOCX): speaker turns and list items still start a unit.
        paras = _split_spans(text, 0, len(text), _TURN_START, False)
    units: list[tuple[int, int]] = []
    for ps, pe in paras:
        ps, pe = _strip(text, ps, pe)
        if ps >= pe:
            continue
        sentences = _split_spans(text, ps, pe, _SENT_END, True)
        for ss, se in sentences:
            ss, se = _strip(text, ss, se)
            if ss >= se:
                continue
            if _n_words(text[ss:se]) <= max_words:
                units.append((ss, se))
                continue
            # Very long sentence: windows of max_words words.
            words = list(re.finditer(r"\S+", text[ss:se]))
            for i in range(0, len(words), max_words):
                w = words[i:i + max_words]
                units.append((ss + w[0].start(), ss + w[-1].end()))
    # Merge sentence units of one short paragraph? No: packing below joins them.
    return units


def chunk_text(doc_id: str, text: str, target_words: int = 250, max_words: int = 300,
               overlap_words: int = 50) -> list[Chunk]:
    """Overlapping chunks of ``text`` (see the module docstring). A short document gives one chunk."""
    if not text.strip():
        return []
    units = split_units(text, max_words=max_words)
    counts = [_n_words(text[s:e]) for s, e in units]
    chunks: list[Chunk] = []
    i = 0
    n = len(units)
    while i < n:
        j, words = i, 0
        while j < n and (words == 0 or words + counts[j] <= max_words) and (words < target_words):
            words += counts[j]
            j += 1
        s, e = units[i][0], units[j - 1][1]
        chunks.append(Chunk(doc_id, len(chunks), s, e, text[s:e], _n_words(text[s:e])))
        if j >= n:
            break
        # Next chunk starts with the trailing units of this one, up to overlap_words.
        k, back = j, 0
        while k - 1 > i and back + counts[k - 1] <= overlap_words:
            k -= 1
            back += counts[k]
        i = k
    return chunks
