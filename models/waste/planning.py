"""Tomorrow's collection plan as a vehicle-routing problem, and the fixed rounds costed alike.

A truck may not mix waste streams in its body, so each physical truck is modelled as one
*trip vehicle* per stream (``allowed_vehicles``: a bin only on a trip of its stream); the trips
of one truck are chained in time (``vehicle_chains``: trip k+1 leaves after trip k is back) and
all of them must fit in the shift (depot window). Every trip ends at the disposal facility (the
arc back to the depot runs through it) and may unload there in between (reload trips). Bins are optional stops with a
drop penalty growing with their overflow risk, so a plan always comes back and what is left out
is reported. Travel times and distances come from shortest paths on the street network
(:mod:`models.waste.network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from models.routing.vrp import DISPOSAL_CONFIGS, SAFETY_NET_TIMEOUT, VRPProblem, VRPSolution, solve

GLS_WARM = DISPOSAL_CONFIGS[1]   # guided local search from an assignment
# Guided local search from the empty plan (every bin dropped, inserted by the local search): finds a
# plan where the insertion heuristics find no first solution (busy days with every stream).
GLS_FROM_EMPTY = replace(GLS_WARM, name="gls-from-empty", first_solution="ALL_UNPERFORMED")

STREAMS = ("ordures_menageres", "biodechets", "emballages", "verre")
SERVICE_MIN = {"ordures_menageres": 1.2, "emballages": 1.5, "biodechets": 1.5, "verre": 4.0}
DENSITY_KG_L = {"ordures_menageres": 0.12, "emballages": 0.04, "verre": 0.35, "biodechets": 0.45}
COMPACTION = {"ordures_menageres": 4.0, "emballages": 5.0, "biodechets": 2.0, "verre": 1.5}
UNLOAD_MIN = 20.0
MAX_RETRIES = 3                    # searches again (with twice the time) when no plan came back
BASE_DROP_PENALTY_M = 100_000      # leaving a selected bin costs as much as 100 km of driving...
OVERFLOW_DROP_PENALTY_M = 500_000  # ...plus this per unit of expected overflow at the next visit


@dataclass
class Stop:
    bin_id: str
    stream: str
    x: float
    y: float
    segment_index: int | None
    kg: float
    litres_compacted: float
    window_s: tuple[int, int] | None = None   # seconds after shift start
    overflow_risk: float = 0.0                # expected fill at the next possible visit - 1 (>= 0)
    window_reason: str = ""


@dataclass
class Fleet:
    truck_ids: list[str]
    capacity_kg: list[float]
    capacity_l: list[float]
    shift_s: int


@dataclass
class Plan:
    routes: list[dict]            # one per used trip: truck, stream, trip number, km, hours, kg
    stops: list[dict]             # one per visit (bins, disposal, depot), ordered
    dropped: list[dict]           # bins selected but not served, with the reason
    solution: VRPSolution
    info: dict = field(default_factory=dict)


def build_problem(stops: list[Stop], fleet: Fleet, D: np.ndarray, T: np.ndarray,
                  streams: list[str]) -> tuple[VRPProblem, list[tuple[int, str]]]:
    """Nodes: 0 depot, 1 disposal, 2.. the stops. ``D``/``T`` are over the same nodes."""
    vehicles = [(k, s) for k in range(len(fleet.truck_ids)) for s in streams]
    n = 2 + len(stops)
    tw: list = [(0, fleet.shift_s), None] + [st.window_s for st in stops]
    allowed = [None, None] + [[v for v, (_, s) in enumerate(vehicles) if s == st.stream] for st in stops]
    pen = [None, None] + [int(BASE_DROP_PENALTY_M + OVERFLOW_DROP_PENALTY_M * st.overflow_risk) for st in stops]
    service = [0, int(UNLOAD_MIN * 60)] + [int(SERVICE_MIN[st.stream] * 60) for st in stops]
    chains = [(v, v + 1) for v in range(len(vehicles) - 1) if vehicles[v][0] == vehicles[v + 1][0]]
    # Every trip ends by unloading: the way back to the depot from a bin runs through the
    # disposal facility (its distance, time and unloading are on that arc). Modelled this way
    # rather than with `end_empty`, whose final unload the insertion heuristics could not place
    # together with a trip's first bin (a lone bin of a stream was then left out).
    D2, T2 = np.array(D, float).copy(), np.array(T, float).copy()
    D2[2:, 0] = D[2:, 1] + D[1, 0]
    T2[2:, 0] = T[2:, 1] + UNLOAD_MIN * 60 + T[1, 0]
    problem = VRPProblem(
        distance=np.rint(D2).astype(np.int64), travel_time=np.rint(T2).astype(np.int64),
        vehicle_capacities=[int(fleet.capacity_kg[k]) for k, _ in vehicles],
        demands=[0, 0] + [int(round(st.kg)) for st in stops],
        volumes=[0, 0] + [int(round(st.litres_compacted)) for st in stops],
        vehicle_volume_capacities=[int(fleet.capacity_l[k]) for k, _ in vehicles],
        service_times=service, time_windows=tw, depot=0, drop_penalties=pen,
        disposal_nodes=[1], max_disposal_trips=2, disposal_service_time=int(UNLOAD_MIN * 60),
        end_empty=False, allowed_vehicles=allowed, vehicle_chains=chains, name="collection")
    assert problem.num_nodes == n
    return problem, vehicles


def warm_routes(previous: list[tuple[str, str, list[str]]], stops: list[Stop],
                vehicles: list[tuple[int, str]], fleet: Fleet) -> list[list[int]] | None:
    """Yesterday's stop order per (truck, stream) mapped onto today's nodes (bins not selected
    today are skipped, new ones left to the search)."""
    if not previous:
        return None
    node = {st.bin_id: 2 + i for i, st in enumerate(stops)}
    stream_of = {st.bin_id: st.stream for st in stops}
    routes: list[list[int]] = [[] for _ in vehicles]
    vidx = {(fleet.truck_ids[k], s): v for v, (k, s) in enumerate(vehicles)}
    seen = set()
    for truck, stream, bins in previous:
        v = vidx.get((truck, stream))
        if v is None:
            continue
        for b in bins:
            if b in node and stream_of[b] == stream and b not in seen:
                routes[v].append(node[b]); seen.add(b)
        if routes[v]:
            routes[v].append(1)   # the trip ends at the disposal facility
    while routes and not routes[-1]:
        routes.pop()
    return routes if any(routes) else None


def plan_routes(stops: list[Stop], fleet: Fleet, D: np.ndarray, T: np.ndarray, time_limit_s: float,
                previous: list[tuple[str, str, list[str]]] | None = None, workers: int | None = None,
                solution_limit: int | None = None) -> Plan:
    """Solve tomorrow's plan (both cores by default) and describe it stop by stop.

    With `solution_limit` (what the platform passes) every search stops after that many
    solutions, so the plan does not depend on machine load, and `time_limit_s` is the wall-clock
    safety net of each search: reaching it gives no plan (status SAFETY_NET_TIMEOUT, not retried).
    Without it, `time_limit_s` bounds the search (the month simulation's mode)."""
    streams = [s for s in STREAMS if any(st.stream == s for st in stops)]
    if not stops:
        empty = VRPSolution(routes=[], total_distance=0, dropped=[], status="EMPTY", objective=0, config={},
                            wall_time_s=0.0)
        return Plan([], [], [], empty, {"stops": 0})
    problem, vehicles = build_problem(stops, fleet, D, T, streams)
    init = warm_routes(previous or [], stops, vehicles, fleet)
    if init is None:
        sol = solve(problem, time_limit_s=time_limit_s, workers=workers, always_return_plan=True,
                    solution_limit=solution_limit)
    else:
        # Yesterday's routes restored and improved by guided local search (the ILS entry point
        # takes a warm start only as a hint to local cheapest insertion, which found no plan on
        # these instances), beside the usual cold search; the better plan wins.
        half = time_limit_s / 2 if solution_limit is None else time_limit_s
        warm = solve(problem, time_limit_s=half, configs=[GLS_WARM], initial_routes=init, workers=1,
                     always_return_plan=True, solution_limit=solution_limit)
        sol = solve(problem, time_limit_s=half, workers=workers, always_return_plan=True,
                    solution_limit=solution_limit)
        if SAFETY_NET_TIMEOUT in (warm.status, sol.status):
            warm = sol = warm if warm.status == SAFETY_NET_TIMEOUT else sol
        if warm.found and (not sol.found or warm.objective <= sol.objective):
            warm.notes.append(f"warm start kept: objective {warm.objective} vs cold search {sol.objective}")
            warm.runs = warm.runs + sol.runs
            sol = warm
        else:
            sol.notes.append(f"cold search kept: objective {sol.objective} vs warm start {warm.objective}")
    retries, limit = 0, time_limit_s
    while not sol.found and sol.status != SAFETY_NET_TIMEOUT and retries < MAX_RETRIES:
        # No first solution within the limit (a busy machine, a large day): every stop came back
        # dropped. Search again with twice the time rather than return an empty plan.
        # The insertion heuristics can fail to build any first plan on a busy day with every
        # stream (measured: 87 bins, no plan in 16 s); the retry starts from the empty plan.
        retries += 1; limit *= 2
        again = solve(problem, time_limit_s=limit, configs=[GLS_FROM_EMPTY], workers=1, always_return_plan=True,
                      solution_limit=None if solution_limit is None else solution_limit * 2 ** retries)
        again.notes = sol.notes + [f"no plan within {limit / 2:.1f} s: searched again for {limit:.1f} s "
                                   f"from the empty plan"] + again.notes
        sol = again
    routes, rows = [], []
    for r in sol.routes:
        if len(r.nodes) <= 2:
            continue
        k, s = vehicles[r.vehicle]
        truck = fleet.truck_ids[k]
        trip = sum(1 for rr in sol.routes if len(rr.nodes) > 2 and vehicles[rr.vehicle][0] == k
                   and rr.vehicle < r.vehicle) + 1
        kg_total = 0
        for i, nd in enumerate(r.nodes):
            kind = "depot" if nd == 0 else "disposal" if nd == 1 else "bin"
            st = stops[nd - 2] if kind == "bin" else None
            if kind == "bin":
                kg_total += int(problem.demands[nd])
            if i == len(r.nodes) - 1 and r.nodes[i - 1] >= 2:
                # the final unloading, folded into the last arc: shown as its own stop
                prev = r.nodes[i - 1]
                t_disp = int(r.start_times[i - 1] + problem.service_times[prev] + T[prev, 1])
                rows.append({"truck_id": truck, "trip": trip, "waste_stream": s, "stop_order": i, "kind": "disposal",
                             "bin_id": None, "eta_s": t_disp, "arrival_s": t_disp, "load_kg_after": 0,
                             "load_l_after": 0, "pickup_kg": 0, "window_s": None, "window_reason": "",
                             "leg_m": int(round(D[prev, 1]))})
                rows.append({"truck_id": truck, "trip": trip, "waste_stream": s, "stop_order": i + 1, "kind": "depot",
                             "bin_id": None, "eta_s": int(r.start_times[i]), "arrival_s": int(r.arrival_times[i]),
                             "load_kg_after": 0, "load_l_after": 0, "pickup_kg": 0, "window_s": None,
                             "window_reason": "", "leg_m": int(round(D[1, 0]))})
                continue
            rows.append({"truck_id": truck, "trip": trip, "waste_stream": s, "stop_order": i, "kind": kind,
                         "bin_id": st.bin_id if st else None, "eta_s": int(r.start_times[i]),
                         "arrival_s": int(r.arrival_times[i]), "load_kg_after": int(r.loads[i]),
                         "load_l_after": int(r.volume_loads[i]) if r.volume_loads else None,
                         "pickup_kg": int(problem.demands[nd]), "window_s": st.window_s if st else None,
                         "window_reason": st.window_reason if st else "",
                         "leg_m": int(problem.distance[r.nodes[i - 1], nd]) if i else 0})
        routes.append({"truck_id": truck, "trip": trip, "waste_stream": s, "vehicle": r.vehicle,
                       "bins": sum(1 for nd in r.nodes if nd >= 2),
                       "disposal_visits": sum(1 for nd in r.nodes if nd == 1) + (1 if r.nodes[-2] >= 2 else 0),
                       "distance_m": int(r.distance), "start_s": int(r.start_times[0]),
                       "end_s": int(r.start_times[-1]), "duration_s": int(r.duration),
                       "collected_kg": kg_total, "max_load_kg": int(max(r.loads)),
                       "capacity_kg": int(problem.vehicle_capacities[r.vehicle]),
                       "max_load_l": int(max(r.volume_loads)) if r.volume_loads else None,
                       "capacity_l": int(problem.vehicle_volume_capacities[r.vehicle])})
    dropped = [{"bin_id": stops[nd - 2].bin_id, "waste_stream": stops[nd - 2].stream,
                "reason": f"left out by the solver: serving it would cost more than its drop penalty "
                          f"({problem.drop_penalties[nd]} m equivalent) within capacity, shift and windows"}
               for nd in sol.dropped]
    info = {"stops": len(stops), "trip_vehicles": len(vehicles), "status": sol.status,
            "objective": sol.objective, "distance_m": sol.total_distance, "violations": sol.violations,
            "warm_start": init is not None, "retries": retries, "notes": sol.notes, "runs": sol.runs,
            "wall_time_s": round(sol.wall_time_s, 2)}
    return Plan(routes, rows, dropped, sol, info)


def fixed_round_cost(sequence_nodes: list[int], streams: list[str], kg: list[float], capacity_kg: float,
                     D: np.ndarray, T: np.ndarray) -> dict:
    """Cost of one fixed round as crews drive it (the simulator's rule): from the depot (node 0)
    through the bins in order, unloading at the disposal facility (node 1) between stream blocks
    and whenever the load would exceed capacity, then a last unload and back to the depot."""
    dist = tim = 0.0
    pos, load, prev = 0, 0.0, None
    for nd, s, w in zip(sequence_nodes, streams, kg):
        if prev is not None and (s != prev or load + w > capacity_kg):
            dist += D[pos, 1]; tim += T[pos, 1] + UNLOAD_MIN * 60
            pos, load = 1, 0.0
        dist += D[pos, nd]; tim += T[pos, nd] + SERVICE_MIN[s] * 60
        load += w; pos, prev = nd, s
    if sequence_nodes:
        dist += D[pos, 1] + D[1, 0]; tim += T[pos, 1] + UNLOAD_MIN * 60 + T[1, 0]
    return {"distance_m": float(dist), "duration_s": float(tim), "bins": len(sequence_nodes)}


COLLECTION_HOUR = 8.0     # nominal local time a bin is emptied on the plan day (shift 05:00-12:00)
SELECT_THRESHOLD = 0.85   # forecast fill at collection time that selects a bin (bench/waste_month_bench.py)
CROISETTE_WINDOW_S = (0, 5 * 3600)   # pedestrian Croisette: before 10:00 (shift starts 05:00)
MARKET_WINDOW_S = (0, 3 * 3600)      # within 150 m of a market on its market day: before 08:00
MARKET_WINDOW_M = 150.0


def selection_stops(sel, bins, segs, places, plan_date, density: dict) -> list[Stop]:
    """Selected bins (``transforms.waste.select_bins``) as VRP stops: kg and compacted litres from
    the forecast fill; windows: the Croisette before 10:00, market streets (within 150 m of a
    market) before 08:00 on its days. `bins`: bin_id, segment_id, x_2154, y_2154, capacity_l;
    `segs`: segment_id, street_name; `places`: kind, x_2154, y_2154, attributes."""
    import polars as pl

    from .calendar import market_days

    b = sel.join(bins.select("bin_id", "segment_id", "x_2154", "y_2154", "capacity_l"), on="bin_id", how="left") \
        .join(segs.select("segment_id", "street_name"), on="segment_id", how="left")
    markets = [(r["x_2154"], r["y_2154"], market_days(r["attributes"]))
               for r in places.filter(pl.col("kind") == "market").iter_rows(named=True)]
    out = []
    for r in b.iter_rows(named=True):
        fill = min(max(r["fill_at_collection"] or 0.0, 0.05), 1.5)
        litres = fill * r["capacity_l"]
        win, why = None, ""
        if "Croisette" in (r["street_name"] or ""):
            win, why = CROISETTE_WINDOW_S, "pedestrian Croisette: before 10:00"
        for mx, my, mdays in markets:
            if plan_date.weekday() in mdays and np.hypot(r["x_2154"] - mx, r["y_2154"] - my) <= MARKET_WINDOW_M:
                win, why = MARKET_WINDOW_S, "market street on market day: before 08:00"
        out.append(Stop(r["bin_id"], r["waste_stream"], r["x_2154"], r["y_2154"], None,
                        kg=litres * density.get(r["waste_stream"], 0.1),
                        litres_compacted=litres / COMPACTION[r["waste_stream"]], window_s=win,
                        overflow_risk=float(r["overflow_risk"] or 0.0), window_reason=why))
    return out


def stop_records(plan: Plan, stops: list[Stop], places_xy: dict, fill_at_collection: dict, plan_date, t0) -> list[dict]:
    """One row per planned stop (bins, disposal trips, returns to the depot) and per dropped bin,
    with its time (`t0` = shift start of `plan_date`), position and forecast fill; `places_xy`
    holds the depot's and the disposal site's (x, y) by kind."""
    from datetime import timedelta

    pos = {s.bin_id: (s.x, s.y) for s in stops}
    rows = []
    for r in plan.stops:
        x, y = pos[r["bin_id"]] if r["kind"] == "bin" else places_xy[r["kind"]]
        rows.append({**{k: r[k] for k in ("truck_id", "trip", "waste_stream", "stop_order", "kind", "bin_id",
                                           "load_kg_after", "load_l_after", "pickup_kg", "leg_m")},
                     "plan_date": plan_date, "eta": t0 + timedelta(seconds=r["eta_s"]),
                     "window_end": (t0 + timedelta(seconds=r["window_s"][1])) if r["window_s"] else None,
                     "window_reason": r["window_reason"] or None,
                     "forecast_fill": fill_at_collection.get(r["bin_id"]) if r["bin_id"] else None,
                     "reason": None, "x_2154": x, "y_2154": y})
    for d in plan.dropped:
        x, y = pos[d["bin_id"]]
        rows.append({"truck_id": None, "trip": None, "waste_stream": d["waste_stream"], "stop_order": None,
                     "kind": "dropped", "bin_id": d["bin_id"], "load_kg_after": None, "load_l_after": None,
                     "pickup_kg": None, "leg_m": None, "plan_date": plan_date, "eta": None, "window_end": None,
                     "window_reason": None, "forecast_fill": fill_at_collection.get(d["bin_id"]), "reason": d["reason"],
                     "x_2154": x, "y_2154": y})
    return rows


def route_records(plan: Plan, plan_date, t0) -> list[dict]:
    """One row per planned route with its start and end times."""
    from datetime import timedelta

    return [{**r, "plan_date": plan_date, "start": t0 + timedelta(seconds=r["start_s"]),
             "end": t0 + timedelta(seconds=r["end_s"])} for r in plan.routes]


def fixed_round_records(rounds: list[tuple[str, str, list[str]]], node_of: dict, forecast: dict, density: dict,
                        capacity_kg: dict, D: np.ndarray, T: np.ndarray) -> list[dict]:
    """The cost of each fixed round (round id, truck, its bins in order) on the same network, with
    the forecast fills (`forecast`: bin -> {fill_at_collection, capacity_l, waste_stream})."""
    rows = []
    for rid, truck, bin_ids in rounds:
        bl = [b for b in bin_ids if b in node_of]
        kg = [max(forecast[b]["fill_at_collection"], 0.05) * forecast[b]["capacity_l"] * density[forecast[b]["waste_stream"]]
              for b in bl]
        c = fixed_round_cost([node_of[b] for b in bl], [forecast[b]["waste_stream"] for b in bl], kg,
                             capacity_kg.get(truck, 9500.0), D, T)
        rows.append({"round_id": rid, "truck_id": truck, **c,
                     "fills": [forecast[b]["fill_at_collection"] for b in bl], "bin_ids": bl})
    return rows
