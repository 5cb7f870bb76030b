"""The tree twin's development loop: simulated cities kept on disk, detection re-run with
``DetectConfig`` overrides, heights read tree by tree against the truth.

    .venv/bin/python bench/trees_dev.py prep 1234 --profile city          # simulate + rasters (+ truth visibility)
    .venv/bin/python bench/trees_dev.py eval base 1234 --profile city     # detect + 4D, per-epoch figures
    .venv/bin/python bench/trees_dev.py eval t05 42,7,11 --cfg '{"top_tolerance": 0.5}'
    .venv/bin/python bench/trees_dev.py eval pool 1234 --profile city --reuse base   # 4D only, on base's detections
    .venv/bin/python bench/trees_dev.py kinds base 1234 --profile city    # squared error by where heights came from
    .venv/bin/python bench/trees_dev.py compare base t05 1234 --profile city

``bench/trees_eval.py`` is the acceptance bench (an unseen seed, every step timed, tiles to
marts); this script is for deciding whether a rule stays, on the development seeds (demo 1234,
42, 7, 11, 13, 21, 22; validation 31, 37, 43; city profile 1234) and never on the unseen ones.
Rasters are made in ``--jobs`` processes (a city-profile city: about 5 minutes on 2 cores, its
detection about 3.5 minutes). Figures: height squared error summed over matched tree-epochs (m²,
trees >= 4 m, 3 m gate), RMSE, crown diameter RMSE and F1 per epoch; per tree rows go to
``<workdir>/res/<tag>_<profile>_<seed>.parquet`` (with the truth's ``top_hidden`` and
``visible_share`` from :func:`trees_eval.apex_visibility`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _raster(args: tuple[dict, str]) -> dict:
    from models.lidar.tiles import read_las
    from models.trees import pipeline as P

    r, wd = args
    row, _table, rasters = P.process_tile(read_las(r["source_file"]), r)
    npz = Path(wd) / "rasters" / r["epoch"] / f"{r['tile_id']}.npz"
    npz.parent.mkdir(parents=True, exist_ok=True)
    npz.write_bytes(rasters.to_npz())
    return {**row, "rasters_path": str(npz)}


def prep(workdir: Path, profile: str, seed: int, jobs: int) -> Path:
    import trees_eval as E
    from models.simulator.city import build_city
    from models.simulator.trees import simulate_trees

    wd = workdir / f"{profile}_{seed}"
    wd.mkdir(parents=True, exist_ok=True)
    city = build_city(profile, seed)
    t = time.perf_counter()
    if not (wd / "ground_truth" / "trees" / "trees.csv").exists():
        simulate_trees(city, wd / "landing", wd / "ground_truth")
    print(f"simulated {profile} {seed}: {time.perf_counter() - t:.0f} s", flush=True)
    tiles = E.tiles_frame(wd / "landing")
    tiles.write_parquet(wd / "tiles.parquet")
    t = time.perf_counter()
    todo = [(r, str(wd)) for r in tiles.iter_rows(named=True)]
    if jobs > 1:
        with mp.get_context("spawn").Pool(jobs) as pool:
            rows = pool.map(_raster, todo, chunksize=4)
    else:
        rows = [_raster(a) for a in todo]
    pl.DataFrame(rows).write_parquet(wd / "products.parquet")
    print(f"rasters: {time.perf_counter() - t:.0f} s", flush=True)
    E.apex_visibility(city).write_parquet(wd / "vis.parquet")
    return wd


def evaluate(workdir: Path, profile: str, seeds: list[int], tag: str, cfg: dict, reuse: str | None,
             height_model: str | None = "default") -> float:
    from models.trees import pipeline as P
    from models.trees.height_model import TreeEnsemble, apply_height_model, load_model
    from models.trees.detect_config import DetectConfig
    from models.trees.matching import match_points
    from models.trees.twin import follow_trees

    res = workdir / "res"
    res.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for seed in seeds:
        wd = workdir / f"{profile}_{seed}"
        if not (wd / "products.parquet").exists():
            raise SystemExit(f"{wd} has no rasters: run `trees_dev.py prep {seed} --profile {profile}` first")
        t = time.perf_counter()
        det_path = res / f"det_{profile}_{reuse or tag}_{seed}.parquet"
        if reuse:
            det = pl.read_parquet(det_path)
        else:
            det = P.detect_all(pl.read_parquet(wd / "products.parquet"), DetectConfig().with_settings(**cfg))
            det.write_parquet(det_path)
        # the 4D step without the learned height correction is kept whole (the height model's
        # training set: bench/trees_height_model.py), then corrected as the pipeline does
        tw = follow_trees(det, pl.read_parquet(wd / "tiles.parquet"), correct_heights=False)
        tw.write_parquet(res / f"tw_{profile}_{tag}_{seed}.parquet")
        if height_model != "none":
            model = load_model() if height_model == "default" else TreeEnsemble.load(Path(height_model))
            tw = apply_height_model(tw, model) if model is not None else tw
        tw = tw.with_columns(pl.col("x").alias("x_2154"), pl.col("y").alias("y_2154"))
        truth = pl.read_csv(wd / "ground_truth" / "trees" / "trees.csv", infer_schema_length=0).with_columns(
            pl.col("x_2154", "y_2154", "height_m", "crown_diameter_m").cast(pl.Float64, strict=False))
        vis = pl.read_parquet(wd / "vis.parquet")
        rows, sse = [], 0.0
        for ep in sorted(tw["epoch"].unique().to_list()):
            tr = truth.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled") & (pl.col("height_m") >= 4))
            de = tw.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled") & (pl.col("height_m") >= 4))
            i, j, _ = match_points(tr["x_2154"].to_numpy(), tr["y_2154"].to_numpy(), de["x_2154"].to_numpy(),
                                   de["y_2154"].to_numpy(), 3.0)
            p, r = len(i) / max(de.height, 1), len(i) / max(tr.height, 1)
            a, b = tr[i], de[j]
            dh = b["height_m"].to_numpy() - a["height_m"].to_numpy()
            dd = b["crown_diameter_m"].to_numpy() - a["crown_diameter_m"].to_numpy()
            v = vis.filter(pl.col("epoch") == ep)
            hid = dict(zip(v["tree_id"].to_list(), v["top_hidden"].to_list()))
            share = dict(zip(v["tree_id"].to_list(), v["visible_share"].to_list()))
            s = float((dh ** 2).sum())
            sse += s
            print(f"{profile} {seed} {ep}: F1 {2 * p * r / max(p + r, 1e-9):.3f} height {np.sqrt(np.mean(dh ** 2)):.3f} m "
                  f"crown diameter {np.sqrt(np.mean(dd ** 2)):.3f} m sse {s:.0f} m2 ({len(i)} trees)", flush=True)
            ids = a["tree_id"].to_list()
            rows.append(b.rename({"tree_id": "det_id"}).with_columns(
                pl.Series("true_id", ids), pl.Series("true_h", a["height_m"]), pl.Series("dh", dh), pl.Series("dd", dd),
                pl.Series("top_hidden", [bool(hid.get(x, False)) for x in ids]),
                pl.Series("visible_share", [float(share.get(x, 1.0)) for x in ids])))
        pl.concat(rows, how="diagonal_relaxed").write_parquet(res / f"{tag}_{profile}_{seed}.parquet")
        print(f"{profile} {seed}: sse {sse:.0f} m2 ({time.perf_counter() - t:.0f} s)", flush=True)
        total += sse
    print(f"TOTAL sse {total:.0f} m2")
    return total


def _with_kinds(d: pl.DataFrame) -> pl.DataFrame:
    kinds = d.group_by("det_id").agg(pl.col("height_reading").sort().str.join("+").alias("readings"))
    return d.join(kinds, on="det_id", how="left").with_columns(
        pl.col("height_source").str.split(" from ").list.first().alias("source"))


def kinds(workdir: Path, profile: str, seeds: list[int], tag: str) -> pl.DataFrame:
    d = pl.concat([_with_kinds(pl.read_parquet(workdir / "res" / f"{tag}_{profile}_{s}.parquet")) for s in seeds],
                  how="diagonal_relaxed")
    out = d.group_by("top_hidden", "source", "readings").agg(
        pl.len().alias("tree_epochs"), (pl.col("dh") ** 2).sum().round(0).alias("sse_m2"),
        pl.col("dh").mean().round(2).alias("bias_m")).sort("sse_m2", descending=True)
    with pl.Config(tbl_rows=40, fmt_str_lengths=50):
        print(out)
    return out


def compare(workdir: Path, profile: str, seeds: list[int], a: str, b: str) -> pl.DataFrame:
    frames = []
    for s in seeds:
        x = pl.read_parquet(workdir / "res" / f"{a}_{profile}_{s}.parquet")
        y = pl.read_parquet(workdir / "res" / f"{b}_{profile}_{s}.parquet")
        frames.append(x.select("true_id", "epoch", "top_hidden", "height_reading", "dh").join(
            y.select("true_id", "epoch", pl.col("height_reading").alias("reading_b"), pl.col("dh").alias("dh_b")),
            on=["true_id", "epoch"], how="inner").with_columns(pl.lit(s).alias("seed")))
    j = pl.concat(frames).with_columns((pl.col("dh_b") ** 2 - pl.col("dh") ** 2).alias("dse"))
    out = j.filter(pl.col("dse").abs() > 0.01).group_by("top_hidden", "height_reading", "reading_b").agg(
        pl.len().alias("tree_epochs"), pl.col("dse").sum().round(0).alias("dse_m2"),
        (pl.col("dse") < 0).sum().alias("better")).sort("dse_m2")
    with pl.Config(tbl_rows=40):
        print(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["prep", "eval", "kinds", "compare"])
    ap.add_argument("args", nargs="+", help="prep SEED | eval TAG SEEDS | kinds TAG SEEDS | compare TAG_A TAG_B SEEDS")
    ap.add_argument("--profile", default="demo", choices=["tiny", "demo", "city"])
    ap.add_argument("--workdir", default="/tmp/trees_dev")
    ap.add_argument("--cfg", default="{}", help="DetectConfig overrides by setting name, JSON")
    ap.add_argument("--reuse", default=None, help="the 4D step only, on the detections of this tag")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--height-model", default="default",
                    help="eval: the learned height correction: default (models/trees/height_model.npz), none, or a .npz path")
    a = ap.parse_args(argv)
    wd = Path(a.workdir)
    seeds = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    if a.command == "prep":
        for s in seeds(a.args[0]):
            prep(wd, a.profile, s, a.jobs)
    elif a.command == "eval":
        evaluate(wd, a.profile, seeds(a.args[1]), a.args[0], json.loads(a.cfg), a.reuse, a.height_model)
    elif a.command == "kinds":
        kinds(wd, a.profile, seeds(a.args[1]), a.args[0])
    else:
        compare(wd, a.profile, seeds(a.args[2]), a.args[0], a.args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
