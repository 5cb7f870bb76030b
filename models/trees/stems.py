"""Stems in the understorey returns (:func:`find_stems`) and the lean of each (:func:`stem_lean`)."""

from __future__ import annotations

import numpy as np

from models.trees.detect_config import DetectConfig

__all__ = ["find_stems", "stem_lean"]


def find_stems(ux: np.ndarray, uy: np.ndarray, uh: np.ndarray, cfg: DetectConfig) -> dict[str, np.ndarray]:
    """Stems: clusters of understorey returns low above the ground (``stem_band`` m), linked within
    ``stem_link`` m, of at least ``stem_min_points`` points and reaching down below ``stem_max_low``
    m (the lower crown of a tree also gives low clusters, but none that reach the ground)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    m = (uh > cfg.stems.stem_band[0]) & (uh < cfg.stems.stem_band[1])
    x, y, h = ux[m], uy[m], uh[m].astype(np.float64)
    empty = {"x": np.zeros(0), "y": np.zeros(0), "n": np.zeros(0, np.int64)}
    if x.size < 2:
        return empty
    pairs = cKDTree(np.c_[x, y]).query_pairs(cfg.stems.stem_link, output_type="ndarray")
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(x.size, x.size))
    _, lab = connected_components(g, directed=False)
    cnt = np.bincount(lab)
    hmin = np.full(cnt.size, np.inf)
    np.minimum.at(hmin, lab, h)
    ok = (cnt >= cfg.stems.stem_min_points) & (hmin < cfg.stems.stem_max_low)
    # the stem base: centroid of the lowest half of the cluster (a leaning stem drifts upwards)
    hmed = np.zeros(cnt.size)
    for k in np.flatnonzero(ok):
        hmed[k] = np.median(h[lab == k])
    low = h <= hmed[lab]
    nl = np.maximum(np.bincount(lab[low], minlength=cnt.size), 1)
    cx = np.bincount(lab[low], x[low], minlength=cnt.size) / nl
    cy = np.bincount(lab[low], y[low], minlength=cnt.size) / nl
    sx, sy, sn = cx[ok], cy[ok], cnt[ok]
    if sx.size > 1:
        # clusters closer than stem_merge are one tree (a forked stem, a low branch): keep the larger
        pairs = cKDTree(np.c_[sx, sy]).query_pairs(cfg.stems.stem_merge, output_type="ndarray")
        if len(pairs):
            g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(sx.size, sx.size))
            _, grp = connected_components(g, directed=False)
            order = np.lexsort((-sn, grp))
            first = order[np.r_[True, grp[order][1:] != grp[order][:-1]]]
            sx, sy, sn = sx[first], sy[first], sn[first]
    return {"x": sx, "y": sy, "n": sn}




def stem_lean(ux, uy, uh, sx, sy, cbh, has, cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lean (degrees from vertical) and its azimuth (degrees from north, clockwise) of each stem:
    the line ``x = x0 + kx h, y = y0 + ky h`` through the understorey returns below the crown base
    within a cone around the stem base (0.6 m + tan 35 deg x height) that most returns lie on
    (consensus among the ``lean_max_points`` lowest returns over the lines through one of the
    ``lean_anchors`` lowest and another at least 0.5 m apart in height; on the line = within
    ``lean_tol`` m of it), refitted by least squares on those returns. A stem is a
    thin cylinder: the returns of the lowest branches, which a crown base read too high lets in,
    lie off its line and are outvoted (a least-squares line through all of them leaned upright
    trees by 20-30 degrees). NaN where fewer than ``lean_min_points`` returns spanning
    ``lean_min_span`` m carry the line, or where it leans more than 45 degrees (not a stem)."""
    from scipy.spatial import cKDTree

    n = len(sx)
    lean = np.full(n, np.nan)
    az = np.full(n, np.nan)
    cnt = np.zeros(n)
    if ux.size == 0:
        return lean, az, cnt
    tree = cKDTree(np.c_[ux, uy])
    reach = 0.6 + np.tan(np.radians(35)) * np.maximum(cbh, 0.5)
    for i in np.flatnonzero(has):
        idx = np.asarray(tree.query_ball_point([sx[i], sy[i]], float(reach[i])), dtype=np.int64)
        if idx.size < cfg.stems.lean_min_points:
            continue
        h = uh[idx].astype(float)
        dx, dy = ux[idx] - sx[i], uy[idx] - sy[i]
        sel = (h > 0.3) & (h < cbh[i] - 0.3) & (np.hypot(dx, dy) <= 0.6 + np.tan(np.radians(35)) * h)
        if sel.sum() < cfg.stems.lean_min_points or np.ptp(h[sel]) < cfg.stems.lean_min_span:
            continue
        # the stem is at the bottom: the lowest lean_max_points returns vote, on lines through one
        # of the lowest lean_anchors and any other return 0.5 m or more above or below it
        o = np.argsort(h[sel])[:cfg.stems.lean_max_points]
        h, dx, dy = h[sel][o], dx[sel][o], dy[sel][o]
        a_, b_ = np.meshgrid(np.arange(min(cfg.stems.lean_anchors, h.size)), np.arange(h.size), indexing="ij")
        a_, b_ = a_.ravel(), b_.ravel()
        far = np.abs(h[b_] - h[a_]) >= 0.5
        a_, b_ = a_[far], b_[far]
        if a_.size == 0:
            continue
        kx = (dx[b_] - dx[a_]) / (h[b_] - h[a_])
        ky = (dy[b_] - dy[a_]) / (h[b_] - h[a_])
        ok = np.hypot(kx, ky) <= 1.0                      # at most 45 degrees
        a_, kx, ky = a_[ok], kx[ok], ky[ok]
        if a_.size == 0:
            continue
        ox, oy = dx[a_] - kx * h[a_], dy[a_] - ky * h[a_]
        r = np.hypot(dx[None, :] - ox[:, None] - kx[:, None] * h[None, :],
                     dy[None, :] - oy[:, None] - ky[:, None] * h[None, :])
        inl = r <= cfg.stems.lean_tol
        votes = inl.sum(1)
        best = np.flatnonzero(votes == votes.max())
        k = best[np.argmin(np.where(inl[best], r[best], 0).sum(1))]
        on = inl[k]
        if on.sum() < cfg.stems.lean_min_points or np.ptp(h[on]) < cfg.stems.lean_min_span:
            continue
        A = np.c_[np.ones(on.sum()), h[on]]
        (_, bx), *_ = np.linalg.lstsq(A, dx[on], rcond=None)
        (_, by), *_ = np.linalg.lstsq(A, dy[on], rcond=None)
        t = np.degrees(np.arctan(np.hypot(bx, by)))
        if t <= 45:
            lean[i], az[i], cnt[i] = t, np.degrees(np.arctan2(bx, by)) % 360, on.sum()
    return lean, az, cnt


