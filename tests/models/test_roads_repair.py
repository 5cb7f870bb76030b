"""The repair plan on the demo city: CP-SAT never exceeds the budget and proves its plan optimal
(or within 1 % of its bound); the crew's days cover every chosen site.

The plan input is built from the simulator's demo ground truth without rendering a frame: the
campaign plan gives the frames per segment, the segments' true condition the expected damage
per frame (class x severity); those become detections and go through the pipeline's own
transforms (segment_condition -> repair_options)."""

import numpy as np
import polars as pl
import pytest

from transforms import roads as T

CELLS_PER_DAMAGE = {"longitudinal_crack": 4, "transverse_crack": 4, "alligator_crack": 6, "pothole": 1, "patch": 8}


@pytest.fixture(scope="module")
def demo_condition():
    return build_demo_condition()


def build_demo_condition():
    """Segment condition of the demo city's ground truth and the depot (also used by
    tests/assets/test_plan_safety.py)."""
    from datetime import datetime, timezone

    from models.simulator.city import build_city
    from models.simulator.common import sub_seed
    from models.simulator.roads import (CAMPAIGNS, DAMAGE_CLASSES, SEVERITIES, _segment_states, damage_mix,
                                        plan_campaign)

    city = build_city("demo", 42)
    rng = np.random.default_rng(sub_seed(city.seed, "roads"))
    states = _segment_states(city, rng)
    bonus = np.array([0.35 if s.road_class in ("primary", "secondary") else 0.0 for s in city.segments])
    frames, dets = [], []
    for ci in range(len(CAMPAIGNS)):
        plan = plan_campaign(city, ci, states, rng, bonus)
        t = datetime(2026, 4 + 6 * ci, 1, 9, tzinfo=timezone.utc)
        per_seg: dict[int, list[str]] = {}
        for f in plan["frames"]:
            per_seg.setdefault(f["seg"], []).append(f["file"])
            frames.append({"survey_id": plan["survey_id"], "file": f["file"], "segment_id": f["segment_id"],
                           "captured_at": t})
        for si, files in per_seg.items():
            seg = city.segments[si]
            if seg.surface == "cobbles":
                continue
            lam, pc, ps = damage_mix(states[si]["conditions"][ci])
            for i, c in enumerate(DAMAGE_CLASSES):
                for j, s in enumerate(SEVERITIES):
                    n = int(round(lam * pc[i] * ps[j] * len(files) * CELLS_PER_DAMAGE[c]))
                    dets += [{"survey_id": plan["survey_id"], "file": files[0], "damage_class": c, "severity": s}] * n
    fr = pl.DataFrame(frames)
    scores = fr.select("survey_id", "file").with_columns(pl.lit("truth").alias("model_version"))
    segs = pl.DataFrame([{"segment_id": s.segment_id, "street_name": s.street_name, "quartier": s.quartier,
                          "road_class": s.road_class, "surface": s.surface, "length_m": s.length_m,
                          "x0": s.x0, "y0": s.y0, "x1": s.x1, "y1": s.y1} for s in city.segments])
    depot = next(p for p in city.places if p.kind == "depot")
    return T.segment_condition(fr, scores, pl.DataFrame(dets), segs), (depot.x, depot.y)


def test_demo_repair_plan_within_budget_and_optimal(demo_condition):
    from models.roads.repair import crew_days, option_value, plan_repairs

    cond, depot = demo_condition
    opts = T.repair_options(cond)
    assert opts["segment_id"].n_unique() > 100            # the demo's latest survey, graded segments
    values = [option_value(r["pci_gain"], r["length_m"], r["class_weight"],
                           bool(r["safety_critical"]) and r["treatment"] != "crack_sealing")
              for r in opts.iter_rows(named=True)]
    full = opts.filter(pl.col("treatment") == "resurfacing")["cost_eur"].sum()
    for share in (0.05, 0.12, 0.3):
        budget = round(share * full / 1000) * 1000
        res = plan_repairs(opts["segment_id"].to_list(), opts["cost_eur"].to_list(), values, budget)
        chosen = opts[res.chosen]
        print(f"budget {budget:,.0f} EUR: {res.status}, gap {res.gap:.4%}, {len(res.chosen)} items, "
              f"cost {chosen['cost_eur'].sum():,.0f} EUR, {res.wall_s:.2f} s")
        assert chosen["cost_eur"].sum() <= budget and res.cost <= budget
        assert res.status == "OPTIMAL" or (res.status == "FEASIBLE" and res.gap <= 0.01)
        assert chosen["segment_id"].is_unique().all()
        assert budget - chosen["cost_eur"].sum() < opts["cost_eur"].max()   # the budget is used
    # safety first: with a budget that can afford it, every safety-critical segment is made safe
    crit = set(opts.filter(pl.col("safety_critical"))["segment_id"])
    if crit:
        fixed = set(chosen.filter(pl.col("treatment") != "crack_sealing")["segment_id"])
        assert crit <= fixed
    # the crew's days: every chosen site visited, each day within the shift
    stops, info = crew_days(chosen.select("x_2154", "y_2154").to_numpy()[:25], chosen["crew_hours"].to_list()[:25],
                            depot)
    assert {s.site for s in stops} == set(range(min(25, chosen.height)))
    assert info["dropped_parts"] == 0 and not info["violations"]
    assert all(s.arrival_min + s.work_min <= 7.5 * 60 for s in stops)
    # reproducible: the same plan again, whatever the clock did (solution limit, not wall time)
    again, info2 = crew_days(chosen.select("x_2154", "y_2154").to_numpy()[:25], chosen["crew_hours"].to_list()[:25],
                             depot)
    assert [(s.day, s.sequence, s.site, s.part) for s in again] == [(s.day, s.sequence, s.site, s.part) for s in stops]
    res2 = plan_repairs(opts["segment_id"].to_list(), opts["cost_eur"].to_list(), values, budget)
    assert res2.chosen == res.chosen


def test_safety_nets_fail_loudly_without_a_plan():
    """A wall-clock net reached before the work bound gives no plan, never a partial one."""
    import numpy as np

    from models.roads.repair import SAFETY_NET_TIMEOUT, crew_days, plan_repairs

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 5000, (60, 2))
    stops, info = crew_days(xy, list(rng.uniform(1, 6, 60)), (2500, 2500), solution_limit=10**9, safety_s=0.5)
    assert stops == [] and not info["found"] and info["status"] == SAFETY_NET_TIMEOUT
    n = 3000
    res = plan_repairs([f"s{i // 3}" for i in range(n)], list(rng.uniform(1e3, 5e4, n)), list(rng.uniform(0, 50, n)),
                       budget=5e6, deterministic_time=1e9, safety_s=0.05)
    assert res.status in (SAFETY_NET_TIMEOUT, "OPTIMAL")
    if res.status == SAFETY_NET_TIMEOUT:
        assert res.chosen == []


def _city_sites(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4000, (n, 2)) + [1_025_000, 6_280_000]
    return xy, list(np.clip(rng.lognormal(0.7, 0.9, n), 0.2, 14)), (1_027_000.0, 6_282_000.0)


def test_first_fit_days_is_a_feasible_packing():
    """The warm start: every part in exactly one day, each day's work + round trips within the shift."""
    from models.roads.repair import first_fit_days

    rng = np.random.default_rng(1)
    work = [int(w) for w in rng.integers(10, 360, 200)]
    trip = [int(t) for t in rng.integers(1, 30, 200)]
    days = first_fit_days(work, trip, 450)
    assert sorted(k for d in days for k in d) == list(range(1, 201))
    assert all(sum(work[k - 1] + 2 * trip[k - 1] for k in d) <= 450 for d in days)
    assert len(days) < 200 and len(days) >= sum(w + 2 * t for w, t in zip(work, trip)) / 450


def test_crew_days_sector_by_sector_on_a_season_of_sites():
    """A season of 240 sites (about 280 parts, several sectors): every part scheduled once, each
    day within the shift, days numbered without gaps, little CPU (0.5 s here; one problem with a
    'vehicle' per part, the previous code, took about 10 s), and the same days again
    (work-bounded, not timed)."""
    import time

    from models.roads.repair import CREW_SECTOR_PARTS, crew_days

    xy, hours, depot = _city_sites(240)
    cpu = time.process_time()
    stops, info = crew_days(xy, hours, depot)
    cpu = time.process_time() - cpu
    assert info["found"] and info["dropped_parts"] == 0 and not info["violations"]
    assert info["sectors"] > 1 and info["parts"] > CREW_SECTOR_PARTS
    seen = [(s.site, s.part) for s in stops]
    assert len(seen) == len(set(seen)) == info["parts"]
    assert {s.site for s in stops} == set(range(240))
    per_day: dict[int, int] = {}
    for s in stops:
        assert s.arrival_min + s.work_min <= 7.5 * 60
        per_day[s.day] = per_day.get(s.day, 0) + s.work_min
    assert sorted(per_day) == list(range(1, info["days"] + 1))
    assert all(w <= 7.5 * 60 for w in per_day.values())
    # fewer days than one per part, and no more than the first-fit packing it starts from
    assert info["days"] < info["parts"]
    print(f"{info['parts']} parts, {info['sectors']} sectors, {info['days']} days, {info['travel_km']} km, CPU {cpu:.1f} s")
    assert cpu < 5
    again, _ = crew_days(xy, hours, depot)
    key = lambda ss: [(s.day, s.sequence, s.site, s.part, s.arrival_min) for s in ss]  # noqa: E731
    assert key(again) == key(stops)


def test_sectors_keep_a_sites_parts_together_and_follow_the_bearing():
    from models.roads.repair import sectors

    depot = (0.0, 0.0)
    xy = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [2, 0.01]], float)
    groups = sectors(xy, [3, 3, 3, 3, 1], depot, max_parts=6)
    assert [i for g in groups for i in g] == [3, 0, 4, 1, 2]       # bearing from -pi: south, east, east, north, west
    assert all(sum([3, 3, 3, 3, 1][i] for i in g) <= 6 for g in groups)
    assert sectors(xy, [9, 1, 1, 1, 1], depot, max_parts=6)[1] == [0]   # a site bigger than a sector: alone
