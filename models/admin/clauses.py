"""Clause extraction from DSP contracts and legal texts (deterministic rules, no LLM).

A contract document (PDF or DOCX) is read page by page into paragraphs (the project's readers:
pypdf, python-docx), each paragraph keeping its page (1-based; a DOCX page is counted from its
explicit page breaks), its paragraph number within the page and the article heading it sits
under. Rules (regular expressions over French legal wording) then find the clauses a controller
needs; each hit becomes one row: field, qualifier, normalised value and unit, the raw text span,
page, paragraph, confidence and the rule that fired (`method`).

Normalisation: dates ISO (``2019-01-01``; a yearly date without year ``--06-01``), amounts EUR
(float as text), durations in months, percentages as numbers (unit ``%``), formulas with their
spaces removed and decimal commas as points.

Never a guess: a field with no matching wording gives no row; a field whose rules find two
different values is dropped (reported in ``conflicts``) unless exactly one of them sits under the
article heading that names the subject (then that one, with the heading in `method`).

Pure Python, nothing of Dagster.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field

MOIS = {"janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
        "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12}
WORDS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
         "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
         "dix-sept": 17, "dix-huit": 18, "dix-neuf": 19, "vingt": 20, "vingt-cinq": 25, "trente": 30}
FIELDS = ("authority", "delegate", "object", "duration_months", "start_date", "end_date", "annual_fee_eur",
          "fee_indexation", "penalty_eur_per_step", "penalty_step_pct", "penalty_cap_eur", "penalty_eur_per_day",
          "investment_obligation_eur", "renewal", "extension", "termination_notice_months",
          "annual_report_deadline", "annual_report_contents", "reporting_legal_refs")
# words of the article heading under which each field is expected (raises confidence, settles conflicts)
HEADINGS = {
    "authority": "parties|entre", "delegate": "parties|entre", "object": "objet",
    "duration_months": "durée|duree", "start_date": "durée|duree|prise d'effet|entrée en vigueur",
    "end_date": "durée|duree|échéance|terme", "annual_fee_eur": "redevance", "fee_indexation": "redevance|index|révision",
    "penalty_eur_per_step": "pénalit|sanction", "penalty_step_pct": "pénalit|sanction",
    "penalty_cap_eur": "pénalit|sanction", "penalty_eur_per_day": "pénalit|sanction|rapport",
    "investment_obligation_eur": "investissement|travaux", "renewal": "durée|duree|renouvel|reconduction",
    "extension": "durée|duree|prolong", "termination_notice_months": "résiliation|fin du contrat",
    "annual_report_deadline": "rapport|contrôle|controle", "annual_report_contents": "rapport|contrôle|controle",
    "reporting_legal_refs": "rapport|contrôle|controle",
}
REPORT_CONTENTS = {  # code: wording of the R3131-3/R3131-4 contents
    "comptes": r"comptes?\b|données comptables|compte rendu financier",
    "qualite": r"qualité d[eu] service|indicateurs? de (?:qualité|performance)",
    "patrimoine": r"inventaire|biens de retour|patrimoine",
    "investissements": r"investissements?|travaux",
    "tarifs": r"tarifs?\b|tarification|évolution des prix",
}

HEADING_RE = re.compile(r"^\s*(?:#+\s*)?(?:article|art\.|chapitre|titre)\s+[\dIVX]+\b.{0,100}$", re.I)
_NUM = r"\d{1,3}(?:[ .\u00a0\u202f]\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?"
EUR_RE = re.compile(rf"(?P<n>{_NUM})\s*(?:(?P<m>millions?)\s+d['’]euros|(?P<k>M€)|€|euros?\b|EUR\b)", re.I)
PCT_RE = re.compile(r"(?P<n>\d+(?:[,.]\d+)?)\s*(?:%|pour\s?cent|points?\s+de\s+pourcentage)", re.I)
DATE_RE = re.compile(r"(?P<d>\d{1,2})(?:er)?\s+(?P<m>" + "|".join(MOIS) + r")\s+(?P<y>\d{4})"
                     r"|(?P<d2>\d{1,2})/(?P<m2>\d{1,2})/(?P<y2>\d{4})", re.I)
DUR_RE = re.compile(r"(?:(?P<w>[a-zé\-]+)\s*\(\s*(?P<p>\d+)\s*\)|(?P<n>\d+)|(?P<w2>" + "|".join(
    sorted(WORDS, key=len, reverse=True)) + r"))\s+(?P<u>ans|années|annees|an|mois)\b", re.I)
REF_RE = re.compile(r"\b(?P<k>[LR])\.?\s?(?P<a>\d{4}-\d+)(?:\s*(?:à|a)\s*(?:[LR]\.?\s?)?(?P<b>\d{4}-\d+))?")


@dataclass
class Paragraph:
    page: int
    number: int  # within the page, 1-based
    text: str
    heading: str  # the article heading it sits under ("" before the first)


@dataclass
class Clause:
    field: str
    qualifier: str
    value: str
    unit: str
    raw_text: str
    page: int
    paragraph: int
    confidence: float
    method: str

    def row(self, contract_id: str) -> dict:
        return {"contract_id": contract_id, **self.__dict__}


@dataclass
class Extraction:
    clauses: list[Clause] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading

def _lines_to_paragraphs(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Wrapped PDF lines (page, line) back into paragraphs (page of their first line): a heading
    line stands alone; a line starts a new paragraph after one that ends a sentence (. ; :) unless
    it starts in lower case (a wrapped sentence), and a list item always does; a paragraph runs on
    over a page break."""
    out: list[tuple[int, str]] = []
    cur, cur_page = "", 0
    for page, ln in ((p, x.strip()) for p, x in lines):
        if not ln:
            continue
        new = (not cur or HEADING_RE.match(ln) or HEADING_RE.match(cur)
               or (cur.endswith((".", ";", ":")) and not ln[0].islower())
               or ln.startswith(("-", "•", "–")) or re.match(r"(?:ENTRE|ET)\s*:", ln))
        if new:
            if cur:
                out.append((cur_page, cur))
            cur, cur_page = ln, page
        else:
            cur = f"{cur} {ln}"
    if cur:
        out.append((cur_page, cur))
    return out


def read_paragraphs(data: bytes, name: str) -> list[Paragraph]:
    """Paragraphs of a PDF, DOCX or TXT document with page, number within the page and heading.
    Raises models.documents.UnreadableDocument."""
    from models.documents import UnreadableDocument, extract_text, normalise_text

    ext = name.rsplit(".", 1)[-1].lower()
    pages: list[list[str]] = []
    try:
        if ext == "pdf":
            from pypdf import PdfReader

            lines = [(i, ln) for i, p in enumerate(PdfReader(io.BytesIO(data)).pages, start=1)
                     for ln in normalise_text(p.extract_text() or "").splitlines()]
            paras = _lines_to_paragraphs(lines)
            pages = [[t for pg, t in paras if pg == i] for i in range(1, max((pg for pg, _ in paras), default=0) + 1)]
        elif ext == "docx":
            import docx

            d = docx.Document(io.BytesIO(data))
            pages = [[]]
            for p in d.paragraphs:
                if p.text.strip():
                    pages[-1].append(normalise_text(p.text).strip())
                if 'w:type="page"' in p._p.xml or "lastRenderedPageBreak" in p._p.xml:
                    pages.append([])
            for t in d.tables:
                for r in t.rows:
                    pages[-1].append(" | ".join(c.text for c in r.cells))
        else:
            pages = [[x for x in re.split(r"\n\s*\n", extract_text(data, name)) if x.strip()]]
            pages = [[" ".join(x.split()) for x in pages[0]]]
    except UnreadableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise UnreadableDocument(f"{name}: unreadable ({type(exc).__name__}: {exc})") from exc
    out, heading = [], ""
    for pno, paras in enumerate(pages, start=1):
        for i, t in enumerate(paras, start=1):
            if HEADING_RE.match(t) and len(t) < 110:
                heading = t
            out.append(Paragraph(pno, i, t, heading))
    if not any(p.text.strip() for p in out):
        raise UnreadableDocument(f"{name}: no extractable text (scanned image without OCR?)")
    return out


# ------------------------------------------------------------------ normalisers

def _fold(s: str) -> str:
    return unicodedata.normalize("NFC", s).replace("’", "'")


def parse_number(s: str) -> float:
    return float(re.sub(r"[ .\u00a0\u202f]", "", s).replace(",", "."))


def parse_eur(text: str) -> tuple[float, str] | None:
    """First amount in euros in the text: (EUR, the span)."""
    m = EUR_RE.search(text)
    if not m:
        return None
    if m["m"] or m["k"]:
        v = float(re.sub(r"[ \u00a0\u202f]", "", m["n"]).replace(",", ".")) * 1_000_000
    else:
        v = parse_number(m["n"])
    return v, m.group(0)


def parse_date(m: re.Match) -> str:
    if m["d"]:
        return f"{int(m['y']):04d}-{MOIS[m['m'].lower()]:02d}-{int(m['d']):02d}"
    return f"{int(m['y2']):04d}-{int(m['m2']):02d}-{int(m['d2']):02d}"


def parse_months(m: re.Match) -> int | None:
    n = m["p"] or m["n"]
    n = int(n) if n else WORDS.get((m["w2"] or m["w"] or "").lower())
    if n is None:
        return None
    return n * (1 if m["u"].lower() == "mois" else 12)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;])\s+(?=[A-ZÀ-Ý«\-–•(])", text) if s.strip()]


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


# ------------------------------------------------------------------ rules

_NEG = r"(?:ne\s+(?:peut|pourra|sera)|n['’]est\s+pas|aucune?|exclu|interdit|pas\s+de)"
_ART = r"(?:l['’]|la\s+|le\s+)?"
_ROLE_AUTH = _ART + r"(?:autorité\s+(?:délégante|concédante)|ville|commune|délégant|concédant|collectivité)\b"
_ROLE_DEL = _ART + r"(?:délégataire|concessionnaire|fermier|titulaire)\b"


def _party(text: str, role: str) -> tuple[str, str] | None:
    m = re.search(r"ci-?après\s+(?:dénommée?s?\s+|désignée?s?\s+|appelée?s?\s+)?[«\"“]\s*(?:" + role + r")", text, re.I)
    if not m:
        return None
    head = re.split(r"\bET\s*:|d['’]une\s+part\s*,?", text[:m.start()])[-1]
    head = re.sub(r"^\s*(?:entre(?:\s+les\s+soussignés)?|et)\s*[:,]?\s*", "", head, flags=re.I)
    ent = re.split(r",|\s+représentée?\b|\s+dont\s+le\s+siège|\s+sise?\b|\s+ayant\b", head, maxsplit=1)[0].strip()
    ent = re.sub(r"^(?:la\s+société|la|le|l['’])\s+", "", ent, flags=re.I).strip(" :")
    if not ent or len(ent) > 90:
        return None
    return ent[0].upper() + ent[1:], text[:m.end()]


def _rules_paragraph(p: Paragraph, emit) -> None:
    t = _fold(p.text)
    low = t.lower()
    for role, f in ((_ROLE_AUTH, "authority"), (_ROLE_DEL, "delegate")):
        r = _party(t, role)
        if r:
            emit(f, "", r[0], "text", r[1], "party:ci-après")
    m = re.search(r"(?:a\s+pour\s+objet|objet\s+du\s+(?:présent\s+)?contrat\s*(?:est|:))\s*(?:de\s+|d['’])?(?P<o>[^.]{10,400})",
                  t, re.I)
    if m:
        emit("object", "", m["o"].strip(" :,"), "text", m.group(0), "object:pour-objet")
    for s in _sentences(t):
        sl = s.lower()
        if re.search(r"durée|conclu|période", sl) and not re.search(
                r"préavis|pénalit|rapport|prolongation|excéder|dépasser|supérieure|maximale", sl):
            d = DUR_RE.search(s)
            if d and parse_months(d):
                emit("duration_months", "", str(parse_months(d)), "months", s, "duration:durée")
        if re.search(r"prend\s+effet|entre\s+en\s+vigueur|prend\s+cours|prise\s+d['’]effet|commence\s+à\s+courir", sl):
            d = DATE_RE.search(s)
            if d:
                emit("start_date", "", parse_date(d), "date", s, "date:prise-d-effet")
        if re.search(r"expire|prend\s+fin|s['’]achève|échéance|jusqu['’]au|arrive\s+à\s+son\s+terme", sl):
            ds = list(DATE_RE.finditer(s))
            if ds:
                emit("end_date", "", parse_date(ds[-1]), "date", s, "date:échéance")
        if "redevance" in sl and re.search(r"annuel|par\s+an\b|chaque\s+année", sl) and "pénalit" not in sl \
                and not re.search(r"%\s+de\s+la\s+redevance", sl):
            a = parse_eur(s[sl.index("redevance"):])
            if a:
                emit("annual_fee_eur", "", _fmt(a[0]), "EUR", s, "amount:redevance-annuelle")
        if re.search(r"index|révis|actualis", sl):
            f = re.search(r"\b[A-Z][A-Za-z0-9]{0,3}\s*=\s*[^;]*?/\s*[A-Z][\w\-]*(?:\s*\))?", s)
            if f:
                v = re.sub(r"(?<=\d),(?=\d)", ".", re.sub(r"\s+", "", f.group(0))).replace("×", "*").replace("x(", "*(")
                emit("fee_indexation", "", v, "formula", s, "formula:indexation")
        if "pénalit" in sl and re.search(r"tranche|palier|par\s+point|par\s+fraction", sl) \
                and re.search(r"indicateur|objectif|seuil|cible|performance", sl):
            a = parse_eur(s)
            st = re.search(r"(?:tranche|palier|fraction)[^.%]{0,40}?(\d+(?:[,.]\d+)?)\s*(?:%|pour\s?cent|points?)", s, re.I)
            if a and st:
                emit("penalty_eur_per_step", "*", _fmt(a[0]), "EUR", s, "penalty:par-tranche")
                emit("penalty_step_pct", "*", _fmt(parse_number(st.group(1))), "%", s, "penalty:tranche")
        if re.search(r"plafonn|dans\s+la\s+limite|ne\s+(?:peut|peuvent|pourra|pourront)\s+excéder|montant\s+maximum",
                     sl) and re.search(r"pénalit", sl + p.heading.lower()) and re.search(r"indicateur", sl):
            a = parse_eur(s)
            if a:
                emit("penalty_cap_eur", "*", _fmt(a[0]), "EUR", s, "penalty:plafond")
        if "pénalit" in sl and re.search(r"par\s+jour", sl):
            a = parse_eur(s)
            if a:
                q = "rapport_annuel" if "rapport" in sl else "retard"
                emit("penalty_eur_per_day", q, _fmt(a[0]), "EUR", s, "penalty:par-jour")
        if re.search(r"investissements?", sl) and re.search(r"s['’]engage|programme|réaliser|oblig", sl) \
                and "pénalit" not in sl and not re.search(r"rapport", sl):
            a = parse_eur(s)
            if a:
                emit("investment_obligation_eur", "", _fmt(a[0]), "EUR", s, "amount:investissements")
        if "reconduction" in sl:
            v = "no_tacit_renewal" if re.search(_NEG, sl) else "tacit_renewal"
            emit("renewal", "", v, "code", s, "renewal:reconduction")
        if re.search(r"prolong", sl) and re.search(r"l\.?\s?3135-1|l\.?\s?3135-2|avenant", sl):
            emit("extension", "", "L3135-1", "code", s, "extension:prolongation")
        if re.search(r"résili", sl) and "préavis" in sl:
            d = DUR_RE.search(s[sl.index("préavis"):]) or DUR_RE.search(s)
            if d and parse_months(d):
                emit("termination_notice_months", "", str(parse_months(d)), "months", s, "termination:préavis")
        if "rapport" in sl and re.search(r"avant\s+le|au\s+plus\s+tard\s+le", sl):
            d = re.search(r"(?:avant\s+le|au\s+plus\s+tard\s+le)\s+(\d{1,2})(?:er)?\s+(" + "|".join(MOIS) + r")\b", s, re.I)
            if d:
                emit("annual_report_deadline", "", f"--{MOIS[d.group(2).lower()]:02d}-{int(d.group(1)):02d}", "date", s,
                     "report:échéance")
        if "rapport" in sl or "rapport" in p.heading.lower():
            refs = set()
            for r in REF_RE.finditer(s):
                a = int(r["a"].split("-")[1])
                b = int(r["b"].split("-")[1]) if r["b"] else a
                base = r["a"].split("-")[0]
                refs.update(f"{r['k']}{base}-{i}" for i in range(a, b + 1) if b - a < 20)
            refs = {x for x in refs if x.startswith(("L3131", "R3131"))}
            if refs and "rapport" in sl:
                emit("reporting_legal_refs", "", ";".join(sorted(refs)), "list", s, "report:articles")


def _report_contents(paras: list[Paragraph], emit_at) -> None:
    """The sentence announcing the annual report's contents and the list items that follow it."""
    for i, p in enumerate(paras):
        t = _fold(p.text)
        m = re.search(r"rapport[^.]{0,200}?(?:comprend|comprenant|comporte|comportant|contient|contenant|retrace|précise|présente|"
                      r"fait\s+apparaître)"
                      r"\s*(?:notamment)?", t, re.I)
        if not m:
            continue
        span = t[m.start():]
        j = i + 1
        while j < len(paras) and paras[j].text.lstrip().startswith(("-", "•", "–")):
            span += " " + paras[j].text
            j += 1
        body = span[len(m.group(0)):].lower()
        codes = sorted(c for c, rx in REPORT_CONTENTS.items() if re.search(rx, body))
        if codes:
            emit_at(p, "annual_report_contents", "", ";".join(codes), "list", span, "report:contenu")


def extract_clauses(paragraphs: list[Paragraph]) -> Extraction:
    """Every clause found, one per (field, qualifier), never a guess (see the module doc)."""
    hits: dict[tuple[str, str], list[Clause]] = {}

    def emit_at(p: Paragraph, fld, qual, value, unit, raw, method):
        under = bool(re.search(HEADINGS[fld], p.heading.lower())) if p.heading else False
        conf = 0.95 if under else 0.8
        hits.setdefault((fld, qual), []).append(Clause(fld, qual, value, unit, " ".join(raw.split())[:500], p.page,
                                                      p.number, conf, f"rule:{method}" + ("+heading" if under else "")))

    for p in paragraphs:
        if HEADING_RE.match(p.text) and len(p.text) < 110:
            continue
        _rules_paragraph(p, lambda *a, p=p: emit_at(p, *a))
    _report_contents(paragraphs, emit_at)
    out = Extraction()
    for (fld, qual), cs in hits.items():
        values = {c.value for c in cs}
        if len(values) > 1:
            under = {c.value for c in cs if c.method.endswith("+heading")}
            if len(under) != 1:
                out.conflicts.append(f"{fld}{'/' + qual if qual else ''}: {sorted(values)}")
                continue
            cs = [c for c in cs if c.value in under]
        best = max(cs, key=lambda c: c.confidence)
        agree = len(cs) > 1
        out.clauses.append(Clause(**{**best.__dict__, "confidence": min(0.99, best.confidence + (0.03 if agree else 0))}))
    out.clauses.sort(key=lambda c: (FIELDS.index(c.field), c.qualifier))
    return out


def contract_id_of(paragraphs: list[Paragraph], fallback: str) -> str:
    """The contract reference stated in the text (``DSP-<SERVICE>-<year>``, e.g. ``DSP-EAU-2019``), else the file name's stem."""
    for p in paragraphs[:40]:
        m = re.search(r"\b(DSP-[A-Z]+-\d{4})\b", p.text)
        if m:
            return m.group(1)
    return fallback


def clause_rows(data: bytes, name: str, source_file: str, checksum: str) -> tuple[list[dict], list[str]]:
    """Rows of the clause table for one document (and its conflicts)."""
    paras = read_paragraphs(data, name)
    cid = contract_id_of(paras, name.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    ex = extract_clauses(paras)
    return [{**c.row(cid), "source_file": source_file, "checksum": checksum} for c in ex.clauses], ex.conflicts
