"""A failed or partial solve never replaces a good plan, and every published table has its
blocking `contract` check (written, not empty while its inputs have rows).

The repair plan asset runs on a small lake (segment condition of the demo city's ground truth,
no frame rendered) once with the normal deterministic limits, then with a planted failing crew
solve (wall-clock safety net of ~0 s): the second run fails and the first plan stays published."""

import warnings

import dagster as dg
import polars as pl
import pytest

warnings.filterwarnings("ignore")


@pytest.fixture()
def roads_lake(tmp_path):
    from assets.lake import Lake, LakeResource
    from tests.models.test_roads_repair import build_demo_condition

    cond, depot = build_demo_condition()
    lk = Lake(str(tmp_path / "lake"))
    lk.overwrite("gold", "road_segment_condition", cond)
    lk.overwrite("silver", "street_segments", cond.select("segment_id").unique())   # what the checks reference
    lk.overwrite("silver", "places", pl.DataFrame({"place_id": ["D1"], "kind": ["depot"], "x_2154": [depot[0]],
                                                   "y_2154": [depot[1]]}))
    (tmp_path / "landing").mkdir()
    return lk, LakeResource(lake_uri=str(tmp_path / "lake"), landing_uri=str(tmp_path / "landing"))


def test_plan_date_setting_dates_the_plan(roads_lake):
    """ROADS_PLAN_DATE (via the resource) is the plan's date, so two builds on either side of
    midnight date the crews alike; without it the build's UTC date."""
    from datetime import date, datetime, timezone

    from assets.lake import LakeResource
    from assets.roads import plan_day, road_repair_plan

    lk, res = roads_lake
    assert plan_day(None) == datetime.now(timezone.utc).date()
    pinned = LakeResource(lake_uri=res.lake_uri, landing_uri=res.landing_uri, roads_plan_date="2027-01-08")
    out = dg.materialize([road_repair_plan], resources={"lake": pinned})
    assert set(lk.read("gold", "road_repair_plan")["planned_on"]) == {date(2027, 1, 8)}
    meta = out.asset_materializations_for_node(road_repair_plan.op.name)[0].metadata
    assert meta["planned_on"].value == "2027-01-08" and meta["planned_on_source"].value == "ROADS_PLAN_DATE"


def test_failed_crew_solve_keeps_the_previous_plan(roads_lake, monkeypatch):
    import models.roads.repair as R
    from assets.roads import CHECKS, road_repair_plan

    lk, res = roads_lake
    checks = [c for c in CHECKS if any(k.asset_key.path[-1] in ("road_repair_plan", "road_crew_days")
                                       for k in c.check_keys)]
    ok = dg.materialize([road_repair_plan, *checks], resources={"lake": res}, raise_on_error=False)
    assert ok.success, [(e.asset_check_key.name, e.description) for e in ok.get_asset_check_evaluations()
                        if not e.passed]
    plan1, days1 = lk.read("gold", "road_repair_plan"), lk.read("gold", "road_crew_days")
    assert plan1.height and days1.height
    assert set(days1["segment_id"]) == set(plan1["segment_id"])
    assert set(days1["routing_status"]) <= {"ROUTING_SUCCESS", "ROUTING_OPTIMAL",
                                            "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED"}

    real = R.crew_days
    monkeypatch.setattr(R, "crew_days", lambda *a, **k: real(*a, **{**k, "solution_limit": 10**9, "safety_s": 0.2}))
    bad = dg.materialize([road_repair_plan, *checks], resources={"lake": res}, raise_on_error=False)
    assert not bad.success
    failures = [e for e in bad.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures and "previous" in str(failures[0].event_specific_data.error.message)
    # nothing was replaced: the same plan and crew days as the good run, and no materialisation
    assert lk.read("gold", "road_crew_days").sort("day", "sequence").equals(days1.sort("day", "sequence"))
    assert lk.read("gold", "road_repair_plan").height == plan1.height
    assert not bad.asset_materializations_for_node(road_repair_plan.op.name)

    # a reproducible solve: the same crew days as the first run
    monkeypatch.setattr(R, "crew_days", real)
    again = dg.materialize([road_repair_plan, *checks], resources={"lake": res}, raise_on_error=False)
    assert again.success
    assert lk.read("gold", "road_crew_days").sort("day", "sequence").equals(days1.sort("day", "sequence"))


def test_contract_fails_on_an_empty_table_whose_inputs_have_rows(tmp_path):
    from assets.lake import Lake
    from quality.checks import contract_result

    lk = Lake(str(tmp_path / "lake"))
    lk.overwrite("gold", "road_repair_plan", pl.DataFrame({"segment_id": ["S1"]}))
    lk.overwrite("gold", "road_crew_days", pl.DataFrame(schema={"segment_id": pl.Utf8}))
    assert not contract_result(lk, "gold", "missing", [("gold", "road_repair_plan")]).passed
    bad = contract_result(lk, "gold", "road_crew_days", [("gold", "road_repair_plan")])
    assert not bad.passed and "empty although its inputs have rows" in bad.description
    assert contract_result(lk, "gold", "road_crew_days", [("gold", "road_repair_plan")],
                           may_be_empty="no site").passed
    lk.overwrite("gold", "road_repair_plan", pl.DataFrame(schema={"segment_id": pl.Utf8}))
    assert contract_result(lk, "gold", "road_crew_days", [("gold", "road_repair_plan")]).passed


def test_every_published_and_plan_table_has_a_blocking_check():
    from assets.catalog import contract_tables
    from orchestration.definitions import defs, published

    d = defs()
    GOLD_TABLES = published(d)
    PLAN_TABLES = [(layer, t) for layer, t, _, _ in contract_tables(d.resolve_all_asset_specs()) if layer != "gold"]
    assert set(PLAN_TABLES) == {("silver", "collection_selection"), ("silver", "collection_stops"),
                                ("silver", "tree_inspection_plan")}
    graph = d.resolve_asset_graph()
    keys = {}
    for ck in graph.asset_check_keys:
        keys.setdefault(tuple(ck.asset_key.path), set()).add(ck.name)
    for t in GOLD_TABLES:
        assert "contract" in keys.get(("gold", t), set()), t
    for layer, t in PLAN_TABLES:
        assert "contract" in keys.get((layer, t), set()), t
    assert "gx_gold_suite" in keys[("gold", "road_crew_days")]
    for ck in graph.asset_check_keys:
        if ck.asset_key.path[0] == "gold":
            assert graph.get_check_spec(ck).blocking, ck
