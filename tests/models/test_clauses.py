"""Clause extraction (models/admin/clauses.py) on the simulator's planted contracts, the penalty
precedence in the control analysis (delivery columns > extracted clause > default clause) and the
blocking check of silver/contract_clauses."""

import json
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from models.admin.clauses import FIELDS, Paragraph, clause_rows, extract_clauses, read_paragraphs
from models.simulator.admin import CONTRACTS, PENALTY_SCHEDULES
from models.simulator.admin_contracts import _docx, _pdf, contract_document, write_contracts
from quality import suites_admin as QS
from quality.checks import check_table
from transforms import admin as T

WHEN = datetime(2026, 1, 1, 9)


def _match(field, truth, got):
    return truth.lower() in got.lower() if field == "object" else truth == got


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Contracts of three seeds (varied wording), every one extracted."""
    out = []
    for seed in (1, 2, 3):
        root = tmp_path_factory.mktemp(f"contracts{seed}")
        write_contracts(CONTRACTS, PENALTY_SCHEDULES, root / "landing", root / "truth", np.random.default_rng(seed), WHEN)
        truth = [json.loads(x) for x in (root / "truth/admin/contract_clauses.jsonl").read_text().splitlines()]
        for f in sorted((root / "landing/admin/contracts").iterdir()):
            rows, conflicts = clause_rows(f.read_bytes(), f.name, f"admin/contracts/{f.name}", "ck")
            out.append((f, [t for t in truth if t["contract_id"] == f.stem], rows, conflicts))
    return out


@pytest.mark.parametrize("field", FIELDS)
def test_each_planted_field_is_found_with_its_value(planted, field):
    n = 0
    for f, truth, rows, _ in planted:
        got = {(r["field"], r["qualifier"]): r for r in rows}
        for t in (t for t in truth if t["field"] == field):
            r = got.get((field, t["qualifier"]))
            assert r is not None, f"{f.name}: {field} not found"
            assert _match(field, t["value"], r["value"]), (f.name, field, t["value"], r["value"])
            assert r["page"] >= 1 and r["paragraph"] >= 1 and 0 < r["confidence"] <= 1 and r["method"].startswith("rule:")
            n += 1
    assert n, f"no contract plants {field}"


def test_no_row_without_a_planted_clause_and_no_conflict(planted):
    for f, truth, rows, conflicts in planted:
        planted_keys = {(t["field"], t["qualifier"]) for t in truth}
        extra = [(r["field"], r["qualifier"], r["value"]) for r in rows if (r["field"], r["qualifier"]) not in planted_keys]
        assert not extra, f"{f.name}: rows for clauses the contract does not state: {extra}"
        assert not conflicts
    # the fourrière contract states no KPI penalty schedule: no penalty row is guessed
    four = [rows for f, _, rows, _ in planted if f.stem == "DSP-FOUR-2020"]
    assert four and all(not any(r["field"].startswith("penalty_") and r["qualifier"] == "*" for r in rows) for rows in four)
    # the marché contract states no cap: none is invented
    mar = [rows for f, _, rows, _ in planted if f.stem == "DSP-MARCHE-2018"]
    assert mar and all(not any(r["field"] == "penalty_cap_eur" for r in rows) for rows in mar)


def test_values_are_normalised_and_spans_are_the_documents_text(planted):
    for f, _, rows, _ in planted:
        by = {r["field"]: r for r in rows}
        assert by["start_date"]["value"][4] == "-" and by["annual_report_deadline"]["value"] == "--06-01"
        assert float(by["annual_fee_eur"]["value"]) > 0 and by["annual_fee_eur"]["unit"] == "EUR"
        assert by["duration_months"]["unit"] == "months"
        text = " ".join(p.text for p in read_paragraphs(f.read_bytes(), f.name))
        for r in rows:
            assert r["raw_text"].split(" ")[0] in text


def test_pdf_and_docx_give_the_same_clauses_and_pages_follow_the_document():
    c = next(x for x in CONTRACTS if x["contract_id"] == "DSP-PARK-2019")
    doc, _ = contract_document(c, PENALTY_SCHEDULES[c["contract_id"]], np.random.default_rng(5))
    pdf, _ = clause_rows(_pdf(doc), "a.pdf", "a.pdf", "x")
    dx, _ = clause_rows(_docx(doc, WHEN), "a.docx", "a.docx", "x")
    assert {(r["field"], r["value"]) for r in pdf} == {(r["field"], r["value"]) for r in dx}
    # the DOCX has page breaks before the fee and the report articles: the report clauses are on page 3
    assert {r["page"] for r in dx if r["field"].startswith("annual_report")} == {3}
    assert max(r["page"] for r in pdf) > 1


def _paras(*texts, heading="Article 6 – Pénalités"):
    return [Paragraph(1, i + 1, t, heading) for i, t in enumerate(texts)]


def test_other_wordings_and_missing_or_conflicting_clauses():
    ex = extract_clauses(_paras(
        "Une pénalité de 1,5 million d'euros est due par palier de 10 % d'écart à la cible de chaque indicateur.",
        "La redevance annuelle est fixée à 2.000.000 euros HT."))
    got = {c.field: c.value for c in ex.clauses}
    assert got["penalty_eur_per_step"] == "1500000" and got["penalty_step_pct"] == "10"
    assert got["annual_fee_eur"] == "2000000" and "penalty_cap_eur" not in got
    # two different fees outside any fee heading: dropped, reported, never a guess
    ex = extract_clauses(_paras("La redevance annuelle est de 100 000 €.", "La redevance annuelle est de 120 000 €.",
                                heading="Article 9 – Dispositions diverses"))
    assert not ex.clauses and ex.conflicts and ex.conflicts[0].startswith("annual_fee_eur")
    # a text with none of the clauses gives no row
    assert not extract_clauses(_paras("Le présent avis est publié au bulletin officiel.")).clauses


def test_penalty_precedence_delivery_then_extracted_clause_then_default(planted):
    clauses = pl.DataFrame([r for _, _, rows, _ in planted[:5] for r in rows], schema=T.CONTRACT_CLAUSES)
    ids = [c["contract_id"] for c in CONTRACTS]
    kpis = pl.DataFrame({"contract_id": ids, "year": [2025] * 5, "code": ["KPI_SATISFACTION"] * 5,
                         "label": ["Satisfaction"] * 5, "unit": ["/10"] * 5, "direction": ["min"] * 5,
                         "value": [6.3] * 5, "previous_value": [7.0] * 5, "target": [7.5] * 5, "source_file": ["x"] * 5})
    fees = {c["contract_id"]: float(c["annual_fee_eur"]) for c in CONTRACTS}
    bare = pl.DataFrame({"contract_id": ids, "annual_fee_eur": [fees[i] for i in ids]})  # delivery without schedule
    comp = {r["contract_id"]: r for r in T.kpi_compliance(kpis, bare, clauses).iter_rows(named=True)}
    for cid, (per, step, cap) in PENALTY_SCHEDULES.items():  # shortfall 16.0 %
        expect = per * -(-16.0 // step)
        assert comp[cid]["penalty_schedule"] == "contract_clause", cid
        assert comp[cid]["penalty_eur"] == (min(expect, cap) if cap != "" else expect), cid
        assert comp[cid]["penalty_basis"].startswith("clause extraite du document contractuel (p. ")
    four = comp["DSP-FOUR-2020"]
    assert four["penalty_schedule"] == "default_clause" and four["penalty_eur"] == round(fees["DSP-FOUR-2020"] * 0.02)
    # the delivery's own columns win over the document
    own = bare.with_columns(pl.lit(999.0).alias("penalty_eur_per_step"), pl.lit(1.0).alias("penalty_step_pct"),
                            pl.lit(None, pl.Float64).alias("penalty_cap_eur"))
    c2 = T.kpi_compliance(kpis, own, clauses)
    assert set(c2["penalty_schedule"]) == {"contract"} and set(c2["penalty_eur"]) == {999.0 * 16}


def test_blocking_check_on_the_clause_table(planted):
    df = pl.DataFrame([r for _, _, rows, _ in planted[:5] for r in rows], schema=T.CONTRACT_CLAUSES)
    suite = QS.SUITES["contract_clauses"]
    assert check_table(df, suite, {}).success and not QS.clauses_valid(df, None)
    dup = pl.concat([df, df.head(1)])
    assert not check_table(dup, suite, {}).success
    bad_conf = df.with_columns(pl.when(pl.col("field") == "delegate").then(1.5).otherwise(pl.col("confidence"))
                               .alias("confidence"))
    assert not check_table(bad_conf, suite, {}).success
    bad_page = df.with_columns(pl.lit(0, pl.Int64).alias("page"))
    assert not check_table(bad_page, suite, {}).success
    bad_date = df.with_columns(pl.when(pl.col("field") == "start_date").then(pl.lit("1er janvier 2019"))
                               .otherwise(pl.col("value")).alias("value"))
    assert QS.clauses_valid(bad_date, None)
    orphan = df.filter(pl.col("field") != "penalty_eur_per_step")
    assert any("without the amount" in m for m in QS.clauses_valid(orphan, None))


def test_real_legal_texts_give_the_annual_report_clause_and_no_guess():
    """Loi Sapin articles 40 and 40-1 (Légifrance via Etalab, Licence Ouverte 2.0; tests/data/legal)."""
    from pathlib import Path

    legal = Path(__file__).resolve().parents[1] / "data" / "legal"
    rows, _ = clause_rows((legal / "loi-93-122-article-40-1.txt").read_bytes(), "a.txt", "a.txt", "")
    got = {r["field"]: r["value"] for r in rows}
    assert got == {"annual_report_deadline": "--06-01", "annual_report_contents": "comptes;qualite"}
    # article 40 caps an extension at one year and states no contract: nothing is read as a contract term
    rows, _ = clause_rows((legal / "loi-93-122-article-40.txt").read_bytes(), "b.txt", "b.txt", "")
    assert rows == []
