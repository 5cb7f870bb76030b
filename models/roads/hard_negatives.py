"""Synthetic hard negatives: things on or beside a road that are not damage, painted into
training crops (real tiles and simulated frames) and labelled "none".

The simulator-only model flagged oil stains, car grilles, headlights, wheels and grass verges as
cracks on real photos. No licensed real photos of those with labels were found, so they are drawn
here, each with its own random shape, colour and blending (seeded by the training run):

* `oil_stain`: a dark, soft-edged irregular blob (brown-black, 25-60 % opacity), sometimes a
  drip trail;
* `marking`: a painted white or yellow line (solid or dashed), straight, any angle, 6-20 px,
  worn (noisy opacity);
* `manhole`: a dark grey disc with a rim and a grid or concentric pattern;
* `grille`: a dark rectangle with light horizontal slats (a car's front or rear);
* `headlight`: a bright, saturated ellipse with a glow;
* `wheel`: a black tyre ring around a grey rim with spokes;
* `vegetation`: a green, textured grass verge along a border, or scattered leaves;
* `shadow`: a darkened band or polygon with soft edges (poles, trees, vehicles), the commonest
  thing that looks like a crack's dark line;
* `kerb_joint`: a straight, regular dark line across the whole crop (a concrete slab joint or
  kerb edge: straight and even, unlike a crack's wandering path).

`paint_negatives(img, rng, n, avoid)` paints `n` of them where the boolean mask `avoid` (the
damage boxes) is free, and returns the image and the mask of painted pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("oil_stain", "marking", "manhole", "grille", "headlight", "wheel", "vegetation", "shadow", "kerb_joint")


def _blend(img: np.ndarray, colour, alpha: np.ndarray) -> None:
    a = alpha[..., None].astype(np.float32)
    img[:] = np.clip(img * (1 - a) + np.asarray(colour, np.float32) * a, 0, 255).astype(np.uint8)


def _blob_mask(h, w, rng, cx, cy, r, squash=1.0, soft=7) -> np.ndarray:
    n = 16
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.2, n)
    pts = np.stack([cx + rad * np.cos(ang), cy + squash * rad * np.sin(ang)], 1).astype(np.int32)
    m = np.zeros((h, w), np.float32)
    cv2.fillPoly(m, [pts], 1.0)
    k = soft | 1
    return cv2.GaussianBlur(m, (k, k), 0)


def _oil(img, rng):
    h, w = img.shape[:2]
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 45)
    m = _blob_mask(h, w, rng, cx, cy, r, rng.uniform(0.5, 1.0), soft=int(rng.integers(5, 15)))
    if rng.random() < 0.4:        # a drip trail
        x2, y2 = cx + rng.uniform(-60, 60), cy + rng.uniform(-60, 60)
        cv2.line(m, (int(cx), int(cy)), (int(x2), int(y2)), 0.8, int(rng.integers(4, 10)))
    col = (rng.uniform(10, 50), rng.uniform(8, 40), rng.uniform(5, 35))
    _blend(img, col, m * rng.uniform(0.25, 0.6))
    return m > 0.1


def _line_mask(h, w, rng, thick, dashed=False) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    ang = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    L = 2 * max(h, w)
    dx, dy = np.cos(ang), np.sin(ang)
    if dashed:
        for s in np.arange(-L, L, 60):
            p0 = (int(cx + dx * s), int(cy + dy * s))
            p1 = (int(cx + dx * (s + 35)), int(cy + dy * (s + 35)))
            cv2.line(m, p0, p1, 1.0, thick)
    else:
        cv2.line(m, (int(cx - dx * L), int(cy - dy * L)), (int(cx + dx * L), int(cy + dy * L)), 1.0, thick)
    return m


def _marking(img, rng):
    h, w = img.shape[:2]
    m = _line_mask(h, w, rng, int(rng.integers(6, 21)), dashed=rng.random() < 0.5)
    wear = np.clip(rng.normal(0.85, 0.15, (h, w)), 0.3, 1).astype(np.float32)
    col = (235, 235, 230) if rng.random() < 0.7 else (230, 190, 40)
    _blend(img, col, cv2.GaussianBlur(m, (3, 3), 0) * wear)
    return m > 0.1


def _manhole(img, rng):
    h, w = img.shape[:2]
    cx, cy, r = int(rng.uniform(0, w)), int(rng.uniform(0, h)), int(rng.uniform(18, 45))
    g = int(rng.uniform(40, 90))
    cv2.circle(img, (cx, cy), r, (g, g, g), -1)
    cv2.circle(img, (cx, cy), r, (g + 40, g + 40, g + 40), int(rng.integers(2, 5)))
    if rng.random() < 0.5:
        for k in range(-r, r, 7):
            cv2.line(img, (cx + k, cy - r), (cx + k, cy + r), (g - 25, g - 25, g - 25), 2)
    else:
        for rr in range(6, r, 8):
            cv2.circle(img, (cx, cy), rr, (g + 20, g + 20, g + 20), 1)
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r + 3, 1, -1)
    return m > 0


def _grille(img, rng):
    h, w = img.shape[:2]
    gw, gh = int(rng.uniform(60, 160)), int(rng.uniform(20, 50))
    x0, y0 = int(rng.uniform(-gw / 2, w - gw / 2)), int(rng.uniform(-gh / 2, h - gh / 2))
    dark = int(rng.uniform(10, 40))
    cv2.rectangle(img, (x0, y0), (x0 + gw, y0 + gh), (dark, dark, dark), -1)
    light = int(rng.uniform(90, 200))
    for y in range(y0 + 4, y0 + gh - 2, int(rng.integers(5, 9))):
        cv2.line(img, (x0 + 3, y), (x0 + gw - 3, y), (light, light, light), 1)
    body = tuple(int(v) for v in rng.uniform(20, 230, 3))
    cv2.rectangle(img, (x0 - 20, y0 - 15), (x0 + gw + 20, y0 - 3), body, -1)
    m = np.zeros((h, w), np.uint8)
    cv2.rectangle(m, (x0 - 20, y0 - 15), (x0 + gw + 20, y0 + gh), 1, -1)
    return m > 0


def _headlight(img, rng):
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    ax, ay = rng.uniform(10, 30), rng.uniform(5, 15)
    glow = np.zeros((h, w), np.float32)
    cv2.ellipse(glow, (int(cx), int(cy)), (int(ax * 1.8), int(ay * 1.8)), rng.uniform(-20, 20), 0, 360, 1.0, -1)
    glow = cv2.GaussianBlur(glow, (21, 21), 0)
    col = (255, 250, 235) if rng.random() < 0.7 else (255, 140, 30)
    _blend(img, col, glow * 0.6)
    core = np.zeros((h, w), np.float32)
    cv2.ellipse(core, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 1.0, -1)
    _blend(img, col, core)
    return glow > 0.05


def _wheel(img, rng):
    h, w = img.shape[:2]
    cx, cy, r = int(rng.uniform(0, w)), int(rng.uniform(0, h)), int(rng.uniform(20, 50))
    cv2.circle(img, (cx, cy), r, (18, 18, 20), -1)
    rim = int(rng.uniform(120, 200))
    cv2.circle(img, (cx, cy), int(r * 0.6), (rim, rim, rim), -1)
    for k in range(5):
        a = k * 2 * np.pi / 5 + rng.uniform(0, 1)
        cv2.line(img, (cx, cy), (int(cx + 0.55 * r * np.cos(a)), int(cy + 0.55 * r * np.sin(a))), (60, 60, 60), 3)
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r + 2, 1, -1)
    return m > 0


def _vegetation(img, rng):
    h, w = img.shape[:2]
    m = np.zeros((h, w), np.float32)
    if rng.random() < 0.6:     # a verge along one border, ragged edge
        depth = rng.uniform(20, 80)
        side = int(rng.integers(4))
        n = (w if side < 2 else h)
        edge = depth + np.cumsum(rng.normal(0, 3, n))
        for i in range(n):
            e = int(np.clip(edge[i], 2, 120))
            if side == 0:
                m[:e, i] = 1
            elif side == 1:
                m[h - e:, i] = 1
            elif side == 2:
                m[i, :e] = 1
            else:
                m[i, w - e:] = 1
    else:                      # scattered leaves
        for _ in range(int(rng.integers(5, 25))):
            cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            cv2.ellipse(m, (cx, cy), (int(rng.uniform(3, 9)), int(rng.uniform(2, 5))), rng.uniform(0, 180),
                        0, 360, 1.0, -1)
    tex = rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    g = np.stack([30 + 40 * tex, 70 + 90 * tex, 20 + 40 * tex], -1)
    if rng.random() < 0.3:     # dry grass / dead leaves
        g = g[..., [1, 1, 0]] * np.array([1.0, 0.8, 0.6])
    a = cv2.GaussianBlur(m, (5, 5), 0)[..., None]
    img[:] = np.clip(img * (1 - a) + g * a, 0, 255).astype(np.uint8)
    return m > 0.1


def _shadow(img, rng):
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        m = _line_mask(h, w, rng, int(rng.integers(8, 40)))
    else:
        m = _blob_mask(h, w, rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 100), rng.uniform(0.3, 1))
    k = int(rng.integers(3, 15)) | 1
    m = cv2.GaussianBlur(m, (k, k), 0)
    f = 1 - rng.uniform(0.25, 0.55) * m[..., None]
    img[:] = np.clip(img * f, 0, 255).astype(np.uint8)
    return m > 0.1


def _joint(img, rng):
    h, w = img.shape[:2]
    m = _line_mask(h, w, rng, int(rng.integers(2, 4)))
    g = rng.uniform(0.3, 0.6)
    img[:] = np.clip(img * (1 - g * m[..., None]), 0, 255).astype(np.uint8)
    return m > 0


_PAINTERS = {"oil_stain": _oil, "marking": _marking, "manhole": _manhole, "grille": _grille,
             "headlight": _headlight, "wheel": _wheel, "vegetation": _vegetation, "shadow": _shadow,
             "kerb_joint": _joint}


def paint_negatives(img: np.ndarray, rng: np.random.Generator, n: int = 1,
                    avoid: np.ndarray | None = None, kinds: tuple[str, ...] = KINDS,
                    tries: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Paint `n` hard negatives into a copy of `img` (RGB uint8), never over `avoid` (a boolean
    mask of damage); returns (image, painted mask)."""
    out = img.copy()
    painted = np.zeros(img.shape[:2], bool)
    for _ in range(n):
        kind = kinds[int(rng.integers(len(kinds)))]
        for _ in range(tries):
            trial = out.copy()
            m = _PAINTERS[kind](trial, rng)
            if avoid is None or not (m & avoid).any():
                out, painted = trial, painted | m
                break
    return out, painted
