"""Marts per commune, on planted sets with hand-computed values: the city's daily KPIs and the
network summary per commune plus the agglomeration's total, the procurement marts per buyer
commune (transforms/direction.py, transforms/territory.py `per_commune`,
transforms/procurement_marts.py `per_buyer_commune`)."""

from datetime import date, datetime, timezone

import polars as pl
import pytest

AGGLO = "Agglomération Cannes Lérins"
DAY = date(2026, 10, 1)


def test_city_daily_kpis_per_commune_and_agglomeration_total():
    from transforms.direction import city_daily_kpis_by_commune

    at = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)
    segments = pl.DataFrame({"segment_id": ["S1", "S2"], "length_m": [1000.0, 500.0], "commune": ["Cannes", "Mougins"]})
    frames = pl.DataFrame({"captured_at": [at] * 4, "segment_id": ["S1", "S1", "S2", None]})
    bins = pl.DataFrame({"bin_id": ["B1", "B2"], "commune": ["Cannes", "Mougins"]})
    quartiers = pl.DataFrame({"name": ["Le Suquet", "Tournamy", "Rocheville"],
                              "commune": ["Cannes", "Mougins", "Le Cannet"]})
    events = pl.DataFrame({"bin_id": ["B1", "B2"], "quartier": ["Le Suquet", "Tournamy"], "collection_date": [DAY] * 2,
                           "net_weight_kg": [1000.0, 500.0], "fill_level_at_pickup": [0.8, 0.6],
                           "contamination": [False, True]})
    readings = pl.DataFrame({"bin_id": ["B1", "B2"], "observed_date": [DAY] * 2, "filling_level": [0.95, 0.5]})
    litter = pl.DataFrame({"quartier": ["Le Suquet", "Tournamy"], "detected_date": [DAY] * 2, "count": [3, 2]})
    out = city_daily_kpis_by_commune(frames, segments, events, readings, litter, bins, quartiers, AGGLO)
    rows = {r["commune"]: r for r in out.iter_rows(named=True)}
    assert set(rows) == {AGGLO, "Cannes", "Mougins"}        # Le Cannet: nothing happened there, no row
    cols = ("frames_surveyed", "km_surveyed", "pickups", "tonnes_collected", "mean_fill_at_pickup",
            "contamination_rate_pct", "sensor_readings", "near_full_alerts", "litter_items")
    want = {AGGLO: (4, 1.5, 2, 1.5, 0.7, 50.0, 2, 1, 5),     # the frame on no segment counts in the total only
            "Cannes": (2, 1.0, 1, 1.0, 0.8, 0.0, 1, 1, 3),
            "Mougins": (1, 0.5, 1, 0.5, 0.6, 100.0, 1, 0, 2)}
    for commune, values in want.items():
        assert tuple(rows[commune][c] for c in cols) == pytest.approx(values), commune
        assert rows[commune]["date"] == DAY


def test_network_summary_per_commune():
    from transforms.roads import network_summary
    from transforms.territory import per_commune

    segments = pl.DataFrame({"segment_id": ["S1", "S2", "S3"], "length_m": [1000.0, 500.0, 500.0],
                             "commune": ["Cannes", "Mougins", "Cannes"]})
    condition = pl.DataFrame({"survey_id": ["V1"] * 3, "segment_id": ["S1", "S2", "S3"],
                              "length_m": [1000.0, 500.0, 500.0], "graded": [True] * 3, "grade": [2.0, 2.0, 4.0],
                              "pci": [80.0, 70.0, 40.0], "safety_critical": [False, False, True],
                              "commune": ["Cannes", "Mougins", "Cannes"]})
    out = per_commune(network_summary, (condition, segments), AGGLO)
    good = {r["commune"]: r for r in out.filter(pl.col("grade") == 2.0).iter_rows(named=True)}
    assert set(good) == {AGGLO, "Cannes", "Mougins"} and out.columns[0] == "commune"
    assert (good[AGGLO]["segments"], good[AGGLO]["km"], good[AGGLO]["share_of_graded_length_pct"]) == (2, 1.5, 75.0)
    assert (good["Cannes"]["km"], good["Cannes"]["share_of_graded_length_pct"]) == (1.0, 66.67)
    assert (good["Mougins"]["km"], good["Mougins"]["share_of_graded_length_pct"]) == (0.5, 100.0)
    assert good["Cannes"]["length_weighted_pci"] == pytest.approx(66.67) and good[AGGLO]["length_weighted_pci"] == 67.5
    assert (good["Cannes"]["network_km"], good["Mougins"]["network_km"], good[AGGLO]["network_km"]) == (1.5, 0.5, 2.0)
    assert (good["Cannes"]["safety_critical_segments"], good["Mougins"]["safety_critical_segments"]) == (1, 0)


def test_procurement_marts_per_buyer_commune():
    from transforms import procurement_marts as M

    c = pl.DataFrame({"contract_uid": ["U1", "U2", "U3", "U4"], "notified_on": [date(2025, 3, 1)] * 4,
                      "procedure": ["Procédure adaptée", "Appel d'offres ouvert", "Procédure adaptée", "Procédure adaptée"],
                      "amount_eur": [100_000.0, 300_000.0, 50_000.0, 70_000.0],
                      "commune": ["Cannes", "Cannes", AGGLO, None]})
    mix = M.per_buyer_commune(M.procedure_mix, c)
    assert mix.columns[0] == "commune"
    got = {(r["commune"], r["procedure"]): (r["n_contracts"], r["share_amount_pct"]) for r in mix.iter_rows(named=True)}
    assert got == {("Cannes", "Procédure adaptée"): (1, 25.0), ("Cannes", "Appel d'offres ouvert"): (1, 75.0),
                   (AGGLO, "Procédure adaptée"): (1, 100.0), (None, "Procédure adaptée"): (1, 100.0)}
    # without the buyer's commune: the marts as before, one row per year and procedure
    assert M.per_buyer_commune(M.procedure_mix, c.drop("commune")).height == 2


def test_buyer_communes_by_siret_then_siren():
    from transforms.territory import buyer_communes

    buyers = pl.DataFrame({"siret": ["21060029200019", "20003878900017"], "commune": ["Cannes", AGGLO]})
    got = buyer_communes(["21060029200019", "21060029200027", "20003878900017", "99999999900011", None], buyers)
    assert got == {"21060029200019": "Cannes", "21060029200027": "Cannes", "20003878900017": AGGLO}


def test_commune_known_check_warns_on_an_unknown_commune(tmp_path):
    """The WARN check on silver/dsp_contracts (and procurement_buyers): a commune no reference
    commune bears is named; the agglomeration and NULL pass."""
    import dagster as dg

    from assets.lake import Lake, LakeResource
    from quality.checks import commune_known_check, unknown_communes

    df = pl.DataFrame({"contract_id": ["A", "B", "C", "D"], "commune": ["Cannes", AGGLO, None, "Canes"]})
    assert unknown_communes(df, ["Cannes", "Mougins"]) == [
        "D: commune 'Canes' is not a reference commune (Cannes, Mougins) nor 'Agglomération Cannes Lérins'"]
    lake = Lake(str(tmp_path / "lake"))
    lake.overwrite("silver", "communes", pl.DataFrame({"insee": ["06029"], "name": ["Cannes"]}))
    check = commune_known_check("dsp_contracts")
    results = {}
    for label, frame in (("good", df.head(3)), ("bad", df)):
        lake.overwrite("silver", "dsp_contracts", frame)
        ctx = dg.build_asset_check_context(resources={"lake": LakeResource(lake_uri=str(tmp_path / "lake"),
                                                                           landing_uri=str(tmp_path))})
        results[label] = check(ctx)
    assert results["good"].passed and not results["bad"].passed
    assert results["bad"].severity == dg.AssetCheckSeverity.WARN and "'Canes'" in results["bad"].description
