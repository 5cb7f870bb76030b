"""The urban forest: airborne LiDAR tiles for two scan epochs, and the city's old register.

A tree population (street alignments and park clusters, Riviera species with species-shaped
crowns) is grown, damaged, felled and replanted between June 2025 and June 2026. Each epoch is
"flown": vertical pulses fall uniformly on each 250 m Lambert-93 tile that holds a tree, and hit
the terrain, flat or gabled roofs, or tree crowns (first return on the crown surface, sometimes an
interior return, then the ground when the crown lets light through). Crown transparency and
dieback follow the Roloff vitality class. Tiles are LAS 1.4 point format 6, compressed to LAZ,
CRS EPSG:2154 as a WKT VLR; the 2025 delivery is classified, the 2026 one is not (class 1,
except noise 7).

Arborists' inspection records of a subset of the trees go to the landing zone too
(:mod:`.tree_inspections`): the only vitality labels the lake sees.

Ground truth goes to `<truth>/trees/`: one row per tree and epoch (`trees.csv`) and the mapping
of the old register's ids to the true trees (`register_truth.csv`). `crown_diameter_m` is the
nominal spread (twice the crown radius); `crown_area_m2` is the projected area actually modelled,
which is what crown loss reduces.
"""

from __future__ import annotations

import csv
import io
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

import laspy
import numpy as np

from .city import City, to_wgs84
from .common import atomic_write_bytes, atomic_write_text, sub_seed

TILE_M = 250.0
EPOCHS = (("2025", date(2025, 6, 12)), ("2026", date(2026, 6, 16)))
FLIGHT_ALT_M = 1000.0
STRIP_W_M = 400.0
STRIP_ORIGIN = (1019000.0, 6278000.0)
PLANE_SPEED = 70.0            # m/s
PARALLEL_FROM_TASKS = 24      # fewer tile tasks run in-process

# latin, French common name, crown shape, height range (m), crown diameter / height (palms: metres),
# crown base / height (palms: crown depth in metres), DBH coefficient (cm = k * H^1.2; palms: cm range)
SPECIES = [
    ("Platanus x acerifolia", "Platane", "broadleaf", (10, 25), (0.5, 0.65), (0.25, 0.35), 1.7),
    ("Pinus pinea", "Pin parasol", "umbrella", (9, 20), (0.65, 0.85), (0.55, 0.7), 2.0),
    ("Phoenix canariensis", "Palmier des Canaries", "palm", (6, 15), (6.0, 9.0), (3.0, 4.0), (55, 85)),
    ("Quercus ilex", "Chêne vert", "broadleaf", (6, 15), (0.65, 0.8), (0.2, 0.3), 1.9),
    ("Celtis australis", "Micocoulier", "broadleaf", (8, 20), (0.55, 0.7), (0.25, 0.35), 1.6),
    ("Jacaranda mimosifolia", "Jacaranda", "broadleaf", (5, 12), (0.8, 1.0), (0.3, 0.4), 1.8),
    ("Washingtonia robusta", "Washingtonia", "palm", (10, 25), (3.0, 4.5), (2.0, 3.0), (30, 45)),
    ("Olea europaea", "Olivier", "broadleaf", (4, 8), (0.8, 1.0), (0.25, 0.35), 3.5),
    ("Tilia cordata", "Tilleul", "broadleaf", (8, 20), (0.45, 0.6), (0.3, 0.4), 1.5),
]
STREET_SHARE = np.array([0.25, 0.08, 0.10, 0.07, 0.15, 0.10, 0.10, 0.05, 0.10])
PARK_SHARE = np.array([0.10, 0.25, 0.10, 0.20, 0.08, 0.05, 0.04, 0.15, 0.03])
GROWTH_M_PER_YEAR = np.array([0.45, 0.3, 0.25, 0.2, 0.4, 0.45, 0.5, 0.12, 0.35])
VITALITY = ("VS0", "VS1", "VS2", "VS3")
TRANSPARENCY = np.array([0.08, 0.18, 0.32, 0.5])
DIEBACK = np.array([0.0, 0.05, 0.15, 0.3])
SHAPE_CODE = {"broadleaf": 0, "umbrella": 1, "palm": 2}
_SHAPE = np.array([SHAPE_CODE[s[2]] for s in SPECIES])


# --------------------------------------------------------------------------------------------
# Terrain
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _terrain_phases(seed: int) -> np.ndarray:
    return np.random.default_rng(sub_seed(seed, "terrain")).uniform(0, 2 * np.pi, 3)


def terrain_z(x, y, seed: int):
    """Ground elevation (m): the coast near 5 m rising to about 75 m in the northern hills,
    with gentle undulations."""
    ph = _terrain_phases(seed)
    x = np.asarray(x, float); y = np.asarray(y, float)
    z = (5.0 + 0.015 * np.clip(y - 6279300.0, 0, None)
         + 2.5 * np.sin(x / 170 + ph[0]) * np.cos(y / 210 + ph[1]) + 1.0 * np.sin((x - y) / 83 + ph[2]))
    return np.maximum(z, 1.5)


# --------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------

def _seg_arrays(city: City) -> np.ndarray:
    return np.array([[s.x0, s.y0, s.x1, s.y1] for s in city.segments], float)


def _segs_near(segs: np.ndarray, x0: float, y0: float, x1: float, y1: float, margin: float) -> np.ndarray:
    """Segments whose bounding box meets the rectangle grown by `margin`."""
    return segs[(np.minimum(segs[:, 0], segs[:, 2]) < x1 + margin) & (np.maximum(segs[:, 0], segs[:, 2]) > x0 - margin)
                & (np.minimum(segs[:, 1], segs[:, 3]) < y1 + margin) & (np.maximum(segs[:, 1], segs[:, 3]) > y0 - margin)]


def _dist_to_segments(px, py, segs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance of each point to its nearest segment, that segment's index, and the position
    along it (0-1)."""
    px = np.asarray(px, float)[:, None]; py = np.asarray(py, float)[:, None]
    x0, y0, x1, y1 = (segs[:, k][None, :] for k in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
    d = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
    k = np.argmin(d, 1)
    r = np.arange(len(k))
    return d[r, k], k, t[r, k]


def _attributes(rng, sp: np.ndarray, young: bool = False) -> dict:
    """Size, form and health for trees of species indices `sp` (vectorised)."""
    n = len(sp)
    hmin = np.array([s[3][0] for s in SPECIES])[sp]; hmax = np.array([s[3][1] for s in SPECIES])[sp]
    if young:
        H = rng.uniform(2.5, 5.0, n)
    else:
        H = hmin + (hmax - hmin) * rng.beta(2.2, 2.0, n)
    palm = _SHAPE[sp] == 2
    c_lo = np.array([s[4][0] for s in SPECIES])[sp]; c_hi = np.array([s[4][1] for s in SPECIES])[sp]
    b_lo = np.array([s[5][0] for s in SPECIES])[sp]; b_hi = np.array([s[5][1] for s in SPECIES])[sp]
    cu, bu = rng.random(n), rng.random(n)
    cd = np.where(palm, c_lo + (c_hi - c_lo) * cu, H * (c_lo + (c_hi - c_lo) * cu))
    depth_palm = b_lo + (b_hi - b_lo) * bu
    cb = np.where(palm, H - depth_palm, H * (b_lo + (b_hi - b_lo) * bu))
    if young:
        cd = np.where(palm, rng.uniform(1.5, 2.5, n), H * rng.uniform(0.35, 0.5, n))
        cb = np.where(palm, H - rng.uniform(1.0, 1.5, n), H * rng.uniform(0.35, 0.5, n))
    dbh = np.empty(n)
    for i, s in enumerate(SPECIES):
        m = sp == i
        if not m.any():
            continue
        if isinstance(s[6], tuple):
            dbh[m] = rng.uniform(*s[6], m.sum()) * (0.3 if young else 1.0)
        else:
            dbh[m] = s[6] * H[m] ** 1.2 * rng.normal(1, 0.1, m.sum())
    vit = rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05] if not young else [0.8, 0.17, 0.03, 0.0])
    lean = np.abs(rng.normal(0, 1.2, n))
    big = rng.random(n) < (0.0 if young else 0.03)
    lean[big] = rng.uniform(10, 25, big.sum())
    return {
        "species": sp, "height": H, "crown_base": cb, "crown_diam": cd, "dbh": np.maximum(dbh, 3.0),
        "lean": lean, "lean_az": rng.uniform(0, 360, n), "vitality": vit,
        "transparency": np.clip(TRANSPARENCY[vit] + rng.normal(0, 0.03, n), 0.02, 0.8),
        "dieback": np.clip(DIEBACK[vit] + rng.normal(0, 0.02, n) * (vit > 0), 0, 0.45),
        "loss_frac": np.zeros(n), "loss_az": np.zeros(n),
        "e1": rng.uniform(0.03, 0.1, n), "e2": rng.uniform(0.02, 0.07, n),
        "p1": rng.uniform(0, 2 * np.pi, n), "p2": rng.uniform(0, 2 * np.pi, n),
        "fronds": np.where(sp == 2, rng.integers(14, 20, n), rng.integers(10, 14, n)),
    }


def _place_population(city: City, rng) -> dict:
    n_total = city.profile.n_trees
    segs = _seg_arrays(city)
    n_street = int(round(n_total * 0.75))
    xs, ys, sps, setting, seg_ids = [], [], [], [], []
    for si in rng.permutation(len(city.segments)):
        if len(xs) >= n_street * 1.05 + 5:
            break
        s = city.segments[si]
        L = s.length_m
        if L < 30:
            continue
        spacing, offset = rng.uniform(6, 10), rng.uniform(5, 7)
        sides = [1, -1] if rng.random() < 0.55 else [int(rng.choice([1, -1]))]
        sp = int(rng.choice(len(SPECIES), p=STREET_SHARE / STREET_SHARE.sum()))
        ux, uy = (s.x1 - s.x0) / L, (s.y1 - s.y0) / L
        for side in sides:
            t = np.arange(rng.uniform(8, 12), L - 8, spacing)
            t = t[rng.random(len(t)) > 0.08]                       # gaps: missing trees
            xs += list(s.x0 + ux * t + side * uy * offset + rng.normal(0, 0.25, len(t)))
            ys += list(s.y0 + uy * t - side * ux * offset + rng.normal(0, 0.25, len(t)))
            sps += [sp] * len(t); setting += ["street"] * len(t); seg_ids += [s.segment_id] * len(t)
    # alignments of crossing streets meet at corners: drop the later of two trees under 4.5 m apart
    from scipy.spatial import cKDTree

    drop = {max(i, j) for i, j in cKDTree(np.c_[xs, ys]).query_pairs(4.5)} if xs else set()
    keep = [i for i in range(len(xs)) if i not in drop][:n_street]
    xs, ys, sps = [xs[i] for i in keep], [ys[i] for i in keep], [sps[i] for i in keep]
    setting, seg_ids = [setting[i] for i in keep], [seg_ids[i] for i in keep]

    # park clusters in block interiors
    n_park = n_total - len(xs)
    allx = np.array([c for q in city.quartiers for c, _ in q.polygon])
    ally = np.array([c for q in city.quartiers for _, c in q.polygon])
    # candidate cluster centres, drawn in batches: inside the city, in a block interior
    centres: list[tuple[float, float]] = []
    for _ in range(50):
        if len(centres) >= 4 * (n_park // 10 + 1):
            break
        bx = rng.uniform(allx.min(), allx.max(), 400); by = rng.uniform(ally.min(), ally.max(), 400)
        ok = (city.quartier_of(bx, by) != "") & (_dist_to_segments(bx, by, segs)[0] >= 25)
        centres += list(zip(bx[ok], by[ok]))
    grid: dict[tuple[int, int], list] = {}
    for x, y in zip(xs, ys):
        grid.setdefault((int(x // 6), int(y // 6)), []).append((x, y))
    for cx, cy in centres:
        if n_park <= 0:
            break
        k = int(min(n_park, rng.integers(10, 31)))
        R = math.sqrt(k * 70 / math.pi) + 5
        cand_x = cx + rng.uniform(-R, R, k * 20); cand_y = cy + rng.uniform(-R, R, k * 20)
        near = _segs_near(segs, cx - R, cy - R, cx + R, cy + R, 20)
        ok = np.hypot(cand_x - cx, cand_y - cy) < R
        if len(near):
            ok &= _dist_to_segments(cand_x, cand_y, near)[0] > 10
        ok &= city.quartier_of(cand_x, cand_y) != ""
        placed = 0
        for x, y in zip(cand_x[ok], cand_y[ok]):
            if placed >= k:
                break
            gx, gy = int(x // 6), int(y // 6)
            if any(math.hypot(x - u, y - v) < 5.5 for i in (-1, 0, 1) for j in (-1, 0, 1)
                   for u, v in grid.get((gx + i, gy + j), ())):
                continue   # clusters may touch, trees keep their distance
            grid.setdefault((gx, gy), []).append((x, y))
            xs.append(float(x)); ys.append(float(y))
            sps.append(int(rng.choice(len(SPECIES), p=PARK_SHARE / PARK_SHARE.sum())))
            setting.append("park"); seg_ids.append("")
            placed += 1
        n_park -= placed
    pop = _attributes(rng, np.array(sps, int))
    pop.update({"x": np.array(xs), "y": np.array(ys), "setting": np.array(setting, dtype=object),
                "segment_id": np.array(seg_ids, dtype=object)})
    pop["tree_id"] = np.array([f"TREE-{i + 1:06d}" for i in range(len(xs))], dtype=object)
    return pop


def _second_epoch(pop: dict, city: City, rng) -> tuple[dict, np.ndarray, np.ndarray]:
    """The population a year later: growth, crown loss, new lean, felled and new trees.
    Returns (population 2026 including new trees, felled mask over 2025 trees, new mask)."""
    n = len(pop["x"])
    p = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in pop.items()}
    w = 1 + 4 * (pop["vitality"] >= 2)
    n_felled = int(round(0.02 * n))
    felled = np.zeros(n, bool)
    felled[rng.choice(n, n_felled, replace=False, p=w / w.sum())] = True
    vit = pop["vitality"]
    grow = rng.uniform(0.1, 0.6, n) * (1 - 0.5 * vit / 3)
    p["height"] = pop["height"] + grow
    p["crown_diam"] = pop["crown_diam"] + rng.uniform(0.05, 0.3, n) * (1 - 0.5 * vit / 3)
    p["dbh"] = pop["dbh"] + rng.uniform(0.3, 1.2, n)
    alive_idx = np.flatnonzero(~felled)
    wl = (1 + 2 * vit[alive_idx]).astype(float)
    loss = rng.choice(alive_idx, int(round(0.05 * n)), replace=False, p=wl / wl.sum())
    # a sector of the crown outside its core (r > 0.3 a) dies back: 15-40 % of the projected area
    p["loss_frac"][loss] = rng.uniform(0.15, 0.4, len(loss)) / 0.91
    p["loss_az"][loss] = rng.uniform(0, 360, len(loss))
    p["vitality"][loss] = np.minimum(3, vit[loss] + 1)
    p["transparency"][loss] = np.clip(TRANSPARENCY[p["vitality"][loss]] + rng.normal(0, 0.03, len(loss)), 0.02, 0.8)
    p["dieback"][loss] = np.maximum(pop["dieback"][loss], DIEBACK[p["vitality"][loss]])
    rest = np.setdiff1d(alive_idx, loss)
    lean_new = rng.choice(rest, max(1, int(round(0.01 * n))), replace=False)
    p["lean"][lean_new] = rng.uniform(8, 20, len(lean_new))
    p["lean_az"][lean_new] = rng.uniform(0, 360, len(lean_new))

    # new young trees: along streets, away from existing trees
    segs = _seg_arrays(city)
    n_new = int(round(0.03 * n))
    nx, ny, nsp, nseg = [], [], [], []
    tries = 0
    lined = sorted(set(pop["segment_id"][pop["setting"] == "street"]))
    by_id = {s.segment_id: s for s in city.segments}
    candidates = [by_id[k] for k in lined] or city.segments
    while len(nx) < n_new and tries < n_new * 50:
        tries += 1   # infill planting along streets that already have trees
        s = candidates[int(rng.integers(len(candidates)))]
        L = s.length_m
        if L < 30:
            continue
        t = rng.uniform(10, L - 10); side = rng.choice([1, -1]); off = rng.uniform(5, 7)
        ux, uy = (s.x1 - s.x0) / L, (s.y1 - s.y0) / L
        x, y = s.x0 + ux * t + side * uy * off, s.y0 + uy * t - side * ux * off
        if np.min(np.hypot(np.r_[pop["x"], nx] - x, np.r_[pop["y"], ny] - y)) < 5:
            continue
        nx.append(x); ny.append(y); nseg.append(s.segment_id)
        nsp.append(int(rng.choice(len(SPECIES), p=STREET_SHARE / STREET_SHARE.sum())))
    young = _attributes(rng, np.array(nsp, int), young=True)
    young.update({"x": np.array(nx), "y": np.array(ny), "setting": np.array(["street"] * len(nx), dtype=object),
                  "segment_id": np.array(nseg, dtype=object),
                  "tree_id": np.array([f"TREE-{n + i + 1:06d}" for i in range(len(nx))], dtype=object)})
    merged = {k: np.concatenate([p[k], young[k]]) for k in p}
    new = np.r_[np.zeros(n, bool), np.ones(len(nx), bool)]
    return merged, felled, new


def crown_geometry(pop: dict, zbase: np.ndarray) -> dict:
    """Crown centre (leaned), radius and projected area per tree."""
    lean = np.radians(pop["lean"]); az = np.radians(pop["lean_az"])
    depth = pop["height"] - pop["crown_base"]
    hc = pop["crown_base"] + depth / 2
    cx = pop["x"] + np.tan(lean) * hc * np.sin(az)
    cy = pop["y"] + np.tan(lean) * hc * np.cos(az)
    a = pop["crown_diam"] / 2
    th = np.linspace(0, 2 * np.pi, 360, endpoint=False)[None, :]
    r = _radius(pop, a[:, None], th)
    lost = _in_lost_sector(pop["loss_frac"][:, None], pop["loss_az"][:, None], th)
    r = np.where(lost, np.minimum(r, 0.3 * a[:, None]), r)
    area = 0.5 * (r ** 2).sum(1) * (2 * np.pi / 360)
    return {"cx": cx, "cy": cy, "a": a, "rmax": a * 1.25 + 0.5, "area": area, "zbase": zbase}


def _radius(T: dict, a, th, idx=None):
    """Crown radius as a function of the math angle `th`: lobed for broadleaves and pines, a star
    of fronds for palms. `idx` picks one tree; without it, arrays broadcast as (trees, angles)."""
    if idx is None:
        g = lambda k: T[k][:, None]  # noqa: E731
    else:
        g = lambda k: T[k][idx]  # noqa: E731
    palm = _SHAPE[g("species")] == 2
    lobes = 1 + g("e1") * np.cos(2 * th + g("p1")) + g("e2") * np.cos(3 * th + g("p2"))
    star = 0.3 + 0.7 * np.abs(np.cos(g("fronds") * th / 2 + g("p1"))) ** 2.5
    return a * np.where(palm, star, lobes)


def _in_lost_sector(frac, loss_az_deg, th):
    """True where the math angle `th` falls in the sector a crown lost (centred on `loss_az`)."""
    az = np.radians(90 - loss_az_deg)                # compass azimuth -> math angle
    d = np.abs((th - az + np.pi) % (2 * np.pi) - np.pi)
    return (frac > 0) & (d < frac * np.pi)


# --------------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------------

def _buildings(city: City, ix: int, iy: int, trees_xy_r: np.ndarray, segs: np.ndarray) -> list[tuple]:
    """Boxes away from streets and tree crowns, fully inside the tile (same for both epochs)."""
    rng = np.random.default_rng(sub_seed(city.seed, "trees-buildings") + [ix, iy])
    x0, y0 = ix * TILE_M, iy * TILE_M
    K = 220
    w = rng.uniform(10, 30, K); l = rng.uniform(10, 24, K)
    half = np.hypot(w, l) / 2
    cx = rng.uniform(x0, x0 + TILE_M, K); cy = rng.uniform(y0, y0 + TILE_M, K)
    near = _segs_near(segs, x0, y0, x0 + TILE_M, y0 + TILE_M, 60)
    ok = (cx - half > x0 + 2) & (cx + half < x0 + TILE_M - 2) & (cy - half > y0 + 2) & (cy + half < y0 + TILE_M - 2)
    if len(near):
        d, k, _ = _dist_to_segments(cx, cy, near)
        ok &= d > half + 9
        ang = np.arctan2(near[k, 3] - near[k, 1], near[k, 2] - near[k, 0])
    else:
        ang = np.zeros(K)
    if len(trees_xy_r):
        tx, ty, tr = trees_xy_r[:, 0], trees_xy_r[:, 1], trees_xy_r[:, 2]
        dt = np.hypot(cx[:, None] - tx[None, :], cy[:, None] - ty[None, :]) - tr[None, :]
        ok &= (dt - half[:, None]).min(1) > 2
    ok &= city.quartier_of(cx, cy) != ""
    out: list[tuple] = []
    for i in np.flatnonzero(ok):
        if any(math.hypot(cx[i] - b[0], cy[i] - b[1]) < (half[i] + b[6]) * 0.85 for b in out):
            continue
        h = float(rng.uniform(6, 25))
        gable = bool(rng.random() < 0.4)
        out.append((float(cx[i]), float(cy[i]), float(w[i] / 2), float(l[i] / 2), float(ang[i]), h, float(half[i]),
                    gable, float(rng.uniform(0.25, 0.45))))
    return out


# --------------------------------------------------------------------------------------------
# One tile of one epoch
# --------------------------------------------------------------------------------------------

def _gps_t0(day: date) -> float:
    """Adjusted standard GPS time (GPS seconds - 1e9) at 09:00 UTC on `day`."""
    utc = datetime(day.year, day.month, day.day, 9, 0, tzinfo=timezone.utc)
    gps_epoch = datetime(1980, 1, 6, tzinfo=timezone.utc)
    return (utc - gps_epoch).total_seconds() + 18 - 1e9


def tile_points(job: dict) -> dict:
    """Simulate the returns of one tile: arrays x, y, z, class, intensity, return numbers, time."""
    rng = np.random.default_rng(job["seed_seq"])
    x0, y0 = job["ix"] * TILE_M, job["iy"] * TILE_M
    seed = job["seed"]
    d_pulse = job["density"] * 0.96   # multiple returns under crowns bring the total to about `density`
    n = int(rng.poisson(d_pulse * TILE_M * TILE_M))
    px = np.sort(rng.uniform(x0, x0 + TILE_M, n))
    py = rng.uniform(y0, y0 + TILE_M, n)
    zg = terrain_z(px, py, seed)

    # roofs
    roof = np.full(n, np.nan)
    for (bx, by, hw, hl, ang, h, half, gable, pitch) in job["buildings"]:
        lo, hi = np.searchsorted(px, [bx - half, bx + half])
        if hi <= lo:
            continue
        dx, dy = px[lo:hi] - bx, py[lo:hi] - by
        u = dx * math.cos(ang) + dy * math.sin(ang)
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        inside = (np.abs(u) <= hw) & (np.abs(v) <= hl)
        base = float(terrain_z(bx, by, seed))
        z = base + h + (pitch * (hl - np.abs(v)) * min(1.0, 6.0 / hl) if gable else 0.0)
        seg = roof[lo:hi]
        seg[inside] = (z if np.isscalar(z) else z[inside]) + rng.normal(0, 0.03, inside.sum())

    # crowns: keep the highest crown surface above each pulse
    T = job["trees"]
    top = np.full(n, -np.inf); bot = np.zeros(n); trans = np.zeros(n); has = np.zeros(n, bool)
    for j in range(len(T["x"])):
        cx, cy, rmax = T["cx"][j], T["cy"][j], T["rmax"][j]
        lo, hi = np.searchsorted(px, [cx - rmax, cx + rmax])
        if hi <= lo:
            continue
        sl = np.arange(lo, hi)
        sl = sl[np.abs(py[lo:hi] - cy) < rmax]
        if not len(sl):
            continue
        dx, dy = px[sl] - cx, py[sl] - cy
        th = np.arctan2(dy, dx)
        r = np.hypot(dx, dy)
        a = _radius(T, T["a"][j], th, idx=j)
        rho = r / a
        inside = rho < 1
        if T["loss_frac"][j] > 0:
            inside &= ~(_in_lost_sector(T["loss_frac"][j], T["loss_az"][j], th) & (r > 0.3 * T["a"][j]))
        if not inside.any():
            continue
        sl, rho = sl[inside], rho[inside]
        zb, H, cb = T["zbase"][j], T["height"][j], T["crown_base"][j]
        D = H - cb
        shape = _SHAPE[T["species"][j]]
        if shape == 0:
            q = np.sqrt(np.clip(1 - rho ** 2, 0, 1))
            zt = zb + cb + D / 2 + D / 2 * q
            zl = zb + cb + D / 2 - D / 2 * q
        elif shape == 1:
            zt = zb + H - 0.45 * D * rho ** 2.5
            zl = zb + cb + 0.35 * D * (1 - rho ** 2)
        else:
            zt = zb + H - 0.45 * D * rho ** 1.6
            zl = np.maximum(zt - 0.5 - 0.8 * (1 - rho), zb + cb)
        zt = zt + rng.normal(0, 0.15, len(sl))
        upd = zt > top[sl]
        sl, zt, zl = sl[upd], zt[upd], zl[upd]
        top[sl], bot[sl], has[sl] = zt, np.minimum(zl, zt - 0.2), True
        dead = zt > zb + H - T["dieback"][j] * D
        trans[sl] = np.where(dead, 0.85, T["transparency"][j])

    # returns
    u = rng.random((4, n))
    hit = has & (u[0] > trans)
    interior = hit & (u[1] < 0.45)
    ground_after = hit & (u[2] < 0.3 + 0.6 * trans)
    through = has & ~hit
    through_int = through & (u[3] < 0.25)
    zi = bot + (top - 0.3 - bot) * rng.random(n)
    zi = np.where(np.isfinite(zi), zi, zg)
    zground = zg + rng.normal(0, 0.03, n)
    on_roof = ~has & np.isfinite(roof)

    # first returns
    z1 = np.where(hit, top - np.abs(rng.normal(0, 0.1, n)), np.where(through_int, zi, np.where(on_roof, roof, zground)))
    c1 = np.where(hit | through_int, 5, np.where(on_roof, 6, 2))
    nret = 1 + (hit & (interior | ground_after)) + (interior & ground_after) + through_int
    # second returns
    m2 = nret >= 2
    z2 = np.where(interior, zi, zground)
    c2 = np.where(interior, 5, 2)
    m3 = nret == 3
    # stems of trees whose stem base is in this tile
    sx, sy, sz = [], [], []
    for j in range(len(T["x"])):
        if not (x0 <= T["x"][j] < x0 + TILE_M and y0 <= T["y"][j] < y0 + TILE_M):
            continue
        vis = T["crown_base"][j] - 0.5
        k = int(rng.poisson(max(0.0, d_pulse * vis * 0.35)))
        if k == 0:
            continue
        hz = rng.uniform(0.5, T["crown_base"][j], k)
        la, az = math.radians(T["lean"][j]), math.radians(T["lean_az"][j])
        rr = T["dbh"][j] / 200 * np.sqrt(rng.random(k)); aa = rng.uniform(0, 2 * np.pi, k)
        sx.append(T["x"][j] + math.tan(la) * hz * math.sin(az) + rr * np.cos(aa))
        sy.append(T["y"][j] + math.tan(la) * hz * math.cos(az) + rr * np.sin(aa))
        sz.append(T["zbase"][j] + hz)
    sx = np.concatenate(sx) if sx else np.zeros(0)
    sy = np.concatenate(sy) if sy else np.zeros(0)
    sz = np.concatenate(sz) if sz else np.zeros(0)
    keep_s = (sx >= x0) & (sx < x0 + TILE_M) & (sy >= y0) & (sy < y0 + TILE_M)
    sx, sy, sz = sx[keep_s], sy[keep_s], sz[keep_s]
    ns = len(sx)
    szg = terrain_z(sx, sy, seed) + rng.normal(0, 0.03, ns)
    # noise: birds and multipath
    nn = int(rng.poisson(n * 0.0003))
    nx_ = rng.uniform(x0, x0 + TILE_M, nn); ny_ = rng.uniform(y0, y0 + TILE_M, nn)
    high = rng.random(nn) < 0.5
    nz_ = terrain_z(nx_, ny_, seed) + np.where(high, rng.uniform(40, 250, nn), -rng.uniform(2, 25, nn))

    # assemble: first returns, second, third, stem hits and the ground below them, noise
    X = np.concatenate([px, px[m2], px[m3], sx, sx, nx_])
    Y = np.concatenate([py, py[m2], py[m3], sy, sy, ny_])
    Z = np.concatenate([z1, z2[m2], zground[m3], sz, szg, nz_])
    C = np.concatenate([c1, c2[m2], np.full(m3.sum(), 2), np.full(ns, 5), np.full(ns, 2), np.full(nn, 7)])
    RN = np.concatenate([np.ones(n), np.full(m2.sum(), 2), np.full(m3.sum(), 3),
                         np.ones(ns), np.full(ns, 2), np.ones(nn)])
    NR = np.concatenate([nret, nret[m2], nret[m3], np.full(ns, 2), np.full(ns, 2), np.ones(nn)])
    PX = np.concatenate([px, px[m2], px[m3], sx, sx, nx_])   # pulse position (time keys)
    PY = np.concatenate([py, py[m2], py[m3], sy, sy, ny_])

    # intensity by what was hit and by return rank
    base = np.select([C == 2, C == 6, C == 5, C == 7], [18000.0, 24000.0, 12500.0, 4000.0], 15000.0)
    spread = np.select([C == 2, C == 6, C == 5], [3500.0, 5000.0, 3000.0], 2500.0)
    inten = (base + spread * rng.standard_normal(len(C))) / np.where(RN > 1, 1.0 + 0.6 * (RN - 1), 1.0)
    inten = np.clip(inten, 50, 65535).astype(np.uint16)

    # time along east-west flight strips (alternating direction)
    strip = np.floor((PY - STRIP_ORIGIN[1]) / STRIP_W_M).astype(np.int64)
    along = np.where(strip % 2 == 0, PX - STRIP_ORIGIN[0], 12000.0 - (PX - STRIP_ORIGIN[0]))
    t = job["t0"] + strip * 300.0 + along / PLANE_SPEED + (PY - STRIP_ORIGIN[1] - strip * STRIP_W_M) * 1e-6
    centre = STRIP_ORIGIN[1] + (strip + 0.5) * STRIP_W_M
    scan = np.degrees(np.arctan2(PY - centre, FLIGHT_ALT_M))
    order = np.lexsort((RN, t))
    cls = C[order].astype(np.uint8)
    if not job["classified"]:
        cls = np.where(cls == 7, 7, 1).astype(np.uint8)
    # keep every point inside the tile once quantised to the 1 cm grid
    X = np.clip(X, x0, x0 + TILE_M - 0.01)
    Y = np.clip(Y, y0, y0 + TILE_M - 0.01)
    return {"x": X[order], "y": Y[order], "z": Z[order], "classification": cls, "intensity": inten[order],
            "return_number": RN[order].astype(np.uint8), "number_of_returns": NR[order].astype(np.uint8),
            "gps_time": t[order], "scan_angle": np.round(scan[order] / 0.006).astype(np.int16),
            "point_source_id": (strip[order] + 1).astype(np.uint16),
            "scan_direction_flag": (strip[order] % 2).astype(np.uint8)}


def _laz_bytes(pts: dict, x0: float, y0: float, day: date) -> bytes:
    from pyproj import CRS

    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets = [x0, y0, 0.0]
    header.scales = [0.01, 0.01, 0.01]
    header.add_crs(CRS.from_epsg(2154))
    header.creation_date = day
    header.system_identifier = "SIMULATED ALS"
    header.generating_software = "cannes-lakehouse simulator"
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    las = laspy.LasData(header)
    las.x, las.y, las.z = pts["x"], pts["y"], pts["z"]
    for k in ("classification", "intensity", "return_number", "number_of_returns", "gps_time",
              "scan_angle", "point_source_id", "scan_direction_flag"):
        las[k] = pts[k]
    buf = io.BytesIO()
    las.write(buf, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    return buf.getvalue()


def _run_tile(job: dict) -> tuple:
    pts = tile_points(job)
    data = _laz_bytes(pts, job["ix"] * TILE_M, job["iy"] * TILE_M, job["day"])
    written = atomic_write_bytes(Path(job["path"]), data)
    cls, cnt = np.unique(pts["classification"], return_counts=True)
    return job["epoch"], job["tile_id"], len(pts["x"]), written, dict(zip(cls.tolist(), cnt.tolist()))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_TREE_KEYS = ("x", "y", "species", "height", "crown_base", "dbh", "lean", "lean_az", "transparency",
              "dieback", "loss_frac", "loss_az", "e1", "e2", "p1", "p2", "fronds")


def tile_id(ix: int, iy: int) -> str:
    return f"L93_{int(ix * TILE_M)}_{int(iy * TILE_M)}"


def _workers(n_tasks: int) -> int:
    env = os.environ.get("SIM_WORKERS")
    if env:
        return max(1, int(env))
    return 1 if n_tasks < PARALLEL_FROM_TASKS else max(1, min(os.cpu_count() or 1, 8))


def simulate_trees(city: City, landing: Path, truth: Path) -> dict:
    """Write LiDAR tiles for both epochs, the 2019 register, and the tree truth. Returns counts."""
    landing, truth = Path(landing), Path(truth)
    rng = np.random.default_rng(sub_seed(city.seed, "trees"))
    pop25 = _place_population(city, rng)
    pop26, felled, new = _second_epoch(pop25, city, rng)
    segs = _seg_arrays(city)
    n25 = len(pop25["x"])
    alive = {"2025": np.ones(n25, bool), "2026": np.r_[~felled, np.ones(new.sum(), bool)]}
    pops = {"2025": pop25, "2026": pop26}
    geo = {e: crown_geometry(p, terrain_z(p["x"], p["y"], city.seed)) for e, p in pops.items()}

    # tiles per epoch (those holding a living tree) and buildings per tile
    tiles = {e: sorted({(int(x // TILE_M), int(y // TILE_M))
                        for x, y in zip(pops[e]["x"][alive[e]], pops[e]["y"][alive[e]])}) for e in pops}
    all_xyr = np.concatenate([np.stack([geo[e]["cx"][alive[e]], geo[e]["cy"][alive[e]], geo[e]["rmax"][alive[e]]], 1)
                              for e in pops])
    buildings = {}
    for ix, iy in sorted(set(tiles["2025"]) | set(tiles["2026"])):
        m = ((all_xyr[:, 0] > ix * TILE_M - 40) & (all_xyr[:, 0] < (ix + 1) * TILE_M + 40)
             & (all_xyr[:, 1] > iy * TILE_M - 40) & (all_xyr[:, 1] < (iy + 1) * TILE_M + 40))
        buildings[(ix, iy)] = _buildings(city, ix, iy, all_xyr[m], segs)

    jobs = []
    for (epoch, day), ei in zip(EPOCHS, range(len(EPOCHS))):
        P, G, A = pops[epoch], geo[epoch], alive[epoch]
        for ix, iy in tiles[epoch]:
            m = A & (G["cx"] + G["rmax"] > ix * TILE_M) & (G["cx"] - G["rmax"] < (ix + 1) * TILE_M) \
                & (G["cy"] + G["rmax"] > iy * TILE_M) & (G["cy"] - G["rmax"] < (iy + 1) * TILE_M)
            trees = {k: P[k][m] for k in _TREE_KEYS}
            trees.update({k: G[k][m] for k in ("cx", "cy", "a", "rmax", "zbase")})
            trees["fronds"] = trees["fronds"].astype(float)
            trees["species"] = trees["species"].astype(int)
            tid = tile_id(ix, iy)
            jobs.append({"epoch": epoch, "day": day, "ix": ix, "iy": iy, "tile_id": tid, "trees": trees,
                         "buildings": buildings[(ix, iy)], "seed": city.seed,
                         "seed_seq": sub_seed(city.seed, "trees-tiles") + [ei, ix, iy],
                         "density": city.profile.lidar_density, "t0": _gps_t0(day),
                         "classified": epoch == EPOCHS[0][0],
                         "path": str(landing / "trees" / "tiles" / epoch / f"{tid}.laz")})
    nw = _workers(len(jobs))
    if nw > 1:
        # spawned, not forked: no parent thread state (lock held by another thread) is inherited
        with ProcessPoolExecutor(max_workers=nw, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run_tile, jobs, chunksize=1))
    else:
        results = [_run_tile(j) for j in jobs]

    stats = {"trees_2025": int(n25), "trees_2026": int(alive["2026"].sum()), "felled": int(felled.sum()),
             "new": int(new.sum()), "tiles_2025": len(tiles["2025"]), "tiles_2026": len(tiles["2026"]),
             "points": int(sum(r[2] for r in results)), "tiles_written": int(sum(r[3] for r in results)),
             "buildings": int(sum(len(b) for b in buildings.values()))}
    _write_truth(city, pops, geo, alive, felled, new, truth)
    stats["register_rows"] = _write_register(city, pop25, segs, rng, landing, truth)
    from .tree_inspections import write_inspections

    stats["inspection_records"] = write_inspections(city, pops, alive, landing)
    return stats


def _write_truth(city, pops, geo, alive, felled, new, truth: Path) -> None:
    cols = ["tree_id", "epoch", "status", "x_2154", "y_2154", "species", "height_m", "crown_base_m",
            "crown_diameter_m", "dbh_cm", "lean_deg", "lean_azimuth_deg", "vitality", "quartier",
            "crown_area_m2", "crown_loss_pct", "ground_z", "setting", "segment_id", "tile_id"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    n25 = len(pops["2025"]["x"])
    for epoch, _ in EPOCHS:
        P, G = pops[epoch], geo[epoch]
        q = city.quartier_of(P["x"], P["y"])
        for i in range(len(P["x"])):
            if epoch == "2025":
                status = "alive"
            else:
                status = "felled" if i < n25 and felled[i] else ("new" if new[i] else "alive")
            row = [P["tree_id"][i], epoch, status, f"{P['x'][i]:.2f}", f"{P['y'][i]:.2f}",
                   SPECIES[P["species"][i]][0]]
            if status == "felled":   # gone: position and species kept, no measures
                row += [""] * 6 + ["", q[i], "", ""]
            else:
                loss = 0.0
                if epoch != "2025" and i < n25 and P["loss_frac"][i] > 0:
                    loss = 100 * (1 - G["area"][i] / geo["2025"]["area"][i])
                row += [f"{P['height'][i]:.2f}", f"{P['crown_base'][i]:.2f}", f"{P['crown_diam'][i]:.2f}",
                        f"{P['dbh'][i]:.1f}", f"{P['lean'][i]:.1f}", f"{P['lean_az'][i]:.1f}",
                        VITALITY[P["vitality"][i]], q[i], f"{G['area'][i]:.1f}", f"{loss:.1f}"]
            row += [f"{G['zbase'][i]:.2f}", P["setting"][i], P["segment_id"][i],
                    tile_id(int(P["x"][i] // TILE_M), int(P["y"][i] // TILE_M))]
            w.writerow(row)
    atomic_write_text(truth / "trees" / "trees.csv", buf.getvalue())


def _write_register(city, pop, segs, rng, landing: Path, truth: Path) -> int:
    """The city's 2019 register: a few hundred trees, positions to ~1.5 m, heights of 2019."""
    n = len(pop["x"])
    k = min(200, n // 3)
    pick = rng.choice(n, k, replace=False)
    ex, ey = rng.normal(0, 1.2, k), rng.normal(0, 1.2, k)
    lon, lat = to_wgs84(pop["x"][pick] + ex, pop["y"][pick] + ey)
    d, si, t = _dist_to_segments(pop["x"][pick], pop["y"][pick], segs)
    rows = ["id_arbre;espece;nom_commun;lat;lon;annee_plantation;hauteur_m;circonference_cm;adresse"]
    trows = ["id_arbre,tree_id,position_error_m"]
    for j, i in enumerate(pick):
        sp = pop["species"][i]
        H = pop["height"][i]
        h19 = max(1.5, H - 6 * GROWTH_M_PER_YEAR[sp] * rng.uniform(0.6, 1.2))
        dbh19 = pop["dbh"][i] * (h19 / H) ** 1.1
        age = H / GROWTH_M_PER_YEAR[sp] * rng.uniform(0.7, 1.3)
        year = "" if rng.random() < 0.05 else str(int(max(1900, min(2017, 2025 - age))))
        s = city.segments[si[j]]
        L = s.length_m
        side = np.sign((s.x1 - s.x0) * (pop["y"][i] - s.y0) - (s.y1 - s.y0) * (pop["x"][i] - s.x0))
        num = 2 * int(t[j] * L / 12) + (1 if side > 0 else 2)
        rid = f"ARB-2019-{j + 1:04d}"
        rows.append(";".join([rid, SPECIES[sp][0], SPECIES[sp][1], f"{lat[j]:.6f}", f"{lon[j]:.6f}", year,
                              f"{round(h19 * 2) / 2:.1f}", str(int(round(math.pi * dbh19 / 5) * 5)),
                              f"{num} {s.street_name}"]))
        trows.append(f"{rid},{pop['tree_id'][i]},{math.hypot(ex[j], ey[j]):.2f}")
    atomic_write_text(landing / "trees" / "register" / "registre_arbres_2019.csv", "\n".join(rows) + "\n")
    atomic_write_text(truth / "trees" / "register_truth.csv", "\n".join(trows) + "\n")
    return k

