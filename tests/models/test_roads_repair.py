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
