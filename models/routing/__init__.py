"""Vehicle routing with OR-Tools: problem/solution dataclasses, the search and benchmark readers.

Plain Python (no Dagster). :mod:`models.routing.vrp` is the entry point (:func:`solve`); the code
is split by idea into ``problem``, ``config``, ``model``, ``checks``, ``search``,
``construction`` and ``decompose`` (large problems); :mod:`models.routing.instances` reads
CVRPLIB / Solomon / ``.sol`` files. ``docs/routing.md`` has the measurements.
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
    CHAIN_CONFIGS,
    DEFAULT_CONFIGS,
    SAFETY_NET_TIMEOUT,
    LARGE_MIN_STOPS,
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
    solve_parallel,
    solve_single,
)

__all__ = [
    "BestKnown",
    "CHAIN_CONFIGS",
    "DEFAULT_CONFIGS",
    "SAFETY_NET_TIMEOUT",
    "Instance",
    "LARGE_MIN_STOPS",
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
    "solve_parallel",
    "solve_single",
]
