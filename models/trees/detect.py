"""Trees of one tile from its raster layers and its neighbours': tops, crowns, per-tree metrics.

A tile is processed on a mosaic of itself and the ``buffer`` metres of its neighbours, so that a
crown straddling a tile edge is segmented whole; a tree belongs to the tile holding its top, so
every tree is reported once.

Steps (see docs/trees.md for the measures and their units):

1. the CHM's empty cells take the highest of their 8 neighbours, the rest 0 m; cells that are not
   vegetation (fewer than ``veg_multi_share`` of the first returns around them came from pulses
   with several returns: roofs and walls stop a pulse, foliage lets part of it through) are set to
   0 m, so buildings give no tree;
2. tops: lidR's local-maximum filter (:func:`models.lidar.lmf.locate_trees_raster`) on the CHM
   smoothed by a Gaussian (``sigma`` cells: the crown surface is noisy, about 0.15 m, and a flat
   crown top would otherwise give several maxima), variable window ``ws = clip(a + b h, lo, hi)``;
3. crowns: :func:`models.lidar.crowns.dalponte2016` on the unsmoothed CHM;
4. metrics per crown from the cells and the understorey points under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from models.lidar.crowns import crown_boundary, dalponte2016
from models.lidar.lmf import locate_trees_raster
from models.lidar.tiles import TileRasters
from models.trees.allometry import PALM_LAYER_M
from models.trees.canopy_tops import STEM_FIRST, canopy_first, canopy_tops, scene_evidence

__all__ = ["DetectConfig", "mosaic", "detect_trees", "TREE_COLUMNS", "SCENE_COLUMNS", "CANOPY_SETTINGS"]

TREE_COLUMNS = ("top_x", "top_y", "x", "y", "height_m", "crown_area_m2", "crown_diameter_m", "crown_volume_m3",
                "crown_base_m", "gap_fraction", "top_gap_fraction", "lean_deg", "lean_azimuth_deg",
                "stem_points", "crown_contact_share", "crown_cells", "crown_star_ratio", "crown_layer_depth_m",
                "position_source", "occluded", "height_reading")
#: per-scene facts copied onto each of its trees (the path taken and what chose it)
SCENE_COLUMNS = ("detection_path", "scene_point_density", "scene_canopy_cover", "scene_stem_share",
                 "scene_top_share")


@dataclass(frozen=True)
class DetectConfig:
    ws_a: float = 2.0        # window diameter (m) = clip(ws_a + ws_b * height, ws_lo, ws_hi)
    ws_b: float = 0.15
    ws_lo: float = 3.0
    ws_hi: float = 6.0
    hmin: float = 2.0        # lowest tree top (m)
    sigma: float = 1.0       # CHM smoothing for the tops (cells)
    th_tree: float = 1.5     # dalponte2016 parameters
    th_seed: float = 0.45
    th_cr: float = 0.55
    max_cr: float = 22.0
    buffer: float = 20.0     # metres of the neighbours in the mosaic
    veg_window: float = 2.5  # m, neighbourhood of the vegetation test
    veg_multi_share: float = 0.15  # share of first returns from multi-return pulses above which a cell is canopy
    stem_band: tuple = (0.3, 4.0)  # m above ground where stems are looked for
    stem_link: float = 0.8   # m between returns of one stem
    stem_min_points: int = 2
    stem_max_low: float = 2.0  # m: a stem cluster reaches below this height
    stem_merge: float = 2.0    # m: stem clusters closer than this are one tree
    apex_radius: float = 2.5   # m: disc around a stem (or a top) whose cells give the apex height
    apex_sectors: int = 8
    flank_halfangle: float = 60.0  # degrees either side of the direction of a taller neighbour
    flank_rise: float = 0.5    # m: a neighbour whose apex is this much higher may overhang
    apex_quantile: float = 0.3  # of the sector maxima (3rd lowest of 8): robust to a neighbour overhanging part of the disc
    height_from_apex: bool = True
    apex_consistent: float = 1.0  # m: the sector maxima up to this much above that quantile are averaged (0: the quantile alone)
    # m: a neighbour this much higher may cover a stem's apex (negative: the reading over the stem,
    # a maximum of noisy cells on the neighbour's flank, may exceed the neighbour's own apex reading)
    covered_rise: float = -0.5
    covered_reach: float = 10.0  # m from a stem to the tops of neighbours that may cover it
    covered_step: float = 1.5    # m: a drop this high between two cells separates two crown surfaces
    covered_slope: float = 0.35  # m/m: the canopy over the stem rises at least this steeply towards a covering neighbour
    covered_slope_radius: float = 1.0  # m around the stem where that slope is fitted
    covered_noise: float = 0.3   # m a crown's surface may rise between two cells on the way down from its top
    covered_radius: float = 6.0  # m around the stem where its own crown is sought
    covered_min_cells: int = 4
    covered_close: bool = True
    covered_to_peak: bool = True  # the profile to a covering top is read up to its highest point
    covered_peak_seed: bool = True  # that highest point seeds the walk over the neighbours' surface
    covered_rim: int = 2          # passes peeling a neighbour's steep rim off the cells around a covered stem
    peak_window: float = 1.0     # m around a visible top where its highest cells are read
    peak_cells: int = 3          # how many of them are averaged (0: the sector reading stands)
    sliver_area: float = 2.0     # m²: a crown segment smaller than this ...
    sliver_height: float = 6.0   # m: ... under a tree this tall was not separated from its neighbours
    top_search: float = 3.0    # m from a stem to the tops it may own
    top_tolerance: float = 0.5  # m a stem's top may rise above the canopy right over the stem (1.5 until the sixth session)
    top_owner_lean: float = 10.0  # degrees: a stem leaning this much owns the tops nearer its crown centre than any stem (0: off)
    top_owner_lone_points: int = 10  # returns on its line for it to take a top no stem was within top_search of
    lone_radius: float = 4.0   # m: a top farther than this from every stem is a tree of its own
    lone_height_ratio: float = 0.5  # ... and farther than this x its height (a wide crown holds extra tops)
    dominant_margin: float = 3.0  # m: a top this much higher than every stem's apex and seed within that distance is no extra maximum
    crownless_cover: float = 0.3  # share of canopy (> hmin) within 1.5 m of a stem under which it carries no crown of its own
    lean_reach: float = 35.0      # degrees: a crownless stem and a dominant top this far apart (tan x its height) are one leaning tree
    flank_search: float = 8.0  # m: higher seeds considered for the occlusion test
    flank_dip: float = 0.3     # m: a valley shallower than this does not separate two crowns
    lean_min_points: int = 5
    cbh_quantile: float = 0.03  # of the lowest return per crown cell (stems excluded by the 0.5 m floor)
    lean_min_span: float = 1.5  # m of stem height the lean fit must span
    lean_tol: float = 0.3      # m: a return this close to a stem's line is on it
    lean_max_points: int = 200  # the lowest returns that vote for a stem's line
    lean_anchors: int = 15      # the lowest returns candidate lines go through
    lean_reread_min: float = 10.0  # degrees: a stem leaning more has its apex read again over its crown centre (0: never)
    lean_centre_ratio: float = 0.6  # crown centre height / tree height
    diam_quantile: float = 0.6  # of the free boundary radii (crown diameter = 2 x radius)
    edge_offset: float = 0.25  # m from a boundary cell centre to the crown edge
    spread_sectors: int = 16   # directions of the crown spread
    spread_min_sectors: int = 4  # free directions needed; fewer: the free-edge / area estimate
    spread_quantile: float | None = 0.7  # of the directions' reaches (None: their mean)
    spread_offset: float = -0.25  # m from the farthest crown cell centre to the edge (the CHM's 0.2 m subcircle widens it)
    palm_depth: float = PALM_LAYER_M  # m: a crown layer (surface to lowest return, median) this thin is a palm's
    palm_quantile: float = 0.9    # of the directions' reaches for a palm
    palm_offset: float = 0.5      # m added to a palm's reach
    palm_cap: float = 0.75        # m: a palm's reach at most this much beyond its median reach
    # the choice between stem-first and canopy-first evidence (models/trees/canopy_tops.py); these
    # settings are only read by that choice and by the canopy-first path (CANOPY_SETTINGS)
    canopy_switch: bool = True    # False: always stem-first (the path before the switch)
    column_min_points: int = 5    # understorey returns within stem_link m of a stem base ...
    column_min_span: float = 1.0  # ... spanning this many metres of height: a stem column, not a shrub
    column_top_min_h: float = 5.0  # m: canopy tops this high are the trees a column stem should stand under
    stems_resolved_share: float = 0.4  # mean of the shares (column stems under tops, tops over column stems) reaching this: stem-first
    evidence_min_tops: int = 5    # fewer tops in the tile: nothing to decide on, stem-first
    canopy_min_cover: float = 0.15  # share of cells above hmin under which crowns stand apart: stem-first
    canopy_ws: float = 2.0        # m, window of the canopy-first tops: clip(canopy_ws + canopy_ws_b x height, canopy_ws, canopy_ws_hi)
    canopy_ws_b: float = 0.05     # (chosen on the tuning plots of bench/trees_real.py: fixed 2.5, 3, 3.5 m and three slopes tried)
    canopy_ws_hi: float = 4.0
    canopy_stem_gate: float = 1.5  # m: a column stem this near a canopy-first top gives its position


#: settings read only by the path choice and the canopy-first path (left out of the height model's
#: detection fingerprint: the correction is applied on stem-first scenes only, whose detections
#: they do not change)
CANOPY_SETTINGS = ("canopy_switch", "column_min_points", "column_min_span", "column_top_min_h",
                   "stems_resolved_share", "evidence_min_tops", "canopy_min_cover", "canopy_ws", "canopy_ws_b", "canopy_ws_hi",
                   "canopy_stem_gate")


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


def find_stems(ux: np.ndarray, uy: np.ndarray, uh: np.ndarray, cfg: "DetectConfig") -> dict[str, np.ndarray]:
    """Stems: clusters of understorey returns low above the ground (``stem_band`` m), linked within
    ``stem_link`` m, of at least ``stem_min_points`` points and reaching down below ``stem_max_low``
    m (the lower crown of a tree also gives low clusters, but none that reach the ground)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    m = (uh > cfg.stem_band[0]) & (uh < cfg.stem_band[1])
    x, y, h = ux[m], uy[m], uh[m].astype(np.float64)
    empty = {"x": np.zeros(0), "y": np.zeros(0), "n": np.zeros(0, np.int64)}
    if x.size < 2:
        return empty
    pairs = cKDTree(np.c_[x, y]).query_pairs(cfg.stem_link, output_type="ndarray")
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(x.size, x.size))
    _, lab = connected_components(g, directed=False)
    cnt = np.bincount(lab)
    hmin = np.full(cnt.size, np.inf)
    np.minimum.at(hmin, lab, h)
    ok = (cnt >= cfg.stem_min_points) & (hmin < cfg.stem_max_low)
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
        pairs = cKDTree(np.c_[sx, sy]).query_pairs(cfg.stem_merge, output_type="ndarray")
        if len(pairs):
            g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(sx.size, sx.size))
            _, grp = connected_components(g, directed=False)
            order = np.lexsort((-sn, grp))
            first = order[np.r_[True, grp[order][1:] != grp[order][:-1]]]
            sx, sy, sn = sx[first], sy[first], sn[first]
    return {"x": sx, "y": sy, "n": sn}


def sector_apex(chm: np.ndarray, r: int, c: int, res: float, cfg: "DetectConfig", away=()) -> tuple[int, int, float]:
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
    dr_, dc_, sector_, sec_dir = _sector_disc(cfg.apex_radius, res, cfg.apex_sectors)
    rr, cc = r + dr_, c + dc_
    m = (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
    rr, cc, sec = rr[m], cc[m], sector_[m]
    v = chm[rr, cc]
    best = np.full(cfg.apex_sectors, -np.inf)
    np.maximum.at(best, sec, v)
    ok = np.isfinite(best)
    if len(away):
        d = np.abs((sec_dir[:, None] - np.asarray(away)[None, :] + np.pi) % (2 * np.pi) - np.pi)
        free = ok & (d.min(1) > np.radians(cfg.flank_halfangle))
        if free.sum() >= 2:
            ok = free
    bs = np.sort(best[ok])
    h = float(bs[int(np.floor(cfg.apex_quantile * (bs.size - 1)))])
    k = int(np.flatnonzero((v == h) & ok[sec])[0])
    if cfg.apex_consistent > 0:
        h = float(bs[(bs >= h) & (bs <= h + cfg.apex_consistent)].mean())
    return int(rr[k]), int(cc[k]), h


@lru_cache(maxsize=16)
def _sector_disc(radius: float, res: float, sectors: int):
    """Cell offsets of a disc (centre excluded), the sector of each, and the sectors' directions."""
    apex = max(1, int(np.ceil(radius / res)))
    dr_, dc_ = np.mgrid[-apex:apex + 1, -apex:apex + 1]
    disk = (np.hypot(dr_, dc_) * res <= radius + 1e-9) & ((dr_ != 0) | (dc_ != 0))
    dr_, dc_ = dr_[disk], dc_[disk]
    sector_ = np.floor((np.arctan2(dr_, dc_) + np.pi) / (2 * np.pi) * sectors).astype(np.int64) % sectors
    sec_dir = (np.arange(sectors) + 0.5) / sectors * 2 * np.pi - np.pi
    return dr_, dc_, sector_, sec_dir


def fuse_stems(chm: np.ndarray, rows: np.ndarray, cols: np.ndarray, stems: dict, xmin: float, ymax: float,
               res: float, cfg: "DetectConfig", under=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    stem tree's wide crown, unless :func:`_pair_leaning` finds them *dominant* (no crown around
    explains them) with a stem to carry them: a leaning stem with no crown over it, or the stem
    of a sparse crown whose apex sectors read low.
    Returns seed rows, cols, the stem of each seed (-1 = none), the occluded flags and the apex
    heights."""
    from scipy.spatial import cKDTree

    nr, nc = chm.shape
    sc = np.clip(((stems["x"] - xmin) / res).astype(np.int64), 0, nc - 1)
    sr = np.clip(((ymax - stems["y"]) / res).astype(np.int64), 0, nr - 1)
    ns = sc.size
    far = max(1, int(round(cfg.top_search / res)))

    def best_near(r, c, w):
        r0, r1 = max(0, r - w), min(nr, r + w + 1)
        c0, c1 = max(0, c - w), min(nc, c + w + 1)
        win = chm[r0:r1, c0:c1]
        i = int(np.argmax(win))
        return r0 + i // win.shape[1], c0 + i % win.shape[1], float(win.flat[i])

    tz = chm[rows, cols] if len(rows) else np.zeros(0)
    tx = xmin + (cols + 0.5) * res
    ty = ymax - (rows + 0.5) * res
    owner = np.full(len(rows), -1)
    base_d = np.full(len(rows), np.inf)      # from each top to the nearest stem
    if ns and len(rows):
        base_d, j = cKDTree(np.c_[stems["x"], stems["y"]]).query(np.c_[tx, ty])
        owner = np.where(base_d <= cfg.top_search, j, -1)
    out_r, out_c, out_s, out_o, out_h = [], [], [], [], []
    # first pass: every stem's apex from all its sectors; second pass, where another stem or top
    # within flank_search m is higher than that by flank_rise (a taller neighbour whose crown may
    # overhang the stem): the same without the sectors facing that neighbour
    first_apex = [sector_apex(chm, sr[s], sc[s], res, cfg) for s in range(ns)]
    cand_r = np.r_[sr, rows].astype(float)
    cand_c = np.r_[sc, cols].astype(float)
    cand_h = np.r_[np.array([f[2] for f in first_apex]) if ns else np.zeros(0), tz]
    cand_kd = cKDTree(np.c_[cand_r, cand_c]) if cand_r.size else None
    apexes = []
    for s in range(ns):
        away = []
        if cand_kd is not None:
            for q in cand_kd.query_ball_point([sr[s], sc[s]], cfg.flank_search / res):
                drr, dcc = cand_r[q] - sr[s], cand_c[q] - sc[s]
                if (drr or dcc) and cand_h[q] > first_apex[s][2] + cfg.flank_rise and np.hypot(drr, dcc) * res > 1.0:
                    away.append(np.arctan2(drr, dcc))
        apexes.append(sector_apex(chm, sr[s], sc[s], res, cfg, away) if away else first_apex[s])
    ha_ = np.array([a[2] for a in apexes]) if ns else np.zeros(0)
    under_lean = np.zeros(ns, bool)
    if cfg.top_owner_lean > 0 and ns and under is not None:
        owner, ha_, under_lean = _lean_owners(chm, owner, rows, cols, tx, ty, tz, base_d, stems, ha_, under, xmin, ymax, res, cfg)
    by_stem = [[] for _ in range(ns)]
    for t in np.flatnonzero(owner >= 0):
        by_stem[owner[t]].append(t)

    seeded = set()
    for s in range(ns):
        ra, ca, ha = apexes[s]
        ok = [t for t in by_stem[s] if tz[t] <= ha_[s] + cfg.top_tolerance]
        if ok:
            t = max(ok, key=lambda q: tz[q])
            seeded.add(t)
            out_r.append(rows[t]); out_c.append(cols[t]); out_s.append(s); out_o.append(False)
            out_h.append(sector_apex(chm, rows[t], cols[t], res, cfg)[2])
            continue
        if ha < cfg.hmin:
            continue
        _, _, hfar = best_near(sr[s], sc[s], far)
        out_r.append(ra); out_c.append(ca); out_s.append(s); out_o.append(hfar > ha + cfg.top_tolerance or under_lean[s])
        out_h.append(ha)
    if len(rows):
        lone = owner < 0
        if ns:
            lone &= base_d > np.maximum(cfg.lone_radius, cfg.lone_height_ratio * tz)
        for t in np.flatnonzero(lone):
            out_r.append(rows[t]); out_c.append(cols[t]); out_s.append(-1); out_o.append(False)
            out_h.append(sector_apex(chm, rows[t], cols[t], res, cfg)[2])
        if ns:
            _pair_leaning(chm, rows, cols, tx, ty, tz, stems, sr, sc, np.array([a[2] for a in apexes]), lone, seeded,
                          owner, out_r, out_c, out_s, out_o, out_h, xmin, ymax, res, cfg)
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0)
    r, c, s, o, hh = np.array(out_r), np.array(out_c), np.array(out_s), np.array(out_o), np.array(out_h, float)
    o |= _on_a_flank(chm, r, c, res, cfg)
    _, first = np.unique(r * nc + c, return_index=True)   # two stems on one seed cell: one tree
    first = np.sort(first)
    return r[first], c[first], s[first], o[first], hh[first]


def _lean_owners(chm, owner, rows, cols, tx, ty, tz, base_d, stems, apex, under, xmin, ymax, res,
                 cfg: "DetectConfig") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    ns = len(stems["x"])
    ux, uy, uh = under
    cbh = np.clip(0.3 * apex, 1.0, 8.0)
    lean, az, cnt = stem_lean(ux, uy, uh, stems["x"], stems["y"], cbh, np.ones(ns, bool), cfg)
    leaning = np.flatnonzero(np.nan_to_num(lean) >= cfg.top_owner_lean)
    apex_c = np.asarray(apex, float).copy()
    under_lean = np.zeros(ns, bool)
    out = owner.copy()
    if leaning.size == 0 or len(rows) == 0:
        return out, apex_c, under_lean
    nr, nc = chm.shape
    off = np.tan(np.radians(lean[leaning])) * cfg.lean_centre_ratio * apex[leaning]
    px = stems["x"][leaning] + off * np.sin(np.radians(az[leaning]))
    py = stems["y"][leaning] + off * np.cos(np.radians(az[leaning]))
    for k, q in enumerate(leaning):
        r_ = int(np.clip((ymax - py[k]) / res, 0, nr - 1))
        c_ = int(np.clip((px[k] - xmin) / res, 0, nc - 1))
        apex_c[q] = max(apex_c[q], sector_apex(chm, r_, c_, res, cfg)[2])
    for t in range(len(rows)):
        dl = np.hypot(px - tx[t], py - ty[t])
        k = int(np.argmin(dl))
        if owner[t] < 0 and cnt[leaning[k]] < cfg.top_owner_lone_points:
            continue
        if owner[t] != leaning[k] and dl[k] <= cfg.top_search and dl[k] < base_d[t] and \
                tz[t] <= apex_c[leaning[k]] + cfg.top_tolerance:
            if owner[t] >= 0:
                under_lean[owner[t]] = True
            out[t] = leaning[k]
    return out, apex_c, under_lean


def _canopy_cover(chm: np.ndarray, r: np.ndarray, c: np.ndarray, res: float, radius: float, floor: float) -> np.ndarray:
    """Share of the cells within ``radius`` m of each cell (r, c) whose canopy is above ``floor`` m."""
    k = max(1, int(np.ceil(radius / res)))
    dr, dc = np.mgrid[-k:k + 1, -k:k + 1]
    disc = (np.hypot(dr, dc) * res <= radius).astype(float)
    share = ndimage.convolve((chm > floor).astype(float), disc / disc.sum(), mode="constant")
    return share[r, c] if len(r) else np.zeros(0)


def _pair_leaning(chm, rows, cols, tx, ty, tz, stems, sr, sc, apex, lone, seeded, owner, out_r, out_c, out_s, out_o, out_h,
                  xmin, ymax, res, cfg: "DetectConfig") -> None:
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
    of a stem (which :func:`fuse_stems` refused as higher than the apex read around the stem, as
    if a neighbour's crown overhung it) is that stem's own when, within 1.5 m of the stem, more
    canopy stands at the top's level than below it (the stem has no lower crown of its own): no
    crown around explains the top; the apex disc read low on a narrow or sparse crown (a palm
    whose few fronds fill few of its sectors). Tallest tops first; a lone top (already a tree)
    takes the stem too. A top without such a stem is left out, as before: adding those found more extra maxima
    of merged crowns than trees. Edits the ``out_*`` lists in place."""
    from scipy.spatial import cKDTree

    skd = cKDTree(np.c_[stems["x"], stems["y"]])
    cover = _canopy_cover(chm, sr, sc, res, 1.5, cfg.hmin)
    closed = ndimage.grey_closing(chm, size=(3, 3))
    nr, nc = chm.shape
    used: set = set()
    n_lone = int(lone.sum())
    lone_at = {int(t): len(out_r) - n_lone + k for k, t in enumerate(np.flatnonzero(lone))}
    drop = []

    def line(x0, y0, x1, y1, skip=0.0):
        """The CHM cells on the segment from (x0, y0) to (x1, y1), from ``skip`` m along it."""
        d = np.hypot(x1 - x0, y1 - y0)
        f = np.linspace(skip / d if d > 0 else 0.0, 1.0, int(d / res) + 2)
        c_ = np.clip(((x0 + f * (x1 - x0) - xmin) / res).astype(np.int64), 0, nc - 1)
        r_ = np.clip(((ymax - (y0 + f * (y1 - y0))) / res).astype(np.int64), 0, nr - 1)
        return r_, c_

    def stem_line(q, t):
        """The stem shows as canopy on the way to the top: from 1.5 m off its base, 80 % of the
        cells on the line are above hmin."""
        if np.hypot(tx[t] - stems["x"][q], ty[t] - stems["y"][q]) <= 2.0:
            return True
        r_, c_ = line(stems["x"][q], stems["y"][q], tx[t], ty[t], skip=1.5)
        return bool(np.mean(chm[r_, c_] >= cfg.hmin) >= 0.8)

    def joined(x0, y0, x1, y1):
        """The canopy between two points never drops to the ground (a gap of a cell or two in a
        transparent crown aside): one crown, or touching ones."""
        r_, c_ = line(x0, y0, x1, y1)
        return bool(closed[r_, c_].min() >= cfg.hmin)

    dr_, dc_ = _sector_disc(1.5, res, 1)[:2]
    ddr, ddc = np.r_[0, dr_], np.r_[0, dc_]     # the 1.5 m disc, its centre included

    def own_crown_is_top(q, h):
        """Around the stem (1.5 m), more canopy stands at the top's level than below it: the
        stem carries no lower crown of its own, the top's crown is over it."""
        v = chm[np.clip(sr[q] + ddr, 0, nr - 1), np.clip(sc[q] + ddc, 0, nc - 1)]
        return bool(np.sum(v >= h - cfg.dominant_margin) > np.sum((v > cfg.hmin) & (v < h - cfg.dominant_margin)))

    for t in sorted(range(len(rows)), key=lambda q: -tz[q]):
        if t in seeded:
            continue
        if t not in lone_at:
            reach = max(cfg.lone_radius, cfg.lone_height_ratio * tz[t])
            tops_of = [(stems["x"][q], stems["y"][q]) for q in skd.query_ball_point([tx[t], ty[t]], reach)
                       if apex[q] >= tz[t] - cfg.dominant_margin]
            sx_ = xmin + (np.asarray(out_c) + 0.5) * res
            sy_ = ymax - (np.asarray(out_r) + 0.5) * res
            k_ = np.flatnonzero((np.hypot(sx_ - tx[t], sy_ - ty[t]) <= reach) & (np.asarray(out_h) >= tz[t] - cfg.dominant_margin))
            tops_of += [(sx_[k], sy_[k]) for k in k_]
            if any(joined(tx[t], ty[t], a, b) for a, b in tops_of):
                continue
        if owner[t] >= 0 and owner[t] not in used and own_crown_is_top(int(owner[t]), tz[t]):
            q = int(owner[t])   # its own stem's apex was read low: a narrow or sparse crown (a palm's few fronds)
        else:
            cand = [q for q in skd.query_ball_point([tx[t], ty[t]], np.tan(np.radians(cfg.lean_reach)) * tz[t])
                    if q not in used and cover[q] < cfg.crownless_cover and stem_line(q, t)]
            if not cand:
                continue
            q = min(cand, key=lambda q: np.hypot(stems["x"][q] - tx[t], stems["y"][q] - ty[t]))
        if q in out_s and out_h[out_s.index(q)] >= tz[t] - cfg.dominant_margin:
            continue                        # the stem has a crown about as high already
        # the apex read around the top; on a crown so sparse that the sectors read far below the
        # top (a few fronds), the top cell itself
        h_t = sector_apex(chm, rows[t], cols[t], res, cfg)[2]
        if h_t < tz[t] - cfg.dominant_margin:
            h_t = float(tz[t])
        if h_t < cfg.hmin:
            continue
        used.add(q)
        if q in out_s:                      # the crownless base's own seed gives way to its crown
            k = out_s.index(q)
            out_r[k], out_c[k], out_o[k], out_h[k] = rows[t], cols[t], False, h_t
            if t in lone_at:
                drop.append(lone_at[t])
        elif t in lone_at:
            out_s[lone_at[t]] = q
        else:
            out_r.append(rows[t]); out_c.append(cols[t]); out_s.append(q); out_o.append(False); out_h.append(h_t)
    for k in sorted(drop, reverse=True):
        for lst in (out_r, out_c, out_s, out_o, out_h):
            del lst[k]


def stem_lean(ux, uy, uh, sx, sy, cbh, has, cfg: "DetectConfig") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        if idx.size < cfg.lean_min_points:
            continue
        h = uh[idx].astype(float)
        dx, dy = ux[idx] - sx[i], uy[idx] - sy[i]
        sel = (h > 0.3) & (h < cbh[i] - 0.3) & (np.hypot(dx, dy) <= 0.6 + np.tan(np.radians(35)) * h)
        if sel.sum() < cfg.lean_min_points or np.ptp(h[sel]) < cfg.lean_min_span:
            continue
        # the stem is at the bottom: the lowest lean_max_points returns vote, on lines through one
        # of the lowest lean_anchors and any other return 0.5 m or more above or below it
        o = np.argsort(h[sel])[:cfg.lean_max_points]
        h, dx, dy = h[sel][o], dx[sel][o], dy[sel][o]
        a_, b_ = np.meshgrid(np.arange(min(cfg.lean_anchors, h.size)), np.arange(h.size), indexing="ij")
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
        inl = r <= cfg.lean_tol
        votes = inl.sum(1)
        best = np.flatnonzero(votes == votes.max())
        k = best[np.argmin(np.where(inl[best], r[best], 0).sum(1))]
        on = inl[k]
        if on.sum() < cfg.lean_min_points or np.ptp(h[on]) < cfg.lean_min_span:
            continue
        A = np.c_[np.ones(on.sum()), h[on]]
        (_, bx), *_ = np.linalg.lstsq(A, dx[on], rcond=None)
        (_, by), *_ = np.linalg.lstsq(A, dy[on], rcond=None)
        t = np.degrees(np.arctan(np.hypot(bx, by)))
        if t <= 45:
            lean[i], az[i], cnt[i] = t, np.degrees(np.arctan2(bx, by)) % 360, on.sum()
    return lean, az, cnt


def _on_a_flank(chm: np.ndarray, r: np.ndarray, c: np.ndarray, res: float, cfg: "DetectConfig") -> np.ndarray:
    """Seeds that sit on the flank of a higher crown: the canopy rises without a dip from the seed
    to a seed more than ``top_tolerance`` m higher within ``flank_search`` m (a visible tree has a
    crown gap or at least a valley between its top and a neighbour's)."""
    from scipy.spatial import cKDTree

    h = chm[r, c]
    out = np.zeros(r.size, bool)
    if r.size < 2:
        return out
    tree = cKDTree(np.c_[r, c])
    for i, js in enumerate(tree.query_ball_point(np.c_[r, c], cfg.flank_search / res)):
        for j in js:
            if h[j] <= h[i] + cfg.top_tolerance:
                continue
            n = int(np.hypot(r[j] - r[i], c[j] - c[i]) * 2) + 2
            rr = np.rint(np.linspace(r[i], r[j], n)).astype(np.int64)
            cc = np.rint(np.linspace(c[i], c[j], n)).astype(np.int64)
            if chm[rr, cc].min() >= h[i] - cfg.flank_dip:
                out[i] = True
                break
    return out


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


def covered_apexes(chm: np.ndarray, rows: np.ndarray, cols: np.ndarray, stem_of: np.ndarray, stems: dict,
                   apex_h: np.ndarray, xmin: float, ymax: float, res: float,
                   cfg: "DetectConfig") -> tuple[np.ndarray, np.ndarray]:
    """Heights of trees whose apex is covered by a taller neighbour's crown.

    A stem's apex (:func:`fuse_stems`) is read from the CHM around it; when a taller neighbour's
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
    tops = cKDTree(np.c_[rows, cols])
    pos = cKDTree(np.c_[pr, pc])
    R = int(np.ceil(cfg.covered_radius / res))
    H_ = R + int(np.ceil(cfg.covered_reach / res))    # the window the walk from the neighbours' tops needs
    dr, dc = np.mgrid[-R:R + 1, -R:R + 1]
    # gaps of a cell or two in a transparent crown are no valleys: the slope and the profile are
    # read on the CHM closed over 3 x 3 cells
    closed = ndimage.grey_closing(chm, size=(3, 3)) if cfg.covered_close else chm
    g = max(1, int(round(cfg.covered_slope_radius / res)))
    gr, gc = np.mgrid[-g:g + 1, -g:g + 1]
    gm = np.hypot(gr, gc) <= g
    gr, gc = gr[gm], gc[gm]
    A = np.c_[np.ones(gr.size), gr * res, gc * res]
    for i in np.flatnonzero(has):
        cover = []
        # the slope of the canopy over the stem (m/m, along rows and columns): a stem under a
        # neighbour's crown stands under its flank, which rises towards the neighbour's top
        rr_, cc_ = np.clip(int(round(pr[i])) + gr, 0, nr - 1), np.clip(int(round(pc[i])) + gc, 0, nc - 1)
        grad = np.linalg.lstsq(A, closed[rr_, cc_], rcond=None)[0][1:]
        taller, peaks = [], []
        for j in tops.query_ball_point([pr[i], pc[i]], cfg.covered_reach / res):
            if j == i or apex_h[j] <= apex_h[i] + cfg.covered_rise:
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
            crest = cfg.covered_to_peak and prof[kp] >= apex_h[j] and kp * 0.5 * res >= cfg.covered_slope_radius
            if crest:
                prof = prof[:kp + 1]
            u = np.array([rows[j] - pr[i], cols[j] - pc[i]]) / np.hypot(rows[j] - pr[i], cols[j] - pc[i])
            if (np.maximum.accumulate(prof) - prof).max() < cfg.flank_dip and grad @ u >= cfg.covered_slope:
                cover.append(j)
                if crest and cfg.covered_peak_seed:
                    # the highest canopy on the way seeds the walk too (the crown it tops may
                    # have its own top out of reach)
                    a_, b_ = int(sr_[kp]), int(sc_[kp])
                    w_ = chm[max(0, a_ - 1):a_ + 2, max(0, b_ - 1):b_ + 2]
                    q_ = int(np.argmax(w_))
                    peaks.append((max(0, a_ - 1) + q_ // w_.shape[1], max(0, b_ - 1) + q_ % w_.shape[1]))
        if not cover:
            continue
        r0, c0 = int(round(pr[i])), int(round(pc[i]))
        # what is the neighbours' surface: reached walking down from any taller top around, not
        # only from the covering ones (a tree in a gap between two big crowns is covered by one
        # and flanked by the other, whose surface is no part of its own crown either)
        theirs = _downhill_reach(chm, r0, c0, [(int(rows[j]), int(cols[j])) for j in taller] + peaks, H_, cfg.covered_step,
                                 cfg.covered_noise, cfg.hmin)[H_ - R:H_ + R + 1, H_ - R:H_ + R + 1]
        m = (np.hypot(dr, dc) * res <= cfg.covered_radius) & ~theirs
        rr, cc = r0 + dr, c0 + dc
        m &= (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
        v = np.where(m, chm[np.clip(rr, 0, nr - 1), np.clip(cc, 0, nc - 1)], 0.0)
        m &= (v > cfg.hmin) & (v <= apex_h[i])
        if m.any():
            _, near = pos.query(np.c_[rr[m], cc[m]])
            m[m] = near == i
        # a neighbour's rim: the walk stops where its crown's side drops steeply (the rim of an
        # ellipsoid crown is at mid-crown height); cells beside its surface standing covered_step
        # m or more above a cell of the tree's own crown next to them are that side, not the tree
        for _ in range(cfg.covered_rim):
            ring_ = ndimage.binary_dilation(theirs, np.ones((3, 3), bool)) & m
            if not ring_.any():
                break
            lower = ndimage.minimum_filter(np.where(m, v, np.inf), footprint=ndimage.generate_binary_structure(2, 1),
                                           mode="constant", cval=np.inf)   # the lowest own cell of the 4 around
            rim = ring_ & (v - lower >= cfg.covered_step)
            if not rim.any():
                break
            m &= ~rim
            theirs = theirs | rim
        # the parts of its own crown that show: patches of at least covered_min_cells cells (a
        # cell or two the walk missed on a neighbour's crown is noise)
        lab, nlab = ndimage.label(m, structure=np.ones((3, 3)))
        sizes = np.bincount(lab.ravel(), minlength=nlab + 1)
        keep = sizes >= cfg.covered_min_cells
        keep[0] = False
        # a patch walled in by higher canopy on every side (with the ground cells it holds) is a
        # hole in a crown: a dead, transparent top lets the pulses through to the lower crown and
        # the ground. What shows of a tree's own crown beside its neighbour's runs out to its own
        # edge and the open ground around it
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
        own = v[keep[lab]]
        if own.size >= cfg.covered_min_cells:
            own = np.sort(own)
            out[i] = float(own[-2])
            flag[i] = True
    return out, flag


def _fill(chm: np.ndarray) -> np.ndarray:
    """Empty cells take the highest of their 8 neighbours; cells still empty are 0 m; spikes go."""
    v = np.where(np.isfinite(chm), chm, -np.inf)
    filled = np.where(np.isfinite(chm), chm, ndimage.maximum_filter(v, size=3, mode="nearest"))
    filled = np.where(np.isfinite(filled), filled, 0.0).astype(np.float64)
    # unflagged noise (a bird, a wire): a cell more than 3 m above the median of its 3 x 3
    # neighbourhood takes that median; a crown top is smooth at 0.5 m
    med = ndimage.median_filter(filled, size=3, mode="nearest")
    return np.where(filled > med + 3.0, med, filled)


def detect_trees(m: TileRasters, core_bounds: tuple[float, float, float, float],
                 cfg: DetectConfig = DetectConfig()) -> dict[str, np.ndarray]:
    """Trees whose top lies inside ``core_bounds = (xmin, ymin, xmax, ymax)`` with their metrics
    (columns :data:`TREE_COLUMNS`, one array each)."""
    res = m.res
    chm = _fill(m.chm)
    # vegetation lets part of each pulse through (several returns); a roof or a wall does not:
    # cells whose neighbourhood has almost no multi-return pulses are not canopy
    w = max(3, int(round(cfg.veg_window / res)) | 1)
    nf = ndimage.uniform_filter(m.n_first.astype(np.float64), w, mode="constant")
    nm = ndimage.uniform_filter(m.n_multi.astype(np.float64), w, mode="constant")
    veg = nm > cfg.veg_multi_share * np.maximum(nf, 1e-9)
    chm = np.where(veg, chm, 0.0)
    smooth = ndimage.gaussian_filter(chm, cfg.sigma) if cfg.sigma > 0 else chm

    def ws(z):
        return np.clip(cfg.ws_a + cfg.ws_b * z, cfg.ws_lo, cfg.ws_hi)

    tops = locate_trees_raster(smooth, xmin=m.xmin, ymax=m.ymax, res=res, ws=ws, hmin=cfg.hmin)
    rows, cols = np.divmod(tops.index, chm.shape[1])
    stems = find_stems(m.under_x, m.under_y, m.under_h, cfg)
    scene = scene_evidence(chm, smooth, m, stems, tops, core_bounds, cfg)
    if scene["detection_path"] == STEM_FIRST:
        rows, cols, stem_of, occluded, apex_h = fuse_stems(chm, rows, cols, stems, m.xmin, m.ymax, res, cfg,
                                                           under=(m.under_x, m.under_y, m.under_h))
        apex_h, covered = covered_apexes(chm, rows, cols, stem_of, stems, apex_h, m.xmin, m.ymax, res, cfg)
    else:
        rows, cols, stem_of, occluded, apex_h = canopy_first(chm, canopy_tops(smooth, m, cfg), m, stems, cfg,
                                                             lambda r, c: sector_apex(chm, r, c, res, cfg)[2])
        covered = np.zeros(len(rows), bool)
    occluded = occluded | covered
    moved = np.zeros(len(rows), bool)
    out, moves = _measure(m, chm, rows, cols, stem_of, occluded, apex_h, stems, core_bounds, cfg, moved, covered)
    # a leaning tree whose crown was found off its base (the lean re-read in _measure) is seeded there and
    # the crowns are segmented again: seeded over the base, its crown was a sliver of the
    # neighbours' or of its own flank
    if moves:
        for i, (r_, c_, h_) in moves.items():
            others = np.hypot(rows - r_, cols - c_) * res
            others[i] = np.inf
            if others.min() >= 2.0:
                rows[i], cols[i], apex_h[i], moved[i] = r_, c_, h_, True
        if moved.any():
            out, _ = _measure(m, chm, rows, cols, stem_of, occluded, apex_h, stems, core_bounds, cfg, moved, covered)
    n = len(out["x"])
    for c in SCENE_COLUMNS:
        out[c] = np.full(n, scene[c], dtype=object if c == "detection_path" else float)
    return out


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


def _measure(m: TileRasters, chm: np.ndarray, rows: np.ndarray, cols: np.ndarray, stem_of: np.ndarray,
             occluded: np.ndarray, apex_h: np.ndarray, stems: dict, core_bounds: tuple, cfg: DetectConfig,
             moved: np.ndarray, covered: np.ndarray | None = None) -> tuple[dict, dict]:
    """Crowns from the seeds and every tree's metrics; also, per leaning stem whose crown stands
    off its base, the seed cell and apex found there (``{seed index: (row, col, height)}``)."""
    res = m.res
    lab = np.zeros(chm.shape, np.int32)
    if len(rows):
        lab = dalponte2016(chm, np.c_[rows, cols], res, th_tree=cfg.th_tree, th_seed=cfg.th_seed, th_cr=cfg.th_cr,
                           max_cr=cfg.max_cr)
    k = len(rows)
    out = {c: np.zeros(0) for c in TREE_COLUMNS}
    if k == 0:
        out["position_source"] = np.zeros(0, dtype=object)
        out["height_reading"] = np.zeros(0, dtype=object)
        return out, {}
    nr, nc = chm.shape
    flat = lab.ravel()
    inside = flat > 0
    L = flat[inside]
    cell_idx = np.flatnonzero(inside)
    cr, cc = np.divmod(cell_idx, nc)
    cx = m.xmin + (cc + 0.5) * res
    cy = m.ymax - (cr + 0.5) * res
    h = chm.ravel()[inside]
    n = np.bincount(L, minlength=k + 1).astype(float)
    n1 = np.maximum(n, 1)

    # height: the top of the crown; the highest cell is a maximum of noisy returns, so the mean of
    # the crown's 3 highest cells is used (robust to one bird-like spike)
    order = np.lexsort((-h, L))
    Ls, hs = L[order], h[order]
    start = np.searchsorted(Ls, np.arange(k + 1))
    rank = np.arange(Ls.size) - start[Ls]
    top3 = rank < 3
    height_top3 = np.bincount(Ls[top3], weights=hs[top3], minlength=k + 1) / np.maximum(np.bincount(Ls[top3], minlength=k + 1), 1)
    height = np.r_[0.0, apex_h] if cfg.height_from_apex else height_top3

    area = n * res * res
    # crown centre: centroid of the crown cells above half the crown's height range
    sx = np.bincount(L, weights=cx, minlength=k + 1) / n1
    sy = np.bincount(L, weights=cy, minlength=k + 1) / n1

    # crown diameter from the radii of the free (not shared) boundary around the top
    boundary, contact = crown_boundary(lab)
    bflat, cflat = boundary.ravel()[inside], contact.ravel()[inside]
    top_x = m.xmin + (cols + 0.5) * res
    top_y = m.ymax - (rows + 0.5) * res
    tx, ty = np.r_[0.0, top_x], np.r_[0.0, top_y]
    rad = np.hypot(cx - tx[L], cy - ty[L]) + cfg.edge_offset
    free = bflat & ~cflat
    nb = np.bincount(L[bflat], minlength=k + 1).astype(float)
    nfree = np.bincount(L[free], minlength=k + 1).astype(float)
    contact_share = 1 - nfree / np.maximum(nb, 1)
    r_free = _label_quantile(L[free], rad[free], k, cfg.diam_quantile, fill=0.0)
    r_eq = np.sqrt(area / np.pi)
    r_max = np.zeros(k + 1)
    np.maximum.at(r_max, L, rad)
    star = area / np.maximum(np.pi * r_max ** 2, 1e-9)
    use_free = nfree >= 6
    radius = np.where(use_free, np.maximum(r_free, r_eq), r_eq)

    # crown base: low percentile of the lowest return per crown cell
    zl = m.zlow.ravel()[inside]
    ok = np.isfinite(zl) & (zl < h - 0.5)
    cbh = _label_quantile(L[ok], zl[ok], k, cfg.cbh_quantile, fill=0.0)
    cbh = np.minimum(cbh, height - 0.5)
    volume = np.bincount(L, weights=np.maximum(h - cbh[L], 0), minlength=k + 1) * res * res
    # crown spread: the farthest reach of the crown (drip line) in each of ``spread_sectors``
    # directions around the stem (the crown top where no stem was seen); only directions where
    # the crown edge is free (not shared with a neighbour's crown) count, and the spread is twice
    # their ``spread_quantile`` (like the field rule "longest spread and the spread across it":
    # a lobed crown's long axis counts). A palm's crown (a foliage layer under ``palm_depth`` m,
    # below) is measured tip to tip: its thin frond tips are hit by few pulses, so its spread is
    # the ``palm_quantile`` of the reaches, at most ``palm_cap`` m beyond their median (a
    # neighbour's crown merged into the segment does not stretch it), plus ``palm_offset`` m.
    # position: the stem cluster found for the tree, else the crown top; the stem's lean
    sk = np.r_[-1, stem_of]
    found = sk >= 0
    pos_x = np.where(found, np.r_[0.0, stems["x"]][sk + 1], tx)
    pos_y = np.where(found, np.r_[0.0, stems["y"]][sk + 1], ty)
    lean, lean_az, ns = stem_lean(m.under_x, m.under_y, m.under_h, pos_x, pos_y, cbh, found, cfg)
    # the spread is measured around the stem, or around the crown top where no stem was seen or
    # where the stem leans (lean_reread_min degrees or more: its crown stands off its base)
    leaning = np.isfinite(lean) & (lean >= cfg.lean_reread_min) if cfg.lean_reread_min > 0 else np.zeros(k + 1, bool)
    ccx = np.where(found & ~leaning, pos_x, tx)
    ccy = np.where(found & ~leaning, pos_y, ty)
    ns_ = cfg.spread_sectors
    spread_n = np.zeros(k + 1)
    spread_r = np.zeros(k + 1)
    reach = np.full((k + 1, ns_), -np.inf)
    fin = np.zeros((k + 1, ns_), bool)
    if free.any():
        Lf = L[free]
        fx, fy = cx[free] - ccx[Lf], cy[free] - ccy[Lf]
        rf = np.hypot(fx, fy) + cfg.spread_offset
        sec = np.floor((np.arctan2(fy, fx) + np.pi) / (2 * np.pi) * ns_).astype(np.int64) % ns_
        reach = np.full((k + 1) * ns_, -np.inf)
        np.maximum.at(reach, Lf * ns_ + sec, rf)
        reach = reach.reshape(k + 1, ns_)
        fin = np.isfinite(reach)
        spread_n = fin.sum(1).astype(float)
        spread_r = np.where(fin, reach, 0).sum(1) / np.maximum(spread_n, 1)
        if cfg.spread_quantile is not None:
            q = np.zeros(k + 1)
            has = fin.any(1)
            q[has] = np.nanquantile(np.where(fin[has], reach[has], np.nan), cfg.spread_quantile, axis=1)
            spread_r = q
    # crown layer depth: median of (canopy surface - lowest return) over the crown cells 0.3-0.9 of
    # the way from the centre to the farthest reach (the stem under the centre left out): a palm's
    # fronds make a layer under 1 m deep on a bare stem; a broadleaf or pine crown is metres deep
    dist = np.hypot(cx - ccx[L], cy - ccy[L])
    r_far = np.zeros(k + 1)
    np.maximum.at(r_far, L, dist)
    ring = np.isfinite(zl) & (zl > 0.5) & (dist >= 0.3 * r_far[L]) & (dist <= 0.9 * r_far[L])
    layer = _label_quantile(L[ring], np.maximum(h - zl, 0.0)[ring], k, 0.5, fill=np.nan, min_n=3)
    palm = (layer < cfg.palm_depth) & (spread_n >= cfg.spread_min_sectors)
    palm[0] = False
    if palm.any():
        rp = np.where(fin[palm], reach[palm], np.nan)
        qp = np.minimum(np.nanquantile(rp, cfg.palm_quantile, axis=1), np.nanmedian(rp, axis=1) + cfg.palm_cap)
        spread_r[palm] = qp + cfg.palm_offset
    radius = np.where(spread_n >= cfg.spread_min_sectors, spread_r, radius)
    diameter = 2 * radius
    # a crown segment of a few cells under a tree of some height: its crown could not be told
    # from its neighbours' (the seed sat on a neighbour's flank); its diameter is its height x
    # the median diameter / height of the crowns that were separated in this scene
    sliver = (area < cfg.sliver_area) & (height >= cfg.sliver_height)
    sliver[0] = False
    good = ~sliver & (height >= cfg.sliver_height) & (area >= cfg.sliver_area)
    good[0] = False
    if sliver.any() and good.sum() >= 10:
        diameter[sliver] = height[sliver] * float(np.median(diameter[good] / height[good]))
    else:
        sliver[:] = False

    nf = m.n_first.ravel()[inside].astype(float)
    nl = m.n_first_low.ravel()[inside].astype(float)
    gap = np.bincount(L, weights=nl, minlength=k + 1) / np.maximum(np.bincount(L, weights=nf, minlength=k + 1), 1)
    inner = rad <= 0.5 * radius[L]
    top_gap = (np.bincount(L[inner], weights=nl[inner], minlength=k + 1)
               / np.maximum(np.bincount(L[inner], weights=nf[inner], minlength=k + 1), 1))

    has_stem = found
    # a stem leaning lean_reread_min degrees or more carries its crown off its base: its apex is
    # read again around the crown centre, tan(lean) x lean_centre_ratio x the height along the
    # lean; the higher reading wins (read over the base, the apex disc caught the crown's flank).
    # A lean read over lean_reach degrees is taken as misread and not followed
    moves = {}
    if cfg.lean_reread_min > 0:
        for i in np.flatnonzero(np.isfinite(lean) & (lean >= cfg.lean_reread_min) & (lean <= cfg.lean_reach)):
            if moved[i - 1]:
                continue
            t, a = np.tan(np.radians(lean[i])), np.radians(lean_az[i])
            h, best = height[i], None
            for _ in range(2):
                off = t * cfg.lean_centre_ratio * h
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

    # a stem standing under a higher neighbour's crown (within 90 % of its radius from its top) is
    # occluded whatever seeded it: its own top cannot be seen
    occl = np.r_[False, occluded].astype(bool) | sliver
    if k > 1:
        from scipy.spatial import cKDTree

        tt = cKDTree(np.c_[tx[1:], ty[1:]])
        for i, js in enumerate(tt.query_ball_point(np.c_[pos_x[1:], pos_y[1:]], cfg.max_cr / 2), start=1):
            for j in js:
                j += 1
                if j != i and height[j] > height[i] + 1.0 and \
                        np.hypot(pos_x[i] - tx[j], pos_y[i] - ty[j]) < 0.45 * diameter[j]:
                    occl[i] = True
                    break
    # a tree whose top shows: the sector reading runs low (its highest cells are around the top,
    # not on it; the centre cell is left out); the mean of the ``peak_cells`` highest cells of its
    # own crown within ``peak_window`` m of its top (rows and columns) reads the apex itself
    if cfg.peak_cells > 0:
        w_ = int(round(cfg.peak_window / res))
        for i in np.flatnonzero(~occl[1:]) + 1:
            r_, c_ = int(rows[i - 1]), int(cols[i - 1])
            r0_, c0_ = max(0, r_ - w_), max(0, c_ - w_)
            win = chm[r0_:r_ + w_ + 1, c0_:c_ + w_ + 1]
            mine = win[lab[r0_:r_ + w_ + 1, c0_:c_ + w_ + 1] == i]
            if mine.size >= cfg.peak_cells:
                height[i] = max(height[i], float(np.sort(mine)[-cfg.peak_cells:].mean()))

    x0c, ymin_c, x1c, y1c = core_bounds
    keep = np.flatnonzero((top_x >= x0c) & (top_x < x1c) & (top_y > ymin_c) & (top_y <= y1c)) + 1
    src = np.where(has_stem, "stem", "crown_top").astype(object)
    # what the height was read on: the tree's own top; what shows of its own crown beside the
    # taller neighbour covering its top (a lower bound); or the canopy over it (its top hidden
    # and nothing of its own crown told apart: the neighbour's surface, an upper bound)
    cov = np.r_[False, covered if covered is not None else np.zeros(k, bool)].astype(bool)
    reading = np.where(~occl, "top", np.where(cov, "own_crown", "canopy")).astype(object)
    vals = {"top_x": tx, "top_y": ty, "x": pos_x, "y": pos_y, "height_m": height, "crown_area_m2": area,
            "crown_diameter_m": diameter, "crown_volume_m3": volume, "crown_base_m": cbh, "gap_fraction": gap,
            "top_gap_fraction": top_gap, "lean_deg": lean, "lean_azimuth_deg": lean_az, "stem_points": ns,
            "crown_contact_share": contact_share, "crown_cells": n, "crown_star_ratio": star,
            "crown_layer_depth_m": layer, "position_source": src, "occluded": occl, "height_reading": reading}
    return {c: np.asarray(vals[c])[keep] for c in TREE_COLUMNS}, moves
