from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from transforms import admin, direction, roads, waste
from transforms.cleaning import latest_per_key
from transforms.geo import assign_quartier, wgs84_to_l93

UTC = timezone.utc


def _segments():
    return pl.DataFrame({"segment_id": ["S1", "S2"], "street_name": ["Rue A", "Rue B"], "quartier": ["Q", "Q"],
                         "length_m": [100.0, 100.0], "x0": [0.0, 0.0], "y0": [0.0, 50.0],
                         "x1": [100.0, 100.0], "y1": [0.0, 50.0]})


def test_match_to_segments_nearest_within_limit():
    x = np.array([10.0, 50.0, 50.0, 50.0])
    y = np.array([3.0, 47.0, 25.5, 300.0])
    ids, dist, pos = roads.match_to_segments(x, y, _segments(), max_distance_m=20)
    assert ids == ["S1", "S2", None, None]  # 25 m from both: beyond the 20 m limit
    assert dist[0] == pytest.approx(3.0) and pos[1] == pytest.approx(0.5)


def test_survey_coverage_counts_km_and_unmatched_frames():
    frames = pl.DataFrame({"survey_id": ["A", "A", "A"], "segment_id": ["S1", "S1", None]})
    out = roads.survey_coverage_by_street(frames, _segments())
    a = out.filter(pl.col("street_name") == "Rue A").row(0, named=True)
    b = out.filter(pl.col("street_name") == "Rue B").row(0, named=True)
    assert (a["frames"], a["km_surveyed"], a["coverage_pct"]) == (2, 0.1, 100.0)
    assert (b["frames"], b["km_surveyed"], b["coverage_pct"]) == (0, 0.0, 0.0)
    unmatched = out.filter(pl.col("street_name").is_null()).row(0, named=True)
    assert unmatched["frames"] == 1


def test_latest_per_key_keeps_last_ingested():
    df = pl.DataFrame({"k": ["a", "a", "b"], "v": [1, 2, 3],
                       "_ingested_at": [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
                                        datetime(2026, 1, 1, tzinfo=UTC)]})
    assert sorted(latest_per_key(df, ["k"]).select("k", "v").rows()) == [("a", 2), ("b", 3)]


def test_tonnage_daily_and_local_dates():
    bins = pl.DataFrame({"bin_id": ["B1", "B2"], "waste_stream": ["verre", "verre"], "quartier": ["Q", "Q"],
                         "capacity_l": [3000, 3000]})
    bronze = pl.DataFrame({
        "truck_id": ["T", "T", "T"], "round_id": ["R", "R", "R"], "bin_id": ["B1", "B2", "B1"],
        # 23:30 UTC on the 11th is 01:30 on the 12th in Paris
        "collected_at": [datetime(2026, 10, 11, 23, 30, tzinfo=UTC), datetime(2026, 10, 12, 5, 0, tzinfo=UTC),
                         datetime(2026, 10, 11, 23, 30, tzinfo=UTC)],
        "net_weight_kg": [500.0, 300.0, 500.0], "fill_level_at_pickup": [0.5, 0.7, 0.5],
        "contamination": [False, True, False], "_source_file": ["f"] * 3,
        "_ingested_at": [datetime(2026, 10, 12, tzinfo=UTC)] * 3, "_delivery": ["d1", "d1", "d2"]})
    ev = waste.collection_events(bronze, bins)
    assert ev.height == 2  # the same pickup delivered twice is kept once
    assert ev["collection_date"].to_list() == [date(2026, 10, 12)] * 2
    t = waste.tonnage_daily(ev).row(0, named=True)
    assert (t["pickups"], t["tonnes"], t["contamination_rate_pct"]) == (2, 0.8, 50.0)
    assert t["mean_fill_at_pickup"] == pytest.approx(0.6)


def test_dsp_revenue_change_and_margin():
    lines = pl.DataFrame({"contract_id": ["C"] * 3, "year": [2025] * 3, "section": ["pnl"] * 3,
                          "code": ["TOTAL_REVENUE", "EBITDA", "NET_RESULT"], "value": [800.0, 80.0, 20.0],
                          "previous_value": [1000.0, 100.0, 30.0]})
    contracts = pl.DataFrame({"contract_id": ["C"], "name": ["Parkings"], "delegate": ["X"], "service": ["parking"]})
    r = admin.dsp_revenue(lines, contracts).row(0, named=True)
    assert (r["revenue_eur"], r["previous_revenue_eur"], r["revenue_change_pct"], r["ebitda_margin_pct"]) == \
        (800.0, 1000.0, -20.0, 10.0)


def test_assign_quartier_point_in_polygon():
    q = pl.DataFrame({"name": ["Sq"], "wkt_2154": ["POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"]})
    assert assign_quartier([5, 15], [5, 5], q) == ["Sq", None]


def test_wgs84_to_lambert93_known_point():
    x, y = wgs84_to_l93([3.0], [46.5])  # the Lambert-93 false origin
    assert x[0] == pytest.approx(700000, abs=0.01) and y[0] == pytest.approx(6600000, abs=0.01)


def test_city_daily_kpis_joins_services_by_local_date():
    d = date(2026, 10, 12)
    frames = pl.DataFrame({"captured_at": [datetime(2026, 10, 12, 6, tzinfo=UTC)] * 2, "segment_id": ["S1", "S1"]})
    events = pl.DataFrame({"collection_date": [d], "net_weight_kg": [1500.0], "fill_level_at_pickup": [0.8],
                           "contamination": [False]})
    readings = pl.DataFrame({"observed_date": [d, d], "filling_level": [0.95, 0.2]})
    litter = pl.DataFrame({"detected_date": [date(2026, 10, 13)], "count": [4]})
    out = direction.city_daily_kpis(frames, _segments(), events, readings, litter)
    r = out.filter(pl.col("date") == d).row(0, named=True)
    assert (r["frames_surveyed"], r["km_surveyed"], r["pickups"], r["tonnes_collected"], r["near_full_alerts"]) == \
        (2, 0.1, 1, 1.5, 1)
    assert out.filter(pl.col("date") == date(2026, 10, 13))["litter_items"].to_list() == [4]
