"""Blur faces and number plates in survey frames before anything is stored (GDPR).

Fail safe: plates have a learned detector with shipped weights AND the older classical cues,
and the union of their boxes is blurred (when unsure, blur more, never less); faces have MTCNN
with lowered thresholds, the Haar cascades being optional (see below: they added no face).

* Faces: MTCNN (models/roads/face_mtcnn.py; pretrained P/R/O-Net weights of facenet-pytorch,
  MIT, shipped in models/roads/weights/) over the WHOLE frame, mirrored-padded so faces cut by
  the frame's edge are found, with thresholds lowered on the training split of the real face
  set (81 % of its faces wear masks, which the default thresholds miss; see docs/roads.md), a
  margin of `face_mtcnn_margin` on every side (an MTCNN box spans brows to chin; masked faces
  are often boxed around the eyes only). OpenCV's Haar cascades shipped inside
  opencv-python-headless (`cv2.data.haarcascades`) are OFF by default since issue 19's speed
  follow-up (`face_haar=True` turns them back on): with the current MTCNN settings they add no
  face of the real training split (286 of 296 covered with or without them) and none on the
  simulator, for about 10 ms per 640 x 360 frame. When on: the frontal cascades `frontalface_default`
  and `frontalface_alt2` (union; on 610 simulated faces each alone missed 1 % and 3 %, the union
  none), minNeighbors 1, a 1.25 scale step, on the upper part of the frame
  (`AnonymiserConfig.face_band`, the top 56 %: from a windscreen camera a standing person's face
  is near or above the horizon). The profile cascade is available with `profile_faces=True`.
* Number plates: a small fully convolutional heat-map net (models/roads/plate_net.py) trained
  on the training split of real EU plates and synthetic plates (bench/train_plate_detector.py;
  dim, shaded, one-band foreign, dirty, blurred, tilted, occluded, night), plus the colour /
  contour cues of the EU/SIV plate tuned on the simulator:
  (a) a bright, unsaturated rectangle of plate proportions (about 4.7:1) that holds dark
  characters, and (b) the two saturated blue bands (EU band left, department band right) at
  the distance a plate of their height puts them, or one band next to a bright text area.
  (The Haar plate cascades are trained on Russian plates and covered 63 % of simulated French
  plates, so they are not used.)

Only the detected boxes, widened by a margin, are redacted: by default a strong Gaussian blur
over a pixelated copy (so the blur cannot be undone by sharpening), or a solid fill with
`redaction="fill"`; the rest of the frame is kept intact because the damage model and the road
engineers need it. Frames of any size and orientation are accepted. All detectors take RGB
(`decode_jpeg` converts OpenCV's BGR). `anonymise_jpeg` keeps the EXIF block (GPS, time) of
the input so the stored frame stays geotagged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .jpeg import decode_jpeg, encode_jpeg  # noqa: F401  (re-exported: the anonymiser's JPEG in, JPEG out)

Box = tuple[int, int, int, int]   # x0, y0, x1, y1 in pixels, inclusive


@dataclass(frozen=True)
class AnonymiserConfig:
    """Detector settings, tuned on simulated frames (see bench/roads_eval.py)."""
    # faces: rows searched, as fractions of the frame height (a windscreen view: faces sit
    # around the horizon); working scale of the search (0.75 keeps faces of about 27 px and up)
    face_band: tuple[float, float] = (0.0, 0.56)
    face_scale: float = 0.75
    face_scale_factor: float = 1.25   # with minNeighbors 1 and two cascades: recall over cost
    face_min_neighbors: int = 1
    face_min_size: int = 20           # at the working scale
    face_cascades: tuple[str, ...] = ("frontalface_default", "frontalface_alt2")
    face_fine_cascades: tuple[str, ...] = ("frontalface_default", "frontalface_alt2")   # on the finest octave
    profile_faces: bool = False       # +50 % face cost; see the module docstring
    # margins added around a detection before blurring, as fractions of its width/height:
    # a Haar box spans brows to mouth; hair, forehead and chin must go too
    face_margin: tuple[float, float, float, float] = (0.18, 0.35, 0.18, 0.3)   # left, top, right, bottom
    plate_margin: float = 0.12
    # plate cues
    plate_min_h: int = 6
    plate_max_h: int = 70
    blur_strength: float = 0.5        # Gaussian sigma as a fraction of the box's smaller side
    jpeg_quality: int = 90
    # learned detectors (fail safe: their boxes are added to the classical cues' boxes)
    face_haar: bool = False           # the Haar cascades above, in `face_band` (off: see the docstring)
    face_mtcnn: bool = True           # MTCNN over the whole frame
    face_mtcnn_min_size: float = 20.0     # smallest face side searched, px of the frame
    face_mtcnn_factor: float = 0.709      # P-Net pyramid step (MTCNN's own)
    # P-Net pyramid: "octave" (each level area-resized from the smallest 2 x 2-mean octave of
    # the frame at least twice its size) costs about half of "frame" (each level from the
    # whole frame, as MTCNN does): training split 284 vs 283 of 296 faces, held-out 156 vs
    # 157 of 161. "chain" (each level from the previous one) covered 5 fewer held-out faces
    # than "frame" (docs/roads.md)
    face_mtcnn_pyramid: str = "octave"
    # P/R/O-Net thresholds, lowered from MTCNN's 0.6/0.7/0.7 on the real faces' TRAINING split
    # (masked faces): recall of faces >= 20 px 0.65 -> 0.96 there (with the border and the 30 %
    # margin below), for more false blurs
    face_mtcnn_thresholds: tuple[float, float, float] = (0.5, 0.1, 0.05)
    face_mtcnn_border: float = 0.5        # mirrored padding, in min sizes: faces cut by the edge
    face_mtcnn_margin: float = 0.3        # added on every side, in box sides
    plate_net: bool = True
    plate_net_threshold: float | None = None   # None: the threshold recorded with the weights
    plate_net_pad_cells: float = 0.25          # padding of a heat-map box, in 4 px cells of the net
    plate_net_margin: float = 0.05             # then added on every side, in box widths/heights
    redaction: str = "blur"                    # "blur" or "fill" (solid `fill_rgb`)
    fill_rgb: tuple[int, int, int] = (0, 0, 0)
    # O-Net and the plate net in bfloat16 where the CPU has it natively (AVX512-BF16 or AMX;
    # elsewhere float32 whatever this says): see docs/roads.md, "Throughput, last step"
    detector_bf16: bool = True


@dataclass
class Detection:
    """One region blurred in a frame."""
    kind: str                 # "face" or "plate"
    box: Box                  # the blurred box (detection plus margin), clipped to the frame
    source: str               # which cue found it

    def as_dict(self) -> dict:
        return {"kind": self.kind, "box": list(self.box), "source": self.source}


_local = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    """A cascade from the opencv-python-headless wheel itself (nothing is downloaded), one
    instance per thread: a CascadeClassifier keeps per-call scale buffers and is not safe to
    share between threads."""
    cache = _local.__dict__.setdefault("cascades", {})
    if name not in cache:
        c = cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{name}.xml")
        if c.empty():
            raise RuntimeError(f"Haar cascade {name} is missing from {cv2.data.haarcascades}")
        cache[name] = c
    return cache[name]


# --------------------------------------------------------------------------------------------
# Faces
# --------------------------------------------------------------------------------------------

def detect_faces(rgb: np.ndarray, cfg: AnonymiserConfig = AnonymiserConfig()) -> list[Detection]:
    """Face boxes (with margin) in an RGB frame: MTCNN's over the whole frame and the Haar
    cascades' in the face band (each switchable in `cfg`).

    The Haar cascades run on an octave pyramid of our own rather than on OpenCV's default one:
    OpenCV slides its window by 2 px only while the window is at most twice the cascade's size
    and by 1 px beyond, so large windows on a full-size image are the costly ones. Each octave
    (`face_scale`, then halved while the image is taller than the window) looks for windows of
    one to two cascade sizes; together they cover faces from about 27 px up to the band's
    height, 20 % cheaper than OpenCV's pyramid with the same recall."""
    out = _mtcnn_faces(rgb, cfg) if cfg.face_mtcnn else []
    return out + (_haar_faces(rgb, cfg) if cfg.face_haar else [])


def _mtcnn_faces(rgb: np.ndarray, cfg: AnonymiserConfig) -> list[Detection]:
    from models.roads import face_mtcnn

    H, W = rgb.shape[:2]
    m = cfg.face_mtcnn_margin
    out = []
    for x0, y0, x1, y1, _ in face_mtcnn.detect(rgb, cfg.face_mtcnn_min_size, cfg.face_mtcnn_thresholds,
                                                cfg.face_mtcnn_factor, border=cfg.face_mtcnn_border,
                                                pyramid=cfg.face_mtcnn_pyramid, bf16=cfg.detector_bf16):
        w, h = x1 - x0, y1 - y0
        out.append(Detection("face", (int(max(0, x0 - m * w)), int(max(0, y0 - m * h)),
                                      int(min(W - 1, x1 + m * w)), int(min(H - 1, y1 + m * h))), "mtcnn"))
    return out


def _haar_faces(rgb: np.ndarray, cfg: AnonymiserConfig) -> list[Detection]:
    H, W = rgb.shape[:2]
    r0, r1 = int(cfg.face_band[0] * H), int(cfg.face_band[1] * H)
    grey = cv2.cvtColor(rgb[r0:r1], cv2.COLOR_RGB2GRAY)
    raw: list[tuple[str, np.ndarray]] = []
    s = cfg.face_scale
    octaves = [(cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), s)]
    while octaves[-1][0].shape[0] >= 2 * cfg.face_min_size:
        img, k = octaves[-1]
        octaves.append((cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), k / 2))
    for name in cfg.face_cascades:
        c = _cascade(name)
        mn = max(int(c.getOriginalWindowSize()[0]), cfg.face_min_size)
        for o, (img, k) in enumerate(octaves):
            if img.shape[0] < mn or img.shape[1] < mn:
                break
            if o == 0 and name not in cfg.face_fine_cascades:
                continue
            found = c.detectMultiScale(img, cfg.face_scale_factor, cfg.face_min_neighbors,
                                       minSize=(mn, mn), maxSize=(2 * mn - 1, 2 * mn - 1))
            raw += [(name, np.asarray(b, float) / k) for b in found]
    coarse = octaves[1][0] if len(octaves) > 1 else octaves[0][0]
    s_coarse = octaves[1][1] if len(octaves) > 1 else octaves[0][1]
    if cfg.profile_faces:
        # profile faces on the coarse image only (faces of about 50 px and up): the cascade is
        # costly and small side views are rarely identifiable
        c = _cascade("profileface")
        tw = coarse.shape[1]
        for mirrored in (False, True):       # the cascade knows one side only
            img = np.ascontiguousarray(coarse[:, ::-1]) if mirrored else coarse
            for x, y, w, h in c.detectMultiScale(img, 1.15, 3, minSize=(20, 20)):
                if mirrored:
                    x = tw - x - w
                raw.append(("profileface", np.array([x, y, w, h], float) / s_coarse))
    out = []
    ml, mt, mr, mb = cfg.face_margin
    for name, (x, y, w, h) in raw:
        y += r0
        box = (int(max(0, x - ml * w)), int(max(0, y - mt * h)),
               int(min(W - 1, x + w + mr * w)), int(min(H - 1, y + h + mb * h)))
        out.append(Detection("face", box, name))
    return out


# --------------------------------------------------------------------------------------------
# Plates
# --------------------------------------------------------------------------------------------

_PLATE_ASPECT = 520 / 110        # French SIV plate, 520 x 110 mm


def detect_plates(rgb: np.ndarray, cfg: AnonymiserConfig = AnonymiserConfig()) -> list[Detection]:
    """Plate boxes (with margin) in an RGB frame: the learned heat-map net's and the
    white-text and blue-band cues' (each switchable in `cfg`)."""
    out = _net_plates(rgb, cfg) if cfg.plate_net else []
    return out + _cue_plates(rgb, cfg)


def _net_plates(rgb: np.ndarray, cfg: AnonymiserConfig) -> list[Detection]:
    from models.roads import plate_net

    net, meta = plate_net.load_bf16() if cfg.detector_bf16 else plate_net.load()
    thr = cfg.plate_net_threshold if cfg.plate_net_threshold is not None else float(meta["threshold"])
    p, s = plate_net.heatmap(rgb, net)
    H, W = rgb.shape[:2]
    m = cfg.plate_net_margin
    out = []
    for x0, y0, x1, y1, _ in plate_net.boxes_from_heatmap(p, s, rgb.shape, thr, cfg.plate_net_pad_cells):
        w, h = x1 - x0 + 1, y1 - y0 + 1
        out.append(Detection("plate", (int(max(0, x0 - m * w)), int(max(0, y0 - m * h)),
                                       int(min(W - 1, x1 + m * w)), int(min(H - 1, y1 + m * h))), "plate_net"))
    return out


def _cue_plates(rgb: np.ndarray, cfg: AnonymiserConfig) -> list[Detection]:
    H, W = rgb.shape[:2]
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found: list[tuple[str, tuple[float, float, float, float]]] = []

    # (a) a bright unsaturated plate body; closing joins it across its dark characters.
    # Shape tests run vectorised over all components (asphalt grain makes hundreds of them)
    bright = cv2.inRange(hsv, (0, 0, 135), (180, 75, 255))
    closed = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3)))
    st = cv2.connectedComponentsWithStatsWithAlgorithm(closed, 8, cv2.CV_32S, cv2.CCL_BBDT)[2][1:]
    x, y, w, h, area = st.T
    keep = ((h >= cfg.plate_min_h) & (h <= cfg.plate_max_h) & (w >= 2.4 * h) & (w <= 8.0 * h)
            & (area >= 0.45 * w * h))                # a tilted plate fills its box less
    for x, y, w, h, _ in st[keep]:
        if _looks_like_text(grey, x, y, w, h):
            found.append(("plate_white", (x, y, x + w - 1, y + h - 1)))

    # (b) the blue bands: saturated blue, taller than wide
    blue = cv2.inRange(hsv, (98, 110, 55), (128, 255, 255))
    n, lab, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(blue, 8, cv2.CV_32S, cv2.CCL_BBDT)
    x, y, w, h, area = stats.T
    keep = ((h >= cfg.plate_min_h) & (h <= cfg.plate_max_h * 1.1) & (w <= 0.95 * h + 3) & (area >= 0.35 * w * h))
    keep[0] = False                                  # the background
    bands, band_sat = [], []
    for k in np.nonzero(keep)[0]:
        x, y, w, h, _ = stats[k]
        bands.append((x, y, w, h))
        band_sat.append(float(np.median(sat[y:y + h, x:x + w][lab[y:y + h, x:x + w] == k])))
    blue = blue > 0
    used: set[int] = set()
    for i, (x, y, w, h) in enumerate(bands):       # pairs: EU band left, department band right
        for j, (x2, y2, w2, h2) in enumerate(bands):
            if j == i or x2 <= x:
                continue
            hm = max(h, h2)
            dx = (x2 + w2 / 2) - (x + w / 2)
            if abs(h - h2) > 0.4 * hm or not (3.4 * hm <= dx <= 5.2 * hm):
                continue
            # same row, give or take a tilted or sheared plate (up to about 12 degrees)
            if abs((y + h / 2) - (y2 + h2 / 2)) > 0.3 * hm + 0.22 * dx:
                continue
            y0, y1 = min(y, y2), max(y + h, y2 + h2)
            if _plate_body(grey, sat, blue, x + w, y0, x2 - x - w, y1 - y0):
                found.append(("plate_bands", (x, min(y, y2), x2 + w2 - 1, max(y + h, y2 + h2) - 1)))
                used.update((i, j))
    for i, (x, y, w, h) in enumerate(bands):       # one band next to a bright text area
        # a lone band must be the plate's deep blue: window shutters (the commonest blue
        # on facades) measured a median saturation under 130, plate bands over 155
        if i in used or band_sat[i] < 142:
            continue
        L = int(round(_PLATE_ASPECT * h))
        # only the plate next to the band is checked (2.2 heights: three or four glyphs), so
        # a plate half hidden by a passer-by is still found; the blur covers the whole
        # plate length on that side
        near = int(round(2.2 * h))
        for left in (True, False):                  # EU band on the left, department band right
            bx0, bx1 = (x + w, min(W, x + w + near)) if left else (max(0, x - near), x)
            if bx1 - bx0 < 2 * h:
                continue
            if _plate_body(grey, sat, blue, bx0, y, bx1 - bx0, h):
                x0, x1 = (x, min(W - 1, x + L)) if left else (max(0, x + w - L), x + w - 1)
                found.append(("plate_band", (x0, y, x1, y + h - 1)))
                break

    out = []
    for src, (x0, y0, x1, y1) in found:
        w, h = x1 - x0 + 1, y1 - y0 + 1
        m = cfg.plate_margin
        # margins in plate widths on both axes: a tilted plate's corners leave its box
        # vertically by about width x sin(angle)
        out.append(Detection("plate", (int(max(0, x0 - m * w)), int(max(0, y0 - m * w * 0.5)),
                                       int(min(W - 1, x1 + m * w)), int(min(H - 1, y1 + m * w * 0.5))), src))
    return out


def _plate_body(grey: np.ndarray, sat: np.ndarray, blue: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """The plate between or beside its blue bands: white (unsaturated) ground with dark glyphs
    and no blue inside (blue shutters on a facade pair up like bands, but have coloured
    walls and more blue between them)."""
    if w < 2 * h or h < 4:
        return False
    g = grey[y:y + h, x:x + w]
    if float(blue[y:y + h, x:x + w].mean()) > 0.08:
        return False
    light = g >= np.percentile(g, 70)
    if float(np.median(sat[y:y + h, x:x + w][light])) > 60:
        return False
    return _looks_like_text(grey, x, y, w, h, need_bright=True)


def _looks_like_text(grey: np.ndarray, x: int, y: int, w: int, h: int, need_bright: bool = False) -> bool:
    """Dark glyphs on a light ground: a share of dark pixels, several light/dark alternations
    along the middle rows, and a light ground clearly lighter than the glyphs."""
    sub = grey[y:y + h, x:x + w].astype(np.float32)
    if sub.size == 0 or h < 3 or w < 6:
        return False
    hi = float(np.percentile(sub, 85))
    lo = float(np.percentile(sub, 10))
    # measured on simulated frames: plates have p85 >= 199 and p85 - p10 >= 150, while
    # cobbles, kerbs and facades that pass the shape tests stay under 165 and 100
    if hi - lo < 100 or (need_bright and hi < 175):
        return False
    thr = (hi + lo) / 2
    dark = float((sub < thr).mean())
    if not (0.06 <= dark <= 0.6):
        return False
    rows = sub[max(0, h // 2 - h // 5):h // 2 + h // 5 + 1]
    flips = np.abs(np.diff((rows < thr).astype(np.int8), axis=1)).sum(1)
    return float(np.median(flips)) >= 6


# --------------------------------------------------------------------------------------------
# Blurring
# --------------------------------------------------------------------------------------------

def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Union of overlapping boxes, so a region found by two cues is blurred once."""
    boxes = sorted(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for b in boxes:
            for k, o in enumerate(out):
                if b[0] <= o[2] and o[0] <= b[2] and b[1] <= o[3] and o[1] <= b[3]:
                    out[k] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
                    changed = True
                    break
            else:
                out.append(b)
        boxes = out
    return boxes


def fill_boxes(rgb: np.ndarray, boxes: list[Box], colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Paint each box in place with a solid colour (the `redaction="fill"` setting)."""
    for x0, y0, x1, y1 in boxes:
        rgb[y0:y1 + 1, x0:x1 + 1] = colour
    return rgb


def _blurred(sub: np.ndarray, strength: float) -> np.ndarray | None:
    """A blurred copy of `sub` (see `blur_boxes`), or None when it is under 2 px on a side."""
    h, w = sub.shape[:2]
    if h < 2 or w < 2:
        return None
    k = max(1.0, min(h, w) / 6.0)
    small = cv2.resize(sub, (max(1, int(w / k)), max(1, int(h / k))), interpolation=cv2.INTER_AREA)
    sigma = max(1.5, strength * min(h, w) / 3)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / k), borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blur_boxes(rgb: np.ndarray, boxes: list[Box], strength: float = 0.5) -> np.ndarray:
    """Blur each box in place: pixelate to about 6 blocks across its smaller side, then a
    Gaussian blur, so no identifying detail survives and the edges do not look blocky. The
    Gaussian runs on the pixelated (small) image before it is scaled back up: the same
    smoothing as a blur of sigma `strength` x side / 3 at full size, at a cost that does not
    grow with the box (a full-size blur of a large box cost more than the detectors)."""
    for x0, y0, x1, y1 in boxes:
        sub = rgb[y0:y1 + 1, x0:x1 + 1]
        out = _blurred(sub, strength)
        if out is not None:
            sub[:] = out
    return rgb


def redact_union(rgb: np.ndarray, boxes: list[Box], cfg: AnonymiserConfig = AnonymiserConfig()) -> float:
    """Redact the union of `boxes` in place and return its share of the frame's area.

    Each connected part of the union is blurred as one block (its bounding box, so no seam
    inside a part), and only the union's own pixels are replaced: overlapping boxes of several
    detectors neither leave a seam nor blur the empty corners of their bounding box. The parts
    are found on the boxes themselves (not by labelling a frame-sized mask), and each part's
    pixels are written through its own small mask, so the cost follows the boxes, not the frame."""
    H, W = rgb.shape[:2]
    if not boxes:
        return 0.0
    if cfg.redaction not in ("blur", "fill"):
        raise ValueError(f"unknown redaction {cfg.redaction!r} (blur or fill)")
    covered = 0
    for part in _touching_groups(boxes):
        x0, y0 = min(b[0] for b in part), min(b[1] for b in part)
        x1, y1 = max(b[2] for b in part), max(b[3] for b in part)
        sel = np.zeros((y1 - y0 + 1, x1 - x0 + 1), bool)
        for a0, b0, a1, b1 in part:
            sel[b0 - y0:b1 - y0 + 1, a0 - x0:a1 - x0 + 1] = True
        covered += int(sel.sum())
        block = rgb[y0:y1 + 1, x0:x1 + 1]
        if cfg.redaction == "fill":
            block[sel] = cfg.fill_rgb
            continue
        out = _blurred(block, cfg.blur_strength)
        if out is not None:
            np.copyto(block, out, where=sel[..., None])
    return covered / float(H * W)


def _touching_groups(boxes: list[Box]) -> list[list[Box]]:
    """The boxes grouped into the 8-connected parts of their union (boxes that overlap, or
    touch along an edge or at a corner, directly or through others, are one part)."""
    b = np.asarray(boxes, np.int64)
    n = len(b)
    adj = ((b[:, None, 0] <= b[None, :, 2] + 1) & (b[None, :, 0] <= b[:, None, 2] + 1)
           & (b[:, None, 1] <= b[None, :, 3] + 1) & (b[None, :, 1] <= b[:, None, 3] + 1))
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(adj, 1))):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[Box]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(tuple(int(v) for v in boxes[i]))
    # in raster order of each part's first pixel, as a labelling of the mask would give them
    # (a part's bounding box may hold pixels of a part blurred before it)
    def first_pixel(g: list[Box]) -> tuple[int, int]:
        top = min(x[1] for x in g)
        return top, min(x[0] for x in g if x[1] == top)
    return sorted(groups.values(), key=first_pixel)


def anonymise_image(rgb: np.ndarray, cfg: AnonymiserConfig = AnonymiserConfig(),
                    copy: bool = True) -> tuple[np.ndarray, list[Detection], float]:
    """Detect faces and plates in an RGB frame and redact them (blur, or fill: `cfg.redaction`).

    Returns the redacted frame (a copy unless `copy=False`), the detections (boxes with margin)
    and the share of the frame's area that was redacted (overlaps counted once)."""
    out = rgb.copy() if copy else rgb
    dets = detect_faces(rgb, cfg) + detect_plates(rgb, cfg)
    share = redact_union(out, [d.box for d in dets], cfg)
    return out, dets, share


def anonymise_jpeg(jpeg: bytes, cfg: AnonymiserConfig = AnonymiserConfig()) -> tuple[bytes, list[Box], float]:
    """Blur faces and plates in a JPEG: (anonymised JPEG with the original EXIF, blurred boxes
    as (x0, y0, x1, y1), share of the frame area blurred)."""
    rgb = decode_jpeg(jpeg)
    out, dets, share = anonymise_image(rgb, cfg, copy=False)
    return encode_jpeg(out, cfg.jpeg_quality, exif_from=jpeg), [d.box for d in dets], share


def anonymiser_version(cfg: AnonymiserConfig = AnonymiserConfig()) -> str:
    """Names what blurred a stored frame: detector settings, the shipped weights and the OpenCV
    build whose cascades ran (a change to any gives a new version, and the frames are
    anonymised again)."""
    import hashlib
    import json
    from dataclasses import asdict
    from pathlib import Path

    weights = Path(__file__).with_name("weights")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
              for p in sorted(weights.glob("*.pt")) + sorted(weights.glob("*.json"))}
    from models.roads.preprocess import has_native_bf16

    # the bfloat16 nets run only where the CPU has bfloat16: the version says which ran
    blob = json.dumps({"cfg": asdict(cfg), "opencv": cv2.__version__, "weights": digest, "code": 5,
                       "bf16": bool(cfg.detector_bf16 and has_native_bf16())},
                      sort_keys=True, default=str)
    return f"mtcnn-platenet-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


@dataclass
class AnonymisedFrame:
    """What the lake stores for one frame: blurred JPEG (EXIF kept), what was blurred, where."""
    jpeg: bytes
    width: int
    height: int
    detections: list[Detection]
    blurred_share: float


def anonymise_frame(jpeg: bytes, cfg: AnonymiserConfig = AnonymiserConfig()) -> AnonymisedFrame:
    """Decode, blur faces and plates, re-encode (EXIF kept). Raises ValueError on a bad JPEG."""
    rgb = decode_jpeg(jpeg)
    out, dets, share = anonymise_image(rgb, cfg, copy=False)
    return AnonymisedFrame(encode_jpeg(out, cfg.jpeg_quality, exif_from=jpeg), out.shape[1], out.shape[0], dets, share)


def anonymise_many(jpegs: list[bytes], cfg: AnonymiserConfig = AnonymiserConfig(),
                   workers: int | None = None) -> list[AnonymisedFrame | Exception]:
    """`anonymise_frame` over many frames on a thread pool (OpenCV releases the GIL); a frame
    that fails gives its exception in its place instead of stopping the batch."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(data: bytes):
        try:
            return anonymise_frame(data, cfg)
        except Exception as exc:  # noqa: BLE001 - reported per frame by the caller
            return exc

    n = workers or os.cpu_count() or 1
    # one torch thread per frame while frames run in parallel: torch's own pool would compete
    # with the frame threads for the same cores
    import torch

    # and OpenCV likewise: its own threads (connected components, resizes) cost about 1.5 ms
    # of CPU per 640 x 360 frame more than one thread does (issue 19's throughput pass)
    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    if n > 1:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(one, jpegs))
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)


def stored_frame_records(frames: list[dict], jpegs: list[bytes], cfg: AnonymiserConfig, version: str, now) -> list[dict]:
    """Anonymise `jpegs` (the survey frames `frames`: survey_id, file, segment_id, source_file)
    and return the rows silver.road_images stores: blurred JPEG, size, what was blurred, the
    anonymiser `version`. A frame that fails here was decoded by bronze: raised, not skipped."""
    import json

    recs = []
    for r, res in zip(frames, anonymise_many(jpegs, cfg)):
        if isinstance(res, Exception):
            raise RuntimeError(f"anonymising {r['source_file']} failed: {res}") from res
        recs.append({"survey_id": r["survey_id"], "file": r["file"], "segment_id": r["segment_id"],
                     "jpeg": res.jpeg, "width": res.width, "height": res.height,
                     "boxes_json": json.dumps([d.as_dict() for d in res.detections]),
                     "faces_blurred": sum(d.kind == "face" for d in res.detections),
                     "plates_blurred": sum(d.kind == "plate" for d in res.detections),
                     "blurred_share": round(res.blurred_share, 6), "anonymiser_version": version, "anonymised_at": now})
    return recs
