"""The tile model: "has damage" for top-down pavement tiles (drone / orthophoto images), apart
from the frame grid model (no Dagster here).

Why apart: one network trained on simulated windscreen frames and real top-down tiles together
pulled its shared trunk both ways (simulated frame macro-F1 0.725, real held-out recall 0.458 at
an over-confident "any damage" threshold of 0.9998). So the two kinds of image get their own
model: vehicle frames -> the grid model (models/roads/weights/damage_grid, per-cell class and
severity); top-down tiles -> this tile model (models/roads/weights/damage_tile), a DamageNet
trunk (same architecture, started from the mixed model's weights, which saw the real training
tiles only) with an image-level head: logit = linear(mean and max of the trunk's last feature
map over the cells). It is fine-tuned end to end on the real training tiles with

* strong augmentation: rotations by 90 degrees, flips, scale 0.8-1.25 (resized, cropped or
  padded back to 256 px), exposure / colour-balance jitter, JPEG-like blur, and synthetic hard
  negatives (models/roads/hard_negatives.py) painted into crack-free tiles;
* balanced batches (half crack, half crack-free tiles) and label smoothing (targets 0.05 /
  0.95) so the score is not pushed to 0 or 1 (the grid model's over-confidence);

the decision threshold is chosen on the tuning photos (real_cracks.TUNE_PHOTOS), never on the
held-out ones. Where the tile is flagged, the grid head's cells (the same trunk's `cls_head`,
kept from the mixed model) locate the crack: the cells whose 1 - P(none) is highest.

Deterministic for a seed (numpy and torch seeded, one thread).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .damage_net import ARCH_VERSION, DamageNet, decode_image, tile_input, to_batch
from .hard_negatives import paint_negatives
from .real_cracks import TILE, RealTile

TILE_MODEL = Path(__file__).resolve().parent / "weights" / "damage_tile"


class TileNet(nn.Module):
    """A DamageNet trunk and an image-level "has damage" logit; the trunk's cell heads stay."""

    def __init__(self, widths: Sequence[int] = (24, 32, 64, 96, 128)):
        super().__init__()
        self.net = DamageNet(widths)
        self.tile_head = nn.Linear(2 * widths[-1], 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) tile logits and (N, 6, R, C) cell class logits for uint8 NCHW input."""
        f = self.net.features(x.float() * (1 / 127.5) - 1.0)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return self.tile_head(pooled)[:, 0], self.net.cls_head(f)


@dataclass
class TileConfig:
    seed: int = 0
    steps: int = 400
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    smooth: float = 0.05               # targets smooth .. 1 - smooth
    negatives_p: float = 0.5           # chance a crack-free tile gets 1-2 painted hard negatives
    scale: tuple[float, float] = (0.8, 1.25)
    widths: tuple[int, ...] = (24, 32, 64, 96, 128)
    crop_batch: int = 0                # per step, this many `crop` px crops more (0 = off), see `_crops`
    crop: int = 128
    threads: int | None = 1            # not in the fingerprint

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("threads", None)
        d["widths"], d["scale"] = list(self.widths), list(self.scale)
        return d


def _augment(img: np.ndarray, has_crack: bool, cfg: TileConfig, rng: np.random.Generator) -> np.ndarray:
    img = np.rot90(img, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img)
    s = rng.uniform(*cfg.scale)
    if abs(s - 1) > 0.02:
        n = int(round(TILE * s))
        img = cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        if n >= TILE:
            y, x = rng.integers(n - TILE + 1, size=2)
            img = img[y:y + TILE, x:x + TILE]
        else:                                   # pad by reflection: no grey border to learn from
            p = TILE - n
            img = cv2.copyMakeBorder(img, p // 2, p - p // 2, p // 2, p - p // 2, cv2.BORDER_REFLECT)
    if not has_crack and rng.random() < cfg.negatives_p:
        img, _ = paint_negatives(img, rng, int(rng.integers(1, 3)))
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    g, b = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
    bal = rng.uniform(0.88, 1.12, 3)
    return np.clip(img.astype(np.float32) * (g * bal) + b, 0, 255).astype(np.uint8)


def crop_positions(t: RealTile, crop: int, stride: int = 16, margin: float = 8.0) -> tuple[list, list]:
    """Crop corners (y, x) of a tile: negatives (the crop touches no crack box grown by `margin`
    px; every position of a crack-free tile) and positives (a crop centred on a box's centre,
    clipped to the tile: a crack box's outline holds its crack, which runs through the middle)."""
    n = TILE - crop
    neg = []
    for y in range(0, n + 1, stride):
        for x in range(0, n + 1, stride):
            if all(x + crop <= b[0] - margin or x >= b[2] + margin or y + crop <= b[1] - margin or y >= b[3] + margin
                   for b in t.boxes):
                neg.append((y, x))
    pos = [(int(np.clip((b[1] + b[3]) / 2 - crop / 2, 0, n)), int(np.clip((b[0] + b[2]) / 2 - crop / 2, 0, n)))
           for b in t.boxes if max(b[2] - b[0], b[3] - b[1]) <= crop + 32]
    return neg, pos


def _crops(images: dict, pool: list, cfg: TileConfig, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`cfg.crop_batch` crops, half positive, half negative (`pool`: (file, has_crack, corner)
    lists by label), at the tiles' own scale, rotated / flipped / jittered like whole tiles; the
    negatives are cut from every site's tiles, also beside the cracks of crack tiles, so the
    crack-free examples are no longer all from one site (k1)."""
    half = cfg.crop_batch // 2
    out, ys = [], []
    for label, n in ((1, half), (0, cfg.crop_batch - half)):
        for i in rng.integers(len(pool[label]), size=n):
            f, (y, x) = pool[label][int(i)]
            c = images[f][y:y + cfg.crop, x:x + cfg.crop]
            c = np.ascontiguousarray(np.rot90(c, int(rng.integers(4))))
            if not label and rng.random() < cfg.negatives_p:
                c, _ = paint_negatives(c, rng, 1)
            g, b = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
            out.append(np.clip(c.astype(np.float32) * (g * rng.uniform(0.88, 1.12, 3)) + b, 0, 255).astype(np.uint8))
            ys.append(label)
    y = torch.tensor(ys, dtype=torch.float32) * (1 - 2 * cfg.smooth) + cfg.smooth
    return to_batch(out), y


def train_tile_model(tiles: Sequence[RealTile], cfg: TileConfig = TileConfig(), init_trunk: dict | None = None,
                     log: Callable[[str], None] = print) -> tuple[TileNet, dict]:
    """Fine-tune a TileNet on `tiles` (balanced batches); `init_trunk` a DamageNet state_dict."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    model = TileNet(cfg.widths)
    if init_trunk is not None:
        model.net.load_state_dict(init_trunk)
    pos = [t for t in tiles if t.has_crack]
    neg = [t for t in tiles if not t.has_crack]
    if not pos or not neg:
        raise ValueError("train_tile_model needs crack and crack-free tiles")
    images = {t.file: decode_image(t.jpeg) for t in tiles}
    crop_pool: list[list] = [[], []]
    if cfg.crop_batch:
        for t in tiles:
            c_neg, c_pos = crop_positions(t, cfg.crop)
            crop_pool[0] += [(t.file, c) for c in c_neg]
            crop_pool[1] += [(t.file, c) for c in c_pos]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 2), pct_start=0.15)
    half = cfg.batch_size // 2
    hist: list[float] = []
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        batch = [pos[int(i)] for i in rng.integers(len(pos), size=half)] + \
                [neg[int(i)] for i in rng.integers(len(neg), size=cfg.batch_size - half)]
        x = to_batch([_augment(images[t.file], t.has_crack, cfg, rng) for t in batch])
        y = torch.tensor([t.has_crack for t in batch], dtype=torch.float32) * (1 - 2 * cfg.smooth) + cfg.smooth
        model.train()
        logit, _ = model(x)
        loss = F.binary_cross_entropy_with_logits(logit, y)
        if cfg.crop_batch:
            xc, yc = _crops(images, crop_pool, cfg, rng)
            loss = loss + F.binary_cross_entropy_with_logits(model(xc)[0], yc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            log(f"tile step {step + 1}/{cfg.steps} loss {np.mean(hist[-50:]):.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return model, {"steps": cfg.steps, "train_seconds": round(time.perf_counter() - t0, 1), "threads": cfg.threads,
                   "loss_first": hist[:5], "loss_last": hist[-5:]}


def _dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 symmetries of the square (k % 4 quarter turns, then a flip if k >= 4)."""
    img = np.rot90(img, k % 4)
    return np.ascontiguousarray(img[:, ::-1] if k >= 4 else img)


def _undo_dihedral(cells: np.ndarray, k: int) -> np.ndarray:
    """Cell maps (N, R, C) of transformed images back to the original orientation."""
    if k >= 4:
        cells = cells[:, :, ::-1]
    return np.ascontiguousarray(np.rot90(cells, -(k % 4), axes=(1, 2)))


def tile_scores(model: TileNet, images: Sequence[np.ndarray], batch_size: int = 16,
                tta: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """P(has damage) per image (N,) and the cells' 1 - P(none) (N, R, C); images are letterboxed
    to whole cells (`tile_input`); same-size batches only (256 x 256 tiles), else one by one.
    `tta` 8: both averaged over the 8 rotations / flips of the image (a crack has no
    orientation on a top-down tile; cells mapped back before averaging), 8 times the cost."""
    model.eval()
    ims = [tile_input(im, 32) for im in images]
    if not ims:
        return np.zeros(0, np.float32), np.zeros((0, 0, 0), np.float32)
    same = len({im.shape for im in ims}) == 1
    step = batch_size if same else 1
    ps, cells = [], []
    with torch.inference_mode():
        for i in range(0, len(ims), step):
            p_sum, c_sum = 0.0, 0.0
            for k in range(tta):
                logit, cl = model(to_batch([_dihedral(im, k) for im in ims[i:i + step]]))
                p_sum = p_sum + torch.sigmoid(logit).numpy()
                c_sum = c_sum + _undo_dihedral(1.0 - cl.softmax(1)[:, 0].numpy(), k)
            ps.append(p_sum / tta)
            cells.append(c_sum / tta)
    return np.concatenate(ps), (np.concatenate(cells) if same else [c[0] for c in cells])


def tune_tile_threshold(scores: np.ndarray, has: np.ndarray, max_false_alarm: float = 0.0625) -> float:
    """The lowest threshold whose false-alarm rate on the crack-free tuning tiles is at most
    `max_false_alarm` (the highest recall it allows); scores rounded to 4 decimals."""
    neg = np.sort(scores[~has])[::-1]
    k = int(np.floor(max_false_alarm * len(neg)))          # false alarms allowed
    t = float(neg[k]) + 1e-4 if k < len(neg) else 0.0
    return round(min(t, 1.0), 4)


def tile_metrics(scores: np.ndarray, cells, tiles: Sequence[RealTile], threshold: float, cell: int = 32) -> dict:
    """Image-level precision / recall / false alarms of `scores >= threshold`, and box recall: a
    box of a flagged tile is found when one of the tile's top cells (those within 0.1 of its
    highest 1 - P(none), at least the top one) overlaps it; overall and per site."""
    from .real_cracks import box_found

    pred = scores >= threshold
    has = np.array([t.has_crack for t in tiles])

    def flagged(i):
        c = cells[i]
        return (c >= c.max() - 0.1) if pred[i] else np.zeros_like(c, bool)

    def block(sel):
        tp, fp = int((pred & has & sel).sum()), int((pred & ~has & sel).sum())
        fn, tn = int((~pred & has & sel).sum()), int((~pred & ~has & sel).sum())
        boxes = [box_found(b, flagged(i), cell) for i, t in enumerate(tiles) if sel[i] for b in t.boxes]
        return {"tiles": int(sel.sum()), "crack_tiles": tp + fn, "crack_free_tiles": fp + tn,
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None,
                "false_alarm_rate": round(fp / (fp + tn), 4) if fp + tn else None,
                "boxes": len(boxes), "box_recall": round(float(np.mean(boxes)), 4) if boxes else None}

    out = block(np.ones(len(tiles), bool))
    out["threshold"] = threshold
    out["per_site"] = {s: block(np.array([t.site == s for t in tiles])) for s in sorted({t.site for t in tiles})}
    return out


def save_tile_model(model: TileNet, cfg: TileConfig, report: dict, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "model.pt")
    config = {"model": "roads-damage-tile", "version": report["version"], "arch_version": ARCH_VERSION,
              "widths": list(cfg.widths), "threshold": report["threshold"], "tta": report.get("tta", 1),
              "train": cfg.as_dict()}
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "model_card.json").write_text(json.dumps(report, indent=1))
    return folder


def load_tile_model(folder: Path = TILE_MODEL) -> tuple[TileNet, dict]:
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if config.get("arch_version") != ARCH_VERSION:
        raise ValueError(f"{folder} holds arch {config.get('arch_version')}, this code reads {ARCH_VERSION}")
    model = TileNet(config["widths"])
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return model.eval(), config
