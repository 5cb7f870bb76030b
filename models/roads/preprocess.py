"""Image preprocessing for the damage networks (no Dagster here): decoding (OpenCV's BGR to RGB,
once), letterboxing to the grid's frame size (aspect kept, grey borders, never stretched), the
road ROI of a frame, top-down tiles letterboxed to whole cells, and NCHW batches.

Split out of models/roads/damage_net.py, which re-exports every name, so imports from there keep
working.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from .dataset import GridSpec

PAD_VALUE = 114             # grey of letterbox borders


def letterbox(rgb: np.ndarray, w: int, h: int) -> tuple[np.ndarray, float, int, int]:
    """`rgb` scaled to fit in w x h keeping its aspect ratio (never stretched), centred on a
    grey canvas; returns (canvas, scale, x offset, y offset): frame pixel = offset + scale * pixel."""
    ih, iw = rgb.shape[:2]
    if (ih, iw) == (h, w):
        return rgb, 1.0, 0, 0
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.full((h, w, 3), PAD_VALUE, np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out, s, x0, y0


def roi_of(rgb: np.ndarray, spec: GridSpec) -> np.ndarray:
    """The ROI (rows roi_top .. roi_top + roi_h) of an RGB frame, letterboxed first (aspect kept,
    grey borders) if the frame is not of the grid's size."""
    if rgb.shape[0] != spec.frame_h or rgb.shape[1] != spec.frame_w:
        rgb = letterbox(rgb, spec.frame_w, spec.frame_h)[0]
    return rgb[spec.roi_top:spec.roi_top + spec.roi_h]


def tile_input(rgb: np.ndarray, cell: int, max_side: int = 1024) -> np.ndarray:
    """A top-down image (no sky, no ROI) as network input: letterboxed to a multiple of the
    cell on each side, downscaled first when its longer side exceeds `max_side`."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    W, H = max(cell, int(np.ceil(w * s / cell)) * cell), max(cell, int(np.ceil(h * s / cell)) * cell)
    if (H, W) == (h, w):
        return rgb
    out = np.full((H, W, 3), PAD_VALUE, np.uint8)
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    out[:img.shape[0], :img.shape[1]] = img
    return out


def decode_image(data: bytes) -> np.ndarray:
    """A whole JPEG/PNG as RGB (OpenCV decodes BGR: converted here, the one place that reads
    image bytes for the network)."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("cannot decode image bytes")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_batch(rois: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack HWC uint8 ROIs into an NCHW uint8 tensor in channels-last memory (what oneDNN's
    convolutions prefer: no reorder before the first layer)."""
    arr = np.stack(rois)                                  # N, H, W, 3
    return torch.from_numpy(arr).permute(0, 3, 1, 2)      # a channels-last view, no copy


def decode_roi(path_or_bytes: Path | bytes, spec: GridSpec) -> np.ndarray:
    """The RGB ROI of a JPEG given as a path or as bytes."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    try:
        rgb = decode_image(data)
    except ValueError:
        raise ValueError(f"cannot decode {path_or_bytes if not isinstance(path_or_bytes, bytes) else 'bytes'}")
    return np.ascontiguousarray(roi_of(rgb, spec))


@functools.cache
def has_native_bf16() -> bool:
    """True on x86 CPUs with AMX-BF16 or AVX512-BF16 (Linux), where bf16 autocast is fast
    (read once per process: the anonymiser asks for every frame)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return platform.machine() in ("x86_64", "AMD64") and ("amx_bf16" in flags or "avx512_bf16" in flags)
