"""Whole-plan ruin and recreate (SISR) for plain capacitated problems, compiled with numba.

At 250-1,000 stops OR-Tools' sector searches were the weak part of the large path (docs/routing.md:
one CPU second of the pure-Python route-pair descent reached what 60 CPU s of sector searches did
on X-n801 / X-n1001). This search works on the whole plan at a few tens of thousands of iterations
per CPU second (:mod:`models.routing.sisr_kernels`): each iteration removes strings of stops from
a few neighbouring routes and re-inserts them greedily (granular positions, blinks), accepted by
simulated annealing; the best plan is kept. Two chains with different seeds run on the two cores
and the better is kept; the route-pair descent of :mod:`models.routing.interroute` polishes it.

Scope: one vehicle type, kg and litre capacities, a fleet size, a shift length (driving plus service
time, as :func:`models.routing.construction.route_feasible` counts it); no time windows, reload trips, trip chains, vehicle restrictions, optional stops or fixed vehicle costs (those keep
the OR-Tools path). Deterministic: the budget is an iteration count and a seed; the clock is only
the safety net (reaching it gives no plan) or, without a solution limit (the benchmark's wall-clock
mode), the stop.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from models.routing.pools import spawn_pool
from models.routing.problem import VRPProblem

__all__ = ["supported", "PlainArrays", "run_chain", "improve_plan", "iterations_for", "warm_up",
           "ITERATIONS_PER_SOLUTION", "SISR_PARAMS"]

# the platform's solution limits count OR-Tools solutions; one is worth this many ruin-and-recreate
# iterations of the same CPU time at 1,000 stops, fewer than that below (``bench/vrp_bench.py
# --calibrate 2000 --sisr-only``, 2026-12-06, load 4.6: 68,000 iterations per CPU s on X-n1001-k43,
# 88,000 on X-n513-k21, 100,000 on X-n439-k37, 145,000-178,000 at 80-100 stops; 13,000 OR-Tools
# solutions per 30 CPU s): a chain of 13,000 x 150 iterations stays within 30 CPU s at 1,000 stops
ITERATIONS_PER_SOLUTION = 150
# SISR parameters (Christiaens and Vanden Berghe 2020: c-bar 10, L-max 10, blink 0.01, T0 100 and
# Tf 1 on the X instances, whose mean distance between stops is about 520: scaled by it here)
SISR_PARAMS = {"cbar": 10.0, "lmax": 10.0, "blink": 0.01, "beta": 0.01, "t0": 100.0 / 520.0,
               "tf": 1.0 / 520.0, "granular": 40, "adjacent": 100}
# iterations per kernel call (the wall-clock mode checks the clock between calls)
CHUNK = 4096


def supported(problem: VRPProblem) -> bool:
    """Plain capacitated routing the compiled search models exactly (see the module docstring)."""
    same = len(set(problem.vehicle_capacities)) == 1 and (
        problem.vehicle_volume_capacities is None or len(set(problem.vehicle_volume_capacities)) == 1)
    return (same and not problem.disposal_nodes and not problem.vehicle_chains and not problem.has_time_windows
            and problem.allowed_vehicles is None and problem.drop_penalties is None
            and not problem.vehicle_fixed_cost and len(problem.customers()) >= 2)


class PlainArrays:
    """The problem as flat arrays, the depot renumbered 0 and the stops 1..n-1 (``perm[new] = old``)."""

    def __init__(self, problem: VRPProblem, granular: int, adjacent: int):
        cust = problem.customers()
        self.perm = np.asarray([problem.depot, *cust], dtype=np.int64)
        self.inv = {int(o): i for i, o in enumerate(self.perm)}
        d = np.asarray(problem.distance, dtype=np.int64)[np.ix_(self.perm, self.perm)]
        self.D = np.ascontiguousarray(d.astype(np.int32) if d.max() < 2 ** 30 else d)
        self.q = np.asarray([int(problem.demands[i]) for i in self.perm], dtype=np.int64)
        self.w = (np.asarray([int(problem.volumes[i]) for i in self.perm], dtype=np.int64)
                  if problem.volumes is not None else np.zeros(len(self.perm), dtype=np.int64))
        self.Q = int(problem.vehicle_capacities[0])
        self.W = int(problem.vehicle_volume_capacities[0]) if problem.volumes is not None else 1 << 60
        self.K = problem.num_vehicles
        tt = problem.travel_time if problem.travel_time is not None else problem.distance
        t = np.asarray(tt, dtype=np.int64)[np.ix_(self.perm, self.perm)]
        self.T = np.ascontiguousarray(t.astype(np.int32) if t.max() < 2 ** 30 else t)
        self.svc = (np.asarray([int(problem.service_times[i]) for i in self.perm], dtype=np.int64)
                    if problem.service_times is not None else np.zeros(len(self.perm), dtype=np.int64))
        self.svc[0] = 0
        self.tmax = int(problem.max_route_duration) if problem.max_route_duration is not None else 1 << 60
        n = len(self.perm)
        sym = (d + d.T).astype(float) / 2
        sym[0, :] = np.inf
        sym[:, 0] = np.inf
        np.fill_diagonal(sym, np.inf)
        order = np.argsort(sym, axis=1, kind="stable")
        g = min(granular, n - 2)
        a = min(adjacent, n - 2)
        self.gran = np.ascontiguousarray(order[:, :g]).astype(np.int64)
        # the seed's adjacency starts with the seed itself
        self.adj = np.ascontiguousarray(np.hstack([np.arange(n)[:, None], order[:, :a]])).astype(np.int64)
        # distance scale of the temperatures: mean distance between stops
        self.scale = float(d[1:, 1:].sum()) / max(1, (n - 1) * (n - 2))

    def to_local(self, routes: Sequence[Sequence[int]]) -> list[list[int]]:
        return [[self.inv[int(c)] for c in r] for r in routes if r]

    def to_problem(self, routes: Sequence[Sequence[int]]) -> list[list[int]]:
        return [[int(self.perm[c]) for c in r] for r in routes if len(r)]


def _cost(D: np.ndarray, routes: Sequence[Sequence[int]]) -> int:
    return sum(int(D[a, b]) for r in routes for a, b in zip([0, *r], [*r, 0]))


def run_chain(arr: PlainArrays, routes: Sequence[Sequence[int]], iterations: int, seed: int,
              params: dict | None = None, deadline: float | None = None,
              wall_clock_stop: bool = False) -> tuple[list[list[int]], dict]:
    """One SISR chain of ``iterations`` from local ``routes`` (at most ``arr.K``, each within
    capacity). ``deadline`` (``time.time()`` value): with ``wall_clock_stop`` the chain simply
    stops there (the benchmark's wall-clock mode); otherwise reaching it is the safety net and the
    info says ``"timed_out"``. Returns the best local routes and a summary."""
    from models.routing.sisr_kernels import route_cost, route_duration, seed_rng, sisr_chunk

    p = dict(SISR_PARAMS, **(params or {}))
    K, n = arr.K, len(arr.perm)
    if len(routes) > K:
        raise ValueError(f"{len(routes)} routes for a fleet of {K}")
    L = n
    rt = np.zeros((K, L), dtype=np.int64)
    ln = np.zeros(K, dtype=np.int64)
    for k, r in enumerate(routes):
        rt[k, :len(r)] = r
        ln[k] = len(r)
    rid = np.full(n, -1, dtype=np.int64)
    pos = np.zeros(n, dtype=np.int64)
    load = np.zeros(K, dtype=np.int64)
    vol = np.zeros(K, dtype=np.int64)
    rcost = np.zeros(K, dtype=np.int64)
    rdur = np.zeros(K, dtype=np.int64)
    for k in range(K):
        for i in range(ln[k]):
            rid[rt[k, i]] = k
            pos[rt[k, i]] = i
        load[k] = arr.q[rt[k, :ln[k]]].sum()
        vol[k] = arr.w[rt[k, :ln[k]]].sum()
        rcost[k] = route_cost(arr.D, rt, k, ln[k])
        rdur[k] = route_duration(arr.T, arr.svc, rt, k, ln[k])
        if load[k] > arr.Q or vol[k] > arr.W or rdur[k] > arr.tmax:
            raise ValueError(f"start route {k} over capacity or longer than the shift")
    if (rid[1:] < 0).any():
        raise ValueError("the start plan leaves stops out")
    start = int(rcost.sum())
    state = np.asarray([start, start, 0, 0, 0], dtype=np.int64)
    best_rt, best_ln = rt.copy(), ln.copy()
    seed_rng(seed)
    c0 = time.process_time()
    done = 0
    timed_out = False
    total = max(1, iterations)
    t0, tf = p["t0"] * arr.scale, p["tf"] * arr.scale
    while done < iterations:
        # the wall-clock mode runs at least one chunk (a few hundredths of a second), so a short
        # budget eaten by start-up on a loaded machine still searches
        if deadline is not None and time.time() >= deadline and not (wall_clock_stop and done == 0):
            timed_out = not wall_clock_stop
            break
        step = min(CHUNK, iterations - done)
        sisr_chunk(arr.D, arr.T, arr.svc, arr.tmax, arr.q, arr.w, arr.Q, arr.W, arr.adj, arr.gran, rt, ln, rid, pos,
                   load, vol, rcost, rdur, state, best_rt, best_ln, done, done + step, total, t0, tf, p["cbar"],
                   p["lmax"], p["blink"], p["beta"])
        done += step
    best = [[int(c) for c in best_rt[k, :best_ln[k]]] for k in range(K) if best_ln[k] > 0]
    assert _cost(arr.D, best) == int(state[1]), "SISR bookkeeping: the best plan's cost does not match"
    cpu = time.process_time() - c0
    return best, {"seed": seed, "start": start, "best": int(state[1]), "iterations": done, "accepted": int(state[2]),
                  "new_bests": int(state[3]), "failed_recreates": int(state[4]), "cpu_s": round(cpu, 3),
                  "iterations_per_cpu_s": round(done / max(cpu, 1e-9)), "timed_out": timed_out}


def _chain_worker(args: tuple) -> tuple[list[list[int]], dict]:
    problem, routes, iterations, seed, params, deadline, wall_clock_stop = args
    arr = PlainArrays(problem, (params or {}).get("granular", SISR_PARAMS["granular"]),
                      (params or {}).get("adjacent", SISR_PARAMS["adjacent"]))
    local, info = run_chain(arr, arr.to_local(routes), iterations, seed, params, deadline, wall_clock_stop)
    return arr.to_problem(local), info


def improve_plan(problem: VRPProblem, routes: Sequence[Sequence[int]], iterations: int, workers: int = 2,
                 seeds: Sequence[int] = (1, 2), params: dict | None = None, deadline: float | None = None,
                 wall_clock_stop: bool = False) -> tuple[list[list[int]], list[dict]]:
    """Chains from depot-less ``routes`` (problem node ids), one per seed, ``workers`` at a time on
    spawned processes; returns the best chain's routes (the lowest seed among equals) and every
    chain's summary. The result is never worse than ``routes``."""
    jobs = [(problem, [list(r) for r in routes if r], iterations, s, params, deadline, wall_clock_stop)
            for s in seeds]
    if workers > 1 and len(jobs) > 1:
        with spawn_pool(min(workers, len(jobs))) as pool:
            results = pool.map(_chain_worker, jobs)
    else:
        results = [_chain_worker(j) for j in jobs]
    best = min(range(len(results)), key=lambda i: (results[i][1]["best"], i))
    return results[best][0], [r[1] for r in results]


def iterations_for(solution_limit: int) -> int:
    """Iterations per chain worth the CPU time of ``solution_limit`` OR-Tools solutions."""
    return max(1, int(solution_limit) * ITERATIONS_PER_SOLUTION)


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernels on a tiny problem; returns the seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(12, 2))
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    p = VRPProblem(distance=d, vehicle_capacities=[20] * 4, demands=[0] + [5] * 11)
    arr = PlainArrays(p, 5, 5)
    run_chain(arr, [[1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], 10, 1)
    return time.perf_counter() - t0
