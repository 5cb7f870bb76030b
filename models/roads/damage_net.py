"""A compact CNN that finds road damage in survey frames, per grid cell.

Input: the road ROI of a 640x360 frame (rows `roi_top` = 104 to 359, 256 x 640 px), uint8
RGB. Output, per 32 x 32 px cell of an 8 x 20 grid: logits over `CLASSES` (none + the five
damage classes) and over `SEVERITIES`.

Architecture (`DamageNet`, 0.54 M parameters, 0.32 GFLOP per frame): a 4x4 stride-4
"patchify" stem (it reads every full-resolution pixel, so 1 px hairline cracks survive, for
the price of a 2x-downscaled input's first layer), then plain 3x3 conv-BN-ReLU stages at
strides 8, 16 and 32 and two more 3x3 layers at stride 32 for context (receptive field about
300 px: enough to tell a long transverse crack from the side of a patch; not dilated, since
training sees crops and dilated layers would mostly see their zero padding). Plain convs, not
depthwise ones: on this CPU oneDNN runs them 3 to 5 times faster per FLOP. Two 1x1 heads give
the class and the severity of each cell. Inference: about 4.5 ms of CPU per frame.

Training: `train_damage_model` (simulated frames only, crops of 4 x 12 cells; kept for
bench/roads_eval.py) and models/roads/training.py `train_mixed` (simulated frames and real
pavement tiles with synthetic hard negatives: how the shipped model is trained and fine-tuned).

Input of any size: a frame is letterboxed (scaled keeping its aspect ratio, grey borders) to
640 x 360, never stretched; a top-down image (`DamageDetector.detect_tiles`) is read whole,
letterboxed to whole cells. Images are decoded once, by `decode_image`, from OpenCV's BGR to RGB
(preprocessing: models/roads/preprocess.py, re-exported here).
Decision: a class is present in a frame when its probability in some cell reaches the class's
threshold (tuned for frame F1 on simulated validation frames); a cell is also flagged when
1 - P(none) reaches the "any damage" threshold (tuned on real tuning tiles).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .dataset import (CLASSES, DAMAGE_CLASSES, IGNORE, SEVERITIES, FrameRecord, GridSpec, cell_targets,
                      frame_presence)
# preprocessing lives in .preprocess; its names are re-exported here (callers import them from either)
from .preprocess import (PAD_VALUE, decode_image, decode_roi, has_native_bf16, letterbox, roi_of,  # noqa: F401
                         tile_input, to_batch)

MODEL_NAME = "roads-damage-grid"
ARCH_VERSION = 1          # bump when DamageNet's layers change: old artifacts no longer load


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------

def _cbr(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = 0 if k == stride else dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DamageNet(nn.Module):
    """Per-cell damage class and severity logits for a batch of uint8 ROIs (N, 3, H, W)."""

    def __init__(self, widths: Sequence[int] = (24, 32, 64, 96, 128)):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.features = nn.Sequential(
            _cbr(3, w0, 4, 4),                                  # stride 4: patchify stem
            _cbr(w0, w1, 3, 2), _cbr(w1, w1),                   # stride 8
            _cbr(w1, w2, 3, 2), _cbr(w2, w2),                   # stride 16
            _cbr(w2, w3, 3, 2), _cbr(w3, w4),                   # stride 32: one cell per position
            _cbr(w4, w4), _cbr(w4, w4),                         # context across cells
        )
        self.cls_head = nn.Conv2d(w4, len(CLASSES), 1)
        self.sev_head = nn.Conv2d(w4, len(SEVERITIES), 1)
        # the "none" bias starts high: most cells are empty, which steadies the first steps
        with torch.no_grad():
            self.cls_head.bias.zero_()
            self.cls_head.bias[0] = 2.0

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """uint8 ROIs -> float in [-1, 1], the one preprocessing of the net (forward and
        `DamageDetector` both call it, so callers never disagree)."""
        return x.float() * (1 / 127.5) - 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(self.normalise(x))
        return self.cls_head(f), self.sev_head(f)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Everything that decides the trained weights (with the data)."""
    seed: int = 0
    epochs: int = 25                  # of crops: one crop per training frame per epoch
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    none_weight: float = 0.3          # class weight of "none" cells in the cross-entropy
    severity_weight: float = 0.5
    widths: tuple[int, ...] = (24, 32, 64, 96, 128)
    bf16: str = "auto"                # "auto" (if the CPU has native bf16), "on" or "off"
    max_steps: int | None = None      # cap for tests / smoke runs
    crop_cells: tuple[int, int] | None = (4, 12)   # train on crops of rows x cols cells
    focus: float = 0.7                # share of crops centred on a damaged cell
    grid: GridSpec = field(default_factory=GridSpec)
    # torch threads for training (None = one per core). Not part of the fingerprint: on a CPU
    # shared with other jobs one thread can train several times faster than two (OpenMP threads
    # spin waiting for a core another process holds)
    threads: int | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("threads", None)
        d["widths"] = list(self.widths)
        d["crop_cells"] = list(self.crop_cells) if self.crop_cells else None
        return d


class FrameSet:
    """Frames kept as JPEG bytes (decoded per batch: 2 ms a frame, far less than a training
    step, and 30 times less memory than decoded ROIs) with their cell and frame labels."""

    def __init__(self, records: Sequence[FrameRecord], spec: GridSpec, jpegs: Sequence[bytes] | None = None):
        """`jpegs`, when given, are the frames' bytes (e.g. the anonymised frames read from the
        lake), in the order of `records`; otherwise each record's path is read."""
        self.spec = spec
        self.records = list(records)
        self.jpegs = list(jpegs) if jpegs is not None else [Path(r.path).read_bytes() for r in self.records]
        if len(self.jpegs) != len(self.records):
            raise ValueError(f"FrameSet: {len(self.jpegs)} JPEGs for {len(self.records)} records")
        t = [cell_targets(r.damages, spec) for r in self.records]
        self.cls = np.stack([a for a, _ in t]) if t else np.zeros((0, spec.rows, spec.cols), np.int64)
        self.sev = np.stack([b for _, b in t]) if t else np.zeros((0, spec.rows, spec.cols), np.int64)
        self.presence = np.stack([frame_presence(r.damages) for r in self.records]) if t else \
            np.zeros((0, len(DAMAGE_CLASSES)), np.int64)

    def __len__(self) -> int:
        return len(self.records)

    def images(self, idx: Sequence[int], pool: ThreadPoolExecutor | None = None) -> list[np.ndarray]:
        fn = lambda i: decode_roi(self.jpegs[i], self.spec)  # noqa: E731
        return list(pool.map(fn, idx)) if pool else [fn(i) for i in idx]


def _crop(rois: list[np.ndarray], cls: np.ndarray, sev: np.ndarray, crop: tuple[int, int] | None,
          focus: float, cell: int, rng: np.random.Generator):
    """Cut a crop of `crop` cells (rows, cols) from each ROI, aligned to the grid; with
    probability `focus` the crop holds a damaged cell. A crop costs a third of a frame to
    train on and holds about as much damage, so crops learn several times faster per second
    than whole frames (inference runs on whole frames: the network is fully convolutional)."""
    if crop is None:
        return rois, cls, sev
    cr, cc = crop
    R, C = cls.shape[1:]
    out, oc, osv = [], [], []
    for k, r in enumerate(rois):
        pos = np.argwhere(cls[k] > 0)
        if len(pos) and rng.random() < focus:
            pr, pc = pos[rng.integers(len(pos))]
            r0 = int(np.clip(pr - rng.integers(cr), 0, R - cr))
            c0 = int(np.clip(pc - rng.integers(cc), 0, C - cc))
        else:
            r0, c0 = int(rng.integers(R - cr + 1)), int(rng.integers(C - cc + 1))
        out.append(r[r0 * cell:(r0 + cr) * cell, c0 * cell:(c0 + cc) * cell])
        oc.append(cls[k, r0:r0 + cr, c0:c0 + cc])
        osv.append(sev[k, r0:r0 + cr, c0:c0 + cc])
    return out, np.stack(oc), np.stack(osv)


def _augment(rois: list[np.ndarray], cls: np.ndarray, sev: np.ndarray, rng: np.random.Generator):
    """Horizontal flip (a mirrored road is a road: crack orientations keep their class) and an
    exposure change (gain and offset) per frame."""
    out = []
    cls, sev = cls.copy(), sev.copy()
    for k, r in enumerate(rois):
        if rng.random() < 0.5:
            r = r[:, ::-1]
            cls[k], sev[k] = cls[k][:, ::-1], sev[k][:, ::-1]
        g, b = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
        out.append(cv2.convertScaleAbs(np.ascontiguousarray(r), alpha=float(g), beta=float(b)))
    return out, cls, sev


def _loss(cls_logits, sev_logits, cls_t, sev_t, class_weight, severity_weight):
    ce = F.cross_entropy(cls_logits.float(), cls_t, weight=class_weight, ignore_index=IGNORE)
    damaged = sev_t >= 0
    if damaged.any():
        s = sev_logits.float().permute(0, 2, 3, 1)[damaged]
        ce = ce + severity_weight * F.cross_entropy(s, sev_t[damaged])
    return ce


def train_damage_model(train: FrameSet, val: FrameSet, cfg: TrainConfig = TrainConfig(),
                       log: Callable[[str], None] = print) -> tuple[DamageNet, dict]:
    """Train a DamageNet; returns it (in eval mode) and a report: loss history, validation
    metrics per class (cell level and frame level) and the tuned frame thresholds."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    use_bf16 = cfg.bf16 == "on" or (cfg.bf16 == "auto" and has_native_bf16())
    model = DamageNet(cfg.widths).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total, 2), pct_start=0.15)
    cw = torch.ones(len(CLASSES))
    cw[0] = cfg.none_weight
    history: list[float] = []
    t0 = time.perf_counter()
    step = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        while step < total:
            order = rng.permutation(len(train))
            for b in range(steps_per_epoch):
                if step >= total:
                    break
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                rois, cls, sev = _crop(train.images(idx, pool), train.cls[idx], train.sev[idx], cfg.crop_cells,
                                       cfg.focus, cfg.grid.cell, rng)
                rois, cls, sev = _augment(rois, cls, sev, rng)
                x = to_batch(rois)
                model.train()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                    cl, sl = model(x)
                loss = _loss(cl, sl, torch.from_numpy(cls), torch.from_numpy(sev), cw, cfg.severity_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                history.append(loss.detach().item())
                step += 1
                if step % 50 == 0 or step == total:
                    log(f"step {step}/{total} loss {np.mean(history[-50:]):.4f} "
                        f"({time.perf_counter() - t0:.0f} s)")
    model.eval()
    train_s = time.perf_counter() - t0
    report = {"steps": step, "train_seconds": round(train_s, 1), "bf16_used": use_bf16, "threads": threads,
              "loss_first": history[:5], "loss_last": history[-5:]}
    if len(val):
        probs, sevp = predict_probs(model, [val.images([i])[0] for i in range(len(val))])
        thresholds = tune_thresholds(probs, val.presence)
        report["thresholds"] = thresholds
        report["val"] = evaluate(probs, sevp, val.cls, val.sev, val.presence, thresholds)
    else:
        report["thresholds"] = {c: 0.5 for c in DAMAGE_CLASSES}
    return model, report


# --------------------------------------------------------------------------------------------
# Inference and metrics
# --------------------------------------------------------------------------------------------

def predict_probs(model: DamageNet, rois: Sequence[np.ndarray], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Class and severity probabilities per cell: (N, rows, cols, 6) and (N, rows, cols, 3)."""
    model.eval()
    cps, sps = [], []
    with torch.inference_mode():
        for i in range(0, len(rois), batch_size):
            cl, sl = model(to_batch(rois[i:i + batch_size]))
            cps.append(cl.softmax(1).permute(0, 2, 3, 1).numpy())
            sps.append(sl.softmax(1).permute(0, 2, 3, 1).numpy())
    if not cps:
        return np.zeros((0, 0, 0, len(CLASSES)), np.float32), np.zeros((0, 0, 0, len(SEVERITIES)), np.float32)
    return np.concatenate(cps), np.concatenate(sps)


def frame_scores(probs: np.ndarray) -> np.ndarray:
    """Per frame and damage class, the highest cell probability: (N, 5)."""
    return probs[..., 1:].reshape(len(probs), -1, len(DAMAGE_CLASSES)).max(1)


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": int(tp + fn)}


def tune_thresholds(probs: np.ndarray, presence: np.ndarray) -> dict[str, float]:
    """Per class, the frame threshold that maximises F1 on these (validation) frames."""
    scores = frame_scores(probs)
    out = {}
    for k, c in enumerate(DAMAGE_CLASSES):
        best, best_t = -1.0, 0.5
        for t in np.arange(0.05, 0.96, 0.01):
            pred = scores[:, k] >= t
            tp = int((pred & (presence[:, k] == 1)).sum())
            fp = int((pred & (presence[:, k] == 0)).sum())
            fn = int((~pred & (presence[:, k] == 1)).sum())
            f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            if f > best + 1e-9:
                best, best_t = f, float(t)
        out[c] = round(best_t, 2)
    return out


def evaluate(probs: np.ndarray, sev_probs: np.ndarray, cls_t: np.ndarray, sev_t: np.ndarray,
             presence: np.ndarray, thresholds: dict[str, float]) -> dict:
    """Frame-level precision/recall/F1 per class (presence by threshold) and macro-F1; cell-level
    precision/recall/F1 per class (argmax, ignore cells left out); severity accuracy on the
    damaged cells that were found with the right class."""
    scores = frame_scores(probs)
    frame = {}
    for k, c in enumerate(DAMAGE_CLASSES):
        pred = scores[:, k] >= thresholds[c]
        truth = presence[:, k] == 1
        frame[c] = _prf(int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum()))
    macro = float(np.mean([frame[c]["f1"] for c in DAMAGE_CLASSES]))
    arg = probs.argmax(-1)
    valid = cls_t != IGNORE
    cell = {}
    for k, c in enumerate(DAMAGE_CLASSES, start=1):
        p, t = (arg == k) & valid, (cls_t == k)
        cell[c] = _prf(int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum()))
    cell_macro = float(np.mean([cell[c]["f1"] for c in DAMAGE_CLASSES]))
    hit = (sev_t >= 0) & (arg == cls_t)
    sev_acc = float((sev_probs.argmax(-1)[hit] == sev_t[hit]).mean()) if hit.any() else 0.0
    return {"frame": frame, "frame_macro_f1": round(macro, 4), "cell": cell, "cell_macro_f1": round(cell_macro, 4),
            "severity_accuracy_on_found_cells": round(sev_acc, 4), "frames": int(len(probs))}


# --------------------------------------------------------------------------------------------
# Artifact
# --------------------------------------------------------------------------------------------

def config_fingerprint(cfg: TrainConfig, data: dict) -> str:
    """Short hash of what decides the weights: training config, architecture version, data."""
    blob = json.dumps({"arch": ARCH_VERSION, "cfg": cfg.as_dict(), "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def save_artifact(model: DamageNet, cfg: TrainConfig, report: dict, data: dict, root: Path,
                  version: str | None = None) -> Path:
    """Write `<root>/<version>/` with model.pt (state_dict), config.json, model_card.json and
    model_card.md; returns the folder. The version is `<name>-a<arch>-<fingerprint>`: the same
    config and data give the same version, so a cached artifact can be found and reused."""
    fp = config_fingerprint(cfg, data)
    version = version or f"{MODEL_NAME}-a{ARCH_VERSION}-{fp}"
    out = Path(root) / version
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    config = {"model": MODEL_NAME, "version": version, "arch_version": ARCH_VERSION, "fingerprint": fp,
              "classes": list(CLASSES), "severities": list(SEVERITIES), "grid": cfg.grid.as_dict(),
              "widths": list(cfg.widths), "thresholds": report.get("thresholds", {}), "train": cfg.as_dict()}
    (out / "config.json").write_text(json.dumps(config, indent=1))
    card = {
        "model": MODEL_NAME, "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "intended_use": "Flag road damage (class, severity, cell) in windscreen survey frames of the "
                        "City of Cannes road survey; frames must be anonymised first.",
        "architecture": f"DamageNet widths={list(cfg.widths)}: 4x4/4 stem, 3x3 conv-BN-ReLU stages to "
                        f"stride 32, 2 context layers, 1x1 class and severity heads; "
                        f"{sum(p.numel() for p in model.parameters())} parameters",
        "input": f"ROI rows {cfg.grid.roi_top}..{cfg.grid.roi_top + cfg.grid.roi_h} of a "
                 f"{cfg.grid.frame_w}x{cfg.grid.frame_h} RGB frame; grid {cfg.grid.rows}x{cfg.grid.cols} "
                 f"cells of {cfg.grid.cell} px",
        "labelling_rule": "a damage bbox labels a cell when on each axis the overlap covers half of the "
                          "smaller extent (cell side or bbox side); cells touched otherwise are ignored",
        "data": data, "training": cfg.as_dict(),
        "training_run": {k: report[k] for k in ("steps", "train_seconds", "bf16_used", "threads") if k in report},
        "frame_thresholds": report.get("thresholds", {}),
        "validation": report.get("val", {}),
        "limitations": report.get("limitations") or (
            "Trained on simulated frames only (flat-shaded asphalt, 5 damage classes); real "
            "imagery needs labelled real frames before production use. Cobbles are not rated."),
    }
    for k in ("real_holdout", "real_tune", "licences", "hard_negatives", "base_model"):
        if report.get(k) is not None:
            card[k] = report[k]
    (out / "model_card.json").write_text(json.dumps(card, indent=1))
    (out / "model_card.md").write_text(_card_markdown(card))
    return out


def _card_markdown(card: dict) -> str:
    lines = [f"# Model card: {card['model']} {card['version']}", "",
             f"Created {card['created_at']}.", "", f"**Intended use.** {card['intended_use']}", "",
             f"**Architecture.** {card['architecture']}", "", f"**Input.** {card['input']}", "",
             f"**Cell labels.** {card['labelling_rule']}", "", "## Data", "",
             "```json", json.dumps(card["data"], indent=1), "```", "", "## Training", "",
             "```json", json.dumps({**card["training"], **card["training_run"]}, indent=1), "```", ""]
    val = card.get("validation") or {}
    if val:
        lines += [f"## Validation ({val.get('frames', 0)} frames, split by road segment)", "",
                  "| class | frame P | frame R | frame F1 | cell P | cell R | cell F1 | threshold |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in DAMAGE_CLASSES:
            fr, ce = val["frame"][c], val["cell"][c]
            lines.append(f"| {c} | {fr['precision']:.3f} | {fr['recall']:.3f} | {fr['f1']:.3f} | "
                         f"{ce['precision']:.3f} | {ce['recall']:.3f} | {ce['f1']:.3f} | "
                         f"{card['frame_thresholds'].get(c, '')} |")
        lines += ["", f"Frame macro-F1 {val['frame_macro_f1']:.3f}; cell macro-F1 {val['cell_macro_f1']:.3f}; "
                      f"severity accuracy on found cells {val['severity_accuracy_on_found_cells']:.3f}.", ""]
    for k, title in (("real_holdout", "Real held-out tiles"), ("real_tune", "Real tuning tiles")):
        r = card.get(k)
        if r:
            lines += [f"## {title} ({r['tiles']} tiles: {r['crack_tiles']} with cracks, {r['crack_free_tiles']} "
                      f"crack-free)", "", f"Image-level \"has damage\" precision {r['precision']}, recall "
                      f"{r['recall']}, false alarms on crack-free tiles {r['false_alarm_rate']}; box recall "
                      f"{r['box_recall']} of {r['boxes']} boxes; threshold on 1 - P(none) {r['threshold']}.", ""]
    for k in ("licences", "hard_negatives", "base_model"):
        if card.get(k):
            lines += [f"**{k.replace('_', ' ').capitalize()}.** {json.dumps(card[k])}", ""]
    lines += [f"**Limitations.** {card['limitations']}", ""]
    return "\n".join(lines)


def load_artifact(folder: Path) -> tuple[DamageNet, dict]:
    """Model (eval mode) and config from an artifact folder written by `save_artifact`."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if config.get("arch_version") != ARCH_VERSION:
        raise ValueError(f"{folder} holds arch {config.get('arch_version')}, this code reads {ARCH_VERSION}")
    model = DamageNet(config["widths"])
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model.to(memory_format=torch.channels_last), config
