"""Readers for the public vehicle-routing benchmark formats and a re-costing helper.

Formats and the integer conventions used (they match ``shared/benchmarks/vrp/README.md``):

* CVRPLIB ``.vrp`` (TSPLIB, ``EDGE_WEIGHT_TYPE : EUC_2D``): distance = Euclidean distance rounded
  to the nearest integer; ``scale = 1``.
* Solomon ``.txt`` (VRPTW), DIMACS *distance-only* convention: distance = Euclidean distance
  truncated to one decimal, held as integer tenths (``scale = 10``); travel time = distance;
  ready times, due dates and service times multiplied by 10; at most 25 vehicles (the value in the
  file); the objective is the total distance only (no vehicle-count term).
* ``.sol`` (CVRPLIB style): ``Route #k: c1 c2 ...`` lines with customers numbered as node indices
  (depot = 0), then ``Cost X``.

Everything returned is plain Python / numpy so it can be pickled into worker processes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Instance",
    "BestKnown",
    "read_cvrplib",
    "read_solomon",
    "read_instance",
    "read_solution",
    "route_cost",
    "solution_cost",
    "euclidean_rounded",
    "euclidean_truncated_tenths",
]


@dataclass
class Instance:
    """A benchmark instance in integer units.

    ``distance`` is the integer arc-cost matrix (node 0 is the depot after re-indexing);
    ``scale`` converts integer costs back to the published unit (cost / scale).
    ``ready``/``due``/``service`` are in the same integer time unit as ``distance`` (None for CVRP).
    """

    name: str
    kind: str  # "cvrp" or "vrptw"
    coords: np.ndarray  # (n, 2) float
    demands: list[int]
    capacity: int
    num_vehicles: int
    distance: np.ndarray  # (n, n) int64
    depot: int = 0
    scale: int = 1
    ready: list[int] | None = None
    due: list[int] | None = None
    service: list[int] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return int(self.distance.shape[0])

    @property
    def has_time_windows(self) -> bool:
        return self.ready is not None


@dataclass
class BestKnown:
    """A best-known solution: customer sequences (depot omitted) and the published cost."""

    routes: list[list[int]]
    cost: float


def euclidean_rounded(coords: np.ndarray) -> np.ndarray:
    """TSPLIB EUC_2D: nint of the Euclidean distance, as int64."""
    c = np.asarray(coords, dtype=float)
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    return np.floor(d + 0.5).astype(np.int64)


def euclidean_truncated_tenths(coords: np.ndarray) -> np.ndarray:
    """DIMACS VRPTW convention: Euclidean distance truncated to one decimal, in integer tenths.

    With integer coordinates this is exact: ``isqrt(100 * (dx^2 + dy^2))``.
    """
    c = np.asarray(coords, dtype=float)
    n = len(c)
    if np.all(c == np.round(c)):
        ci = c.astype(np.int64)
        out = np.zeros((n, n), dtype=np.int64)
        for i in range(n):
            sq = 100 * ((ci[:, 0] - ci[i, 0]) ** 2 + (ci[:, 1] - ci[i, 1]) ** 2)
            out[i] = [math.isqrt(int(v)) for v in sq]
        return out
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    return np.floor(d * 10 + 1e-9).astype(np.int64)


def read_cvrplib(path: str | Path) -> Instance:
    """Read a CVRPLIB/TSPLIB ``.vrp`` file (EUC_2D, single depot).

    Nodes are re-indexed so that the depot is node 0 (in the standard files it already is node 1,
    i.e. index 0) and the others keep their file order.
    """
    path = Path(path)
    header: dict[str, str] = {}
    coords: dict[int, tuple[float, float]] = {}
    demands: dict[int, int] = {}
    depots: list[int] = []
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("EOF"):
            break
        if upper.endswith("_SECTION"):
            section = upper
            continue
        if section is None or (":" in line and not line[0].isdigit() and not line[0] == "-"):
            if ":" in line:
                key, value = line.split(":", 1)
                header[key.strip().upper()] = value.strip()
                section = None
            continue
        parts = line.split()
        if section == "NODE_COORD_SECTION":
            coords[int(parts[0])] = (float(parts[1]), float(parts[2]))
        elif section == "DEMAND_SECTION":
            demands[int(parts[0])] = int(parts[1])
        elif section == "DEPOT_SECTION":
            v = int(parts[0])
            if v >= 0:
                depots.append(v)
    ewt = header.get("EDGE_WEIGHT_TYPE", "EUC_2D").upper()
    if ewt != "EUC_2D":
        raise ValueError(f"{path.name}: unsupported EDGE_WEIGHT_TYPE {ewt}")
    ids = sorted(coords)
    depot_id = depots[0] if depots else ids[0]
    order = [depot_id] + [i for i in ids if i != depot_id]
    xy = np.array([coords[i] for i in order], dtype=float)
    dem = [demands.get(i, 0) for i in order]
    name = header.get("NAME", path.stem)
    k = re.search(r"-k(\d+)", name)
    num_vehicles = int(header.get("VEHICLES", k.group(1) if k else len(order) - 1))
    return Instance(
        name=name,
        kind="cvrp",
        coords=xy,
        demands=dem,
        capacity=int(header["CAPACITY"]),
        num_vehicles=num_vehicles,
        distance=euclidean_rounded(xy),
        depot=0,
        scale=1,
        meta={"file_ids": order, "min_vehicles_hint": num_vehicles},
    )


def read_solomon(path: str | Path, max_vehicles: int | None = 25) -> Instance:
    """Read a Solomon VRPTW ``.txt`` file with the DIMACS distance-only integer convention.

    Distances/travel times are truncated tenths; ready, due and service times are multiplied by 10.
    ``num_vehicles`` is the file's value capped at ``max_vehicles``.
    """
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    name = next(ln for ln in lines if ln)
    num_vehicles = capacity = None
    rows: list[list[float]] = []
    mode = None
    for ln in lines:
        up = ln.upper()
        if up.startswith("VEHICLE"):
            mode = "vehicle"
            continue
        if up.startswith("CUSTOMER"):
            mode = "customer"
            continue
        parts = ln.split()
        if not parts or not re.match(r"^-?\d", parts[0]):
            continue
        if mode == "vehicle" and num_vehicles is None:
            num_vehicles, capacity = int(parts[0]), int(parts[1])
        elif mode == "customer":
            rows.append([float(p) for p in parts[:7]])
    if num_vehicles is None or not rows:
        raise ValueError(f"{path.name}: not a Solomon instance")
    rows.sort(key=lambda r: r[0])
    xy = np.array([[r[1], r[2]] for r in rows], dtype=float)

    def x10(v: float) -> int:
        return int(round(v * 10))

    if max_vehicles is not None:
        num_vehicles = min(num_vehicles, max_vehicles)
    return Instance(
        name=name,
        kind="vrptw",
        coords=xy,
        demands=[int(r[3]) for r in rows],
        capacity=int(capacity),
        num_vehicles=int(num_vehicles),
        distance=euclidean_truncated_tenths(xy),
        depot=0,
        scale=10,
        ready=[x10(r[4]) for r in rows],
        due=[x10(r[5]) for r in rows],
        service=[x10(r[6]) for r in rows],
        meta={"file_ids": [int(r[0]) for r in rows]},
    )


def read_instance(path: str | Path) -> Instance:
    """Dispatch on the extension: ``.vrp`` -> CVRPLIB, ``.txt`` -> Solomon."""
    path = Path(path)
    if path.suffix.lower() == ".vrp":
        return read_cvrplib(path)
    if path.suffix.lower() == ".txt":
        return read_solomon(path)
    raise ValueError(f"unknown instance format: {path}")


def read_solution(path: str | Path) -> BestKnown:
    """Read a CVRPLIB-style ``.sol`` file: ``Route #k: ...`` lines and ``Cost X``."""
    routes: list[list[int]] = []
    cost = math.nan
    for ln in Path(path).read_text().splitlines():
        s = ln.strip()
        if s.lower().startswith("route"):
            _, _, rest = s.partition(":")
            seq = [int(t) for t in rest.split()]
            if seq:
                routes.append(seq)
        elif s.lower().startswith("cost"):
            cost = float(s.split()[1])
    return BestKnown(routes=routes, cost=cost)


def route_cost(distance: np.ndarray, route: list[int], depot: int = 0) -> int:
    """Integer cost of depot -> route... -> depot (depot omitted from ``route``)."""
    seq = [depot, *route, depot]
    return int(sum(int(distance[a, b]) for a, b in zip(seq[:-1], seq[1:])))


def solution_cost(distance: np.ndarray, routes: list[list[int]], depot: int = 0) -> int:
    """Integer cost of a set of routes (each without the depot)."""
    return sum(route_cost(distance, r, depot) for r in routes if r)
