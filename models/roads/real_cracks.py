"""The real pavement tiles with crack boxes (../shared/real/cracks, CC BY-SA 4.0): loading, the
fixed hold-out rule, and per-cell targets for the damage network.

The set: 394 real 256 x 256 RGB drone tiles of paved port quays at three sites (`h1`, `k1`,
`o6`): 294 with at least one crack box (`label` always `crack`, no type, no severity), 100
crack-free tiles (all from `k1`). Tiles are cut from a few source photos (orthophotos); the
name `<site>_MAX_<photo>[_<altitude>]_<a>_<b>.jpg` holds the photo, and neighbouring tiles of
one photo share their texture and light, so every split is made by **source photo**:

* `HOLDOUT_PHOTOS` (never used for training, threshold tuning or any choice): h1_MAX_0008_15m,
  k1_MAX_1644, k1_MAX_1647, o6_MAX_1432: 83 crack tiles and 36 crack-free tiles (119 of 394).
* `TUNE_PHOTOS` (threshold tuning and early checks only): h1_MAX_0007_10m, k1_MAX_1641,
  o6_MAX_1464: 52 crack tiles and 16 crack-free tiles.
* every other photo: training (159 crack tiles, 48 crack-free tiles).

Cell targets (`tile_targets`): a crack box is a loose outline of one crack segment, often a
diagonal one, so most cells inside a large box show no crack. Cells outside every box are
"none"; cells inside a box are not labelled one by one: a thin box (its short side at most
`THIN_PX`) labels the cells it runs through as "some crack" (the crack must cross them), a
wider box only says that *some* cell it covers holds a crack (multiple-instance target, see
models/roads/training.py). The classes of the simulator (longitudinal / transverse / alligator)
have no meaning on a top-down tile of a quay, so a real crack cell is trained as "one of the
three crack classes" (the sum of their probabilities).

No real image is copied anywhere: tiles are read from the shared folder at training and
evaluation time only.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import IGNORE

CRACK_ANY = -2                      # cell target: one of the three crack classes
THIN_PX = 40                        # a box this narrow (on one side) follows its crack
TILE = 256
HOLDOUT_PHOTOS = ("h1_MAX_0008_15m", "k1_MAX_1644", "k1_MAX_1647", "o6_MAX_1432")
TUNE_PHOTOS = ("h1_MAX_0007_10m", "k1_MAX_1641", "o6_MAX_1464")
LICENCE = ("CC BY-SA 4.0, omu-geolab/CrackImageDatasetForDeepLearning (Daisuke Yoshida Laboratory, "
           "Osaka Metropolitan University; Komi, Yoshida, Kameyama, Sensors 2025, 25, 4325)")
_PHOTO = re.compile(r"^(.*)_\d+_\d+$")


def photo_of(file: str) -> str:
    """The source photo of a tile: its name without folder, extension and grid position."""
    stem = Path(file).stem
    m = _PHOTO.match(stem)
    return m.group(1) if m else stem


def split_of(file: str) -> str:
    """'holdout', 'tune' or 'train', by source photo (the fixed, documented rule)."""
    p = photo_of(file)
    if p in HOLDOUT_PHOTOS:
        return "holdout"
    if p in TUNE_PHOTOS:
        return "tune"
    return "train"


@dataclass
class RealTile:
    file: str                                   # relative to the set's root, as in images.csv
    site: str
    has_crack: bool
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)   # x1, y1, x2, y2
    jpeg: bytes = b""

    @property
    def split(self) -> str:
        return split_of(self.file)


def load_tiles(root: Path | str, splits: tuple[str, ...] = ("train", "tune", "holdout")) -> list[RealTile]:
    """The tiles of `splits` (JPEG bytes read), sorted by file name."""
    root = Path(root)
    boxes: dict[str, list] = {}
    with open(root / "annotations.csv", newline="") as f:
        for r in csv.DictReader(f):
            boxes.setdefault(r["file"], []).append(tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")))
    out = []
    with open(root / "images.csv", newline="") as f:
        for r in csv.DictReader(f):
            if split_of(r["file"]) not in splits:
                continue
            out.append(RealTile(r["file"], r["site"], r["has_crack"] == "1", boxes.get(r["file"], []),
                                (root / r["file"]).read_bytes()))
    return sorted(out, key=lambda t: t.file)


def _box_cells(box, cell: int, rows: int, cols: int) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    c0, c1 = int(np.floor(x1 / cell)), int(np.ceil(x2 / cell))
    r0, r1 = int(np.floor(y1 / cell)), int(np.ceil(y2 / cell))
    return slice(max(r0, 0), min(r1, rows)), slice(max(c0, 0), min(c1, cols))


def tile_targets(boxes, size: tuple[int, int] = (TILE, TILE), cell: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell targets (rows, cols) of a tile: 0 none, CRACK_ANY, IGNORE; and one boolean mask
    per box (n_boxes, rows, cols) of the cells it covers (the multiple-instance groups)."""
    h, w = size
    rows, cols = h // cell, w // cell
    t = np.zeros((rows, cols), np.int64)
    masks = np.zeros((len(boxes), rows, cols), bool)
    for i, b in enumerate(boxes):
        rs, cs = _box_cells(b, cell, rows, cols)
        masks[i, rs, cs] = True
    inside = masks.any(0)
    t[inside] = IGNORE
    ys, xs = np.arange(rows) * cell, np.arange(cols) * cell
    for b in boxes:
        x1, y1, x2, y2 = b
        if min(x2 - x1, y2 - y1) > THIN_PX:
            continue
        ix = np.clip(np.minimum(xs + cell, x2) - np.maximum(xs, x1), 0, None) / min(cell, max(x2 - x1, 1))
        iy = np.clip(np.minimum(ys + cell, y2) - np.maximum(ys, y1), 0, None) / min(cell, max(y2 - y1, 1))
        t[(iy[:, None] >= 0.5) & (ix[None, :] >= 0.5)] = CRACK_ANY
    return t, masks


def box_found(box, flagged: np.ndarray, cell: int = 32) -> bool:
    """A box counts as found when a flagged cell overlaps it (the acceptance rule)."""
    rows, cols = flagged.shape
    rs, cs = _box_cells(box, cell, rows, cols)
    return bool(flagged[rs, cs].any())


def quadrant_labels(boxes, size: tuple[int, int] = (TILE, TILE), min_px: int = 12) -> np.ndarray:
    """(2, 2) labels of a tile's quadrants: 1 when a crack box overlaps the quadrant by at least
    `min_px` on both axes, -1 (left out of training) when a box only grazes it, 0 otherwise."""
    h, w = size
    out = np.zeros((2, 2), np.int8)
    for r in range(2):
        for c in range(2):
            qx0, qy0, qx1, qy1 = c * w / 2, r * h / 2, (c + 1) * w / 2, (r + 1) * h / 2
            for x1, y1, x2, y2 in boxes:
                ix, iy = min(x2, qx1) - max(x1, qx0), min(y2, qy1) - max(y1, qy0)
                if ix > 0 and iy > 0:
                    out[r, c] = 1 if min(ix, iy) >= min_px else (out[r, c] or -1)
    return out
