"""Reading routes out of an assignment, describing them (loads, schedule, distance) and the
independent feasibility check."""

from __future__ import annotations

from typing import Sequence

from models.routing.model import _Model
from models.routing.problem import Route, VRPProblem


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


def chain_schedule(problem: VRPProblem, routes: Sequence[Route]) -> list[Route]:
    """``routes`` re-timed for the trip chains: a chained vehicle leaves as soon as the one before
    it in its chain is back (earliest schedule, waiting for windows), the first of a chain keeps
    its departure; an empty vehicle passes its predecessor's return time on. For plans searched
    without the chains (``SearchConfig.relax_chains``); :func:`check_routes` then judges them."""
    by_vehicle = {r.vehicle: r for r in routes}
    before = {int(b): int(a) for a, b in problem.vehicle_chains}
    tws = problem.time_windows
    opening = int(tws[problem.depot][0]) if tws is not None and tws[problem.depot] is not None else 0
    ready: dict[int, int] = {}
    out: dict[int, Route] = {}

    def back(v: int) -> int:
        if v not in out:
            r = by_vehicle.get(v)
            depart = max(opening, back(before[v])) if v in before else None
            if r is None or len(r.nodes) <= 2:
                t = depart if depart is not None else (r.start_times[0] if r is not None else opening)
                ready[v] = t
                out[v] = r if r is not None else None
                return t
            if depart is None:
                depart = r.start_times[0]
            out[v] = _describe_route(problem, v, list(r.nodes), depart)
            ready[v] = out[v].start_times[-1]
        return ready[v]

    for v in sorted(set(by_vehicle) | set(before)):
        back(v)
    return [out[r.vehicle] if out.get(r.vehicle) is not None else r for r in routes]


def _lateness(problem: VRPProblem, routes: Sequence[Route]) -> int:
    tws = problem.time_windows
    if tws is None:
        return 0
    return sum(max(0, r.start_times[k] - int(tws[n][1])) for r in routes for k, n in enumerate(r.nodes)
               if tws[n] is not None)


def balance_trips(problem: VRPProblem, routes: Sequence[Route]) -> list[Route]:
    """:func:`chain_schedule` after swapping whole trips between vehicles while that lowers the
    total lateness (seconds past windows and shift ends): a trip may move to any vehicle its stops
    allow and its loads fit, e.g. a stream's trip to another truck whose day is shorter. The
    distance does not change; deterministic (pairs in vehicle order, first improvement)."""
    nodes = {r.vehicle: list(r.nodes) for r in routes}
    loads = {r.vehicle: (max(r.loads), max(r.volume_loads) if r.volume_loads else 0) for r in routes}
    disposal = set(problem.disposal_nodes)

    def fits(v: int, u: int) -> bool:   # the trip now on u, driven by v
        kg, litres = loads[u]
        if kg > int(problem.vehicle_capacities[v]) or (
                problem.vehicle_volume_capacities is not None and litres > int(problem.vehicle_volume_capacities[v])):
            return False
        av = problem.allowed_vehicles
        return av is None or all(av[n] is None or v in av[n] for n in nodes[u][1:-1] if n not in disposal)

    def schedule() -> list[Route]:
        return chain_schedule(problem, [_describe_route(problem, v, nodes[v]) for v in sorted(nodes)])

    best = chain_schedule(problem, routes)
    score = _lateness(problem, best)
    vehicles = sorted(nodes)
    improved = True
    while improved and score > 0:
        improved = False
        for i, u in enumerate(vehicles):
            for v in vehicles[i + 1:]:
                if len(nodes[u]) <= 2 and len(nodes[v]) <= 2 or not (fits(v, u) and fits(u, v)):
                    continue
                nodes[u], nodes[v] = nodes[v], nodes[u]
                loads[u], loads[v] = loads[v], loads[u]
                cand = schedule()
                if _lateness(problem, cand) < score:
                    best, score, improved = cand, _lateness(problem, cand), True
                else:
                    nodes[u], nodes[v] = nodes[v], nodes[u]
                    loads[u], loads[v] = loads[v], loads[u]
    order = {r.vehicle: k for k, r in enumerate(best)}
    return sorted(best, key=lambda r: order[r.vehicle])
