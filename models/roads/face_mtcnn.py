"""MTCNN face detector (Zhang et al. 2016) in our own torch module, with pretrained weights.

The three networks (P-Net on an image pyramid, R-Net on 24 px crops, O-Net on 48 px crops) and
their state dicts are those of `facenet-pytorch` 2.6.0 (MIT, Copyright (c) 2019 Timothy Esler;
weights converted by that project from the authors' original MTCNN release), taken from its
wheel into `models/roads/weights/{pnet,rnet,onet}.pt` (see the NOTICE there: sizes, SHA-256,
licence). The package itself is not installed (its metadata pins an old torch); the layer
names below match its state dicts so they load as they are. The cascade is re-written on
OpenCV resizes and a numpy NMS (no torchvision), one frame at a time, on CPU.

Input: an RGB uint8 array (H, W, 3), any size. Output: (N, 5) float array x0, y0, x1, y1, score
in pixels of that image.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from models.roads import preprocess
from models.roads.inference import BFloat16

WEIGHTS = Path(__file__).with_name("weights")


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """`MaxPool2d(2, 2, ceil_mode=True)` as the maximum of four strided views: the same values
    (max is exact), but torch's CPU max-pool kernel took 40 % of P-Net's time on a 640 x 360
    frame and this takes a seventh of it."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = nn.functional.pad(x, (0, w % 2, 0, h % 2), value=float("-inf"))
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12 px window, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _max_pool_2x2(self.prelu1(self.conv1(x)))      # = self.pool1, about 7 times faster
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refine net on 24 x 24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()          # the converted weights expect (W, H) order
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48 x 48 crops (boxes, scores; the landmarks head is unused here)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), torch.softmax(self.dense6_1(x), dim=1)


_lock = threading.Lock()
_nets: dict[str, nn.Module] = {}


def _load() -> tuple[PNet, RNet, ONet]:
    """The three nets, loaded once per process (inference only: safe to share between threads)."""
    with _lock:
        if not _nets:
            for name, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
                net = cls()
                sd = torch.load(WEIGHTS / f"{name}.pt", map_location="cpu", weights_only=True)
                sd = {k: v for k, v in sd.items() if not k.startswith("softmax")}
                net.load_state_dict(sd)
                # channels-last (NHWC): P-Net's convolutions are about a quarter faster on one CPU
                # thread, and R-/O-Net's 3 x 3 max pools about 7 times (torch's NCHW max-pool
                # kernel was most of R-Net's time); frames and crops are HWC arrays already in
                # that layout (no copy)
                _nets[name] = net.eval().to(memory_format=torch.channels_last)
            # O-Net in bfloat16 (used where `preprocess.has_native_bf16()`): 2.5 times faster on 48 px crops;
            # P- and R-Net were not faster in bfloat16 (3 and 28 input channels), so stay float32
            # (for O-Net the cast of a crop is exact: (x - 127.5) / 128 of a uint8 needs 8
            # significant bits, bfloat16 has 8)
            _nets["onet_bf16"] = BFloat16(_nets["onet"]).eval()
    return _nets["pnet"], _nets["rnet"], _nets["onet"]


def _nms(boxes: np.ndarray, thr: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy NMS on (N, >=5) boxes x0, y0, x1, y1, score, in the order kept
    (highest score first). "union" (IoU) runs in OpenCV's C++ NMS (`_nms_numpy` took 4 ms per
    640 x 360 frame in Python, this under 1 ms, same indices: tests/models/)."""
    if len(boxes) == 0:
        return np.zeros(0, int)
    if mode != "union":
        return _nms_numpy(boxes, thr, mode)
    order = np.argsort(boxes[:, 4])[::-1]
    # OpenCV sorts by score itself: give it our order as distinct scores, so that ties break
    # as here; boxes as (x, y, w + 1, h + 1), so its areas and overlaps are ours (inclusive)
    rank = np.empty(len(boxes), np.float64)
    rank[order] = np.arange(len(boxes), 0, -1)
    rects = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1])
    keep = cv2.dnn.NMSBoxes(rects.tolist(), rank.tolist(), 0.0, thr)
    return np.asarray(keep, int).reshape(-1)


def _nms_numpy(boxes: np.ndarray, thr: float, mode: str = "union") -> np.ndarray:
    """Greedy NMS in numpy: "union" (IoU) or "min" (overlap over the smaller box)."""
    if len(boxes) == 0:
        return np.zeros(0, int)
    x0, y0, x1, y1, s = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(s)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        den = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / den <= thr]
    return np.asarray(keep, int)


def _square(b: np.ndarray) -> np.ndarray:
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b = b.copy()
    b[:, 0] += w * 0.5 - side * 0.5
    b[:, 1] += h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    b = b.copy()
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Crops of `boxes` (zero padded where they leave the image), resized to size x size,
    normalised as the nets were trained: (x - 127.5) / 128, channels first."""
    H, W = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes[:, :4].astype(int)):
        w, h = x1 - x0 + 1, y1 - y0 + 1
        if w < 2 or h < 2:
            continue
        if x0 >= 0 and y0 >= 0 and x1 < W and y1 < H:     # inside the image: no padded copy
            out[k] = cv2.resize(img[y0:y1 + 1, x0:x1 + 1], (size, size), interpolation=cv2.INTER_AREA)
            continue
        patch = np.zeros((h, w, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(W - 1, x1), min(H - 1, y1)
        if sx1 < sx0 or sy1 < sy0:
            continue
        patch[sy0 - y0:sy1 - y0 + 1, sx0 - x0:sx1 - x0 + 1] = img[sy0:sy1 + 1, sx0:sx1 + 1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    t = torch.from_numpy(out).permute(0, 3, 1, 2)
    return (t - 127.5) * 0.0078125


@torch.inference_mode()
def detect(rgb: np.ndarray, min_size: float = 20.0, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
           factor: float = 0.709, border: float = 0.0, pyramid: str = "octave", bf16: bool = False) -> np.ndarray:
    """Face boxes (N, 5: x0, y0, x1, y1, score) in an RGB uint8 frame, over the whole frame.

    `min_size` is the smallest face side searched, in pixels (the pyramid's first scale is
    12 / min_size); `thresholds` are the P-, R- and O-Net score thresholds (lower: more boxes).
    With `border` > 0 the frame is first padded (mirrored) by `border` x `min_size` px on every
    side, so that a face cut by the frame's edge is still found; boxes come back in the frame's
    own pixels, clipped to it. `bf16=True` runs O-Net in bfloat16 where the CPU has native
    bfloat16 (`preprocess.has_native_bf16()`; elsewhere float32, the same boxes as `bf16=False`)."""
    if border > 0:
        b = int(round(border * min_size))
        H0, W0 = rgb.shape[:2]
        boxes = detect(cv2.copyMakeBorder(rgb, b, b, b, b, cv2.BORDER_REFLECT_101), min_size, thresholds, factor,
                       pyramid=pyramid, bf16=bf16)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] - b, 0, W0 - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] - b, 0, H0 - 1)
        return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    pnet, rnet, onet = _load()
    if bf16 and preprocess.has_native_bf16():
        onet = _nets["onet_bf16"]
    H, W = rgb.shape[:2]
    scale = 12.0 / min_size
    scales = []
    m = min(H, W) * scale
    while m >= 12:
        scales.append(scale)
        scale *= factor
        m *= factor
    cand = []
    prev = rgb
    octaves = [(rgb, 1.0)]
    for s in scales:
        hs, ws = int(H * s + 1), int(W * s + 1)
        if pyramid == "octave":
            # default: each level area-resized from the smallest exact 2 x 2-mean octave of the
            # frame that is still at least twice its size (an octave costs a quarter of a
            # level; a level then reads a source of 2 to 4 times its size instead of the whole
            # frame). Same P-Net input up to edge weights: 0.6 grey levels apart on average
            while s / octaves[-1][1] < 0.25 and min(octaves[-1][0].shape[:2]) >= 4:
                o, k = octaves[-1]
                h2, w2 = o.shape[0] // 2, o.shape[1] // 2        # even crop: OpenCV's exact 2 x 2 path
                octaves.append((cv2.resize(o[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA), k / 2))
            src = next(o for o, k in reversed(octaves) if s / k <= 0.5) if s <= 0.5 else rgb
            im = cv2.resize(src, (ws, hs), interpolation=cv2.INTER_AREA)
        elif pyramid == "linear":
            im = cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_LINEAR)
        else:
            # "frame": every level area-resized from the frame, as MTCNN does;
            # "chain": each level from the previous one (INTER_AREA at a non-integer ratio
            # reads its whole source, so "chain" is a few ms cheaper, but it changes what
            # P-Net sees: it covered 5 fewer real held-out faces than "frame")
            im = cv2.resize(prev if pyramid == "chain" else rgb, (ws, hs), interpolation=cv2.INTER_AREA)
            prev = im
        t = torch.from_numpy(im).permute(2, 0, 1)[None].float().sub_(127.5).mul_(0.0078125)
        reg, prob = pnet(t)
        p = prob[0, 1].numpy()
        ys, xs = np.nonzero(p >= thresholds[0])
        if len(ys) == 0:
            continue
        r = reg[0].numpy()[:, ys, xs].T
        q0x, q0y = np.floor((2 * xs + 1) / s), np.floor((2 * ys + 1) / s)
        q1x, q1y = np.floor((2 * xs + 12) / s), np.floor((2 * ys + 12) / s)
        b = np.column_stack([q0x, q0y, q1x, q1y, p[ys, xs], r])
        cand.append(b[_nms(b, 0.5)])
    if not cand:
        return np.zeros((0, 5), np.float32)
    b = np.concatenate(cand)
    b = b[_nms(b, 0.7)]
    b = np.column_stack([_regress(b[:, :4], b[:, 5:9]), b[:, 4]])
    b = _square(b)
    b[:, :4] = np.trunc(b[:, :4])

    # R-Net
    reg, prob = rnet(_crops(rgb, b, 24))
    sc = prob[:, 1].numpy()
    ok = sc > thresholds[1]
    b, reg = np.column_stack([b[ok, :4], sc[ok]]), reg.numpy()[ok]
    if len(b) == 0:
        return np.zeros((0, 5), np.float32)
    k = _nms(b, 0.7)
    b, reg = b[k], reg[k]
    b = np.column_stack([_regress(b[:, :4], reg), b[:, 4]])
    b = _square(b)
    b[:, :4] = np.trunc(b[:, :4])

    # O-Net
    reg, prob = onet(_crops(rgb, b, 48))
    sc = prob[:, 1].numpy()
    ok = sc > thresholds[2]
    b, reg = np.column_stack([b[ok, :4], sc[ok]]), reg.numpy()[ok]
    if len(b) == 0:
        return np.zeros((0, 5), np.float32)
    b = np.column_stack([_regress(b[:, :4], reg), b[:, 4]])
    b = b[_nms(b, 0.7, "min")]
    return b.astype(np.float32)
