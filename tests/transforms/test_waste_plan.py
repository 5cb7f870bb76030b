"""Waste transforms: fill rates from readings, forecast assembly, selection with reasons,
Clean City Index, priority zones, sorting quality."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from transforms import waste as T

UTC = timezone.utc


def _readings(levels, start=datetime(2026, 10, 1, 0, 0, tzinfo=UTC), step_h=4, bin_id="B1"):
    ts = [start + timedelta(hours=step_h * i) for i in range(len(levels))]
    return pl.DataFrame({"bin_id": [bin_id] * len(levels), "observed_at": ts,
                         "observed_date": [t.date() for t in ts], "filling_level": levels,
                         "status": ["ok"] * len(levels)}, schema_overrides={"observed_at": pl.Datetime("us", "UTC")})


def test_daily_fill_rates_skip_emptying_and_full_bins():
    # +0.05 every 4 h (0.30/day), emptied after the 6th reading, then clipped at 1 later
    lv = [0.05 * i for i in range(6)] + [0.02, 0.07, 0.12, 0.17, 0.22, 0.27]
    r = T.daily_fill_rates(_readings(lv))
    assert r.height == 2
    assert r["rate_per_day"].to_list() == pytest.approx([0.30, 0.30], abs=1e-9)
    full = T.daily_fill_rates(_readings([0.98, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    assert full.is_empty()   # a clipped full bin tells nothing about its rate


def _forecast(**over):
    base = {"plan_date": date(2026, 11, 2), "bin_id": "B1", "waste_stream": "verre", "quartier": "Q",
            "capacity_l": 3000, "as_of": datetime(2026, 10, 31, 22, tzinfo=UTC), "fill_now": 0.5,
            "rate_per_day": 0.1, "rate_source": "model", "fill_at_collection": 0.6, "fill_at_collection_naive": 0.6,
            "days_until_full": 5.0, "next_visit_date": date(2026, 11, 3), "fill_at_next_visit": 0.7,
            "sensor_status": "ok", "model_version": "v"}
    base.update(over)
    return base


def test_select_bins_reasons_and_opportunistic():
    fc = pl.DataFrame([_forecast(bin_id="A", fill_at_collection=0.9, fill_at_next_visit=0.95),
                       _forecast(bin_id="B", fill_at_collection=0.7, fill_at_next_visit=1.1),
                       _forecast(bin_id="C", sensor_status="burning"),
                       _forecast(bin_id="D", fill_at_collection=0.55, fill_at_next_visit=0.6),  # near A: opportunistic
                       _forecast(bin_id="E", fill_at_collection=0.55, fill_at_next_visit=0.6),  # far: not taken
                       _forecast(bin_id="F", fill_at_collection=0.3, fill_at_next_visit=0.4),
                       _forecast(bin_id="G", fill_at_collection=0.6, fill_at_next_visit=0.75)],  # batched
                      schema=T.BIN_FILL_FORECAST)
    pos = pl.DataFrame({"bin_id": list("ABCDEFG"), "x_2154": [0.0, 5000, 9000, 100, 3000, 50, 7000],
                        "y_2154": [0.0] * 7})
    sel = T.select_bins(fc, 0.85, positions=pos)
    why = dict(sel.select("bin_id", "reason").iter_rows())
    assert set(why) == {"A", "B", "C", "D", "G"}
    assert why["A"].startswith("forecast fill 0.9 >= 0.85")
    assert "overflow before the next possible visit on 2026-11-03" in why["B"]
    assert why["C"] == "sensor reports burning"
    assert why["D"].startswith("opportunistic")
    assert why["G"].startswith("batched")
    assert sel.filter(pl.col("bin_id") == "B")["overflow_risk"][0] == pytest.approx(0.1)


def test_select_bins_defers_a_stream_with_nothing_due():
    """A stream's trip runs only when one of its bins cannot wait: a verre bin at 0.9 with 0.95
    expected at tomorrow's visit waits (no verre trip), while the same bin goes when another
    verre bin would overflow; the old rule (batch_fill=None) takes it either way."""
    wait = [_forecast(bin_id="A", fill_at_collection=0.9, fill_at_next_visit=0.95),
            _forecast(bin_id="B", fill_at_collection=0.5, fill_at_next_visit=0.6)]
    fc = pl.DataFrame(wait, schema=T.BIN_FILL_FORECAST)
    assert T.select_bins(fc, 0.85).height == 0
    assert T.select_bins(fc, 0.85, batch_fill=None)["bin_id"].to_list() == ["A"]
    due = pl.DataFrame(wait + [_forecast(bin_id="C", fill_at_next_visit=1.05),
                               _forecast(bin_id="D", waste_stream="emballages", fill_at_collection=0.9,
                                         fill_at_next_visit=0.95)], schema=T.BIN_FILL_FORECAST)
    assert T.select_bins(due, 0.85)["bin_id"].to_list() == ["A", "C"]


def test_assemble_forecast_uses_pickup_after_last_reading():
    bins = pl.DataFrame({"bin_id": ["S", "N"], "waste_stream": ["verre", "verre"], "quartier": ["Q", "Q"],
                         "capacity_l": [3000, 3000]})
    as_of = datetime(2026, 10, 31, 22, tzinfo=UTC)
    states = pl.DataFrame({"bin_id": ["S", "N"], "last_reading_at": [as_of - timedelta(hours=4), None],
                           "last_level": [0.9, None], "last_status": ["ok", None],
                           "last_pickup_at": [as_of - timedelta(hours=2), as_of - timedelta(days=2)]},
                          schema_overrides={"last_reading_at": pl.Datetime("us", "UTC"),
                                            "last_pickup_at": pl.Datetime("us", "UTC")})
    rates = pl.DataFrame({"bin_id": ["S", "N"], "rate_model": [0.24, None], "rate_naive": [0.2, None],
                          "crew_rate_per_day": [None, 0.12]})
    fc = T.assemble_forecast(bins, states, rates, as_of=as_of, plan_date=date(2026, 11, 2),
                             next_visit_date=date(2026, 11, 3), collection_hour=8.0, model_version="v1")
    s = fc.filter(pl.col("bin_id") == "S").row(0, named=True)
    n = fc.filter(pl.col("bin_id") == "N").row(0, named=True)
    assert s["fill_now"] == pytest.approx(0.24 * 2 / 24, abs=1e-3)     # emptied after the reading
    assert s["rate_source"] == "model" and s["model_version"] == "v1"
    assert n["rate_source"] == "crew_estimates" and n["model_version"] is None
    assert n["fill_now"] == pytest.approx(0.24, abs=1e-3)
    # 2026-10-31 22:00 UTC -> 2026-11-02 08:00 Paris (07:00 UTC) = 1.375 days
    assert s["fill_at_collection"] == pytest.approx(s["fill_now"] + 0.24 * 1.375, abs=1e-3)
    assert s["fill_at_next_visit"] > s["fill_at_collection"]
    assert n["days_until_full"] == pytest.approx((1 - 0.24) / 0.12, abs=1e-2)


def _segments():
    return pl.DataFrame({"segment_id": ["S1", "S2", "S3"], "street_name": ["A", "A", "B"], "quartier": ["Q"] * 3,
                         "length_m": [100.0, 100.0, 100.0], "x0": [0.0, 100.0, 5000.0], "y0": [0.0] * 3,
                         "x1": [100.0, 200.0, 5100.0], "y1": [0.0] * 3})


def test_cleanliness_index_and_zones():
    d = date(2026, 10, 30)
    rows = []
    for k in range(20):   # S1: 20 cans on one pass -> weighted 20/100 m
        rows.append(("S1", 50.0, "can", 1))
    for k in range(20):   # S2: dirty as well, linked to S1
        rows.append(("S2", 150.0, "bottle", 1))
    rows.append(("S3", 5050.0, "cigarette_butt", 1))
    det = pl.DataFrame({"detection_id": [f"D{i}" for i in range(len(rows))], "x_2154": [r[1] for r in rows],
                        "y_2154": [1.0] * len(rows), "category": [r[2] for r in rows], "count": [r[3] for r in rows],
                        "confidence": [0.9] * len(rows), "detected_date": [d] * len(rows)})
    cci = T.cleanliness_index(det, _segments())
    v = dict(cci.select("segment_id", "clean_city_index").iter_rows())
    assert v["S1"] == pytest.approx(5 * np.exp(-20 / T.CCI_SCALE), abs=0.01)
    assert v["S2"] < v["S1"] < v["S3"] <= 5
    z = T.priority_zones(cci, _segments())
    assert z.height == 1 and z["segment_ids"][0] == "S1,S2" and z["zone_id"][0] == "PZ-001"


def test_cleanliness_index_ignores_litter_far_from_every_street():
    """A detection beyond reach of every segment is left out (it crashed the mart once: -1 cast unsigned)."""
    d = date(2026, 10, 30)
    det = pl.DataFrame({"detection_id": ["D1", "D2"], "x_2154": [50.0, 90_000.0], "y_2154": [1.0, 90_000.0],
                        "category": ["can", "can"], "count": [1, 1], "confidence": [0.9, 0.9],
                        "detected_date": [d, d]})
    cci = T.cleanliness_index(det, _segments())
    assert cci.filter(pl.col("segment_id") == "S1")["clean_city_index"][0] < 5
    assert cci.filter(pl.col("segment_id") == "S3").height in (0, 1)


def test_sorting_quality_trend():
    days = [date(2026, 10, 1) + timedelta(i) for i in range(10)]
    ev = pl.DataFrame({"quartier": ["Q"] * 10, "waste_stream": ["emballages"] * 10, "collection_date": days,
                       "contamination": [False] * 5 + [True] * 5})
    sq = T.sorting_quality(ev)
    r = sq.filter(pl.col("waste_stream") == "emballages").row(0, named=True)
    assert r["contamination_rate_pct"] == 50.0 and r["trend_pct_points"] == 100.0
    assert sq.filter(pl.col("waste_stream") == "all").height == 1


def test_forecast_bins_joins_model_and_crew_rates():
    as_of = datetime(2026, 10, 31, 21, tzinfo=UTC)
    bins = pl.DataFrame({"bin_id": ["S", "N"], "waste_stream": ["verre", "verre"], "quartier": ["Q", "Q"],
                         "capacity_l": [3000, 3000]})
    readings = _readings([0.5, 0.6], start=as_of - timedelta(hours=4), bin_id="S")
    ev = pl.DataFrame({"bin_id": ["N", "N"], "collected_at": [as_of - timedelta(days=8), as_of - timedelta(days=4)],
                       "fill_level_at_pickup": [0.5, 0.8]},
                      schema_overrides={"collected_at": pl.Datetime("us", "UTC")})
    rf = pl.DataFrame({"bin_id": ["S"], "rate_model": [0.2], "rate_naive": [0.1]})
    fc = T.forecast_bins(bins, readings, ev, rf, as_of=as_of, plan_date=date(2026, 11, 2),
                         next_visit_date=date(2026, 11, 3), collection_hour=8.0, model_version="v1")
    row = {r["bin_id"]: r for r in fc.iter_rows(named=True)}
    assert row["S"]["rate_source"] == "model" and row["S"]["model_version"] == "v1"
    assert row["S"]["fill_now"] == pytest.approx(0.6)
    assert row["N"]["rate_source"] == "crew_estimates" and row["N"]["rate_per_day"] == pytest.approx(0.2)
    assert row["N"]["fill_now"] == pytest.approx(0.2 * 4)
