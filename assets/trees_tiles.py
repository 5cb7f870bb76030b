"""The tree chain's per-tile steps over INGEST_WORKERS processes (assets/tile_pool.py).

- `silver/lidar_points`: one job per tile. A worker reads the tile's file, finds the ground,
  computes heights and rasters (`models.trees.pipeline.process_tile`) and writes the rasters
  (`Lake.files`: local disk or object store); the points come back to this process, which writes
  each tile's Delta partition in the order of the tiles to process, one commit per tile as
  before. A tile that fails (unreadable, or its worker dies twice) is returned with its reason;
  the others land.
- `silver/tree_detections`: jobs of whole columns of tiles (`models.trees.pipeline.detection_jobs`):
  each job carries the rasters its tiles' detection reads (the neighbours within one tile, for
  the mosaic and its 20 m buffer, and the same places in the other scan), so a tile near a job's
  edge sees the same neighbours as in one process; the frames are gathered in job order. One
  tile that fails fails the step (its trees would otherwise read as felled in the twin): the
  previous table is kept.

With one worker both run in this process, as before; the pool gives the same tables (same rows,
same order: tests/assets/test_trees_tiles.py). Dagster-free: the workers import this module.
"""

from __future__ import annotations

import json
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .tile_pool import map_jobs

if TYPE_CHECKING:   # not imported at run time: the pool's workers import this module, Dagster-free
    from .lake import Lake

# detection jobs: whole columns of tiles, at least this many tiles per job and about this many jobs
# per worker and scan (a job reloads the rasters of the columns either side of it: fewer, larger
# jobs reload less, more jobs balance the workers better at the end)
DETECT_MIN_TILES = 6
DETECT_JOBS_PER_WORKER = 4


@lru_cache(maxsize=4)
def _files(root: str, storage_options_json: str):
    from .storage import LakeFiles

    return LakeFiles(root, json.loads(storage_options_json) or None)


def tile_points_job(job: dict) -> tuple[dict, object]:
    """One tile's points, ground, heights and rasters (rasters written to the lake): its
    lidar_tile_products row (with `rasters_path` and the seconds it took) and its points as an
    Arrow table. Raises on a file that cannot be read."""
    from models.lidar.tiles import read_las
    from models.trees import pipeline as P
    from transforms import territory as TT

    r, t = job["tile"], time.perf_counter()
    tp = read_las(Path(job["landing"]) / r["source_file"])
    if r["crs_epsg"] != TT.L93:   # declared in another CRS: points to Lambert-93 like its bounds
        tp.x, tp.y = TT.to_lambert93(tp.x, tp.y, r["crs_epsg"])
    row, table, rasters = P.process_tile(tp, r)
    files = _files(job["lake_root"], job["storage_options"])
    row["rasters_path"] = files.put_bytes(f"silver/lidar_rasters/{r['epoch']}/{r['tile_id']}.npz",
                                          rasters.to_npz())   # local disk or object store
    return {**row, "seconds": time.perf_counter() - t}, table


def write_points(lk: "Lake", table, epoch: str, tile_id: str) -> None:
    """Replace one tile-epoch partition of silver/lidar_points in one commit (idempotent)."""
    from deltalake import write_deltalake

    uri = lk.uri("silver", "lidar_points")
    if not lk.exists("silver", "lidar_points"):
        lk._retry(lambda: write_deltalake(uri, table, mode="append", partition_by=["epoch", "tile_id"],
                                          storage_options=lk.storage_options))
        return
    pred = f"epoch = '{epoch}' AND tile_id = '{tile_id}'"
    lk._retry(lambda: write_deltalake(uri, table, mode="overwrite", predicate=pred, partition_by=["epoch", "tile_id"],
                                      storage_options=lk.storage_options))


def tile_points(lk: "Lake", landing: Path, todo: pl.DataFrame, workers: int) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Every tile of `todo` through `tile_points_job` on `workers` processes, its points written
    to silver/lidar_points here in `todo`'s order: the tiles' lidar_tile_products rows, and the
    (tile, reason) of each tile that failed."""
    tiles = list(todo.iter_rows(named=True))
    so = json.dumps(lk.storage_options or {}, sort_keys=True)
    jobs = [{"tile": r, "landing": str(landing), "lake_root": lk.root, "storage_options": so} for r in tiles]
    rows, bad = [], []
    for i, status, value in map_jobs("assets.trees_tiles:tile_points_job", jobs, workers=workers):
        r = tiles[i]
        if status != "ok":   # the tile is quarantined by the caller with the reason, the rest go on
            bad.append((r, f"{r['source_file']}: unreadable at the points step ({value})"))
            continue
        row, table = value
        t = time.perf_counter()
        write_points(lk, table, r["epoch"], r["tile_id"])
        rows.append({**row, "seconds": round(row["seconds"] + time.perf_counter() - t, 3)})
    return rows, bad


def tree_detections(products: pl.DataFrame, workers: int) -> pl.DataFrame:
    """silver/tree_detections of the tiles in `products` (rasters at local paths), the detection
    jobs run on `workers` processes (one job per scan in this process when `workers` is 1).
    Raises naming every tile of a job that failed."""
    from models.trees import pipeline as P

    per_scan = max(1, products["epoch"].n_unique()) if products.height else 1
    size = None if workers <= 1 else max(DETECT_MIN_TILES,
                                         math.ceil(products.height / per_scan / (workers * DETECT_JOBS_PER_WORKER)))
    jobs = P.detection_jobs(products, size)
    frames, failed = [], []
    for i, status, value in map_jobs("models.trees.pipeline:detect_job", jobs, workers=workers):
        if status == "ok":
            frames += value
        else:
            tiles = ", ".join(f"{jobs[i]['epoch']}/{t[2]}" for t in jobs[i]["tiles"])
            failed.append(f"tiles {tiles}: {value}")
    if failed:
        raise RuntimeError("tree detection failed, the previous silver/tree_detections is kept: " + "; ".join(failed))
    return P.gather_detections(frames)
