"""Learned number-plate detector: a small fully convolutional net that maps a frame to a
plate heat map (probability that a 4 x 4 px cell lies on a plate), and the boxes it gives.

Trained by bench/train_plate_detector.py on the training split of the real dash-cam plates
(../shared/real/plates, MIT) and on synthetic plates pasted into those frames (EU with one
blue band, French SIV with two, yellow, dark, two-line; dirt, shade, glare, motion blur,
angles, partial occlusion, night). The weights ship in `models/roads/weights/plate_net.pt`
(about 0.2 MB) with the training record `plate_net.json`; nothing is downloaded.

The frame is resized so that its longer side is `WORK_SIDE` px (the net's working scale,
plates of about 6 px high and up are found there), so frames of any size and orientation go
through the same net. Input: RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from models.roads import preprocess
from models.roads.inference import BFloat16, fold_batch_norms

WEIGHTS = Path(__file__).with_name("weights")
WORK_SIDE = 640
STRIDE = 4


def _cbr(cin: int, cout: int, stride: int = 1, dil: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dil, dilation=dil, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlateNet(nn.Module):
    """Stride-4 heat map: two stride-2 stems, a stride-8 context branch (dilated convs; a plate
    and the car around it) upsampled and fused with the stride-4 features."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(_cbr(3, 16, 2), _cbr(16, w, 2), _cbr(w, w))            # /4
        self.ctx = nn.Sequential(_cbr(w, 32, 2), _cbr(32, 32, dil=2), _cbr(32, 32, dil=4))   # /8
        self.fuse = nn.Sequential(nn.Conv2d(w + 32, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                                  _cbr(16, 16))
        self.head = nn.Conv2d(16, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        c = nn.functional.interpolate(self.ctx(f), size=f.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([f, c], 1)))[:, 0]


def to_input(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float in [-1, 1] (sides padded to a multiple of 8)."""
    H, W = rgb.shape[:2]
    ph, pw = (-H) % 8, (-W) % 8
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)


_lock = threading.Lock()
_cache: dict[str, tuple[PlateNet, dict]] = {}
_bf16: dict[str, nn.Module] = {}


def load(path: Path | None = None) -> tuple[PlateNet, dict]:
    """The shipped net (eval mode) and its training record, loaded once per process."""
    path = Path(path or WEIGHTS / "plate_net.pt")
    with _lock:
        if str(path) not in _cache:
            meta = json.loads(path.with_suffix(".json").read_text())
            net = PlateNet(meta.get("width", 24))
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            # channels-last (NHWC): about a quarter faster on one CPU thread, and `to_input`'s
            # tensor is a view of the HWC frame, already in that layout; batch norms folded
            # into their convolutions (inference only: one pass over each feature map less)
            _cache[str(path)] = (fold_batch_norms(net.eval()).to(memory_format=torch.channels_last), meta)
    return _cache[str(path)]


def load_bf16(path: Path | None = None) -> tuple[nn.Module, dict]:
    """The shipped net in bfloat16 where the CPU has native bfloat16 (about 1.6 times faster on
    a 640 x 360 frame; the [-1, 1] input is cast, the heat map comes back in float32), else the
    float32 net of `load`."""
    net, meta = load(path)
    if not preprocess.has_native_bf16():
        return net, meta
    with _lock:
        key = str(Path(path or WEIGHTS / "plate_net.pt"))
        if key not in _bf16:
            _bf16[key] = BFloat16(net).eval()
    return _bf16[key], meta


def working_scale(shape: tuple[int, int]) -> float:
    return WORK_SIDE / max(shape[:2])


@torch.inference_mode()
def heatmap(rgb: np.ndarray, net: nn.Module | None = None) -> tuple[np.ndarray, float]:
    """Plate probability per 4 x 4 cell of the frame at its working scale, and that scale."""
    net = net or load()[0]
    s = working_scale(rgb.shape)
    H, W = rgb.shape[:2]
    img = rgb if abs(s - 1) < 1e-6 else cv2.resize(rgb, (max(8, round(W * s)), max(8, round(H * s))),
                                                    interpolation=cv2.INTER_AREA)
    p = torch.sigmoid(net(to_input(img)))[0].numpy()
    h, w = -(-img.shape[0] // STRIDE), -(-img.shape[1] // STRIDE)
    return p[:h, :w], s


MAX_PLATE_CELLS = (20, 80)     # a plate at the working scale: at most 80 x 320 px (h, w in cells)


def boxes_from_heatmap(p: np.ndarray, s: float, shape: tuple[int, int], threshold: float,
                       pad_cells: float = 1.0) -> list[tuple[int, int, int, int, float]]:
    """Boxes (x0, y0, x1, y1, peak probability) in frame pixels around each connected group of
    cells at or above `threshold`, padded by `pad_cells` cells on every side.

    A group larger than any plate (`MAX_PLATE_CELLS`: several plates and the car between them
    run together) is split by raising the threshold inside it, up to four times; what is still
    too large is kept whole (fail safe: more blur, never less)."""
    H, W = shape[:2]
    k = STRIDE / s
    out = []
    for x, y, w, h, peak in _groups(p, threshold, 0):
        x0, y0 = (x - pad_cells) * k, (y - pad_cells) * k
        x1, y1 = (x + w + pad_cells) * k - 1, (y + h + pad_cells) * k - 1
        out.append((int(max(0, x0)), int(max(0, y0)), int(min(W - 1, x1)), int(min(H - 1, y1)), peak))
    return out


def _groups(p: np.ndarray, threshold: float, depth: int) -> list[tuple[int, int, int, int, float]]:
    n, lab, st, _ = cv2.connectedComponentsWithStats((p >= threshold).astype(np.uint8), 8)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = st[i]
        sub = np.where(lab[y:y + h, x:x + w] == i, p[y:y + h, x:x + w], 0.0)
        if (h > MAX_PLATE_CELLS[0] or w > MAX_PLATE_CELLS[1]) and depth < 4:
            parts = _groups(sub, threshold + (1.0 - threshold) / 2, depth + 1)
            if parts:
                out += [(x + a, y + b, c, d, e) for a, b, c, d, e in parts]
                continue
        out.append((int(x), int(y), int(w), int(h), float(sub.max())))
    return out
