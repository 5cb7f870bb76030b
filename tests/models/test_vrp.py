"""Tests for models.routing: benchmark readers, the OR-Tools model and the search.

All solves use tiny time limits (<= 3 s) and mostly run in-process (``workers=1``).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from models.routing import (
    DEFAULT_CONFIGS,
    SearchConfig,
    VRPProblem,
    check_routes,
    default_configs,
    problem_from_instance,
    read_instance,
    read_solution,
    solution_cost,
    solve,
    solve_single,
)

VRP_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "vrp"
needs_shared = pytest.mark.skipif(not VRP_DIR.is_dir(), reason=f"{VRP_DIR} absent")


def _euclid(xy: np.ndarray) -> np.ndarray:
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    return np.floor(d + 0.5).astype(np.int64)


def _random_problem(n_customers: int = 15, n_vehicles: int = 4, capacity: int = 30, seed: int = 1, **kw) -> VRPProblem:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 100, size=(n_customers + 1, 2)).astype(float)
    demands = [0] + rng.integers(1, 10, size=n_customers).tolist()
    return VRPProblem(distance=_euclid(xy), vehicle_capacities=[capacity] * n_vehicles, demands=demands, **kw)


def _served(sol) -> list[int]:
    return sorted(n for r in sol.routes for n in r.nodes[1:-1])


# ------------------------------------------------------------------ readers and BKS re-costing


@needs_shared
def test_readers_parse_and_bks_recost_exactly():
    files = sorted(VRP_DIR.glob("*.vrp")) + sorted(VRP_DIR.glob("*.txt"))
    assert len(files) >= 11
    for path in files:
        inst = read_instance(path)
        bks = read_solution(path.with_suffix(".sol"))
        assert inst.distance.dtype == np.int64 and inst.distance.shape == (inst.num_nodes, inst.num_nodes)
        assert sorted(c for r in bks.routes for c in r) == list(range(1, inst.num_nodes)), inst.name
        assert solution_cost(inst.distance, bks.routes) == round(bks.cost * inst.scale), inst.name
        # The BKS is feasible for the problem we build (capacity, and windows for Solomon).
        prob = problem_from_instance(inst, num_vehicles=max(len(bks.routes), inst.num_vehicles))
        from models.routing.vrp import _describe_route

        routes = [_describe_route(prob, v, [0, *r, 0]) for v, r in enumerate(bks.routes)]
        assert check_routes(prob, routes) == [], inst.name


def test_readers_on_written_files(tmp_path):
    (tmp_path / "t.vrp").write_text(
        "NAME : t-n4-k2\nTYPE : CVRP\nDIMENSION : 4\nEDGE_WEIGHT_TYPE : EUC_2D\nCAPACITY : 10\n"
        "NODE_COORD_SECTION\n1 0 0\n2 3 4\n3 0 7\n4 1 1\nDEMAND_SECTION\n1 0\n2 5\n3 6\n4 4\n"
        "DEPOT_SECTION\n1\n-1\nEOF\n")
    (tmp_path / "t.sol").write_text("Route #1: 1 3\nRoute #2: 2\nCost 24\n")
    inst = read_instance(tmp_path / "t.vrp")
    assert inst.kind == "cvrp" and inst.capacity == 10 and inst.num_vehicles == 2 and inst.demands == [0, 5, 6, 4]
    assert inst.distance[0, 1] == 5 and inst.distance[0, 3] == 1  # sqrt(2) = 1.41 -> 1
    bks = read_solution(tmp_path / "t.sol")
    assert bks.routes == [[1, 3], [2]] and bks.cost == 24
    assert solution_cost(inst.distance, bks.routes) == 5 + 4 + 1 + 7 + 7 == bks.cost  # 0-1-3-0, 0-2-0
    (tmp_path / "s.txt").write_text(
        "S1\n\nVEHICLE\nNUMBER     CAPACITY\n  50         200\n\nCUSTOMER\n"
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n\n"
        "    0      0         0          0          0       100          0\n"
        "    1      1         1         10          5        50         10\n")
    s = read_instance(tmp_path / "s.txt")
    assert s.kind == "vrptw" and s.num_vehicles == 25 and s.scale == 10
    assert s.distance[0, 1] == 14  # sqrt(2) = 1.414 -> 1.4 -> 14 tenths
    assert (s.ready[1], s.due[1], s.service[1]) == (50, 500, 100)


@needs_shared
def test_solomon_conventions():
    inst = read_instance(VRP_DIR / "C101.txt")
    assert inst.kind == "vrptw" and inst.scale == 10 and inst.num_vehicles == 25 and inst.capacity == 200
    assert inst.num_nodes == 101 and inst.service[1] == 900 and inst.due[0] == 12360
    # Depot (40, 50) -> customer 1 (45, 68): sqrt(349) = 18.68... -> 18.6 -> 186 tenths.
    assert inst.distance[0, 1] == 186


# ------------------------------------------------------------------ constraints


def test_capacities_respected():
    prob = _random_problem(15, 4, capacity=25, seed=3)
    sol = solve_single(prob, time_limit_s=1.0)
    assert sol.found and sol.feasible, sol.violations
    assert _served(sol) == list(range(1, 16))
    for r in sol.routes:
        assert max(r.loads) <= 25
        assert r.loads[-1] == sum(prob.demands[n] for n in r.nodes)
    assert sol.total_distance == sum(r.distance for r in sol.routes)
    assert sol.status == "ROUTING_SUCCESS"


def test_two_load_dimensions_respected():
    prob = _random_problem(12, 5, capacity=100, seed=4, volumes=[0] + [5] * 12, vehicle_volume_capacities=[15] * 5)
    sol = solve_single(prob, time_limit_s=1.0)
    assert sol.feasible, sol.violations
    for r in sol.routes:
        assert max(r.volume_loads) <= 15
        assert len(r.nodes) - 2 <= 3  # 5 litres per stop, 15 per truck


def test_time_windows_respected():
    rng = np.random.default_rng(7)
    n = 20
    xy = rng.integers(0, 100, size=(n + 1, 2)).astype(float)
    dist = _euclid(xy)
    starts = rng.integers(0, 400, size=n + 1)
    tws = [(0, 1000)] + [(int(s), int(s) + 120) for s in starts[1:]]
    prob = VRPProblem(distance=dist, travel_time=dist, vehicle_capacities=[200] * 6, demands=[0] + [1] * n,
                      service_times=[0] + [10] * n, time_windows=tws)
    sol = solve_single(prob, time_limit_s=1.5)
    assert sol.found and not sol.dropped and sol.violations == []
    for r in sol.routes:
        for k, node in enumerate(r.nodes):
            lo, hi = tws[node]
            assert r.start_times[k] <= hi
            if 0 < k < len(r.nodes) - 1:
                assert r.start_times[k] >= lo
                assert r.start_times[k] >= r.arrival_times[k]


def test_shift_length_respected():
    prob = _random_problem(12, 6, capacity=1000, seed=5, service_times=[0] + [30] * 12, max_route_duration=260)
    sol = solve_single(prob, time_limit_s=1.0)
    assert sol.feasible, sol.violations
    assert all(r.duration <= 260 for r in sol.routes)
    assert sol.vehicles_used >= 2


def test_drop_penalties_report_dropped_nodes():
    # 10 stops of demand 10, but only 2 trucks of 30: at most 6 can be served.
    rng = np.random.default_rng(2)
    xy = rng.integers(0, 100, size=(11, 2)).astype(float)
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[30, 30], demands=[0] + [10] * 10,
                      drop_penalties=[None] + [10_000] * 10)
    sol = solve_single(prob, time_limit_s=1.0)
    assert sol.found
    assert len(sol.dropped) == 4
    assert sorted(_served(sol) + sol.dropped) == list(range(1, 11))
    assert not sol.feasible  # a plan came back but it does not serve everyone
    assert sol.violations == []
    assert sol.objective == sol.total_distance + 4 * 10_000


def test_always_return_plan_when_mandatory_infeasible():
    rng = np.random.default_rng(9)
    xy = rng.integers(0, 100, size=(8, 2)).astype(float)
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[10], demands=[0] + [4] * 7)
    sol = solve_single(prob, time_limit_s=0.5, always_return_plan=True)
    assert sol.found and len(sol.dropped) == 5


def test_disposal_trip_when_capacity_exceeded():
    # Depot 0, customers 1-3 with 6 units each, one truck of 10, disposal facility at node 4.
    xy = np.array([[0, 0], [10, 0], [20, 0], [30, 0], [20, 5]], dtype=float)
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[10], demands=[0, 6, 6, 6, 0],
                      disposal_nodes=[4], max_disposal_trips=3, end_empty=True)
    sol = solve_single(prob, time_limit_s=0.5)
    assert sol.feasible, (sol.violations, sol.dropped)
    (route,) = [r for r in sol.routes if len(r.nodes) > 2]
    assert route.nodes.count(4) >= 3  # two reloads in between plus the final unload
    assert max(route.loads) <= 10
    assert route.loads[-1] == 0
    # Without the facility the same truck cannot do it.
    prob2 = VRPProblem(distance=_euclid(xy[:4]), vehicle_capacities=[10], demands=[0, 6, 6, 6],
                       drop_penalties=[None, 1000, 1000, 1000])
    assert len(solve_single(prob2, time_limit_s=0.3).dropped) == 2


def test_disposal_trips_parallel_defaults_end_empty():
    rng = np.random.default_rng(0)
    n = 20
    xy = rng.integers(0, 100, size=(n + 2, 2)).astype(float)
    xy[0], xy[n + 1] = (0, 0), (50, 50)
    demands = [0] + rng.integers(3, 10, size=n).tolist() + [0]
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[40, 40], demands=demands, disposal_nodes=[n + 1],
                      max_disposal_trips=3, end_empty=True, service_times=[0] + [5] * n + [20],
                      max_route_duration=5000)
    sol = solve(prob, time_limit_s=2.5)
    assert sol.feasible, (sol.violations, sol.dropped, sol.notes)
    assert {r["config"] for r in sol.runs} == {c.name for c in default_configs(prob)}
    visits = sum(r.nodes.count(n + 1) for r in sol.routes)
    assert visits >= math.ceil(sum(demands) / 40)
    assert all(r.loads[-1] == 0 and max(r.loads) <= 40 for r in sol.routes)


def test_fallback_when_first_solution_fails():
    # The savings heuristic cannot build a plan that needs reload trips: the GLS fallback does.
    xy = np.array([[0, 0], [10, 0], [20, 0], [30, 0], [20, 5]], dtype=float)
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[10], demands=[0, 6, 6, 6, 0], disposal_nodes=[4])
    sol = solve_single(prob, SearchConfig(name="savings", first_solution="SAVINGS"), time_limit_s=1.0)
    assert sol.feasible and any("retried" in n for n in sol.notes), sol.notes


def test_disposal_not_used_when_not_needed():
    xy = np.array([[0, 0], [10, 0], [20, 0], [20, 5]], dtype=float)
    prob = VRPProblem(distance=_euclid(xy), vehicle_capacities=[10], demands=[0, 3, 3, 0], disposal_nodes=[3])
    sol = solve_single(prob, time_limit_s=0.3)
    assert sol.feasible
    assert all(3 not in r.nodes for r in sol.routes)


# ------------------------------------------------------------------ search


def test_warm_start_accepted():
    prob = _random_problem(15, 4, capacity=30, seed=3)
    # A deliberately poor but feasible plan: stops in index order, filled greedily.
    routes, cur, load = [], [], 0
    for c in range(1, 16):
        if load + prob.demands[c] > 30:
            routes.append(cur)
            cur, load = [], 0
        cur.append(c)
        load += prob.demands[c]
    routes.append(cur)
    warm_cost = solution_cost(prob.distance, routes)
    sol = solve_single(prob, time_limit_s=1.0, initial_routes=routes)
    assert any("warm start accepted" in n for n in sol.notes), sol.notes
    assert sol.feasible and sol.total_distance <= warm_cost
    gls = solve_single(prob, SearchConfig(name="gls", metaheuristic="GLS"), time_limit_s=0.5, initial_routes=routes)
    assert any("warm start accepted" in n for n in gls.notes) and gls.total_distance <= warm_cost


def test_warm_start_rejected_is_reported():
    total = sum(_random_problem(6, 2, seed=3).demands)
    prob = _random_problem(6, 2, capacity=total - 1, seed=3)
    sol = solve_single(prob, time_limit_s=0.3, initial_routes=[[1, 2, 3, 4, 5, 6]])  # over capacity
    assert any("rejected" in n for n in sol.notes)
    assert sol.feasible


def _brute_force_cvrp(dist: np.ndarray, demands: list[int], cap: int) -> int:
    customers = list(range(1, len(demands)))

    def tsp(block: tuple[int, ...]) -> int:
        return min(
            sum(dist[a, b] for a, b in zip((0, *p), (*p, 0))) for p in itertools.permutations(block)
        )

    def partitions(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for part in partitions(rest):
            for i in range(len(part)):
                yield part[:i] + [[first, *part[i]]] + part[i + 1:]
            yield [[first], *part]

    best = math.inf
    cache: dict[tuple, int] = {}
    for part in partitions(customers):
        if any(sum(demands[c] for c in b) > cap for b in part):
            continue
        cost = 0
        for b in part:
            key = tuple(sorted(b))
            if key not in cache:
                cache[key] = tsp(key)
            cost += cache[key]
        best = min(best, cost)
    return int(best)


def test_small_instance_solved_to_optimum():
    rng = np.random.default_rng(11)
    xy = rng.integers(0, 100, size=(8, 2)).astype(float)
    dist = _euclid(xy)
    demands = [0] + rng.integers(2, 8, size=7).tolist()
    opt = _brute_force_cvrp(dist, demands, 15)
    prob = VRPProblem(distance=dist, vehicle_capacities=[15] * 5, demands=demands)
    sol = solve_single(prob, time_limit_s=1.0)
    assert sol.feasible and sol.total_distance == opt


@needs_shared
def test_a_n32_k5_reaches_optimum():
    inst = read_instance(VRP_DIR / "A-n32-k5.vrp")
    sol = solve(problem_from_instance(inst), time_limit_s=4.0)
    assert sol.feasible
    assert sol.total_distance == 784
    # plain CVRP under 220 stops: OR-Tools' first configuration beside one ruin-and-recreate chain
    assert len(sol.runs) == 2 and {r["config"] for r in sol.runs} == {DEFAULT_CONFIGS[0].name, "sisr-seed1"}


def test_parallel_runs_differ_and_best_kept():
    prob = _random_problem(25, 6, capacity=40, seed=8)
    sol = solve(prob, time_limit_s=2.0)
    assert sol.feasible and len(sol.runs) == 2
    assert sol.objective == min(r["objective"] for r in sol.runs)
    assert sol.wall_time_s < 2.0 + 3.0  # spawn start-up comes out of the same budget


def test_guided_local_search_config():
    prob = _random_problem(12, 4, capacity=30, seed=6)
    sol = solve_single(prob, SearchConfig(name="gls", metaheuristic="GLS"), time_limit_s=0.5)
    assert sol.feasible and sol.config["metaheuristic"] == "GLS"


def test_problem_validation():
    with pytest.raises(ValueError):
        VRPProblem(distance=np.zeros((3, 3)), vehicle_capacities=[1], demands=[0, 1])
    with pytest.raises(ValueError):
        VRPProblem(distance=np.zeros((3, 3)), vehicle_capacities=[1], demands=[0, 1, 1], disposal_nodes=[0])


# ------------------------------------------------------------------ trip chains (waste plans)


def _chained_reload_problem(n: int = 24, trucks: int = 2, streams: int = 2, seed: int = 3,
                            shift_s: int = 7 * 3600) -> VRPProblem:
    """Waste-plan shaped: one trip vehicle per (truck, stream), a truck's trips chained, a stop only
    on its stream's trips, 300 kg stops for 1,000 kg trucks (reloads at node 1 needed)."""
    rng = np.random.default_rng(seed)
    xy = np.r_[[[0, 0], [900, 400]], rng.uniform(-3000, 3000, (n, 2))]
    d = _euclid(xy)
    veh = [(k, s) for k in range(trucks) for s in range(streams)]
    allowed = [None, None] + [[v for v, (_, s) in enumerate(veh) if s == i % streams] for i in range(n)]
    chains = [(v, v + 1) for v in range(len(veh) - 1) if veh[v][0] == veh[v + 1][0]]
    return VRPProblem(distance=d, travel_time=d // 5, vehicle_capacities=[1000] * len(veh),
                      demands=[0, 0] + [300] * n, service_times=[0, 600] + [60] * n,
                      time_windows=[(0, shift_s), None] + [None] * n, depot=0,
                      drop_penalties=[None, None] + [10 ** 6] * n, disposal_nodes=[1], max_disposal_trips=3,
                      disposal_service_time=600, allowed_vehicles=allowed, vehicle_chains=chains, name="chained")


def test_trip_chains_with_reloads_planned_by_the_relaxed_ils():
    """The ILS of a chained problem searches without the chains (the insertion heuristics crawl
    with them: `make run`'s demo day hit the 300 s safety net), then schedules the trips one after
    the other; the plan serves every stop, reloads, and keeps each truck's trips apart in time."""
    from models.routing import CHAIN_CONFIGS, SAFETY_NET_TIMEOUT

    prob = _chained_reload_problem()
    cfgs = default_configs(prob)
    assert cfgs == list(CHAIN_CONFIGS) and cfgs[0].relax_chains and cfgs[0].metaheuristic == "ILS"
    sol = solve_single(prob, cfgs[0], time_limit_s=120, always_return_plan=True, solution_limit=300)
    assert sol.status != SAFETY_NET_TIMEOUT and sol.feasible, (sol.status, sol.violations, sol.dropped, sol.notes)
    assert [n for n in _served(sol) if n != 1] == list(range(2, 26))
    reloads = [r for r in sol.routes if 1 in r.nodes[1:-2]]   # unloads with bins still to collect after
    assert reloads and all(max(r.loads) <= 1000 for r in sol.routes)
    by_vehicle = {r.vehicle: r for r in sol.routes if len(r.nodes) > 2}
    for a, b in prob.vehicle_chains:
        if a in by_vehicle and b in by_vehicle:
            assert by_vehicle[b].start_times[0] >= by_vehicle[a].start_times[-1]
    again = solve_single(prob, cfgs[0], time_limit_s=120, always_return_plan=True, solution_limit=300)
    assert [r.nodes for r in again.routes] == [r.nodes for r in sol.routes]
    # the pair on two cores: GLS from the empty plan cannot insert the stops that need a reload
    # (it drops some), the relaxed plan wins, no third search
    pair = solve(prob, time_limit_s=120, always_return_plan=True, solution_limit=300)
    assert pair.feasible and [r["config"] for r in pair.runs] == [c.name for c in cfgs]
    assert pair.objective == sol.objective


def test_chain_schedule_retimes_trips_and_the_check_flags_a_short_shift():
    from models.routing.checks import _describe_route, chain_schedule

    prob = _chained_reload_problem(n=4, trucks=1)
    first = _describe_route(prob, 0, [0, 2, 4, 0], 0)
    second = _describe_route(prob, 1, [0, 3, 5, 0], 0)        # leaves at 0 too: breaks the chain
    assert check_routes(prob, [first, second])
    fixed = chain_schedule(prob, [first, second])
    assert fixed[0].start_times == first.start_times
    assert fixed[1].start_times[0] == first.start_times[-1] and not check_routes(prob, fixed)
    short = _chained_reload_problem(n=4, trucks=1, shift_s=first.start_times[-1] + second.duration // 2)
    assert any("served at" in v for v in check_routes(short, chain_schedule(short, [first, second])))


def test_one_worker_runs_the_full_model_when_the_relaxed_plan_breaks_a_chain():
    """With one worker only the first configuration runs, unless it is the chain-relaxed ILS and
    its plan breaks a chain once scheduled: the full-model searches then run after it."""
    from models.routing import CHAIN_CONFIGS
    from models.routing.config import CHAIN_FALLBACK

    # one truck, two streams; its two trips take 4,790 s and 3,818 s: each fits a 6,000 s shift
    # alone (what the relaxed search sees), not one after the other
    prob = _chained_reload_problem(n=12, trucks=1, shift_s=6000)
    relaxed = solve_single(prob, CHAIN_CONFIGS[0], time_limit_s=120, always_return_plan=True, solution_limit=200)
    assert relaxed.found and not relaxed.dropped and relaxed.violations
    sol = solve(prob, time_limit_s=120, workers=1, always_return_plan=True, solution_limit=200)
    # GLS from the empty plan drops more stops than the relaxed plan served: the full-model GLS
    # from parallel insertion runs last
    assert [r["config"] for r in sol.runs] == [c.name for c in CHAIN_CONFIGS] + [CHAIN_FALLBACK.name]
    assert sol.found and not sol.violations and sol.dropped, (sol.violations, sol.dropped)


def test_balance_trips_moves_a_trip_to_the_idle_truck():
    """Truck 0 drives both streams' trips, truck 1 none: one after the other they overrun the
    shift; swapping a trip onto truck 1 (its stops allow it, its load fits) ends the lateness with
    the same distance."""
    from models.routing.checks import _describe_route, balance_trips, chain_schedule

    long = _chained_reload_problem(n=4, trucks=2)
    routes = [_describe_route(long, 0, [0, 2, 4, 0]), _describe_route(long, 1, [0, 3, 5, 0]),
              _describe_route(long, 2, [0, 0]), _describe_route(long, 3, [0, 0])]
    both = chain_schedule(long, routes)[1].start_times[-1]
    prob = _chained_reload_problem(n=4, trucks=2, shift_s=both - 1)
    assert check_routes(prob, chain_schedule(prob, routes))           # truck 0 back after the shift
    fixed = balance_trips(prob, routes)
    assert not check_routes(prob, fixed)
    assert sorted(r.vehicle for r in fixed if len(r.nodes) > 2) in ([0, 3], [1, 2])
    assert sum(r.distance for r in fixed) == sum(r.distance for r in routes)
