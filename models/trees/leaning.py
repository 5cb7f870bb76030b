"""Leaning trees of the stem-first path whose crown stands off their base: a dominant top (no
crown around explains it) paired with the stem that carries it (:func:`pair_leaning`)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from models.trees.apex import sector_apex, sector_disc
from models.trees.detect_config import DetectConfig
from models.trees.seeds import SeedList, StemScene, TopSet

__all__ = ["pair_leaning"]


def _canopy_cover(chm: np.ndarray, r: np.ndarray, c: np.ndarray, res: float, radius: float, floor: float) -> np.ndarray:
    """Share of the cells within ``radius`` m of each cell (r, c) whose canopy is above ``floor`` m."""
    k = max(1, int(np.ceil(radius / res)))
    dr, dc = np.mgrid[-k:k + 1, -k:k + 1]
    disc = (np.hypot(dr, dc) * res <= radius).astype(float)
    share = ndimage.convolve((chm > floor).astype(float), disc / disc.sum(), mode="constant")
    return share[r, c] if len(r) else np.zeros(0)



class _Canopy:
    """The CHM read along lines between stems and tops, and around a stem."""

    def __init__(self, scene: StemScene, cfg: DetectConfig):
        self.scene, self.hmin, self.margin = scene, cfg.hmin, cfg.seeds.dominant_margin
        self.closed = ndimage.grey_closing(scene.chm, size=(3, 3))
        dr_, dc_ = sector_disc(1.5, scene.res, 1)[:2]
        self.ddr, self.ddc = np.r_[0, dr_], np.r_[0, dc_]     # the 1.5 m disc, its centre included

    def line(self, x0, y0, x1, y1, skip=0.0):
        """The CHM cells on the segment from (x0, y0) to (x1, y1), from ``skip`` m along it."""
        sc_, res = self.scene, self.scene.res
        nr, nc = sc_.chm.shape
        d = np.hypot(x1 - x0, y1 - y0)
        f = np.linspace(skip / d if d > 0 else 0.0, 1.0, int(d / res) + 2)
        c_ = np.clip(((x0 + f * (x1 - x0) - sc_.xmin) / res).astype(np.int64), 0, nc - 1)
        r_ = np.clip(((sc_.ymax - (y0 + f * (y1 - y0))) / res).astype(np.int64), 0, nr - 1)
        return r_, c_

    def stem_line(self, q, x, y) -> bool:
        """Stem ``q`` shows as canopy on the way to the top at (x, y): from 1.5 m off its base, 80 %
        of the cells on the line are above hmin."""
        stems = self.scene.stems
        if np.hypot(x - stems["x"][q], y - stems["y"][q]) <= 2.0:
            return True
        r_, c_ = self.line(stems["x"][q], stems["y"][q], x, y, skip=1.5)
        return bool(np.mean(self.scene.chm[r_, c_] >= self.hmin) >= 0.8)

    def joined(self, x0, y0, x1, y1) -> bool:
        """The canopy between two points never drops to the ground (a gap of a cell or two in a
        transparent crown aside): one crown, or touching ones."""
        r_, c_ = self.line(x0, y0, x1, y1)
        return bool(self.closed[r_, c_].min() >= self.hmin)

    def own_crown_is_top(self, q, h) -> bool:
        """Around stem ``q`` (1.5 m), more canopy stands at the top's level ``h`` than below it: the
        stem carries no lower crown of its own, the top's crown is over it."""
        chm, sr, sc = self.scene.chm, self.scene.sr, self.scene.sc
        nr, nc = chm.shape
        v = chm[np.clip(sr[q] + self.ddr, 0, nr - 1), np.clip(sc[q] + self.ddc, 0, nc - 1)]
        return bool(np.sum(v >= h - self.margin) > np.sum((v > self.hmin) & (v < h - self.margin)))


def pair_leaning(scene: StemScene, tops: TopSet, apex: np.ndarray, lone: np.ndarray, seeded: set, owner: np.ndarray,
                 seeds: SeedList, cfg: DetectConfig) -> None:
    """Leaning trees whose crown stands off their base (a palm leaning 15-25 degrees holds its
    crown 5-9 m away): a stem with no crown over it (under ``crownless_cover`` of canopy within
    1.5 m) and a top that no stem around explains are one tree. Such a top is *dominant*: more
    than ``dominant_margin`` m higher than the apex of every stem and every seed within the
    distance where a crown holds extra maxima (``lone_radius``, ``lone_height_ratio`` x its
    height) whose canopy joins it without a gap to the ground, so it is no extra maximum of their
    crowns (a taller palm beside it, across a gap, does not count). It is paired with the nearest
    crownless stem within ``lean_reach`` degrees of lean (tan x its height) whose stem shows as canopy on
    the way to the top (from 1.5 m off the base to the crown, 80 % of the CHM cells on the line
    are above ``hmin``: a stem, not a gap to the ground). A dominant top within ``top_search`` m
    of a stem (which :func:`models.trees.stem_first.fuse_stems` refused as higher than the apex read around the stem, as
    if a neighbour's crown overhung it) is that stem's own when, within 1.5 m of the stem, more
    canopy stands at the top's level than below it (the stem has no lower crown of its own): no
    crown around explains the top; the apex disc read low on a narrow or sparse crown (a palm
    whose few fronds fill few of its sectors). Tallest tops first; a lone top (already a tree)
    takes the stem too. A top without such a stem is left out, as before: adding those found more extra maxima
    of merged crowns than trees. Edits ``seeds`` in place."""
    from scipy.spatial import cKDTree

    stems, tz = scene.stems, tops.tz
    skd = cKDTree(np.c_[stems["x"], stems["y"]])
    cover = _canopy_cover(scene.chm, scene.sr, scene.sc, scene.res, 1.5, cfg.hmin)
    can = _Canopy(scene, cfg)
    used: set = set()
    n_lone = int(lone.sum())
    lone_at = {int(t): len(seeds.r) - n_lone + k for k, t in enumerate(np.flatnonzero(lone))}
    drop = []
    for t in sorted(range(len(tops.rows)), key=lambda q: -tz[q]):
        if t in seeded:
            continue
        if t not in lone_at and _explained(t, tops, apex, skd, seeds, can, cfg):
            continue
        q = _carrier(t, tops, owner, used, skd, cover, can, cfg)
        if q is None:
            continue
        if q in seeds.s and seeds.h[seeds.s.index(q)] >= tz[t] - cfg.seeds.dominant_margin:
            continue                        # the stem has a crown about as high already
        # the apex read around the top; on a crown so sparse that the sectors read far below the
        # top (a few fronds), the top cell itself
        h_t = sector_apex(scene.chm, tops.rows[t], tops.cols[t], scene.res, cfg)[2]
        if h_t < tz[t] - cfg.seeds.dominant_margin:
            h_t = float(tz[t])
        if h_t < cfg.hmin:
            continue
        used.add(q)
        if q in seeds.s:                      # the crownless base's own seed gives way to its crown
            k = seeds.s.index(q)
            seeds.r[k], seeds.c[k], seeds.o[k], seeds.h[k] = tops.rows[t], tops.cols[t], False, h_t
            if t in lone_at:
                drop.append(lone_at[t])
        elif t in lone_at:
            seeds.s[lone_at[t]] = q
        else:
            seeds.add(tops.rows[t], tops.cols[t], q, False, h_t)
    for k in sorted(drop, reverse=True):
        seeds.drop(k)


def _explained(t: int, tops: TopSet, apex: np.ndarray, skd, seeds: SeedList, can: _Canopy, cfg: DetectConfig) -> bool:
    """Top ``t`` is no dominant top: a stem apex or a seed within the distance where a crown holds
    extra maxima is at most ``dominant_margin`` m lower and its canopy joins the top's."""
    scene, tx, ty, tz = can.scene, tops.tx, tops.ty, tops.tz
    stems, res = scene.stems, scene.res
    reach = max(cfg.seeds.lone_radius, cfg.seeds.lone_height_ratio * tz[t])
    tops_of = [(stems["x"][q], stems["y"][q]) for q in skd.query_ball_point([tx[t], ty[t]], reach)
               if apex[q] >= tz[t] - cfg.seeds.dominant_margin]
    sx_ = scene.xmin + (np.asarray(seeds.c) + 0.5) * res
    sy_ = scene.ymax - (np.asarray(seeds.r) + 0.5) * res
    k_ = np.flatnonzero((np.hypot(sx_ - tx[t], sy_ - ty[t]) <= reach)
                        & (np.asarray(seeds.h) >= tz[t] - cfg.seeds.dominant_margin))
    tops_of += [(sx_[k], sy_[k]) for k in k_]
    return any(can.joined(tx[t], ty[t], a, b) for a, b in tops_of)


def _carrier(t: int, tops: TopSet, owner: np.ndarray, used: set, skd, cover: np.ndarray, can: _Canopy,
             cfg: DetectConfig) -> int | None:
    """The stem that carries dominant top ``t``: its own stem when the top's crown is over it (its
    apex was read low: a narrow or sparse crown, a palm's few fronds), else the nearest unused
    crownless stem within ``lean_reach`` degrees whose stem shows on the way to the top; None."""
    stems, tx, ty, tz = can.scene.stems, tops.tx, tops.ty, tops.tz
    if owner[t] >= 0 and owner[t] not in used and can.own_crown_is_top(int(owner[t]), tz[t]):
        return int(owner[t])
    cand = [q for q in skd.query_ball_point([tx[t], ty[t]], np.tan(np.radians(cfg.seeds.lean_reach)) * tz[t])
            if q not in used and cover[q] < cfg.seeds.crownless_cover and can.stem_line(q, tx[t], ty[t])]
    if not cand:
        return None
    return min(cand, key=lambda q: np.hypot(stems["x"][q] - tx[t], stems["y"][q] - ty[t]))
