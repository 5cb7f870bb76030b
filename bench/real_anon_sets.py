"""The real face and plate sets of ../shared/real, their fixed train / held-out split, and the
coverage rule the anonymisation figures use. Shared by bench/roads_real_anon.py (figures),
bench/train_plate_detector.py (training) and tests/models/test_roads_real_privacy.py.

Split (deterministic, on file names only; the held-out part is never used for training or
tuning):

* plates (`images/<video>_t<seconds>.jpg`, 4 videos): per video, frames sorted by their time
  `t`; the last 30 % (rounded up) are HELD OUT. Frames within `PLATE_GAP_S` seconds before
  the first held-out frame of their video are used for nothing (neither training nor
  figures): consecutive frames a few seconds apart can show the same car.
* faces (`images/maksssksksss<N>.jpg`): HELD OUT when N % 3 == 0.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"
PLATES = REAL / "plates"
FACES = REAL / "faces"
PLATE_HOLDOUT_SHARE = 0.3
PLATE_GAP_S = 30
COVERED = 0.8          # a region counts as covered when blurred boxes cover >= 80 % of its box


@dataclass
class RealImage:
    path: Path
    boxes: np.ndarray      # (N, 4) x0, y0, x1, y1 in pixels
    info: dict             # the images.csv row


def _plate_split() -> dict[str, str]:
    rows = list(csv.DictReader(open(PLATES / "images.csv")))
    by = defaultdict(list)
    for r in rows:
        m = re.fullmatch(r"images/(.+)_t(\d+)\.jpg", r["file"])
        by[m.group(1)].append((int(m.group(2)), r["file"]))
    split = {}
    for v, items in by.items():
        items.sort()
        n_hold = math.ceil(PLATE_HOLDOUT_SHARE * len(items))
        first_t = items[len(items) - n_hold][0]
        for k, (t, f) in enumerate(items):
            if k >= len(items) - n_hold:
                split[f] = "heldout"
            elif t >= first_t - PLATE_GAP_S:
                split[f] = "gap"
            else:
                split[f] = "train"
    return split


def face_split(file: str) -> str:
    n = int(re.search(r"maksssksksss(\d+)\.jpg$", file).group(1))
    return "heldout" if n % 3 == 0 else "train"


def _load(root: Path, split_of) -> dict[str, list[RealImage]]:
    ann = defaultdict(list)
    for r in csv.DictReader(open(root / "annotations.csv")):
        ann[r["file"]].append([float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"])])
    out = defaultdict(list)
    for r in csv.DictReader(open(root / "images.csv")):
        out[split_of(r["file"])].append(RealImage(root / r["file"], np.asarray(ann[r["file"]], float).reshape(-1, 4), r))
    return dict(out)


def plate_sets() -> dict[str, list[RealImage]]:
    """{'train': [...], 'gap': [...], 'heldout': [...]} of the real plate frames."""
    split = _plate_split()
    return _load(PLATES, split.__getitem__)


def face_sets() -> dict[str, list[RealImage]]:
    """{'train': [...], 'heldout': [...]} of the real face photos."""
    return _load(FACES, face_split)


def covered_share(box, blurred: list, shape: tuple[int, int]) -> float:
    """Share of `box` (x0, y0, x1, y1, inclusive pixels) inside the union of `blurred` boxes."""
    H, W = shape
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(W - 1, int(math.ceil(box[2]))), min(H - 1, int(math.ceil(box[3])))
    if x1 < x0 or y1 < y0:
        return 1.0
    m = np.zeros((y1 - y0 + 1, x1 - x0 + 1), bool)
    for b in blurred:
        bx0, by0, bx1, by1 = (int(v) for v in b[:4])
        ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
        if ix0 <= ix1 and iy0 <= iy1:
            m[iy0 - y0:iy1 - y0 + 1, ix0 - x0:ix1 - x0 + 1] = True
    return float(m.mean())


def false_blurs(blurred: list, truth: np.ndarray) -> int:
    """Blurred boxes that overlap no annotated region at all (a sign of over-blurring)."""
    n = 0
    for b in blurred:
        hit = False
        for t in truth:
            if b[0] <= t[2] and t[0] <= b[2] and b[1] <= t[3] and t[1] <= b[3]:
                hit = True
                break
        n += not hit
    return n
