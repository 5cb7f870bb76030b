"""Issue 25, item 4: LiDAR bronze points/s at city scale, batched runs vs one run per tile.

Generates a LiDAR delivery with the simulator's city profile (250 m tiles, 8 points/m², LAZ 1.4
point format 6, both epochs) over `--quartiers` (the whole city is 800 tiles: about an hour to
simulate on this machine, so a few quartiers stand for it by default), then ingests it into bronze
through the real sensor and runs (`orchestration.runner.ingest_landing`, what `make run` does),
in fresh lakes and Dagster instances, three ways in this process:

  old      one Dagster run per tile, each tile parsed alone in a guarded child process with the
           previous parser (every field decompressed): the path before this change (baseline);
  single   one run per tile, the new parser (header + chunk table, x/y/classification only);
  batched  one run per INGEST_BATCH_FILES tiles, tiles parsed by INGEST_WORKERS processes.

`old` and `single` run on the first `--baseline-tiles` tiles (they are slow); `batched` on all.
Prints points/s (wall clock and CPU: this process plus its children), the per-run overhead, the
parser alone per tile (CPU), and the 1-minute load average at each step. Figures are simulated.

    python bench/scale_bench.py                               # 2 quartiers, 8 baseline tiles
    python bench/scale_bench.py --tiles-dir DIR               # an existing trees/tiles folder
"""

from __future__ import annotations

import argparse
import dataclasses
import io
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


def old_parse_laz_tile(data: bytes, name: str) -> dict:
    """The parser before issue 25 item 4 (commit c465757): every field of every point decompressed
    (laspy.read), the same registry record. Kept here as the baseline."""
    import laspy
    import numpy as np

    from transforms.las_header import check_las_header
    from transforms.parsing import BadDelivery, _declared_epsg, _lambert93_bounds

    check_las_header(data, name)
    try:
        las = laspy.read(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise BadDelivery(f"{name}: unreadable LAS/LAZ ({type(exc).__name__}: {exc})") from exc
    h, n = las.header, len(las.points)
    epsg = _declared_epsg(h, name)
    x, y = np.asarray(las.x), np.asarray(las.y)
    bounds = _lambert93_bounds(float(x.min()), float(y.min()), float(x.max()), float(y.max()), epsg, name)
    counts = np.bincount(np.asarray(las.classification), minlength=32)
    area = max((x.max() - x.min()) * (y.max() - y.min()), 1.0)
    return {"point_count": int(n), "point_format": int(h.point_format.id),
            "las_version": f"{h.version.major}.{h.version.minor}", "crs_epsg": int(epsg),
            "min_x": bounds[0], "min_y": bounds[1], "max_x": bounds[2], "max_y": bounds[3],
            "min_z": float(np.asarray(las.z).min()), "max_z": float(np.asarray(las.z).max()),
            "density_pts_m2": float(n / area), "ground_points": int(counts[2]),
            "vegetation_points": int(counts[3] + counts[4] + counts[5]), "building_points": int(counts[6]),
            "noise_points": int(counts[7]), "has_ground_class": bool(counts[2] > 0)}


def load() -> float:
    return round(os.getloadavg()[0], 1)


def cpu() -> float:
    """CPU seconds of this process and of its finished children (the parser processes)."""
    own = time.process_time()
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + ch.ru_utime + ch.ru_stime


def simulate_tiles(work: Path, quartiers: tuple[str, ...], seed: int) -> Path:
    from models.simulator import PROFILES, build_city
    from models.simulator.trees import simulate_trees

    prof = dataclasses.replace(PROFILES["city"], quartiers=quartiers, other_communes=(),
                               n_trees=max(300, int(PROFILES["city"].n_trees * len(quartiers) / 12)))
    t = time.perf_counter()
    stats = simulate_trees(build_city(prof, seed), work / "sim" / "landing", work / "sim" / "truth")
    print(f"simulated {stats['tiles_2025'] + stats['tiles_2026']} tiles, {stats['points']:,} points "
          f"(city profile over {', '.join(quartiers)}) in {time.perf_counter() - t:.0f} s, load {load()}")
    return work / "sim" / "landing" / "trees" / "tiles"


def stage(tiles: list[Path], tiles_root: Path, lake_dir: Path) -> None:
    """A fresh landing zone holding these tiles (hard links where possible: never symlinks)."""
    dst_root = lake_dir / "landing" / "trees" / "tiles"
    for p in tiles:
        dst = dst_root / p.relative_to(tiles_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(p, dst)
        except OSError:
            shutil.copyfile(p, dst)


def ingest(mode: str, tiles: list[Path], tiles_root: Path, work: Path, batch: int, workers: int) -> dict:
    import dagster as dg
    import polars as pl

    import assets.bronze as B
    from orchestration.definitions import build_definitions, resources_for
    from orchestration.runner import ingest_landing, prepare_dagster_home
    from orchestration.settings import Settings

    d = work / mode
    stage(tiles, tiles_root, d)
    settings = Settings.from_env({"LAKE_URI": str(d / "lake"), "LANDING_URI": str(d / "landing"),
                                  "SERVING_PATH": str(d / "serving" / "c.duckdb"), "DAGSTER_HOME": str(d / "dagster"),
                                  "CITY_PROFILE": "city", "INGEST_BATCH_FILES": str(batch),
                                  "INGEST_WORKERS": str(workers)})
    saved = dict(B.PARSE_BUDGETS)
    if mode == "old":
        B.PARSE_BUDGETS["lidar_tiles"] = ("bench.scale_bench:old_parse_laz_tile", *saved["lidar_tiles"][1:])
    try:
        home = prepare_dagster_home(settings)
        defs = build_definitions(settings)
        l0, c0, t0 = load(), cpu(), time.perf_counter()
        with dg.DagsterInstance.get() as instance:
            runs, failures = ingest_landing(defs, instance, home, resources_for(settings), say=lambda m: None)
        wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    finally:
        B.PARSE_BUDGETS.clear()
        B.PARSE_BUDGETS.update(saved)
    bronze = settings.lake().read("bronze", "lidar_tiles")
    points = int(bronze["point_count"].sum())
    return {"mode": mode, "tiles": len(tiles), "ingested": bronze.height, "runs": runs, "failures": failures,
            "points": points, "wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1),
            "points_per_s_wall": round(points / wall), "points_per_s_cpu": round(points / cpu_s),
            "wall_per_run_s": round(wall / max(runs, 1), 2), "load_start": l0, "load_end": load(),
            "checksums": bronze.select("_delivery", "_checksum").sort("_delivery").rows(),
            "records": bronze.drop(pl.selectors.starts_with("_")).sort("epoch", "tile_id").to_dicts()}


def parser_alone(tiles: list[Path]) -> dict:
    from transforms.parsing import parse_laz_tile

    out = {}
    for name, fn in (("old (all fields)", old_parse_laz_tile), ("new (x/y/class)", parse_laz_tile)):
        c, n = time.process_time(), 0
        for p in tiles:
            n += fn(p.read_bytes(), p.name)["point_count"]
        dt = time.process_time() - c
        out[name] = {"cpu_s_per_tile": round(dt / len(tiles), 3), "points_per_cpu_s": round(n / dt)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quartiers", default="Le Suquet,Croisette")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tiles-dir", help="an existing trees/tiles folder instead of simulating")
    ap.add_argument("--baseline-tiles", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8))
    ap.add_argument("--work", help="work folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the figures there")
    args = ap.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="scale_bench_"))
    try:
        print(f"load average at start {load()} ({os.cpu_count()} cores); figures are SIMULATED (simulator city profile)")
        root = Path(args.tiles_dir) if args.tiles_dir else simulate_tiles(work, tuple(args.quartiers.split(",")), args.seed)
        tiles = sorted(root.glob("*/*.laz"))
        base = tiles[: args.baseline_tiles]
        res = {"parser_alone": parser_alone(base[:4]), "load_parser": load()}
        for mode, subset, batch in (("old", base, 1), ("single", base, 1), ("batched", tiles, args.batch)):
            r = ingest(mode, subset, root, work, batch, args.workers)
            res[mode] = r
            print(f"{mode:8s} {r['tiles']:4d} tiles {r['points']:>12,} points {r['runs']:3d} runs "
                  f"{r['wall_s']:7.1f} s wall {r['cpu_s']:7.1f} s CPU  {r['points_per_s_wall']:>10,} pts/s wall "
                  f"{r['points_per_s_cpu']:>10,} pts/s CPU  {r['wall_per_run_s']:.2f} s/run  "
                  f"load {r['load_start']} -> {r['load_end']}  failures {len(r['failures'])}")
        old, new = res["old"], res["batched"]
        same = old["records"] == new["records"][: len(old["records"])] or \
            all(rec in new["records"] for rec in old["records"])
        per_tile_parse = res["parser_alone"]["old (all fields)"]["cpu_s_per_tile"]
        print(f"parser alone (CPU per tile): {json.dumps(res['parser_alone'])}")
        print(f"per-run overhead of the old path: {old['wall_per_run_s'] - per_tile_parse:.2f} s wall "
              f"(run wall per tile minus the old parser's CPU per tile)")
        print(f"speed-up batched vs old: {new['points_per_s_wall'] / old['points_per_s_wall']:.1f}x wall, "
              f"{new['points_per_s_cpu'] / old['points_per_s_cpu']:.1f}x CPU; registry records of the "
              f"baseline tiles identical: {same}")
        print(f"acceptance LiDAR bronze >= 1 M points/s: {new['points_per_s_wall'] >= 1_000_000} "
              f"({new['points_per_s_wall']:,} wall at load {new['load_start']}-{new['load_end']}; "
              f"{new['points_per_s_cpu']:,} per CPU second)")
        if args.json:
            for r in (old, res["single"], new):
                r.pop("records"), r.pop("checksums")
            Path(args.json).write_text(json.dumps(res, indent=1))
        return 0 if same and not (old["failures"] or new["failures"]) else 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
