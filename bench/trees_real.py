"""Tree detection on real airborne LiDAR: the project's chain beside a plain local-maximum filter.

    PYTHONPATH=$PWD .venv/bin/python bench/trees_real.py [--plots TEAK_043,...] [--json out.json]

Data: ``../shared/real/lidar`` beside the repository (the bench prints a message and exits 0 when
it is absent). 18 NEON TEAK plots (40 m x 40 m, 4-8 pts/m², EPSG:32611) with image-annotated
crowns as boxes (``trees.csv``, no heights, no stems), and one IGN LiDAR HD sample (no reference:
a format test, only its tree count and timing are printed).

For each plot, in the same run and on the same normalised points:

* **chain**: :func:`models.trees.pipeline.process_tile` (ground, heights, rasters) then
  :func:`models.trees.detect.detect_trees` on the plot alone (no neighbour tiles) - the code path
  ``silver/tree_detections`` runs, with the detection path it chose (``detection_path``);
* **lmf**: lidR's ``lmf(ws = 3 m, hmin = 2 m)`` (:func:`models.lidar.lmf.locate_trees`) on the
  normalised points.

Scoring (one-to-one, maximum matching): a detection is a true positive when its top lies inside an
annotated crown box not already taken; only detections inside the plot square (the annotated
image) count. With reference positions and heights (a set with field stems; none here) the rule is
within 3 m and 5 m of height instead. Figures: detections, TP, precision, recall, F-score, recall
on the tallest half of the reference crowns (ranked by the highest LiDAR return inside the box:
the reference has no heights) and, where reference heights exist, height bias and RMSE.

Plots: TEAK_045, 050, 054 and 060 are only partly annotated (README) and are left out of the
scores. **Held out** from any tuning of the detection: the plots whose number is 2 modulo 3
(TEAK_044, 047, 053, 059, 062; 050 is sparse); the other nine scored plots are the tuning plots.
Figures are pooled over plots (sums of TP, detections and references), for the tuning plots, the
held-out plots and all 14.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.lidar.lmf import locate_trees  # noqa: E402
from models.lidar.tiles import read_las  # noqa: E402
from models.trees.detect import detect_trees  # noqa: E402
from models.trees.detect_config import DetectConfig  # noqa: E402
from models.trees.pipeline import process_tile  # noqa: E402
from models.trees.surface import mosaic  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "lidar"
SPARSE = {"TEAK_045", "TEAK_050", "TEAK_054", "TEAK_060"}
IGN = "ign_lidarhd/870000_6618000.subset.50mx100m.las"


def held_out(plot_id: str) -> bool:
    """The documented hold-out rule: plot number = 2 (mod 3)."""
    return int(plot_id.split("_")[1]) % 3 == 2


def match_boxes(px: np.ndarray, py: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """One-to-one matching of detections (px, py) to crown boxes (xmin, ymin, xmax, ymax): the
    largest set of pairs with the detection inside the box (ties: nearest to the box centre).
    Returns the box index of each detection (-1: unmatched)."""
    from scipy.optimize import linear_sum_assignment

    out = np.full(len(px), -1)
    if not len(px) or not len(boxes):
        return out
    inside = ((px[:, None] >= boxes[None, :, 0]) & (px[:, None] <= boxes[None, :, 2])
              & (py[:, None] >= boxes[None, :, 1]) & (py[:, None] <= boxes[None, :, 3]))
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    d = np.hypot(px[:, None] - cx[None], py[:, None] - cy[None])
    cost = np.where(inside, d / (1.0 + d.max()), 1e6)   # a pair inside always beats none
    i, j = linear_sum_assignment(cost)
    ok = inside[i, j]
    out[i[ok]] = j[ok]
    return out


def match_positions(px, py, ph, rx, ry, rh, gate: float = 3.0, dh: float = 5.0) -> np.ndarray:
    """One-to-one matching to field positions: within ``gate`` m and ``dh`` m of height."""
    from scipy.optimize import linear_sum_assignment

    out = np.full(len(px), -1)
    if not len(px) or not len(rx):
        return out
    d = np.hypot(px[:, None] - rx[None], py[:, None] - ry[None])
    ok = (d <= gate) & (np.abs(ph[:, None] - rh[None]) <= dh)
    i, j = linear_sum_assignment(np.where(ok, d, 1e6))
    good = ok[i, j]
    out[i[good]] = j[good]
    return out


def score(px, py, ph, ref, rank) -> dict:
    """Detections inside the plot against the reference rows ``ref`` (dict of arrays)."""
    if np.isfinite(ref["height_m"]).all() and len(ref["height_m"]):
        j = match_positions(px, py, ph, ref["x"], ref["y"], ref["height_m"])
    else:
        j = match_boxes(px, py, np.c_[ref["crown_xmin"], ref["crown_ymin"], ref["crown_xmax"], ref["crown_ymax"]])
    hit = j[j >= 0]
    tall = rank >= np.median(rank) if len(rank) else np.zeros(0, bool)
    res = {"detections": int(len(px)), "tp": int(len(hit)), "refs": int(len(ref["x"])),
           "tall_refs": int(tall.sum()), "tall_tp": int(tall[hit].sum()) if len(hit) else 0}
    hr = ref["height_m"][hit]
    if len(hit) and np.isfinite(hr).any():
        e = ph[j >= 0][np.isfinite(hr)] - hr[np.isfinite(hr)]
        res["height_bias_m"], res["height_rmse_m"] = float(e.mean()), float(np.sqrt((e ** 2).mean()))
    return res


def figures(rows: list[dict]) -> dict:
    d = sum(r["detections"] for r in rows)
    tp = sum(r["tp"] for r in rows)
    n = sum(r["refs"] for r in rows)
    p = tp / d if d else 0.0
    rc = tp / n if n else 0.0
    f = 2 * p * rc / (p + rc) if p + rc else 0.0
    tall = sum(r["tall_tp"] for r in rows) / max(1, sum(r["tall_refs"] for r in rows))
    return {"detections": d, "tp": tp, "refs": n, "precision": round(p, 3), "recall": round(rc, 3), "f": round(f, 3),
            "recall_tall": round(tall, 3)}


def load_reference() -> dict:
    import csv

    out: dict[str, dict] = {}
    with open(REAL / "trees.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["plot_id"], []).append(r)
    cols = ("x", "y", "height_m", "crown_xmin", "crown_ymin", "crown_xmax", "crown_ymax")
    return {p: {c: np.array([float(r[c]) if r[c] else np.nan for r in rs]) for c in cols} for p, rs in out.items()}


def load_files() -> list[dict]:
    import csv

    with open(REAL / "files.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def run_chain(path: Path, bounds: tuple[float, float, float, float], cfg: DetectConfig):
    """The chain on one file: normalised points and the trees whose top lies in ``bounds``."""
    tp = read_las(path)
    x0, y0 = np.floor(bounds[0]), np.floor(bounds[1])
    reg = {"tile_id": path.stem, "epoch": "real", "checksum": None, "source_file": str(path), "core_x0": x0,
           "core_y0": y0}
    row, table, rasters = process_tile(tp, reg)
    det = detect_trees(mosaic(rasters, [], cfg.buffer), bounds, cfg)
    h = table["height"].to_numpy().astype(float)
    return tp, h, det, row


def plot_run(f: dict, ref: dict | None, cfg: DetectConfig) -> dict:
    bounds = tuple(float(f[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
    t0 = time.perf_counter()
    tp, h, det, row = run_chain(REAL / f["file"], bounds, cfg)
    secs = time.perf_counter() - t0
    px, py = np.asarray(det["top_x"], float), np.asarray(det["top_y"], float)
    ph = np.asarray(det["height_m"], float)
    inside = (px >= bounds[0]) & (px <= bounds[2]) & (py >= bounds[1]) & (py <= bounds[3])
    keep = (h > -2) & (h < 60)
    lm = locate_trees(tp.x[keep], tp.y[keep], h[keep], ws=3.0, hmin=2.0)
    lin = (lm.x >= bounds[0]) & (lm.x <= bounds[2]) & (lm.y >= bounds[1]) & (lm.y <= bounds[3])
    paths = np.asarray(det.get("detection_path", np.zeros(0, dtype=object)))
    out = {"plot_id": f["plot_id"], "points": len(tp), "area_m2": (bounds[2] - bounds[0]) * (bounds[3] - bounds[1]),
           "seconds": round(secs, 2), "ground_source": row["ground_source"],
           "path": str(paths[0]) if len(paths) else "", "chain_n": int(inside.sum()), "lmf_n": int(lin.sum())}
    if ref is not None:
        # rank of each reference crown: the highest normalised return inside its box
        rank = np.zeros(len(ref["x"]))
        for k in range(len(rank)):
            m = ((tp.x >= ref["crown_xmin"][k]) & (tp.x <= ref["crown_xmax"][k]) & (tp.y >= ref["crown_ymin"][k])
                 & (tp.y <= ref["crown_ymax"][k]) & keep)
            rank[k] = h[m].max() if m.any() else 0.0
        out["chain"] = score(px[inside], py[inside], ph[inside], ref, rank)
        out["lmf"] = score(lm.x[lin], lm.y[lin], lm.z[lin], ref, rank)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plots", default="", help="comma-separated plot ids (default: all)")
    ap.add_argument("--json", default="", help="write the per-plot figures there")
    ap.add_argument("--skip-ign", action="store_true")
    a = ap.parse_args(argv)
    if not (REAL / "trees.csv").exists():
        print(f"{REAL} not found: nothing to score (the real sets sit beside the repository)")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with open("/proc/loadavg") as fh:
        print("load average before:", fh.read().split()[:3])
    cfg = DetectConfig()
    refs = load_reference()
    want = set(filter(None, a.plots.split(",")))
    rows = []
    print(f"{'plot':9s} {'set':8s} {'path':12s} {'pts':>6s} {'ref':>4s} | {'chain det/tp':>12s} {'P':>5s} {'R':>5s} "
          f"{'F':>5s} | {'lmf det/tp':>10s} {'P':>5s} {'R':>5s} {'F':>5s}")
    for f in load_files():
        if not f["plot_id"].startswith("TEAK") or (want and f["plot_id"] not in want):
            continue
        r = plot_run(f, refs.get(f["plot_id"]), cfg)
        r["set"] = "sparse" if f["plot_id"] in SPARSE else ("held-out" if held_out(f["plot_id"]) else "tuning")
        rows.append(r)
        c, lm = figures([r["chain"]]), figures([r["lmf"]])
        print(f"{r['plot_id']:9s} {r['set']:8s} {r['path']:12s} {r['points']:6d} {c['refs']:4d} | "
              f"{c['detections']:5d}/{c['tp']:<6d} {c['precision']:5.2f} {c['recall']:5.2f} {c['f']:5.2f} | "
              f"{lm['detections']:4d}/{lm['tp']:<5d} {lm['precision']:5.2f} {lm['recall']:5.2f} {lm['f']:5.2f}")
    summary = {}
    print("\nNEON TEAK, pooled (sparse plots left out); real data, image-annotated crowns, no heights:")
    for name, sel in (("tuning", "tuning"), ("held-out", "held-out"), ("all 14", None)):
        rs = [r for r in rows if r["set"] != "sparse" and (sel is None or r["set"] == sel)]
        if not rs:
            continue
        c, lm = figures([r["chain"] for r in rs]), figures([r["lmf"] for r in rs])
        summary[name] = {"plots": len(rs), "chain": c, "lmf": lm, "margin": round(c["f"] - lm["f"], 3)}
        print(f"  {name:9s} ({len(rs):2d} plots, {c['refs']} crowns)  chain: det {c['detections']} TP {c['tp']} "
              f"P {c['precision']:.3f} R {c['recall']:.3f} F {c['f']:.3f} R-tall {c['recall_tall']:.3f}   "
              f"lmf: det {lm['detections']} TP {lm['tp']} P {lm['precision']:.3f} R {lm['recall']:.3f} "
              f"F {lm['f']:.3f} R-tall {lm['recall_tall']:.3f}   chain F - lmf F = {c['f'] - lm['f']:+.3f} "
              f"(target >= +0.05)")
    print("  height bias / RMSE: not measurable here (the reference crowns carry no height)")
    if not a.skip_ign and (REAL / IGN).exists():
        f = next(x for x in load_files() if x["file"] == IGN)
        t0 = time.perf_counter()
        tp = read_las(REAL / IGN)
        b = (float(f["xmin"]), float(f["ymin"]), float(f["xmax"]), float(f["ymax"]))
        _, h, det, row = run_chain(REAL / IGN, b, cfg)
        secs = time.perf_counter() - t0
        paths = np.asarray(det.get("detection_path", np.zeros(0, dtype=object)))
        print(f"\nIGN LiDAR HD sample (LAS {f['las_version']} PF {f['point_format']}, {len(tp)} points, no reference): "
              f"{len(det['x'])} trees, path {paths[0] if len(paths) else '-'}, ground {row['ground_source']}, "
              f"{secs:.1f} s end to end ({len(tp) / secs:,.0f} points/s)")
        summary["ign"] = {"trees": int(len(det["x"])), "seconds": round(secs, 2)}
    with open("/proc/loadavg") as fh:
        print("load average after:", fh.read().split()[:3])
    if a.json:
        Path(a.json).write_text(json.dumps({"plots": rows, "summary": summary}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
