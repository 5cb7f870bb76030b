"""Train the shipped frame grid model (models/roads/weights/damage_grid/), deterministically
(seeded, one torch thread). The defaults give the shipped one: simulated frames only
(`--real-share 0 --polish-steps 0`, 2,000 steps, about 12 minutes on one thread); real top-down
tiles have their own model (bench/train_tile_model.py). `--real-share 0.34 --polish-steps 400`
gives the mixed model of issue 19's first attempt (simulated frames and real tiles in one
network: simulated frame macro-F1 0.725, real held-out recall 0.458), whose weights start the
tile model.

    .venv/bin/python bench/train_damage_model.py [--steps 2000] [--real ../shared/real/cracks] [--real-share 0]
                                                 [--profile demo] [--sim-seed 42] [--out models/roads/weights/damage_grid]

Data: the road surveys of a simulated city (`--profile`, `--sim-seed`; simulated once and cached
under data/bench/roads/ by bench/roads_eval.py's `simulate`), split by road segment (15 %
validation: per-class frame thresholds); the real tiles of ../shared/real/cracks by source photo
(models/roads/real_cracks.py): the training photos train, the tuning photos set the "any damage"
threshold, the held-out photos are only measured (figures in the model card, docs/roads.md).
bench/roads_eval.py --shipped measures the simulated side on an unseen seed, and
bench/roads_real_damage.py the real held-out tiles.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.damage_net import ARCH_VERSION, MODEL_NAME, FrameSet, config_fingerprint, save_artifact  # noqa: E402
from models.roads.dataset import load_survey, split_by_segment  # noqa: E402
from models.roads.hard_negatives import KINDS  # noqa: E402
from models.roads.real_cracks import HOLDOUT_PHOTOS, LICENCE, TUNE_PHOTOS, load_tiles  # noqa: E402
from models.roads.training import (MixedConfig, real_metrics, sim_validation, tile_probs,  # noqa: E402
                                   train_mixed, tune_any_threshold)

SHIPPED = ROOT / "models" / "roads" / "weights" / "damage_grid"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--real-share", type=float, default=0.0)
    ap.add_argument("--real", default=str(ROOT.parent / "shared" / "real" / "cracks"))
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--sim-seed", type=int, default=42)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-false-alarm", type=float, default=0.05,
                    help="false-alarm rate allowed on the crack-free tuning tiles when setting the threshold")
    ap.add_argument("--polish-steps", type=int, default=0,
                    help="second stage: steps at a lower learning rate with more simulated crops")
    ap.add_argument("--polish-real-share", type=float, default=0.17)
    ap.add_argument("--polish-lr", type=float, default=1e-3)
    ap.add_argument("--stage1", default=None,
                    help="an artifact written by an identical first stage (same arguments): start stage 2 from it "
                         "instead of training stage 1 again (training is deterministic)")
    ap.add_argument("--workdir", default=str(ROOT / "data" / "bench" / "roads"))
    ap.add_argument("--out", default=str(SHIPPED))
    args = ap.parse_args()
    from roads_eval import simulate, simulator_hash

    torch.set_num_threads(1)
    recs = load_survey(*simulate(args.profile, args.sim_seed, Path(args.workdir)))
    tr, va = split_by_segment(recs, 0.15, seed=0)
    cfg = MixedConfig(seed=args.seed, steps=args.steps, batch_size=args.batch, real_share=args.real_share)
    sim_tr, sim_va = FrameSet(tr, cfg.grid), FrameSet(va, cfg.grid)
    real_tr, real_tune = load_tiles(args.real, ("train",)), load_tiles(args.real, ("tune",))
    print(f"sim: {len(sim_tr)} train / {len(sim_va)} val frames; real: {len(real_tr)} train / {len(real_tune)} tune tiles")
    if args.stage1:
        from models.roads.damage_net import load_artifact

        model, _ = load_artifact(Path(args.stage1))
        report = json.loads((Path(args.stage1) / "model_card.json").read_text())["training_run"]
        print(f"stage 1 from {args.stage1} ({report})")
    else:
        model, report = train_mixed(sim_tr, real_tr, cfg)
    stage1 = {k: report.get(k) for k in ("steps", "train_seconds")}
    if args.polish_steps:
        cfg2 = MixedConfig(seed=args.seed + 1, steps=args.polish_steps, batch_size=args.batch,
                           real_share=args.polish_real_share, lr=args.polish_lr)
        model, report = train_mixed(sim_tr, real_tr, cfg2, init_state=model.state_dict())
        report["stage1"], report["stage2"] = stage1, cfg2.as_dict()
        report["steps"] = (stage1["steps"] or 0) + args.polish_steps
        report["train_seconds"] = round((stage1["train_seconds"] or 0) + report["train_seconds"], 1)
    th, val = sim_validation(model, sim_va)
    tune_p = tile_probs(model, real_tune)
    th["any_damage"] = tune_any_threshold(tune_p, np.array([t.has_crack for t in real_tune]), args.max_false_alarm)
    report["thresholds"], report["val"] = th, val
    report["real_tune"] = real_metrics(tune_p, real_tune, th["any_damage"])
    hold = load_tiles(args.real, ("holdout",))
    report["real_holdout"] = real_metrics(tile_probs(model, hold), hold, th["any_damage"])
    report["licences"] = {"real tiles": LICENCE, "simulated frames": "generated by models/simulator (project code)"}
    report["hard_negatives"] = f"synthetic, painted into half of the crops: {', '.join(KINDS)}"
    report["limitations"] = (
        "Trained on simulated frames only (flat-shaded asphalt, 5 damage classes); the real tiles set "
        "only the 'any damage' threshold (tuning photos) and are measured (held-out photos). Top-down "
        "tiles go to the tile model (models/roads/weights/damage_tile). Cobbles are not rated.") \
        if not args.real_share else (
        "Real data are 256x256 top-down drone tiles of port quays (Japan), boxes of one class 'crack' "
        "without type or severity: the real figures say whether cracks are seen, not which class; no real "
        "pothole, patch or vehicle-camera frame was available with a usable licence. Real crack-free "
        "tiles come from one site (k1). Severity is learnt from the simulator only. The weights derive "
        "from CC BY-SA 4.0 data and are shared under the same licence. Cobbles are not rated.")
    data = {"stage2": {"steps": args.polish_steps, "real_share": args.polish_real_share, "lr": args.polish_lr},
            "simulator": "models.simulator.roads", "simulator_sha": simulator_hash(), "profile": args.profile,
            "sim_seed": args.sim_seed, "sim_train_frames": len(sim_tr), "sim_val_frames": len(sim_va),
            "sim_val_split": "by road segment, share 0.15, seed 0", "real_set": "../shared/real/cracks",
            "real_train_tiles": len(real_tr), "real_tune_tiles": len(real_tune),
            "real_holdout_photos": list(HOLDOUT_PHOTOS), "real_tune_photos": list(TUNE_PHOTOS)}
    version = f"{MODEL_NAME}-a{ARCH_VERSION}-{config_fingerprint(cfg, data)}"
    out = Path(args.out)
    tmp = out.parent / (out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    folder = save_artifact(model, cfg, report, data, tmp.parent, tmp.name)
    cfg_file = folder / "config.json"
    c = json.loads(cfg_file.read_text())
    c["version"] = version
    cfg_file.write_text(json.dumps(c, indent=1))
    card = json.loads((folder / "model_card.json").read_text())
    card["version"] = version
    (folder / "model_card.json").write_text(json.dumps(card, indent=1))
    md = (folder / "model_card.md").read_text().replace(tmp.name, version, 1)
    (folder / "model_card.md").write_text(md)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"saved {out} ({version}); train {report['train_seconds']} s")
    print(f"sim val frame macro-F1 {val['frame_macro_f1']}; real tune {report['real_tune']}")
    print(f"real held-out: {json.dumps({k: v for k, v in report['real_holdout'].items() if k != 'per_site'})}")


if __name__ == "__main__":
    main()
