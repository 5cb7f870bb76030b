"""One search (:func:`solve_single`) and two side by side on two processes (:func:`solve_parallel`)."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import asdict, replace
from typing import Sequence

from models.routing.checks import _extract, _status_name, balance_trips, check_routes
from models.routing.config import (
    CHAIN_FALLBACK,
    FALLBACK_CONFIG,
    WORKER_GRACE_S,
    SearchConfig,
    build_search_parameters,
    default_configs,
    ils_available,
)
from models.routing.model import _build_model, _routes_to_model_indices
from models.routing.pools import kill_pool, spawn_pool
from models.routing.problem import SAFETY_NET_TIMEOUT, VRPProblem, VRPSolution


def solve_single(
    problem: VRPProblem,
    config: SearchConfig | None = None,
    time_limit_s: float = 10.0,
    initial_routes: Sequence[Sequence[int]] | None = None,
    always_return_plan: bool | None = None,
    deadline: float | None = None,
    solution_limit: int | None = None,
) -> VRPSolution:
    """One search in this process.

    ``config`` defaults to the first of :func:`default_configs`. ``deadline`` (a ``time.time()``
    value) overrides ``time_limit_s``, so spawned workers spend their start-up time out of the
    same budget. ``always_return_plan`` (default: on with time windows) makes every mandatory
    stop droppable with a large penalty, so a plan comes back even when not all can be served.

    Warm start: the routes are restored with ``ReadAssignmentFromRoutes``. GLS then runs
    ``SolveFromAssignmentWithParameters`` from that assignment; the ILS entry point takes no
    assignment, so the restored one is given as first-solution hint to LOCAL_CHEAPEST_INSERTION
    (``SetFirstSolutionHint``) and, should the search end worse than the warm start, the warm
    start itself is returned: the result is never worse than the routes given.

    If the configured first solution finds nothing (e.g. savings with reload trips) and time
    remains, the search is retried with :data:`FALLBACK_CONFIG` (noted in ``notes``).

    ``solution_limit``: stop after that many solutions (reproducible); the time limit or
    ``deadline`` is then a safety net, and reaching it returns no plan, status
    :data:`SAFETY_NET_TIMEOUT`.
    """
    t0 = time.time()
    cfg = config or default_configs(problem)[0]
    if always_return_plan is None:
        always_return_plan = problem.has_time_windows
    end = deadline if deadline is not None else t0 + time_limit_s
    searched = replace(problem, vehicle_chains=()) if cfg.relax_chains and problem.vehicle_chains else problem
    model, assignment, status, notes, cfg_used, had_first = _run_search(searched, cfg, end, initial_routes,
                                                                        always_return_plan, solution_limit)
    if assignment is None and status != SAFETY_NET_TIMEOUT and cfg != FALLBACK_CONFIG and end - time.time() > 0.2:
        notes.append(f"{cfg.name} found no solution ({status}): retried with {FALLBACK_CONFIG.name}")
        searched = problem
        model, assignment, status, notes2, cfg_used, had_first = _run_search(
            problem, FALLBACK_CONFIG, end, initial_routes, always_return_plan, solution_limit)
        notes.extend(notes2)
    if assignment is None:
        return VRPSolution(routes=[], total_distance=0, dropped=problem.customers(), status=status, objective=-1,
                           config=asdict(cfg_used), wall_time_s=time.time() - t0, notes=notes,
                           runs=[{"config": cfg_used.name, "objective": -1, "distance": 0,
                                  "dropped": len(problem.customers()), "status": status,
                                  "first_solution_found": had_first,
                                  "wall_time_s": round(time.time() - t0, 3)}])
    routes, dropped = _extract(searched, model, assignment)
    if searched is not problem:
        # searched without the trip chains (they make the insertion heuristics crawl): schedule
        # each truck's trips one after the other, swapping trips between trucks while that helps;
        # check_routes below judges the result
        routes = balance_trips(problem, routes)
        notes.append(f"{cfg_used.name}: searched without the trip chains, trips then scheduled one after the other")
    total = sum(r.distance for r in routes)
    used = sum(1 for r in routes if len(r.nodes) > 2)
    penalties = 0
    for i in dropped:
        p = problem.drop_penalties[i] if problem.drop_penalties is not None else None
        penalties += int(p if p is not None else (model.mandatory_penalty or 0))
    sol = VRPSolution(
        routes=routes,
        total_distance=total,
        dropped=dropped,
        status=status,
        objective=total + int(problem.vehicle_fixed_cost) * used + penalties,
        config=asdict(cfg_used),
        wall_time_s=time.time() - t0,
        notes=notes,
    )
    sol.violations = check_routes(problem, routes)
    sol.runs = [{"config": cfg_used.name, "objective": sol.objective, "distance": sol.total_distance,
                 "dropped": len(dropped), "status": status, "wall_time_s": round(sol.wall_time_s, 3)}]
    return sol


def _run_search(problem: VRPProblem, cfg: SearchConfig, end: float,
                initial_routes: Sequence[Sequence[int]] | None, always_return_plan: bool,
                solution_limit: int | None = None):
    """Build the model and run one configured search until ``end``; see :func:`solve_single`."""
    from ortools.constraint_solver import routing_enums_pb2

    extra_cost = 0
    if cfg.vehicle_cost_factor:
        cust = problem.customers()
        mean_depot = float(problem.distance[problem.depot, cust].mean()) if cust else 0.0
        extra_cost = int(round(cfg.vehicle_cost_factor * mean_depot))
    model = _build_model(problem, always_return_plan, extra_cost)
    routing = model.routing
    notes: list[str] = []
    use_ils = cfg.metaheuristic == "ILS" and ils_available()
    if cfg.metaheuristic == "ILS" and not use_ils:
        notes.append("iterated local search unavailable: guided local search used")

    warm = None
    if initial_routes:
        try:
            idx_routes = _routes_to_model_indices(model, problem, initial_routes)
            params0 = build_search_parameters(cfg, max(0.1, end - time.time()), problem.has_time_windows,
                                              num_nodes=problem.num_nodes)
            routing.CloseModelWithParameters(params0)
            warm = routing.ReadAssignmentFromRoutes(idx_routes, True)
        except Exception as exc:  # noqa: BLE001 - reported, search continues without it
            notes.append(f"warm start rejected: {exc}")
            warm = None
        if warm is None:
            if not any("rejected" in n for n in notes):
                notes.append("warm start rejected: routes are not feasible for this model")
            # A failed restore can leave the closed model unusable: start from a fresh one.
            model = _build_model(problem, always_return_plan, extra_cost)
            routing = model.routing
        else:
            warm = _copy_assignment(routing, warm)
            notes.append(f"warm start accepted (objective {warm.ObjectiveValue()})")

    cfg_used = cfg
    if warm is not None and use_ils:
        cfg_used = replace(cfg, first_solution="LOCAL_CHEAPEST_INSERTION")
    remaining = max(0.05, end - time.time() - 0.05)
    params = build_search_parameters(cfg_used, remaining, problem.has_time_windows, solution_limit,
                                     problem.num_nodes)
    if use_ils:
        params.use_iterated_local_search = True
        if warm is not None:
            routing.SetFirstSolutionHint(warm)
        assignment = routing.SolveWithIteratedLocalSearch(params)
    elif warm is not None:
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.AUTOMATIC
        assignment = routing.SolveFromAssignmentWithParameters(warm, params)
    else:
        assignment = routing.SolveWithParameters(params)
    status = _status_name(routing)
    if assignment is not None and status == "ROUTING_NOT_SOLVED":
        # SolveWithIteratedLocalSearch does not update RoutingModel.status() in 9.15.
        status = "ROUTING_SUCCESS"
    if solution_limit is not None and time.time() >= end - 0.1:
        # the wall-clock net stopped the search before its solution limit: what it found depends
        # on machine load, so no plan (the caller keeps its last good one or fails)
        notes.append(f"{cfg_used.name}: wall-clock safety net reached before {solution_limit} solutions "
                     f"(machine too slow or the limit too high; a first solution "
                     f"{'was' if assignment is not None else 'was not'} found): no reproducible plan")
        return model, None, SAFETY_NET_TIMEOUT, notes, cfg_used, assignment is not None
    if warm is not None:
        notes.append(f"search objective {assignment.ObjectiveValue() if assignment is not None else None}")
        if assignment is None or assignment.ObjectiveValue() > warm.ObjectiveValue():
            notes.append("search did not improve on the warm start: warm start returned")
            assignment = warm
    return model, assignment, status, notes, cfg_used, assignment is not None


def _copy_assignment(routing, assignment):
    """Copy an assignment so the hint outlives the solver's own assignment buffers."""
    copy = routing.solver().Assignment(assignment)
    return copy


def _worker(args: tuple) -> VRPSolution:
    problem, cfg, deadline, initial_routes, always_return_plan, solution_limit = args
    return solve_single(problem, cfg, initial_routes=initial_routes, always_return_plan=always_return_plan,
                        deadline=deadline, solution_limit=solution_limit)


def _best(results: Sequence[VRPSolution]) -> VRPSolution:
    """The best of several runs' solutions (the first among equals)."""
    best = results[0]
    for r in results[1:]:
        if _better(r, best):
            best = r
    return best


def _better(a: VRPSolution, b: VRPSolution) -> bool:
    """True when ``a`` beats ``b``: a plan over none, fewer violations/dropped, lower objective."""
    ka = (not a.found, len(a.violations) > 0, len(a.dropped), a.objective, a.total_distance)
    kb = (not b.found, len(b.violations) > 0, len(b.dropped), b.objective, b.total_distance)
    return ka < kb


def _chain_fallback(problem: VRPProblem, best: VRPSolution, relaxed: Sequence[VRPSolution], deadline: float,
                    initial_routes, always_return_plan, solution_limit) -> VRPSolution:
    """Trip chains: when the chain-relaxed ILS broke a chain and the plan kept leaves stops that
    plan served (guided local search from the empty plan cannot insert stops that need a reload),
    :data:`CHAIN_FALLBACK` (GLS from parallel insertion on the full model; slow there, so only
    then) runs after, and the best of all is kept. Decided on the plans, not the clock."""
    if not relaxed or not best.found or not (best.violations or len(best.dropped) > min(len(r.dropped) for r in relaxed)):
        return best
    full = solve_single(problem, CHAIN_FALLBACK, initial_routes=initial_routes, always_return_plan=always_return_plan,
                        deadline=deadline, solution_limit=solution_limit)
    runs = best.runs + full.runs
    if full.status == SAFETY_NET_TIMEOUT and solution_limit is not None:
        full.notes = best.notes + full.notes + ["the full-model search after a broken trip chain reached the safety "
                                                "net: no reproducible plan"]
        full.runs = runs
        return full
    out = _best([best, full])
    out.runs = runs
    out.notes = out.notes + [f"a trip chain broke or stops were left: {CHAIN_FALLBACK.name} run after the pair"]
    return out


def solve_parallel(
    problem: VRPProblem,
    time_limit_s: float = 30.0,
    configs: Sequence[SearchConfig] | None = None,
    workers: int | None = None,
    initial_routes: Sequence[Sequence[int]] | None = None,
    always_return_plan: bool | None = None,
    solution_limit: int | None = None,
) -> VRPSolution:
    """Solve ``problem`` within ``time_limit_s`` wall-clock seconds and return the best plan.

    With ``solution_limit`` each search stops after that many solutions and the plan does not
    depend on machine load; ``time_limit_s`` is then the safety net (see :func:`solve_single`):
    should any of the parallel searches reach it, the whole solve returns no plan.

    ``configs`` (default :func:`default_configs`) are run side by side, one spawned process per
    configuration, at most ``workers`` at a time (default: ``min(len(configs), os.cpu_count())``);
    with one worker, or one configuration, the search runs in this process. The better solution
    is returned; ``solution.runs`` lists every run.
    """
    t0 = time.time()
    cfgs = list(configs) if configs is not None else default_configs(problem)
    if workers is None:
        workers = min(len(cfgs), os.cpu_count() or 1)
    deadline = t0 + time_limit_s
    if workers <= 1 or len(cfgs) == 1:
        best = solve_single(problem, cfgs[0], initial_routes=initial_routes, always_return_plan=always_return_plan,
                            deadline=deadline, solution_limit=solution_limit)
        if cfgs[0].relax_chains and len(cfgs) > 1 and best.found and best.violations:
            # searched without the trip chains and a chain broke once scheduled: the next
            # search runs after it, as it would have beside it on two cores
            relaxed = best
            other = solve_single(problem, cfgs[1], initial_routes=initial_routes,
                                 always_return_plan=always_return_plan, deadline=deadline,
                                 solution_limit=solution_limit)
            runs = best.runs + other.runs
            best = other if other.status == SAFETY_NET_TIMEOUT and solution_limit is not None else _best([best, other])
            best.runs = runs
            best.notes = best.notes + [f"{cfgs[0].name} broke a trip chain: {cfgs[1].name} run after it"]
            best = _chain_fallback(problem, best, [relaxed], deadline, initial_routes, always_return_plan,
                                   solution_limit)
        best.wall_time_s = time.time() - t0
        return best
    jobs = [(problem, c, deadline, initial_routes, always_return_plan, solution_limit) for c in cfgs]
    results, lost = [], []
    try:
        # closed and joined when done, SIGKILLed when a search is given up (models/routing/pools.py)
        with spawn_pool(min(workers, len(cfgs))) as pool:
            pending = [(c.name, pool.apply_async(_worker, (job,))) for c, job in zip(cfgs, jobs)]
            for name, res in pending:
                # a worker that dies or hangs (killed, out of memory, a stuck start-up) must not
                # hang the caller: wait until the deadline plus a start-up allowance, then give up
                try:
                    results.append(res.get(timeout=max(1.0, deadline - time.time()) + WORKER_GRACE_S))
                except mp.TimeoutError:
                    lost.append(name)
            if lost:
                kill_pool(pool)  # SIGKILL: a stuck search cannot ignore it
    except (AssertionError, OSError) as exc:
        # e.g. inside a daemonic worker ("daemonic processes are not allowed to have children").
        best = solve_single(problem, cfgs[0], initial_routes=initial_routes, always_return_plan=always_return_plan,
                            deadline=deadline, solution_limit=solution_limit)
        best.notes.append(f"parallel runs unavailable ({exc}); one search run in-process")
        best.wall_time_s = time.time() - t0
        return best
    if not results and solution_limit is not None:
        return VRPSolution(routes=[], total_distance=0, dropped=problem.customers(), status=SAFETY_NET_TIMEOUT,
                           objective=-1, config={}, wall_time_s=time.time() - t0,
                           notes=[f"parallel runs {lost} returned nothing in time: no reproducible plan"])
    if not results:
        best = solve_single(problem, cfgs[0], initial_routes=initial_routes, always_return_plan=always_return_plan,
                            deadline=time.time() + max(1.0, min(time_limit_s, 10.0)), solution_limit=solution_limit)
        best.notes.append(f"parallel runs {lost} returned nothing in time; one search run in-process")
        best.wall_time_s = time.time() - t0
        return best
    best = _best(results)
    runs = [run for r in results for run in r.runs] or [{"config": c.name} for c in cfgs]
    timed_out = [r for r in results if r.status == SAFETY_NET_TIMEOUT]
    finished = [r for r in results if r.status != SAFETY_NET_TIMEOUT]
    if solution_limit is not None and timed_out and finished and not lost \
            and not any(run.get("first_solution_found") for r in timed_out for run in r.runs):
        # a run that found not even a first solution by the safety net (the ILS recreate step can
        # fail to insert stops that need a reload) is left out: the plan is the best run that
        # reached its solution limit, the same on an idle or a loaded machine
        best = _best(finished)
        best.notes = best.notes + [f"runs {[run.get('config') for r in timed_out for run in r.runs]} "
                                   "found no first solution before the safety net: left out"]
        timed_out = []
    if solution_limit is not None and (timed_out or lost):
        # which run wins must not depend on which one the clock stopped: no plan
        best = timed_out[0] if timed_out else VRPSolution(
            routes=[], total_distance=0, dropped=problem.customers(), status=SAFETY_NET_TIMEOUT, objective=-1,
            config={}, wall_time_s=0.0)
        best.notes = best.notes + [f"runs {[c.name for c in cfgs]}: one stopped by the wall-clock safety net "
                                   f"or lost: no reproducible plan"]
    best.runs = runs
    if best.status != SAFETY_NET_TIMEOUT:
        best = _chain_fallback(problem, best, [r for r in results if r.config.get("relax_chains")], deadline,
                               initial_routes, always_return_plan, solution_limit)
    if lost:
        best.notes.append(f"parallel runs {lost} returned nothing in time and were stopped")
    best.wall_time_s = time.time() - t0
    return best
