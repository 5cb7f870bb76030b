"""Documents into the search index and the minutes tables: the rows the administration assets
write (no Dagster, no lake here).

- :func:`chunk_rows`: extract, redact, chunk one document; one row per chunk with the redacted
  text only (the raw text never leaves this function).
- :func:`embed_rows`: add the 384-float embedding of each chunk (title + chunk, see
  :func:`models.documents.embed.index_text`).
- :func:`minutes_row`: structured minutes of a meeting transcript (attendees, decisions,
  actions with owner and due date).
- :func:`search_serving`: rank documents for a query from the ``administration.document_index``
  table of the DuckDB serving file (stored vectors + BM25 over the stored redacted chunks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from . import extract_text, prepare_document

DOC_TYPES = ("courrier", "deliberation", "avis-marche", "compte-rendu")


def doc_type(name: str) -> str:
    """The document's type from its file name (``<type>-NN-<slug>.<ext>``), else ``autre``."""
    base = Path(name).name
    return next((t for t in DOC_TYPES if base.startswith(t + "-")), "autre")


def chunk_rows(data: bytes, doc_id: str, checksum: str | None = None, key: str | None = None) -> list[dict]:
    """Redacted chunks of one document (raises ``UnreadableDocument``); `key`: of the PII hashes."""
    prep = prepare_document(data, doc_id, doc_id=doc_id, key=key)
    counts = json.dumps(prep.finding_counts(), sort_keys=True)
    return [{"chunk_id": f"{doc_id}#{c.chunk_no}", "doc_id": doc_id, "doc_type": doc_type(doc_id),
             "doc_format": doc_id.rsplit(".", 1)[-1].lower(), "title": prep.title, "chunk_no": c.chunk_no,
             "text": c.text, "n_words": c.n_words, "redactions": counts, "checksum": checksum}
            for c in prep.chunks]


def embed_rows(rows: list[dict], batch_size: int = 32) -> list[dict]:
    """Set ``embedding`` (list of 384 float32) and ``model`` on each row."""
    from .embed import MODEL_NAME, embed_texts, index_text

    if not rows:
        return rows
    vecs = embed_texts([index_text(r["title"], r["text"]) for r in rows], batch_size=batch_size)
    for r, v in zip(rows, vecs):
        r["embedding"] = [float(x) for x in v.astype(np.float32)]
        r["model"] = MODEL_NAME
    return rows


_TRANSCRIPT = re.compile(r"^(?:M\.|Mme|Mlle|Madame|Monsieur|Me|Dr)\s+[^\n:]{1,60}\s:\s", re.MULTILINE)


def is_transcript(text: str) -> bool:
    """A meeting transcript: several speaker turns ('M. Dupont : ...')."""
    return len(_TRANSCRIPT.findall(text)) >= 3


def minutes_row(data: bytes, doc_id: str) -> dict | None:
    """Structured minutes of a transcript (unredacted: owners are people; for the participants),
    or None when the document is not a transcript."""
    from .minutes import extract_minutes

    text = extract_text(data, doc_id)
    if doc_type(doc_id) != "compte-rendu" and not is_transcript(text):
        return None
    m = extract_minutes(text).as_dict()
    return {"doc_id": doc_id, "title": m["title"], "meeting_date": m["date"], "place": m["place"],
            "attendees": json.dumps(m["attendees"], ensure_ascii=False),
            "decisions": json.dumps(m["decisions"], ensure_ascii=False),
            "actions": json.dumps(m["actions"], ensure_ascii=False)}


def search_serving(duckdb_path: str | Path, query: str, k: int = 5, alpha: float = 0.5) -> list[dict]:
    """Documents ranked for ``query`` from the DuckDB serving file: the stored chunk vectors
    (cosine, the query embedded with the same packaged model) mixed with BM25 over the stored
    redacted chunks, English queries translated with the glossary; best chunk per document."""
    import duckdb

    from .embed import DocumentIndex, index_text

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        rows = con.execute("SELECT doc_id, chunk_no, title, text, embedding FROM administration.document_index "
                           "ORDER BY doc_id, chunk_no").fetchall()
    finally:
        con.close()
    if not rows:
        return []
    idx = DocumentIndex.from_vectors([r[0] for r in rows], [r[1] for r in rows],
                                     [index_text(r[2], r[3]) for r in rows],
                                     np.array([r[4] for r in rows], dtype=np.float32), alpha=alpha)
    by_chunk = {(r[0], r[1]): r for r in rows}
    out = []
    for h in idx.search(query, k=k):
        r = by_chunk[(h.doc_id, h.chunk_no)]
        out.append({"doc_id": h.doc_id, "title": r[2], "score": round(h.score, 4), "cosine": round(h.cosine, 4),
                    "chunk_no": h.chunk_no, "excerpt": " ".join(r[3].split())[:240]})
    return out
