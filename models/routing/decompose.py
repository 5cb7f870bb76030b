"""Route-based decomposition for large problems: OR-Tools' search on neighbourhoods of routes.

At 250-1,000 stops one OR-Tools local-search pass over the whole plan is slow, so the iterated
local search manages few ruin-and-recreate rounds in a given budget; on 100-200 stops it is
close to the best known. So, as in the decomposition phase of hybrid genetic search (Vidal et
al. 2013; Santini, Schneider, Vidal, Vigo 2023): start from a savings construction, then order
the routes by the polar angle of their centroid around the depot, cut that circle into sectors
of consecutive routes holding about ``sector_size`` stops (at least two routes), and re-solve
each sector as its own problem (its stops, its number of routes plus one spare vehicle while the
fleet allows), keeping the sector's routes when the search does not beat them. Sectors are
disjoint, so the two cores solve two at a time and the results merge. The next pass shifts the
cut by half a sector, so routes on a border meet new neighbours. After each pass the whole plan
goes through the route-pair descent of :mod:`models.routing.interroute` (moves between routes of
different sectors, which the sector searches cannot make).

Plain capacitated problems (no time windows) no longer take the sectors: :func:`solve_large` hands
them to the compiled ruin and recreate (:mod:`models.routing.whole_plan`), which beat the sector
passes at the same CPU budget (docs/routing.md); the sectors remain for problems with time windows.

Every sub-search is bounded by a solution limit when one is given (reproducible plans: the
sectors, their order and their results do not depend on timing); the wall clock only splits
the benchmark's budget.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Sequence

import numpy as np

from models.routing.checks import _describe_route, check_routes
from models.routing.config import SearchConfig
from models.routing.construction import route_feasible, savings_routes
from models.routing.interroute import improve_routes
from models.routing.model import _default_drop_penalty
from models.routing.pools import spawn_pool
from models.routing.problem import SAFETY_NET_TIMEOUT, VRPProblem, VRPSolution
from models.routing.search import solve_parallel, solve_single
from models.routing.whole_plan import solve_ruin_recreate

__all__ = ["decomposable", "sectors", "subproblem", "improve_by_sectors", "solve_large"]

# wall-clock mode: the budget is spread over this many passes (later passes get what is left)
PLANNED_PASSES = 3

# sub-search: ILS from PATH_CHEAPEST_ARC, started cold (a sector of X-n513-k21, 126 stops, 3 s:
# 5497 vs 5671 SAVINGS, 5674 PARALLEL_CHEAPEST_INSERTION; the warm start through
# SetFirstSolutionHint + LOCAL_CHEAPEST_INSERTION rebuilt a worse plan: 6101 after 1 s). The
# sector's current routes are kept when the search does not beat them.
# when the route-pair descent (models.routing.interroute) runs on the whole plan: "start" (on the
# savings plan), "pass" (after each sector pass), "final" (after the last pass); measured in docs/routing.md
ROUTE_PAIR_PHASES: tuple[str, ...] = ("pass",)

SECTOR_CONFIG = SearchConfig(name="sector-ils-pca-sisr25", first_solution="PATH_CHEAPEST_ARC",
                             sisr_avg_removed=25, sisr_max_sequence=15)


def decomposable(problem: VRPProblem) -> bool:
    """Plain CVRP / VRPTW (one vehicle type; no reloads, trip chains, vehicle restrictions or
    optional stops, which need the whole-plan search): sectors are independent problems."""
    same = len(set(problem.vehicle_capacities)) == 1 and (
        problem.vehicle_volume_capacities is None or len(set(problem.vehicle_volume_capacities)) == 1)
    return (same and not problem.disposal_nodes and not problem.vehicle_chains
            and problem.allowed_vehicles is None and problem.drop_penalties is None)


def sectors(problem: VRPProblem, routes: Sequence[Sequence[int]], sector_size: int, offset: float) -> list[list[int]]:
    """Indices of ``routes`` grouped into sectors of consecutive polar angle of the route's
    centroid around the depot (``problem.coords`` when known, else a classical-MDS embedding of
    the distance matrix), starting at angle ``offset``; each sector holds >= ``sector_size``
    stops (a short last one joins the previous)."""
    xy = _coords(problem)
    d = xy[problem.depot]
    angles = []
    for k, r in enumerate(routes):
        c = xy[list(r)].mean(axis=0) - d
        angles.append((math.atan2(c[1], c[0]) - offset) % (2 * math.pi))
    order = [k for _, k in sorted(zip(angles, range(len(routes))))]
    groups: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for k in order:
        cur.append(k)
        size += len(routes[k])
        if size >= sector_size and len(cur) >= 2:
            groups.append(cur)
            cur, size = [], 0
    if cur:
        if groups and (size < sector_size // 2 or len(cur) < 2):
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


def _coords(problem: VRPProblem) -> np.ndarray:
    xy = getattr(problem, "coords", None)
    if xy is not None:
        return np.asarray(xy, dtype=float)
    # classical MDS (2-D) of the symmetrised distance matrix: positions whose angles around the
    # depot group nearby stops, enough to cut sectors on a street network
    dm = problem.distance.astype(float)
    dm = (dm + dm.T) / 2
    n = dm.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (dm ** 2) @ j
    w, v = np.linalg.eigh(b)
    top = np.argsort(w)[::-1][:2]
    return v[:, top] * np.sqrt(np.maximum(w[top], 0))


def subproblem(problem: VRPProblem, capacities: Sequence[int], nodes: Sequence[int]) -> VRPProblem:
    """The problem restricted to the depot plus ``nodes``, with vehicles of these ``capacities``
    (node 0 = the depot, then ``nodes`` in order)."""
    keep = [problem.depot, *nodes]
    ix = np.ix_(keep, keep)

    def pick(seq):
        return None if seq is None else [seq[i] for i in keep]

    return VRPProblem(
        distance=problem.distance[ix],
        travel_time=None if problem.travel_time is None else problem.travel_time[ix],
        vehicle_capacities=list(capacities),
        demands=pick(problem.demands),
        volumes=pick(problem.volumes),
        vehicle_volume_capacities=None if problem.vehicle_volume_capacities is None else [
            problem.vehicle_volume_capacities[0]] * len(capacities),
        service_times=pick(problem.service_times),
        time_windows=pick(problem.time_windows),
        max_route_duration=problem.max_route_duration,
        depot=0,
        drop_penalties=pick(problem.drop_penalties),
        vehicle_fixed_cost=problem.vehicle_fixed_cost,
        name=f"{problem.name}-sector",
    )


def _solve_sector(args: tuple) -> tuple[int, list[list[int]] | None, int, str]:
    """Worker: re-solve one sector from its routes; returns (sector id, new routes in problem
    nodes or None when not better, the new distance, the search status)."""
    sid, sub, local_routes, nodes, cfg, seconds, solution_limit = args
    before = _distance(sub, local_routes)
    sol = solve_single(sub, cfg, time_limit_s=seconds, always_return_plan=False, solution_limit=solution_limit)
    if not sol.feasible or sol.objective >= before + sub.vehicle_fixed_cost * len(local_routes):
        return sid, None, before, sol.status
    out = [[nodes[i - 1] for i in r.nodes[1:-1]] for r in sol.routes if len(r.nodes) > 2]
    return sid, out, sol.total_distance, sol.status


def improve_by_sectors(problem: VRPProblem, routes: Sequence[Sequence[int]], seconds: float,
                       sector_size: int = 120, workers: int = 2, solution_limit: int | None = None,
                       passes: int | None = None, config: SearchConfig = SECTOR_CONFIG,
                       planned_passes: int | None = None,
                       route_pair: Sequence[str] | None = None) -> tuple[list[list[int]], list[dict]]:
    """Improve depot-less ``routes`` sector by sector for ``seconds`` (the wall-clock split of a
    benchmark budget) or, with ``solution_limit``, for ``passes`` passes (deterministic work,
    ``seconds`` is then the safety net). Returns the routes and a log per pass."""
    planned_passes = PLANNED_PASSES if planned_passes is None else planned_passes
    route_pair = ROUTE_PAIR_PHASES if route_pair is None else route_pair
    log: list[dict] = []
    routes = [list(r) for r in routes if r]
    xy = _coords(problem) if route_pair else None
    if "start" in route_pair:
        routes, info = improve_routes(problem, routes, coords=xy)
        log.append({"pass": "route-pair start", "gained": info["before"] - info["after"], "route_pair": info})
    n_cust = sum(len(r) for r in routes)
    t_end = time.time() + seconds
    # closed and joined after the passes (models/routing/pools.py)
    with spawn_pool(workers) if workers > 1 else nullcontext() as pool:
        p = 0
        while (passes is None or p < passes) and time.time() < t_end - 0.5:
            width = 2 * math.pi * sector_size / max(1, n_cust)
            groups = sectors(problem, routes, sector_size, p * 0.5 * width)
            slack = problem.num_vehicles - len(routes)
            left = t_end - time.time()
            # wall-clock mode: spread what is left over the passes still planned (at least one)
            per = left * max(1, workers) / max(1, len(groups)) / max(1, planned_passes - p) if passes is None else left
            jobs = []
            skipped = 0
            for sid, g in enumerate(groups):
                nodes = [n for k in g for n in routes[k]]
                local = {n: i + 1 for i, n in enumerate(nodes)}
                k_veh = len(g) + (1 if sid < slack else 0)
                if _full(problem, nodes, k_veh):
                    skipped += 1
                    continue
                sub = subproblem(problem, [problem.vehicle_capacities[0]] * k_veh, nodes)
                jobs.append((sid, sub, [[local[n] for n in routes[k]] for k in g], nodes, config,
                             max(0.3, per * 0.95), solution_limit))
            results = pool.map(_solve_sector, jobs) if pool else [_solve_sector(j) for j in jobs]
            new_routes: list[list[int]] = []
            gained = 0
            if any(r[3] == SAFETY_NET_TIMEOUT for r in results):
                log.append({"pass": p, "status": SAFETY_NET_TIMEOUT})
                break
            solved = {job[0]: (res, job) for res, job in zip(results, jobs)}
            for sid, g in enumerate(groups):
                res, job = solved.get(sid, ((sid, None, 0, ""), None))
                if res[1] is None:
                    new_routes.extend(routes[k] for k in g)
                else:
                    gained += _distance(job[1], job[2]) - res[2]
                    new_routes.extend(res[1])
            routes = new_routes
            log.append({"pass": p, "sectors": len(groups), "gained": gained, "t": round(time.time(), 1),
                        "full_sectors_kept": skipped})
            if "pass" in route_pair:
                routes, info = improve_routes(problem, routes, coords=xy, seed=p + 1)
                log[-1]["route_pair"] = info
                log[-1]["gained"] += info["before"] - info["after"]
            p += 1
    if "final" in route_pair and log and "status" not in log[-1]:
        routes, info = improve_routes(problem, routes, coords=xy, seed=len(log))
        log[-1]["route_pair"] = info
        log[-1]["gained"] += info["before"] - info["after"]
    return routes, log


# a sector whose vehicles are this full (no spare) is kept as it is: the ruin-and-recreate may
# never re-pack it, so the search never reaches its solution limit and the safety net fails the
# plan (X-n1001-k43, third pass after the route-pair descent: 89 stops in 4 trucks 100 % full;
# X-n627-k43 without the descent, third pass: 101 stops in 7 trucks 99.9 % full; other sectors
# 99.6-100 % full searched normally); the route-pair descent still improves a kept sector
FULL_SECTOR_FILL = 0.995


def _full(problem: VRPProblem, nodes: Sequence[int], vehicles: int) -> bool:
    cap = int(problem.vehicle_capacities[0]) * vehicles
    if sum(int(problem.demands[n]) for n in nodes) >= FULL_SECTOR_FILL * cap:
        return True
    if problem.volumes is None:
        return False
    vcap = int(problem.vehicle_volume_capacities[0]) * vehicles
    return sum(int(problem.volumes[n]) for n in nodes) >= FULL_SECTOR_FILL * vcap


def _distance(problem: VRPProblem, routes: Sequence[Sequence[int]]) -> int:
    d = problem.distance
    return sum(int(d[a, b]) for r in routes for a, b in zip([problem.depot, *r], [*r, problem.depot]))


# share of the budget for a whole-plan search before the sectors; 0 = savings construction
# only (measured, docs/routing.md)
WHOLE_PLAN_SHARE = 0.0
# stops per sector (measured, docs/routing.md)
SECTOR_SIZE = 80
# with a solution limit: passes over the sectors (deterministic work)
SECTOR_PASSES = 3


def solve_large(problem: VRPProblem, time_limit_s: float, workers: int | None = None,
                always_return_plan: bool | None = None, solution_limit: int | None = None,
                sector_size: int | None = None) -> VRPSolution:
    """Savings construction (:func:`models.routing.construction.savings_routes`), or the
    whole-plan search for ``WHOLE_PLAN_SHARE`` of the budget when that share is positive, then
    :func:`improve_by_sectors` for the rest. With ``solution_limit`` the work is fixed (each
    sector search that many solutions, ``SECTOR_PASSES`` passes) and ``time_limit_s`` is the
    safety net: reaching it gives no plan (:data:`SAFETY_NET_TIMEOUT`)."""
    t0 = time.time()
    workers = 2 if workers is None else workers
    sector_size = SECTOR_SIZE if sector_size is None else sector_size
    dropped: list[int] = []
    notes: list[str] = []
    runs: list[dict] = []
    # plain capacitated problems (no time dimension): compiled ruin and recreate on the whole plan
    # instead of the sectors (docs/routing.md, "Whole-plan ruin and recreate")
    sol = solve_ruin_recreate(problem, time_limit_s, workers=workers, solution_limit=solution_limit)
    if sol is not None:
        return sol
    start = savings_routes(problem) if WHOLE_PLAN_SHARE <= 0 else None
    if start is not None and (len(sectors(problem, start, sector_size, 0.0)) < 2
                              or not all(route_feasible(problem, r) for r in start)):
        # a few long routes (the city day: 3 routes of ~155 stops) make one sector, the whole
        # problem: the two-search pair does better there (129222 vs 131538 m, PyVRP 124882, 30 s)
        sol = solve_parallel(problem, time_limit_s - (time.time() - t0), workers=workers,
                             always_return_plan=always_return_plan, solution_limit=solution_limit)
        sol.notes.append(f"one sector only, or a stop no route can take ({len(start)} savings routes): "
                         f"whole-plan search")
        return sol
    if start is not None and len(start) <= problem.num_vehicles:
        notes.append(f"savings construction: {len(start)} routes, distance {_distance(problem, start)}")
        config = {"name": "savings+sectors"}
    else:
        first = solve_parallel(problem, time_limit_s * (max(WHOLE_PLAN_SHARE, 0.3) if solution_limit is None else 1.0),
                               workers=workers, always_return_plan=always_return_plan,
                               solution_limit=solution_limit)
        if not first.found:
            return first
        start = [r.nodes[1:-1] for r in first.routes if len(r.nodes) > 2]
        dropped, notes, runs, config = list(first.dropped), list(first.notes), list(first.runs), dict(first.config)
        notes.append(f"whole-plan search: distance {first.total_distance}")
    routes, log = improve_by_sectors(problem, start, time_limit_s - (time.time() - t0), sector_size=sector_size,
                                     workers=workers, solution_limit=solution_limit,
                                     passes=SECTOR_PASSES if solution_limit is not None else None)
    n_passes = sum(1 for e in log if "sectors" in e)
    if solution_limit is not None and (n_passes < SECTOR_PASSES or "status" in log[-1]):
        return VRPSolution(routes=[], total_distance=0, dropped=problem.customers(), status=SAFETY_NET_TIMEOUT,
                           objective=-1, config=config, wall_time_s=time.time() - t0,
                           notes=notes + [f"sector passes stopped by the wall-clock safety net ({log}): "
                                          f"no reproducible plan"])
    described = [_describe_route(problem, v, [problem.depot, *r, problem.depot]) for v, r in enumerate(routes)]
    total = sum(r.distance for r in described)
    penalty = 0
    for i in dropped:
        p = problem.drop_penalties[i] if problem.drop_penalties is not None else None
        penalty += int(p) if p is not None else _default_drop_penalty(problem)
    sol = VRPSolution(routes=described, total_distance=total, dropped=dropped, status="ROUTING_SUCCESS",
                      objective=total + problem.vehicle_fixed_cost * len(described) + penalty,
                      config=dict(config, sector_size=sector_size), wall_time_s=time.time() - t0,
                      runs=runs + [{"config": "sectors", "distance": total, "passes": n_passes}],
                      notes=notes + [f"sectors: {n_passes} passes, gained {sum(e.get('gained', 0) for e in log)}"])
    sol.violations = check_routes(problem, described)
    return sol
