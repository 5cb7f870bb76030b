"""Train the learned height correction of covered trees (``models/trees/height_model.npz``).

    .venv/bin/python bench/trees_dev.py eval base 1234 --profile city --height-model none
    .venv/bin/python bench/trees_dev.py eval base 42,7,11,13,21,22,1234,31,37,43 --height-model none
    .venv/bin/python bench/trees_height_model.py --train city:1234,demo:42,demo:7,... --validate demo:31,...

Reads, per simulated city of ``bench/trees_dev.py``'s work folder, the 4D step's output before any
correction (``res/tw_<profile>_<tag>_<seed>.parquet``: every tree and scan) and the truth; the
training rows are the living trees not measured on their own top (:func:`needs_correction`)
matched to a true tree (one-to-one, 3 m), the target the true height minus the height. Prints
the squared height error (m², trees >= 4 m as in the bench) of every training and validation
city before and after the correction, and writes the ensemble (``--out``) with what it was
trained on. The seeds the acceptance bench is run on (2718, 5151, 8080 and any other unseen one)
must stay out of ``--train`` and ``--validate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.trees.height_model import (FEATURES, MODEL_PATH, TreeEnsemble, covered_features,  # noqa: E402
                                       detection_fingerprint, needs_correction)
from models.trees.matching import match_points  # noqa: E402

PARAMS = dict(learning_rate=0.05, max_iter=200, min_samples_leaf=40, l2_regularization=1.0, early_stopping=False,
              random_state=0)


def city_rows(workdir: Path, profile: str, seed: int, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, target (true - read), mask of rows to correct and the eval mask (>= 4 m both
    sides, matched) for one simulated city; rows are those of the matched tree-scans."""
    tw = pl.read_parquet(workdir / "res" / f"tw_{profile}_{tag}_{seed}.parquet")
    truth = pl.read_csv(workdir / f"{profile}_{seed}" / "ground_truth" / "trees" / "trees.csv",
                        infer_schema_length=0).with_columns(pl.col("x_2154", "y_2154", "height_m").cast(pl.Float64))
    X = covered_features(tw)
    todo = needs_correction(tw)
    h = tw["height_m"].to_numpy().astype(float)
    target = np.full(tw.height, np.nan)
    scored = np.zeros(tw.height, bool)
    for ep in sorted(tw["epoch"].unique().to_list()):
        tr = truth.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled") & (pl.col("height_m") >= 4))
        idx = np.flatnonzero((tw["epoch"].to_numpy() == ep) & (tw["status"].to_numpy() != "felled") & (h >= 4))
        i, j, _ = match_points(tr["x_2154"].to_numpy(), tr["y_2154"].to_numpy(), tw["x"].to_numpy()[idx],
                               tw["y"].to_numpy()[idx], 3.0)
        target[idx[j]] = tr["height_m"].to_numpy()[i] - h[idx[j]]
        scored[idx[j]] = True
    return X, target, todo, scored


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/trees_dev")
    ap.add_argument("--tag", default="base")
    ap.add_argument("--train", required=True, help="profile:seed,... (development cities)")
    ap.add_argument("--validate", default="", help="profile:seed,... (validation cities, not trained on)")
    ap.add_argument("--out", default=str(MODEL_PATH))
    ap.add_argument("--params", default="", help="overrides of the ensemble's parameters, k=v,...")
    a = ap.parse_args(argv)
    from sklearn.ensemble import HistGradientBoostingRegressor

    wd = Path(a.workdir)
    parse = lambda s: [(p, int(x)) for p, x in (t.split(":") for t in s.split(",") if t)]  # noqa: E731
    params = dict(PARAMS)
    for kv in filter(None, a.params.split(",")):
        k, v = kv.split("=")
        params[k] = type(PARAMS.get(k, 0.0))(float(v)) if k in PARAMS and not isinstance(PARAMS[k], bool) else v
    data = {c: city_rows(wd, *c, a.tag) for c in parse(a.train) + parse(a.validate)}
    Xs, ys = [], []
    for c in parse(a.train):
        X, y, todo, scored = data[c]
        m = todo & scored
        Xs.append(X[m]); ys.append(y[m])
    model = HistGradientBoostingRegressor(**params).fit(np.concatenate(Xs), np.concatenate(ys))
    ens = TreeEnsemble.from_sklearn(model, FEATURES)
    for c, (X, y, todo, scored) in data.items():
        corr = np.zeros(len(y))
        corr[todo] = np.clip(ens.predict(X[todo]), -6.0, 6.0)
        before = float(np.nansum(y[scored] ** 2))
        after = float(np.nansum((y[scored] - corr[scored]) ** 2))
        role = "train" if c in parse(a.train) else "validate"
        print(f"{role:8s} {c[0]} {c[1]}: height sse {before:.0f} -> {after:.0f} m2 "
              f"(rows corrected {int((todo & scored).sum())} of {int(scored.sum())})", flush=True)
    ens.save(Path(a.out), train=a.train, validate=a.validate, params=params, rows=int(sum(len(y) for y in ys)),
             detection=detection_fingerprint())
    print(f"wrote {a.out}: {len(ens.roots)} trees, {len(ens.value)} nodes, {sum(len(y) for y in ys)} training rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
