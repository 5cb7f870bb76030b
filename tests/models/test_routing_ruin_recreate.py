"""The compiled whole-plan ruin and recreate (models/routing/ruin_recreate.py, sisr_kernels.py) and
the paths that use it (models/routing/whole_plan.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.routing import VRPProblem, check_routes, routes_distance, solve
from models.routing import ruin_recreate as rr
from models.routing.construction import route_feasible, savings_routes
from models.routing.whole_plan import solve_ruin_recreate, solve_with_ortools
from tests.models.test_routing_large import _problem


def _chain(p: VRPProblem, iterations: int, seed: int, start=None):
    arr = rr.PlainArrays(p, 20, 40)
    start = savings_routes(p) if start is None else start
    local, info = rr.run_chain(arr, arr.to_local(start), iterations, seed)
    return arr.to_problem(local), info, start


def test_chain_is_feasible_better_than_its_start_and_every_stop_once():
    p = _problem(150, 30, 40, seed=1)
    routes, info, start = _chain(p, 20_000, seed=1)
    assert sorted(c for r in routes for c in r) == list(range(1, 151))
    assert all(sum(p.demands[c] for c in r) <= 40 for r in routes) and len(routes) <= 30
    # the chain's own cost is the re-costed one, and well below the savings plan
    assert routes_distance(p, routes) == info["best"] < 0.97 * routes_distance(p, start)
    assert info["iterations"] == 20_000 and not info["timed_out"]


def test_same_seed_same_routes_other_seed_other_search():
    p = _problem(120, 25, 35, seed=2)
    a, ia, _ = _chain(p, 5_000, seed=7)
    b, ib, _ = _chain(p, 5_000, seed=7)
    c, ic, _ = _chain(p, 5_000, seed=8)
    assert a == b and ia["accepted"] == ib["accepted"]
    assert (ia["accepted"], a) != (ic["accepted"], c)


def test_kg_and_litre_capacities_both_bind():
    rng = np.random.default_rng(3)
    # litres bind on some stops, kg on others: a plan within kg alone would break the litres
    vol = [0] + [int(v) for v in rng.integers(1, 12, size=80)]
    p = _problem(80, 30, 30, seed=3, volumes=vol, vehicle_volume_capacities=[25] * 30)
    routes, info, _ = _chain(p, 10_000, seed=1)
    assert all(sum(p.demands[c] for c in r) <= 30 and sum(vol[c] for c in r) <= 25 for r in routes)
    sol = solve_ruin_recreate(p, 60, workers=1, solution_limit=50)
    assert sol.feasible and not check_routes(p, sol.routes)
    assert all(r.volume_loads is None or max(r.volume_loads) <= 25 for r in sol.routes)
    # without the litres the same search packs tighter (fewer or equal routes, shorter)
    q = _problem(80, 30, 30, seed=3)
    assert solve_ruin_recreate(q, 60, workers=1, solution_limit=50).total_distance < sol.total_distance


def test_shift_length_with_service_times_binds():
    # 20 minutes of service per stop, a 200-minute shift: at most about 8 stops a route, while the
    # capacity alone would allow far more
    p = _problem(60, 20, 1_000, seed=10, service_times=[0] + [20] * 60, max_route_duration=200)
    start = savings_routes(p)
    routes, info, _ = _chain(p, 10_000, seed=1, start=start)
    assert info["best"] < routes_distance(p, start)
    assert all(route_feasible(p, r) for r in routes) and max(len(r) for r in routes) <= 9
    sol = solve_ruin_recreate(p, 60, workers=1, solution_limit=50)
    assert sol.feasible and not check_routes(p, sol.routes) and max(r.duration for r in sol.routes) <= 200


def test_fleet_size_is_never_exceeded():
    p = _problem(60, 9, 40, seed=4)  # demand about 300 for 9 x 40: a tight fleet
    start = savings_routes(p)
    assert len(start) <= 9
    routes, _, _ = _chain(p, 5_000, seed=1, start=start)
    assert len(routes) <= 9


def test_bad_start_is_refused():
    p = _problem(20, 4, 30, seed=5)
    arr = rr.PlainArrays(p, 5, 10)
    with pytest.raises(ValueError):
        rr.run_chain(arr, arr.to_local([list(range(1, 20))]), 10, 1)  # stop 20 left out, one route over capacity


def test_supported_only_for_plain_capacitated_problems():
    assert rr.supported(_problem(20, 4, 30, seed=6))
    assert rr.supported(_problem(20, 4, 30, seed=6, max_route_duration=500))
    assert not rr.supported(_problem(20, 4, 30, seed=6, time_windows=[(0, 500)] * 21))
    assert not rr.supported(_problem(20, 4, 30, seed=6, drop_penalties=[None] + [100] * 20))
    assert not rr.supported(_problem(20, 4, 30, seed=6, vehicle_fixed_cost=10))
    assert not rr.supported(_problem(20, 4, 30, seed=6, disposal_nodes=[3]))
    assert solve_ruin_recreate(_problem(20, 4, 30, seed=6, time_windows=[(0, 500)] * 21), 10, workers=1,
                               solution_limit=5) is None


def test_whole_plan_path_is_reproducible_on_two_processes():
    p = _problem(160, 40, 35, seed=7)
    a = solve_ruin_recreate(p, 120, workers=2, solution_limit=40)
    b = solve_ruin_recreate(p, 120, workers=2, solution_limit=40)
    assert a.feasible and [r.nodes for r in a.routes] == [r.nodes for r in b.routes]
    assert [r["config"] for r in a.runs] == ["sisr-seed1", "sisr-seed2"]
    # the kept plan is the better chain's, then descended
    assert a.total_distance <= min(r["best"] for r in a.runs)


def test_safety_net_gives_no_plan():
    p = _problem(200, 45, 35, seed=8)
    sol = solve_ruin_recreate(p, 0.3, workers=1, solution_limit=1_000_000)
    assert not sol.found and sol.status == "SAFETY_NET_TIMEOUT"


def test_small_plain_problem_keeps_the_better_of_ortools_and_the_chain():
    p = _problem(40, 10, 35, seed=9)
    sol = solve(p, time_limit_s=60, solution_limit=100)
    assert sol.feasible and {r["config"] for r in sol.runs} == {"ils-savings-sisr15", "sisr-seed1"}
    assert sol.total_distance == min(r["distance"] for r in sol.runs)
    one = solve_with_ortools(p, 60, workers=1, solution_limit=100)
    assert [r.nodes for r in one.routes] == [r.nodes for r in sol.routes]  # same work, same plan on one core
    # time windows keep the OR-Tools pair
    q = _problem(40, 10, 35, seed=9, time_windows=[(0, 10**6)] * 41)
    assert "sisr-seed1" not in {r["config"] for r in solve(q, time_limit_s=60, solution_limit=100).runs}



def test_parallel_paths_never_rely_on_sigterm(monkeypatch):
    """Pools end with close + join, never Pool.terminate, whose SIGTERM a worker spawned by a
    process that ignores SIGTERM (Dagster maps it to SIGINT's handler, which a shell's background
    job ignores) ignores too: one pytest-xdist worker waited forever in the two chains' pool on 7
    December (a race: the pool's own lock taken before the last worker read its sentinel)."""
    from multiprocessing.pool import Pool

    from models.routing.construction import savings_routes
    from models.routing.ruin_recreate import improve_plan

    calls = []
    real = Pool.terminate
    monkeypatch.setattr(Pool, "terminate", lambda self: (calls.append(self), real(self))[1])
    p = _problem(60, 15, 40, seed=3)
    routes, infos = improve_plan(p, savings_routes(p), 500, workers=2)
    assert len(infos) == 2 and sorted(c for r in routes for c in r) == list(range(1, 61))
    s = solve_with_ortools(p, 60, workers=2, solution_limit=20)
    assert s.feasible
    assert calls == []
