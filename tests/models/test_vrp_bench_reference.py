"""The routing bench's own re-costing / checks and its PyVRP adapter (bench/vrp_reference.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from vrp_reference import pyvrp_solve, recheck  # noqa: E402

from models.routing import VRPProblem  # noqa: E402


def _problem(**kw) -> VRPProblem:
    rng = np.random.default_rng(11)
    xy = np.vstack([[50, 50], rng.uniform(0, 100, size=(25, 2))])
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    return VRPProblem(distance=d, vehicle_capacities=[30] * 8, demands=[0] + [5] * 25, coords=xy, **kw)


def test_recheck_costs_and_finds_violations():
    p = _problem()
    routes = [list(range(1, 7)), list(range(7, 13)), list(range(13, 19)), list(range(19, 25)), [25]]
    cost, bad = recheck(p, routes)
    seq = [[0, *r, 0] for r in routes]
    assert cost == sum(int(p.distance[a, b]) for s in seq for a, b in zip(s[:-1], s[1:]))
    assert bad == []
    _, bad = recheck(p, [list(range(1, 8)), list(range(8, 26))])
    assert any("over capacity" in b for b in bad)
    _, bad = recheck(p, routes[:-1])
    assert any("customers served 24" in b for b in bad)
    q = _problem(service_times=[0] + [10] * 25, max_route_duration=100)
    _, bad = recheck(q, routes)
    assert any("duration" in b for b in bad)


def test_pyvrp_reference_is_recosted_identically():
    pytest.importorskip("pyvrp")
    p = _problem()
    routes, seconds, feasible, own = pyvrp_solve(p, 1.0)
    cost, bad = recheck(p, routes)
    assert feasible and bad == [] and cost == own
