"""Train the shipped tile model (models/roads/weights/damage_tile/, models/roads/tile_model.py):
"has damage" for top-down pavement tiles, deterministically (seeded, one torch thread).

    .venv/bin/python bench/train_tile_model.py --init <artifact folder of the mixed grid model>
                                               [--steps 400] [--real ../shared/real/cracks] [--out ...]

`--init`: the trunk to start from, the mixed model (simulated frames + real training tiles) that
bench/train_damage_model.py writes with `--real-share 0.34 --polish-steps 400` (shipped as damage_grid at commit
0d91720, version roads-damage-grid-a1-0f79ef62a7). Trains on the real training photos, sets the
threshold on the tuning photos (at most 1 false alarm in 16 crack-free tuning tiles), measures
the held-out photos once at the end (figures in the model card; nothing is chosen on them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.damage_net import decode_image, load_artifact  # noqa: E402
from models.roads.real_cracks import HOLDOUT_PHOTOS, LICENCE, TUNE_PHOTOS, load_tiles  # noqa: E402
from models.roads.tile_model import (TILE_MODEL, TileConfig, load_tile_model, save_tile_model,  # noqa: E402
                                     tile_metrics, tile_scores,
                                     train_tile_model, tune_tile_threshold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crop-batch", type=int, default=0, help="crops of 128 px per step beside the tiles (0: off)")
    ap.add_argument("--tta", type=int, default=1, choices=[1, 8], help="score averaged over 8 rotations / flips")
    ap.add_argument("--max-false-alarm", type=float, default=0.0625)
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "real" / "cracks"))
    ap.add_argument("--out", default=str(TILE_MODEL))
    ap.add_argument("--no-holdout", action="store_true", help="a trial: do not measure the held-out tiles")
    ap.add_argument("--trained", default=None, help="a folder this script wrote with --no-holdout and the same "
                                                    "training options: reuse its weights (deterministic training "
                                                    "gives the same ones) instead of training again")
    args = ap.parse_args()
    torch.set_num_threads(1)
    trunk, trunk_cfg = load_artifact(Path(args.init))
    cfg = TileConfig(seed=args.seed, steps=args.steps, lr=args.lr, widths=tuple(trunk_cfg["widths"]),
                     crop_batch=args.crop_batch)
    tr, tu, ho = (load_tiles(args.real, (s,)) for s in ("train", "tune", "holdout"))
    if args.trained:
        model, tcfg = load_tile_model(Path(args.trained))
        if tcfg["train"] != cfg.as_dict():
            raise SystemExit(f"{args.trained} was trained with {tcfg['train']}, not {cfg.as_dict()}")
        report = json.loads((Path(args.trained) / "model_card.json").read_text())["training_run"]
    else:
        model, report = train_tile_model(tr, cfg, init_trunk=trunk.state_dict())
    s_tu, c_tu = tile_scores(model, [decode_image(t.jpeg) for t in tu], tta=args.tta)
    th = tune_tile_threshold(s_tu, np.array([t.has_crack for t in tu]), args.max_false_alarm)
    has_tu = np.array([t.has_crack for t in tu])
    print(f"tune AUC {np.mean(s_tu[has_tu][:, None] > s_tu[~has_tu][None, :]):.4f}")
    if args.no_holdout:
        ho = []
    s_ho, c_ho = tile_scores(model, [decode_image(t.jpeg) for t in ho], tta=args.tta)
    fp = hashlib.sha256(json.dumps({"cfg": cfg.as_dict(), "init": trunk_cfg["version"], "th": th, "tta": args.tta},
                                   sort_keys=True).encode()).hexdigest()[:10]
    card = {"model": "roads-damage-tile", "version": f"roads-damage-tile-a1-{fp}", "threshold": th, "tta": args.tta,
            "intended_use": "Does a top-down pavement tile (drone / orthophoto, ~256 px, ~1-2 cm per px) show a "
                            "crack? Vehicle frames go to the grid model (damage_grid), not here.",
            "init_trunk": trunk_cfg["version"], "training": cfg.as_dict(), "training_run": report,
            "data": {"real_set": "../shared/real/cracks", "train_tiles": len(tr), "tune_tiles": len(tu),
                     "holdout_tiles": len(ho), "tune_photos": list(TUNE_PHOTOS), "holdout_photos": list(HOLDOUT_PHOTOS),
                     "split": "by source photo (models/roads/real_cracks.py)"},
            "threshold_rule": f"lowest with at most {args.max_false_alarm:.4f} false alarms on the crack-free tuning tiles",
            "real_tune": tile_metrics(s_tu, c_tu, tu, th), "real_holdout": tile_metrics(s_ho, c_ho, ho, th) if ho else None,
            "licences": {"real tiles": LICENCE, "init trunk": "also saw simulated frames (project code)"},
            "simulator": "not measured here: the tile model reads top-down tiles only; simulated vehicle frames go to "
                         "the grid model (damage_grid), whose card holds the simulator's frame macro-F1",
            "limitations": "Trained on 207 tiles of port quays in Japan (3 sites; crack-free tiles from one site, "
                           "k1); one class, crack. Not for vehicle frames. Weights derive from CC BY-SA 4.0 data."}
    save_tile_model(model, cfg, card, Path(args.out))
    print(f"saved {args.out} ({card['version']}); train {report['train_seconds']} s; threshold {th}")
    for k in ("real_tune", "real_holdout"):
        if card[k]:
            print(k, json.dumps({a: b for a, b in card[k].items() if a != "per_site"}))


if __name__ == "__main__":
    main()
