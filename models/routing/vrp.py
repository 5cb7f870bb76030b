"""Capacitated vehicle routing with OR-Tools 9.15: the library's entry point.

The code is split by idea: :mod:`models.routing.problem` (dataclasses), :mod:`.config` (search
configurations -> OR-Tools parameters), :mod:`.model` (the OR-Tools model), :mod:`.checks`
(route description and the independent feasibility check), :mod:`.search` (one search, two
side by side), :mod:`.decompose` (large problems, sector by sector). This module re-exports
them and holds :func:`solve`, which picks the search for the problem's size.

The module is a plain library (no Dagster): build a :class:`VRPProblem` from integer matrices,
call :func:`solve`, read the :class:`VRPSolution`. It works on any instance: the benchmark
readers in :mod:`models.routing.instances` turn CVRPLIB / Solomon files into problems with
:func:`problem_from_instance`.

Model
-----
* Arc cost = the integer ``distance`` matrix, registered with ``RegisterTransitMatrix`` (a
  Python callback is several times slower). ``travel_time`` (defaults to ``distance``) plus the
  service time of the origin node drive a "Time" dimension, also registered as a transit matrix;
  the dimension is only created when there is something to constrain (time windows, shift length)
  so plain CVRP keeps a lean model.
* One or two load dimensions (``demands`` in kg and optional ``volumes``) with per-vehicle
  capacities.
* ``time_windows`` per node, ``max_route_duration`` (shift length) as a span upper bound.
* Optional stops: ``drop_penalties[i]`` (``None`` = mandatory) adds ``AddDisjunction([i], p)``;
  the search then always returns a plan and reports the dropped nodes. ``solve`` can also make
  every stop optional with a large penalty (``always_return_plan``), which is what the benchmark
  does for time-window instances.
* Reload trips (``disposal_nodes``): when a truck is full it may drive to a disposal facility,
  unload and continue. Each facility is duplicated into ``max_disposal_trips * num_vehicles``
  optional visits (``AddDisjunction`` with penalty 0). A disposal visit has demand ``-C`` (``C``
  = the largest vehicle capacity) on every load dimension and is the only node whose slack on the
  load dimension is free (``0..C``); everywhere else the slack is fixed to 0. So, with load
  ``l`` on arrival, the load after the visit is ``l - C + s`` for some ``s`` in ``[0, C]``, i.e.
  anything between 0 and ``l``: the truck can unload. Physically it unloads everything; the
  reported loads are recomputed that way, which never exceeds the model's loads.
  ``end_empty=True`` forces every truck to come back empty (its last trip ends at a facility).
* Warm start: ``solve(..., initial_routes=...)`` restores the routes of a previous plan with
  ``ReadAssignmentFromRoutes`` (disposal visits map onto free copies); the result is never worse
  than those routes (see :func:`solve_single`).

Search (chosen by measurement, see ``DEFAULT_CONFIGS`` and ``bench/vrp_bench.py --single``)
-----------------------------------------------------------------------------------------
A first solution, then iterated local search with ruin-and-recreate (SISR ruin, local cheapest
insertion recreate) run through ``RoutingModel.SolveWithIteratedLocalSearch`` with greedy descent
as the inner local search and the pickup-and-delivery and LNS operators switched off. In 9.15
the ILS only runs through that entry point (``use_iterated_local_search`` +
``SolveWithParameters`` silently runs the ordinary search) and its random seed is fixed, so
:func:`solve` runs two *differently configured* searches in two spawned processes (one per
core) and keeps the better: SAVINGS first solution with SISR ruins of ~15 visits, and
PARALLEL_CHEAPEST_INSERTION with ruins of ~25 visits. The first-solution heuristic mattered
most (it fixes the number of routes, which the ILS rarely reduces); PATH_CHEAPEST_ARC, the usual
choice for CVRP, measured worst. With reload trips the pair is ILS + guided local search
(:data:`DISPOSAL_CONFIGS`); with trip chains, two guided local searches from the empty plan
(:data:`CHAIN_CONFIGS`: the chain is invisible to the insertion heuristics). Where ILS is unavailable (older OR-Tools) it falls back to guided
local search, and a run whose first solution fails is retried with :data:`FALLBACK_CONFIG`.

Reproducible plans
------------------
``solution_limit`` (OR-Tools ``RoutingSearchParameters.solution_limit``: the number of solutions
the search may generate, ILS and GLS alike) stops the search after a fixed amount of *work*, so
the same problem gives the same plan on an idle or a loaded machine (one search per process, its
seed fixed). The wall-clock ``time_limit_s`` is then only a safety net: a search that reaches it
before the solution limit would depend on machine load, so it fails loudly with status
:data:`SAFETY_NET_TIMEOUT` (no plan) instead of returning a plan another run would not repeat.
Production callers (waste rounds, road crew days, tree inspections) always pass a solution
limit; without one (the benchmark's default) the search is bounded by wall-clock time as before.

Plain capacitated problems (no time windows; :func:`models.routing.ruin_recreate.supported`)
-----------------------------------------------------------------------------------------
A compiled ruin and recreate on the whole plan (:mod:`models.routing.whole_plan`): at
``LARGE_MIN_STOPS`` stops or more two chains from the savings plan, the better kept; below, OR-Tools'
first configuration beside one chain, the better kept.

Large problems with time windows (``LARGE_MIN_STOPS`` = 220 stops or more, one vehicle type)
--------------------------------------------------------------------------------------------
A savings construction (:mod:`models.routing.construction`), then
:func:`models.routing.decompose.solve_large` re-solves sectors of neighbouring routes (about 80
stops each, two at a time on the two cores) with the iterated local search, keeping a sector's
routes when the search does not beat them, and after each pass a route-pair descent on the whole
plan (:mod:`models.routing.interroute`: relocate, swap, 2-opt*, 2-opt, SWAP*); see ``docs/routing.md`` for the measurements behind it
and what was dropped.
"""

from __future__ import annotations

import math
from typing import Sequence

from models.routing.checks import _describe_route, _extract, check_routes, routes_distance
from models.routing.config import (
    CHAIN_CONFIGS,
    DEFAULT_CONFIGS,
    DISPOSAL_CONFIGS,
    FALLBACK_CONFIG,
    WORKER_GRACE_S,
    SearchConfig,
    build_search_parameters,
    default_configs,
    ils_available,
)
from models.routing.model import _build_model
from models.routing.problem import SAFETY_NET_TIMEOUT, Route, VRPProblem, VRPSolution
from models.routing.search import solve_parallel, solve_single

__all__ = [
    "VRPProblem",
    "Route",
    "VRPSolution",
    "SearchConfig",
    "DEFAULT_CONFIGS",
    "DISPOSAL_CONFIGS",
    "CHAIN_CONFIGS",
    "FALLBACK_CONFIG",
    "WORKER_GRACE_S",
    "LARGE_MIN_STOPS",
    "default_configs",
    "solve",
    "solve_parallel",
    "solve_single",
    "check_routes",
    "routes_distance",
    "problem_from_instance",
    "ils_available",
    "build_search_parameters",
    "SAFETY_NET_TIMEOUT",
    "_build_model",
    "_describe_route",
    "_extract",
]

# from this many stops on, a decomposable problem is solved sector by sector (see decompose.py;
# X-n228-k23 at 30 s: 3.16 % sector by sector vs 3.49 % whole plan, load 15 on 2 cores)
LARGE_MIN_STOPS = 220


def solve(
    problem: VRPProblem,
    time_limit_s: float = 30.0,
    configs: Sequence[SearchConfig] | None = None,
    workers: int | None = None,
    initial_routes: Sequence[Sequence[int]] | None = None,
    always_return_plan: bool | None = None,
    solution_limit: int | None = None,
) -> VRPSolution:
    """Solve ``problem`` and return the best plan found.

    Plain capacitated problems (no windows, reloads, chains, restrictions, optional stops; no
    ``configs`` or warm start): the compiled ruin and recreate (:mod:`models.routing.whole_plan`).
    Other small problems, problems with reload trips / trip chains / vehicle restrictions, explicit
    ``configs`` or a warm start: :func:`models.routing.search.solve_parallel` (two configured
    searches on two processes, the better kept). Large plain problems: the whole-plan search then
    sector by sector (:func:`models.routing.decompose.solve_large`). ``solution_limit`` makes
    both deterministic (``time_limit_s`` is then the safety net, see :func:`solve_single`).
    """
    from models.routing.decompose import decomposable, solve_large
    from models.routing.whole_plan import solve_with_ortools

    if configs is None and initial_routes is None and len(problem.customers()) < LARGE_MIN_STOPS:
        sol = solve_with_ortools(problem, time_limit_s, workers=2 if workers is None else workers,
                                 solution_limit=solution_limit)
        if sol is not None:
            return sol
    if (configs is None and initial_routes is None and decomposable(problem)
            and len(problem.customers()) >= LARGE_MIN_STOPS):
        return solve_large(problem, time_limit_s, workers=workers, always_return_plan=always_return_plan,
                           solution_limit=solution_limit)
    return solve_parallel(problem, time_limit_s, configs=configs, workers=workers, initial_routes=initial_routes,
                          always_return_plan=always_return_plan, solution_limit=solution_limit)


# --------------------------------------------------------------------------------------------
# Benchmark instances -> problems
# --------------------------------------------------------------------------------------------


def problem_from_instance(instance, num_vehicles: int | None = None) -> VRPProblem:
    """Build a :class:`VRPProblem` from a :class:`models.routing.instances.Instance`.

    CVRP: ``num_vehicles`` defaults to the instance's vehicle hint plus slack (the CVRPLIB
    fleets are unlimited; e.g. the X-n101-k25 BKS uses 26 routes). VRPTW: the instance's (at
    most 25) vehicles, depot window = the horizon.
    """
    if num_vehicles is None:
        k = instance.num_vehicles
        num_vehicles = k if instance.has_time_windows else k + max(3, math.ceil(0.15 * k))
    tws = None
    if instance.has_time_windows:
        tws = [(int(a), int(b)) for a, b in zip(instance.ready, instance.due)]
    return VRPProblem(
        distance=instance.distance,
        travel_time=instance.distance if instance.has_time_windows else None,
        vehicle_capacities=[instance.capacity] * num_vehicles,
        demands=list(instance.demands),
        service_times=list(instance.service) if instance.service is not None else None,
        time_windows=tws,
        depot=instance.depot,
        name=instance.name,
        coords=instance.coords,
    )
