"""Issue 25, item 4: LiDAR silver and tree detection on one process vs INGEST_WORKERS processes.

On a city-profile subset (the simulator's city profile over `--quartiers`, 250 m tiles, 8 points/m²,
both scans; or an existing `--tiles-dir`), runs the two per-tile steps of the tree chain with the
functions the assets call (assets/trees_tiles.py: `tile_points`, then `tree_detections` on the
products) in a fresh lake per worker count, and prints for each: wall and CPU seconds (this
process plus its finished children, the pool's workers), points/s of silver and trees/s of the
detection (wall and per CPU second), the 1-minute load average before and after each step, and
whether every table is identical to the one-process run's (points in the same order, rasters
byte for byte, per-tile summary but its seconds and paths, detections). Figures are SIMULATED.

    python bench/trees_tiles_bench.py                               # Le Suquet (76 tiles), workers 1 and 2
    python bench/trees_tiles_bench.py --tiles-dir DIR --workers 1,2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def registry(landing: Path):
    """silver/lidar_tiles' columns the points step reads, for every tile under landing/trees/tiles."""
    import polars as pl

    rows = []
    for p in sorted((landing / "trees" / "tiles").glob("*/*.laz")):
        x0, y0 = (float(v) for v in p.stem.split("_")[1:3])
        rows.append({"tile_id": p.stem, "epoch": p.parent.name, "checksum": p.stem, "crs_epsg": 2154,
                     "source_file": p.relative_to(landing).as_posix(), "core_x0": x0, "core_y0": y0})
    return pl.DataFrame(rows).sort("epoch", "tile_id")


def run(landing: Path, todo, lake_dir: Path, workers: int) -> dict:
    import polars as pl

    from assets import trees_tiles as TP
    from assets.lake import Lake
    from transforms import trees as T

    lake = Lake(str(lake_dir))
    l0, c0, t0 = load(), cpu(), time.perf_counter()
    rows, bad = TP.tile_points(lake, landing, todo, workers)
    pw, pc, l1 = time.perf_counter() - t0, cpu() - c0, load()
    products = T.merge_tile_products(pl.DataFrame(schema=T.TILE_PRODUCTS), rows)
    c1, t1 = cpu(), time.perf_counter()
    det = TP.tree_detections(products, workers)
    dw, dc, l2 = time.perf_counter() - t1, cpu() - c1, load()
    points = int(products["points"].sum())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"workers": workers, "max_rss_mb_self_children": [round(v / 1024) for v in rss], "tiles": products.height, "quarantined": len(bad), "points": points, "trees": det.height,
            "silver_wall_s": round(pw, 1), "silver_cpu_s": round(pc, 1),
            "silver_points_per_s_wall": round(points / pw), "silver_points_per_cpu_s": round(points / pc),
            "detect_wall_s": round(dw, 1), "detect_cpu_s": round(dc, 1),
            "detect_trees_per_s_wall": round(det.height / dw, 1), "detect_trees_per_cpu_s": round(det.height / dc, 1),
            "load_silver": f"{l0} -> {l1}", "load_detect": f"{l1} -> {l2}",
            "_lake": lake, "_products": products, "_det": det}


def same_tables(a: dict, b: dict) -> dict:
    volatile = ["seconds", "rasters_path"]
    ra = {(r["epoch"], r["tile_id"]): Path(r["rasters_path"]).read_bytes() for r in a["_products"].iter_rows(named=True)}
    rb = {(r["epoch"], r["tile_id"]): Path(r["rasters_path"]).read_bytes() for r in b["_products"].iter_rows(named=True)}
    return {"points": a["_lake"].read("silver", "lidar_points").equals(b["_lake"].read("silver", "lidar_points")),
            "rasters": ra == rb,
            "tile_products": a["_products"].drop(volatile).equals(b["_products"].drop(volatile)),
            "detections": a["_det"].equals(b["_det"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quartiers", default="Le Suquet")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tiles-dir", help="an existing landing zone (holding trees/tiles/<epoch>/*.laz)")
    ap.add_argument("--workers", default="1,2", help="worker counts to run in turn (e.g. 1,2,1,2 on a busy machine); "
                    "the first run is the reference the others are compared with")
    ap.add_argument("--work", help="work folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the figures there")
    args = ap.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="trees_tiles_bench_"))
    try:
        print(f"load average at start {load()} ({os.cpu_count()} cores); figures are SIMULATED (simulator city profile)")
        if args.tiles_dir:
            landing = Path(args.tiles_dir)
        else:
            from scale_bench import simulate_tiles

            landing = simulate_tiles(work, tuple(args.quartiers.split(",")), args.seed).parents[1]
        todo = registry(landing)
        res, ok = [], True
        for k, w in enumerate(int(v) for v in args.workers.split(",")):
            r = run(landing, todo, work / f"lake_{k}_w{w}", w)
            if res:
                r["identical_to_first"] = same_tables(res[0], r)
                ok &= all(r["identical_to_first"].values())
                shutil.rmtree(work / f"lake_{k}_w{w}", ignore_errors=True)   # a city subset's points: GBs
            res.append(r)
            print(f"workers {w}: {r['tiles']} tiles {r['points']:,} points {r['trees']:,} tree-epochs | silver "
                  f"{r['silver_wall_s']} s wall {r['silver_cpu_s']} s CPU {r['silver_points_per_s_wall']:,} pts/s "
                  f"({r['silver_points_per_cpu_s']:,} per CPU s), load {r['load_silver']} | detection "
                  f"{r['detect_wall_s']} s wall {r['detect_cpu_s']} s CPU {r['detect_trees_per_s_wall']} trees/s "
                  f"({r['detect_trees_per_cpu_s']} per CPU s), load {r['load_detect']}"
                  + (f" | identical to workers {res[0]['workers']}: {r['identical_to_first']}" if len(res) > 1 else ""),
                  flush=True)
        for a in res[1:]:
            b = res[0]
            print(f"workers {a['workers']} vs {b['workers']} (first run): silver {b['silver_wall_s'] / a['silver_wall_s']:.2f}x "
                  f"wall, {a['silver_cpu_s'] / b['silver_cpu_s']:.2f}x CPU; detection "
                  f"{b['detect_wall_s'] / a['detect_wall_s']:.2f}x wall, {a['detect_cpu_s'] / b['detect_cpu_s']:.2f}x CPU")
        if args.json:
            Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in res],
                                                  indent=1))
        return 0 if ok else 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
