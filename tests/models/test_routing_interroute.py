"""Route-pair descent (models/routing/interroute.py): relocate, swap, 2-opt*, 2-opt and SWAP* on
the whole plan keep every stop once, every route feasible, and never lengthen the plan."""

from __future__ import annotations

import numpy as np

from models.routing import VRPProblem, routes_distance
from models.routing.construction import route_feasible, savings_routes
from models.routing.interroute import improve_routes


def _problem(n: int, vehicles: int, capacity: int, seed: int, asymmetric: bool = False, **kw) -> VRPProblem:
    rng = np.random.default_rng(seed)
    xy = np.vstack([[50, 50], rng.uniform(0, 100, size=(n, 2))])
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    if asymmetric:  # one-way streets: some arcs longer one way
        d = d + np.triu(rng.integers(0, 15, size=d.shape), 1)
    dem = [0] + [int(v) for v in rng.integers(1, 10, size=n)]
    return VRPProblem(distance=d, vehicle_capacities=[capacity] * vehicles, demands=dem, coords=xy,
                      name=f"rand{n}", **kw)


def _check(p: VRPProblem, before: list[list[int]], after: list[list[int]], info: dict) -> None:
    assert sorted(c for r in after for c in r) == p.customers()
    assert all(route_feasible(p, r) for r in after)
    assert routes_distance(p, after) == info["after"] <= info["before"] == routes_distance(p, before)
    assert info["mismatches"] == 0  # every predicted gain matched the recomputed one


def test_descent_improves_a_sweep_plan_and_is_deterministic():
    p = _problem(150, 30, 40, seed=11)
    # a poor start: stops cut into routes by index order (far apart), capacity respected
    start, cur, load = [], [], 0
    for c in p.customers():
        if load + p.demands[c] > 40:
            start.append(cur)
            cur, load = [], 0
        cur.append(c)
        load += p.demands[c]
    start.append(cur)
    a, info = improve_routes(p, start, coords=p.coords)
    b, _ = improve_routes(p, start, coords=p.coords)
    _check(p, start, a, info)
    assert info["after"] < 0.6 * info["before"] and info["swap_star"] > 0
    assert a == b


def test_descent_on_savings_keeps_kg_and_litre_capacities():
    rng = np.random.default_rng(12)
    p = _problem(120, 30, 40, seed=12, volumes=[0] + [int(v) for v in rng.integers(1, 20, size=120)],
                 vehicle_volume_capacities=[60] * 30)
    start = savings_routes(p)
    out, info = improve_routes(p, start, coords=p.coords)
    _check(p, start, out, info)
    assert all(sum(p.volumes[c] for c in r) <= 60 for r in out)


def test_descent_respects_time_windows_shift_and_asymmetric_matrices():
    n = 100
    rng = np.random.default_rng(13)
    opens = rng.integers(0, 300, size=n)
    tws = [(0, 1000)] + [(int(o), int(o) + 200) for o in opens]
    p = _problem(n, 30, 50, seed=13, asymmetric=True, time_windows=tws, service_times=[0] + [5] * n,
                 max_route_duration=600)
    start = savings_routes(p)
    assert all(route_feasible(p, r) for r in start)
    out, info = improve_routes(p, start)  # no coordinates: no SWAP*, the node moves only
    _check(p, start, out, info)
    assert info["swap_star"] == 0


def test_full_sectors_are_kept_as_they_are():
    from models.routing.decompose import _full

    p = _problem(4, 3, 10, seed=14)
    p.demands = [0, 5, 5, 5, 5]
    assert _full(p, [1, 2, 3, 4], 2)  # 20 kg in two 10 kg trucks: nothing to re-pack
    assert not _full(p, [1, 2, 3, 4], 3)
    q = _problem(4, 3, 100, seed=14, volumes=[0, 50, 50, 50, 50], vehicle_volume_capacities=[100] * 3)
    assert _full(q, [1, 2, 3, 4], 2) and not _full(q, [1, 2], 2)  # litres full, kg not
