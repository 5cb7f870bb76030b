"""Problem and solution dataclasses of the routing library (integer units, plain Python)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

# status of a search stopped by the wall-clock safety net before its solution limit: no plan
SAFETY_NET_TIMEOUT = "SAFETY_NET_TIMEOUT"


# --------------------------------------------------------------------------------------------
# Problem and solution
# --------------------------------------------------------------------------------------------


@dataclass
class VRPProblem:
    """A vehicle-routing problem in integer units over nodes ``0..n-1``.

    Attributes:
        distance: (n, n) integer arc costs (e.g. metres); the objective is their sum.
        vehicle_capacities: capacity (same unit as ``demands``) per vehicle; its length is the
            fleet size.
        demands: load picked up at each node (kg); the depot and disposal nodes should be 0.
        travel_time: (n, n) integer travel times (e.g. seconds); defaults to ``distance``.
        volumes: optional second load dimension (e.g. litres) per node.
        vehicle_volume_capacities: per-vehicle capacity for ``volumes`` (required with them).
        service_times: time spent at each node (added to the travel time leaving it).
        time_windows: optional ``(earliest, latest)`` start-of-service time per node (``None``
            entries = unconstrained). The depot's window bounds departure and return.
        max_route_duration: shift length: upper bound on (return time - departure time).
        depot: index of the depot (start and end of every route).
        drop_penalties: per node ``None`` (mandatory) or the integer penalty paid if it is not
            visited (``AddDisjunction``).
        disposal_nodes: nodes of disposal facilities where a full truck unloads (reload trips).
        max_disposal_trips: disposal visits available per vehicle and facility.
        disposal_service_time: time spent unloading (overrides ``service_times`` there).
        end_empty: every route must unload before returning to the depot.
        vehicle_fixed_cost: cost added per used vehicle.
        allowed_vehicles: per node ``None`` (any vehicle) or the vehicles that may serve it
            (e.g. trips of the waste stream a bin holds).
        vehicle_chains: pairs ``(a, b)``: vehicle ``b`` leaves the depot only after ``a`` is
            back (two trips of one physical truck); needs the time dimension.
        name: label used in logs and results.
        coords: optional (n, 2) positions, only to cut large problems into sectors.
    """

    distance: Any
    vehicle_capacities: Sequence[int]
    demands: Sequence[int]
    travel_time: Any | None = None
    volumes: Sequence[int] | None = None
    vehicle_volume_capacities: Sequence[int] | None = None
    service_times: Sequence[int] | None = None
    time_windows: Sequence[tuple[int, int] | None] | None = None
    max_route_duration: int | None = None
    depot: int = 0
    drop_penalties: Sequence[int | None] | None = None
    disposal_nodes: Sequence[int] = ()
    max_disposal_trips: int = 3
    disposal_service_time: int | None = None
    end_empty: bool = False
    vehicle_fixed_cost: int = 0
    allowed_vehicles: Sequence[Sequence[int] | None] | None = None
    vehicle_chains: Sequence[tuple[int, int]] = ()
    name: str = "vrp"
    coords: Any | None = None

    def __post_init__(self) -> None:
        self.distance = np.asarray(self.distance, dtype=np.int64)
        n = self.distance.shape[0]
        if self.distance.shape != (n, n):
            raise ValueError("distance must be a square matrix")
        if self.travel_time is not None:
            self.travel_time = np.asarray(self.travel_time, dtype=np.int64)
            if self.travel_time.shape != (n, n):
                raise ValueError("travel_time must have the shape of distance")
        if len(self.demands) != n:
            raise ValueError("demands must have one entry per node")
        if self.volumes is not None:
            if len(self.volumes) != n:
                raise ValueError("volumes must have one entry per node")
            if self.vehicle_volume_capacities is None or len(self.vehicle_volume_capacities) != len(
                self.vehicle_capacities
            ):
                raise ValueError("volumes need vehicle_volume_capacities, one per vehicle")
        for name in ("service_times", "time_windows", "drop_penalties", "allowed_vehicles"):
            seq = getattr(self, name)
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} must have one entry per node")
        if not 0 <= self.depot < n:
            raise ValueError("depot out of range")
        if self.depot in set(self.disposal_nodes):
            raise ValueError("the depot cannot be a disposal node")
        if len(self.vehicle_capacities) == 0:
            raise ValueError("at least one vehicle is needed")

    @property
    def num_nodes(self) -> int:
        return int(self.distance.shape[0])

    @property
    def num_vehicles(self) -> int:
        return len(self.vehicle_capacities)

    @property
    def has_time_windows(self) -> bool:
        return self.time_windows is not None and any(tw is not None for tw in self.time_windows)

    @property
    def needs_time_dimension(self) -> bool:
        return self.has_time_windows or self.max_route_duration is not None or bool(self.vehicle_chains)

    def customers(self) -> list[int]:
        """Nodes that are neither the depot nor a disposal facility."""
        skip = {self.depot, *self.disposal_nodes}
        return [i for i in range(self.num_nodes) if i not in skip]


@dataclass
class Route:
    """One vehicle's tour. ``nodes`` starts and ends with the depot (original node ids; disposal
    visits appear as the facility's id). ``arrival_times`` / ``start_times`` are the arrival and
    start-of-service times of the earliest schedule from the route's departure time;
    ``loads`` / ``volume_loads`` the load on board when leaving each node."""

    vehicle: int
    nodes: list[int]
    arrival_times: list[int]
    start_times: list[int]
    loads: list[int]
    volume_loads: list[int] | None
    distance: int
    duration: int


@dataclass
class VRPSolution:
    """Result of :func:`solve`.

    ``objective`` is OR-Tools' objective (distance + drop penalties + fixed costs);
    ``total_distance`` the distance only; ``dropped`` the unvisited customers;
    ``violations`` what :func:`check_routes` found (empty when feasible);
    ``config`` the search configuration that produced it and ``runs`` a summary of every
    parallel run.
    """

    routes: list[Route]
    total_distance: int
    dropped: list[int]
    status: str
    objective: int
    config: dict
    wall_time_s: float
    violations: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.objective >= 0 and self.status not in ("ROUTING_FAIL", "ROUTING_INVALID", "ROUTING_INFEASIBLE",
                                                           "ROUTING_NOT_SOLVED", "ROUTING_FAIL_TIMEOUT",
                                                           SAFETY_NET_TIMEOUT)

    @property
    def feasible(self) -> bool:
        """A plan came back, it serves every customer and violates no constraint."""
        return self.found and not self.dropped and not self.violations

    @property
    def vehicles_used(self) -> int:
        return sum(1 for r in self.routes if len(r.nodes) > 2)

    def customer_routes(self, problem: VRPProblem) -> list[list[int]]:
        """Routes without the depot (disposal visits kept), e.g. to warm-start the next solve."""
        return [[n for n in r.nodes[1:-1]] for r in self.routes if len(r.nodes) > 2]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["feasible"] = self.feasible
        d["vehicles_used"] = self.vehicles_used
        return d


# --------------------------------------------------------------------------------------------
# Search configuration
