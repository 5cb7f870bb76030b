"""The tree chain's per-tile steps over a pool of processes (assets/tile_pool.py,
assets/trees_tiles.py) give the tables of the one-process path: same rows, same order, same
rasters, same quarantine reasons; a tile's trees near a job's edge see the neighbours they see in
one process; a job that fails or kills its worker is named and the others land."""

import os
from pathlib import Path

import polars as pl
import pytest

from assets import trees_tiles as TP
from assets.lake import Lake
from assets.tile_pool import map_jobs
from models.trees import pipeline as P
from transforms import trees as T

PROBE = "tests.assets.tile_pool_probe:pid_or_crash"


def test_pool_yields_in_job_order_from_other_processes():
    jobs = [f"t{i}" for i in range(9)]
    out = list(map_jobs(PROBE, jobs, workers=2, ahead=3))
    assert [i for i, _s, _v in out] == list(range(9))
    assert [v["job"] for _i, _s, v in out] == jobs
    pids = {v["pid"] for _i, _s, v in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    alone = list(map_jobs(PROBE, jobs, workers=1))   # one worker: this process, same order
    assert [v["job"] for _i, _s, v in alone] == jobs and {v["pid"] for _i, _s, v in alone} == {os.getpid()}


def test_pool_names_a_failing_job_and_a_crash_the_rest_land():
    jobs = ["a", "bad", "b", "crash", "c", "d", "e", "f"]
    out = {i: (s, v) for i, s, v in map_jobs(PROBE, jobs, workers=2, ahead=2)}
    assert sorted(out) == list(range(len(jobs)))
    assert out[1] == ("failed", "ValueError: a bad tile")
    assert out[3][0] == "failed" and "worker process died (exit code 3)" in out[3][1]
    assert [out[i][1]["job"] for i in (0, 2, 4, 5, 6, 7)] == ["a", "b", "c", "d", "e", "f"]
    # in one process a failure is the same reason
    one = {i: (s, v) for i, s, v in map_jobs(PROBE, ["a", "bad"], workers=1)}
    assert one[1] == ("failed", "ValueError: a bad tile")


@pytest.fixture(scope="module")
def tiny_tiles(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """The tiny city's tiles (3 per scan) and a registered tile whose file is not LAS."""
    from models.simulator.city import build_city
    from models.simulator.trees import simulate_trees

    base = tmp_path_factory.mktemp("tiles")
    landing = base / "landing"
    simulate_trees(build_city("tiny", 7), landing, base / "truth")
    rows = []
    for p in sorted((landing / "trees" / "tiles").glob("*/*.laz")):
        x0, y0 = (float(v) for v in p.stem.split("_")[1:3])
        rows.append({"tile_id": p.stem, "epoch": p.parent.name, "checksum": p.stem, "crs_epsg": 2154,
                     "source_file": p.relative_to(landing).as_posix(), "core_x0": x0, "core_y0": y0})
    bad = landing / "trees" / "tiles" / "2026" / "L93_1024000_6280250.laz"
    bad.write_bytes(b"not a LAS file")
    rows.append({**rows[-1], "tile_id": bad.stem, "source_file": bad.relative_to(landing).as_posix(),
                 "core_x0": 1024000.0, "core_y0": 6280250.0, "checksum": "bad"})
    return landing, pl.DataFrame(rows).sort("epoch", "tile_id")


def _run(landing: Path, todo: pl.DataFrame, root: Path, workers: int) -> dict:
    lake = Lake(str(root))
    rows, bad = TP.tile_points(lake, landing, todo, workers)
    products = T.merge_tile_products(pl.DataFrame(schema=T.TILE_PRODUCTS), rows)
    return {"lake": lake, "products": products, "bad": bad, "points": lake.read("silver", "lidar_points"),
            "rasters": {(r["epoch"], r["tile_id"]): Path(r["rasters_path"]).read_bytes() for r in rows},
            "detections": TP.tree_detections(products, workers)}


def test_two_workers_give_the_one_process_tables(tiny_tiles, tmp_path, monkeypatch):
    landing, todo = tiny_tiles
    one = _run(landing, todo, tmp_path / "one", 1)
    monkeypatch.setattr(TP, "DETECT_MIN_TILES", 1)   # a job per column of tiles: every tile near a job's edge
    assert len(P.detection_jobs(one["products"], 1)) == 6
    two = _run(landing, todo, tmp_path / "two", 2)

    # the bad tile is returned with its reason by both paths; the six others land
    assert [(r["tile_id"], reason) for r, reason in one["bad"]] == [(r["tile_id"], reason) for r, reason in two["bad"]]
    assert len(one["bad"]) == 1 and "unreadable at the points step" in one["bad"][0][1]
    assert one["products"].height == two["products"].height == 6
    volatile = ["seconds", "rasters_path"]   # time taken; the lake's own folder
    assert one["products"].drop(volatile).equals(two["products"].drop(volatile))
    assert one["points"].height == int(one["products"]["points"].sum()) > 1_000_000
    assert one["points"].equals(two["points"])   # same rows in the same order
    assert one["rasters"] == two["rasters"]
    assert one["lake"].table("silver", "lidar_points").version() == two["lake"].table("silver", "lidar_points").version()

    det1, det2 = one["detections"], two["detections"]
    assert det1.height > 100 and det1.equals(det2)
    # and the one-process path is the detection of every tile on its mosaic, as before
    assert det1.equals(P.detect_all(one["products"]))
    assert det1.filter(pl.col("epoch") == "2026")["canopy_prev_m"].is_not_nan().sum() > 50
