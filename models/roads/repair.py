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
CREW_SOLUTIONS = 300             # OR-Tools routing solution limit of the crew days
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


def crew_days(xy: np.ndarray, work_hours: list[float], depot_xy: tuple[float, float],
              shift_hours: float = 7.5, speed_kmh: float = 25.0, detour: float = 1.3,
              solution_limit: int = CREW_SOLUTIONS, safety_s: float = CREW_SAFETY_S) -> tuple[list[CrewStop], dict]:
    """Route one crew through the sites day by day: each day a tour from the depot within the
    shift. A job longer than 80 % of a shift is split into parts done on successive visits.
    Travel = straight-line distance x `detour` at `speed_kmh`. Solved with the routing module
    (OR-Tools routing: one 'vehicle' per day, a fixed cost per day used, so the fewest days),
    bounded by `solution_limit` (reproducible) with `safety_s` as the wall-clock net. A search
    that finds no plan (or is stopped by the net) returns no stops and its status in the info:
    the caller must not publish that as the crew's days."""
    from models.routing.vrp import VRPProblem, default_configs, solve_single

    shift = int(shift_hours * 60)
    cap = int(0.8 * shift)
    nodes_xy, nodes_work, owner, part, parts = [tuple(depot_xy)], [0], [-1], [0], [0]
    for i, (p, h) in enumerate(zip(xy, work_hours)):
        total = max(1, int(round(h * 60)))
        k = max(1, math.ceil(total / cap))
        for j in range(k):
            nodes_xy.append((float(p[0]), float(p[1])))
            nodes_work.append(int(math.ceil(total / k)))
            owner.append(i)
            part.append(j + 1)
            parts.append(k)
    P = np.array(nodes_xy, float)
    dist = np.hypot(P[:, None, 0] - P[None, :, 0], P[:, None, 1] - P[None, :, 1]) * detour
    travel_min = np.ceil(dist / (speed_kmh * 1000 / 60)).astype(np.int64)
    n = len(P)
    if n == 1:
        return [], {"days": 0, "status": "NO_SITES", "travel_km": 0.0, "work_hours": 0.0, "found": True}
    est = (sum(nodes_work) + travel_min[0].sum()) / shift
    # enough days for the worst case (every part alone in its day: a part is at most 80 % of a shift);
    # the fixed cost per day used keeps the plan to the fewest days
    days = max(int(math.ceil(est * 1.3)) + 2, n - 1)
    prob = VRPProblem(distance=np.rint(dist).astype(np.int64), vehicle_capacities=[1] * days, demands=[0] * n,
                      travel_time=travel_min, service_times=nodes_work, max_route_duration=shift,
                      vehicle_fixed_cost=1_000_000, name="road-crew")
    sol = solve_single(prob, default_configs(prob)[0], time_limit_s=safety_s, always_return_plan=True,
                       solution_limit=solution_limit)
    stops: list[CrewStop] = []
    routes = [r for r in sol.routes if len(r.nodes) > 2]
    for d, r in enumerate(routes, start=1):
        prev = 0
        for s, node in enumerate(r.nodes[1:-1], start=1):
            stops.append(CrewStop(d, s, owner[node], part[node], parts[node], int(r.arrival_times[s]),
                                  nodes_work[node], int(prob.distance[prev, node])))
            prev = node
    info = {"days": len(routes), "status": sol.status, "travel_km": round(sol.total_distance / 1000, 2),
            "work_hours": round(sum(nodes_work) / 60, 2), "dropped_parts": len(sol.dropped),
            "violations": sol.violations[:5], "wall_s": round(sol.wall_time_s, 2), "found": sol.found,
            "parts": n - 1, "solution_limit": solution_limit, "notes": sol.notes[-3:]}
    return stops, info
