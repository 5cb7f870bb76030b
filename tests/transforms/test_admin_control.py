"""Administration control rules and quality on small frames and planted bad deliveries: totals
that do not add up and missing targets are caught by the blocking rules, penalties follow the
clause, an unreadable PDF and an XLSX without its sheet are quarantined with their reason."""

import io
import json

import polars as pl
import pytest

from transforms import admin as T


def _lines(rows):
    base = {"contract_id": "DSP-X", "year": 2025, "label": "l", "unit": "EUR", "previous_value": 1.0,
            "target": None, "comment": None, "source_file": "admin/dsp_reports/DSP-X_2025.csv"}
    return pl.DataFrame([{**base, **r} for r in rows], schema=T.DSP_REPORT_LINES)


PNL = [("REV_A", 600.0), ("REV_B", 400.0), ("TOTAL_REVENUE", 1000.0), ("COST_STAFF", 500.0),
       ("COST_OVERHEAD", 100.0), ("TOTAL_OPEX", 600.0), ("EBITDA", 400.0), ("DEPRECIATION", 100.0),
       ("EBIT", 300.0), ("FINANCIAL_RESULT", -20.0), ("CORPORATE_TAX", 70.0), ("NET_RESULT", 210.0)]


def _pnl(**override):
    return _lines([{"section": "pnl", "code": c, "value": override.get(c, v), "previous_value": v} for c, v in PNL])


def test_totals_that_add_up_pass_and_a_broken_total_is_named():
    assert T.totals_problems(_pnl()) == []
    bad = T.totals_problems(_pnl(TOTAL_REVENUE=1001.0))
    assert any("TOTAL_REVENUE value 1001 differs from its parts (1000" in m for m in bad)
    assert any(m.startswith("DSP-X 2025: EBITDA") for m in bad)  # 1001 - 600 != 400


def test_missing_previous_year_and_targets_are_reported():
    lines = _pnl().with_columns(pl.when(pl.col("code") == "EBIT").then(None).otherwise(pl.col("previous_value"))
                                .alias("previous_value"))
    assert T.missing_previous_year(lines) == ["DSP-X 2025: pnl/EBIT has no previous-year value"]
    kpis = T.dsp_kpis(_lines([{"section": "kpis", "code": "KPI_A", "value": 5.0, "target": None,
                               "comment": "seuil minimal contractuel"},
                              {"section": "kpis", "code": "KPI_B", "value": 5.0, "target": 4.0, "comment": None}]))
    msgs = T.missing_targets(kpis, pl.DataFrame(schema=T.DSP_INVESTMENTS))
    assert len(msgs) == 2 and "KPI_A" in msgs[0] and "KPI_B" in msgs[1]


def test_kpi_compliance_directions_and_penalty_clause():
    kpis = T.dsp_kpis(_lines([
        {"section": "kpis", "code": "KPI_MIN_OK", "value": 98.0, "target": 98.0, "comment": "seuil minimal contractuel"},
        {"section": "kpis", "code": "KPI_MIN_BAD", "value": 80.0, "target": 90.0, "comment": "seuil minimal contractuel"},
        {"section": "kpis", "code": "KPI_MAX_BAD", "value": 30.0, "target": 15.0, "comment": "seuil maximal contractuel"},
    ]))
    contracts = pl.DataFrame({"contract_id": ["DSP-X"], "annual_fee_eur": [100000.0]})
    c = {r["code"]: r for r in T.kpi_compliance(kpis, contracts).iter_rows(named=True)}
    assert c["KPI_MIN_OK"]["compliant"] and c["KPI_MIN_OK"]["penalty_eur"] == 0
    # 10 under a target of 90: 11.1 % shortfall, 3 started steps of 5 % -> 3 x 0.5 % of the fee
    assert c["KPI_MIN_BAD"]["shortfall"] == 10 and c["KPI_MIN_BAD"]["shortfall_pct"] == 11.1
    assert c["KPI_MIN_BAD"]["penalty_eur"] == 1500
    # 100 % over a maximum: capped at 3 % of the fee
    assert not c["KPI_MAX_BAD"]["compliant"] and c["KPI_MAX_BAD"]["penalty_eur"] == 3000
    # no schedule in the contract: the standard clause, flagged as such
    assert c["KPI_MIN_BAD"]["penalty_schedule"] == "default_clause" and "clause type" in c["KPI_MIN_BAD"]["penalty_basis"]
    assert c["KPI_MIN_OK"]["penalty_basis"] is None


def test_kpi_penalties_follow_the_contracts_own_schedule():
    kpis = T.dsp_kpis(_lines([
        {"section": "kpis", "code": "KPI_MIN_BAD", "value": 80.0, "target": 90.0, "comment": "seuil minimal contractuel"},
        {"section": "kpis", "code": "KPI_MAX_BAD", "value": 30.0, "target": 15.0, "comment": "seuil maximal contractuel"},
    ]))
    contracts = pl.DataFrame({"contract_id": ["DSP-X"], "annual_fee_eur": [100000.0], "penalty_eur_per_step": [2000.0],
                              "penalty_step_pct": [2.0], "penalty_cap_eur": [None]},
                             schema_overrides={"penalty_cap_eur": pl.Float64})
    c = {r["code"]: r for r in T.kpi_compliance(kpis, contracts).iter_rows(named=True)}
    # 11.1 % shortfall, started steps of 2 %: 6 x 2,000 EUR; no cap in this contract: 100 % -> 50 x 2,000
    assert c["KPI_MIN_BAD"]["penalty_eur"] == 12000 and c["KPI_MAX_BAD"]["penalty_eur"] == 100000
    assert {r["penalty_schedule"] for r in c.values()} == {"contract"}
    assert c["KPI_MIN_BAD"]["penalty_basis"] == ("clause du contrat : 2000 EUR par tranche entamée de 2.0 % "
                                                 "d'écart à la cible, sans plafond")
    capped = contracts.with_columns(pl.lit(30000.0).alias("penalty_cap_eur"))
    c = {r["code"]: r for r in T.kpi_compliance(kpis, capped).iter_rows(named=True)}
    assert c["KPI_MAX_BAD"]["penalty_eur"] == 30000 and "plafonné à 30000 EUR" in c["KPI_MAX_BAD"]["penalty_basis"]
    # a schedule with only a cap is not a schedule: the standard clause applies
    partial = contracts.with_columns(pl.lit(None, pl.Float64).alias("penalty_eur_per_step"))
    assert set(T.kpi_compliance(kpis, partial)["penalty_schedule"]) == {"default_clause"}


def test_findings_carry_severity_evidence_and_recommendation():
    rows = [{"section": "pnl", "code": c, "value": v, "previous_value": 1300.0 if c == "TOTAL_REVENUE" else v}
            for c, v in PNL]
    lines = _lines(rows)
    contracts = pl.DataFrame({"contract_id": ["DSP-X"], "name": ["x"], "service": ["s"], "delegate": ["d"],
                              "contract_type": ["concession"], "start_date": [None], "end_date": [None],
                              "overhead_cap_pct": [8.0], "annual_fee_eur": [10.0]},
                             schema_overrides={"start_date": pl.Date, "end_date": pl.Date})
    pnl = T.dsp_pnl(lines)
    comp = T.kpi_compliance(T.dsp_kpis(lines), contracts)
    inv = T.dsp_investments(lines)
    fin = T.financials(pnl, lines, contracts, comp, inv)
    f = T.findings(fin, comp, T.investment_plan(inv), T.asset_inventory(T.dsp_assets(lines)),
                   T.tariff_changes(T.dsp_tariffs(lines)), lines)
    by = {r["finding_type"]: r for r in f.iter_rows(named=True)}
    assert by["revenue_drop"]["severity"] == "medium" and by["revenue_drop"]["value"] == -23.1
    assert by["overhead_above_cap"]["value"] == 10.0 and by["overhead_above_cap"]["reference"] == 8.0
    ev = json.loads(by["overhead_above_cap"]["evidence"])
    assert {e["code"] for e in ev} == {"COST_OVERHEAD", "TOTAL_REVENUE"} and ev[0]["source_file"].endswith(".csv")
    assert all(r["recommendation"] for r in f.iter_rows(named=True))


def test_blocking_check_fails_on_a_broken_total(tmp_path):
    import dagster as dg

    from assets.lake import Lake, LakeResource
    from assets.admin import CHECKS

    lake = Lake(str(tmp_path / "lake"))
    lines = _pnl(TOTAL_OPEX=650.0)
    lake.overwrite("silver", "dsp_report_lines", lines)
    lake.overwrite("silver", "dsp_pnl", T.dsp_pnl(lines))
    lake.overwrite("silver", "dsp_contracts", pl.DataFrame({"contract_id": ["DSP-X"]}))
    check = next(c for c in CHECKS if dg.AssetKey(["silver", "dsp_pnl"]) in {k.asset_key for k in c.check_keys})
    ctx = dg.build_asset_check_context(resources={"lake": LakeResource(lake_uri=lake.root, landing_uri=str(tmp_path))})
    res = check(ctx)
    assert not res.passed and "TOTAL_OPEX value 650 differs" in res.description


@pytest.mark.parametrize("name,data,reason", [
    ("admin/documents/courrier-09-illisible.pdf", b"%PDF-1.4\n1 0 obj garbage", "unreadable PDF"),
    ("admin/dsp_reports/DSP-X_2025.xlsx", None, "missing sheet 'pnl'"),
])
def test_unreadable_pdf_and_xlsx_without_its_sheet_are_quarantined(tmp_path, name, data, reason):
    from assets.bronze import ingest_delivery
    from assets.lake import QUARANTINE_SCHEMA, Lake
    from assets.sources import SOURCES_BY_NAME

    if data is None:
        import openpyxl

        wb = openpyxl.Workbook()
        wb.active.title = "contrat"
        wb.create_sheet("kpis").append(["section", "code", "value"])
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
    landing = tmp_path / "landing"
    path = landing / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    source = SOURCES_BY_NAME["documents" if name.endswith(".pdf") else "dsp_reports"]
    key = path.relative_to(landing / source.root).as_posix()
    lake = Lake(str(tmp_path / "lake"))
    rep = ingest_delivery(source, key, lake, landing, landing / "_quarantine", "run-1")
    assert rep.status == "quarantined" and rep.rows == 0
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    assert q.height == 1 and reason in q["reason"][0] and key in q["reason"][0]
    assert not path.exists() and (landing / "_quarantine" / source.name / name).read_bytes() == data
    # a re-run finds it in quarantine and records nothing new
    ingest_delivery(source, key, lake, landing, landing / "_quarantine", "run-2")
    assert lake.read("", "quarantine").height == 1
