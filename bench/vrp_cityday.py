"""A city-day routing instance from the simulator's ``city`` profile (Cannes scale).

Every bin the fixed rounds collect on the heaviest weekday (most stops, all trucks) becomes a
stop; distances and driving times are shortest paths on the simulated street network
(:func:`models.waste.network.travel_matrices`, the platform's own code); demands are the
rounds' expected kilograms; service times are the waste service's per-stream minutes; one
route = one trip of a truck of the fleet's most common capacity, at most a 7-hour shift. The
streams are not kept apart and there is no unloading stop (PyVRP's model has neither
vehicle restrictions per stop nor our reload trips), so this is the routing core of a city
day, solved the same way by both solvers. The bench may import the simulator: it is not
production code.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from models.routing import VRPProblem


def city_day_problem(seed: int = 42) -> tuple[VRPProblem, dict]:
    from models.simulator.city import build_city
    from models.simulator.waste import build_fixed_rounds
    from models.waste.network import build_network, travel_matrices
    from models.waste.planning import SERVICE_MIN

    city = build_city("city", seed)
    rounds, stream, exp_kg = build_fixed_rounds(city, np.random.default_rng(seed))
    by_day: dict[int, list[int]] = {}
    for (_, day), seq in rounds.items():
        by_day.setdefault(day, []).extend(seq)
    day = max(sorted(by_day), key=lambda d: len(set(by_day[d])))
    bins = sorted(set(by_day[day]))
    depot = next(p for p in city.places if p.kind == "depot")
    segs = city.segments
    net = build_network([s.segment_id for s in segs], np.array([s.x0 for s in segs]), np.array([s.y0 for s in segs]),
                        np.array([s.x1 for s in segs]), np.array([s.y1 for s in segs]),
                        np.array([s.speed_kmh for s in segs]))
    px = np.array([depot.x] + [city.bins[b].x for b in bins])
    py = np.array([depot.y] + [city.bins[b].y for b in bins])
    D, T, info = travel_matrices(net, px, py)
    cap = Counter(int(t["capacity_kg"]) for t in city.trucks).most_common(1)[0][0]
    kg = [0] + [max(1, int(round(exp_kg[b]))) for b in bins]
    service = [0] + [int(round(SERVICE_MIN[stream[b]] * 60)) for b in bins]
    shift = int(7 * 3600)
    work = float(np.asarray(T)[0, 1:].mean() * 2 + sum(service))
    vehicles = int(max(np.ceil(sum(kg) / cap), np.ceil(work / shift)) * 2 + 4)
    problem = VRPProblem(
        distance=np.rint(D).astype(np.int64), travel_time=np.rint(T).astype(np.int64),
        vehicle_capacities=[cap] * vehicles, demands=kg, service_times=service,
        max_route_duration=shift, depot=0, name=f"cannes-city-day{day}", coords=np.c_[px, py])
    meta = {"weekday": day, "stops": len(bins), "streams": dict(Counter(stream[b] for b in bins)),
            "capacity_kg": cap, "vehicles": vehicles, "total_kg": int(sum(kg)), "network": info}
    return problem, meta
