"""Administration suites: the DSP tables split from the delegates' report lines, the control
marts, the report registry and the document index. Column rules run in Great Expectations
(`TableSuite`); the rules GX cannot say (totals add up, previous year present, targets defined,
report files present, no personal datum left in the index) are `extra(df, lake)` functions that
return failure messages.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from transforms import admin as T

from .suites import TableSuite

CONTRACT_REF = {"contract_id": ("silver", "dsp_contracts", "contract_id")}
LINE_KEY = ("contract_id", "year", "code")


def _suite(table: str, schema: dict, key: tuple = LINE_KEY, not_null: tuple = (), **kw) -> TableSuite:
    return TableSuite(table=table, key=key, not_null=tuple(dict.fromkeys((*key, *not_null))), types=dict(schema),
                      references=CONTRACT_REF, min_rows=1, **kw)


SUITES = {
    "dsp_pnl": _suite("dsp_pnl", T.DSP_PNL, not_null=("amount_eur", "line_kind"),
                      in_set={"line_kind": ("revenue", "cost", "total", "result")}),
    "dsp_kpis": _suite("dsp_kpis", T.DSP_KPIS, not_null=("value",), in_set={"direction": ("min", "max")}),
    "dsp_investments": _suite("dsp_investments", T.DSP_INVESTMENTS, not_null=("actual_eur",),
                              ranges={"actual_eur": (0, None), "planned_eur": (0, None)}),
    "dsp_assets": _suite("dsp_assets", T.DSP_ASSETS, not_null=("net_book_value_eur",),
                         in_set={"regime": ("retour", "reprise")}, ranges={"net_book_value_eur": (0, None)}),
    "dsp_tariffs": _suite("dsp_tariffs", T.DSP_TARIFFS, not_null=("price",), ranges={"price": (0, None)}),
    "dsp_complaints": _suite("dsp_complaints", T.DSP_COMPLAINTS, not_null=("count",), ranges={"count": (0, None)}),
    "dsp_financials": TableSuite(table="dsp_financials", key=("contract_id", "year"),
                                 not_null=("contract_id", "year", "revenue_eur", "ebitda_eur", "net_result_eur",
                                           "overhead_share_pct"),
                                 ranges={"overhead_share_pct": (0, 100)}, references=CONTRACT_REF, min_rows=1),
    "dsp_kpi_compliance": TableSuite(table="dsp_kpi_compliance", key=LINE_KEY,
                                     not_null=("target", "direction", "compliant", "penalty_eur", "penalty_schedule"),
                                     ranges={"penalty_eur": (0, None)}, references=CONTRACT_REF,
                                     in_set={"penalty_schedule": T.PENALTY_SCHEDULES}),
    "dsp_findings": TableSuite(table="dsp_findings", key=("finding_id",),
                               not_null=("contract_id", "year", "finding_type", "severity", "message", "evidence"),
                               in_set={"severity": ("high", "medium", "low"),
                                       "finding_type": tuple(T.RECOMMENDATIONS)}, references=CONTRACT_REF),
    "dsp_reports": TableSuite(table="dsp_reports", key=("contract_id", "year"),
                              not_null=("html_path", "pdf_path", "status", "summary"),
                              in_set={"status": ("draft",)}, references=CONTRACT_REF),
    "document_chunks": TableSuite(table="document_chunks", key=("chunk_id",),
                                  not_null=("doc_id", "chunk_no", "text", "embedding", "checksum"),
                                  references={"doc_id": ("silver", "documents", "source_file")}),
    "meeting_minutes": TableSuite(table="meeting_minutes", key=("doc_id",), not_null=("title", "actions"),
                                  references={"doc_id": ("silver", "documents", "source_file")}),
    "contract_clauses": TableSuite(table="contract_clauses", key=("contract_id", "field", "qualifier"),
                                   not_null=("contract_id", "field", "qualifier", "value", "unit", "raw_text", "page",
                                             "paragraph", "confidence", "method", "source_file"),
                                   types=dict(T.CONTRACT_CLAUSES),
                                   ranges={"confidence": (0, 1), "page": (1, None), "paragraph": (1, None)}),
    "document_index": TableSuite(table="document_index", key=("chunk_id",),
                                 not_null=("doc_id", "chunk_no", "text", "embedding")),
}


def _section_lines(lake, sections: tuple[str, ...]) -> pl.DataFrame:
    return lake.read("silver", "dsp_report_lines").filter(pl.col("section").is_in(list(sections)))


def totals_and_previous(*sections: str):
    """Extra rule: the section's totals add up and every figure has its previous-year value."""
    def rule(df: pl.DataFrame, lake) -> list[str]:
        lines = _section_lines(lake, sections)
        return T.totals_problems(lines) + T.missing_previous_year(lines)
    return rule


def kpi_targets(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule: every KPI has a contractual target and a direction (minimum or maximum)."""
    return T.missing_targets(df, pl.DataFrame(schema=T.DSP_INVESTMENTS))


def clauses_valid(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule on silver/contract_clauses: known fields only, numeric fields parse as numbers,
    dates are ISO, and a penalty cap or step never stands without its amount per step."""
    from models.admin.clauses import FIELDS

    out = [f"unknown field {f!r}" for f in sorted(set(df["field"]) - set(FIELDS))]
    for r in df.iter_rows(named=True):
        where = f"{r['contract_id']}/{r['field']}"
        if r["unit"] in ("EUR", "%", "months"):
            try:
                float(r["value"])
            except ValueError:
                out.append(f"{where}: {r['value']!r} is not a number")
        if r["unit"] == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}|--\d{2}-\d{2}", r["value"]):
            out.append(f"{where}: {r['value']!r} is not an ISO date")
    per = df.filter(pl.col("qualifier") == "*")
    for cid in set(per["contract_id"]):
        f = set(per.filter(pl.col("contract_id") == cid)["field"])
        if f and "penalty_eur_per_step" not in f:
            out.append(f"{cid}: penalty cap or step without the amount per step")
    return out


def investment_plan(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule: every investment line has its planned amount, INV_TOTAL adds up, previous year present."""
    return T.missing_targets(pl.DataFrame(schema=T.DSP_KPIS), df) + totals_and_previous("investments")(df, lake)


def reports_complete(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule: one report per contract and year of dsp_financials, both files on disk."""
    out = []
    fin = lake.read("gold", "dsp_financials").select("contract_id", "year")
    missing = fin.join(df.select("contract_id", "year"), on=["contract_id", "year"], how="anti")
    out += [f"no report for {r['contract_id']} {r['year']}" for r in missing.iter_rows(named=True)]
    for r in df.iter_rows(named=True):
        for col in ("html_path", "pdf_path"):
            if not r[col] or not Path(r[col]).is_file() or Path(r[col]).stat().st_size == 0:
                out.append(f"{r['contract_id']} {r['year']}: {col} {r[col]} missing or empty")
    return out


def index_redacted(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule: no e-mail, phone number or IBAN detectable in the indexed text; 384 floats each."""
    from models.documents.redact import find_pii

    out = []
    for r in df.select("chunk_id", "text").iter_rows(named=True):
        kinds = sorted({k for k, _, _ in find_pii(r["text"]) if k in ("email", "phone", "iban", "rib")})
        if kinds:
            out.append(f"{r['chunk_id']}: {', '.join(kinds)} left in the indexed text")
    bad = df.filter(pl.col("embedding").list.len() != 384)
    out += [f"{c}: embedding is not 384 floats" for c in bad["chunk_id"].head(20)]
    return out


# the annual report's obligations (transforms/admin_obligations.py), checked like the other marts
REPORTING_OBLIGATIONS = TableSuite(table="dsp_reporting_obligations", key=("contract_id", "year"),
                                   not_null=("contract_id", "year", "report_due_on", "required_contents",
                                             "compliant", "legal_refs", "obligation_source"),
                                   in_set={"obligation_source": ("contract_clause", "legal_minimum")},
                                   references=CONTRACT_REF)
