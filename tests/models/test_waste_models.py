"""Waste models: street-network distances, the forecaster on a synthetic panel, the collection
plan (streams kept apart, windows, disposal, warm start), the month simulation's rules."""

from datetime import date, timedelta

import numpy as np
import pytest

from models.waste import forecast as F
from models.waste import network as N
from models.waste import planning as P


def test_shortest_paths_follow_streets_and_bridge_gaps():
    # an L-shaped street (0,0)-(100,0)-(100,100) and a separate piece far off
    net = N.build_network(["a", "b", "c"], [0, 100, 400], [0, 0, 400], [100, 100, 500], [0, 100, 400], [36, 36, 36])
    D, T, info = N.travel_matrices(net, [0.0, 100.0, 450.0], [0.0, 100.0, 400.0])
    assert D[0, 1] == pytest.approx(200, abs=0.1)       # along the streets, not the 141 m diagonal
    assert info["disconnected_pairs"] == 0 and info["bridge_links"] >= 1
    assert T[0, 1] == pytest.approx(200 / (10 * N.TRUCK_SPEED_FACTOR), rel=1e-3)
    assert np.allclose(D, D.T)


def _panel(B=30, Dn=70, seed=0):
    rng = np.random.default_rng(seed)
    days = [date(2026, 3, 2) + timedelta(i) for i in range(Dn)]
    base = rng.uniform(0.05, 0.3, B)
    weekly = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 1.5, 1.4])
    rate = base[:, None] * weekly[[d.weekday() for d in days]][None, :] * rng.lognormal(0, 0.2, (B, Dn))
    return F.build_panel([f"B{i}" for i in range(B)], days, rate, np.zeros((B, Dn)))


def test_forecaster_beats_seasonal_naive_on_weekly_pattern(tmp_path):
    panel = _panel()
    cfg = F.ForecastConfig(epochs=25, max_seconds=15)
    model, info = F.train(panel, list(range(8, 56)), cfg)
    m = F.evaluate(model, panel, list(range(56, 70)))
    assert info["samples"] > 1000
    assert m["mae_model"] < m["mae_seasonal_naive"] * 0.9, m
    F.save(model, cfg, tmp_path, {"model": "t", "version": "v", "metrics": m})
    again, _ = F.load(tmp_path)
    assert np.allclose(F.predict(again, panel, 60), F.predict(model, panel, 60), equal_nan=True)
    assert (tmp_path / "model_card.md").read_text().startswith("# Model card")


def _line_instance(k=6):
    xs = np.r_[0, 50, np.linspace(200, 1200, k)]
    D = np.abs(xs[:, None] - xs[None, :])
    return D, D / 5.0


def test_plan_keeps_streams_apart_and_respects_windows():
    D, T = _line_instance(6)
    streams = ["verre", "ordures_menageres"] * 3
    stops = [P.Stop(f"B{i}", s, 0, 0, None, kg=100, litres_compacted=100,
                    window_s=(0, 600) if i == 5 else None) for i, s in enumerate(streams)]
    fleet = P.Fleet(["T1"], [1000.0], [10000.0], 4 * 3600)
    plan = P.plan_routes(stops, fleet, D, T, time_limit_s=2, workers=1)
    assert not plan.dropped and not plan.solution.violations
    by_trip = {}
    for r in plan.stops:
        if r["kind"] == "bin":
            by_trip.setdefault((r["trip"], r["waste_stream"]), []).append(r["bin_id"])
            assert r["waste_stream"] == streams[int(r["bin_id"][1:])]
            if r["bin_id"] == "B5":
                assert r["eta_s"] <= 600
    assert len(by_trip) == 2
    trips = sorted(plan.routes, key=lambda r: r["start_s"])
    assert trips[1]["start_s"] >= trips[0]["end_s"]           # one truck: trips one after the other
    for t in {r["trip"] for r in plan.stops}:
        kinds = [r["kind"] for r in plan.stops if r["trip"] == t]
        assert kinds[0] == "depot" and kinds[-2:] == ["disposal", "depot"]
    # warm start from yesterday's order
    prev = [("T1", s, b) for (t, s), b in by_trip.items()]
    plan2 = P.plan_routes(stops, fleet, D, T, time_limit_s=2, previous=prev, workers=1)
    assert plan2.info["warm_start"] and plan2.solution.total_distance <= plan.solution.total_distance


def test_plan_drops_what_cannot_fit_with_a_reason():
    D, T = _line_instance(3)
    stops = [P.Stop(f"B{i}", "verre", 0, 0, None, kg=800, litres_compacted=100) for i in range(3)]
    fleet = P.Fleet(["T1"], [1000.0], [10000.0], int(0.4 * 3600))   # 24 min: one trip of one bin at most
    plan = P.plan_routes(stops, fleet, D, T, time_limit_s=2, workers=1)
    assert plan.dropped and all("drop penalty" in d["reason"] for d in plan.dropped)
    assert len(plan.dropped) + sum(r["bins"] for r in plan.routes) == 3


def test_fixed_round_cost_unloads_between_streams():
    D, T = _line_instance(2)
    c = P.fixed_round_cost([2, 3], ["verre", "emballages"], [10, 10], 1000, D, T)
    # depot->B2, B2->disposal, disposal->B3, B3->disposal, disposal->depot
    assert c["distance_m"] == pytest.approx(D[0, 2] + D[2, 1] + D[1, 3] + D[3, 1] + D[1, 0])


def test_selection_stops_windows_and_loads():
    import polars as pl

    sel = pl.DataFrame({"bin_id": ["A", "B", "C"], "waste_stream": ["verre", "emballages", "verre"],
                        "fill_at_collection": [0.9, 2.0, None], "overflow_risk": [0.0, 0.5, None]})
    bins = pl.DataFrame({"bin_id": ["A", "B", "C"], "segment_id": ["s1", "s2", "s2"], "x_2154": [0.0, 1000, 5000],
                         "y_2154": [0.0, 0, 0], "capacity_l": [3000, 1000, 1000]})
    segs = pl.DataFrame({"segment_id": ["s1", "s2"], "street_name": ["Boulevard de la Croisette", "Rue d'Antibes"]})
    places = pl.DataFrame({"kind": ["market"], "x_2154": [1100.0], "y_2154": [0.0],
                           "attributes": ['{"market_days": "Tue"}']})
    tue = date(2026, 6, 2)
    st = {s.bin_id: s for s in P.selection_stops(sel, bins, segs, places, tue, P.DENSITY_KG_L)}
    assert st["A"].window_s == P.CROISETTE_WINDOW_S and "Croisette" in st["A"].window_reason
    assert st["B"].window_s == P.MARKET_WINDOW_S and st["B"].overflow_risk == 0.5
    assert st["C"].window_s is None and st["C"].overflow_risk == 0.0
    assert st["A"].kg == pytest.approx(0.9 * 3000 * P.DENSITY_KG_L["verre"])
    assert st["B"].litres_compacted == pytest.approx(1.5 * 1000 / P.COMPACTION["emballages"])   # capped at 1.5
    wed = P.selection_stops(sel, bins, segs, places, tue + timedelta(1), P.DENSITY_KG_L)
    assert [s.window_s for s in wed][1] is None                     # no market on Wednesday


def test_month_world_observations_and_platform_chain():
    """The month simulation observes the world the way the platform does (rates from the
    readings match the true filling) and runs the platform's chain with the GRU."""
    from models.simulator.city import build_city
    from models.simulator import waste_month as M
    from transforms import waste as T

    city = build_city("tiny", 3)
    r = M.simulate_month(city, n_days=3, start=date(2026, 6, 1), seed=3, vrp_seconds=0.3,
                         policies=("fixed", "platform_gru"), train_seconds=2, epochs=3)
    f, g = r["fixed"], r["platform_gru"]
    assert f["bins_emptied"] > 0 and g["bins_emptied"] > 0 and g["km"] > 0
    assert g["trainings"] == 1 and g["mae_rate"] is not None and g["mae_rate"] < 0.2
    # observation: daily rates from the simulated readings ~ the true daily increments
    rng = np.random.default_rng(0)
    days = [date(2026, 6, 1) + timedelta(i) for i in range(6)]
    inc = M.latent_increments(city, days, rng)
    n = inc.shape[0]
    w = M.World(city, days, inc, np.ones(n, bool), rng.uniform(0, 4, n), np.zeros(n), 0)
    for di in range(len(days)):
        w.play_day(di, {})
    readings, events = w.observed(24 * len(days))
    assert events.is_empty() and readings["filling_level"].is_between(0, 1).all()
    rates = T.daily_fill_rates(readings).filter(pl_day_in(days[1:-1]))
    true = inc.reshape(n, len(days), 24).sum(axis=2)
    idx = {b.bin_id: i for i, b in enumerate(city.bins)}
    err = [abs(r_ - true[idx[b], (d - days[0]).days]) for b, d, r_ in
           rates.select("bin_id", "day", "rate_per_day").iter_rows()]
    assert len(err) > n and np.median(err) < 0.05


def pl_day_in(days):
    import polars as pl

    return pl.col("day").is_in(days)


def test_plan_bounded_by_solutions_is_reproducible_and_its_safety_net_fails_loudly():
    """With a solution limit the plan is the same on every run (it does not depend on how fast
    the machine is); a wall-clock net reached first gives no plan, never a partial one."""
    from models.routing.vrp import SAFETY_NET_TIMEOUT

    rng = np.random.default_rng(5)
    n = 14
    xs = np.r_[0, 50, rng.uniform(100, 3000, n)]
    ys = np.r_[0, 0, rng.uniform(-1500, 1500, n)]
    D = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :])
    T = D / 5.0
    stops = [P.Stop(f"B{i}", "verre" if i % 3 else "ordures_menageres", 0, 0, None, kg=150, litres_compacted=500)
             for i in range(n)]
    fleet = P.Fleet(["T1", "T2"], [1000.0, 1000.0], [10000.0, 10000.0], 6 * 3600)
    a = P.plan_routes(stops, fleet, D, T, time_limit_s=60, workers=1, solution_limit=60)
    b = P.plan_routes(stops, fleet, D, T, time_limit_s=60, workers=1, solution_limit=60)
    assert a.solution.found and a.stops == b.stops and a.solution.objective == b.solution.objective
    c = P.plan_routes(stops, fleet, D, T, time_limit_s=0.001, workers=1, solution_limit=10**9)
    assert c.solution.status == SAFETY_NET_TIMEOUT and not c.solution.found
