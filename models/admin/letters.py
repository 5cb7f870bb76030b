"""The city's letters as drafts an agent edits and signs: a formal notice (mise en demeure) to the
delegate for each DSP finding, a reply to each citizen complaint, a follow-up of each meeting.

:func:`build_letters` turns mart rows into letters whose every figure is a
:class:`~models.admin.report.Fig` (mart, column, row), worded by :mod:`letter_templates`;
:func:`render_docx` fills the city's letterhead template (``templates/lettre_ville_cannes.docx``:
its header and footer are the letterhead, its styles the house style) with python-docx, and
:func:`render_pdf` lays the same letter out with reportlab under the same letterhead text.
:func:`check_letter` reads a rendered letter's text back and checks every figure against its
mart cell and that no number is printed outside figures.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from html import escape
from pathlib import Path

import polars as pl

from . import letter_templates as LT
from .narrative import NUMBER
from .report import Cite, Fig, _plain, fmt_auto, fmt_date, fmt_eur

TEMPLATE = Path(__file__).with_name("templates") / "lettre_ville_cannes.docx"
# Mart -> columns of its row key, as the figures' ``key`` spells it (joined by "/").
MART_KEYS = {"formal_notices": ("finding_id",), "complaint_register": ("reference",),
             "meeting_actions": ("doc_id", "action_no")}
LETTER_MARTS = tuple(MART_KEYS)


def build_letters(marts: dict[str, pl.DataFrame]) -> list[dict]:
    """Every letter the marts call for, in a stable order."""
    out = [LT.formal_notice(r) for r in marts["formal_notices"].sort("finding_id").iter_rows(named=True)]
    out += [LT.complaint_reply(r) for r in marts["complaint_register"].sort("reference").iter_rows(named=True)]
    acts = marts["meeting_actions"].sort("doc_id", "action_no")
    for doc_id in acts["doc_id"].unique(maintain_order=True).to_list():
        out.append(LT.meeting_followup(acts.filter(pl.col("doc_id") == doc_id).to_dicts()))
    return out


def _sequences(letter: dict) -> list[list]:
    return [*letter["recipient"], letter["subject"], *letter["paragraphs"], *letter["bullets"],
            *letter.get("tail", [])]


def figures(letter: dict) -> list[Fig]:
    return [s for seq in _sequences(letter) for s in seq if isinstance(s, Fig)]


def letter_text(letter: dict) -> str:
    """The letter's body as plain text (what the checksum and the translation work on)."""
    lines = [*(_plain(r) for r in letter["recipient"]), _plain(letter["subject"]), *(_plain(p) for p in letter["paragraphs"]),
             *("- " + _plain(b) for b in letter["bullets"]), *(_plain(p) for p in letter.get("tail", []))]
    return "\n".join(lines)


def checksum(letter: dict) -> str:
    return hashlib.sha256(letter_text(letter).encode()).hexdigest()


# ----------------------------------------------------------------------------- letterhead

def letterhead(template: Path = TEMPLATE) -> tuple[list[str], list[str]]:
    """The template's header and footer lines (the letterhead the PDF reproduces)."""
    import docx

    d = docx.Document(str(template))
    sec = d.sections[0]
    return ([p.text for p in sec.header.paragraphs if p.text.strip()],
            [p.text for p in sec.footer.paragraphs if p.text.strip()])


def render_docx(letter: dict, template: Path = TEMPLATE) -> bytes:
    """The draft as DOCX on the letterhead template (its body replaced by the letter)."""
    import docx
    from docx.shared import Pt

    d = docx.Document(str(template))
    body = d.element.body
    for el in list(body):
        if not el.tag.endswith("sectPr"):
            body.remove(el)
    d.add_paragraph(LT.DATE_LINE).alignment = 2
    for line in letter["recipient"]:
        d.add_paragraph(_plain(line))
    subj = d.add_paragraph()
    subj.add_run(_plain(letter["subject"])).bold = True
    for p in letter["paragraphs"]:
        _docx_para(d, p)
    for b in letter["bullets"]:
        _docx_para(d, b, style="List Bullet")
    for p in letter.get("tail", []):
        _docx_para(d, p)
    for line in LT.SIGNATURE:
        d.add_paragraph(line).paragraph_format.space_before = Pt(2)
    d.core_properties.title = _plain(letter["subject"])
    d.core_properties.identifier = letter["letter_id"]
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _docx_para(d, spans: list, style: str | None = None) -> None:
    p = d.add_paragraph(style=style) if style else d.add_paragraph()
    for s in spans:
        r = p.add_run(s.text if isinstance(s, (Fig, Cite)) else s)
        if isinstance(s, Fig):
            r.style = "Chiffre" if "Chiffre" in [st.name for st in d.styles] else None


def render_pdf(letter: dict, template: Path = TEMPLATE) -> bytes:
    """The same draft as PDF (reportlab), with the template's letterhead and footer."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

    head, foot = letterhead(template)
    ss = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=ss["BodyText"], fontSize=10, leading=13.5, spaceAfter=5)
    right = ParagraphStyle("right", parent=body, alignment=2)

    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFillColor(colors.HexColor("#1f4e79"))
        y = A4[1] - 1.3 * cm
        for i, line in enumerate(head):
            canvas.setFont("Helvetica-Bold" if i == 0 else "Helvetica", 13 if i == 0 else 8.5)
            canvas.drawString(2 * cm, y, line)
            y -= 0.5 * cm
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        for i, line in enumerate(foot):
            canvas.drawCentredString(A4[0] / 2, 1.2 * cm - i * 0.35 * cm, line)
        canvas.restoreState()

    def para(spans, style=body):
        return Paragraph(escape(_plain(spans), quote=False), style)

    story = [Paragraph(escape(LT.DATE_LINE), right), Spacer(1, 0.3 * cm), *[para(r) for r in letter["recipient"]],
             Spacer(1, 0.3 * cm), Paragraph("<b>" + escape(_plain(letter["subject"]), quote=False) + "</b>", body)]
    story += [para(p) for p in letter["paragraphs"]]
    if letter["bullets"]:
        story.append(ListFlowable([ListItem(para(b)) for b in letter["bullets"]], bulletType="bullet"))
    story += [para(p) for p in letter.get("tail", [])]
    story += [Spacer(1, 0.4 * cm), *[Paragraph(escape(s), body) for s in LT.SIGNATURE]]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm,
                            topMargin=1.5 * cm + 0.5 * cm * max(1, len(head)), bottomMargin=2.2 * cm,
                            title=_plain(letter["subject"]), author="Ville de Cannes", invariant=1)
    doc.build(story, onFirstPage=draw, onLaterPages=draw)
    return buf.getvalue()


def write_letter(letter: dict, folder: Path, template: Path = TEMPLATE) -> tuple[Path, Path]:
    """``<letter_id>.docx`` and ``.pdf`` under ``folder``, each written beside its name then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, data in (("docx", render_docx(letter, template)), ("pdf", render_pdf(letter, template))):
        path = folder / f"{letter['letter_id']}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        out.append(path)
    return out[0], out[1]


# ----------------------------------------------------------------------------- reading back and checking

def docx_text(data: bytes) -> str:
    import docx

    d = docx.Document(io.BytesIO(data))
    return "\n".join(p.text for p in d.paragraphs)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def _norm(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


def _formats(v) -> set[str]:
    """Ways a mart value may be printed."""
    if hasattr(v, "strftime"):
        return {fmt_date(v)}
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {fmt_auto(v), fmt_eur(v), str(v)}
    return {str(v)}


def cell_matches(fig: dict, marts: dict[str, pl.DataFrame]) -> str | None:
    """None when the figure's value is its mart cell's (an element of it for a JSON list cell);
    else what is wrong."""
    cols = MART_KEYS.get(fig["table"])
    if cols is None or fig["table"] not in marts:
        return f"{fig['table']}: not a letter mart"
    parts = fig["key"].split("/", len(cols) - 1) if len(cols) > 1 else [fig["key"]]
    if len(cols) > 1:  # doc_id holds slashes: the last part is the action number
        head, _, last = fig["key"].rpartition("/")
        parts = [head, last]
    df = marts[fig["table"]]
    for c, p in zip(cols, parts):
        df = df.filter(pl.col(c).cast(pl.Utf8) == p)
    if df.height != 1:
        return f"{fig['table']}[{fig['key']}]: {df.height} rows"
    cell = df.row(0, named=True)[fig["column"]]
    if isinstance(cell, str) and cell.startswith("["):
        items = json.loads(cell)
        names = {str(i.get("name")) if isinstance(i, dict) else str(i) for i in items}
        return None if fig["value"] in names else f"{fig['table']}.{fig['column']}[{fig['key']}]: {fig['value']!r} not in the list"
    if str(cell) != fig["value"]:
        return f"{fig['table']}.{fig['column']}[{fig['key']}]: printed value {fig['value']!r}, mart {cell!r}"
    if _norm(fig["text"]) not in {_norm(x) for x in _formats(cell)} and fig["column"] not in ("value", "reference"):
        return f"{fig['table']}.{fig['column']}[{fig['key']}]: text {fig['text']!r} is not the cell {cell!r} formatted"
    return None


def check_letter(text: str, figs: list[dict], marts: dict[str, pl.DataFrame], letter_id: str = "",
                 fixed: list[str] = ()) -> list[str]:
    """Problems of a rendered letter: a figure missing from its text or not its mart cell, or a
    number printed outside the figures (``fixed``: letterhead lines, allowed as they are)."""
    problems, rest = [], _norm(text)
    for line in fixed:
        rest = rest.replace(_norm(line), " ")
    for f in sorted(figs, key=lambda f: -len(f["text"])):
        t = _norm(f["text"])
        if t not in _norm(text):
            problems.append(f"{letter_id}: figure {f['text']!r} ({f['table']}.{f['column']}) not in the text")
        rest = rest.replace(t, " ")
        bad = cell_matches(f, marts)
        if bad:
            problems.append(f"{letter_id}: {bad}")
    stray = [m.group().strip() for m in NUMBER.finditer(rest) if m.group().strip()]
    if stray:
        problems.append(f"{letter_id}: numbers outside figures: {stray[:5]}")
    return problems


def fixed_texts(letter: dict, template: Path = TEMPLATE) -> list[str]:
    """Text a letter prints that is not a figure: the letterhead, the date and signature lines and
    its cited references (contract identifiers)."""
    head, foot = letterhead(template)
    cites = [s.text for seq in _sequences(letter) for s in seq if isinstance(s, Cite)]
    return [*head, *foot, LT.DATE_LINE, *LT.SIGNATURE, *cites]


def figure_dicts(letter: dict) -> list[dict]:
    return [{"text": f.text, "value": str(f.value), "table": f.table, "column": f.column, "key": f.key}
            for f in figures(letter)]


__all__ = ["build_letters", "render_docx", "render_pdf", "write_letter", "check_letter", "docx_text", "pdf_text",
           "letter_text", "checksum", "fixed_texts", "figures", "figure_dicts", "letterhead", "fmt_eur", "LETTER_MARTS"]
