"""A tiny simulated city's reference data and residents' reports, ingested into a temporary lake
through the real bronze path (the sources' parsers), silver reference tables built by the
transforms the assets call; trees from the simulator's population (the LiDAR chain is tested
elsewhere)."""

import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pytest


def ingest(lake, landing: Path, source_name: str) -> list:
    from assets.bronze import ingest_delivery
    from assets.sources import SOURCES_BY_NAME

    src = SOURCES_BY_NAME[source_name]
    return [ingest_delivery(src, key, lake, landing, landing / "_quarantine", "test-run")
            for key, _ in src.deliveries(landing)]


def build_reference(lake, landing: Path, city) -> None:
    from transforms import reference as R

    for name in ("quartiers", "street_segments", "collection_points"):
        ingest(lake, landing, name)
    lake.overwrite("silver", "quartiers", R.quartiers(lake.read("bronze", "quartiers")))
    lake.overwrite("silver", "street_segments", R.street_segments(lake.read("bronze", "street_segments")))
    lake.overwrite("silver", "collection_points", R.collection_points(lake.read("bronze", "collection_points")))
    from models.simulator.citizens import _tree_positions

    x, y, h = _tree_positions(city)
    trees = pl.DataFrame({"tree_id": [f"T{i:05d}" for i in range(len(x))], "x_2154": x, "y_2154": y,
                          "height_m": h, "dbh_cm": np.round(h * 3.2, 1), "risk_rating": ["Low"] * len(x),
                          "risk_score": [1.0] * len(x), "vitality": ["healthy"] * len(x),
                          "quartier": city.quartier_of(x, y).tolist()})
    lake.overwrite("silver", "tree_risk", trees)


@pytest.fixture(scope="session")
def tiny_city(tmp_path_factory):
    """Built once per session for test_assets, test_nats, test_plan_flow and test_routing (one xdist
    work unit, tests/conftest.py): they copy or only read its landing zone; test_routing alone writes
    to its lake."""
    from assets.lake import Lake
    from models.simulator.city import build_city
    from models.simulator.citizens import plant_requests, simulate_citizens
    from models.simulator.reference import write_reference

    root = tmp_path_factory.mktemp("citizens")
    landing, truth = root / "landing", root / "truth"
    city = build_city("tiny", 7)
    write_reference(city, landing)
    stats = simulate_citizens(city, landing, truth)
    lake = Lake(str(root / "lake"))
    build_reference(lake, landing, city)
    versions, rows = plant_requests(city)
    return {"root": root, "landing": landing, "truth": truth, "city": city, "lake": lake, "versions": versions,
            "truth_rows": pl.DataFrame(rows), "stats": stats, "run": uuid.uuid4().hex[:8]}
