"""Which evidence a scene's trees are found from: stems first, or canopy tops first.

The stem-first path (:func:`models.trees.stem_first.fuse_stems`) makes every stem a tree and drops a
canopy top a stem is near as an extra maximum of its crown. That is right where the scan resolves
stems (an urban scan seen from several flight lines: nearly every stem is a column of returns
under a crown top), and wrong where it does not: on a real closed conifer canopy at 4-8 pts/m²
(NEON TEAK) the "stems" are mostly understorey clusters of 2-4 returns, and the stem-first path
threw away correct tops as "extra maxima" (F 0.33 against 0.45 for a plain local-maximum filter).

:func:`scene_evidence` measures, on the scene's own data, whether its stems are resolved:

* *column stems*: stem clusters of at least ``column_min_points`` returns spanning at least
  ``column_min_span`` m vertically (a stem seen by the scanner, not a shrub's two returns);
* ``stem_share``: the share of all stem clusters that are column stems standing within
  ``top_search`` m of a canopy top of ``column_top_min_h`` m or more (understorey clusters lower
  it);
* ``top_share``: the share of those canopy tops with a column stem within ``top_search`` m (a
  closed canopy hides its stems and lowers it).

The stem-first path is taken when the mean of the two shares reaches ``stems_resolved_share`` (0.4:
simulated city tiles read 0.5-1.0 with two exceptions, the real NEON plots 0.0-0.33), when the
scene has fewer than ``evidence_min_tops`` tops (nothing to decide on), or when its canopy is open
(cover, the share of cells above ``hmin``, under ``canopy_min_cover``: 0.15; the simulated demo
tiles are at 0.2-5 %, the NEON plots at 28-84 %): crowns apart from each other lose nothing to
the stem-first rule, which keeps a top farther than ``lone_radius`` m from every stem as a tree
(two sparse simulated tiles, 0.3-0.6 % cover, read shares of 0.17-0.33 from a few stems and tops
there). Otherwise the canopy-first path (:func:`canopy_first`): every canopy top is a tree (a
top that no stem can claim stays a tree), found by the local-maximum filter with a
height-dependent window, and a column stem within ``canopy_stem_gate`` m of a top gives that
tree its position. Point density is reported beside (with the cover and the path it feeds the
applicability domain of the height correction and the crown-form species), not used here.
"""

from __future__ import annotations

import numpy as np

from models.lidar.lmf import locate_trees_raster

STEM_FIRST = "stem-first"
CANOPY_FIRST = "canopy-first"
#: per-scene facts copied onto each of its trees (the path taken and what chose it)
SCENE_COLUMNS = ("detection_path", "scene_point_density", "scene_canopy_cover", "scene_stem_share",
                 "scene_top_share")


def stem_columns(ux: np.ndarray, uy: np.ndarray, uh: np.ndarray, stems: dict, cfg) -> np.ndarray:
    """Per stem cluster, whether its returns form a column: at least ``column_min_points``
    understorey returns within ``stem_link`` m of its base spanning ``column_min_span`` m of
    height inside the stem band."""
    from scipy.spatial import cKDTree

    n = len(stems["x"])
    out = np.zeros(n, bool)
    m = (uh > cfg.stems.stem_band[0]) & (uh < cfg.stems.stem_band[1])
    if not n or not m.any():
        return out
    x, y, h = ux[m], uy[m], uh[m]
    kd = cKDTree(np.c_[x, y])
    for s, idx in enumerate(kd.query_ball_point(np.c_[stems["x"], stems["y"]], cfg.stems.stem_link)):
        if len(idx) >= cfg.canopy.column_min_points:
            hh = h[idx]
            out[s] = hh.max() - hh.min() >= cfg.canopy.column_min_span
    return out


def scene_evidence(chm: np.ndarray, smooth: np.ndarray, m, stems: dict, tops, core_bounds: tuple, cfg) -> dict:
    """The scene's statistics (inside ``core_bounds``) and the detection path they choose."""
    from scipy.spatial import cKDTree

    x0, y0, x1, y1 = core_bounds
    res = m.res
    nr, nc = chm.shape
    xs = m.xmin + (np.arange(nc) + 0.5) * res
    ys = m.ymax - (np.arange(nr) + 0.5) * res
    cc = (xs >= x0) & (xs < x1)
    rr = (ys > y0) & (ys <= y1)
    core = np.ix_(rr, cc)
    seen = m.n_first[core] > 0
    density = float(m.n_first[core][seen].sum() / (seen.sum() * res * res)) if seen.any() else 0.0
    cover = float((chm[core] > cfg.hmin).mean()) if seen.any() else 0.0
    tx, ty, tz = tops.x, tops.y, tops.z
    big = (tz >= cfg.canopy.column_top_min_h) & (tx >= x0) & (tx < x1) & (ty > y0) & (ty <= y1)
    sx, sy = stems["x"], stems["y"]
    sin = (sx >= x0) & (sx < x1) & (sy > y0) & (sy <= y1)
    col = stem_columns(m.under_x, m.under_y, m.under_h, stems, cfg)
    n_tops, n_stems = int(big.sum()), int(sin.sum())
    top_share = stem_share = float("nan")
    if n_tops and n_stems:
        cs = np.flatnonzero(col)
        if cs.size:
            d_top, _ = cKDTree(np.c_[sx[cs], sy[cs]]).query(np.c_[tx[big], ty[big]])
            top_share = float((d_top <= cfg.seeds.top_search).mean())
            d_st, _ = cKDTree(np.c_[tx[big], ty[big]]).query(np.c_[sx, sy])
            stem_share = float((col & sin & (d_st <= cfg.seeds.top_search)).sum() / n_stems)
        else:
            top_share = stem_share = 0.0
    elif n_tops:
        top_share = stem_share = 0.0
    if n_tops < cfg.canopy.evidence_min_tops or not cfg.canopy.canopy_switch or cover < cfg.canopy.canopy_min_cover:
        path = STEM_FIRST
    else:
        path = STEM_FIRST if (top_share + stem_share) / 2 >= cfg.canopy.stems_resolved_share else CANOPY_FIRST
    return {"detection_path": path, "scene_point_density": round(density, 2), "scene_canopy_cover": round(cover, 3),
            "scene_stem_share": round(stem_share, 3), "scene_top_share": round(top_share, 3),
            "scene_tops": n_tops, "scene_stems": n_stems}


def canopy_tops(smooth: np.ndarray, m, cfg):
    """The canopy-first path's tops: lidR's local-maximum filter with ``canopy_ws`` m (a fixed
    window: chosen on the tuning plots of bench/trees_real.py, where it beat the height-dependent
    windows tried) on the smoothed CHM, ``hmin``."""
    if cfg.canopy.canopy_ws_b:
        def ws(z):
            return np.clip(cfg.canopy.canopy_ws + cfg.canopy.canopy_ws_b * z, cfg.canopy.canopy_ws, cfg.canopy.canopy_ws_hi)
    else:
        ws = cfg.canopy.canopy_ws
    return locate_trees_raster(smooth, xmin=m.xmin, ymax=m.ymax, res=m.res, ws=ws, hmin=cfg.hmin)


def canopy_first(chm: np.ndarray, tops, m, stems: dict, cfg, apex) -> tuple:
    """Seeds of the canopy-first path: every top is a tree; the nearest column stem within
    ``canopy_stem_gate`` m of a top (one stem per top, nearest pairs first) gives its position.
    ``apex(r, c)`` reads a seed's height. Returns rows, cols, stem of each seed (-1: none),
    occluded flags (none: every tree here was seen on its own top) and apex heights."""
    nc = chm.shape[1]
    rows, cols = np.divmod(tops.index, nc)
    k = len(rows)
    stem_of = np.full(k, -1)
    col = stem_columns(m.under_x, m.under_y, m.under_h, stems, cfg)
    cs = np.flatnonzero(col)
    if k and cs.size:
        d = np.hypot(tops.x[:, None] - stems["x"][cs][None], tops.y[:, None] - stems["y"][cs][None])
        taken = set()
        for flat in np.argsort(d, axis=None):
            i, j = divmod(int(flat), cs.size)
            if d[i, j] > cfg.canopy.canopy_stem_gate:
                break
            if stem_of[i] < 0 and j not in taken:
                stem_of[i] = cs[j]
                taken.add(j)
    h = np.array([apex(r, c) for r, c in zip(rows, cols)], float) if k else np.zeros(0)
    return rows.astype(np.int64), cols.astype(np.int64), stem_of, np.zeros(k, bool), h
