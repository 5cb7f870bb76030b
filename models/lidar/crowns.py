"""Crown segmentation on a canopy height model: region growing from the tree tops.

:func:`dalponte2016` follows Dalponte & Coomes (2016, Methods Ecol. Evol. 7(10)) as lidR's
``segment_trees(las, dalponte2016(chm, treetops))`` implements it: every top seeds a region that
grows one ring of 4-neighbour cells per iteration. A cell joins the region of a labelled neighbour
when

* its height is above ``th_tree`` (m),
* above ``th_seed`` x the height of the region's top and above ``th_cr`` x the region's mean height,
* not above 1.05 x the top (a higher cell belongs to another tree),
* and within ``max_cr / 2`` metres of the top in x and in y (lidR tests the square window).

All regions grow at the same pace, so two crowns that touch share the contested band at about
half way. Where two regions reach a cell in the same iteration, the neighbour visited first (north,
west, east, south) wins, as lidR's scan order does. The iteration is vectorised over the whole
raster (one numpy pass per ring), so the cost is ``O(cells x rings)``.

:func:`watershed_crowns` is the documented variant: a marker-controlled watershed of the inverted
CHM (scikit-image), limited by ``th_tree``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dalponte2016", "watershed_crowns", "crown_boundary"]


def dalponte2016(chm: np.ndarray, seeds_rc: np.ndarray, res: float, th_tree: float = 2.0, th_seed: float = 0.45,
                 th_cr: float = 0.55, max_cr: float = 20.0, max_iter: int | None = None) -> np.ndarray:
    """Crown labels (int32, 0 = no crown, k = seed k - 1 + 1) of a north-up CHM.

    Args:
        chm: heights (m); NaN cells never join a crown.
        seeds_rc: (k, 2) integer row, column of the tree tops.
        res: cell size (m).
        th_tree, th_seed, th_cr, max_cr: Dalponte's parameters (m, ratios, m of crown diameter).
    """
    nr, nc = chm.shape
    v = np.where(np.isfinite(chm), chm, -np.inf).astype(np.float64)
    lab = np.zeros((nr, nc), dtype=np.int32)
    seeds_rc = np.asarray(seeds_rc, dtype=np.int64).reshape(-1, 2)
    k = len(seeds_rc)
    if k == 0:
        return lab
    lab[seeds_rc[:, 0], seeds_rc[:, 1]] = np.arange(1, k + 1, dtype=np.int32)
    hseed = np.r_[0.0, v[seeds_rc[:, 0], seeds_rc[:, 1]]]
    srow = np.r_[0, seeds_rc[:, 0]]
    scol = np.r_[0, seeds_rc[:, 1]]
    half = max_cr / 2.0 / res
    rows = np.arange(nr)[:, None]
    cols = np.arange(nc)[None, :]
    sums = np.bincount(lab.ravel(), weights=np.where(lab > 0, v, 0).ravel(), minlength=k + 1)
    counts = np.bincount(lab.ravel(), minlength=k + 1).astype(np.float64)
    eligible = v > th_tree
    iters = max_iter if max_iter is not None else int(np.ceil(half)) + 2
    for _ in range(iters):
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        new = np.zeros_like(lab)
        free = (lab == 0) & eligible
        if not free.any():
            break
        # neighbours in lidR's visiting order: north, west, east, south
        for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            nb = np.zeros_like(lab)
            rs = slice(max(dr, 0), nr + min(dr, 0))
            rd = slice(max(-dr, 0), nr + min(-dr, 0))
            cs = slice(max(dc, 0), nc + min(dc, 0))
            cd = slice(max(-dc, 0), nc + min(-dc, 0))
            nb[rd, cd] = lab[rs, cs]
            cand = free & (new == 0) & (nb > 0)
            if not cand.any():
                continue
            r, c = np.nonzero(cand)
            s = nb[r, c]
            h = v[r, c]
            ok = ((h > hseed[s] * th_seed) & (h > mean[s] * th_cr) & (h <= hseed[s] * 1.05)
                  & (np.abs(r - srow[s]) <= half) & (np.abs(c - scol[s]) <= half))
            new[r[ok], c[ok]] = s[ok]
        grown = new > 0
        if not grown.any():
            break
        lab[grown] = new[grown]
        g = new[grown]
        sums += np.bincount(g, weights=v[grown], minlength=k + 1)
        counts += np.bincount(g, minlength=k + 1)
    del rows, cols
    return lab


def watershed_crowns(chm: np.ndarray, seeds_rc: np.ndarray, th_tree: float = 2.0) -> np.ndarray:
    """Variant: marker-controlled watershed of the inverted CHM (scikit-image), cells above ``th_tree``."""
    from skimage.segmentation import watershed

    v = np.where(np.isfinite(chm), chm, 0.0)
    markers = np.zeros(chm.shape, dtype=np.int32)
    seeds_rc = np.asarray(seeds_rc, dtype=np.int64).reshape(-1, 2)
    markers[seeds_rc[:, 0], seeds_rc[:, 1]] = np.arange(1, len(seeds_rc) + 1)
    return watershed(-v, markers, mask=v > th_tree).astype(np.int32)


def crown_boundary(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boundary cells of every crown and whether each touches another crown (``contact``) rather
    than open ground: returns ``(boundary mask, contact mask)``."""
    p = np.pad(lab, 1, constant_values=0)
    c = p[1:-1, 1:-1]
    nbs = [p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]
    boundary = (c > 0) & np.any([n != c for n in nbs], axis=0)
    contact = (c > 0) & np.any([(n != c) & (n > 0) for n in nbs], axis=0)
    return boundary, contact
