"""Covered trees: a stem whose apex a taller neighbour's crown covers, its height read again on
what shows of its own crown (:func:`covered_apexes`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from models.trees.detect_config import DetectConfig

__all__ = ["covered_apexes"]


def _downhill_reach(chm: np.ndarray, r0: int, c0: int, seeds: list[tuple[int, int]], half: int,
                    step: float, rise: float, floor: float) -> np.ndarray:
    """Cells of the window of ``half`` cells around (r0, c0) reached from any of ``seeds`` (tree
    tops) by walking downhill: 4-neighbour steps that rise at most ``rise`` m (the surface's
    noise) and drop less than ``step`` m, over cells above ``floor`` m. That is the surface of the
    crowns the seeds top, as seen from above: a crown descends from its top to its edge; another
    crown that shows beside it is reached only by climbing (a valley) or past a drop of several
    metres (a crown edge over a lower crown or the ground). Returns a boolean mask of the window."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    nr, nc = chm.shape
    ra, rb = max(0, r0 - half), min(nr, r0 + half + 1)
    ca, cb = max(0, c0 - half), min(nc, c0 + half + 1)
    w = chm[ra:rb, ca:cb]
    h, wd = w.shape
    idx = np.arange(h * wd).reshape(h, wd)
    src, dst = [], []
    for a_, b_, va, vb in ((idx[:-1, :], idx[1:, :], w[:-1, :], w[1:, :]), (idx[:, :-1], idx[:, 1:], w[:, :-1], w[:, 1:])):
        both = (va > floor) & (vb > floor)
        fwd = both & (vb <= va + rise) & (va - vb < step)     # a -> b
        bwd = both & (va <= vb + rise) & (vb - va < step)     # b -> a
        src += [a_[fwd], b_[bwd]]
        dst += [b_[fwd], a_[bwd]]
    src, dst = np.concatenate(src), np.concatenate(dst)
    g = coo_matrix((np.ones(src.size), (src, dst)), shape=(h * wd, h * wd)).tocsr()
    out = np.zeros(h * wd, bool)
    for sr_, sc_ in seeds:
        if ra <= sr_ < rb and ca <= sc_ < cb and w[sr_ - ra, sc_ - ca] > floor:
            out[breadth_first_order(g, int(idx[sr_ - ra, sc_ - ca]), directed=True, return_predecessors=False)] = True
    full = np.zeros((2 * half + 1, 2 * half + 1), bool)
    full[ra - (r0 - half):rb - (r0 - half), ca - (c0 - half):cb - (c0 - half)] = out.reshape(h, wd)
    return full


@dataclass(frozen=True)
class _Cover:
    """What :func:`covered_apexes` reads for each stem: the CHM (``closed``: closed over 3 x 3
    cells), the seeds (``rows``, ``cols``, ``apex_h``; ``tops``: their k-d tree), the trees'
    positions in cell units (``pr``, ``pc``; ``pos``: their k-d tree), the disc of
    ``covered_radius`` m (``R`` cells, offsets ``dr``, ``dc``) and the slope's footprint (``gr``,
    ``gc``, design matrix ``A``)."""
    chm: np.ndarray
    closed: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    apex_h: np.ndarray
    pr: np.ndarray
    pc: np.ndarray
    tops: object
    pos: object
    R: int
    H_: int
    dr: np.ndarray
    dc: np.ndarray
    gr: np.ndarray
    gc: np.ndarray
    A: np.ndarray


def covered_apexes(chm: np.ndarray, rows: np.ndarray, cols: np.ndarray, stem_of: np.ndarray, stems: dict,
                   apex_h: np.ndarray, xmin: float, ymax: float, res: float,
                   cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """Heights of trees whose apex is covered by a taller neighbour's crown.

    A stem's apex (:func:`models.trees.stem_first.fuse_stems`) is read from the CHM around it; when a taller neighbour's
    crown overhangs the stem, that reading is the neighbour's surface (+2 to +10 m on a small tree
    under a big one). A stem is *covered* by a top within ``covered_reach`` m whose apex is more
    than ``covered_rise`` m higher (-0.5 m: the reading over the stem, taken from the maxima of
    noisy cells on the neighbour's flank, can come out a little above the neighbour's own apex
    reading) when the canopy over the stem is that neighbour's flank: the
    plane fitted to the CHM within ``covered_slope_radius`` m of the stem rises towards the
    neighbour at ``covered_slope`` m/m or more, and the canopy keeps rising to the neighbour's top
    (no dip deeper than ``flank_dip`` m; where a crown higher than that top stands between them,
    up to that crown's crest, which then seeds the walk below too: its own top may be out of
    reach). A tree with its own dome there is flat over its stem, or is separated from the
    neighbour by a valley.

    A covered tree's height is re-read from what shows of its own crown: the cells within
    ``covered_radius`` m of its stem, nearer its stem than any other tree's position, not higher
    than the first reading, and not on a neighbour's surface (:func:`_downhill_reach`: reached
    from the top of any neighbour within ``covered_reach`` m taller than the first reading, as
    above, by walking down its crown), in patches of at least ``covered_min_cells`` cells that
    are not holes and not a neighbour's rim (the walk stops where a crown's side drops
    ``covered_step`` m between two cells; the cells beside its surface that stand that much above
    a cell of the tree's own crown next to them are that side, peeled off ``covered_rim`` times;
    a patch walled in by higher canopy, with the ground it holds, is a gap in a
    crown: a dead top lets the pulses through; a tree's own crown showing beside its neighbour's
    runs out to its edge and the open ground). The height is the second highest of those cells:
    a lower bound, since what shows is off the apex. Without such a patch the reading is kept.
    Returns the heights and a flag per tree (True where the height was re-read)."""
    from scipy.spatial import cKDTree

    k = len(rows)
    out = np.asarray(apex_h, float).copy()
    flag = np.zeros(k, bool)
    if k < 2:
        return out, flag
    nr, nc = chm.shape
    has = stem_of >= 0
    pr = rows.astype(float).copy()
    pc = cols.astype(float).copy()
    pr[has] = (ymax - stems["y"][stem_of[has]]) / res - 0.5
    pc[has] = (stems["x"][stem_of[has]] - xmin) / res - 0.5
    R = int(np.ceil(cfg.covered.covered_radius / res))
    dr, dc = np.mgrid[-R:R + 1, -R:R + 1]
    # gaps of a cell or two in a transparent crown are no valleys: the slope and the profile are
    # read on the CHM closed over 3 x 3 cells
    closed = ndimage.grey_closing(chm, size=(3, 3)) if cfg.covered.covered_close else chm
    g = max(1, int(round(cfg.covered.covered_slope_radius / res)))
    gr, gc = np.mgrid[-g:g + 1, -g:g + 1]
    gm = np.hypot(gr, gc) <= g
    gr, gc = gr[gm], gc[gm]
    cv = _Cover(chm, closed, rows, cols, apex_h, pr, pc, cKDTree(np.c_[rows, cols]), cKDTree(np.c_[pr, pc]), R,
                R + int(np.ceil(cfg.covered.covered_reach / res)),    # the window the walk from the neighbours' tops needs
                dr, dc, gr, gc, np.c_[np.ones(gr.size), gr * res, gc * res])
    for i in np.flatnonzero(has):
        taller, peaks, cover = _covering(cv, i, res, cfg)
        if not cover:
            continue
        own = _own_crown(cv, i, taller, peaks, res, cfg)
        if own.size >= cfg.covered.covered_min_cells:
            own = np.sort(own)
            out[i] = float(own[-2])
            flag[i] = True
    return out, flag


def _covering(cv: _Cover, i: int, res: float, cfg: DetectConfig) -> tuple[list, list, list]:
    """The neighbours of tree ``i`` taller than its first reading (within ``covered_reach`` m), the
    crests on the way to those that cover it (seeds of the walk over their surface), and the
    covering ones: the canopy over the stem rises towards them at ``covered_slope`` m/m or more
    and keeps rising to their top."""
    chm, closed, rows, cols, apex_h, pr, pc = cv.chm, cv.closed, cv.rows, cv.cols, cv.apex_h, cv.pr, cv.pc
    nr, nc = chm.shape
    cover = []
    # the slope of the canopy over the stem (m/m, along rows and columns): a stem under a
    # neighbour's crown stands under its flank, which rises towards the neighbour's top
    rr_, cc_ = np.clip(int(round(pr[i])) + cv.gr, 0, nr - 1), np.clip(int(round(pc[i])) + cv.gc, 0, nc - 1)
    grad = np.linalg.lstsq(cv.A, closed[rr_, cc_], rcond=None)[0][1:]
    taller, peaks = [], []
    for j in cv.tops.query_ball_point([pr[i], pc[i]], cfg.covered.covered_reach / res):
        if j == i or apex_h[j] <= apex_h[i] + cfg.covered.covered_rise:
            continue
        taller.append(j)
        if np.hypot(rows[j] - pr[i], cols[j] - pc[i]) * res < 1.0:
            continue
        n = int(np.hypot(rows[j] - pr[i], cols[j] - pc[i]) * 2) + 2
        sr_ = np.clip(np.rint(np.linspace(pr[i], rows[j], n)).astype(np.int64), 0, nr - 1)
        sc_ = np.clip(np.rint(np.linspace(pc[i], cols[j], n)).astype(np.int64), 0, nc - 1)
        prof = closed[sr_, sc_]
        kp = int(np.argmax(prof))
        # a crown higher than the neighbour's top between them: the profile up to its highest point
        # (the profile's samples are about half a cell apart: kp * 0.5 * res m from the stem)
        crest = cfg.covered.covered_to_peak and prof[kp] >= apex_h[j] and kp * 0.5 * res >= cfg.covered.covered_slope_radius
        if crest:
            prof = prof[:kp + 1]
        u = np.array([rows[j] - pr[i], cols[j] - pc[i]]) / np.hypot(rows[j] - pr[i], cols[j] - pc[i])
        if (np.maximum.accumulate(prof) - prof).max() < cfg.seeds.flank_dip and grad @ u >= cfg.covered.covered_slope:
            cover.append(j)
            if crest and cfg.covered.covered_peak_seed:
                # the highest canopy on the way seeds the walk too (the crown it tops may
                # have its own top out of reach)
                a_, b_ = int(sr_[kp]), int(sc_[kp])
                w_ = chm[max(0, a_ - 1):a_ + 2, max(0, b_ - 1):b_ + 2]
                q_ = int(np.argmax(w_))
                peaks.append((max(0, a_ - 1) + q_ // w_.shape[1], max(0, b_ - 1) + q_ % w_.shape[1]))
    return taller, peaks, cover


def _own_crown(cv: _Cover, i: int, taller: list, peaks: list, res: float, cfg: DetectConfig) -> np.ndarray:
    """The heights of the cells of covered tree ``i``'s own crown that show: within
    ``covered_radius`` m of its stem, nearer it than any other tree's position, not higher than its
    first reading, off the neighbours' surface and rims, in patches of ``covered_min_cells`` cells
    or more that are no holes in a crown."""
    chm, rows, cols, apex_h, R, H_ = cv.chm, cv.rows, cv.cols, cv.apex_h, cv.R, cv.H_
    nr, nc = chm.shape
    r0, c0 = int(round(cv.pr[i])), int(round(cv.pc[i]))
    # what is the neighbours' surface: reached walking down from any taller top around, not
    # only from the covering ones (a tree in a gap between two big crowns is covered by one
    # and flanked by the other, whose surface is no part of its own crown either)
    theirs = _downhill_reach(chm, r0, c0, [(int(rows[j]), int(cols[j])) for j in taller] + peaks, H_, cfg.covered.covered_step,
                             cfg.covered.covered_noise, cfg.hmin)[H_ - R:H_ + R + 1, H_ - R:H_ + R + 1]
    m = (np.hypot(cv.dr, cv.dc) * res <= cfg.covered.covered_radius) & ~theirs
    rr, cc = r0 + cv.dr, c0 + cv.dc
    m &= (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
    v = np.where(m, chm[np.clip(rr, 0, nr - 1), np.clip(cc, 0, nc - 1)], 0.0)
    m &= (v > cfg.hmin) & (v <= apex_h[i])
    if m.any():
        _, near = cv.pos.query(np.c_[rr[m], cc[m]])
        m[m] = near == i
    m = _peel_rim(m, theirs, v, cfg)
    # the parts of its own crown that show: patches of at least covered_min_cells cells (a
    # cell or two the walk missed on a neighbour's crown is noise)
    lab, nlab = ndimage.label(m, structure=np.ones((3, 3)))
    sizes = np.bincount(lab.ravel(), minlength=nlab + 1)
    keep = sizes >= cfg.covered.covered_min_cells
    keep[0] = False
    _drop_holes(keep, lab, chm, rr, cc, v, cfg)
    return v[keep[lab]]


def _peel_rim(m: np.ndarray, theirs: np.ndarray, v: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    """``m`` without a neighbour's rim: the walk stops where its crown's side drops steeply (the
    rim of an ellipsoid crown is at mid-crown height); cells beside its surface standing
    ``covered_step`` m or more above a cell of the tree's own crown next to them are that side,
    not the tree (``covered_rim`` passes)."""
    for _ in range(cfg.covered.covered_rim):
        ring_ = ndimage.binary_dilation(theirs, np.ones((3, 3), bool)) & m
        if not ring_.any():
            break
        lower = ndimage.minimum_filter(np.where(m, v, np.inf), footprint=ndimage.generate_binary_structure(2, 1),
                                       mode="constant", cval=np.inf)   # the lowest own cell of the 4 around
        rim = ring_ & (v - lower >= cfg.covered.covered_step)
        if not rim.any():
            break
        m &= ~rim
        theirs = theirs | rim
    return m


def _drop_holes(keep: np.ndarray, lab: np.ndarray, chm: np.ndarray, rr: np.ndarray, cc: np.ndarray, v: np.ndarray,
                cfg: DetectConfig) -> None:
    """Unkeeps (in ``keep``, per patch label) the patches walled in by higher canopy on every side
    (with the ground cells they hold): a hole in a crown, where a dead, transparent top lets the
    pulses through to the lower crown and the ground. What shows of a tree's own crown beside its
    neighbour's runs out to its own edge and the open ground around it."""
    nr, nc = chm.shape
    full = chm[np.clip(rr, 0, nr - 1), np.clip(cc, 0, nc - 1)]
    inside_w = (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
    low = inside_w & (full <= cfg.hmin)
    for q in np.flatnonzero(keep):
        patch = lab == q
        grp, _ = ndimage.label(patch | low, structure=np.ones((3, 3)))
        region = np.isin(grp, np.unique(grp[patch]))
        if region[0, :].any() or region[-1, :].any() or region[:, 0].any() or region[:, -1].any():
            continue
        ring = ndimage.binary_dilation(region, np.ones((3, 3), bool)) & ~region & inside_w
        if ring.any() and full[ring].min() >= np.median(v[patch]):
            keep[q] = False
