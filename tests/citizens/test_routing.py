"""Planted reports of each category flow from the landing zone to their service's item and raise
it in the plan with the reason "resident report <id>"; unmatched ones queue for an agent."""

import polars as pl
import pytest

from tests.citizens.conftest import ingest
from transforms import citizens as T

CATEGORIES = ["pothole", "pavement", "bin_overflow", "fly_tipping", "litter", "tree_danger", "tree_fallen"]


@pytest.fixture(scope="module")
def routed(tiny_city):
    lake, landing = tiny_city["lake"], tiny_city["landing"]
    reps = ingest(lake, landing, "citizen_requests")
    assert reps and all(r.status == "ingested" for r in reps), [(r.delivery, r.status) for r in reps]
    from assets.citizens import communes_of_quartiers

    reqs = T.requests(lake.read("bronze", "citizen_requests"))
    routing = T.route(reqs, lake.read("silver", "street_segments"), lake.read("silver", "collection_points"),
                      lake.read("silver", "tree_risk"), communes_of_quartiers(lake))
    return reqs, routing


def test_every_planted_request_stored_once_and_redacted(tiny_city, routed):
    reqs, _ = routed
    truth = tiny_city["truth_rows"]
    assert sorted(reqs["service_request_id"].to_list()) == sorted(truth["service_request_id"].to_list())
    bronze = tiny_city["lake"].read("bronze", "citizen_requests")
    assert bronze.height == len(tiny_city["versions"])          # every version, once
    text = " ".join(bronze["description"].drop_nulls().to_list())
    for pii in ("06 12 34 56 78", "07.81.22.33.44", "+33 6 98 76 54 32", "Dupont", "Martin"):
        assert pii not in text
    assert "[TELEPHONE]" in text and "[NOM]" in text
    assert (reqs["redactions"] > 0).sum() >= 5


@pytest.mark.parametrize("code", CATEGORIES)
def test_category_routed_to_its_service_and_item(tiny_city, routed, code):
    _, routing = routed
    truth = tiny_city["truth_rows"].filter((pl.col("service_code") == code) & (pl.col("item_aimed_at") != ""))
    r = routing.join(truth.select("service_request_id", "item_aimed_at"), on="service_request_id")
    assert r.height == truth.height > 0
    service, kind = T.ROUTES[code]
    assert (r["service"] == service).all() and (r["item_kind"] == kind).all()
    assert r["matched"].all(), r.filter(~pl.col("matched"))["reason"].to_list()
    if kind != "tree":     # the simulator names segments and bins as the lake does
        assert r["item_id"].to_list() == r["item_aimed_at"].to_list()
    else:                  # a tree is found at the planted position (within the match distance)
        assert (r["distance_m"] <= T.MATCH_M["tree"]).all()
    assert r["commune"].is_not_null().all() and r["quartier"].is_not_null().all()


def test_unmatched_reports_queue_for_an_agent_with_reason(tiny_city, routed):
    _, routing = routed
    planted = tiny_city["truth_rows"].filter(pl.col("item_aimed_at") == "")["service_request_id"].to_list()
    q = routing.filter(~pl.col("matched"))
    assert sorted(q["service_request_id"].to_list()) == sorted(planted)
    assert q["reason"].str.contains(r"no (segment|bin|tree) within \d+ m \(nearest .* at \d+ m\): queued").all()


def _open_ids(routing, kind):
    return routing.filter(pl.col("matched") & (pl.col("status") == "open") & (pl.col("item_kind") == kind))


def test_pothole_raises_the_repair_plan(routed):
    from models.roads.repair import option_value, plan_repairs

    _, routing = routed
    rep = T.open_reports(routing, "segment")
    assert rep.height >= 1
    seg = rep["item_id"][0]
    # two equal candidate segments, room for one: the reported one wins, with its reason
    opts = pl.DataFrame({"segment_id": ["AAA-other", seg], "treatment": ["patching", "patching"],
                         "cost_eur": [1000.0, 1000.0], "pci_gain": [10.0, 10.0], "length_m": [100.0, 100.0],
                         "class_weight": [1.0, 1.0], "safety_critical": [False, False],
                         "reasons": ["grade 3", "grade 3"]})
    boosted = T.boost_repair_options(opts, rep)
    values = [option_value(r["pci_gain"], r["length_m"], r["class_weight"], False) + r["report_bonus"]
              for r in boosted.iter_rows(named=True)]
    res = plan_repairs(boosted["segment_id"].to_list(), boosted["cost_eur"].to_list(), values, 1000.0)
    chosen = boosted[res.chosen]
    assert chosen["segment_id"].to_list() == [seg]
    ids = routing.filter((pl.col("item_id") == seg) & (pl.col("status") == "open"))["service_request_id"].to_list()
    assert all(f"resident report" in chosen["reasons"][0] and i in chosen["reasons"][0] for i in ids)


def test_bin_report_makes_the_bin_due_tomorrow(routed):
    from transforms.waste import select_bins

    _, routing = routed
    rep = T.open_reports(routing, "bin")
    assert rep.height >= 1
    b = rep["item_id"][0]
    fc = pl.DataFrame({"plan_date": ["2026-11-01"] * 2, "bin_id": [b, "OTHER"], "waste_stream": ["om", "om"], "quartier": ["Q", "Q"],
                       "fill_at_collection": [0.2, 0.2], "fill_at_next_visit": [0.3, 0.3],
                       "next_visit_date": ["2026-11-04"] * 2, "sensor_status": ["ok", "ok"]},
                      schema_overrides={"plan_date": pl.Date})
    sel = select_bins(T.mark_reported_bins(fc, rep))
    assert sel["bin_id"].to_list() == [b]
    assert sel["reason"][0].startswith("resident report ") and rep["report_reason"][0] in sel["reason"][0]
    assert select_bins(fc).is_empty()     # without the report, nothing is due


def test_tree_report_enters_the_inspection_candidates(routed, tiny_city):
    from models.trees.pipeline import inspection_candidates

    _, routing = routed
    rep = T.open_reports(routing, "tree")
    assert rep.height >= 1
    risk = tiny_city["lake"].read("silver", "tree_risk").with_columns(pl.lit(True).alias("vitality_known"))
    before = inspection_candidates(risk, 3)
    after = inspection_candidates(T.mark_reported_trees(risk, rep), 3)
    reported = set(rep["item_id"].to_list())
    assert not reported & set(before["tree_id"].to_list()) or len(reported) >= 3
    top = after.head(min(3, len(reported)))
    assert set(top["tree_id"].to_list()) <= reported
    assert top["inspection_reason"].str.starts_with("resident report ").all()


def test_reports_on_ungraded_segments_queue_for_an_agent(routed):
    _, routing = routed
    rep = T.open_reports(routing, "segment")
    graded = rep["item_id"].to_list()[:1]
    q = T.agent_queue(routing, graded)
    ungraded = q.filter(pl.col("matched"))
    assert set(ungraded["item_id"].to_list()) == set(rep["item_id"].to_list()[1:])
    assert ungraded["reason"].str.contains("has no graded survey, so no repair option").all()
    assert q.filter(~pl.col("matched")).height == routing.filter(~pl.col("matched") & (pl.col("status") == "open")).height
