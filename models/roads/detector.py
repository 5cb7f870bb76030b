"""Batched inference with a trained damage-grid artifact (models/roads/damage_net.py): per-cell
detections over their class thresholds, and per-frame class scores."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .damage_net import DamageNet, frame_scores, load_artifact, roi_of, tile_input, to_batch
from .dataset import DAMAGE_CLASSES, SEVERITIES, GridSpec
from .inference import fold_batch_norms
from .preprocess import has_native_bf16


@dataclass
class CellDetection:
    """One damaged cell."""
    damage_class: str
    severity: str
    confidence: float
    cell: tuple[int, int]                    # (row, col) in the grid
    box: tuple[int, int, int, int]           # pixel box in the full frame, inclusive

    def as_dict(self) -> dict:
        return {"class": self.damage_class, "severity": self.severity, "confidence": round(self.confidence, 4),
                "cell": list(self.cell), "box": list(self.box)}


@dataclass
class FramePrediction:
    """Damage found in one frame: cells above their class threshold, and the classes present."""
    detections: list[CellDetection]
    present: dict[str, float]                # class -> frame score, for classes over threshold
    scores: dict[str, float]                 # class -> frame score (max over cells), all classes


class DamageDetector:
    """Batched inference with a trained artifact: `detect(list of RGB frames)`."""

    def __init__(self, model: DamageNet, config: dict, threads: int | None = None, bf16: str = "auto"):
        """`bf16`: "auto" runs the net in bfloat16 where the CPU has it natively (about 1.6
        times faster per 640 x 360 frame; class probabilities within about 0.01 of float32,
        the acceptance figures re-measured with it: docs/roads.md), "off" in float32. Batch
        norms are folded into the convolutions either way (same function up to rounding)."""
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self.model = model.eval()
        self.bf16 = bf16 == "on" or (bf16 == "auto" and has_native_bf16())
        cl = torch.channels_last
        self._features = fold_batch_norms(copy.deepcopy(self.model.features).eval()).to(memory_format=cl)
        self._heads = copy.deepcopy(nn.ModuleList([self.model.cls_head, self.model.sev_head])).eval().to(memory_format=cl)
        if self.bf16:
            self._features, self._heads = self._features.to(torch.bfloat16), self._heads.to(torch.bfloat16)
        self.config = config
        self.spec = GridSpec(**config["grid"])
        self.thresholds = np.array([config["thresholds"].get(c, 0.5) for c in DAMAGE_CLASSES], np.float32)
        # "any damage": a cell whose 1 - P(none) reaches it is flagged even when no single class
        # does (real cracks split their probability between the crack classes); 1.0 = off
        self.any_threshold = float(config["thresholds"].get("any_damage", 1.0))
        self.version = config["version"]

    @classmethod
    def from_artifact(cls, folder: Path, threads: int | None = None, bf16: str = "auto") -> "DamageDetector":
        model, config = load_artifact(folder)
        return cls(model, config, threads, bf16)

    def probabilities(self, rois: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell class and severity probabilities for ROIs (see `roi_of`)."""
        with torch.inference_mode():
            x = DamageNet.normalise(to_batch(rois))
            f = self._features(x.to(torch.bfloat16) if self.bf16 else x)
            cl, sl = (h(f).float() for h in self._heads)
            return (cl.softmax(1).permute(0, 2, 3, 1).numpy(), sl.softmax(1).permute(0, 2, 3, 1).numpy())

    def detect_tiles(self, images: Sequence[np.ndarray], batch_size: int = 16) -> list[FramePrediction]:
        """Detections for top-down RGB images (no sky: the whole image is read, letterboxed to
        whole cells), one image at a time; boxes in the letterboxed image's pixels."""
        out: list[FramePrediction] = []
        c = self.spec.cell
        for img in images:
            cp, sp = self.probabilities([tile_input(img, c)])
            out += self.decode(cp, sp, roi_top=0)
        return out

    def detect(self, frames: Sequence[np.ndarray], batch_size: int = 32) -> list[FramePrediction]:
        """Detections for full RGB frames (any size: letterboxed to the grid's frame size, boxes
        in that letterboxed frame's pixels)."""
        out: list[FramePrediction] = []
        for i in range(0, len(frames), batch_size):
            rois = [roi_of(f, self.spec) for f in frames[i:i + batch_size]]
            cp, sp = self.probabilities(rois)
            out += self.decode(cp, sp)
        return out

    def decode(self, cp: np.ndarray, sp: np.ndarray, roi_top: int | None = None) -> list[FramePrediction]:
        """Turn probabilities into detections: a cell reports the damage class with the highest
        probability among those over their threshold; a cell with no class over its threshold
        but 1 - P(none) over the "any damage" threshold reports its likeliest damage class with
        confidence 1 - P(none)."""
        res = []
        dmg = cp[..., 1:]                                        # N, R, C, 5
        over = dmg >= self.thresholds
        anyd = (1.0 - cp[..., 0]) >= self.any_threshold
        masked = np.where(over, dmg, -1.0)
        best = np.where(over.any(-1), masked.argmax(-1), dmg.argmax(-1))
        fs = frame_scores(cp)
        top = self.spec.roi_top if roi_top is None else roi_top
        s = self.spec.cell
        for n in range(len(cp)):
            dets = []
            for r, c in zip(*np.nonzero(over[n].any(-1) | anyd[n])):
                k = int(best[n, r, c])
                conf = float(dmg[n, r, c, k]) if over[n, r, c, k] else float(1.0 - cp[n, r, c, 0])
                box = (int(c) * s, top + int(r) * s, int(c) * s + s - 1, top + int(r) * s + s - 1)
                dets.append(CellDetection(DAMAGE_CLASSES[k], SEVERITIES[int(sp[n, r, c].argmax())],
                                          conf, (int(r), int(c)), box))
            scores = {c: round(float(fs[n, k]), 4) for k, c in enumerate(DAMAGE_CLASSES)}
            present = {c: s for k, (c, s) in enumerate(scores.items()) if fs[n, k] >= self.thresholds[k]}
            res.append(FramePrediction(dets, present, scores))
        return res


def score_records(det: DamageDetector, keys: list[tuple[str, str]], jpegs: list[bytes], version: str,
                  scored_at) -> tuple[list, list]:
    """Score the frames (`keys`: (survey_id, file) of each JPEG) with the detector: one
    frame-score row per frame and one detection row per damaged cell, both carrying `version`
    (the registry's version of the model)."""
    from .damage_net import decode_image

    preds = det.detect([decode_image(b) for b in jpegs], batch_size=32)   # RGB, as in training
    scores, dets = [], []
    for (sid, f), p in zip(keys, preds):
        scores.append({"survey_id": sid, "file": f, "model_version": version, "detections": len(p.detections),
                       "classes_present": ",".join(sorted(p.present)), "scored_at": scored_at})
        for d in p.detections:
            dets.append({"survey_id": sid, "file": f, "cell_row": d.cell[0], "cell_col": d.cell[1],
                         "damage_class": d.damage_class, "severity": d.severity,
                         "confidence": round(d.confidence, 4), "x0": d.box[0], "y0": d.box[1],
                         "x1": d.box[2], "y1": d.box[3], "model_version": version})
    return scores, dets
