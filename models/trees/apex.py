"""The apex of a crown read on the CHM around a stem or a top: the sector maxima of a disc
(:func:`sector_apex`), robust to a taller neighbour's crown overhanging part of it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from models.trees.detect_config import DetectConfig

__all__ = ["sector_apex", "sector_disc"]


def sector_apex(chm: np.ndarray, r: int, c: int, res: float, cfg: DetectConfig, away=()) -> tuple[int, int, float]:
    """Apex height of the crown centred on cell (r, c) (a stem, or a top), and the seed cell.

    The highest cell of each of ``apex_sectors`` sectors of the disc of ``apex_radius`` m: a
    sector on the own dome gives the apex (a max over several cells sees through the gaps of a
    transparent crown), a sector under a taller neighbour's overhanging crown gives more. The
    robust reading is the ``apex_quantile`` of the sector maxima; sectors facing a taller
    neighbour (``away``: directions in radians, as ``arctan2(drow, dcol)``, within
    ``flank_halfangle`` degrees) are left out while at least two others remain: a neighbour's
    crown overhangs from its own side. The apex is the mean of the sector maxima from that reading
    to ``apex_consistent`` m above it (the reading alone runs 0.2-0.3 m low: the lowest sectors
    are those whose highest cell missed the very top). The seed is the reading sector's highest
    cell."""
    nr, nc = chm.shape
    dr_, dc_, sector_, sec_dir = sector_disc(cfg.apex.apex_radius, res, cfg.apex.apex_sectors)
    rr, cc = r + dr_, c + dc_
    m = (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
    rr, cc, sec = rr[m], cc[m], sector_[m]
    v = chm[rr, cc]
    best = np.full(cfg.apex.apex_sectors, -np.inf)
    np.maximum.at(best, sec, v)
    ok = np.isfinite(best)
    if len(away):
        d = np.abs((sec_dir[:, None] - np.asarray(away)[None, :] + np.pi) % (2 * np.pi) - np.pi)
        free = ok & (d.min(1) > np.radians(cfg.apex.flank_halfangle))
        if free.sum() >= 2:
            ok = free
    bs = np.sort(best[ok])
    h = float(bs[int(np.floor(cfg.apex.apex_quantile * (bs.size - 1)))])
    k = int(np.flatnonzero((v == h) & ok[sec])[0])
    if cfg.apex.apex_consistent > 0:
        h = float(bs[(bs >= h) & (bs <= h + cfg.apex.apex_consistent)].mean())
    return int(rr[k]), int(cc[k]), h


@lru_cache(maxsize=16)
def sector_disc(radius: float, res: float, sectors: int):
    """Cell offsets of a disc (centre excluded), the sector of each, and the sectors' directions."""
    apex = max(1, int(np.ceil(radius / res)))
    dr_, dc_ = np.mgrid[-apex:apex + 1, -apex:apex + 1]
    disk = (np.hypot(dr_, dc_) * res <= radius + 1e-9) & ((dr_ != 0) | (dc_ != 0))
    dr_, dc_ = dr_[disk], dc_[disk]
    sector_ = np.floor((np.arctan2(dr_, dc_) + np.pi) / (2 * np.pi) * sectors).astype(np.int64) % sectors
    sec_dir = (np.arange(sectors) + 0.5) / sectors * 2 * np.pi - np.pi
    return dr_, dc_, sector_, sec_dir


