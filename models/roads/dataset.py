"""Survey frames and their labels for the damage network.

In the pipeline, labels come from the lake (silver.road_annotations, delivered as COCO JSON);
`load_survey` reads a simulated survey's frames and its ground truth
(`roads/<survey_id>/frames.jsonl`: every damage with class, severity and pixel bbox) for the
benches and tests. The network sees a region of interest (ROI) of the frame, the rows below `roi_top` (the
road; the sky and facades above cannot hold road damage), cut into square cells.

Cell labelling rule (`cell_targets`): a damage labels a cell when, on each axis, their overlap
covers at least half of the smaller of the two extents (cell side or bbox side). So a thin
crack's bbox (narrower than a cell) labels the cells it runs through, a small pothole labels
the cell holding most of it, and a large patch labels the cells it mostly covers. Cells that
touch a bbox without meeting the rule are marked "ignore" (-1): the bbox is a loose outline
of a crack or an alligator area, and whether such a border cell shows damage is a coin toss
that would only add noise to the loss. When two damages claim a cell, the larger overlap wins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DAMAGE_CLASSES = ("longitudinal_crack", "transverse_crack", "alligator_crack", "pothole", "patch")
CLASSES = ("none",) + DAMAGE_CLASSES            # index 0 = no damage in the cell
SEVERITIES = ("low", "medium", "high")
IGNORE = -1


@dataclass(frozen=True)
class GridSpec:
    """Geometry of the frame, the ROI and the cell grid (all in frame pixels)."""
    frame_w: int = 640
    frame_h: int = 360
    roi_top: int = 104       # first ROI row; the simulator's horizon is at 0.4 * 360 = 144
    cell: int = 32           # cell side; the network's output stride

    @property
    def rows(self) -> int:
        return (self.frame_h - self.roi_top) // self.cell

    @property
    def cols(self) -> int:
        return self.frame_w // self.cell

    @property
    def roi_h(self) -> int:
        return self.rows * self.cell

    def cell_box(self, r: int, c: int) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1, inclusive) of cell (r, c) in the full frame."""
        y0 = self.roi_top + r * self.cell
        x0 = c * self.cell
        return (x0, y0, x0 + self.cell - 1, y0 + self.cell - 1)

    def as_dict(self) -> dict:
        return asdict(self)


def cell_targets(damages: list[dict], spec: GridSpec = GridSpec()) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell class index (0 = none, -1 = ignore) and severity index (-1 where no damage),
    both shaped (rows, cols), from a frame's damage list (class, severity, bbox)."""
    R, C, s = spec.rows, spec.cols, spec.cell
    cls = np.zeros((R, C), np.int64)
    sev = np.full((R, C), IGNORE, np.int64)
    best = np.zeros((R, C), np.float64)                 # overlap area of the current owner
    ys = spec.roi_top + np.arange(R) * s                 # cell tops
    xs = np.arange(C) * s                                # cell lefts
    for d in damages:
        x0, y0, x1, y1 = d["bbox"]
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        ix = np.clip(np.minimum(xs + s, x1 + 1) - np.maximum(xs, x0), 0, None)   # (C,)
        iy = np.clip(np.minimum(ys + s, y1 + 1) - np.maximum(ys, y0), 0, None)   # (R,)
        fx = ix / min(s, bw)
        fy = iy / min(s, bh)
        area = iy[:, None] * ix[None, :]
        pos = (fy[:, None] >= 0.5) & (fx[None, :] >= 0.5)
        touch = area > 0
        k = CLASSES.index(d["class"])
        take = pos & (area > best)
        cls[take] = k
        sev[take] = SEVERITIES.index(d["severity"])
        best[take] = area[take]
        # a touched cell that no damage owns becomes "ignore"
        cls[touch & ~pos & (best == 0)] = IGNORE
    return cls, sev


def frame_presence(damages: list[dict]) -> np.ndarray:
    """Multi-hot vector over DAMAGE_CLASSES: which classes the frame shows."""
    v = np.zeros(len(DAMAGE_CLASSES), np.int64)
    for d in damages:
        v[DAMAGE_CLASSES.index(d["class"])] = 1
    return v


@dataclass
class FrameRecord:
    """One labelled survey frame."""
    path: Path
    survey_id: str
    segment_id: str
    surface: str
    damages: list[dict]
    faces: list[list[int]]
    plates: list[list[int]]


def load_survey(landing: Path, truth: Path) -> list[FrameRecord]:
    """Every frame of every survey under `landing/roads/surveys/` with its ground truth from
    `truth/roads/<survey_id>/frames.jsonl`, in survey and file order."""
    out: list[FrameRecord] = []
    troot = Path(truth) / "roads"
    for jl in sorted(troot.glob("*/frames.jsonl")):
        sid = jl.parent.name
        folder = Path(landing) / "roads" / "surveys" / sid
        for line in jl.read_text().splitlines():
            if not line.strip():
                continue
            f = json.loads(line)
            out.append(FrameRecord(folder / f["file"], sid, f["segment_id"], f.get("surface", "asphalt"),
                                   f.get("damages", []), f.get("faces", []), f.get("plates", [])))
    return out


def split_by_segment(records: list[FrameRecord], val_share: float = 0.15,
                     seed: int = 0) -> tuple[list[FrameRecord], list[FrameRecord]]:
    """Train/validation split by road segment: neighbouring frames of one segment share their
    look (texture, tone, markings), so a random frame split would leak into validation."""
    keys = sorted({(r.survey_id, r.segment_id) for r in records})
    rng = np.random.default_rng(seed)
    val_keys = {k for k, u in zip(keys, rng.random(len(keys))) if u < val_share}
    train = [r for r in records if (r.survey_id, r.segment_id) not in val_keys]
    val = [r for r in records if (r.survey_id, r.segment_id) in val_keys]
    return train, val
