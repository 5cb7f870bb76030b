"""Plain capacitated problems solved with the compiled ruin and recreate (:mod:`.ruin_recreate`).

* :func:`solve_ruin_recreate` (220 stops or more): savings construction, then two SISR chains
  (seeds 1 and 2) on the two cores from it, the better kept, then the route-pair descent of
  :mod:`models.routing.interroute`. It replaces the OR-Tools sector passes for these problems
  (measured in docs/routing.md; they stay for problems with time windows).
* :func:`solve_with_ortools` (under 220 stops): OR-Tools' iterated local search (the first of the
  default pair) on one core beside one SISR chain from the savings plan on the other; the better
  plan is kept.

Both honour ``solution_limit`` (deterministic: each chain runs
:func:`models.routing.ruin_recreate.iterations_for` iterations; the wall clock is the safety net
and reaching it gives no plan). Without one (the benchmark's wall-clock mode) the chains plan
``ITERATIONS_PER_CPU_S * time_limit_s`` iterations and stop at the clock if it comes first.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Sequence

from models.routing.checks import _describe_route, check_routes
from models.routing.config import WORKER_GRACE_S, default_configs
from models.routing.construction import route_feasible, savings_routes
from models.routing.interroute import improve_routes
from models.routing.pools import kill_pool, spawn_pool
from models.routing.problem import SAFETY_NET_TIMEOUT, VRPProblem, VRPSolution
from models.routing import ruin_recreate as rr

__all__ = ["solve_ruin_recreate", "solve_with_ortools", "ITERATIONS_PER_CPU_S", "FINAL_DESCENT"]

# wall-clock mode only: iterations a chain plans per second of budget (about an idle core's rate at
# 500-1,000 stops, docs/routing.md); the clock stops it earlier on a loaded machine
ITERATIONS_PER_CPU_S = 80_000
# the route-pair descent after the chains (measured, docs/routing.md)
FINAL_DESCENT = True
# seconds kept in wall-clock mode for spawning, the descent and the checks
_WALL_MARGIN_S = 1.5


def _start(problem: VRPProblem) -> list[list[int]] | None:
    """The savings plan when it fits the fleet and every route is feasible, else None."""
    start = savings_routes(problem)
    if len(start) > problem.num_vehicles or not all(route_feasible(problem, r) for r in start):
        return None
    return start


def _budget(time_limit_s: float, solution_limit: int | None) -> tuple[int, bool]:
    if solution_limit is not None:
        return rr.iterations_for(solution_limit), False
    return max(1, int(ITERATIONS_PER_CPU_S * max(0.1, time_limit_s - _margin(time_limit_s)))), True


def _margin(time_limit_s: float) -> float:
    return min(_WALL_MARGIN_S, 0.15 * time_limit_s)


def _solution(problem: VRPProblem, routes: Sequence[Sequence[int]], config: dict, t0: float, runs: list[dict],
              notes: list[str]) -> VRPSolution:
    described = [_describe_route(problem, v, [problem.depot, *r, problem.depot]) for v, r in enumerate(routes)]
    total = sum(r.distance for r in described)
    sol = VRPSolution(routes=described, total_distance=total, dropped=[], status="ROUTING_SUCCESS", objective=total,
                      config=config, wall_time_s=time.time() - t0, runs=runs, notes=notes)
    sol.violations = check_routes(problem, described)
    return sol


def _timed_out(t0: float, notes: list[str], runs: list[dict], problem: VRPProblem, what: str) -> VRPSolution:
    return VRPSolution(routes=[], total_distance=0, dropped=problem.customers(), status=SAFETY_NET_TIMEOUT,
                       objective=-1, config={"name": "savings+sisr"}, wall_time_s=time.time() - t0, runs=runs,
                       notes=notes + [f"{what} stopped by the wall-clock safety net: no reproducible plan"])


def solve_ruin_recreate(problem: VRPProblem, time_limit_s: float, workers: int = 2,
                        solution_limit: int | None = None, start: Sequence[Sequence[int]] | None = None,
                        seeds: Sequence[int] = (1, 2)) -> VRPSolution | None:
    """Savings (or ``start``), two SISR chains, the route-pair descent; None when the problem is
    not :func:`models.routing.ruin_recreate.supported` or the savings plan does not fit the fleet."""
    t0 = time.time()
    if not rr.supported(problem):
        return None
    start = [list(r) for r in start if r] if start is not None else _start(problem)
    if start is None:
        return None
    iterations, wall = _budget(time_limit_s, solution_limit)
    deadline = t0 + time_limit_s - (_margin(time_limit_s) if wall else 0.0)
    s0 = _distance(problem, start)
    routes, infos = rr.improve_plan(problem, start, iterations, workers=workers, seeds=seeds, deadline=deadline,
                                    wall_clock_stop=wall)
    notes = [f"savings construction: {len(start)} routes, distance {s0}",
             "sisr chains (best first): " + ", ".join(f"seed {i['seed']} {i['best']} in {i['iterations']} it, "
                                                      f"{i['cpu_s']} CPU s" for i in sorted(infos, key=lambda i: i['best']))]
    runs = [{"config": f"sisr-seed{i['seed']}", "objective": i["best"], "distance": i["best"], **i} for i in infos]
    if any(i["timed_out"] for i in infos):
        return _timed_out(t0, notes, runs, problem, "a ruin-and-recreate chain")
    if FINAL_DESCENT:
        routes, info = improve_routes(problem, routes, coords=getattr(problem, "coords", None))
        notes.append(f"route-pair descent: {info['before']} -> {info['after']}")
    return _solution(problem, routes, {"name": "savings+sisr", "iterations": iterations, "seeds": list(seeds)},
                     t0, runs, notes)


def _distance(problem: VRPProblem, routes: Sequence[Sequence[int]]) -> int:
    d = problem.distance
    return sum(int(d[a, b]) for r in routes for a, b in zip([problem.depot, *r], [*r, problem.depot]))


def _ortools_worker(args: tuple) -> VRPSolution:
    from models.routing.search import solve_single

    problem, cfg, deadline, solution_limit = args
    return solve_single(problem, cfg, deadline=deadline, solution_limit=solution_limit)


def solve_with_ortools(problem: VRPProblem, time_limit_s: float, workers: int = 2,
                       solution_limit: int | None = None) -> VRPSolution | None:
    """OR-Tools' first default configuration beside one SISR chain (seed 1) from the savings plan;
    the better plan (feasible first, then distance; OR-Tools among equals). None when not
    supported (the caller runs the OR-Tools pair)."""
    from models.routing.search import _better, solve_single

    t0 = time.time()
    if not rr.supported(problem):
        return None
    start = _start(problem)
    if start is None:
        return None
    cfg = default_configs(problem)[0]
    deadline = t0 + time_limit_s
    if workers > 1:
        with spawn_pool(1) as pool:
            pending = pool.apply_async(_ortools_worker, ((problem, cfg, deadline, solution_limit),))
            sisr = solve_ruin_recreate(problem, time_limit_s, workers=1, solution_limit=solution_limit, start=start,
                                       seeds=(1,))
            try:
                ours = pending.get(timeout=max(1.0, deadline - time.time()) + WORKER_GRACE_S)
            except mp.TimeoutError:
                ours = None
                kill_pool(pool)     # the search is stuck: it must not hold the plan back
    else:
        ours = solve_single(problem, cfg, deadline=t0 + time_limit_s / 2 if solution_limit is None else deadline,
                            solution_limit=solution_limit)
        sisr = solve_ruin_recreate(problem, max(0.5, deadline - time.time()), workers=1,
                                   solution_limit=solution_limit, start=start, seeds=(1,))
    if solution_limit is not None and (ours is None or SAFETY_NET_TIMEOUT in (ours.status, sisr.status)):
        return _timed_out(t0, sisr.notes, sisr.runs + (ours.runs if ours is not None else []), problem,
                          "the OR-Tools search or the chain")
    if ours is None:
        sisr.notes.append(f"OR-Tools {cfg.name} returned nothing in time: sisr kept")
        return sisr
    best = sisr if _better(sisr, ours) else ours
    # the chain's run as the plan it gave (after the descent)
    best.runs = list(ours.runs) + [dict(sisr.runs[0], objective=sisr.objective, distance=sisr.total_distance)]
    best.notes = list(best.notes) + [f"OR-Tools {cfg.name} {ours.total_distance} beside sisr {sisr.total_distance}: "
                                     f"{'sisr' if best is sisr else cfg.name} kept"]
    best.wall_time_s = time.time() - t0
    return best
