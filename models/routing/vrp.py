"""Capacitated vehicle routing with OR-Tools 9.15: problem/solution dataclasses and the search.

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
(:data:`DISPOSAL_CONFIGS`). Where ILS is unavailable (older OR-Tools) it falls back to guided
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
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import numpy as np

__all__ = [
    "VRPProblem",
    "Route",
    "VRPSolution",
    "SearchConfig",
    "DEFAULT_CONFIGS",
    "DISPOSAL_CONFIGS",
    "default_configs",
    "solve",
    "solve_single",
    "check_routes",
    "routes_distance",
    "problem_from_instance",
    "ils_available",
    "SAFETY_NET_TIMEOUT",
]

# status of a search stopped by the wall-clock safety net before its solution limit: no plan
SAFETY_NET_TIMEOUT = "SAFETY_NET_TIMEOUT"


# --------------------------------------------------------------------------------------------
# Problem and solution
# --------------------------------------------------------------------------------------------


@dataclass
class VRPProblem:
    """A vehicle-routing problem in integer units over nodes ``0..n-1``.

    Attributes:
        distance: (n, n) integer arc costs (e.g. metres); the objective is their sum.
        vehicle_capacities: capacity (same unit as ``demands``) per vehicle; its length is the
            fleet size.
        demands: load picked up at each node (kg); the depot and disposal nodes should be 0.
        travel_time: (n, n) integer travel times (e.g. seconds); defaults to ``distance``.
        volumes: optional second load dimension (e.g. litres) per node.
        vehicle_volume_capacities: per-vehicle capacity for ``volumes`` (required with them).
        service_times: time spent at each node (added to the travel time leaving it).
        time_windows: optional ``(earliest, latest)`` start-of-service time per node (``None``
            entries = unconstrained). The depot's window bounds departure and return.
        max_route_duration: shift length: upper bound on (return time - departure time).
        depot: index of the depot (start and end of every route).
        drop_penalties: per node ``None`` (mandatory) or the integer penalty paid if it is not
            visited (``AddDisjunction``).
        disposal_nodes: nodes of disposal facilities where a full truck unloads (reload trips).
        max_disposal_trips: disposal visits available per vehicle and facility.
        disposal_service_time: time spent unloading (overrides ``service_times`` there).
        end_empty: every route must unload before returning to the depot.
        vehicle_fixed_cost: cost added per used vehicle.
        allowed_vehicles: per node ``None`` (any vehicle) or the vehicles that may serve it
            (e.g. trips of the waste stream a bin holds).
        vehicle_chains: pairs ``(a, b)``: vehicle ``b`` leaves the depot only after ``a`` is
            back (two trips of one physical truck); needs the time dimension.
        name: label used in logs and results.
    """

    distance: Any
    vehicle_capacities: Sequence[int]
    demands: Sequence[int]
    travel_time: Any | None = None
    volumes: Sequence[int] | None = None
    vehicle_volume_capacities: Sequence[int] | None = None
    service_times: Sequence[int] | None = None
    time_windows: Sequence[tuple[int, int] | None] | None = None
    max_route_duration: int | None = None
    depot: int = 0
    drop_penalties: Sequence[int | None] | None = None
    disposal_nodes: Sequence[int] = ()
    max_disposal_trips: int = 3
    disposal_service_time: int | None = None
    end_empty: bool = False
    vehicle_fixed_cost: int = 0
    allowed_vehicles: Sequence[Sequence[int] | None] | None = None
    vehicle_chains: Sequence[tuple[int, int]] = ()
    name: str = "vrp"

    def __post_init__(self) -> None:
        self.distance = np.asarray(self.distance, dtype=np.int64)
        n = self.distance.shape[0]
        if self.distance.shape != (n, n):
            raise ValueError("distance must be a square matrix")
        if self.travel_time is not None:
            self.travel_time = np.asarray(self.travel_time, dtype=np.int64)
            if self.travel_time.shape != (n, n):
                raise ValueError("travel_time must have the shape of distance")
        if len(self.demands) != n:
            raise ValueError("demands must have one entry per node")
        if self.volumes is not None:
            if len(self.volumes) != n:
                raise ValueError("volumes must have one entry per node")
            if self.vehicle_volume_capacities is None or len(self.vehicle_volume_capacities) != len(
                self.vehicle_capacities
            ):
                raise ValueError("volumes need vehicle_volume_capacities, one per vehicle")
        for name in ("service_times", "time_windows", "drop_penalties", "allowed_vehicles"):
            seq = getattr(self, name)
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} must have one entry per node")
        if not 0 <= self.depot < n:
            raise ValueError("depot out of range")
        if self.depot in set(self.disposal_nodes):
            raise ValueError("the depot cannot be a disposal node")
        if len(self.vehicle_capacities) == 0:
            raise ValueError("at least one vehicle is needed")

    @property
    def num_nodes(self) -> int:
        return int(self.distance.shape[0])

    @property
    def num_vehicles(self) -> int:
        return len(self.vehicle_capacities)

    @property
    def has_time_windows(self) -> bool:
        return self.time_windows is not None and any(tw is not None for tw in self.time_windows)

    @property
    def needs_time_dimension(self) -> bool:
        return self.has_time_windows or self.max_route_duration is not None or bool(self.vehicle_chains)

    def customers(self) -> list[int]:
        """Nodes that are neither the depot nor a disposal facility."""
        skip = {self.depot, *self.disposal_nodes}
        return [i for i in range(self.num_nodes) if i not in skip]


@dataclass
class Route:
    """One vehicle's tour. ``nodes`` starts and ends with the depot (original node ids; disposal
    visits appear as the facility's id). ``arrival_times`` / ``start_times`` are the arrival and
    start-of-service times of the earliest schedule from the route's departure time;
    ``loads`` / ``volume_loads`` the load on board when leaving each node."""

    vehicle: int
    nodes: list[int]
    arrival_times: list[int]
    start_times: list[int]
    loads: list[int]
    volume_loads: list[int] | None
    distance: int
    duration: int


@dataclass
class VRPSolution:
    """Result of :func:`solve`.

    ``objective`` is OR-Tools' objective (distance + drop penalties + fixed costs);
    ``total_distance`` the distance only; ``dropped`` the unvisited customers;
    ``violations`` what :func:`check_routes` found (empty when feasible);
    ``config`` the search configuration that produced it and ``runs`` a summary of every
    parallel run.
    """

    routes: list[Route]
    total_distance: int
    dropped: list[int]
    status: str
    objective: int
    config: dict
    wall_time_s: float
    violations: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.objective >= 0 and self.status not in ("ROUTING_FAIL", "ROUTING_INVALID", "ROUTING_INFEASIBLE",
                                                           "ROUTING_NOT_SOLVED", "ROUTING_FAIL_TIMEOUT",
                                                           SAFETY_NET_TIMEOUT)

    @property
    def feasible(self) -> bool:
        """A plan came back, it serves every customer and violates no constraint."""
        return self.found and not self.dropped and not self.violations

    @property
    def vehicles_used(self) -> int:
        return sum(1 for r in self.routes if len(r.nodes) > 2)

    def customer_routes(self, problem: VRPProblem) -> list[list[int]]:
        """Routes without the depot (disposal visits kept), e.g. to warm-start the next solve."""
        return [[n for n in r.nodes[1:-1]] for r in self.routes if len(r.nodes) > 2]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["feasible"] = self.feasible
        d["vehicles_used"] = self.vehicles_used
        return d


# --------------------------------------------------------------------------------------------
# Search configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchConfig:
    """One search configuration (picklable, goes to a worker process).

    ``first_solution``: an OR-Tools FirstSolutionStrategy name or ``"AUTO"``
    (PARALLEL_CHEAPEST_INSERTION, see :meth:`resolved_first_solution`).
    ``metaheuristic``: ``"ILS"`` (ruin-and-recreate through SolveWithIteratedLocalSearch) or
    ``"GLS"`` (guided local search via SolveWithParameters).
    ``sisr_*``: SISR ruin (average removed visits, max removed sequence, split bypass factor).
    ``acceptance``: ILS reference-solution acceptance: ``"greedy"`` or ``"sa"`` (simulated
    annealing, automatic temperatures unless ``sa_initial_temperature`` is set).
    ``inner``: local-search metaheuristic used inside ILS (GREEDY_DESCENT).
    ``lean_operators``: switch off the pickup-delivery and LNS operators.
    ``vehicle_cost_factor``: during the search only, add a cost per used vehicle of this factor
    times the mean depot-to-stop distance (steers towards fewer routes); the reported objective
    is always the problem's own (distance + fixed costs + drop penalties).
    """

    name: str = "ils-sisr"
    first_solution: str = "AUTO"
    metaheuristic: str = "ILS"
    sisr_avg_removed: int = 15
    sisr_max_sequence: int = 10
    sisr_bypass_factor: float = 0.01
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    acceptance: str = "greedy"
    sa_initial_temperature: float | None = None
    sa_final_temperature: float | None = None
    inner: str = "GREEDY_DESCENT"
    lean_operators: bool = True
    route_selection_min_neighbors: int | None = None
    route_selection_max_neighbors: int | None = None
    gls_lambda: float | None = None
    vehicle_cost_factor: float = 0.0

    def resolved_first_solution(self, has_time_windows: bool) -> str:
        """AUTO = PARALLEL_CHEAPEST_INSERTION: measured better than PATH_CHEAPEST_ARC on CVRP
        too (mean gap 1.05 % vs 1.55 % at 30 s) and the README's choice with time windows."""
        if self.first_solution != "AUTO":
            return self.first_solution
        return "PARALLEL_CHEAPEST_INSERTION"


def default_configs(problem: VRPProblem | None = None) -> list[SearchConfig]:
    """The two configurations :func:`solve` runs side by side for ``problem``.

    Plain CVRP / VRPTW: :data:`DEFAULT_CONFIGS` (chosen by measurement, see below). With
    disposal facilities: :data:`DISPOSAL_CONFIGS`, because the savings heuristic finds no first
    solution when trucks must reload (it cannot place the optional, zero-penalty disposal visits).
    """
    if problem is not None and problem.disposal_nodes:
        return list(DISPOSAL_CONFIGS)
    return list(DEFAULT_CONFIGS)


# Chosen by measurement (bench/vrp_bench.py --single ..., 30 s, one process per run, 8 CVRP +
# 3 Solomon instances, load average 4-6 on the 2-core machine). Single runs, mean gap CVRP /
# Solomon: PATH_CHEAPEST_ARC first solution 1.55 / 0.57 %, PARALLEL_CHEAPEST_INSERTION 1.05 /
# 0.30 %, SAVINGS 1.09 / 0.17 %, PCI with SISR ruin 25 (max sequence 15) 1.05 / 0.02 %; the
# first solution mattered more than the ruin size or the acceptance (simulated annealing
# 1.52 vs greedy 1.55). Best of two over all 66 pairs of 12 measured configurations: SAVINGS +
# PCI/SISR-25 0.63 / 0.02 % (next: 0.74, 0.75, 0.77).
DEFAULT_CONFIGS: tuple[SearchConfig, ...] = (
    SearchConfig(name="ils-savings-sisr15", first_solution="SAVINGS", sisr_avg_removed=15, sisr_max_sequence=10),
    SearchConfig(name="ils-pci-sisr25", first_solution="PARALLEL_CHEAPEST_INSERTION", sisr_avg_removed=25,
                 sisr_max_sequence=15),
)

# With reload trips: the ILS on an insertion first solution plus guided local search (a
# different search, robust when the ILS recreate step cannot insert a stop that needs a reload).
DISPOSAL_CONFIGS: tuple[SearchConfig, ...] = (
    DEFAULT_CONFIGS[1],
    SearchConfig(name="gls-pci", first_solution="PARALLEL_CHEAPEST_INSERTION", metaheuristic="GLS"),
)

# how long past the deadline a spawned search may take to report (start-up under load, pickling)
# before it is given up and stopped
WORKER_GRACE_S = 60.0

FALLBACK_CONFIG = SearchConfig(name="fallback-gls-pci", first_solution="PARALLEL_CHEAPEST_INSERTION",
                               metaheuristic="GLS")


_PD_OPERATORS = (
    "use_relocate_pair", "use_light_relocate_pair", "use_exchange_pair", "use_relocate_subtrip",
    "use_exchange_subtrip", "use_node_pair_swap_active",
)
_LNS_OPERATORS = (
    "use_global_cheapest_insertion_path_lns", "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns", "use_local_cheapest_insertion_visit_types_lns",
    "use_global_cheapest_insertion_expensive_chain_lns", "use_local_cheapest_insertion_expensive_chain_lns",
    "use_global_cheapest_insertion_close_nodes_lns", "use_local_cheapest_insertion_close_nodes_lns",
    "use_path_lns", "use_full_path_lns", "use_tsp_lns", "use_inactive_lns",
)


def ils_available() -> bool:
    """True when this OR-Tools exposes SolveWithIteratedLocalSearch and the ILS parameters."""
    from ortools.constraint_solver import pywrapcp

    params = pywrapcp.DefaultRoutingSearchParameters()
    return hasattr(pywrapcp.RoutingModel, "SolveWithIteratedLocalSearch") and hasattr(
        params, "iterated_local_search_parameters"
    )


def build_search_parameters(cfg: SearchConfig, time_limit_s: float, has_time_windows: bool,
                            solution_limit: int | None = None):
    """Turn a :class:`SearchConfig` into OR-Tools ``RoutingSearchParameters`` (with
    ``solution_limit``, the deterministic bound; ``time_limit_s`` stays as the wall-clock net)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    from ortools.util import optional_boolean_pb2

    fss = routing_enums_pb2.FirstSolutionStrategy
    lsm = routing_enums_pb2.LocalSearchMetaheuristic
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = fss.Value.Value(cfg.resolved_first_solution(has_time_windows))
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = max(1, int(solution_limit))
    ops = params.local_search_operators
    if cfg.lean_operators:
        for name in _PD_OPERATORS + _LNS_OPERATORS:
            if hasattr(ops, name):
                setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    if cfg.metaheuristic == "ILS" and ils_available():
        from ortools.constraint_solver import routing_ils_pb2

        params.use_iterated_local_search = True
        params.local_search_metaheuristic = lsm.Value.Value(cfg.inner)
        ils = params.iterated_local_search_parameters
        ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
        ils.improve_perturbed_solution = True
        rr = ils.ruin_recreate_parameters
        del rr.ruin_strategies[:]
        sisr = rr.ruin_strategies.add().sisr
        sisr.avg_num_removed_visits = cfg.sisr_avg_removed
        sisr.max_removed_sequence_size = cfg.sisr_max_sequence
        sisr.bypass_factor = cfg.sisr_bypass_factor
        rr.recreate_strategy.heuristic = fss.Value.Value(cfg.recreate)
        if cfg.route_selection_min_neighbors is not None:
            rr.route_selection_min_neighbors = cfg.route_selection_min_neighbors
        if cfg.route_selection_max_neighbors is not None:
            rr.route_selection_max_neighbors = cfg.route_selection_max_neighbors
        acc = ils.reference_solution_acceptance_strategy
        acc.Clear()
        if cfg.acceptance == "greedy":
            acc.greedy_descent.SetInParent()
        elif cfg.acceptance == "sa":
            sa = acc.simulated_annealing
            sa.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
            if cfg.sa_initial_temperature is None:
                sa.automatic_temperatures = True
            else:
                sa.initial_temperature = cfg.sa_initial_temperature
                sa.final_temperature = cfg.sa_final_temperature or cfg.sa_initial_temperature / 1000
        else:
            raise ValueError(f"unknown acceptance {cfg.acceptance!r}")
        ils.best_solution_acceptance_strategy.Clear()
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
    else:
        params.local_search_metaheuristic = lsm.GUIDED_LOCAL_SEARCH
        if cfg.gls_lambda is not None:
            params.guided_local_search_lambda_coefficient = cfg.gls_lambda
    return params


# --------------------------------------------------------------------------------------------
# Model building
# --------------------------------------------------------------------------------------------


@dataclass
class _Model:
    manager: Any
    routing: Any
    node_of: list[int]  # model node -> problem node
    disposal_copies: dict[int, list[int]]  # facility -> model nodes
    time_dim: Any | None
    mandatory_penalty: int | None
    hint: Any = None


def _default_drop_penalty(problem: VRPProblem) -> int:
    """A penalty larger than any route cost change from serving one more stop."""
    return int(max(1, int(problem.distance.max())) * 2 * (problem.num_nodes + 1)) + problem.vehicle_fixed_cost * 2


def _build_model(problem: VRPProblem, always_return_plan: bool, extra_vehicle_cost: int = 0) -> _Model:
    from ortools.constraint_solver import pywrapcp

    n = problem.num_nodes
    depot = problem.depot
    disposal = list(dict.fromkeys(problem.disposal_nodes))
    copies_per_facility = max(1, problem.max_disposal_trips * problem.num_vehicles) if disposal else 0
    node_of = list(range(n))
    disposal_copies: dict[int, list[int]] = {}
    for f in disposal:
        disposal_copies[f] = [f] + [len(node_of) + k for k in range(copies_per_facility - 1)]
        node_of.extend([f] * (copies_per_facility - 1))
    is_disposal = [False] * len(node_of)
    for f, cps in disposal_copies.items():
        for c in cps:
            is_disposal[c] = True
    idx = np.asarray(node_of)

    dist = problem.distance[np.ix_(idx, idx)].copy()
    if disposal and problem.needs_time_dimension:
        # going from one unloading straight to another is pointless: with a clock running, make
        # it costly, else the zero-penalty copies chain for free and eat the shift (seen on the
        # waste collection plans)
        dmask = np.asarray(is_disposal)
        block = dmask[:, None] & dmask[None, :]
        np.fill_diagonal(block, False)
        dist[block] = int(max(1, int(problem.distance.max()))) * 10
    manager = pywrapcp.RoutingIndexManager(len(node_of), problem.num_vehicles, depot)
    routing = pywrapcp.RoutingModel(manager)
    dist_cb = routing.RegisterTransitMatrix(dist.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(dist_cb)
    if problem.vehicle_fixed_cost or extra_vehicle_cost:
        routing.SetFixedCostOfAllVehicles(int(problem.vehicle_fixed_cost) + int(extra_vehicle_cost))

    # Load dimensions (kg, then volume).
    loads = [("Load", problem.demands, problem.vehicle_capacities)]
    if problem.volumes is not None:
        loads.append(("Volume", problem.volumes, problem.vehicle_volume_capacities))
    for dim_name, dem, caps in loads:
        cap_max = int(max(caps))
        values = [(-cap_max if is_disposal[m] else int(dem[node_of[m]])) for m in range(len(node_of))]
        cb = routing.RegisterUnaryTransitVector(values)
        slack = cap_max if disposal else 0
        routing.AddDimensionWithVehicleCapacity(cb, slack, [int(c) for c in caps], True, dim_name)
        dim = routing.GetDimensionOrDie(dim_name)
        if disposal:
            for m in range(len(node_of)):
                if m == depot or is_disposal[m]:
                    continue
                dim.SlackVar(manager.NodeToIndex(m)).SetValue(0)
            for v in range(problem.num_vehicles):
                dim.SlackVar(routing.Start(v)).SetValue(0)
                if problem.end_empty:
                    dim.CumulVar(routing.End(v)).SetMax(0)

    # Time dimension (only when something constrains time).
    time_dim = None
    if problem.needs_time_dimension:
        tt = problem.travel_time if problem.travel_time is not None else problem.distance
        service = np.zeros(n, dtype=np.int64) if problem.service_times is None else np.asarray(problem.service_times, dtype=np.int64)
        if disposal and problem.disposal_service_time is not None:
            service = service.copy()
            service[disposal] = problem.disposal_service_time
        tmat = tt[np.ix_(idx, idx)] + service[idx][:, None]
        tmat[np.arange(len(idx)), np.arange(len(idx))] = 0
        time_cb = routing.RegisterTransitMatrix(tmat.tolist())
        tws = problem.time_windows or [None] * n
        depot_tw = tws[depot]
        horizon = int(tmat.max()) * (len(idx) + 1) if tmat.size else 0
        if problem.has_time_windows:
            horizon = max(int(tw[1]) for tw in tws if tw is not None)
        if problem.max_route_duration is not None and not problem.has_time_windows:
            horizon = int(problem.max_route_duration)
        routing.AddDimension(time_cb, horizon, horizon, depot_tw is None and not problem.has_time_windows, "Time")
        time_dim = routing.GetDimensionOrDie("Time")
        for m in range(len(idx)):
            tw = tws[node_of[m]]
            if m == depot or tw is None:
                continue
            time_dim.CumulVar(manager.NodeToIndex(m)).SetRange(int(tw[0]), int(tw[1]))
        for v in range(problem.num_vehicles):
            if depot_tw is not None:
                time_dim.CumulVar(routing.Start(v)).SetRange(int(depot_tw[0]), int(depot_tw[1]))
                time_dim.CumulVar(routing.End(v)).SetRange(int(depot_tw[0]), int(depot_tw[1]))
            if problem.max_route_duration is not None:
                time_dim.SetSpanUpperBoundForVehicle(int(problem.max_route_duration), v)
                routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
                routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))

    if problem.allowed_vehicles is not None:
        for m in range(n):
            av = problem.allowed_vehicles[m]
            if av is not None and m != depot and not is_disposal[m]:
                # (SetAllowedVehiclesForIndex takes an absl::Span the 9.15 Python binding cannot build)
                routing.VehicleVar(manager.NodeToIndex(m)).SetValues([-1, *[int(v) for v in av]])
    if problem.vehicle_chains and time_dim is not None:
        solver = routing.solver()
        for a, b in problem.vehicle_chains:
            solver.Add(time_dim.CumulVar(routing.End(int(a))) <= time_dim.CumulVar(routing.Start(int(b))))

    # Optional stops.
    mandatory_penalty = _default_drop_penalty(problem) if always_return_plan else None
    for m in range(n):
        if m == depot or is_disposal[m]:
            continue
        p = problem.drop_penalties[m] if problem.drop_penalties is not None else None
        if p is None:
            p = mandatory_penalty
        if p is not None:
            routing.AddDisjunction([manager.NodeToIndex(m)], int(p))
    for cps in disposal_copies.values():
        for c in cps:
            routing.AddDisjunction([manager.NodeToIndex(c)], 0)
    return _Model(manager, routing, node_of, disposal_copies, time_dim, mandatory_penalty)


def _routes_to_model_indices(model: _Model, problem: VRPProblem, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """Problem-node routes (no depot) -> model variable indices, one list per vehicle."""
    free = {f: list(c) for f, c in model.disposal_copies.items()}
    out: list[list[int]] = [[] for _ in range(problem.num_vehicles)]
    if len(routes) > problem.num_vehicles:
        raise ValueError("more initial routes than vehicles")
    for v, r in enumerate(routes):
        for node in r:
            if node == problem.depot:
                continue
            if node in free:
                if not free[node]:
                    raise ValueError("initial routes use more disposal trips than available")
                node = free[node].pop(0)
            out[v].append(model.manager.NodeToIndex(int(node)))
    return out


# --------------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------------


def _status_name(routing) -> str:
    from ortools.constraint_solver import routing_enums_pb2

    try:
        return routing_enums_pb2.RoutingSearchStatus.Value.Name(routing.status())
    except Exception:  # pragma: no cover - enum drift between versions
        return str(routing.status())


def _extract(problem: VRPProblem, model: _Model, assignment) -> tuple[list[Route], list[int]]:
    routing, manager = model.routing, model.manager
    routes: list[Route] = []
    visited: set[int] = set()
    for v in range(problem.num_vehicles):
        idx = routing.Start(v)
        nodes = []
        while True:
            nodes.append(model.node_of[manager.IndexToNode(idx)])
            if routing.IsEnd(idx):
                break
            idx = assignment.Value(routing.NextVar(idx))
        visited.update(nodes)
        depart = None
        if model.time_dim is not None:
            depart = assignment.Value(model.time_dim.CumulVar(routing.Start(v)))
        routes.append(_describe_route(problem, v, nodes, depart))
    dropped = [i for i in problem.customers() if i not in visited]
    return routes, dropped


def _describe_route(problem: VRPProblem, vehicle: int, nodes: list[int], depart: int | None = None) -> Route:
    """Loads (unload to 0 at disposal), earliest schedule from ``depart`` and the distance."""
    tt = problem.travel_time if problem.travel_time is not None else problem.distance
    service = problem.service_times
    tws = problem.time_windows
    disposal = set(problem.disposal_nodes)
    if depart is None:
        depart = tws[problem.depot][0] if tws is not None and tws[problem.depot] is not None else 0
    loads, vols, arrivals, starts = [], [] if problem.volumes is not None else None, [], []
    load = vol = 0
    t = int(depart)
    dist = 0
    for k, node in enumerate(nodes):
        if k > 0:
            prev = nodes[k - 1]
            s_prev = problem.disposal_service_time if (prev in disposal and problem.disposal_service_time is not None) else (
                int(service[prev]) if service is not None else 0)
            t = starts[-1] + s_prev + int(tt[prev, node])
            dist += int(problem.distance[prev, node])
        arrivals.append(t)
        tw = tws[node] if tws is not None else None
        starts.append(max(t, int(tw[0])) if (tw is not None and node != problem.depot) else t)
        if node in disposal:
            load = vol = 0
        elif node != problem.depot:
            load += int(problem.demands[node])
            vol += int(problem.volumes[node]) if problem.volumes is not None else 0
        loads.append(load)
        if vols is not None:
            vols.append(vol)
    return Route(vehicle=vehicle, nodes=list(nodes), arrival_times=arrivals, start_times=starts, loads=loads,
                 volume_loads=vols, distance=dist, duration=starts[-1] - starts[0] if starts else 0)


def check_routes(problem: VRPProblem, routes: Sequence[Route]) -> list[str]:
    """Independent feasibility check of extracted routes: capacities (both dimensions, reset at
    disposal), time windows, shift length, each customer at most once, end_empty."""
    problems: list[str] = []
    seen: dict[int, int] = {}
    tws = problem.time_windows
    for r in routes:
        if len(r.nodes) <= 2:
            continue
        cap = int(problem.vehicle_capacities[r.vehicle])
        if r.nodes[0] != problem.depot or r.nodes[-1] != problem.depot:
            problems.append(f"vehicle {r.vehicle}: route does not start and end at the depot")
        if max(r.loads) > cap:
            problems.append(f"vehicle {r.vehicle}: load {max(r.loads)} > capacity {cap}")
        if r.volume_loads is not None and max(r.volume_loads) > int(problem.vehicle_volume_capacities[r.vehicle]):
            problems.append(f"vehicle {r.vehicle}: volume {max(r.volume_loads)} over capacity")
        if problem.end_empty and problem.disposal_nodes and r.loads[-1] > 0:
            problems.append(f"vehicle {r.vehicle}: returns with load {r.loads[-1]}")
        for k, node in enumerate(r.nodes):
            if tws is not None and tws[node] is not None:
                lo, hi = tws[node]
                if r.start_times[k] > hi:
                    problems.append(f"vehicle {r.vehicle}: node {node} served at {r.start_times[k]} > {hi}")
            if 0 < k < len(r.nodes) - 1 and node not in problem.disposal_nodes:
                if node in seen:
                    problems.append(f"node {node} visited twice")
                seen[node] = r.vehicle
        if problem.max_route_duration is not None and r.duration > problem.max_route_duration:
            problems.append(f"vehicle {r.vehicle}: duration {r.duration} > {problem.max_route_duration}")
        if problem.allowed_vehicles is not None:
            for node in r.nodes[1:-1]:
                av = problem.allowed_vehicles[node]
                if av is not None and node not in problem.disposal_nodes and r.vehicle not in av:
                    problems.append(f"vehicle {r.vehicle}: serves node {node}, allowed only {list(av)}")
    by_vehicle = {r.vehicle: r for r in routes}
    for a, b in problem.vehicle_chains:
        ra, rb = by_vehicle.get(a), by_vehicle.get(b)
        if ra and rb and len(ra.nodes) > 2 and len(rb.nodes) > 2 and rb.start_times[0] < ra.start_times[-1]:
            problems.append(f"vehicle {b} leaves at {rb.start_times[0]} before vehicle {a} is back "
                            f"({ra.start_times[-1]})")
    return problems


def routes_distance(problem: VRPProblem, routes: Sequence[Sequence[int]]) -> int:
    """Distance of depot-less routes, e.g. to re-cost a best-known solution."""
    total = 0
    for r in routes:
        seq = [problem.depot, *r, problem.depot]
        total += sum(int(problem.distance[a, b]) for a, b in zip(seq[:-1], seq[1:]))
    return total


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
    model, assignment, status, notes, cfg_used = _run_search(problem, cfg, end, initial_routes, always_return_plan,
                                                             solution_limit)
    if assignment is None and status != SAFETY_NET_TIMEOUT and cfg != FALLBACK_CONFIG and end - time.time() > 0.2:
        notes.append(f"{cfg.name} found no solution ({status}): retried with {FALLBACK_CONFIG.name}")
        model, assignment, status, notes2, cfg_used = _run_search(
            problem, FALLBACK_CONFIG, end, initial_routes, always_return_plan, solution_limit)
        notes.extend(notes2)
    if assignment is None:
        return VRPSolution(routes=[], total_distance=0, dropped=problem.customers(), status=status, objective=-1,
                           config=asdict(cfg_used), wall_time_s=time.time() - t0, notes=notes,
                           runs=[{"config": cfg_used.name, "objective": -1, "distance": 0,
                                  "dropped": len(problem.customers()), "status": status,
                                  "wall_time_s": round(time.time() - t0, 3)}])
    routes, dropped = _extract(problem, model, assignment)
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
            params0 = build_search_parameters(cfg, max(0.1, end - time.time()), problem.has_time_windows)
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
    params = build_search_parameters(cfg_used, remaining, problem.has_time_windows, solution_limit)
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
                     f"(machine too slow or the limit too high): no reproducible plan")
        return model, None, SAFETY_NET_TIMEOUT, notes, cfg_used
    if warm is not None:
        notes.append(f"search objective {assignment.ObjectiveValue() if assignment is not None else None}")
        if assignment is None or assignment.ObjectiveValue() > warm.ObjectiveValue():
            notes.append("search did not improve on the warm start: warm start returned")
            assignment = warm
    return model, assignment, status, notes, cfg_used


def _copy_assignment(routing, assignment):
    """Copy an assignment so the hint outlives the solver's own assignment buffers."""
    copy = routing.solver().Assignment(assignment)
    return copy


def _worker(args: tuple) -> VRPSolution:
    problem, cfg, deadline, initial_routes, always_return_plan, solution_limit = args
    return solve_single(problem, cfg, initial_routes=initial_routes, always_return_plan=always_return_plan,
                        deadline=deadline, solution_limit=solution_limit)


def _better(a: VRPSolution, b: VRPSolution) -> bool:
    """True when ``a`` beats ``b``: a plan over none, fewer violations/dropped, lower objective."""
    ka = (not a.found, len(a.violations) > 0, len(a.dropped), a.objective, a.total_distance)
    kb = (not b.found, len(b.violations) > 0, len(b.dropped), b.objective, b.total_distance)
    return ka < kb


def solve(
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
        best.wall_time_s = time.time() - t0
        return best
    ctx = mp.get_context("spawn")
    jobs = [(problem, c, deadline, initial_routes, always_return_plan, solution_limit) for c in cfgs]
    results, lost = [], []
    try:
        pool = ctx.Pool(processes=min(workers, len(cfgs)))
        try:
            pending = [(c.name, pool.apply_async(_worker, (job,))) for c, job in zip(cfgs, jobs)]
            for name, res in pending:
                # a worker that dies or hangs (killed, out of memory, a stuck start-up) must not
                # hang the caller: wait until the deadline plus a start-up allowance, then give up
                try:
                    results.append(res.get(timeout=max(1.0, deadline - time.time()) + WORKER_GRACE_S))
                except mp.TimeoutError:
                    lost.append(name)
        finally:
            if lost:
                for proc in list(getattr(pool, "_pool", [])):
                    proc.kill()  # SIGKILL: a stuck search cannot ignore it
                pool.terminate()
            else:
                # idle workers leave on the close sentinel; no signal needed (a process whose
                # parent ignores SIGTERM passes that on to spawned children, and Pool.terminate
                # would then wait forever for them)
                pool.close()
                pool.join()
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
    best = results[0]
    for r in results[1:]:
        if _better(r, best):
            best = r
    runs = [run for r in results for run in r.runs] or [{"config": c.name} for c in cfgs]
    timed_out = [r for r in results if r.status == SAFETY_NET_TIMEOUT]
    if solution_limit is not None and (timed_out or lost):
        # which run wins must not depend on which one the clock stopped: no plan
        best = timed_out[0] if timed_out else VRPSolution(
            routes=[], total_distance=0, dropped=problem.customers(), status=SAFETY_NET_TIMEOUT, objective=-1,
            config={}, wall_time_s=0.0)
        best.notes = best.notes + [f"runs {[c.name for c in cfgs]}: one stopped by the wall-clock safety net "
                                   f"or lost: no reproducible plan"]
    best.runs = runs
    if lost:
        best.notes.append(f"parallel runs {lost} returned nothing in time and were stopped")
    best.wall_time_s = time.time() - t0
    return best


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
    )
