"""The stem-first path: every stem is a tree, and the canopy tops are given to the stems.

:func:`fuse_stems` turns the local-maximum tops and the stems into crown seeds; leaning trees
take the tops their stem lines lead to (:func:`_lean_owners`), lone tops stay trees, dominant tops
are paired with the stem that carries them (:func:`models.trees.leaning.pair_leaning`), and seeds
on the flank of a higher crown are flagged occluded (:func:`_on_a_flank`).
"""

from __future__ import annotations

import numpy as np

from models.trees.apex import sector_apex
from models.trees.detect_config import DetectConfig
from models.trees.leaning import pair_leaning
from models.trees.seeds import SeedList, StemScene, TopSet
from models.trees.stems import stem_lean

__all__ = ["fuse_stems"]


def fuse_stems(chm: np.ndarray, rows: np.ndarray, cols: np.ndarray, stems: dict, xmin: float, ymax: float,
               res: float, cfg: DetectConfig, under=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Final crown seeds from the local-maximum tops and the stems.

    Every stem is a tree. Its seed is the highest top within ``top_search`` m whose nearest stem it
    is and which is at most ``top_tolerance`` m above the canopy right over the stem (a leaning
    crown's top is offset, but not much higher than the crown over its stem; a much higher top
    belongs to a neighbour's crown overhanging this stem). Without such a top the seed is the cell
    :func:`sector_apex` read the stem's apex on: the local-maximum filter missed this top
    because a taller neighbour's crown edge stands within its window; the tree is then flagged
    *occluded* when a crown more than ``top_tolerance`` m higher stands within ``top_search`` m.
    A leaning stem owns the tops its stem line leads to (:func:`_lean_owners`, given the
    understorey returns ``under``); the stem that lost one to it is flagged occluded.
    A top farther than ``lone_radius`` m and ``lone_height_ratio`` x its height from every stem is
    a tree whose stem was not seen (a lone young tree); other stemless tops are extra maxima of a
    stem tree's wide crown, unless :func:`models.trees.leaning.pair_leaning` finds them *dominant*
    (no crown around explains them) with a stem to carry them: a leaning stem with no crown over
    it, or the stem of a sparse crown whose apex sectors read low.
    Returns seed rows, cols, the stem of each seed (-1 = none), the occluded flags and the apex
    heights."""
    from scipy.spatial import cKDTree

    nr, nc = chm.shape
    sc = np.clip(((stems["x"] - xmin) / res).astype(np.int64), 0, nc - 1)
    sr = np.clip(((ymax - stems["y"]) / res).astype(np.int64), 0, nr - 1)
    ns = sc.size
    scene = StemScene(chm, xmin, ymax, res, stems, sr, sc)
    tops = TopSet(rows, cols, xmin + (cols + 0.5) * res, ymax - (rows + 0.5) * res,
                  chm[rows, cols] if len(rows) else np.zeros(0))
    owner = np.full(len(rows), -1)
    base_d = np.full(len(rows), np.inf)      # from each top to the nearest stem
    if ns and len(rows):
        base_d, j = cKDTree(np.c_[stems["x"], stems["y"]]).query(np.c_[tops.tx, tops.ty])
        owner = np.where(base_d <= cfg.seeds.top_search, j, -1)
    apexes = _stem_apexes(scene, tops, cfg)
    ha_ = np.array([a[2] for a in apexes]) if ns else np.zeros(0)
    under_lean = np.zeros(ns, bool)
    if cfg.seeds.top_owner_lean > 0 and ns and under is not None:
        owner, ha_, under_lean = _lean_owners(scene, tops, owner, base_d, ha_, under, cfg)
    seeds, seeded = _seed_stems(scene, tops, owner, apexes, ha_, under_lean, cfg)
    if len(rows):
        lone = owner < 0
        if ns:
            lone &= base_d > np.maximum(cfg.seeds.lone_radius, cfg.seeds.lone_height_ratio * tops.tz)
        for t in np.flatnonzero(lone):
            seeds.add(rows[t], cols[t], -1, False, sector_apex(chm, rows[t], cols[t], res, cfg)[2])
        if ns:
            pair_leaning(scene, tops, np.array([a[2] for a in apexes]), lone, seeded, owner, seeds, cfg)
    if not seeds.r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0)
    r, c, s, o, hh = np.array(seeds.r), np.array(seeds.c), np.array(seeds.s), np.array(seeds.o), np.array(seeds.h, float)
    o |= _on_a_flank(chm, r, c, res, cfg)
    _, first = np.unique(r * nc + c, return_index=True)   # two stems on one seed cell: one tree
    first = np.sort(first)
    return r[first], c[first], s[first], o[first], hh[first]


def _stem_apexes(scene: StemScene, tops: TopSet, cfg: DetectConfig) -> list[tuple[int, int, float]]:
    """Every stem's apex (seed row, col, height). First pass: from all its sectors; second pass,
    where another stem or top within ``flank_search`` m is higher than that by ``flank_rise`` (a
    taller neighbour whose crown may overhang the stem): the same without the sectors facing that
    neighbour."""
    from scipy.spatial import cKDTree

    chm, res, sr, sc = scene.chm, scene.res, scene.sr, scene.sc
    ns = sc.size
    first_apex = [sector_apex(chm, sr[s], sc[s], res, cfg) for s in range(ns)]
    cand_r = np.r_[sr, tops.rows].astype(float)
    cand_c = np.r_[sc, tops.cols].astype(float)
    cand_h = np.r_[np.array([f[2] for f in first_apex]) if ns else np.zeros(0), tops.tz]
    cand_kd = cKDTree(np.c_[cand_r, cand_c]) if cand_r.size else None
    apexes = []
    for s in range(ns):
        away = []
        if cand_kd is not None:
            for q in cand_kd.query_ball_point([sr[s], sc[s]], cfg.seeds.flank_search / res):
                drr, dcc = cand_r[q] - sr[s], cand_c[q] - sc[s]
                if (drr or dcc) and cand_h[q] > first_apex[s][2] + cfg.apex.flank_rise and np.hypot(drr, dcc) * res > 1.0:
                    away.append(np.arctan2(drr, dcc))
        apexes.append(sector_apex(chm, sr[s], sc[s], res, cfg, away) if away else first_apex[s])
    return apexes


def _best_near(chm: np.ndarray, r: int, c: int, w: int) -> tuple[int, int, float]:
    """The highest cell within ``w`` cells (rows and columns) of (r, c), and its height."""
    nr, nc = chm.shape
    r0, r1 = max(0, r - w), min(nr, r + w + 1)
    c0, c1 = max(0, c - w), min(nc, c + w + 1)
    win = chm[r0:r1, c0:c1]
    i = int(np.argmax(win))
    return r0 + i // win.shape[1], c0 + i % win.shape[1], float(win.flat[i])


def _seed_stems(scene: StemScene, tops: TopSet, owner: np.ndarray, apexes: list, ha_: np.ndarray,
                under_lean: np.ndarray, cfg: DetectConfig) -> tuple[SeedList, set]:
    """One seed per stem: its highest own top not above its apex ``ha_`` by more than
    ``top_tolerance`` m, else the cell its apex was read on (occluded when a crown more than that
    higher stands within ``top_search`` m, or when a leaning neighbour took its top). Stems whose
    apex is under ``hmin`` give no tree. Returns the seeds and the tops taken."""
    chm, res, sr, sc = scene.chm, scene.res, scene.sr, scene.sc
    rows, cols, tz = tops.rows, tops.cols, tops.tz
    ns = sc.size
    far = max(1, int(round(cfg.seeds.top_search / res)))
    by_stem = [[] for _ in range(ns)]
    for t in np.flatnonzero(owner >= 0):
        by_stem[owner[t]].append(t)
    seeds, seeded = SeedList(), set()
    for s in range(ns):
        ra, ca, ha = apexes[s]
        ok = [t for t in by_stem[s] if tz[t] <= ha_[s] + cfg.seeds.top_tolerance]
        if ok:
            t = max(ok, key=lambda q: tz[q])
            seeded.add(t)
            seeds.add(rows[t], cols[t], s, False, sector_apex(chm, rows[t], cols[t], res, cfg)[2])
            continue
        if ha < cfg.hmin:
            continue
        _, _, hfar = _best_near(chm, sr[s], sc[s], far)
        seeds.add(ra, ca, s, hfar > ha + cfg.seeds.top_tolerance or under_lean[s], ha)
    return seeds, seeded


def _lean_owners(scene: StemScene, tops: TopSet, owner: np.ndarray, base_d: np.ndarray, apex: np.ndarray,
                 under: tuple, cfg: DetectConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tops of leaning trees. A stem leaning ``top_owner_lean`` degrees or more holds its crown off
    its base (tan x ``lean_centre_ratio`` x its apex height: 5-6 m for a 20 m plane tree leaning
    20 degrees), over the ground or over a smaller tree beneath it; the top of that crown is then
    nearer the smaller tree's stem, which took it, with the crown. A top is the leaning stem's when
    the crown centre its stem line leads to is nearer the top than every stem base (within
    ``top_search`` m) and the top is at most ``top_tolerance`` m above the apex read over that
    centre; a top no stem base was within ``top_search`` m of goes to it only when
    ``top_owner_lone_points`` returns or more carry its line (an upright stem's lean misread from
    a few returns would take a neighbour's top). The lean is read from the stem's returns below a
    first crown base guess (0.3 x the apex read over the stem: the consensus line of
    :func:`stem_lean` outvotes the lowest branches).
    ``base_d``: the distance from each top to the nearest stem base.
    Returns the owners, the apex over each leaning stem's crown centre (its own apex elsewhere)
    and a flag per stem: a top within ``top_search`` m of it went to a leaning neighbour (the stem
    stands under that crown)."""
    chm, xmin, ymax, res, stems = scene.chm, scene.xmin, scene.ymax, scene.res, scene.stems
    rows, tx, ty, tz = tops.rows, tops.tx, tops.ty, tops.tz
    ns = len(stems["x"])
    ux, uy, uh = under
    cbh = np.clip(0.3 * apex, 1.0, 8.0)
    lean, az, cnt = stem_lean(ux, uy, uh, stems["x"], stems["y"], cbh, np.ones(ns, bool), cfg)
    leaning = np.flatnonzero(np.nan_to_num(lean) >= cfg.seeds.top_owner_lean)
    apex_c = np.asarray(apex, float).copy()
    under_lean = np.zeros(ns, bool)
    out = owner.copy()
    if leaning.size == 0 or len(rows) == 0:
        return out, apex_c, under_lean
    nr, nc = chm.shape
    off = np.tan(np.radians(lean[leaning])) * cfg.measure.lean_centre_ratio * apex[leaning]
    px = stems["x"][leaning] + off * np.sin(np.radians(az[leaning]))
    py = stems["y"][leaning] + off * np.cos(np.radians(az[leaning]))
    for k, q in enumerate(leaning):
        r_ = int(np.clip((ymax - py[k]) / res, 0, nr - 1))
        c_ = int(np.clip((px[k] - xmin) / res, 0, nc - 1))
        apex_c[q] = max(apex_c[q], sector_apex(chm, r_, c_, res, cfg)[2])
    for t in range(len(rows)):
        dl = np.hypot(px - tx[t], py - ty[t])
        k = int(np.argmin(dl))
        if owner[t] < 0 and cnt[leaning[k]] < cfg.seeds.top_owner_lone_points:
            continue
        if owner[t] != leaning[k] and dl[k] <= cfg.seeds.top_search and dl[k] < base_d[t] and \
                tz[t] <= apex_c[leaning[k]] + cfg.seeds.top_tolerance:
            if owner[t] >= 0:
                under_lean[owner[t]] = True
            out[t] = leaning[k]
    return out, apex_c, under_lean


def _on_a_flank(chm: np.ndarray, r: np.ndarray, c: np.ndarray, res: float, cfg: DetectConfig) -> np.ndarray:
    """Seeds that sit on the flank of a higher crown: the canopy rises without a dip from the seed
    to a seed more than ``top_tolerance`` m higher within ``flank_search`` m (a visible tree has a
    crown gap or at least a valley between its top and a neighbour's)."""
    from scipy.spatial import cKDTree

    h = chm[r, c]
    out = np.zeros(r.size, bool)
    if r.size < 2:
        return out
    tree = cKDTree(np.c_[r, c])
    for i, js in enumerate(tree.query_ball_point(np.c_[r, c], cfg.seeds.flank_search / res)):
        for j in js:
            if h[j] <= h[i] + cfg.seeds.top_tolerance:
                continue
            n = int(np.hypot(r[j] - r[i], c[j] - c[i]) * 2) + 2
            rr = np.rint(np.linspace(r[i], r[j], n)).astype(np.int64)
            cc = np.rint(np.linspace(c[i], c[j], n)).astype(np.int64)
            if chm[rr, cc].min() >= h[i] - cfg.seeds.flank_dip:
                out[i] = True
                break
    return out


