"""Planted reports of each category flow through the materialised Dagster assets to the plans, from
the landing zone and from NATS: bronze -> silver/citizen_requests -> silver/citizen_request_routing
-> gold/road_repair_plan (pothole, pavement), silver/collection_selection (bin overflow,
fly-tipping, litter: tomorrow's collection), silver + gold tree_inspection_plan (dangerous or
fallen tree), gold/citizen_agent_queue (nothing matched), each with the reason
"resident report <id>".

The plans' other inputs are written once into a template lake: the tiny city's reference, its
segment condition computed by the roads transform from planted survey frames (every segment
damaged a little, so each has repair options), a low fill forecast for every bin (nothing due but
what residents report) and the trees with their TRAQ columns. Each path copies the template."""

import re
import shutil
import uuid
from datetime import date, datetime, timezone

import dagster as dg
import numpy as np
import polars as pl
import pytest

from tests.citizens.conftest import build_reference, ingest
from tests.conftest import service_available

VOIRIE, PROPRETE, TREES = ("pothole", "pavement"), ("bin_overflow", "fly_tipping", "litter"), ("tree_danger", "tree_fallen")


def _condition(segs: pl.DataFrame, reported: set[str]) -> pl.DataFrame:
    """Segment condition of one survey, through the roads transform: the reported segments and
    one in four of the others driven (a small plan keeps the test short), medium alligator cracks
    in every frame (PCI under 85: each graded segment has repair options)."""
    from transforms import roads as R

    t = datetime(2026, 10, 1, 9, tzinfo=timezone.utc)
    frames, dets = [], []
    for i, (sid, length) in enumerate(segs.select("segment_id", "length_m").iter_rows()):
        if sid not in reported and i % 4:
            continue
        for k in range(max(2, int(length // 40))):
            f = f"S1/{sid}_{k:03d}.jpg"
            frames.append({"survey_id": "S1", "file": f, "segment_id": sid, "captured_at": t})
            dets += [{"survey_id": "S1", "file": f, "damage_class": "alligator_crack", "severity": "medium"}] * 6
    fr = pl.DataFrame(frames)
    return R.segment_condition(fr, fr.select("survey_id", "file").with_columns(pl.lit("truth").alias("model_version")),
                               pl.DataFrame(dets), segs)


def _forecast(bins: pl.DataFrame) -> pl.DataFrame:
    """Every bin a third full tomorrow and at the visit after: none due on its own."""
    from transforms import waste as W

    n = bins.height
    return W.conform(bins.select("bin_id", "waste_stream", "quartier", "capacity_l").with_columns(
        pl.lit(date(2026, 11, 2)).alias("plan_date"), pl.lit(datetime(2026, 10, 31, 18, tzinfo=timezone.utc)).alias("as_of"),
        pl.lit(0.2).alias("fill_now"), pl.lit(0.05).alias("rate_per_day"), pl.lit("test").alias("rate_source"),
        pl.lit(0.3).alias("fill_at_collection"), pl.lit(0.3).alias("fill_at_collection_naive"),
        pl.lit(14.0).alias("days_until_full"), pl.lit(date(2026, 11, 5)).alias("next_visit_date"),
        pl.lit(0.35).alias("fill_at_next_visit"), pl.lit("ok").alias("sensor_status"),
        pl.lit("test").alias("model_version")), W.BIN_FILL_FORECAST) if n else None


@pytest.fixture(scope="module")
def template(tiny_city, tmp_path_factory):
    from assets.lake import Lake

    root = tmp_path_factory.mktemp("plan_flow")
    lake = Lake(str(root / "template"))
    build_reference(lake, tiny_city["landing"], tiny_city["city"])
    for name in ("places",):
        ingest(lake, tiny_city["landing"], name)
    from transforms import reference as R

    q = lake.read("silver", "quartiers")
    lake.overwrite("silver", "places", R.places(lake.read("bronze", "places"), q))
    truth = tiny_city["truth_rows"].filter(pl.col("service_code").is_in(VOIRIE))
    lake.overwrite("gold", "road_segment_condition", _condition(lake.read("silver", "street_segments"),
                                                                set(truth["item_aimed_at"].to_list())))
    lake.overwrite("silver", "bin_fill_forecast", _forecast(lake.read("silver", "collection_points")))
    risk = lake.read("silver", "tree_risk")
    rng = np.random.default_rng(3)
    lake.overwrite("silver", "tree_risk", risk.with_columns(
        pl.Series("risk_score", np.round(rng.uniform(5, 60, risk.height), 1)), pl.lit(True).alias("vitality_known"),
        pl.lit("size, target: street").alias("risk_reasons")))
    return root


def _materialise(root, name: str):
    from assets import citizens as C
    from assets import roads as RO
    from assets import trees as TR
    from assets import waste as WA
    from assets.lake import LakeResource

    lake_dir = root / name
    assets = [C.citizen_requests, C.citizen_request_routing, C.citizen_agent_queue, RO.road_repair_plan,
              WA.collection_selection, TR.tree_inspection_plan, TR.tree_inspection_plan_mart]
    res = dg.materialize(assets, resources={"lake": LakeResource(lake_uri=str(lake_dir), landing_uri=str(root / "landing"))},
                         raise_on_error=False)
    assert res.success, [str(e.event_specific_data.error.message)[:800] for e in res.all_events
                         if e.event_type_value == "STEP_FAILURE"]
    return res


def _assert_plans(lake, truth: pl.DataFrame) -> dict:
    """Every open report reached its plan (or the agent queue) with "resident report <id>"."""
    requests = lake.read("silver", "citizen_requests").select("service_request_id", "status")
    routing = lake.read("silver", "citizen_request_routing")
    t = truth.join(requests, on="service_request_id").filter(pl.col("status") == "open")
    plan = lake.read("gold", "road_repair_plan")
    selection = lake.read("silver", "collection_selection")
    inspections = lake.read("gold", "tree_inspection_plan")
    queue = lake.read("gold", "citizen_agent_queue")
    reached = {}
    for rid, code, aimed in t.select("service_request_id", "service_code", "item_aimed_at").iter_rows():
        tag = re.compile(rf"resident report [^;]*\b{rid}\b")
        item = routing.filter(pl.col("service_request_id") == rid)["item_id"][0]
        if not aimed:                                    # nothing to match: queued for an agent, with why
            row = queue.filter(pl.col("service_request_id") == rid)
            assert row.height == 1 and "queued for an agent" in row["reason"][0], (rid, code)
            reached.setdefault("agent queue", []).append(rid)
            continue
        if code in VOIRIE:
            rows = plan.filter(pl.col("segment_id") == item)
            if rows.height:
                assert any(tag.search(r) for r in rows["reasons"].to_list()), (rid, rows["reasons"].to_list())
                assert (rows["report_bonus"] > 0).all() and rows["commune"].is_not_null().all()
                reached.setdefault(code, []).append(rid)
            else:                                        # an ungraded segment (cobbles): an agent goes
                row = queue.filter(pl.col("service_request_id") == rid)
                assert row.height == 1 and "no graded survey" in row["reason"][0], (rid, item)
        elif code in PROPRETE:
            row = selection.filter(pl.col("bin_id") == item)
            assert row.height == 1 and tag.search(row["reason"][0]), (rid, item, row)
            reached.setdefault(code, []).append(rid)
        else:
            row = inspections.filter(pl.col("tree_id") == item)
            assert row.height == 1 and tag.search(row["inspection_reason"][0]), (rid, item)
            assert row["plan_status"][0] == "planned" and row["inspection_priority"][0] >= 100
            reached.setdefault(code, []).append(rid)
    # nothing else selected: every bin is a third full, only reported bins are due
    reported_bins = set(routing.filter(pl.col("item_kind") == "bin")["item_id"].drop_nulls().to_list())
    due = selection.filter(~pl.col("reason").str.starts_with("forecast") & ~pl.col("reason").str.contains("half full"))
    assert set(due["bin_id"].to_list()) <= reported_bins
    return reached


def _check_every_category(reached: dict) -> None:
    for code in (*VOIRIE, *PROPRETE, *TREES, "agent queue"):
        assert reached.get(code), f"no open {code} report reached its plan: {reached}"


def test_landing_zone_reports_reach_each_plan(tiny_city, template):
    from assets.lake import Lake

    root = template
    shutil.copytree(root / "template", root / "files")
    shutil.copytree(tiny_city["landing"], root / "landing", dirs_exist_ok=True)
    lake = Lake(str(root / "files"))
    reps = ingest(lake, root / "landing", "citizen_requests")      # what the landing-zone sensor's runs do
    assert reps and all(r.status == "ingested" for r in reps)
    _materialise(root, "files")
    _check_every_category(_assert_plans(lake, tiny_city["truth_rows"]))


@pytest.mark.services
def test_nats_reports_reach_each_plan(tiny_city, template):
    service_available("127.0.0.1", 4222, "NATS")
    from assets.lake import Lake
    from orchestration.nats import NatsIngestor, publish
    from tests.citizens.test_nats import _delete_stream

    root = template
    shutil.copytree(root / "template", root / "nats")
    (root / "landing").mkdir(exist_ok=True)
    lake = Lake(str(root / "nats"))
    run = uuid.uuid4().hex[:10]
    prefix, stream = f"citizens-flow.{run}", f"CITIZENS_FLOW_{run}"
    try:
        n = publish(tiny_city["versions"], prefix=prefix, stream=stream)
        st = NatsIngestor(lake, subject=f"{prefix}.>", durable=f"flow-{run}", stream=stream, batch=50).run(
            max_seconds=60, idle_exit_s=2, max_messages=n)
    finally:
        _delete_stream(stream)
    assert st.inserted == n and st.quarantined == 0
    assert lake.read("bronze", "citizen_requests")["_delivery"].str.starts_with("nats/").all()
    _materialise(root, "nats")
    _check_every_category(_assert_plans(lake, tiny_city["truth_rows"]))
