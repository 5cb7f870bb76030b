"""The letters' tables on tiny frames: a GRC export with bad rows, review decisions (sent is
final), the annual report's obligations (clause, else the legal minimum), column descriptions."""

from datetime import date, datetime, timezone

import polars as pl

from transforms import admin_letters as T
from transforms.admin_obligations import REPORTING_OBLIGATIONS, reporting_obligations
from transforms.columns import describe


def test_complaints_export_keeps_good_rows_and_gives_each_bad_row_its_reason():
    text = ("reference;date_reception;canal;contrat;categorie;objet\n"
            "GRC-1;20/06/2025;courriel;DSP-A;CMP_BILLING;Double prélèvement\n"
            "GRC-2;31/02/2025;courriel;DSP-A;CMP_BILLING;x\n"
            "GRC-3;2025-07-01;accueil;DSP-A;facturation;x\n")
    df, bad = T.parse_complaints(text, "admin/complaints/a.csv")
    assert df["reference"].to_list() == ["GRC-1"] and df["received_on"][0] == date(2025, 6, 20)
    assert [b["item"] for b in bad] == ["admin/complaints/a.csv:3", "admin/complaints/a.csv:4"]
    assert "JJ/MM/AAAA" in bad[0]["reason"] and "CMP_" in bad[1]["reason"]


def test_register_quotes_the_declared_count_and_the_reply_date():
    c, _ = T.parse_complaints("reference;date_reception;canal;contrat;categorie;objet\n"
                              "GRC-1;20/06/2025;courriel;DSP-A;CMP_BILLING;x\n", "f")
    contracts = pl.DataFrame({"contract_id": ["DSP-A"], "name": ["Parcs"], "delegate": ["Azur SAS"]})
    counts = pl.DataFrame({"contract_id": ["DSP-A"], "year": [2025], "code": ["CMP_BILLING"], "label": ["Facturation"],
                           "count": [141.0], "previous_count": [129.0], "change_pct": [9.3]})
    r = T.complaint_register(c, contracts, counts).row(0, named=True)
    assert (r["category_count"], r["category_previous_count"], r["reply_due_on"]) == (141, 129, date(2025, 7, 20))


def test_latest_decision_wins_and_sent_is_final():
    at = lambda d: datetime(2026, 11, d, tzinfo=timezone.utc)  # noqa: E731
    rev = pl.DataFrame({"document_id": ["A", "A", "B"], "decision": ["sent", "reviewed", "reviewed"],
                        "reviewer": ["x", "y", "z"], "decided_at": [at(1), at(2), at(3)], "comment": ["", "", ""],
                        "source_file": ["f"] * 3}, schema=T.REVIEWS)
    st = {r["document_id"]: (r["status"], r["reviewer"]) for r in T.latest_decisions(rev).iter_rows(named=True)}
    assert st == {"A": ("sent", "x"), "B": ("reviewed", "z")}
    _, bad = T.parse_reviews("document;decision;reviewer;decided_at\nA;validé;x;2026-11-01\nA;sent;;2026-11-01\n", "f")
    assert len(bad) == 2


def test_reporting_obligations_from_the_clause_or_the_legal_minimum():
    lines = pl.DataFrame({"contract_id": ["A", "A", "B"], "year": [2025, 2025, 2025],
                          "section": ["pnl", "tariffs", "kpis"]})
    clauses = pl.DataFrame({"contract_id": ["A", "A"], "field": ["annual_report_contents", "annual_report_deadline"],
                            "value": ["comptes;qualite;tarifs", "--05-15"], "page": [2, 2], "paragraph": [4, 5]})
    df = {r["contract_id"]: r for r in reporting_obligations(lines, clauses).iter_rows(named=True)}
    assert df["A"]["missing_contents"] == "qualite" and not df["A"]["compliant"]
    assert df["A"]["report_due_on"] == date(2026, 5, 15) and df["A"]["obligation_source"] == "contract_clause"
    assert df["B"]["obligation_source"] == "legal_minimum" and df["B"]["missing_contents"] == "comptes"
    assert df["B"]["report_due_on"] == date(2026, 6, 1)


def test_every_published_column_is_described():
    for schema in (T.COMPLAINT_REGISTER, T.FORMAL_NOTICES, T.LETTERS, T.TRANSLATIONS, T.AI_AUDIT,
                   REPORTING_OBLIGATIONS):
        assert all(describe(c) for c in schema), [c for c in schema if not describe(c)]
