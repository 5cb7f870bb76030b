"""The shipped damage model and its fine-tuning on a city's own labels (no Dagster here).

`SHIPPED` (models/roads/weights/damage_grid/: weights, config with thresholds, model card) is
trained by bench/train_damage_model.py on simulated frames (real top-down tiles have their own model, models/roads/tile_model.py); a city with
no labels scores its frames with it on day one. When the city's annotators deliver labels
(COCO, silver.road_annotations), `finetune` starts from the shipped weights and trains on the
labelled frames stored in the lake (anonymised JPEGs), split by road segment: per-class
thresholds are tuned on the validation segments, the "any damage" threshold (tuned on real
tiles) is kept, and the shipped model is scored on the same validation frames so the caller
can promote the fine-tuned model only when it is at least as good there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .damage_net import FrameSet, evaluate, load_artifact, predict_probs
from .dataset import FrameRecord, GridSpec, split_by_segment
from .training import MixedConfig, sim_validation, train_mixed

SHIPPED = Path(__file__).resolve().parent / "weights" / "damage_grid"
ARTIFACT_FILES = ("model.pt", "config.json", "model_card.json", "model_card.md")
MIN_LABELLED_FRAMES = 20        # fewer labelled frames in the lake: no fine-tuning


def shipped_config() -> dict:
    return json.loads((SHIPPED / "config.json").read_text())


def shipped_card() -> dict:
    return json.loads((SHIPPED / "model_card.json").read_text())


def copy_shipped(dest: Path) -> Path:
    """Copy the shipped artifact's files into `dest` (a registry artifact folder)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        shutil.copyfile(SHIPPED / name, dest / name)
    return dest


def shipped_metrics() -> dict:
    """The shipped model's figures, as its card states them (registry metrics)."""
    card = shipped_card()
    val = card.get("validation") or {}
    hold = card.get("real_holdout") or {}
    return {"frame_macro_f1": val.get("frame_macro_f1"), "cell_macro_f1": val.get("cell_macro_f1"),
            "real_holdout": {k: hold.get(k) for k in ("tiles", "precision", "recall", "false_alarm_rate",
                                                      "box_recall", "threshold")}}


# One torch thread, always. The thread count is not in the model's version (fingerprint), and
# it changes the trained floats: the same five steps on 1 and on 2 threads differ by up to 0.009
# in a weight (measured 6 December). It used to follow the load average (1 thread
# on a busy machine, one per core otherwise), so the same data and version could hold different
# weights depending on how busy the machine was at training time. Any fixed count is reproducible;
# one is the count that stays fast on a busy machine (OpenMP threads spin waiting for a core another
# process holds). On an idle 2-core machine two threads train about 1.6-2x faster (20 steps of 16
# crops of 128 x 384: 1.55-1.63 s on one thread, 0.74-0.99 s on two, 7 December); the demo city's
# fine-tuning took 142 s on one thread in an idle `make run`.
TRAINING_THREADS = 1


def finetune_config(n_frames: int, grid: GridSpec | None = None) -> MixedConfig:
    """Fine-tuning size scaled to the data: 150 steps of 16 crops on the tiny city, up to 800
    steps of 24 on a large labelled set; a lower learning rate than training from scratch."""
    steps = int(np.clip(round(1.0 * n_frames), 150, 800))
    return MixedConfig(seed=0, steps=steps, batch_size=16 if n_frames < 600 else 24, real_share=0.0, lr=1e-3,
                       grid=grid or GridSpec(), threads=TRAINING_THREADS)


def finetune(records: Sequence[FrameRecord], jpegs: Sequence[bytes], log: Callable[[str], None] = print):
    """Fine-tune the shipped model on labelled frames (`records` with their damages, `jpegs` in
    the same order). Returns (model, report, config): the report holds the tuned thresholds,
    validation metrics of the fine-tuned and of the shipped model on the same frames."""
    base, base_cfg = load_artifact(SHIPPED)
    grid = GridSpec(**base_cfg["grid"])
    by_key = {(r.survey_id, r.path.name): j for r, j in zip(records, jpegs)}
    tr, va = split_by_segment(list(records), 0.15, seed=0)
    if not va or not tr:                                   # too few segments: every 7th frame validates
        va, tr = list(records)[::7], [r for i, r in enumerate(records) if i % 7]
    train = FrameSet(tr, grid, [by_key[(r.survey_id, r.path.name)] for r in tr])
    val = FrameSet(va, grid, [by_key[(r.survey_id, r.path.name)] for r in va])
    cfg = finetune_config(len(records), grid)
    cfg = MixedConfig(**{**cfg.__dict__, "widths": tuple(base_cfg["widths"])})
    model, report = train_mixed(train, [], cfg, init_state=base.state_dict(), log=log)
    th, val_m = sim_validation(model, val)
    th["any_damage"] = base_cfg["thresholds"].get("any_damage", 1.0)
    p, s = predict_probs(base, val.images(list(range(len(val)))))
    report.update({"thresholds": th, "val": val_m, "train_frames": len(train), "val_frames": len(val),
                   "base_model": base_cfg["version"],
                   "base_val": evaluate(p, s, val.cls, val.sev, val.presence, base_cfg["thresholds"])})
    return model, report, cfg
