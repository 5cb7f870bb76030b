"""Vehicle routing with OR-Tools: problem/solution dataclasses, the search and benchmark readers.

Plain Python (no Dagster). See :mod:`models.routing.vrp` for the model and the search and
:mod:`models.routing.instances` for the CVRPLIB / Solomon / ``.sol`` readers.
"""

from models.routing.instances import (
    BestKnown,
    Instance,
    read_cvrplib,
    read_instance,
    read_solomon,
    read_solution,
    route_cost,
    solution_cost,
)
from models.routing.vrp import (
    DEFAULT_CONFIGS,
    Route,
    SearchConfig,
    VRPProblem,
    VRPSolution,
    check_routes,
    default_configs,
    ils_available,
    problem_from_instance,
    routes_distance,
    solve,
    solve_single,
)

__all__ = [
    "BestKnown",
    "DEFAULT_CONFIGS",
    "Instance",
    "Route",
    "SearchConfig",
    "VRPProblem",
    "VRPSolution",
    "check_routes",
    "default_configs",
    "ils_available",
    "problem_from_instance",
    "read_cvrplib",
    "read_instance",
    "read_solomon",
    "read_solution",
    "route_cost",
    "routes_distance",
    "solution_cost",
    "solve",
    "solve_single",
]
