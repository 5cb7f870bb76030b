"""The bench's reference solver and its own re-costing (no solver code trusted).

* :func:`pyvrp_solve`: PyVRP 0.14 (hybrid genetic search, a dev dependency only: the platform
  never imports it) on the very integer matrices our solver gets, for a wall-clock budget, one
  process (PyVRP is single-threaded), seed 0.
* :func:`recheck`: re-costs routes from the problem's matrix and checks them independently of
  both solvers: every customer exactly once, capacity (kg and litres), time windows with
  service times, shift length, fleet size.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from models.routing import VRPProblem

BIG = 2**62


def pyvrp_data(problem: VRPProblem):
    """PyVRP ``ProblemData`` for a plain problem (depot 0, one vehicle type, optional second load
    dimension, windows, service times, shift length)."""
    import pyvrp

    if problem.depot != 0 or problem.disposal_nodes or problem.vehicle_chains or problem.allowed_vehicles:
        raise ValueError(f"{problem.name}: only plain CVRP/VRPTW problems with depot 0 go to PyVRP")
    if len(set(problem.vehicle_capacities)) != 1:
        raise ValueError(f"{problem.name}: one vehicle type expected")
    n = problem.num_nodes
    xy = problem.coords if problem.coords is not None else np.zeros((n, 2))
    locations = [pyvrp.Location(x=float(xy[i][0]), y=float(xy[i][1])) for i in range(n)]
    tws = problem.time_windows or [None] * n
    svc = problem.service_times or [0] * n

    def load(i):
        v = [int(problem.demands[i])]
        return v + [int(problem.volumes[i])] if problem.volumes is not None else v

    clients = []
    for i in range(1, n):
        tw = tws[i]
        clients.append(pyvrp.Client(location=i, delivery=load(i), service_duration=int(svc[i]),
                                    tw_early=int(tw[0]) if tw else 0, tw_late=int(tw[1]) if tw else BIG))
    dtw = tws[0]
    depots = [pyvrp.Depot(location=0, tw_early=int(dtw[0]) if dtw else 0, tw_late=int(dtw[1]) if dtw else BIG)]
    cap = [int(problem.vehicle_capacities[0])]
    if problem.volumes is not None:
        cap.append(int(problem.vehicle_volume_capacities[0]))
    vt = pyvrp.VehicleType(num_available=problem.num_vehicles, capacity=cap,
                           tw_early=int(dtw[0]) if dtw else 0, tw_late=int(dtw[1]) if dtw else BIG,
                           shift_duration=int(problem.max_route_duration) if problem.max_route_duration else BIG)
    dist = np.asarray(problem.distance, dtype=np.int64)
    dur = np.asarray(problem.travel_time if problem.travel_time is not None else
                     (problem.distance if problem.has_time_windows or problem.max_route_duration else
                      np.zeros_like(dist)), dtype=np.int64)
    return pyvrp.ProblemData(locations=locations, clients=clients, depots=depots, vehicle_types=[vt],
                             distance_matrices=[dist], duration_matrices=[dur])


def pyvrp_solve(problem: VRPProblem, seconds: float, seed: int = 0,
                cpu_seconds: float | None = None) -> tuple[list[list[int]], float, bool, int]:
    """(depot-less routes, wall seconds, PyVRP's own feasibility flag and distance). With
    ``cpu_seconds`` it stops on this process's CPU time instead of the wall clock."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    t0 = time.perf_counter()
    c0 = time.process_time()
    data = pyvrp_data(problem)
    if cpu_seconds is not None:
        def stop(best_cost) -> bool:
            return time.process_time() - c0 >= cpu_seconds
    else:
        stop = MaxRuntime(max(0.1, seconds - (time.perf_counter() - t0)))
    res = pyvrp.solve(data, stop=stop, seed=seed, collect_stats=False, display=False)
    # client activities carry the client index (0-based); client k sits at location k + 1
    routes = [[int(a.idx) + 1 for a in r if _is_client(a)] for r in res.best.routes()]
    return routes, time.perf_counter() - t0, bool(res.best.is_feasible()), int(res.best.distance())


def recheck(problem: VRPProblem, routes: Sequence[Sequence[int]]) -> tuple[int, list[str]]:
    """(re-costed distance, violations) of depot-less ``routes``, from the problem's data only."""
    d = np.asarray(problem.distance)
    tt = np.asarray(problem.travel_time) if problem.travel_time is not None else d
    svc = problem.service_times or [0] * problem.num_nodes
    tws = problem.time_windows or [None] * problem.num_nodes
    bad: list[str] = []
    cost = 0
    seen: list[int] = []
    routes = [list(r) for r in routes if len(r)]
    if len(routes) > problem.num_vehicles:
        bad.append(f"{len(routes)} routes > fleet {problem.num_vehicles}")
    for k, r in enumerate(routes):
        seq = [problem.depot, *r, problem.depot]
        cost += int(sum(int(d[a, b]) for a, b in zip(seq[:-1], seq[1:])))
        if sum(int(problem.demands[i]) for i in r) > int(problem.vehicle_capacities[0]):
            bad.append(f"route {k}: over capacity")
        if problem.volumes is not None and sum(int(problem.volumes[i]) for i in r) > int(
                problem.vehicle_volume_capacities[0]):
            bad.append(f"route {k}: over volume")
        if problem.has_time_windows or problem.max_route_duration is not None:
            dtw = tws[problem.depot]
            t = start = int(dtw[0]) if dtw else 0
            for a, b in zip(seq[:-1], seq[1:]):
                t += (int(svc[a]) if a != problem.depot else 0) + int(tt[a, b])
                tw = tws[b] if b != problem.depot else dtw
                if tw is not None:
                    t = max(t, int(tw[0]))
                    if t > int(tw[1]):
                        bad.append(f"route {k}: node {b} served at {t} > {tw[1]}")
                        break
            if problem.max_route_duration is not None and t - start > problem.max_route_duration:
                bad.append(f"route {k}: duration {t - start} > {problem.max_route_duration}")
        seen.extend(r)
    want = sorted(problem.customers())
    if sorted(seen) != want:
        bad.append(f"customers served {len(seen)} (distinct {len(set(seen))}), expected {len(want)}")
    return cost, bad


def _is_client(activity) -> bool:
    v = activity.is_client
    return bool(v() if callable(v) else v)
