"""Per-tree measures of a tile: crowns grown from the seeds and every tree's metrics
(:func:`measure_trees`; columns :data:`TREE_COLUMNS`, units in docs/trees.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.lidar.crowns import crown_boundary, dalponte2016
from models.lidar.tiles import TileRasters
from models.trees.apex import sector_apex
from models.trees.detect_config import DetectConfig
from models.trees.stems import stem_lean

__all__ = ["TreeSeeds", "measure_trees", "TREE_COLUMNS"]

TREE_COLUMNS = ("top_x", "top_y", "x", "y", "height_m", "crown_area_m2", "crown_diameter_m", "crown_volume_m3",
                "crown_base_m", "gap_fraction", "top_gap_fraction", "lean_deg", "lean_azimuth_deg",
                "stem_points", "crown_contact_share", "crown_cells", "crown_star_ratio", "crown_layer_depth_m",
                "position_source", "occluded", "height_reading")


@dataclass(frozen=True)
class TreeSeeds:
    """A tile's crown seeds (cells ``rows``, ``cols``) and what is known of each tree before its
    crown is measured: its stem (``stem_of``, -1: none), whether its top is hidden (``occluded``),
    its apex height (``apex_h``) and whether that was read on what shows of its own crown beside a
    taller neighbour covering it (``covered``)."""
    rows: np.ndarray
    cols: np.ndarray
    stem_of: np.ndarray
    occluded: np.ndarray
    apex_h: np.ndarray
    covered: np.ndarray


@dataclass(frozen=True)
class _Cells:
    """The crown cells of a tile: label ``L`` (1..k) of each, its centre (``cx``, ``cy``) and
    canopy height ``h``, whether it lies on its crown's boundary (``bflat``) or on its free
    boundary (``free``: not shared with a neighbour's crown), its distance to its crown's top plus
    ``edge_offset`` (``rad``); per label 0..k: cells ``n``, area, top centre (``tx``, ``ty``)."""
    inside: np.ndarray
    L: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    h: np.ndarray
    bflat: np.ndarray
    free: np.ndarray
    rad: np.ndarray
    k: int
    n: np.ndarray
    area: np.ndarray
    tx: np.ndarray
    ty: np.ndarray


def _label_quantile(labels: np.ndarray, values: np.ndarray, k: int, q: float, fill: float,
                    min_n: int = 1) -> np.ndarray:
    """Per crown label 0..k, the ``q`` quantile of ``values`` (``fill`` where fewer than ``min_n``)."""
    out = np.full(k + 1, fill, dtype=float)
    if labels.size:
        o = np.lexsort((values, labels))
        ls, vs = labels[o], values[o]
        st = np.searchsorted(ls, np.arange(k + 2))
        for i in np.flatnonzero(np.diff(st) >= min_n):
            out[i] = np.quantile(vs[st[i]:st[i + 1]], q)
    return out


def measure_trees(m: TileRasters, chm: np.ndarray, seeds: TreeSeeds, stems: dict, core_bounds: tuple,
                  cfg: DetectConfig, moved: np.ndarray) -> tuple[dict, dict]:
    """Crowns from the seeds and every tree's metrics (those whose top lies in ``core_bounds``);
    also, per leaning stem whose crown stands off its base, the seed cell and apex found there
    (``{seed index: (row, col, height)}``; none for the seeds already ``moved`` there)."""
    res = m.res
    rows, cols = seeds.rows, seeds.cols
    lab = np.zeros(chm.shape, np.int32)
    if len(rows):
        lab = dalponte2016(chm, np.c_[rows, cols], res, th_tree=cfg.crowns.th_tree, th_seed=cfg.crowns.th_seed,
                           th_cr=cfg.crowns.th_cr, max_cr=cfg.crowns.max_cr)
    k = len(rows)
    if k == 0:
        out = {c: np.zeros(0) for c in TREE_COLUMNS}
        out["position_source"] = np.zeros(0, dtype=object)
        out["height_reading"] = np.zeros(0, dtype=object)
        return out, {}
    c = _crown_cells(m, chm, lab, rows, cols, cfg)
    height = np.r_[0.0, seeds.apex_h] if cfg.apex.height_from_apex else _top3_height(c)
    contact_share, star, radius = _free_radius(c, cfg)
    zl = m.zlow.ravel()[c.inside]
    cbh, volume = _crown_base(c, zl, height, res, cfg)
    # position: the stem cluster found for the tree, else the crown top; the stem's lean
    sk = np.r_[-1, seeds.stem_of]
    found = sk >= 0
    pos_x = np.where(found, np.r_[0.0, stems["x"]][sk + 1], c.tx)
    pos_y = np.where(found, np.r_[0.0, stems["y"]][sk + 1], c.ty)
    lean, lean_az, ns = stem_lean(m.under_x, m.under_y, m.under_h, pos_x, pos_y, cbh, found, cfg)
    # the spread is measured around the stem, or around the crown top where no stem was seen or
    # where the stem leans (lean_reread_min degrees or more: its crown stands off its base)
    leaning = (np.isfinite(lean) & (lean >= cfg.measure.lean_reread_min) if cfg.measure.lean_reread_min > 0
               else np.zeros(k + 1, bool))
    ccx = np.where(found & ~leaning, pos_x, c.tx)
    ccy = np.where(found & ~leaning, pos_y, c.ty)
    layer, radius = _palm_spread(c, zl, (ccx, ccy), _spread(c, ccx, ccy, cfg), radius, cfg)
    diameter = 2 * radius
    sliver = _slivers(c.area, height, diameter, cfg)
    gap, top_gap = _gaps(c, m, radius)
    pos = (pos_x, pos_y)
    moves = _lean_reread(chm, m, lean, lean_az, pos, height, moved, cfg)
    occl = _occluded(seeds.occluded, sliver, c, pos, height, diameter, cfg)
    _peak_heights(chm, lab, rows, cols, occl, height, res, cfg)
    x0c, ymin_c, x1c, y1c = core_bounds
    top_x, top_y = c.tx[1:], c.ty[1:]
    keep = np.flatnonzero((top_x >= x0c) & (top_x < x1c) & (top_y > ymin_c) & (top_y <= y1c)) + 1
    src = np.where(found, "stem", "crown_top").astype(object)
    # what the height was read on: the tree's own top; what shows of its own crown beside the
    # taller neighbour covering its top (a lower bound); or the canopy over it (its top hidden
    # and nothing of its own crown told apart: the neighbour's surface, an upper bound)
    cov = np.r_[False, seeds.covered].astype(bool)
    reading = np.where(~occl, "top", np.where(cov, "own_crown", "canopy")).astype(object)
    vals = {"top_x": c.tx, "top_y": c.ty, "x": pos_x, "y": pos_y, "height_m": height, "crown_area_m2": c.area,
            "crown_diameter_m": diameter, "crown_volume_m3": volume, "crown_base_m": cbh, "gap_fraction": gap,
            "top_gap_fraction": top_gap, "lean_deg": lean, "lean_azimuth_deg": lean_az, "stem_points": ns,
            "crown_contact_share": contact_share, "crown_cells": c.n, "crown_star_ratio": star,
            "crown_layer_depth_m": layer, "position_source": src, "occluded": occl, "height_reading": reading}
    return {col: np.asarray(vals[col])[keep] for col in TREE_COLUMNS}, moves


def _crown_cells(m: TileRasters, chm: np.ndarray, lab: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 cfg: DetectConfig) -> _Cells:
    """The crown cells of the label raster ``lab`` (see :class:`_Cells`)."""
    res, k = m.res, len(rows)
    nc = chm.shape[1]
    flat = lab.ravel()
    inside = flat > 0
    L = flat[inside]
    cell_idx = np.flatnonzero(inside)
    cr, cc = np.divmod(cell_idx, nc)
    cx = m.xmin + (cc + 0.5) * res
    cy = m.ymax - (cr + 0.5) * res
    n = np.bincount(L, minlength=k + 1).astype(float)
    # crown diameter from the radii of the free (not shared) boundary around the top
    boundary, contact = crown_boundary(lab)
    bflat, cflat = boundary.ravel()[inside], contact.ravel()[inside]
    tx = np.r_[0.0, m.xmin + (cols + 0.5) * res]
    ty = np.r_[0.0, m.ymax - (rows + 0.5) * res]
    rad = np.hypot(cx - tx[L], cy - ty[L]) + cfg.measure.edge_offset
    return _Cells(inside, L, cx, cy, chm.ravel()[inside], bflat, bflat & ~cflat, rad, k, n, n * res * res, tx, ty)


def _top3_height(c: _Cells) -> np.ndarray:
    """The top of each crown read on its cells: the highest cell is a maximum of noisy returns, so
    the mean of the crown's 3 highest cells (robust to one bird-like spike)."""
    k, L, h = c.k, c.L, c.h
    order = np.lexsort((-h, L))
    Ls, hs = L[order], h[order]
    start = np.searchsorted(Ls, np.arange(k + 1))
    rank = np.arange(Ls.size) - start[Ls]
    top3 = rank < 3
    return np.bincount(Ls[top3], weights=hs[top3], minlength=k + 1) / np.maximum(np.bincount(Ls[top3], minlength=k + 1), 1)


def _free_radius(c: _Cells, cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per crown: the share of its boundary shared with a neighbour's crown, its star ratio (area
    / the disc of its farthest cell) and its radius from the ``diam_quantile`` of the free
    boundary's radii (at least the equal-area radius; that alone under 6 free cells)."""
    k, L, free, rad, area = c.k, c.L, c.free, c.rad, c.area
    nb = np.bincount(L[c.bflat], minlength=k + 1).astype(float)
    nfree = np.bincount(L[free], minlength=k + 1).astype(float)
    contact_share = 1 - nfree / np.maximum(nb, 1)
    r_free = _label_quantile(L[free], rad[free], k, cfg.measure.diam_quantile, fill=0.0)
    r_eq = np.sqrt(area / np.pi)
    r_max = np.zeros(k + 1)
    np.maximum.at(r_max, L, rad)
    star = area / np.maximum(np.pi * r_max ** 2, 1e-9)
    use_free = nfree >= 6
    return contact_share, star, np.where(use_free, np.maximum(r_free, r_eq), r_eq)


def _crown_base(c: _Cells, zl: np.ndarray, height: np.ndarray, res: float,
                cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """Crown base: a low percentile (``cbh_quantile``) of the lowest return per crown cell, at most
    0.5 m under the height; the crown volume between it and the canopy surface."""
    k, L, h = c.k, c.L, c.h
    ok = np.isfinite(zl) & (zl < h - 0.5)
    cbh = _label_quantile(L[ok], zl[ok], k, cfg.measure.cbh_quantile, fill=0.0)
    cbh = np.minimum(cbh, height - 0.5)
    volume = np.bincount(L, weights=np.maximum(h - cbh[L], 0), minlength=k + 1) * res * res
    return cbh, volume


def _spread(c: _Cells, ccx: np.ndarray, ccy: np.ndarray, cfg: DetectConfig) -> tuple:
    """Crown spread: the farthest reach of the crown (drip line) in each of ``spread_sectors``
    directions around (``ccx``, ``ccy``): the stem, or the crown top where no stem was seen or
    the stem leans. Only directions where the crown edge is free (not shared with a neighbour's
    crown) count, and the spread is twice their ``spread_quantile`` (like the field rule "longest
    spread and the spread across it": a lobed crown's long axis counts). Returns per crown the
    free directions, their reach (quantile or mean), and the reach per direction with its
    finite flags."""
    k, L, free = c.k, c.L, c.free
    ns_ = cfg.measure.spread_sectors
    spread_n = np.zeros(k + 1)
    spread_r = np.zeros(k + 1)
    reach = np.full((k + 1, ns_), -np.inf)
    fin = np.zeros((k + 1, ns_), bool)
    if free.any():
        Lf = L[free]
        fx, fy = c.cx[free] - ccx[Lf], c.cy[free] - ccy[Lf]
        rf = np.hypot(fx, fy) + cfg.measure.spread_offset
        sec = np.floor((np.arctan2(fy, fx) + np.pi) / (2 * np.pi) * ns_).astype(np.int64) % ns_
        reach = np.full((k + 1) * ns_, -np.inf)
        np.maximum.at(reach, Lf * ns_ + sec, rf)
        reach = reach.reshape(k + 1, ns_)
        fin = np.isfinite(reach)
        spread_n = fin.sum(1).astype(float)
        spread_r = np.where(fin, reach, 0).sum(1) / np.maximum(spread_n, 1)
        if cfg.measure.spread_quantile is not None:
            q = np.zeros(k + 1)
            has = fin.any(1)
            q[has] = np.nanquantile(np.where(fin[has], reach[has], np.nan), cfg.measure.spread_quantile, axis=1)
            spread_r = q
    return spread_n, spread_r, reach, fin


def _palm_spread(c: _Cells, zl: np.ndarray, centre: tuple, spread: tuple, radius: np.ndarray,
                 cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """The crown layer depth and the crown radius: the spread (:func:`_spread`'s four arrays,
    measured around ``centre``) where ``spread_min_sectors`` directions are free (else
    ``radius``, the free-edge / area estimate). The layer depth is the
    median of (canopy surface - lowest return) over the crown cells 0.3-0.9 of the way from the
    centre to the farthest reach (the stem under the centre left out): a palm's fronds make a layer
    under 1 m deep on a bare stem; a broadleaf or pine crown is metres deep. A palm's crown (a
    layer under ``palm_depth`` m) is measured tip to tip: its thin frond tips are hit by few
    pulses, so its spread is the ``palm_quantile`` of the reaches, at most ``palm_cap`` m beyond
    their median (a neighbour's crown merged into the segment does not stretch it), plus
    ``palm_offset`` m. The spread's reach is updated in place."""
    k, L, h, cx, cy = c.k, c.L, c.h, c.cx, c.cy
    (ccx, ccy), (spread_n, spread_r, reach, fin) = centre, spread
    dist = np.hypot(cx - ccx[L], cy - ccy[L])
    r_far = np.zeros(k + 1)
    np.maximum.at(r_far, L, dist)
    ring = np.isfinite(zl) & (zl > 0.5) & (dist >= 0.3 * r_far[L]) & (dist <= 0.9 * r_far[L])
    layer = _label_quantile(L[ring], np.maximum(h - zl, 0.0)[ring], k, 0.5, fill=np.nan, min_n=3)
    palm = (layer < cfg.measure.palm_depth) & (spread_n >= cfg.measure.spread_min_sectors)
    palm[0] = False
    if palm.any():
        rp = np.where(fin[palm], reach[palm], np.nan)
        qp = np.minimum(np.nanquantile(rp, cfg.measure.palm_quantile, axis=1),
                        np.nanmedian(rp, axis=1) + cfg.measure.palm_cap)
        spread_r[palm] = qp + cfg.measure.palm_offset
    return layer, np.where(spread_n >= cfg.measure.spread_min_sectors, spread_r, radius)


def _slivers(area: np.ndarray, height: np.ndarray, diameter: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    """A crown segment of a few cells under a tree of some height: its crown could not be told
    from its neighbours' (the seed sat on a neighbour's flank); its diameter (updated in place) is
    its height x the median diameter / height of the crowns that were separated in this scene.
    Returns the sliver flags (none where fewer than 10 crowns were separated)."""
    sliver = (area < cfg.measure.sliver_area) & (height >= cfg.measure.sliver_height)
    sliver[0] = False
    good = ~sliver & (height >= cfg.measure.sliver_height) & (area >= cfg.measure.sliver_area)
    good[0] = False
    if sliver.any() and good.sum() >= 10:
        diameter[sliver] = height[sliver] * float(np.median(diameter[good] / height[good]))
    else:
        sliver[:] = False
    return sliver


def _gaps(c: _Cells, m: TileRasters, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gap fractions (first returns below 1 m / first returns) over each crown and over its inner
    half (cells within half its radius of its top)."""
    k, L, inside, rad = c.k, c.L, c.inside, c.rad
    nf = m.n_first.ravel()[inside].astype(float)
    nl = m.n_first_low.ravel()[inside].astype(float)
    gap = np.bincount(L, weights=nl, minlength=k + 1) / np.maximum(np.bincount(L, weights=nf, minlength=k + 1), 1)
    inner = rad <= 0.5 * radius[L]
    top_gap = (np.bincount(L[inner], weights=nl[inner], minlength=k + 1)
               / np.maximum(np.bincount(L[inner], weights=nf[inner], minlength=k + 1), 1))
    return gap, top_gap


def _lean_reread(chm: np.ndarray, m: TileRasters, lean: np.ndarray, lean_az: np.ndarray, pos: tuple,
                 height: np.ndarray, moved: np.ndarray, cfg: DetectConfig) -> dict:
    """A stem leaning ``lean_reread_min`` degrees or more carries its crown off its base: its apex
    is read again around the crown centre, tan(lean) x ``lean_centre_ratio`` x the height along
    the lean; the higher reading wins (read over the base, the apex disc caught the crown's flank;
    ``height`` is updated in place). A lean read over ``lean_reach`` degrees is taken as misread
    and not followed. Returns ``{seed index: (row, col, height)}`` of the new readings."""
    moves = {}
    if cfg.measure.lean_reread_min <= 0:
        return moves
    res = m.res
    nr, nc = chm.shape
    pos_x, pos_y = pos
    for i in np.flatnonzero(np.isfinite(lean) & (lean >= cfg.measure.lean_reread_min) & (lean <= cfg.seeds.lean_reach)):
        if moved[i - 1]:
            continue
        t, a = np.tan(np.radians(lean[i])), np.radians(lean_az[i])
        h, best = height[i], None
        for _ in range(2):
            off = t * cfg.measure.lean_centre_ratio * h
            r_ = int((m.ymax - (pos_y[i] + off * np.cos(a))) / res)
            c_ = int((pos_x[i] + off * np.sin(a) - m.xmin) / res)
            if not (0 <= r_ < nr and 0 <= c_ < nc):
                break
            got = sector_apex(chm, r_, c_, res, cfg)
            if got[2] > height[i]:
                best, h = got, got[2]
        if best is not None:
            height[i] = best[2]
            moves[i - 1] = best
    return moves


def _occluded(occluded: np.ndarray, sliver: np.ndarray, c: _Cells, pos: tuple, height: np.ndarray,
              diameter: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    """Per crown label, whether the tree's own top is hidden: flagged so by its seed, a sliver, or
    a stem standing under a higher neighbour's crown (within 90 % of its radius from its top)."""
    k, tx, ty = c.k, c.tx, c.ty
    pos_x, pos_y = pos
    occl = np.r_[False, occluded].astype(bool) | sliver
    if k > 1:
        from scipy.spatial import cKDTree

        tt = cKDTree(np.c_[tx[1:], ty[1:]])
        for i, js in enumerate(tt.query_ball_point(np.c_[pos_x[1:], pos_y[1:]], cfg.crowns.max_cr / 2), start=1):
            for j in js:
                j += 1
                if j != i and height[j] > height[i] + 1.0 and \
                        np.hypot(pos_x[i] - tx[j], pos_y[i] - ty[j]) < 0.45 * diameter[j]:
                    occl[i] = True
                    break
    return occl


def _peak_heights(chm: np.ndarray, lab: np.ndarray, rows: np.ndarray, cols: np.ndarray, occl: np.ndarray,
                  height: np.ndarray, res: float, cfg: DetectConfig) -> None:
    """A tree whose top shows: the sector reading runs low (its highest cells are around the top,
    not on it; the centre cell is left out); the mean of the ``peak_cells`` highest cells of its
    own crown within ``peak_window`` m of its top (rows and columns) reads the apex itself, when
    higher (``height`` is updated in place)."""
    if cfg.apex.peak_cells <= 0:
        return
    w_ = int(round(cfg.apex.peak_window / res))
    for i in np.flatnonzero(~occl[1:]) + 1:
        r_, c_ = int(rows[i - 1]), int(cols[i - 1])
        r0_, c0_ = max(0, r_ - w_), max(0, c_ - w_)
        win = chm[r0_:r_ + w_ + 1, c0_:c_ + w_ + 1]
        mine = win[lab[r0_:r_ + w_ + 1, c0_:c_ + w_ + 1] == i]
        if mine.size >= cfg.apex.peak_cells:
            height[i] = max(height[i], float(np.sort(mine)[-cfg.apex.peak_cells:].mean()))
