"""This season's repair plan: which treatment on which segment under a budget (CP-SAT), then
the crew's days through the chosen sites (OR-Tools routing, via models.routing.vrp).

Plain Python, no Dagster. The options (cost, PCI gain, reasons per segment and treatment
package) come from transforms.roads.repair_options; here they are only numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SAFETY_BONUS = 50.0          # objective points per safety-critical segment made safe (per km-weighted PCI)

# Reproducible solves: the plans are bounded by work, not by the clock, so a loaded machine gives
# the same plan as an idle one; the wall-clock limits are safety nets that fail loudly.
REPAIR_DETERMINISTIC_TIME = 5.0  # CP-SAT deterministic time units (one worker, seed 0)
REPAIR_SAFETY_S = 300.0          # wall-clock net of the CP-SAT solve
CREW_SOLUTIONS = 100             # OR-Tools routing solution limit of each sector's crew days (docs/roads.md)
CREW_SECTOR_PARTS = 80           # parts per routed sector of the crew days (see crew_days)
CREW_SAFETY_S = 300.0            # wall-clock net of the crew routing
SAFETY_NET_TIMEOUT = "SAFETY_NET_TIMEOUT"


@dataclass
class PlanResult:
    chosen: list[int]                      # indices of the chosen options
    status: str                            # CP-SAT status name
    objective: float                       # in the objective's units (weighted PCI-point-km)
    best_bound: float
    gap: float                             # (bound - objective) / max(1, bound)
    cost: float
    budget: float
    wall_s: float
    notes: list[str] = field(default_factory=list)


def option_value(gain: float, length_m: float, class_weight: float, safety_fix: bool) -> float:
    """What an option is worth: PCI points gained x km x road-class weight, plus a bonus when it
    removes a safety-critical defect."""
    return gain * (length_m / 1000) * class_weight + (SAFETY_BONUS * class_weight if safety_fix else 0.0)


def plan_repairs(segment_ids: list[str], costs: list[float], values: list[float], budget: float,
                 deterministic_time: float = REPAIR_DETERMINISTIC_TIME, safety_s: float = REPAIR_SAFETY_S,
                 scale: int = 100) -> PlanResult:
    """At most one option per segment, total cost within `budget`, maximum total value.

    Costs are rounded up to whole euros (so the plan never exceeds the budget in real euros);
    values are scaled by `scale` to integers. The search is bounded by `deterministic_time`
    (CP-SAT's `max_deterministic_time`, one worker, seed 0: the same plan under any load);
    `safety_s` is a wall-clock net: a solve it stops (not proven optimal) returns no plan with
    status SAFETY_NET_TIMEOUT."""
    import time

    from ortools.sat.python import cp_model

    n = len(costs)
    m = cp_model.CpModel()
    x = [m.NewBoolVar(f"x{i}") for i in range(n)]
    by_seg: dict[str, list[int]] = {}
    for i, s in enumerate(segment_ids):
        by_seg.setdefault(s, []).append(i)
    for idx in by_seg.values():
        if len(idx) > 1:
            m.AddAtMostOne(x[i] for i in idx)
    icost = [int(math.ceil(c)) for c in costs]
    m.Add(sum(c * v for c, v in zip(icost, x)) <= int(math.floor(budget)))
    ival = [int(round(v * scale)) for v in values]
    m.Maximize(sum(v * xi for v, xi in zip(ival, x)))
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(deterministic_time)
    solver.parameters.max_time_in_seconds = float(safety_s)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.linearization_level = 2   # the LP relaxation bounds this knapsack tightly: proves optimality on larger cities
    t = time.perf_counter()
    st = solver.Solve(m)
    wall = time.perf_counter() - t
    name = solver.StatusName(st)
    if st != cp_model.OPTIMAL and wall >= 0.98 * safety_s:
        return PlanResult([], SAFETY_NET_TIMEOUT, 0.0, 0.0, float("nan"), 0.0, budget, wall,
                          [f"wall-clock safety net of {safety_s:.0f} s reached before the deterministic limit: "
                           f"no reproducible plan"])
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return PlanResult([], name, 0.0, 0.0, float("nan"), 0.0, budget, wall, [f"no solution: {name}"])
    chosen = [i for i in range(n) if solver.Value(x[i])]
    obj = solver.ObjectiveValue() / scale
    bound = solver.BestObjectiveBound() / scale
    gap = 0.0 if name == "OPTIMAL" else max(0.0, bound - obj) / max(1e-9, abs(bound))
    return PlanResult(chosen, name, obj, bound, gap, float(sum(icost[i] for i in chosen)), budget, wall)


# --------------------------------------------------------------------------------------------
# Crew days
# --------------------------------------------------------------------------------------------

@dataclass
class CrewStop:
    day: int
    sequence: int
    site: int                 # index into the sites given
    part: int                 # a long job is split into parts of at most one shift's work
    parts: int
    arrival_min: int          # minutes after the shift start
    work_min: int
    travel_m_before: int


def _parts(xy: np.ndarray, work_hours: list[float], cap: int) -> list[tuple[int, int, int, int]]:
    """The crew's jobs as (site, part, parts, work minutes): a job longer than `cap` minutes
    is split into equal parts done on successive visits."""
    out = []
    for i, h in enumerate(work_hours):
        total = max(1, int(round(h * 60)))
        k = max(1, math.ceil(total / cap))
        out += [(i, j + 1, k, int(math.ceil(total / k))) for j in range(k)]
    return out


def sectors(xy: np.ndarray, n_parts: list[int], depot_xy: tuple[float, float],
            max_parts: int = CREW_SECTOR_PARTS) -> list[list[int]]:
    """The sites cut into sectors around the depot: sites taken in order of their bearing from
    the depot (then distance, then index: a total order, so the same sites give the same sectors),
    consecutive sites grouped while the sector holds at most `max_parts` parts (a site's parts
    stay together). A crew works a part of the city at a time; each sector is routed on its own."""
    if not len(xy):
        return []
    d = np.asarray(xy, float) - np.asarray(depot_xy, float)
    order = np.lexsort((np.arange(len(d)), np.round(np.hypot(d[:, 0], d[:, 1]), 3),
                        np.round(np.arctan2(d[:, 1], d[:, 0]), 9)))
    out: list[list[int]] = [[]]
    load = 0
    for i in order.tolist():
        if out[-1] and load + n_parts[i] > max_parts:
            out.append([])
            load = 0
        out[-1].append(i)
        load += n_parts[i]
    return out


def first_fit_days(work_min: list[int], depot_travel_min: list[int], shift: int) -> list[list[int]]:
    """A plan that always exists: the parts (1-based, in the order given) packed into days by
    first fit decreasing of their work plus their round trip from the depot. Each day is a
    feasible tour (through several parts a crew travels no more than their round trips, by the
    triangle inequality), so it is the routing search's warm start and its number of days the
    'vehicles' offered: far fewer than one per part, and the search never drops a part for want
    of a day. A part whose round trip and work exceed the shift gets a day of its own (the
    search then reports it)."""
    size = [w + 2 * t for w, t in zip(work_min, depot_travel_min)]
    days: list[list[int]] = []
    free: list[int] = []
    for k in sorted(range(len(size)), key=lambda k: (-size[k], k)):
        for d, f in enumerate(free):
            if size[k] <= f:
                free[d] -= size[k]
                days[d].append(k + 1)
                break
        else:
            days.append([k + 1])
            free.append(shift - size[k])
    return [sorted(d) for d in days]


def crew_days(xy: np.ndarray, work_hours: list[float], depot_xy: tuple[float, float],
              shift_hours: float = 7.5, speed_kmh: float = 25.0, detour: float = 1.3,
              solution_limit: int = CREW_SOLUTIONS, safety_s: float = CREW_SAFETY_S,
              sector_parts: int = CREW_SECTOR_PARTS) -> tuple[list[CrewStop], dict]:
    """Route one crew through the sites day by day: each day a tour from the depot within the
    shift. A job longer than 80 % of a shift is split into parts done on successive visits.
    Travel = straight-line distance x `detour` at `speed_kmh`.

    The sites are cut into sectors of at most `sector_parts` parts around the depot
    (:func:`sectors`) and each sector's days are routed on their own with the routing module
    (OR-Tools routing: one 'vehicle' per day of :func:`first_fit_days`' packing, which is also the
    warm start, a fixed cost per day used, so the fewest days), bounded by `solution_limit` solutions per sector
    (reproducible: the same sites give the same days whatever the machine's load); the sectors'
    days follow one another. `safety_s` is the wall-clock net of the whole call. A sector that
    finds no plan (or is stopped by the net) makes the whole call return no stops and its status
    in the info: the caller must not publish that as the crew's days."""
    import time

    from models.routing.vrp import VRPProblem, default_configs, solve_single

    shift = int(shift_hours * 60)
    cap = int(0.8 * shift)
    parts = _parts(xy, work_hours, cap)
    if not parts:
        return [], {"days": 0, "status": "NO_SITES", "travel_km": 0.0, "work_hours": 0.0, "found": True}
    by_site: list[list[tuple[int, int, int, int]]] = [[] for _ in work_hours]
    for p in parts:
        by_site[p[0]].append(p)
    per_site = [len(b) for b in by_site]
    metres_per_min = speed_kmh * 1000 / 60
    t0 = time.perf_counter()
    stops: list[CrewStop] = []
    day0, travel_m, found, statuses, violations, notes, dropped = 0, 0, True, [], [], [], 0
    groups = sectors(xy, per_site, depot_xy, sector_parts)
    for sites in groups:
        sp = [p for site in sites for p in by_site[site]]   # in the sector's bearing order
        P = np.array([depot_xy, *[xy[p[0]] for p in sp]], float)
        dist = np.hypot(P[:, None, 0] - P[None, :, 0], P[:, None, 1] - P[None, :, 1]) * detour
        travel_min = np.ceil(dist / metres_per_min).astype(np.int64)
        work = [0, *[p[3] for p in sp]]
        start = first_fit_days(work[1:], travel_min[0, 1:].tolist(), shift)
        prob = VRPProblem(distance=np.rint(dist).astype(np.int64), vehicle_capacities=[1] * len(start),
                          demands=[0] * len(P), travel_time=travel_min, service_times=work,
                          max_route_duration=shift, vehicle_fixed_cost=1_000_000, name="road-crew")
        left = safety_s - (time.perf_counter() - t0)
        sol = solve_single(prob, default_configs(prob)[0], time_limit_s=max(left, 0.01), initial_routes=start,
                           always_return_plan=True, solution_limit=solution_limit)
        statuses.append(sol.status)
        violations += sol.violations
        notes += sol.notes[-1:]
        dropped += len(sol.dropped)
        if not sol.found:
            found = False
            break
        routes = [r for r in sol.routes if len(r.nodes) > 2]
        for d, r in enumerate(routes, start=day0 + 1):
            prev = 0
            for s, node in enumerate(r.nodes[1:-1], start=1):
                site, part, k, _ = sp[node - 1]
                stops.append(CrewStop(d, s, site, part, k, int(r.arrival_times[s]), work[node],
                                      int(prob.distance[prev, node])))
                prev = node
        day0 += len(routes)
        travel_m += sol.total_distance
    # the plan's status is its weakest sector's (a failed sector's when one failed)
    rank = {"ROUTING_OPTIMAL": 0, "ROUTING_SUCCESS": 1}
    worst = statuses[-1] if not found else max(statuses, key=lambda st: rank.get(st, 2))
    info = {"days": day0 if found else 0, "status": worst, "travel_km": round(travel_m / 1000, 2),
            "work_hours": round(sum(p[3] for p in parts) / 60, 2), "dropped_parts": dropped if found else len(parts),
            "violations": violations[:5], "wall_s": round(time.perf_counter() - t0, 2), "found": found,
            "parts": len(parts), "sectors": len(groups), "solution_limit": solution_limit, "notes": notes[-3:]}
    return (stops if found else []), info
