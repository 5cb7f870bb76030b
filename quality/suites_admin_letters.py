"""Blocking checks of the administration's letters, complaints, translations and AI audit log.
Column rules run in Great Expectations (`TableSuite`); `extra(df, lake)` rules say what GX cannot:
a letter for every finding, complaint and meeting, both files on disk, every figure equal to its
mart cell, a translation never stored without its check, every generated text logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from transforms import admin_letters as T

from .suites import TableSuite

CONTRACT_REF = {"contract_id": ("silver", "dsp_contracts", "contract_id")}
MART_KEYS = {"formal_notices": ("finding_id",), "complaint_register": ("reference",),
             "meeting_actions": ("doc_id", "action_no")}

SUITES = {
    "citizen_complaints": TableSuite(table="citizen_complaints", key=("reference",), types=dict(T.COMPLAINTS),
                                     not_null=("reference", "received_on", "contract_id", "category_code")),
    "letter_reviews": TableSuite(table="letter_reviews", key=("document_id", "decision", "decided_at"),
                                 not_null=("document_id", "decision", "reviewer", "decided_at"),
                                 in_set={"decision": T.DECISIONS}),
    "complaint_register": TableSuite(table="complaint_register", key=("reference",), types=dict(T.COMPLAINT_REGISTER),
                                     not_null=("received_on", "contract_id", "delegate", "reply_due_on"),
                                     references=CONTRACT_REF, ranges={"category_count": (0, None)}),
    "formal_notices": TableSuite(table="formal_notices", key=("finding_id",), types=dict(T.FORMAL_NOTICES),
                                 not_null=("contract_id", "year", "delegate", "message", "clause", "reply_days"),
                                 references={**CONTRACT_REF, "finding_id": ("gold", "dsp_findings", "finding_id")},
                                 ranges={"penalty_eur": (0, None), "reply_days": (1, None)}),
    "letters": TableSuite(table="letters", key=("letter_id",), types=dict(T.LETTERS),
                          not_null=("kind", "source_id", "docx_path", "pdf_path", "checksum", "figures", "status"),
                          in_set={"kind": T.LETTER_KINDS, "status": T.LETTER_STATUSES,
                                  "generation": ("deterministic", "llm_polished")}),
    "letter_translations": TableSuite(table="letter_translations", key=("translation_id",),
                                      not_null=("letter_id", "target_lang", "status", "prompt_version"),
                                      in_set={"status": ("translated", "unavailable", "rejected", "error"),
                                              "target_lang": ("en", "it", "fr"), "source_lang": ("fr", "en", "it")}),
    "ai_audit": TableSuite(table="ai_audit", key=("audit_id",),
                           not_null=("feature", "subject_id", "inputs_hash", "model", "prompt_version", "output",
                                     "check_status", "reviewer_decision", "created_at"),
                           in_set={"feature": ("translation", "report_narrative", "letter_polish"),
                                   "reviewer_decision": ("pending", "reviewed", "sent", "not_used")}),
}


def _cell(lake, fig: dict, cache: dict):
    cols = MART_KEYS.get(fig["table"])
    if cols is None:
        return "unknown mart"
    if fig["table"] not in cache:
        cache[fig["table"]] = lake.read("gold", fig["table"])
    df = cache[fig["table"]]
    parts = list(fig["key"].rpartition("/")[::2]) if len(cols) == 2 else [fig["key"]]
    for c, p in zip(cols, parts):
        df = df.filter(pl.col(c).cast(pl.Utf8) == p)
    return df.row(0, named=True)[fig["column"]] if df.height == 1 else f"{df.height} rows"


def letters_complete(df: pl.DataFrame, lake) -> list[str]:
    """A letter per finding, per complaint and per meeting; files on disk; figures equal their cells."""
    out, ids = [], set(df["letter_id"].to_list())
    for table, prefix, col in (("formal_notices", "MED_", "finding_id"), ("complaint_register", "REP_", "reference")):
        if lake.exists("gold", table):
            for v in lake.read("gold", table)[col].to_list():
                if prefix + v.replace("/", "_") not in ids:
                    out.append(f"no letter for {table} {v}")
    if lake.exists("gold", "meeting_actions"):
        sources = set(df.filter(pl.col("kind") == "suite_reunion")["source_id"].to_list())
        out += [f"no follow-up for meeting {d}" for d in lake.read("gold", "meeting_actions")["doc_id"].unique().to_list()
                if d not in sources]
    cache: dict = {}
    for r in df.iter_rows(named=True):
        for col in ("docx_path", "pdf_path"):
            if not r[col] or not Path(r[col]).is_file() or Path(r[col]).stat().st_size == 0:
                out.append(f"{r['letter_id']}: {col} {r[col]} missing or empty")
        if r["status"] != "draft":
            continue  # a reviewed letter is kept as the agent read it, whatever the marts say now
        for f in json.loads(r["figures"] or "[]"):
            cell = _cell(lake, f, cache)
            ok = str(cell) == f["value"] or (isinstance(cell, str) and cell.startswith("[") and f["value"] in {
                str(i.get("name")) if isinstance(i, dict) else str(i) for i in json.loads(cell)})
            if not ok:
                out.append(f"{r['letter_id']}: figure {f['text']!r} is {f['value']!r}, "
                           f"{f['table']}.{f['column']}[{f['key']}] holds {cell!r}")
    return out[:100]


def translations_checked(df: pl.DataFrame, lake) -> list[str]:
    """A stored translation text only when translated (its check passed); a reason otherwise."""
    out = [f"{r['translation_id']}: text stored with status {r['status']}" for r in df.iter_rows(named=True)
           if r["text"] is not None and r["status"] != "translated"]
    out += [f"{r['translation_id']}: status {r['status']} without a reason" for r in df.iter_rows(named=True)
            if r["status"] != "translated" and not r["reason"]]
    return out


def every_generation_logged(df: pl.DataFrame, lake) -> list[str]:
    """Every translation the endpoint answered and every report narrative is in the audit log."""
    out = []
    if lake.exists("gold", "letter_translations"):
        tr = T.translation_audit(lake.read("gold", "letter_translations"))
        missing = tr.join(df.select("audit_id"), on="audit_id", how="anti")
        out += [f"translation {s} not in the audit log" for s in missing["subject_id"].to_list()]
    if lake.exists("gold", "dsp_reports"):
        na = T.narrative_audit(lake.read("gold", "dsp_reports"))
        missing = na.join(df.select("audit_id"), on="audit_id", how="anti")
        out += [f"report narrative {s} not in the audit log" for s in missing["subject_id"].to_list()]
    return out


def checks(table_check) -> list:
    S = SUITES
    return [
        table_check("silver", "citizen_complaints", S["citizen_complaints"]),
        table_check("silver", "letter_reviews", S["letter_reviews"]),
        table_check("gold", "complaint_register", S["complaint_register"]),
        table_check("gold", "formal_notices", S["formal_notices"]),
        table_check("gold", "letters", S["letters"], extra=letters_complete,
                    description="Letters: one per finding, complaint and meeting; DOCX and PDF present; every "
                                "figure of a draft equal to its mart cell"),
        table_check("gold", "letter_translations", S["letter_translations"], extra=translations_checked,
                    description="Translations: a text only when its figures/names/references check passed"),
        table_check("gold", "ai_audit", S["ai_audit"], extra=every_generation_logged,
                    description="AI audit log: every generated text (translations, narratives) logged with "
                                "model, prompt version, inputs hash, check and reviewer decision"),
    ]
