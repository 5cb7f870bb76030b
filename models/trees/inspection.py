"""Arborist inspection rounds: the riskiest trees a few teams can visit in one shift (OR-Tools).

Built on :mod:`models.routing.vrp`: one node per candidate tree plus the depot, travel times from
straight-line distance x a detour factor at a van's urban speed, a service time per inspection,
the shift length as the route duration limit, and every tree *optional* with a drop penalty equal
to its risk score (scaled), so the search visits as much risk as a shift allows and reports the
rest as deferred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.routing.vrp import VRPProblem, default_configs, solve


@dataclass(frozen=True)
class InspectionConfig:
    teams: int = 2
    shift_min: int = 450          # 7 h 30
    service_min: int = 20         # per tree
    speed_kmh: float = 18.0       # van in town
    detour: float = 1.35          # street distance / straight line
    max_candidates: int = 80
    time_limit_s: float = 120.0   # wall-clock safety net only: reaching it gives no plan
    solution_limit: int = 300     # the search's bound (reproducible under any machine load)
    penalty_scale: int = 1000     # seconds of travel a point of risk is worth


def plan_inspections(depot_xy: tuple[float, float], x: np.ndarray, y: np.ndarray, score: np.ndarray,
                     cfg: InspectionConfig = InspectionConfig()) -> dict:
    """Routes over the candidates (indices into x, y, score), visit order and times, dropped ones."""
    n = len(x)
    if n == 0:
        return {"routes": [], "dropped": [], "status": "no candidates", "objective": 0}
    px = np.r_[depot_xy[0], x]
    py = np.r_[depot_xy[1], y]
    d = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :]) * cfg.detour
    tt = np.rint(d / (cfg.speed_kmh / 3.6)).astype(np.int64)   # seconds
    service = [0] + [cfg.service_min * 60] * n
    penalties = [None] + [int(max(1, round(s * cfg.penalty_scale))) for s in score]
    prob = VRPProblem(distance=tt, vehicle_capacities=[n] * cfg.teams, demands=[0] + [1] * n, travel_time=tt,
                      service_times=service, max_route_duration=cfg.shift_min * 60, drop_penalties=penalties,
                      name="tree_inspections")
    sol = solve(prob, time_limit_s=cfg.time_limit_s, configs=default_configs(prob)[:1], workers=1,
                solution_limit=cfg.solution_limit)
    routes = []
    for r in sol.routes:
        if len(r.nodes) <= 2:
            continue
        stops = [(node - 1, int(t)) for node, t in zip(r.nodes[1:-1], r.start_times[1:-1])]
        routes.append({"team": r.vehicle + 1, "stops": stops, "duration_s": int(r.duration),
                       "distance_m": float(sum(d[a, b] for a, b in zip(r.nodes[:-1], r.nodes[1:])))})
    return {"routes": routes, "dropped": [i - 1 for i in sol.dropped], "status": sol.status,
            "objective": int(sol.objective), "wall_s": sol.wall_time_s, "found": sol.found}
