"""The waste chain end to end on the tiny city: bronze (logs, sensors, litter, reference) ->
silver -> forecaster training (model card, registry, idempotent) -> forecast -> selection ->
routes on the street network -> marts, with every blocking check passing; then the rules of the
checks fail on planted bad plans."""

import json
from pathlib import Path

import polars as pl
import pytest

WASTE_SOURCES = ["quartiers", "street_segments", "collection_points", "places", "fleet", "fixed_rounds",
                 "collection_logs", "bin_readings", "litter_detections", "city_calendar"]


@pytest.fixture(scope="module")
def waste_city(tmp_path_factory):
    import dagster as dg

    from assets import reference
    from assets import waste as A
    from assets.bronze import ingest_delivery
    from assets.lake import Lake
    from assets.sources import SOURCES_BY_NAME
    from models.simulator.city import build_city
    from models.simulator.reference import write_reference
    from models.simulator.waste import simulate_waste
    from orchestration.settings import Settings

    root = tmp_path_factory.mktemp("waste-city")
    s = Settings.from_env({"LAKE_URI": str(root / "lake"), "LANDING_URI": str(root / "landing"),
                           "CITY_PROFILE": "tiny", "SEED": "7"})
    city = build_city("tiny", 7)
    landing = Path(s.landing_uri)
    write_reference(city, landing)
    simulate_waste(city, landing, s.ground_truth_path)
    lake = Lake(s.lake_uri)
    for name in WASTE_SOURCES:
        src = SOURCES_BY_NAME[name]
        for key, _ in src.deliveries(landing):
            ingest_delivery(src, key, lake, landing, s.quarantine_path, "test")
    ref = [a for a in reference.ASSETS if a.key.path[-1] != "dsp_contracts"]
    res = dg.materialize([*ref, *A.ASSETS, *A.CHECKS],
                         resources={"lake": s.lake_resource()},
                         raise_on_error=False)
    failed = [e.step_key for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    bad = [e.event_specific_data.asset_check_key.to_user_string() for e in res.all_events
           if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
    assert res.success and not bad, f"failed steps {failed}, failed checks {bad}"
    return {"lake": lake, "settings": s, "A": A}


def test_marts_and_plan(waste_city):
    lake = waste_city["lake"]
    fc = lake.read("gold", "bin_fill_forecast")
    bins = lake.read("silver", "collection_points")
    assert fc.height == bins.height and fc["plan_date"].n_unique() == 1
    assert (fc.filter(pl.col("rate_source") == "model")["model_version"].is_not_null()).all()
    sel = lake.read("silver", "collection_selection")
    stops = lake.read("gold", "collection_stops")
    served = set(stops.filter(pl.col("kind") == "bin")["bin_id"].to_list())
    dropped = set(stops.filter(pl.col("kind") == "dropped")["bin_id"].to_list())
    assert set(sel["bin_id"].to_list()) == served | dropped and sel["reason"].is_not_null().all()
    routes = lake.read("gold", "collection_routes")
    assert (routes["max_load_kg"] <= routes["capacity_kg"]).all()
    kpis = lake.read("gold", "collection_kpis")
    assert set(kpis["policy"].to_list()) == {"platform", "fixed_rounds"}
    assert lake.read("gold", "cleanliness_index")["clean_city_index"].is_between(0, 5).all()
    assert lake.read("gold", "sorting_quality").height > 0
    maps = Path(waste_city["settings"].lake_uri) / "gold" / "_maps" / "collection_routes.png"
    assert maps.read_bytes()[:4] == b"\x89PNG"


def test_forecaster_registered_with_card_and_not_retrained(waste_city):
    import dagster as dg

    from assets import ml

    lake, s, A = waste_city["lake"], waste_city["settings"], waste_city["A"]
    row = ml.promoted(lake, A.MODEL)
    card = Path(row["artifact_path"]) / "model_card.md"
    assert card.exists() and "MAE" in card.read_text()
    # the calendar came through the landing zone: silver.city_calendar, named in the card
    cal = lake.read("silver", "city_calendar")
    assert set(cal["kind"]) == {"school_holiday", "event"} and "Festival de Cannes" in cal["name"].to_list()
    assert "silver.city_calendar:" in card.read_text()
    res = dg.materialize([A.bin_fill_forecaster], resources={"lake": s.lake_resource()})
    meta = res.asset_materializations_for_node(A.bin_fill_forecaster.op.name)[0].metadata
    assert meta["trained_now"].value is False and meta["version"].value == row["version"]
    # a reused version shows what its training showed: metrics and the model card
    assert meta["metric/mae_model"].value == pytest.approx(json.loads(row["metrics_json"])["mae_model"])
    assert Path(meta["model_card_path"].value).name == "model_card.md" and "MAE" in meta["model_card"].value


def test_check_rules_fail_on_bad_plans(waste_city):
    from quality import suites_waste as QS

    lake = waste_city["lake"]
    stops = lake.read("gold", "collection_stops")
    assert QS.stops_rules(stops, lake) == []
    sel_bin = lake.read("silver", "collection_selection")["bin_id"][0]
    missing = stops.filter(pl.col("bin_id") != sel_bin)
    assert any("neither visited nor dropped" in m for m in QS.stops_rules(missing, lake))
    late = stops.with_columns(pl.when(pl.col("kind") == "bin").then(pl.col("eta")).otherwise(None).alias("window_end"),
                              pl.col("eta").dt.offset_by("1h"))
    assert any("after their window" in m for m in QS.stops_rules(late, lake))
    routes = lake.read("gold", "collection_routes")
    over = routes.with_columns((pl.col("capacity_kg") + 1).alias("max_load_kg"))
    assert any("over capacity" in m for m in QS.routes_rules(over, lake))
