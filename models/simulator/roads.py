"""Road survey campaigns: what a Vialytics-like windscreen phone delivers (docs/LANDING.md).

Two campaigns (spring and autumn 2026) drive part of the drivable network and take one geotagged
JPEG every `profile.survey_spacing_m` metres. Each segment has a latent condition that worsens a
little between campaigns; each frame shows damages drawn from it (five classes, three
severities), and some frames show a real face (cropped from scikit-image's public-domain
astronaut photo) or a French SIV number plate, which the lake must blur.

The landing zone gets the frames and a `manifest.json` written last, and the damage labels as an
annotator would deliver them: one CVAT COCO 1.0 JSON per survey in `roads/annotations/`
(`coco_annotations`); the ground truth (every damage, face and plate box, every segment's true
state) goes to `<truth>/roads/`, for evaluation only.

Rendering is a flat-shaded windscreen view: a sky and facade band on top, then a mildly
perspective road band (lateral scale shrinks linearly towards the horizon). Textures are
pre-rendered once per process and sampled through `cv2.remap` with a per-frame offset, so a
frame costs a few milliseconds; large campaigns are rendered in a process pool, each frame with
its own seed, so the bytes do not depend on the number of workers (`SIM_WORKERS` overrides the
count). Workers are spawned, so a script that calls `simulate_roads` on a large profile needs
the usual `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, TiffImagePlugin

from .city import City, to_wgs84
from .common import atomic_write_bytes, atomic_write_text, sha256_bytes, sub_seed

DAMAGE_CLASSES = ("longitudinal_crack", "transverse_crack", "alligator_crack", "pothole", "patch")
SEVERITIES = ("low", "medium", "high")
# (survey_id, first day (a Monday), vehicle)
CAMPAIGNS = (("SRV-2026-04", date(2026, 4, 13), "VEH-VOIRIE-01"),
             ("SRV-2026-10", date(2026, 10, 5), "VEH-VOIRIE-02"))
MAKE = "Vialytics-like"
MODEL = "RoadPhone SX-12 windscreen kit"
JPEG_QUALITY = 85
GPS_SIGMA_M = 1.8          # per axis: about 2.5 m radial
HEADING_SIGMA_DEG = 3.0
SHIFT_START_H, SHIFT_END_H = 8.0, 12.5   # survey drives happen on weekday mornings
PARALLEL_FROM_FRAMES = 3000              # smaller campaigns render in-process


# --------------------------------------------------------------------------------------------
# Time helpers (Europe/Paris without relying on the system's tz database)
# --------------------------------------------------------------------------------------------

def _last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def paris_offset_hours(utc: datetime) -> int:
    """+2 during EU summer time (last Sunday of March 01:00 UTC to last Sunday of October 01:00
    UTC), +1 otherwise."""
    y = utc.year
    start = datetime.combine(_last_sunday(y, 3), datetime.min.time(), timezone.utc) + timedelta(hours=1)
    end = datetime.combine(_last_sunday(y, 10), datetime.min.time(), timezone.utc) + timedelta(hours=1)
    return 2 if start <= utc < end else 1


def _local_iso(local: datetime, off_h: int) -> str:
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"+{off_h:02d}:00"


# --------------------------------------------------------------------------------------------
# Latent segment state and campaign plans (cheap, serial, one rng)
# --------------------------------------------------------------------------------------------

def damage_mix(condition: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Expected damages per frame, class probabilities, severity probabilities for a segment
    whose latent condition is `condition` (0 = new, 1 = failed)."""
    c = float(np.clip(condition, 0.0, 1.0))
    lam = 0.3 + 2.4 * c
    w = np.array([1.0, 0.8, 0.18 + 1.6 * c, 0.12 + 1.5 * c ** 1.3, 0.2 + 0.9 * c])
    high = 0.06 + 0.55 * c ** 1.3
    med = 0.28 + 0.25 * c
    sev = np.array([max(0.0, 1 - high - med), med, high])
    return lam, w / w.sum(), sev / sev.sum()


def condition_grade(condition: float) -> float:
    """Vialytics-style grade 1 (very good) to 5 (very poor) in 0.5 steps."""
    return 1.0 + round(float(np.clip(condition, 0, 1)) * 8) / 2


def _segment_states(city: City, rng: np.random.Generator) -> list[dict]:
    states = []
    for s in city.segments:
        age_factor = {"primary": 0.9, "secondary": 1.0, "tertiary": 1.1, "residential": 1.2,
                      "pedestrian": 0.8}[s.road_class]
        c0 = float(np.clip(rng.beta(1.2, 4.2) * age_factor, 0, 0.95))
        c1 = float(min(1.0, c0 + 0.015 + rng.gamma(1.5, 0.03)))
        states.append({
            "conditions": (c0, c1),
            "texture": int(rng.integers(4)),
            "tone": int(rng.integers(-18, 19)),
            "tint": int(rng.integers(-4, 5)),
            "panorama": int(rng.integers(8)),
            "pano_x": int(rng.integers(0, 10_000)),
            "lane_shift": float(rng.uniform(-22, 22)),
            "edge_lines": s.road_class in ("primary", "secondary") or rng.random() < 0.3,
            "centre_line": s.road_class != "residential" or rng.random() < 0.4,
        })
    return states


def _pick_segments(city: City, rng: np.random.Generator, bonus: np.ndarray) -> list[int]:
    """Indices of drivable segments covering about `survey_share` of the drivable length."""
    idx = [i for i, s in enumerate(city.segments) if s.road_class != "pedestrian"]
    lengths = np.array([city.segments[i].length_m for i in idx])
    prio = rng.random(len(idx)) + bonus[idx]
    order = np.argsort(-prio, kind="stable")
    target = city.profile.survey_share * lengths.sum()
    chosen, total = [], 0.0
    for k in order:
        if total >= target:
            break
        chosen.append(idx[k])
        total += lengths[k]
    return chosen


def _route(city: City, chosen: list[int], start_xy: tuple[float, float]) -> list[tuple[int, bool]]:
    """Greedy nearest-end chaining from the depot: (segment index, reversed?) in driving order."""
    segs = city.segments
    a = np.array([[segs[i].x0, segs[i].y0] for i in chosen])
    b = np.array([[segs[i].x1, segs[i].y1] for i in chosen])
    left = np.ones(len(chosen), bool)
    pos = np.array(start_xy, float)
    out = []
    for _ in range(len(chosen)):
        da = np.where(left, np.hypot(*(a - pos).T), np.inf)
        db = np.where(left, np.hypot(*(b - pos).T), np.inf)
        ia, ib = int(np.argmin(da)), int(np.argmin(db))
        if da[ia] <= db[ib]:
            k, rev = ia, False
            pos = b[k]
        else:
            k, rev = ib, True
            pos = a[k]
        left[k] = False
        out.append((chosen[k], rev))
    return out


def plan_campaign(city: City, ci: int, states: list[dict], rng: np.random.Generator,
                  bonus: np.ndarray) -> dict:
    """Frames of one campaign (positions, headings, times, appearance keys), in driving order."""
    survey_id, first_day, vehicle = CAMPAIGNS[ci]
    end = city.profile.end_date
    if first_day >= end:  # keep every campaign before the simulation's end
        first_day = end - timedelta(days=21)
        first_day -= timedelta(days=first_day.weekday())
    spacing = city.profile.survey_spacing_m
    chosen = _pick_segments(city, rng, bonus)
    depot = next((p for p in city.places if p.kind == "depot"), None)
    start_xy = (depot.x, depot.y) if depot else (city.segments[0].x0, city.segments[0].y0)
    route = _route(city, chosen, start_xy)

    day = first_day
    t = SHIFT_START_H * 3600 + rng.uniform(0, 1800)        # seconds since local midnight
    pos = np.array(start_xy)
    frames = []
    for si, rev in route:
        s = city.segments[si]
        x0, y0, x1, y1 = (s.x1, s.y1, s.x0, s.y0) if rev else (s.x0, s.y0, s.x1, s.y1)
        t += math.hypot(x0 - pos[0], y0 - pos[1]) * 1.3 / (25 / 3.6) + rng.uniform(5, 40)
        if t > SHIFT_END_H * 3600:
            day += timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            t = SHIFT_START_H * 3600 + rng.uniform(0, 1800)
        L = s.length_m
        speed = max(2.0, s.speed_kmh * 0.6 * rng.uniform(0.8, 1.15) / 3.6)   # m/s
        heading = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360
        ux, uy = (x1 - x0) / L, (y1 - y0) / L
        for d in np.arange(rng.uniform(0, spacing), L, spacing):
            x, y = x0 + ux * d, y0 + uy * d
            tt = t + d / speed
            local = datetime.combine(day, datetime.min.time()) + timedelta(seconds=round(tt))
            off = paris_offset_hours((local - timedelta(hours=2)).replace(tzinfo=timezone.utc))
            frames.append({
                "seg": si, "segment_id": s.segment_id, "surface": s.surface,
                "x": x, "y": y, "heading": heading, "dist": float(d),
                "gps_x": x + rng.normal(0, GPS_SIGMA_M), "gps_y": y + rng.normal(0, GPS_SIGMA_M),
                "gps_heading": (heading + rng.normal(0, HEADING_SIGMA_DEG)) % 360,
                "local": local, "offset_h": off, "speed_kmh": speed * 3.6,
            })
        t += L / speed
        pos = np.array([x1, y1])
    lon, lat = to_wgs84(np.array([f["gps_x"] for f in frames]), np.array([f["gps_y"] for f in frames]))
    for k, f in enumerate(frames):
        f["lon"], f["lat"] = float(lon[k]), float(lat[k])
        f["file"] = f"frame_{k + 1:06d}.jpg"
        st = states[f["seg"]]
        f["condition"] = st["conditions"][ci]
        f["look"] = {key: st[key] for key in ("texture", "tone", "tint", "panorama", "pano_x",
                                               "lane_shift", "edge_lines", "centre_line")}
    return {"survey_id": survey_id, "vehicle_id": vehicle, "frames": frames,
            "segments": [si for si, _ in route]}


# --------------------------------------------------------------------------------------------
# Rendering assets (pre-rendered once per process, deterministic for the seed)
# --------------------------------------------------------------------------------------------

class _Assets:
    def __init__(self, seed: int, size: tuple[int, int]):
        rng = np.random.default_rng(sub_seed(seed, "roads-assets"))
        self.W, self.H = W, H = size
        self.HZ = HZ = int(round(H * 0.4))           # horizon row: road band below
        self.RB = RB = H - HZ
        self.S_TOP = S = 0.58
        self.road_l, self.road_r = 0.03 * W, 0.97 * W   # carriageway edges in canvas x
        Y = np.arange(RB, dtype=np.float64)
        self.s = S + (1 - S) * Y / RB                  # lateral scale per road-band row
        xs = np.arange(W, dtype=np.float64)
        canvas_x = W / 2 + (xs[None, :] - W / 2) / self.s[:, None]
        v = RB / (1 - S) * np.log(self.s / S)          # isotropic texture rows
        self.canvas_x = canvas_x
        self.map_x = canvas_x.astype(np.float32)
        self.map_y = np.repeat(v[:, None], W, 1).astype(np.float32)
        self.textures = {
            "asphalt": [self._asphalt(rng, tone) for tone in (96, 108, 118, 88)],
            "concrete": [self._concrete(rng) for _ in range(2)],
            "cobbles": [self._cobbles(rng) for _ in range(2)],
        }
        self.surround = [self._surround(rng) for _ in range(3)]
        self.out_mask = (canvas_x < self.road_l) | (canvas_x > self.road_r)
        self.panoramas = [self._panorama(rng) for _ in range(8)]
        self._face()

    # -- textures ------------------------------------------------------------------------
    @staticmethod
    def _noise(rng, shape, cells_amps):
        """Sum of seamless (wrapping) noise layers; `cell` is the feature size in pixels (a
        power of two dividing the texture size)."""
        T = shape[0]
        out = np.zeros(shape, np.float32)
        for cell, amp in cells_amps:
            n = T // cell
            layer = rng.standard_normal((n, n), dtype=np.float32)
            if cell > 1:
                big = cv2.resize(np.pad(layer, 2, mode="wrap"), ((n + 4) * cell,) * 2, interpolation=cv2.INTER_CUBIC)
                layer = big[2 * cell:2 * cell + T, 2 * cell:2 * cell + T]
                layer /= max(1e-6, float(layer.std()))
            out += amp * layer
        return out

    def _asphalt(self, rng, tone):
        T = 1024
        tex = tone + self._noise(rng, (T, T), [(1, 9), (2, 7), (8, 5), (64, 6)])
        # light aggregate stones
        k = int(T * T * 0.004)
        ys, xs = rng.integers(0, T, k), rng.integers(0, T, k)
        tex[ys, xs] += rng.uniform(25, 70, k)
        return np.clip(tex, 0, 255).astype(np.uint8)

    def _concrete(self, rng):
        T = 1024
        tex = 150 + self._noise(rng, (T, T), [(1, 5), (2, 4), (32, 7)])
        for yj in range(0, T, 256):                  # transverse joints
            tex[yj:yj + 3, :] -= 55
        tex[:, T // 2 - 1:T // 2 + 2] -= 45          # longitudinal joint
        return np.clip(tex, 0, 255).astype(np.uint8)

    def _cobbles(self, rng):
        """Granite setts in staggered rows, narrow dark joints."""
        T, size = 1024, 32
        tex = np.full((T, T), 62, np.float32)
        for r, y in enumerate(range(0, T, size)):
            off = int(rng.integers(0, size))
            for x in range(-off, T, size):
                g = float(rng.uniform(100, 160))
                w = size - rng.uniform(3, 6)
                h = size - rng.uniform(3, 6)
                x0, y0 = x + rng.uniform(1, 3), y + rng.uniform(1, 3)
                cv2.rectangle(tex, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), g, -1, cv2.LINE_AA)
                cv2.line(tex, (int(x0 + 2), int(y0 + 2)), (int(x0 + w - 2), int(y0 + 2)), g + 18, 2)
        tex = cv2.GaussianBlur(tex, (0, 0), 1.2)
        tex += self._noise(rng, (T, T), [(1, 7), (2, 6), (32, 6)])
        return np.clip(tex, 0, 255).astype(np.uint8)

    def _surround(self, rng):
        """Pavement slabs and kerb outside the carriageway (already in perspective)."""
        T = 1024
        slab = 158 + self._noise(rng, (T, T), [(1, 5), (2, 4), (32, 5)])
        for j in range(0, T, 48):
            slab[j:j + 2, :] -= 40
            slab[:, j:j + 2] -= 40
        img = cv2.remap(np.clip(slab, 0, 255).astype(np.uint8), self.map_x + 2000, self.map_y,
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        img = img.astype(np.float32)
        cx = self.canvas_x
        kerb = ((cx >= self.road_l - 14) & (cx < self.road_l)) | ((cx > self.road_r) & (cx <= self.road_r + 14))
        img[kerb] = 192
        edge = ((cx >= self.road_l - 2) & (cx < self.road_l)) | ((cx > self.road_r) & (cx <= self.road_r + 2))
        img[edge] = 70
        img = np.clip(img, 0, 255).astype(np.uint8)
        rgb = np.stack([img, img, (img.astype(np.int16) - 4).clip(0, 255).astype(np.uint8)], -1)
        return rgb

    def _panorama(self, rng):
        H, W = self.HZ, 2 * self.W
        t = np.linspace(0, 1, H)[:, None]
        sky = np.array([100, 155, 215]) * (1 - t) + np.array([195, 212, 230]) * t
        img = np.repeat(sky[:, None, :], W, 1).astype(np.float32).reshape(H, W, 3)
        ground = H - int(H * 0.17)
        palette = [(236, 222, 192), (214, 170, 110), (222, 160, 140), (240, 236, 226),
                   (230, 200, 120), (192, 112, 82), (200, 190, 170), (176, 150, 120)]
        shutters = [(70, 110, 80), (70, 95, 130), (120, 80, 50), (200, 200, 190)]
        x = -int(rng.integers(0, 60))
        while x < W:
            bw = int(rng.integers(70, 220))
            top = int(rng.integers(4, int(H * 0.45)))
            col = np.array(palette[int(rng.integers(len(palette)))], np.float32) * rng.uniform(0.85, 1.05)
            x0, x1 = max(0, x), min(W, x + bw)
            img[top:ground, x0:x1] = col
            cv2.line(img, (x0, top), (x1, top), tuple(float(c) for c in col * 0.7), 2)
            sh = shutters[int(rng.integers(len(shutters)))]
            for wy in range(top + 8, ground - 22, 22):
                for wx in range(x + 8, x + bw - 16, 26):
                    cv2.rectangle(img, (wx, wy), (wx + 10, wy + 13), (55, 58, 66), -1)
                    if rng.random() < 0.6:
                        cv2.rectangle(img, (wx - 4, wy), (wx - 1, wy + 13), sh, -1)
                        cv2.rectangle(img, (wx + 11, wy), (wx + 14, wy + 13), sh, -1)
            # ground floor: shop front or door
            cv2.rectangle(img, (x + 6, ground - 20), (x + bw - 6, ground), tuple(float(c) for c in col * 0.45), -1)
            x += bw
        for _ in range(int(rng.integers(1, 4))):     # a palm or a plane tree in front
            px = int(rng.integers(0, W)); ph = int(rng.integers(int(H * 0.4), int(H * 0.8)))
            cv2.line(img, (px, ground), (px + int(rng.integers(-6, 7)), ground - ph), (95, 80, 60), 4)
            for a in np.linspace(0, 2 * np.pi, 11)[:-1]:
                cv2.line(img, (px, ground - ph), (int(px + 28 * np.cos(a)), int(ground - ph + 14 * np.sin(a) + 6)),
                         (60, 105, 55), 3, cv2.LINE_AA)
        img[ground:] = (168, 164, 158)
        img[ground:ground + 2] = (120, 118, 112)
        img += rng.normal(0, 3, img.shape).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    def _face(self):
        from skimage import data
        ast = data.astronaut()                      # public domain (NASA), RGB
        crop = ast[10:200, 140:310].astype(np.float32)
        h, w = crop.shape[:2]
        # head mask: not the grey studio backdrop, inside an ellipse, holes filled
        hsv = cv2.cvtColor(ast[10:200, 140:310], cv2.COLOR_RGB2HSV)
        m = ~((hsv[..., 1] < 60) & (hsv[..., 2] > 120))
        ell = np.zeros((h, w), np.uint8)
        cv2.ellipse(ell, (w // 2 + 1, h // 2 - 4), (int(w * 0.45), int(h * 0.49)), 0, 0, 360, 1, -1)
        m = (m & (ell > 0)).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        _, lab, st, _ = cv2.connectedComponentsWithStats(m)
        m = (lab == 1 + int(np.argmax(st[1:, 4]))).astype(np.uint8)
        outside = np.pad(1 - m, 1, constant_values=1)
        cv2.floodFill(outside, None, (0, 0), 2)
        m = (outside[1:-1, 1:-1] != 2).astype(np.float32)       # fill the holes
        self.head = crop
        self.head_mask = cv2.GaussianBlur(m, (0, 0), 1.2)[..., None]
        self.face_box = (33, 45, 138, 172)          # forehead to chin, ear to ear, in `crop`


_ASSETS: dict = {}


def _assets(seed: int, size: tuple[int, int]) -> _Assets:
    key = (seed, tuple(size))
    if key not in _ASSETS:
        _ASSETS.clear()
        _ASSETS[key] = _Assets(seed, size)
    return _ASSETS[key]


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------

def _box_of(pts: np.ndarray, pad: float, W: int, H: int) -> list[int]:
    x0, y0 = np.floor(pts.min(0) - pad)
    x1, y1 = np.ceil(pts.max(0) + pad)
    return [int(max(0, x0)), int(max(0, y0)), int(min(W - 1, x1)), int(min(H - 1, y1))]


def _overlap(b, boxes, margin=4) -> bool:
    for o in boxes:
        if b[0] < o[2] + margin and o[0] < b[2] + margin and b[1] < o[3] + margin and o[1] < b[3] + margin:
            return True
    return False


class _Frame:
    """One frame being drawn: the image and the perspective mapping of the road band."""

    def __init__(self, A: _Assets, img: np.ndarray):
        self.A, self.img = A, img

    def to_img(self, Xc: float, Yc: float, pts: np.ndarray) -> np.ndarray:
        """Local shape points (bottom-of-frame pixels) around road-band anchor (Xc, Yc)."""
        A = self.A
        sc = A.S_TOP + (1 - A.S_TOP) * Yc / A.RB
        y = Yc + pts[:, 1] * sc
        s = A.S_TOP + (1 - A.S_TOP) * np.clip(y, 0, A.RB) / A.RB
        x = A.W / 2 + (Xc + pts[:, 0] - A.W / 2) * s
        return np.stack([x, y + A.HZ], 1)

    def scale(self, Yc: float) -> float:
        return self.A.S_TOP + (1 - self.A.S_TOP) * Yc / self.A.RB


def _crack_path(rng, length: float, angle: float, step: float = 9.0, wiggle: float = 0.28) -> np.ndarray:
    n = max(3, int(length / step))
    turn = np.clip(np.cumsum(rng.normal(0, wiggle, n)) * 0.35, -0.7, 0.7)
    a = angle + turn + rng.normal(0, 0.25, n)
    st = rng.uniform(0.6, 1.4, n) * step
    pts = np.vstack([[0.0, 0.0], np.cumsum(np.stack([np.cos(a) * st, np.sin(a) * st], 1), 0)])
    return pts - pts.mean(0)


def _branches(rng, main: np.ndarray, k: int, length: float, angle: float) -> list[np.ndarray]:
    out = []
    for _ in range(k):
        p = main[int(rng.integers(1, len(main) - 1))]
        b = _crack_path(rng, length * rng.uniform(0.3, 0.6), angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1))
        b = b - b[0] + p
        out.append(b)
    return out


_CRACK_STYLE = {"low": (1.2, 50), "medium": (2.0, 36), "high": (3.4, 20)}   # width, grey


def _draw_crack(fr: _Frame, rng, sev: str, Xc: float, Yc: float, transverse: bool):
    if transverse:
        L = {"low": (90, 160), "medium": (150, 280), "high": (240, 420)}[sev]
        angle = rng.normal(0, 0.15)
    else:
        L = {"low": (70, 120), "medium": (110, 190), "high": (170, 270)}[sev]
        angle = np.pi / 2 + rng.normal(0, 0.12)
    length = rng.uniform(*L)
    main = _crack_path(rng, length, angle)
    paths = [main]
    if sev != "low":
        paths += _branches(rng, main, int(rng.integers(1, 3 if sev == "medium" else 5)), length * 0.5, angle)
    w, grey = _CRACK_STYLE[sev]
    sc = fr.scale(Yc)
    img_paths = [fr.to_img(Xc, Yc, p) for p in paths]
    th = max(1, int(round(w * sc)))
    allp = np.vstack(img_paths)
    box = _box_of(allp, th / 2 + 1, fr.A.W, fr.A.H)
    return box, lambda: _stroke(fr.img, img_paths, th, grey, sev == "high")


def _stroke(img, paths, th, grey, halo):
    ip = [np.round(p).astype(np.int32) for p in paths]
    if halo:
        cv2.polylines(img, ip, False, (70, 70, 70), th + 3, cv2.LINE_AA)
    cv2.polylines(img, ip[:1], False, (grey, grey, grey), th, cv2.LINE_AA)
    if len(ip) > 1:
        cv2.polylines(img, ip[1:], False, (grey + 8, grey + 8, grey + 8), max(1, th - 1), cv2.LINE_AA)


def _draw_alligator(fr: _Frame, rng, sev: str, Xc: float, Yc: float):
    w, h = {"low": ((60, 90), (40, 60)), "medium": ((95, 140), (60, 90)), "high": ((140, 210), (85, 130))}[sev]
    w, h = rng.uniform(*w), rng.uniform(*h)
    cell = rng.uniform(13, 18) if sev != "high" else rng.uniform(15, 21)
    nx, ny = int(w / cell) + 3, int(h / (cell * 0.8)) + 3
    gx, gy = np.meshgrid(np.arange(nx) * cell, np.arange(ny) * cell * 0.8)
    gx = gx - gx.mean() + rng.uniform(-0.3, 0.3, gx.shape) * cell
    gy = gy - gy.mean() + rng.uniform(-0.3, 0.3, gy.shape) * cell * 0.8
    rad = (gx / (w / 2)) ** 2 + (gy / (h / 2)) ** 2
    inside = rad <= 1 + rng.normal(0, 0.12, rad.shape)
    pts = fr.to_img(Xc, Yc, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(ny, nx, 2)
    keep = {"low": 0.7, "medium": 0.92, "high": 1.0}[sev]
    edges = []
    for (i0, j0, i1, j1) in ((slice(None), slice(0, -1), slice(None), slice(1, None)),
                             (slice(0, -1), slice(None), slice(1, None), slice(None))):
        a, b = pts[i0, j0].reshape(-1, 2), pts[i1, j1].reshape(-1, 2)
        ok = (inside[i0, j0] & inside[i1, j1]).ravel() & (rng.random(a.shape[0]) < keep)
        a, b = a[ok], b[ok]
        mid = (a + b) / 2 + rng.normal(0, cell * 0.12, a.shape)
        edges += [np.stack([a[k], mid[k], b[k]]) for k in range(len(a))]
    if not edges:
        return None, None
    cells = []
    if sev == "high":
        for i in range(ny - 1):
            for j in range(nx - 1):
                corners_in = inside[i, j] and inside[i + 1, j + 1] and inside[i, j + 1] and inside[i + 1, j]
                if corners_in and rng.random() < 0.22:
                    cells.append(np.array([pts[i, j], pts[i, j + 1], pts[i + 1, j + 1], pts[i + 1, j]]))
    w_, grey = {"low": (1.2, 56), "medium": (1.6, 42), "high": (2.2, 28)}[sev]
    th = max(1, int(round(w_ * fr.scale(Yc))))
    box = _box_of(np.vstack(edges), th / 2 + 1, fr.A.W, fr.A.H)

    def draw():
        if cells:
            cv2.fillPoly(fr.img, [np.round(c).astype(np.int32) for c in cells], (48, 46, 44), cv2.LINE_AA)
        cv2.polylines(fr.img, [np.round(e).astype(np.int32) for e in edges], False, (grey, grey, grey), th, cv2.LINE_AA)
    return box, draw


def _blob(rng, R: float, n: int = 18, squash: float = 0.55) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = R * (1 + 0.14 * np.cos(2 * a + rng.uniform(0, 6.3)) + 0.09 * np.cos(3 * a + rng.uniform(0, 6.3))
             + rng.normal(0, 0.05, n))
    return np.stack([r * np.cos(a), r * np.sin(a) * squash], 1)


def _draw_pothole(fr: _Frame, rng, sev: str, Xc: float, Yc: float):
    R = rng.uniform(*{"low": (10, 16), "medium": (17, 28), "high": (29, 46)}[sev])
    shape = _blob(rng, R)
    rim = fr.to_img(Xc, Yc, shape * 1.18)
    hole = fr.to_img(Xc, Yc, shape)
    wall = fr.to_img(Xc, Yc, shape * np.array([0.9, 0.75]) + np.array([0, -0.1 * R]))
    deep = fr.to_img(Xc, Yc, shape * np.array([0.7, 0.55]) + np.array([0, 0.12 * R]))
    shade = {"low": (58, 48), "medium": (44, 32), "high": (30, 16)}[sev]
    box = _box_of(rim, 1, fr.A.W, fr.A.H)
    n_grit = int(R * 0.6)
    gp = fr.to_img(Xc, Yc, np.stack([rng.uniform(-0.8, 0.8, n_grit) * R, rng.uniform(-0.35, 0.35, n_grit) * R], 1))
    grit = rng.uniform(80, 135, n_grit)

    def draw():
        i32 = lambda p: np.round(p).astype(np.int32)  # noqa: E731
        cv2.fillPoly(fr.img, [i32(rim)], (82, 80, 77), cv2.LINE_AA)
        cv2.fillPoly(fr.img, [i32(hole)], (shade[0],) * 3, cv2.LINE_AA)
        cv2.fillPoly(fr.img, [i32(wall)], (shade[0] + 14, shade[0] + 12, shade[0] + 10), cv2.LINE_AA)
        cv2.fillPoly(fr.img, [i32(deep)], (shade[1],) * 3, cv2.LINE_AA)
        for (x, y), g in zip(i32(gp), grit):
            cv2.circle(fr.img, (int(x), int(y)), 1, (float(g),) * 3, -1)
        cv2.polylines(fr.img, [i32(hole)], True, (30, 30, 30), 1, cv2.LINE_AA)
    return box, draw


def _draw_patch(fr: _Frame, rng, sev: str, Xc: float, Yc: float):
    w, h = {"low": ((80, 150), (50, 95)), "medium": ((120, 210), (70, 125)), "high": ((160, 280), (90, 150))}[sev]
    w, h = rng.uniform(*w), rng.uniform(*h)
    a = rng.normal(0, 0.06)
    q = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) + rng.normal(0, 3, (4, 2))
    q = q @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    poly = fr.to_img(Xc, Yc, q)
    box = _box_of(poly, 2, fr.A.W, fr.A.H)
    tone = float(rng.choice([rng.uniform(52, 72), rng.uniform(138, 160)], p=[0.7, 0.3]))
    cracks = []
    if sev in ("medium", "high"):
        for _ in range(int(rng.integers(1, 3 if sev == "medium" else 5))):
            k = int(rng.integers(4))
            p0, p1 = q[k], q[(k + 1) % 4]
            t = rng.uniform(0.1, 0.6)
            start = p0 + (p1 - p0) * t
            ang = math.atan2(*(p1 - p0)[::-1]) + rng.normal(0, 0.2)
            path = _crack_path(rng, np.hypot(*(p1 - p0)) * rng.uniform(0.3, 0.6), ang)
            cracks.append(path - path[0] + start)
        if sev == "high":
            for _ in range(int(rng.integers(2, 4))):
                c = _crack_path(rng, min(w, h) * rng.uniform(0.4, 0.8), rng.uniform(0, np.pi))
                cracks.append(c + rng.uniform(-0.25, 0.25, 2) * np.array([w, h]))
    cracks = [fr.to_img(Xc, Yc, c) for c in cracks]
    th = max(1, int(round(2 * fr.scale(Yc))))
    W, H = fr.A.W, fr.A.H

    def draw():
        x0, y0, x1, y1 = box
        sub = fr.img[y0:y1 + 1, x0:x1 + 1]
        m = np.zeros(sub.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
        sm = cv2.blur(sub, (3, 3))
        mixed = (sm.astype(np.float32) * 0.45 + tone * 0.55).astype(np.uint8)
        np.copyto(sub, mixed, where=m[..., None].astype(bool))
        cv2.polylines(fr.img, [np.round(poly).astype(np.int32)], True, (38, 38, 38), th, cv2.LINE_AA)
        if cracks:
            cv2.polylines(fr.img, [np.round(c).astype(np.int32) for c in cracks], False,
                          (30, 30, 30), max(1, th - (sev == "medium")), cv2.LINE_AA)
    return box, draw


# -- privacy content ----------------------------------------------------------------------

_PLATE_LETTERS = np.array(list("ABCDEFGHJKLMNPQRSTVWXYZ"))


def _plate_text(rng) -> str:
    l1 = "".join(rng.choice(_PLATE_LETTERS, 2)); l2 = "".join(rng.choice(_PLATE_LETTERS, 2))
    return f"{l1}-{int(rng.integers(1, 1000)):03d}-{l2}"


def _plate_image(text: str, dept: str) -> np.ndarray:
    """A French SIV plate at 520 x 110 px (RGB): EU band with F on the left, department band
    on the right, black characters on white."""
    p = np.full((110, 520, 3), 248, np.uint8)
    blue = (0, 51, 153)
    cv2.rectangle(p, (0, 0), (50, 109), blue, -1)
    cv2.rectangle(p, (470, 0), (519, 109), blue, -1)
    for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
        cv2.circle(p, (int(25 + 13 * np.cos(a)), int(32 + 13 * np.sin(a))), 2, (255, 204, 0), -1)
    cv2.putText(p, "F", (12, 96), cv2.FONT_HERSHEY_DUPLEX, 1.3, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(p, dept, (474, 96), cv2.FONT_HERSHEY_DUPLEX, 0.95, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.circle(p, (494, 40), 14, (255, 255, 255), 2)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 2.2, 6)
    cv2.putText(p, text, (60 + (408 - tw) // 2, 55 + th // 2), cv2.FONT_HERSHEY_DUPLEX, 2.2, (10, 10, 10), 6,
                cv2.LINE_AA)
    cv2.rectangle(p, (0, 0), (519, 109), (20, 20, 20), 3)
    return p


def _paste_plate(img, rng, cx: float, cy: float, pw: float) -> list[int] | None:
    text = _plate_text(rng)
    dept = str(rng.choice(["06", "06", "06", "83", "13", "75"]))
    src = _plate_image(text, dept)
    ph = pw / 4.73
    ang = np.radians(rng.normal(0, 2.5))
    shear = rng.normal(0, 0.05)
    corners = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    corners[:, 1] += corners[:, 0] * shear
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = corners @ rot.T + [cx, cy]
    H, W = img.shape[:2]
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int)
    if x0 < 0 or y0 < 0 or x1 >= W or y1 >= H:
        return None
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [519, 0], [519, 109], [0, 109]]),
                                    np.float32(dst - [x0, y0]))
    size = (x1 - x0 + 1, y1 - y0 + 1)
    warped = cv2.warpPerspective(src, M, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((110, 520), 255, np.uint8), M, size, flags=cv2.INTER_LINEAR)
    sub = img[y0:y1 + 1, x0:x1 + 1]
    a = (mask.astype(np.float32) / 255.0)[..., None] * rng.uniform(0.8, 0.95)
    sub[:] = (warped * a + sub * (1 - a)).astype(np.uint8)
    return [int(x0), int(y0), int(x1), int(y1)]


_CAR_COLOURS = [(30, 30, 32), (235, 235, 232), (150, 152, 156), (120, 20, 25), (25, 45, 90),
                (200, 200, 205), (60, 62, 66), (170, 140, 90)]


def _car_rear(img, rng, cx: float, bottom: float, pw: float) -> tuple[list[int], list[int] | None]:
    """A car seen from behind; returns its box and the plate box."""
    cw = pw * rng.uniform(3.3, 3.6)
    ch = cw * rng.uniform(0.72, 0.85)
    col = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    x0, x1, top = cx - cw / 2, cx + cw / 2, bottom - ch
    i = lambda *p: np.round(np.array(p)).astype(np.int32)  # noqa: E731
    cv2.ellipse(img, (int(cx), int(bottom)), (int(cw * 0.55), int(ch * 0.07)), 0, 0, 360, (35, 35, 35), -1)
    cv2.rectangle(img, tuple(i(x0 + cw * 0.05, bottom - ch * 0.14)), tuple(i(x0 + cw * 0.2, bottom)), (20, 20, 20), -1)
    cv2.rectangle(img, tuple(i(x1 - cw * 0.2, bottom - ch * 0.14)), tuple(i(x1 - cw * 0.05, bottom)), (20, 20, 20), -1)
    body = i([x0, bottom - ch * 0.1], [x0, top + ch * 0.45], [x0 + cw * 0.12, top + ch * 0.08],
             [x1 - cw * 0.12, top + ch * 0.08], [x1, top + ch * 0.45], [x1, bottom - ch * 0.1])
    cv2.fillPoly(img, [body], col, cv2.LINE_AA)
    win = i([x0 + cw * 0.1, top + ch * 0.42], [x0 + cw * 0.18, top + ch * 0.13],
            [x1 - cw * 0.18, top + ch * 0.13], [x1 - cw * 0.1, top + ch * 0.42])
    cv2.fillPoly(img, [win], (48, 54, 62), cv2.LINE_AA)
    for lx0, lx1 in ((x0 + cw * 0.02, x0 + cw * 0.2), (x1 - cw * 0.2, x1 - cw * 0.02)):     # tail lights
        cv2.rectangle(img, tuple(i(lx0, top + ch * 0.5)), tuple(i(lx1, top + ch * 0.62)), (170, 20, 20), -1)
    cv2.rectangle(img, tuple(i(x0, bottom - ch * 0.24)), tuple(i(x1, bottom - ch * 0.1)), (40, 40, 42), -1)
    plate = _paste_plate(img, rng, cx + rng.normal(0, 2), top + ch * 0.7, pw)
    H, W = img.shape[:2]
    box = [int(max(0, x0)), int(max(0, top)), int(min(W - 1, x1)), int(min(H - 1, bottom + ch * 0.07))]
    return box, plate


def _paste_face(img, A: _Assets, rng, fx0: float, fy0: float, fs: float) -> list[int] | None:
    """Paste the head so that its face box has width `fs` and top-left (fx0, fy0)."""
    bx0, by0, bx1, by1 = A.face_box
    k = fs / (bx1 - bx0)
    head = A.head
    hh, hw = int(round(head.shape[0] * k)), int(round(head.shape[1] * k))
    hx0, hy0 = int(round(fx0 - bx0 * k)), int(round(fy0 - by0 * k))
    H, W = img.shape[:2]
    if hx0 < 0 or hy0 < 0 or hx0 + hw > W or hy0 + hh > H:
        return None
    h = cv2.resize(head, (hw, hh), interpolation=cv2.INTER_AREA)
    m = cv2.resize(A.head_mask, (hw, hh), interpolation=cv2.INTER_LINEAR)[..., None]
    if rng.random() < 0.5:
        h, m = h[:, ::-1], m[:, ::-1]
    h = h * rng.uniform(0.7, 1.1) + rng.normal(0, 6, 3)
    sub = img[hy0:hy0 + hh, hx0:hx0 + hw]
    sub[:] = np.clip(h * m + sub * (1 - m), 0, 255).astype(np.uint8)
    return [hx0 + int(round(bx0 * k)), hy0 + int(round(by0 * k)),
            hx0 + int(round(bx1 * k)), hy0 + int(round(by1 * k))]


def _pedestrian(img, A: _Assets, rng) -> tuple[list[int], list[int] | None]:
    fs = float(rng.uniform(30, 90))
    W, H = A.W, A.H
    left = rng.random() < 0.5
    fx0 = rng.uniform(8, 120 - fs * 0.5) if left else rng.uniform(W - 120 - fs * 0.5, W - fs - 8)
    fy0 = rng.uniform(12, A.HZ - fs * 0.6)
    col = rng.integers(20, 230, 3).astype(np.float64)
    dark = tuple(col * 0.75)
    cx = fx0 + fs / 2
    sh = fy0 + fs * 1.45          # shoulder line
    i = lambda a: np.round(np.array(a)).astype(np.int32)  # noqa: E731
    cv2.rectangle(img, (int(cx - fs * 0.2), int(fy0 + fs * 0.9)), (int(cx + fs * 0.2), int(sh)), (150, 112, 92), -1)
    for side in (-1, 1):          # arms, a little darker than the torso
        arm = i([[cx + side * fs * 0.85, sh], [cx + side * fs * 1.2, sh + fs * 0.3],
                 [cx + side * fs * 1.3, H + 5], [cx + side * fs * 0.85, H + 5]])
        cv2.fillPoly(img, [arm], dark, cv2.LINE_AA)
        cv2.ellipse(img, (int(cx + side * fs * 0.8), int(sh + fs * 0.25)), (int(fs * 0.4), int(fs * 0.3)),
                    0, 0, 360, tuple(col), -1, cv2.LINE_AA)
    torso = i([[cx - fs * 0.9, sh], [cx + fs * 0.9, sh], [cx + fs * 0.95, H + 5], [cx - fs * 0.95, H + 5]])
    cv2.fillPoly(img, [torso], tuple(col), cv2.LINE_AA)
    cv2.fillPoly(img, [i([[cx - fs * 0.3, sh - 1], [cx + fs * 0.3, sh - 1], [cx, sh + fs * 0.45]])],
                 (150, 112, 92), cv2.LINE_AA)
    face = _paste_face(img, A, rng, fx0, fy0, fs)
    body = [int(max(0, cx - fs * 1.1)), int(max(0, fy0 - fs * 0.3)), int(min(W - 1, cx + fs * 1.1)), H - 1]
    return body, face


def _oncoming_driver(img, A: _Assets, rng) -> tuple[list[int], list[int] | None, list[int] | None]:
    """An oncoming car in the left lane; the driver (right of its windscreen, seen from us)."""
    fs = float(rng.uniform(30, 48))
    cw = fs * rng.uniform(7.5, 8.5)
    cx = rng.uniform(cw * 0.35, A.W * 0.42)
    ch = cw * 0.7
    bottom = A.HZ + ch * 0.55
    x0, x1, top = cx - cw / 2, cx + cw / 2, bottom - ch
    col = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    i = lambda *p: np.round(np.array(p)).astype(np.int32)  # noqa: E731
    cv2.ellipse(img, (int(cx), int(bottom)), (int(cw * 0.55), int(ch * 0.07)), 0, 0, 360, (35, 35, 35), -1)
    body = i([x0, bottom - ch * 0.08], [x0 + cw * 0.02, top + ch * 0.5], [x0 + cw * 0.16, top + ch * 0.05],
             [x1 - cw * 0.16, top + ch * 0.05], [x1 - cw * 0.02, top + ch * 0.5], [x1, bottom - ch * 0.08])
    cv2.fillPoly(img, [body], col, cv2.LINE_AA)
    ws = i([x0 + cw * 0.08, top + ch * 0.48], [x0 + cw * 0.2, top + ch * 0.1],
           [x1 - cw * 0.2, top + ch * 0.1], [x1 - cw * 0.08, top + ch * 0.48])
    cv2.fillPoly(img, [ws], (96, 110, 124), cv2.LINE_AA)
    fx0 = cx + cw * 0.08
    fy0 = top + ch * 0.16
    face = _paste_face(img, A, rng, fx0, fy0, fs)
    # windscreen glare over the driver
    sub = img[int(top + ch * 0.1):int(top + ch * 0.48), int(max(0, x0 + cw * 0.1)):int(min(A.W, x1 - cw * 0.1))]
    sub[:] = (sub * 0.82 + 30).astype(np.uint8)
    for hx in (x0 + cw * 0.15, x1 - cw * 0.15):                                            # headlights
        cv2.ellipse(img, (int(hx), int(top + ch * 0.62)), (int(cw * 0.09), int(ch * 0.05)), 0, 0, 360,
                    (235, 235, 215), -1)
    cv2.rectangle(img, tuple(i(x0 + cw * 0.3, top + ch * 0.6)), tuple(i(x1 - cw * 0.3, top + ch * 0.7)),
                  (30, 30, 30), -1)
    plate = _paste_plate(img, rng, cx, top + ch * 0.8, cw / 3.5)
    box = [int(max(0, x0)), int(max(0, top)), int(min(A.W - 1, x1)), int(min(A.H - 1, bottom + 4))]
    return box, face, plate


# -- the frame ----------------------------------------------------------------------------

def _markings(fr: _Frame, look: dict, dist_m: float, px_per_m: float, rng):
    """Dashed centre line (moving with the distance driven) and solid edge lines."""
    A = fr.A
    S, RB, HZ = A.S_TOP, A.RB, A.HZ
    paint = float(rng.uniform(195, 235))

    def ix(X, y):   # canvas x at road-band row y -> image x
        return A.W / 2 + (X - A.W / 2) * (S + (1 - S) * y / RB)

    def quad(X, w, y0, y1):
        return np.array([[ix(X - w, y0), y0 + HZ], [ix(X + w, y0), y0 + HZ],
                         [ix(X + w, y1), y1 + HZ], [ix(X - w, y1), y1 + HZ]])

    polys = []
    if look["centre_line"]:
        X = A.W / 2 + look["lane_shift"] * 4 - 60
        dash, gap = 3.0 * px_per_m, 4.5 * px_per_m
        v_max = RB / (1 - S) * np.log(1 / S)
        v = -((dist_m * px_per_m) % (dash + gap))
        while v < v_max:
            a, b = max(v, 0.0), min(v + dash, v_max)
            if b > a:   # texture rows -> road-band rows (inverse of the isotropic mapping)
                y0, y1 = ((S * np.exp(np.array([a, b]) * (1 - S) / RB)) - S) * RB / (1 - S)
                polys.append(quad(X, 6, y0, y1))
            v += dash + gap
    if look["edge_lines"]:
        for X in (A.road_l + 18, A.road_r - 18):
            polys.append(quad(X, 5, 0.0, RB - 1.0))
    if polys:
        cv2.fillPoly(fr.img, [np.round(p).astype(np.int32) for p in polys], (paint, paint, paint * 0.97),
                     cv2.LINE_AA)


def render_frame(spec: dict, seed: int, ci: int, k: int, size: tuple[int, int]) -> tuple[bytes, dict]:
    """Render frame `k` of campaign `ci`: JPEG bytes with EXIF, and its ground truth."""
    A = _assets(seed, size)
    rng = np.random.default_rng(sub_seed(seed, "roads") + [ci, k])
    W, H, HZ, RB = A.W, A.H, A.HZ, A.RB
    look = spec["look"]
    px_per_m = 85.0
    img = np.empty((H, W, 3), np.uint8)

    # sky and facades, then the far road up to the horizon
    pano = A.panoramas[look["panorama"]]
    px = int((look["pano_x"] + spec["dist"] * 9) % (pano.shape[1] - W))
    img[:HZ] = pano[:, px:px + W]
    far = np.round([[W / 2 + (A.road_l - W / 2) * A.S_TOP, HZ], [W / 2 + (A.road_r - W / 2) * A.S_TOP, HZ],
                    [W / 2 + 30, HZ - 14], [W / 2 - 30, HZ - 14]]).astype(np.int32)

    # road surface: a pre-rendered texture sampled with a per-frame offset
    surface = spec["surface"] if spec["surface"] in A.textures else "asphalt"
    texs = A.textures[surface]
    tex = texs[look["texture"] % len(texs)]
    oy = float(-spec["dist"] * px_per_m % tex.shape[0])
    ox = float(rng.uniform(0, tex.shape[1]))
    grey = cv2.remap(tex, A.map_x + ox, A.map_y + oy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    road = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    tone = float(look["tone"] + rng.integers(-4, 5))
    road = cv2.add(road, (tone + look["tint"], tone, tone - look["tint"], 0.0))
    sur = A.surround[look["texture"] % len(A.surround)]
    np.copyto(road, sur, where=A.out_mask[..., None])
    img[HZ:] = road
    far_col = tuple(float(c) for c in road[:4, W // 2 - 60:W // 2 + 60].reshape(-1, 3).mean(0))
    cv2.fillPoly(img, [far], far_col, cv2.LINE_AA)
    fr = _Frame(A, img)
    if surface != "cobbles":
        _markings(fr, look, spec["dist"], px_per_m, rng)

    # privacy content first (it occludes the road), damages where the road is visible
    occupied: list[list[int]] = []
    faces, plates, planned = [], [], []
    u = rng.random()          # about 15 % of frames show a face and/or a plate
    if u < 0.065:
        planned.append("pedestrian")
    elif u < 0.125:
        planned.append("car")
    elif u < 0.155:
        planned.append("oncoming")
    if planned and rng.random() < 0.15:
        planned.append("pedestrian" if "pedestrian" not in planned else "car")
    reserved = []
    for what in planned:
        if what == "pedestrian":
            occupied += [[0, 0, 150, H - 1], [W - 150, 0, W - 1, H - 1]]
            reserved.append((what, None))
        elif what == "car":
            pw = float(60 + 80 * rng.beta(1.4, 3.0))
            cw = pw * 3.45
            bottom = HZ + 20 + (pw - 55) * 1.6 + cw * 0.25
            cx = W / 2 + rng.normal(0, 25)
            occupied.append([int(cx - cw / 2 - 4), int(bottom - cw * 0.85), int(cx + cw / 2 + 4),
                             int(bottom + cw * 0.08)])
            reserved.append((what, (cx, bottom, pw)))
        else:
            occupied.append([0, HZ - 10, int(W * 0.6), int(HZ + 140)])
            reserved.append((what, None))

    damages = []
    if surface != "cobbles":
        lam, pcls, psev = damage_mix(spec["condition"])
        n = min(6, int(rng.poisson(lam)))
        draws = []
        for _ in range(n):
            cls = DAMAGE_CLASSES[int(rng.choice(5, p=pcls))]
            sev = SEVERITIES[int(rng.choice(3, p=psev))]
            for _try in range(8):
                Yc = float(RB * rng.uniform(0.12, 0.9))
                Xc = float(rng.uniform(A.road_l + 70, A.road_r - 70))
                sub = np.random.default_rng(rng.integers(2 ** 63))
                if cls == "longitudinal_crack":
                    box, draw = _draw_crack(fr, sub, sev, Xc, Yc, False)
                elif cls == "transverse_crack":
                    box, draw = _draw_crack(fr, sub, sev, Xc, Yc, True)
                elif cls == "alligator_crack":
                    box, draw = _draw_alligator(fr, sub, sev, Xc, Yc)
                elif cls == "pothole":
                    box, draw = _draw_pothole(fr, sub, sev, Xc, Yc)
                else:
                    box, draw = _draw_patch(fr, sub, sev, Xc, Yc)
                if box is None or box[1] < HZ or box[2] - box[0] < 3 or box[3] - box[1] < 3:
                    continue
                if _overlap(box, occupied):
                    continue
                occupied.append(box)
                draws.append((cls, sev, box, draw))
                break
        # patches first (they repaint the surface), then the rest
        for cls, sev, box, draw in sorted(draws, key=lambda d: d[0] != "patch"):
            draw()
            damages.append({"class": cls, "severity": sev, "bbox": box})

    for what, params in reserved:
        if what == "pedestrian":
            _, face = _pedestrian(img, A, rng)
            if face:
                faces.append(face)
        elif what == "car":
            cx, bottom, pw = params
            _, plate = _car_rear(img, rng, cx, bottom, pw)
            if plate:
                plates.append(plate)
        else:
            _, face, plate = _oncoming_driver(img, A, rng)
            if face:
                faces.append(face)
            if plate:
                plates.append(plate)

    # exposure of the moment
    gain = float(rng.uniform(0.9, 1.1))
    img = cv2.convertScaleAbs(img, alpha=gain, beta=float(rng.uniform(-6, 6)))

    exif = _exif(spec)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=JPEG_QUALITY, exif=exif)
    truth = {"damages": damages, "faces": faces, "plates": plates}
    return buf.getvalue(), truth


_R = TiffImagePlugin.IFDRational


def _dms(v: float):
    tot = round(abs(v) * 3600 * 10000)        # 1e-4 arc-second: 3 mm
    d, rem = divmod(tot, 3600 * 10000)
    m, s = divmod(rem, 60 * 10000)
    return (_R(int(d), 1), _R(int(m), 1), _R(int(s), 10000))


def _exif(spec: dict) -> bytes:
    local: datetime = spec["local"]
    off = spec["offset_h"]
    utc = local - timedelta(hours=off)
    stamp = local.strftime("%Y:%m:%d %H:%M:%S")
    ex = Image.Exif()
    ex[0x010F] = MAKE
    ex[0x0110] = MODEL
    ex[0x0131] = "survey-app 4.2"
    ex[0x0132] = stamp
    sub = ex.get_ifd(0x8769)
    sub[0x9003] = stamp
    sub[0x9011] = f"+{off:02d}:00"
    gps = ex.get_ifd(0x8825)
    lat, lon = spec["lat"], spec["lon"]
    gps[0x0000] = b"\x02\x03\x00\x00"
    gps[0x0001] = "N" if lat >= 0 else "S"
    gps[0x0002] = _dms(lat)
    gps[0x0003] = "E" if lon >= 0 else "W"
    gps[0x0004] = _dms(lon)
    gps[0x0007] = (_R(utc.hour, 1), _R(utc.minute, 1), _R(utc.second, 1))
    gps[0x000C] = "K"
    gps[0x000D] = _R(int(round(spec["speed_kmh"] * 10)), 10)
    gps[0x0010] = "T"
    gps[0x0011] = _R(int(round(spec["gps_heading"] * 100)), 100)
    gps[0x001D] = utc.strftime("%Y:%m:%d")
    return ex.tobytes()


# --------------------------------------------------------------------------------------------
# Writing a campaign
# --------------------------------------------------------------------------------------------

def _worker_init() -> None:
    """One OpenCV thread per worker process: the pool already uses every core."""
    cv2.setNumThreads(1)


def _render_and_write(job):
    spec, seed, ci, k, size, path = job
    data, truth = render_frame(spec, seed, ci, k, size)
    written = atomic_write_bytes(Path(path), data)
    return sha256_bytes(data), truth, written


def _slim(spec: dict) -> dict:
    keep = ("surface", "dist", "condition", "look", "local", "offset_h", "lat", "lon", "speed_kmh", "gps_heading")
    return {k: spec[k] for k in keep}


def _workers(n_frames: int) -> int:
    env = os.environ.get("SIM_WORKERS")
    if env:
        return max(1, int(env))
    if n_frames < PARALLEL_FROM_FRAMES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def simulate_roads(city: City, landing: Path, truth: Path) -> dict:
    """Write both survey campaigns into `landing/roads/surveys/` and their truth into
    `truth/roads/`. Returns counts."""
    landing, truth = Path(landing), Path(truth)
    rng = np.random.default_rng(sub_seed(city.seed, "roads"))
    states = _segment_states(city, rng)
    bonus = np.array([0.35 if s.road_class in ("primary", "secondary") else 0.0 for s in city.segments])
    size = tuple(city.profile.frame_size)
    stats = {"surveys": 0, "frames": 0, "frames_written": 0, "damages": 0, "faces": 0, "plates": 0,
             "frames_with_damage": 0, "frames_with_privacy": 0}
    seg_counts: dict[tuple[str, str], dict] = {}
    for ci in range(len(CAMPAIGNS)):
        plan = plan_campaign(city, ci, states, rng, bonus)
        sid = plan["survey_id"]
        folder = landing / "roads" / "surveys" / sid
        jobs = [(_slim(f), city.seed, ci, k, size, str(folder / f["file"])) for k, f in enumerate(plan["frames"])]
        n_workers = _workers(len(jobs))
        if n_workers > 1:
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn"),
                                 initializer=_worker_init) as pool:
                results = list(pool.map(_render_and_write, jobs, chunksize=32))
        else:
            results = [_render_and_write(j) for j in jobs]

        lines, manifest_frames = [], []
        for f, (sha, tr, written) in zip(plan["frames"], results):
            manifest_frames.append({"file": f["file"], "sha256": sha})
            lines.append(json.dumps({
                "file": f["file"], "survey_id": sid, "segment_id": f["segment_id"],
                "x_2154": round(f["x"], 2), "y_2154": round(f["y"], 2), "heading": round(f["heading"], 2),
                "gps_x_2154": round(f["gps_x"], 2), "gps_y_2154": round(f["gps_y"], 2),
                "captured_at": _local_iso(f["local"], f["offset_h"]), "surface": f["surface"],
                "condition": round(f["condition"], 4), **tr}, ensure_ascii=False))
            stats["frames_written"] += int(written)
            stats["damages"] += len(tr["damages"])
            stats["faces"] += len(tr["faces"])
            stats["plates"] += len(tr["plates"])
            stats["frames_with_damage"] += int(bool(tr["damages"]))
            stats["frames_with_privacy"] += int(bool(tr["faces"] or tr["plates"]))
            c = seg_counts.setdefault((f["segment_id"], sid), {"frames": 0})
            c["frames"] += 1
            for d in tr["damages"]:
                key = f"{d['class']}_{d['severity']}"
                c[key] = c.get(key, 0) + 1
        atomic_write_text(truth / "roads" / sid / "frames.jsonl", "\n".join(lines) + "\n")
        coco = coco_annotations(sid, plan["frames"], [tr for _, tr, _ in results], size)
        atomic_write_text(landing / "roads" / "annotations" / f"{sid}.json", json.dumps(coco, indent=None))
        frames = plan["frames"]
        manifest = {
            "survey_id": sid, "vehicle_id": plan["vehicle_id"],
            "started_at": _local_iso(frames[0]["local"], frames[0]["offset_h"]) if frames else None,
            "ended_at": _local_iso(frames[-1]["local"], frames[-1]["offset_h"]) if frames else None,
            "frame_count": len(frames), "frames": manifest_frames,
        }
        atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1))  # last
        stats["surveys"] += 1
        stats["frames"] += len(frames)

    _write_segment_state(city, states, seg_counts, truth)
    return stats


def coco_annotations(survey_id: str, frames: list[dict], truths: list[dict], size: tuple[int, int]) -> dict:
    """The survey's damage labels as a CVAT "COCO 1.0" export: every frame in `images` (a frame
    without damage is a labelled negative), one rectangle annotation per damage with its
    severity as a CVAT attribute; `file_name` is `<survey_id>/<file>`."""
    w, h = size
    cats = [{"id": i + 1, "name": c, "supercategory": ""} for i, c in enumerate(DAMAGE_CLASSES)]
    images, anns = [], []
    for k, (f, tr) in enumerate(zip(frames, truths), start=1):
        images.append({"id": k, "width": w, "height": h, "file_name": f"{survey_id}/{f['file']}", "license": 0,
                       "flickr_url": "", "coco_url": "", "date_captured": 0})
        for d in tr["damages"]:
            x0, y0, x1, y1 = d["bbox"]
            bw, bh = x1 - x0 + 1, y1 - y0 + 1
            anns.append({"id": len(anns) + 1, "image_id": k, "category_id": DAMAGE_CLASSES.index(d["class"]) + 1,
                         "segmentation": [], "area": float(bw * bh), "bbox": [float(x0), float(y0), float(bw), float(bh)],
                         "iscrowd": 0, "attributes": {"severity": d["severity"], "occluded": False}})
    return {"licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "CVAT COCO 1.0 (simulated survey labels)",
                     "url": "", "version": "1.0", "year": ""},
            "categories": cats, "images": images, "annotations": anns}


def _write_segment_state(city: City, states, seg_counts, truth: Path) -> None:
    cols = ["segment_id", "survey_id", "surface", "road_class", "length_m", "driven", "frames",
            "condition", "grade", "damages_per_frame"]
    cls_sev = [f"{c}_{s}" for c in DAMAGE_CLASSES for s in SEVERITIES]
    cols += [f"n_{k}" for k in cls_sev] + [f"rate_{k}" for k in cls_sev]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for ci, (sid, _, _) in enumerate(CAMPAIGNS):
        for s, st in zip(city.segments, states):
            c = st["conditions"][ci]
            lam, pcls, psev = damage_mix(c)
            if s.surface == "cobbles":
                lam = 0.0
            cnt = seg_counts.get((s.segment_id, sid), {"frames": 0})
            row = [s.segment_id, sid, s.surface, s.road_class, f"{s.length_m:.2f}", int(cnt["frames"] > 0),
                   cnt["frames"], f"{c:.4f}", "" if s.surface == "cobbles" else condition_grade(c), f"{lam:.4f}"]
            row += [cnt.get(k, 0) for k in cls_sev]
            row += [f"{lam * pcls[i] * psev[j]:.5f}" for i in range(5) for j in range(3)]
            w.writerow(row)
    atomic_write_text(truth / "roads" / "segment_state.csv", buf.getvalue())
