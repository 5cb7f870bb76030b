"""The OR-Tools model of a :class:`VRPProblem`: arc costs, load and time dimensions, reload
trips, optional stops, and the mapping of routes onto model indices (warm start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from models.routing.problem import VRPProblem


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
