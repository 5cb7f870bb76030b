"""Procurement end to end on the tiny city: the simulated DECP exports and SIRENE extract go
through bronze (with a broken delivery and a bad record quarantined), silver and the marts with
their blocking checks, published to DuckDB (schema administration); the planted cases are found
and nothing else is flagged. A re-run changes nothing."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

SOURCES = ("procurement", "procurement_suppliers", "procurement_buyers")


def _run(s, lake):
    import dagster as dg

    from assets import procurement
    from assets.lake import LakeResource
    from assets.reference import procurement_buyers
    from assets.serving import ServingResource, serving_asset_for

    resources = {"lake": LakeResource(lake_uri=s.lake_uri, landing_uri=s.landing_uri),
                 "serving": ServingResource(path=s.serving_path)}
    res = dg.materialize([procurement_buyers, *procurement.ASSETS, serving_asset_for(procurement.ASSETS),
                          *procurement.CHECKS], resources=resources, raise_on_error=False)
    bad = [e.event_specific_data.asset_check_key.to_user_string() for e in res.all_events
           if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
    assert res.success and not bad, f"failed checks {bad}"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from assets.bronze import ingest_delivery
    from assets.lake import Lake
    from assets.sources import SOURCES_BY_NAME
    from models.simulator.city import build_city
    from models.simulator.procurement import simulate_procurement
    from orchestration.settings import Settings

    root = tmp_path_factory.mktemp("procurement-city")
    env = {"LAKE_URI": str(root / "lake"), "LANDING_URI": str(root / "landing"),
           "SERVING_PATH": str(root / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(root / "dagster"),
           "CITY_PROFILE": "tiny", "SEED": "7"}
    s = Settings.from_env(env)
    landing = Path(s.landing_uri)
    simulate_procurement(build_city("tiny", 7), landing, s.ground_truth_path)
    folder = landing / "admin" / "procurement"
    (folder / "decp_broken.json").write_text('{"marches": {"marche": [')
    doc = json.loads((folder / "decp_2025.json").read_text())
    extra = dict(doc["marches"]["marche"][0], id="BAD1", codeCPV="4523")
    (folder / "decp_extra.json").write_text(json.dumps({"marches": {"marche": [extra]}}))
    lake = Lake(s.lake_uri)
    reports = {}
    for name in SOURCES:
        src = SOURCES_BY_NAME[name]
        for key, _ in src.deliveries(landing):
            reports[key] = ingest_delivery(src, key, lake, landing, s.quarantine_path, "test")
    _run(s, lake)
    return {"s": s, "lake": lake, "reports": reports,
            "truth": json.loads((s.ground_truth_path / "admin" / "procurement_truth.json").read_text())}


def test_bad_inputs_quarantined_with_reason(city):
    r = city["reports"]
    assert r["decp_broken.json"].status == "quarantined" and "invalid JSON" in r["decp_broken.json"].quarantined[0]["reason"]
    assert r["decp_extra.json"].status == "partial" and "codeCPV" in r["decp_extra.json"].quarantined[0]["reason"]
    assert r["decp_2024.json"].status == "ingested" and r["decp_2025.json"].status == "ingested"
    from quality.checks import check_table
    from quality.suites import bronze_suite

    for table in ("procurement_contracts", "procurement_suppliers"):
        df = city["lake"].read("bronze", table)
        for key in df["_delivery"].unique():
            out = check_table(df.filter(pl.col("_delivery") == key), bronze_suite(table))
            assert out.success, (table, key, out.summary())


def test_planted_cases_found_and_nothing_else(city):
    lake, cases = city["lake"], city["truth"]["cases"]
    flags = lake.read("gold", "procurement_flags")
    got = {k: sorted(flags.filter(pl.col("flag_type") == k)["contract_uid"]) for k in flags["flag_type"].unique()}
    assert got == {"possible_split": sorted(cases["split"]), "single_bid": cases["single_bid"],
                   "amendment_over_limit": cases["amendment"], "just_under_threshold": cases["just_under"],
                   "late_publication": cases["late_publication"]}
    c = lake.read("silver", "procurement_contracts")
    assert c.height == city["truth"]["n_contracts"]
    ind = lake.read("gold", "procurement_indicators")
    holders = lake.read("silver", "procurement_holders")
    sup = lake.read("silver", "procurement_suppliers")
    known = holders.join(sup, on="siren").height
    pme = holders.join(sup.filter(pl.col("category") == "PME"), on="siren").height
    assert round(100 * pme / known, 1) == city["truth"]["sme_share_awards_pct"]
    assert ind["n_single_bid"].sum() == 1 and ind["n_possible_split_awards"].sum() == 3


def test_every_procurement_mart_carries_its_buyers_commune(city):
    """The buyers' reference (reference/procurement_buyers.csv) places each DECP row: the town and
    its CCAS in Cannes, the agglomeration's community at the agglomeration level."""
    from models.simulator.procurement import BUYER_COMMUNES

    lake = city["lake"]
    c = lake.read("silver", "procurement_contracts").select("contract_uid", "buyer_siret")
    want = {u: BUYER_COMMUNES[s] for u, s in c.iter_rows()}
    for table in ("procurement_amendments", "procurement_threshold_awards", "procurement_flags"):
        df = lake.read("gold", table)
        assert df.height and [want[u] for u in df["contract_uid"]] == df["commune"].to_list(), table
    flags = lake.read("gold", "procurement_flags")       # the flag names its buyer (acheteur) too
    assert flags["buyer_siret"].to_list() == [dict(c.iter_rows())[u] for u in flags["contract_uid"]]
    ind = lake.read("gold", "procurement_indicators")
    assert set(ind["commune"]) == {"Cannes", "Agglomération Cannes Lérins"}
    per = c.with_columns(pl.col("buyer_siret").replace_strict(BUYER_COMMUNES).alias("commune")).group_by("commune").len()
    assert dict(ind.group_by("commune").agg(pl.col("n_contracts").sum()).iter_rows()) == dict(per.iter_rows())
    for table in ("procurement_supplier_spend", "procurement_procedure_mix"):
        assert lake.read("gold", table)["commune"].is_not_null().all(), table


def test_published_to_duckdb_and_rerun_idempotent(city):
    s, lake = city["s"], city["lake"]
    tables = ["procurement_supplier_spend", "procurement_procedure_mix", "procurement_amendments",
              "procurement_threshold_awards", "procurement_flags", "procurement_indicators"]
    before = {t: lake.read("gold", t).sort(pl.all()) for t in tables}
    with duckdb.connect(str(s.serving_path), read_only=True) as con:
        for t in tables:
            assert con.execute(f"SELECT count(*) FROM administration.{t}").fetchone()[0] == before[t].height
        top = con.execute("SELECT flag_type FROM administration.procurement_flags WHERE severity = 'high'").fetchall()
    assert {r[0] for r in top} == {"possible_split", "amendment_over_limit"}
    _run(s, lake)
    for t in tables:
        assert lake.read("gold", t).sort(pl.all()).equals(before[t]), t
    assert lake.read("silver", "procurement_contracts").height == city["truth"]["n_contracts"]


def test_no_decp_delivered_is_an_empty_state(tmp_path):
    from assets.lake import Lake
    from orchestration.settings import Settings

    env = {"LAKE_URI": str(tmp_path / "lake"), "LANDING_URI": str(tmp_path / "landing"),
           "SERVING_PATH": str(tmp_path / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "CITY_PROFILE": "tiny", "SEED": "7"}
    (tmp_path / "landing").mkdir()
    s = Settings.from_env(env)
    lake = Lake(s.lake_uri)
    _run(s, lake)
    assert lake.read("silver", "procurement_contracts").is_empty()
    assert lake.read("gold", "procurement_indicators").is_empty() and lake.read("gold", "procurement_flags").is_empty()
