"""Trees of one tile from its raster layers and its neighbours': tops, crowns, per-tree metrics.

A tile is processed on a mosaic of itself and the ``buffer`` metres of its neighbours
(:func:`models.trees.surface.mosaic`), so that a crown straddling a tile edge is segmented whole;
a tree belongs to the tile holding its top, so every tree is reported once.

Steps (see docs/trees.md for the measures and their units), each in its own module:

1. the canopy surface (:mod:`models.trees.surface`): the CHM's empty cells take the highest of
   their 8 neighbours, the rest 0 m; cells that are not vegetation are set to 0 m, so buildings
   give no tree; a copy smoothed by a Gaussian for the tops;
2. tops: lidR's local-maximum filter (:func:`models.lidar.lmf.locate_trees_raster`) on the smoothed
   CHM, variable window ``ws = clip(a + b h, lo, hi)``; stems in the understorey returns
   (:mod:`models.trees.stems`);
3. the evidence the scene's trees are found from (:mod:`models.trees.canopy_tops`): stem-first
   (:mod:`models.trees.stem_first`, :mod:`models.trees.leaning`, then the covered trees of
   :mod:`models.trees.covered`) or canopy-first;
4. crowns (:func:`models.lidar.crowns.dalponte2016` on the unsmoothed CHM) and metrics per crown
   from the cells and the understorey points under it (:mod:`models.trees.measure`).

The settings are :class:`models.trees.detect_config.DetectConfig`, grouped by step.
"""

from __future__ import annotations

import numpy as np

from models.lidar.lmf import locate_trees_raster
from models.lidar.tiles import TileRasters
from models.trees.apex import sector_apex
from models.trees.canopy_tops import SCENE_COLUMNS, STEM_FIRST, canopy_first, canopy_tops, scene_evidence
from models.trees.covered import covered_apexes
from models.trees.detect_config import DetectConfig
from models.trees.measure import TREE_COLUMNS, TreeSeeds, measure_trees
from models.trees.stem_first import fuse_stems
from models.trees.stems import find_stems
from models.trees.surface import smoothed, vegetation_chm

__all__ = ["detect_trees", "TREE_COLUMNS", "SCENE_COLUMNS"]


def detect_trees(m: TileRasters, core_bounds: tuple[float, float, float, float],
                 cfg: DetectConfig = DetectConfig()) -> dict[str, np.ndarray]:
    """Trees whose top lies inside ``core_bounds = (xmin, ymin, xmax, ymax)`` with their metrics
    (columns :data:`TREE_COLUMNS` and the scene's :data:`SCENE_COLUMNS`, one array each)."""
    res = m.res
    chm = vegetation_chm(m, cfg.tops)
    smooth = smoothed(chm, cfg.tops)

    def ws(z):
        return np.clip(cfg.tops.ws_a + cfg.tops.ws_b * z, cfg.tops.ws_lo, cfg.tops.ws_hi)

    tops = locate_trees_raster(smooth, xmin=m.xmin, ymax=m.ymax, res=res, ws=ws, hmin=cfg.hmin)
    stems = find_stems(m.under_x, m.under_y, m.under_h, cfg)
    scene = scene_evidence(chm, smooth, m, stems, tops, core_bounds, cfg)
    if scene["detection_path"] == STEM_FIRST:
        rows, cols = np.divmod(tops.index, chm.shape[1])
        rows, cols, stem_of, occluded, apex_h = fuse_stems(chm, rows, cols, stems, m.xmin, m.ymax, res, cfg,
                                                           under=(m.under_x, m.under_y, m.under_h))
        apex_h, covered = covered_apexes(chm, rows, cols, stem_of, stems, apex_h, m.xmin, m.ymax, res, cfg)
    else:
        rows, cols, stem_of, occluded, apex_h = canopy_first(chm, canopy_tops(smooth, m, cfg), m, stems, cfg,
                                                             lambda r, c: sector_apex(chm, r, c, res, cfg)[2])
        covered = np.zeros(len(rows), bool)
    seeds = TreeSeeds(rows, cols, stem_of, occluded | covered, apex_h, covered)
    out = _measure_and_reseed(m, chm, seeds, stems, core_bounds, cfg)
    n = len(out["x"])
    for c in SCENE_COLUMNS:
        out[c] = np.full(n, scene[c], dtype=object if c == "detection_path" else float)
    return out


def _measure_and_reseed(m: TileRasters, chm: np.ndarray, seeds: TreeSeeds, stems: dict, core_bounds: tuple,
                        cfg: DetectConfig) -> dict[str, np.ndarray]:
    """The trees' measures (:func:`models.trees.measure.measure_trees`). A leaning tree whose crown
    was found off its base (the lean re-read there) is seeded there and the crowns are segmented
    again: seeded over the base, its crown was a sliver of the neighbours' or of its own flank.
    A new seed within 2 m of another seed is not taken."""
    rows, cols, apex_h = seeds.rows, seeds.cols, seeds.apex_h
    moved = np.zeros(len(rows), bool)
    out, moves = measure_trees(m, chm, seeds, stems, core_bounds, cfg, moved)
    if moves:
        for i, (r_, c_, h_) in moves.items():
            others = np.hypot(rows - r_, cols - c_) * m.res
            others[i] = np.inf
            if others.min() >= 2.0:
                rows[i], cols[i], apex_h[i], moved[i] = r_, c_, h_, True
        if moved.any():
            out, _ = measure_trees(m, chm, seeds, stems, core_bounds, cfg, moved)
    return out
