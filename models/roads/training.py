"""Training the damage network on simulated frames and real pavement tiles together.

Every training step sees one batch of 256 x 256 px crops (8 x 8 cells): crops of simulated
survey frames' road ROI (cell labels from their damage boxes, `dataset.cell_targets`; two thirds
of the batch) and real drone tiles (rotated by a multiple of 90 degrees, maybe flipped;
`real_cracks.tile_targets`; one third), with synthetic hard negatives
(`hard_negatives.paint_negatives`) painted into part of both, away from the damage (on simulated
crops only the kinds a windscreen camera sees: stains, manholes, vehicle parts, verges, shadows;
straight joints and painted lines would contradict the simulator's own cracks and markings).
Losses:

* cross-entropy per cell where the class is known (none, or a simulated damage class); simulated
  "none" cells down-weighted (about 95 % of them are empty), real ones not;
* on real "thin box" cells: -log P(some crack) = -log(p_longitudinal + p_transverse + p_alligator);
* per real crack box (multiple-instance): -log of the highest P(some crack) among its cells, so
  a loose box around a diagonal crack asks for one crack cell in it, not for all of them (with
  smaller crops, a box mostly cut away is left out);
* optional (`neg_bag_weight`, off by default): per crop without damage, -log P(none) of its most
  damaged-looking cell. Tried with 4 x 8 crops: simulated frame macro-F1 fell to 0.44 and real
  recall too, so it is off.

Simulated crops are flipped left-right only (the camera's perspective); both kinds get exposure
and colour-balance jitter. Deterministic for a seed (numpy and torch seeded, one thread by
default). `init_state` starts from existing weights (fine-tuning).

Thresholds: per simulated class, tuned for frame F1 on the simulated validation frames; the
"any damage" threshold on 1 - P(none), tuned on the real tuning tiles (never on held-out ones).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .damage_net import DamageNet, FrameSet, decode_image, predict_probs, to_batch, tune_thresholds, evaluate
from .dataset import CLASSES, DAMAGE_CLASSES, IGNORE, GridSpec
from .hard_negatives import paint_negatives
from .real_cracks import CRACK_ANY, RealTile, box_found, tile_targets

CRACK_IDX = [CLASSES.index(c) for c in ("longitudinal_crack", "transverse_crack", "alligator_crack")]


@dataclass
class MixedConfig:
    """Everything that decides the weights (with the data)."""
    seed: int = 0
    steps: int = 2000
    batch_size: int = 24
    real_share: float = 0.34           # share of each batch taken from real tiles (when there are any)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    none_weight: float = 0.3
    severity_weight: float = 0.5
    mil_weight: float = 1.0
    negatives_p: float = 0.5          # chance that a real crop gets 1-2 painted hard negatives
    sim_negatives_p: float = 0.3      # the same for a simulated crop (vehicle parts, stains, verges)
    real_none_weight: float = 1.0     # weight of real "none" cells (simulated ones: none_weight)
    neg_bag_weight: float = 0.0       # -log P(none) of the most damaged-looking cell of a crop without damage
    focus: float = 0.7                # share of simulated crops centred on a damaged cell
    crop_rows: int = 8                # crops of rows x cols cells (real tiles: full width after a rotation)
    crop_cols: int = 8
    widths: tuple[int, ...] = (24, 32, 64, 96, 128)
    grid: GridSpec = field(default_factory=GridSpec)
    threads: int | None = 1           # not in the fingerprint

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("threads", None)
        d["widths"] = list(self.widths)
        return d


def _jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g, b = rng.uniform(0.75, 1.25), rng.uniform(-25, 25)
    bal = rng.uniform(0.9, 1.1, 3)
    return np.clip(img.astype(np.float32) * (g * bal) + b, 0, 255).astype(np.uint8)


def _damage_pixels(cls: np.ndarray, cell: int) -> np.ndarray:
    m = (cls != 0).repeat(cell, 0).repeat(cell, 1)
    return cv2.dilate(m.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0


SIM_NEGATIVES = ("oil_stain", "manhole", "grille", "headlight", "wheel", "vegetation", "shadow")


def _sim_crop(roi, cls, sev, cfg: MixedConfig, rng):
    cr, cc = cfg.crop_rows, cfg.crop_cols
    R, C = cls.shape
    pos = np.argwhere(cls > 0)
    if len(pos) and rng.random() < cfg.focus:
        pr, pc = pos[rng.integers(len(pos))]
        r0 = int(np.clip(pr - rng.integers(cr), 0, R - cr))
        c0 = int(np.clip(pc - rng.integers(cc), 0, C - cc))
    else:
        r0, c0 = int(rng.integers(R - cr + 1)), int(rng.integers(C - cc + 1))
    s = cfg.grid.cell
    img = roi[r0 * s:(r0 + cr) * s, c0 * s:(c0 + cc) * s]
    cl, sv = cls[r0:r0 + cr, c0:c0 + cc].copy(), sev[r0:r0 + cr, c0:c0 + cc].copy()
    if rng.random() < 0.5:
        img, cl, sv = img[:, ::-1], cl[:, ::-1].copy(), sv[:, ::-1].copy()
    img = np.ascontiguousarray(img)
    if rng.random() < cfg.sim_negatives_p:
        img, _ = paint_negatives(img, rng, 1, avoid=_damage_pixels(cl, s), kinds=SIM_NEGATIVES)
    return _jitter(img, rng), cl, sv


def _real_crop(tile: RealTile, cfg: MixedConfig, rng):
    """A rotated / flipped real tile cut to crop_rows full-width rows; a box keeps its
    multiple-instance group only when at least 3/4 of its cells are in the crop (otherwise its
    cells stay "ignore": the crack may lie in the part cut away)."""
    img = decode_image(tile.jpeg)
    s = cfg.grid.cell
    t, masks = tile_targets(tile.boxes, img.shape[:2], s)
    k = int(rng.integers(4))
    img, t, masks = np.rot90(img, k), np.rot90(t, k), np.rot90(masks, k, axes=(1, 2))
    if rng.random() < 0.5:
        img, t, masks = img[:, ::-1], t[:, ::-1], masks[:, :, ::-1]
    cr = min(cfg.crop_rows, t.shape[0])
    r0 = int(rng.integers(t.shape[0] - cr + 1))
    img, tc, mc = img[r0 * s:(r0 + cr) * s, :cfg.crop_cols * s], t[r0:r0 + cr, :cfg.crop_cols], \
        masks[:, r0:r0 + cr, :cfg.crop_cols]
    keep = [m for m, full in zip(mc, masks) if m.any() and m.sum() >= 0.75 * full.sum()]
    img, tc = np.ascontiguousarray(img), np.ascontiguousarray(tc)
    if rng.random() < cfg.negatives_p:
        img, _ = paint_negatives(img, rng, int(rng.integers(1, 3)), avoid=_damage_pixels(tc, s))
    return _jitter(img, rng), tc, [np.ascontiguousarray(m) for m in keep]


def _loss(cl, sl, cls_t, sev_t, mil_masks, real_rows, cw, cfg: MixedConfig):
    cl = cl.float()
    known = cls_t.clone()
    known[known == CRACK_ANY] = IGNORE
    valid = known != IGNORE
    ce = F.cross_entropy(cl, known.clamp(min=0), weight=cw, reduction="none")          # N, R, C
    w = torch.where(known == 0, torch.full_like(ce, cfg.none_weight), torch.ones_like(ce))
    w[real_rows] = torch.where(known[real_rows] == 0, cfg.real_none_weight, 1.0).float()
    w = w * valid
    loss = (ce * w).sum() / w.sum().clamp(min=1.0)
    logp = cl.log_softmax(1)
    log_crack = torch.logsumexp(logp[:, CRACK_IDX], 1)                     # N, R, C
    anyc = cls_t == CRACK_ANY
    if anyc.any():
        loss = loss - log_crack[anyc].mean()
    if mil_masks:
        terms = [log_crack[n][m].max() for n, ms in mil_masks for m in ms]
        loss = loss - cfg.mil_weight * torch.stack(terms).mean()
    clean = (cls_t == 0).flatten(1).all(1)                                  # crops without any damage
    if clean.any() and cfg.neg_bag_weight:
        loss = loss - cfg.neg_bag_weight * logp[clean, 0].flatten(1).min(1).values.mean()
    dm = sev_t >= 0
    if dm.any():
        loss = loss + cfg.severity_weight * F.cross_entropy(sl.float().permute(0, 2, 3, 1)[dm], sev_t[dm])
    return loss


def train_mixed(sim: FrameSet, real: Sequence[RealTile], cfg: MixedConfig = MixedConfig(),
                init_state: dict | None = None, log: Callable[[str], None] = print) -> tuple[DamageNet, dict]:
    """Train (or fine-tune from `init_state`) a DamageNet on simulated frames and real tiles."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    model = DamageNet(cfg.widths)
    if init_state is not None:
        model.load_state_dict(init_state)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 2), pct_start=0.15)
    cw = torch.ones(len(CLASSES))
    cw[0] = cfg.none_weight
    n_real = int(round(cfg.batch_size * cfg.real_share)) if len(real) else 0
    n_sim = cfg.batch_size - n_real if len(sim) else 0
    if n_real + n_sim == 0:
        raise ValueError("train_mixed: no training data")
    sim_rois: dict[int, np.ndarray] = {}
    history: list[float] = []
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        imgs, cls, sev, mil = [], [], [], []
        for i in (rng.integers(len(sim), size=n_sim) if n_sim else []):
            i = int(i)
            if i not in sim_rois:
                sim_rois[i] = sim.images([i])[0]
            im, c, s = _sim_crop(sim_rois[i], sim.cls[i], sim.sev[i], cfg, rng)
            imgs.append(im); cls.append(c); sev.append(s)
        real_rows = torch.zeros(n_sim + n_real, dtype=torch.bool)
        for i in (rng.integers(len(real), size=n_real) if n_real else []):
            im, t, masks = _real_crop(real[int(i)], cfg, rng)
            if masks:
                mil.append((len(imgs), [torch.from_numpy(m) for m in masks]))
            real_rows[len(imgs)] = True
            imgs.append(im); cls.append(t); sev.append(np.full_like(t, IGNORE))
        model.train()
        cl, sl = model(to_batch(imgs))
        loss = _loss(cl, sl, torch.from_numpy(np.stack(cls)), torch.from_numpy(np.stack(sev)), mil, real_rows, cw, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.detach().item())
        if (step + 1) % 100 == 0 or step + 1 == cfg.steps:
            log(f"step {step + 1}/{cfg.steps} loss {np.mean(history[-100:]):.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return model, {"steps": cfg.steps, "train_seconds": round(time.perf_counter() - t0, 1),
                   "threads": cfg.threads, "loss_first": history[:5], "loss_last": history[-5:],
                   "sim_frames_seen": len(sim_rois)}


# --------------------------------------------------------------------------------------------
# Real tiles: scores, threshold, metrics
# --------------------------------------------------------------------------------------------

def any_damage(probs: np.ndarray) -> np.ndarray:
    """P(some damage) per cell: 1 - P(none); (N, R, C)."""
    return 1.0 - probs[..., 0]


def tile_probs(model: DamageNet, tiles: Sequence[RealTile]) -> np.ndarray:
    """Class probabilities per cell of each tile, (N, R, C, 6), the whole tile as input."""
    probs, _ = predict_probs(model, [decode_image(t.jpeg) for t in tiles], batch_size=16)
    return probs


def tune_any_threshold(probs: np.ndarray, has: np.ndarray, max_false_alarm: float = 0.05) -> float:
    """The lowest tile threshold on max-cell P(some damage) whose false-alarm rate on the
    crack-free tuning tiles is at most `max_false_alarm` (the highest recall allowed)."""
    score = any_damage(probs).reshape(len(probs), -1).max(1)
    grid = np.concatenate([np.arange(0.05, 0.99, 0.01), 1 - np.logspace(-2, -5, 31)])
    for t in grid:
        neg = score[~has] >= t
        if (neg.mean() if len(neg) else 0.0) <= max_false_alarm:
            return round(float(t), 6)
    return float(grid[-1])


def real_metrics(probs: np.ndarray, tiles: Sequence[RealTile], threshold: float, cell: int = 32) -> dict:
    """Image-level "has damage" precision / recall, false alarms on crack-free tiles, and box
    recall (a box is found when a cell over the threshold overlaps it), overall and per site."""
    flagged = any_damage(probs) >= threshold
    pred = flagged.reshape(len(probs), -1).any(1)
    has = np.array([t.has_crack for t in tiles])

    def block(sel: np.ndarray) -> dict:
        tp, fp = int((pred & has & sel).sum()), int((pred & ~has & sel).sum())
        fn, tn = int((~pred & has & sel).sum()), int((~pred & ~has & sel).sum())
        boxes = [box_found(b, flagged[i], cell) for i, t in enumerate(tiles) if sel[i] for b in t.boxes]
        return {"tiles": int(sel.sum()), "crack_tiles": tp + fn, "crack_free_tiles": fp + tn,
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None,
                "false_alarm_rate": round(fp / (fp + tn), 4) if fp + tn else None,
                "boxes": len(boxes), "box_recall": round(float(np.mean(boxes)), 4) if boxes else None,
                "flagged_cell_share": round(float(flagged[sel].mean()), 4) if sel.any() else None}

    sites = sorted({t.site for t in tiles})
    out = block(np.ones(len(tiles), bool))
    out["threshold"] = threshold
    out["per_site"] = {s: block(np.array([t.site == s for t in tiles])) for s in sites}
    return out


def sim_validation(model: DamageNet, val: FrameSet) -> tuple[dict, dict]:
    """Per-class frame thresholds tuned on the simulated validation frames, and the metrics."""
    probs, sevp = predict_probs(model, val.images(list(range(len(val)))))
    th = tune_thresholds(probs, val.presence)
    return th, evaluate(probs, sevp, val.cls, val.sev, val.presence, th)


__all__ = ["MixedConfig", "train_mixed", "tile_probs", "tune_any_threshold", "real_metrics", "sim_validation",
           "any_damage", "DAMAGE_CLASSES"]
