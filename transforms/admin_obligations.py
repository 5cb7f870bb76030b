"""The delegate's annual-report obligations (code de la commande publique, L3131-5: a report before
1 June each year; R3131-2 to R3131-4: its contents, accounts and the analysis of the service's
quality, assets, investments, prices) as each contract states them in its clauses
(silver/contract_clauses), checked against the sections each annual delivery actually holds.
"""

from __future__ import annotations

from datetime import date

import polars as pl

# Sections of the delivered report (silver/dsp_report_lines.section) -> contents named in clauses
SECTION_CONTENT = {"pnl": "comptes", "kpis": "qualite", "assets": "patrimoine", "investments": "investissements",
                   "tariffs": "tarifs"}
# Without a clause: the law's minimum (R3131-3 accounts, R3131-4 quality analysis), report before 1 June
LEGAL_CONTENTS = ("comptes", "qualite")
LEGAL_DEADLINE = "--06-01"
LEGAL_REFS = "L3131-5;R3131-2;R3131-3;R3131-4"

REPORTING_OBLIGATIONS = {"contract_id": pl.Utf8, "year": pl.Int64, "report_due_on": pl.Date,
                         "required_contents": pl.Utf8, "delivered_contents": pl.Utf8, "missing_contents": pl.Utf8,
                         "compliant": pl.Boolean, "legal_refs": pl.Utf8, "obligation_source": pl.Utf8,
                         "clause_page": pl.Int64, "clause_paragraph": pl.Int64}


def _clause(clauses: pl.DataFrame | None, field: str) -> dict[str, dict]:
    if clauses is None or clauses.is_empty():
        return {}
    return {r["contract_id"]: r for r in clauses.filter(pl.col("field") == field).iter_rows(named=True)}


def reporting_obligations(lines: pl.DataFrame, clauses: pl.DataFrame | None) -> pl.DataFrame:
    """One row per contract and report year delivered: what the report must contain (the
    contract's clause, else the legal minimum, said in ``obligation_source``), what it holds, what
    is missing, and the date it was due (year + 1 at the clause's month-day, else 1 June)."""
    contents, deadline, refs = (_clause(clauses, f) for f in ("annual_report_contents", "annual_report_deadline",
                                                              "reporting_legal_refs"))
    delivered = (lines.select("contract_id", "year", "section").unique()
                 .group_by("contract_id", "year").agg(pl.col("section")).sort("contract_id", "year"))
    rows = []
    for r in delivered.iter_rows(named=True):
        cid, year = r["contract_id"], int(r["year"])
        c = contents.get(cid)
        required = sorted(c["value"].split(";")) if c else sorted(LEGAL_CONTENTS)
        have = sorted({SECTION_CONTENT[s] for s in r["section"] if s in SECTION_CONTENT})
        missing = [x for x in required if x not in have]
        md = (deadline.get(cid) or {}).get("value") or LEGAL_DEADLINE
        rows.append({"contract_id": cid, "year": year,
                     "report_due_on": date(year + 1, int(md[2:4]), int(md[5:7])),
                     "required_contents": ";".join(required), "delivered_contents": ";".join(have),
                     "missing_contents": ";".join(missing), "compliant": not missing,
                     "legal_refs": (refs.get(cid) or {}).get("value") or LEGAL_REFS,
                     "obligation_source": "contract_clause" if c else "legal_minimum",
                     "clause_page": c["page"] if c else None, "clause_paragraph": c["paragraph"] if c else None})
    return pl.DataFrame(rows, schema=REPORTING_OBLIGATIONS)


COLUMN_DOCS = {
    "report_due_on": "Date the delegate's annual report was due (clause, else 1 June of the next year, L3131-5)",
    "required_contents": "Contents the report must hold (comptes, qualite, patrimoine, investissements, tarifs)",
    "delivered_contents": "Contents the delivered report holds (its sections)",
    "missing_contents": "Required contents the delivered report lacks",
    "legal_refs": "Articles of the code de la commande publique the contract cites for the report",
    "obligation_source": "contract_clause (read from the contract) or legal_minimum (no clause found)",
    "clause_page": "Page of the contract clause",
    "clause_paragraph": "Paragraph (on its page) of the contract clause",
}
