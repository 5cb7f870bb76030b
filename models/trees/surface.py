"""The canopy surface a tile's trees are read on: the mosaic of a tile and its neighbours, the CHM
filled and cleared of spikes and of what is not vegetation, and its smoothed copy for the tops.

A tile is processed on a mosaic of itself and the ``buffer`` metres of its neighbours, so that a
crown straddling a tile edge is segmented whole (:func:`mosaic`). The CHM's empty cells take the
highest of their 8 neighbours, the rest 0 m (:func:`fill_chm`); cells that are not vegetation
(fewer than ``veg_multi_share`` of the first returns around them came from pulses with several
returns: roofs and walls stop a pulse, foliage lets part of it through) are set to 0 m, so
buildings give no tree (:func:`vegetation_chm`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from models.lidar.tiles import TileRasters
from models.trees.detect_config import TopsConfig

__all__ = ["mosaic", "fill_chm", "vegetation_chm", "smoothed"]


def mosaic(core: TileRasters, neighbours: list[TileRasters], buffer: float) -> TileRasters:
    """The core tile's layers grown by ``buffer`` metres, filled from neighbouring tiles on the same
    ``res``-aligned grid (cells outside every tile stay empty)."""
    res = core.res
    nb = int(round(buffer / res))
    nr0, nc0 = core.chm.shape
    nr, nc = nr0 + 2 * nb, nc0 + 2 * nb
    xmin, ymax = core.xmin - nb * res, core.ymax + nb * res
    chm = np.full((nr, nc), np.nan, np.float32)
    n_first = np.zeros((nr, nc), np.int32)
    n_low = np.zeros((nr, nc), np.int32)
    n_multi = np.zeros((nr, nc), np.int32)
    zlow = np.full((nr, nc), np.nan, np.float32)
    ux, uy, uh = [], [], []
    for t in [core, *neighbours]:
        r0 = int(round((ymax - t.ymax) / res))
        c0 = int(round((t.xmin - xmin) / res))
        tr, tc = t.chm.shape
        rs, re = max(0, r0), min(nr, r0 + tr)
        cs, ce = max(0, c0), min(nc, c0 + tc)
        if rs >= re or cs >= ce:
            continue
        src = (slice(rs - r0, re - r0), slice(cs - c0, ce - c0))
        dst = (slice(rs, re), slice(cs, ce))
        # where tiles overlap (they should not), keep the higher canopy
        chm[dst] = np.fmax(chm[dst], t.chm[src])
        n_first[dst] += t.n_first[src]
        n_low[dst] += t.n_first_low[src]
        n_multi[dst] += t.n_multi[src]
        zlow[dst] = np.fmin(zlow[dst], t.zlow[src])
        x1, y0 = xmin + nc * res, ymax - nr * res
        m = (t.under_x >= xmin) & (t.under_x < x1) & (t.under_y > y0) & (t.under_y <= ymax)
        ux.append(t.under_x[m]); uy.append(t.under_y[m]); uh.append(t.under_h[m])
    return TileRasters(xmin, ymax, res, chm, n_first, n_low, n_multi, zlow, np.concatenate(ux), np.concatenate(uy),
                       np.concatenate(uh))


def fill_chm(chm: np.ndarray) -> np.ndarray:
    """Empty cells take the highest of their 8 neighbours; cells still empty are 0 m; spikes go."""
    v = np.where(np.isfinite(chm), chm, -np.inf)
    filled = np.where(np.isfinite(chm), chm, ndimage.maximum_filter(v, size=3, mode="nearest"))
    filled = np.where(np.isfinite(filled), filled, 0.0).astype(np.float64)
    # unflagged noise (a bird, a wire): a cell more than 3 m above the median of its 3 x 3
    # neighbourhood takes that median; a crown top is smooth at 0.5 m
    med = ndimage.median_filter(filled, size=3, mode="nearest")
    return np.where(filled > med + 3.0, med, filled)


def vegetation_chm(m: TileRasters, cfg: TopsConfig) -> np.ndarray:
    """The filled CHM (:func:`fill_chm`) with the cells that are not vegetation set to 0 m."""
    res = m.res
    chm = fill_chm(m.chm)
    # vegetation lets part of each pulse through (several returns); a roof or a wall does not:
    # cells whose neighbourhood has almost no multi-return pulses are not canopy
    w = max(3, int(round(cfg.veg_window / res)) | 1)
    nf = ndimage.uniform_filter(m.n_first.astype(np.float64), w, mode="constant")
    nm = ndimage.uniform_filter(m.n_multi.astype(np.float64), w, mode="constant")
    veg = nm > cfg.veg_multi_share * np.maximum(nf, 1e-9)
    return np.where(veg, chm, 0.0)


def smoothed(chm: np.ndarray, cfg: TopsConfig) -> np.ndarray:
    """The CHM smoothed by a Gaussian of ``sigma`` cells for the tops (the crown surface is noisy,
    about 0.15 m, and a flat crown top would otherwise give several maxima)."""
    return ndimage.gaussian_filter(chm, cfg.sigma) if cfg.sigma > 0 else chm
