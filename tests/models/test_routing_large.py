"""Large-problem path of the routing library: savings construction, sectors, sub-problems and the
sector-by-sector search (deterministic with a solution limit)."""

from __future__ import annotations

import numpy as np
import pytest

from models.routing import VRPProblem, check_routes, routes_distance, solve
from models.routing import decompose
from models.routing import vrp as vrp_module
from models.routing.construction import route_feasible, savings_routes
from models.routing.decompose import decomposable, sectors, solve_large, subproblem


def _problem(n: int, vehicles: int, capacity: int, seed: int, **kw) -> VRPProblem:
    rng = np.random.default_rng(seed)
    xy = np.vstack([[50, 50], rng.uniform(0, 100, size=(n, 2))])
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    dem = [0] + [int(v) for v in rng.integers(1, 10, size=n)]
    return VRPProblem(distance=d, vehicle_capacities=[capacity] * vehicles, demands=dem, coords=xy,
                      name=f"rand{n}", **kw)


def test_savings_routes_serve_everyone_within_capacity():
    p = _problem(120, 20, 40, seed=1)
    routes = savings_routes(p)
    assert sorted(n for r in routes for n in r) == list(range(1, 121))
    assert all(sum(p.demands[i] for i in r) <= 40 for r in routes)
    assert all(route_feasible(p, r) for r in routes)
    # merging only ever saves distance: far below one route per customer
    alone = sum(2 * int(p.distance[0, i]) for i in range(1, 121))
    assert routes_distance(p, routes) < 0.6 * alone
    assert len(routes) <= 20


def test_route_feasible_checks_shift_length():
    p = _problem(10, 3, 100, seed=2, service_times=[0] + [30] * 10, max_route_duration=200)
    assert route_feasible(p, [1])
    assert not route_feasible(p, list(range(1, 11)))  # ten services of 30 alone exceed 200
    routes = savings_routes(p)
    assert all(route_feasible(p, r) for r in routes)


def test_sectors_partition_routes_and_respect_size():
    p = _problem(150, 30, 30, seed=3)
    routes = savings_routes(p)
    for offset in (0.0, 1.0, 4.0):
        groups = sectors(p, routes, 40, offset)
        flat = sorted(k for g in groups for k in g)
        assert flat == list(range(len(routes)))
        assert all(sum(len(routes[k]) for k in g) >= 20 for g in groups)


def test_subproblem_keeps_data_of_the_chosen_nodes():
    p = _problem(30, 6, 25, seed=4, service_times=[0] + list(range(1, 31)))
    sub = subproblem(p, [25, 25], [7, 3, 12])
    assert sub.num_nodes == 4 and sub.num_vehicles == 2
    assert sub.demands == [0, p.demands[7], p.demands[3], p.demands[12]]
    assert sub.service_times == [0, 7, 3, 12]
    assert sub.distance[1, 2] == p.distance[7, 3] and sub.distance[0, 3] == p.distance[0, 12]


def test_decomposable_only_for_plain_problems():
    assert decomposable(_problem(20, 4, 30, seed=5))
    assert not decomposable(_problem(20, 4, 30, seed=5, disposal_nodes=[3]))
    p = _problem(20, 4, 30, seed=5)
    p.vehicle_capacities = [30, 30, 30, 40]
    assert not decomposable(p)


def _loose_windows(n: int) -> dict:
    """Time windows no route reaches: they keep a problem on the sector path (the compiled ruin and
    recreate takes no time windows)."""
    return {"time_windows": [(0, 10**6)] * (n + 1)}


@pytest.mark.parametrize("extra, path", [({}, "savings+sisr"), (_loose_windows(160), "savings+sectors")])
def test_solve_large_is_feasible_better_than_savings_and_reproducible(extra, path):
    p = _problem(160, 40, 35, seed=6, **extra)
    start = routes_distance(p, savings_routes(p))
    a = solve_large(p, time_limit_s=120, workers=1, solution_limit=40, sector_size=50)
    b = solve_large(p, time_limit_s=120, workers=1, solution_limit=40, sector_size=50)
    assert a.feasible and not check_routes(p, a.routes), a.violations
    assert a.config["name"] == path
    assert a.total_distance < start
    assert [r.nodes for r in a.routes] == [r.nodes for r in b.routes]
    assert any("savings construction" in n for n in a.notes)


def test_solve_dispatches_large_plain_problems(monkeypatch):
    monkeypatch.setattr(vrp_module, "LARGE_MIN_STOPS", 50)
    monkeypatch.setattr(decompose, "SECTOR_SIZE", 20)
    p = _problem(60, 15, 35, seed=7, **_loose_windows(60))
    sol = solve(p, time_limit_s=60, workers=1, solution_limit=20)
    assert sol.feasible and sol.config.get("name") == "savings+sectors"
    # without a time dimension: the compiled ruin and recreate
    sol = solve(_problem(60, 15, 35, seed=7), time_limit_s=60, workers=1, solution_limit=20)
    assert sol.feasible and sol.config.get("name") == "savings+sisr"
    # reload trips are never decomposed
    q = _problem(60, 15, 35, seed=7, disposal_nodes=[1])
    assert not decomposable(q)


@pytest.mark.parametrize("share", [0.0])
def test_safety_net_gives_no_plan(share):
    p = _problem(160, 40, 35, seed=8)
    sol = solve_large(p, time_limit_s=0.5, workers=1, solution_limit=10_000, sector_size=50)
    assert not sol.found and sol.status == "SAFETY_NET_TIMEOUT"


def test_few_long_routes_fall_back_to_the_whole_plan_search():
    p = _problem(60, 3, 10_000, seed=9, **_loose_windows(60))  # one truck holds everything: one route
    sol = solve_large(p, time_limit_s=60, workers=1, solution_limit=30, sector_size=50)
    assert sol.feasible and any("one sector only" in n for n in sol.notes)


def test_unreachable_stop_or_optional_stops_use_the_whole_plan_search():
    p = _problem(60, 15, 35, seed=10, time_windows=[(0, 1000)] + [(0, 1000)] * 59 + [(0, 1)])
    sol = solve_large(p, time_limit_s=60, workers=1, solution_limit=30, sector_size=20, always_return_plan=True)
    assert any("whole-plan search" in n for n in sol.notes) and sol.dropped == [60]
    assert not decomposable(_problem(20, 4, 30, seed=5, drop_penalties=[None] + [100] * 20))
