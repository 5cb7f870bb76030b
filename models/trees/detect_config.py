"""The settings of the tree detection (:mod:`models.trees.detect`), grouped by the step that reads them.

:class:`DetectConfig` holds the settings every step reads (``hmin``, ``buffer``) and one frozen
group per idea: the canopy tops (:class:`TopsConfig`), the crown segmentation
(:class:`CrownConfig`), the stems and their lean (:class:`StemConfig`), the apex reading
(:class:`ApexConfig`), the stem-first fusion of stems and tops (:class:`SeedConfig`), the covered
trees (:class:`CoveredConfig`), the per-tree measures (:class:`MeasureConfig`) and the choice of
evidence with the canopy-first path (:class:`CanopyConfig`). A setting keeps one name across the
groups (docs/trees.md and the docstrings cite them by it): ``cfg.stems.stem_link``,
``cfg.covered.covered_rise``. :meth:`DetectConfig.with_settings` sets any of them by that name
(``DetectConfig().with_settings(top_tolerance=0.5)``), :meth:`DetectConfig.flat` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from models.trees.allometry import PALM_LAYER_M

__all__ = ["DetectConfig", "TopsConfig", "CrownConfig", "StemConfig", "ApexConfig", "SeedConfig", "CoveredConfig",
           "MeasureConfig", "CanopyConfig", "CANOPY_SETTINGS"]


@dataclass(frozen=True)
class TopsConfig:
    """The vegetation mask and the local-maximum tops of the stem-first path."""
    ws_a: float = 2.0        # window diameter (m) = clip(ws_a + ws_b * height, ws_lo, ws_hi)
    ws_b: float = 0.15
    ws_lo: float = 3.0
    ws_hi: float = 6.0
    sigma: float = 1.0       # CHM smoothing for the tops (cells)
    veg_window: float = 2.5  # m, neighbourhood of the vegetation test
    veg_multi_share: float = 0.15  # share of first returns from multi-return pulses above which a cell is canopy


@dataclass(frozen=True)
class CrownConfig:
    """dalponte2016 parameters (the crowns grown from the seeds)."""
    th_tree: float = 1.5
    th_seed: float = 0.45
    th_cr: float = 0.55
    max_cr: float = 22.0


@dataclass(frozen=True)
class StemConfig:
    """Stem clusters in the understorey returns, and the line (lean) through a stem's returns."""
    stem_band: tuple = (0.3, 4.0)  # m above ground where stems are looked for
    stem_link: float = 0.8   # m between returns of one stem
    stem_min_points: int = 2
    stem_max_low: float = 2.0  # m: a stem cluster reaches below this height
    stem_merge: float = 2.0    # m: stem clusters closer than this are one tree
    lean_min_points: int = 5
    lean_min_span: float = 1.5  # m of stem height the lean fit must span
    lean_tol: float = 0.3      # m: a return this close to a stem's line is on it
    lean_max_points: int = 200  # the lowest returns that vote for a stem's line
    lean_anchors: int = 15      # the lowest returns candidate lines go through


@dataclass(frozen=True)
class ApexConfig:
    """The apex read around a stem or a top (sector maxima), and on a visible top (peak cells)."""
    apex_radius: float = 2.5   # m: disc around a stem (or a top) whose cells give the apex height
    apex_sectors: int = 8
    flank_halfangle: float = 60.0  # degrees either side of the direction of a taller neighbour
    flank_rise: float = 0.5    # m: a neighbour whose apex is this much higher may overhang
    apex_quantile: float = 0.3  # of the sector maxima (3rd lowest of 8): robust to a neighbour overhanging part of the disc
    height_from_apex: bool = True
    apex_consistent: float = 1.0  # m: the sector maxima up to this much above that quantile are averaged (0: the quantile alone)
    peak_window: float = 1.0     # m around a visible top where its highest cells are read
    peak_cells: int = 3          # how many of them are averaged (0: the sector reading stands)


@dataclass(frozen=True)
class SeedConfig:
    """The stem-first fusion: which top a stem owns, lone tops, leaning trees, flank seeds."""
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


@dataclass(frozen=True)
class CoveredConfig:
    """Trees whose apex a taller neighbour's crown covers (:mod:`models.trees.covered`)."""
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


@dataclass(frozen=True)
class MeasureConfig:
    """Per-tree measures (:mod:`models.trees.measure`): crown base, diameter and spread, palms,
    slivers, the lean re-read."""
    sliver_area: float = 2.0     # m²: a crown segment smaller than this ...
    sliver_height: float = 6.0   # m: ... under a tree this tall was not separated from its neighbours
    cbh_quantile: float = 0.03  # of the lowest return per crown cell (stems excluded by the 0.5 m floor)
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


@dataclass(frozen=True)
class CanopyConfig:
    """The choice between stem-first and canopy-first evidence (models/trees/canopy_tops.py); these
    settings are only read by that choice and by the canopy-first path."""
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


#: the groups of :class:`DetectConfig`, by attribute name
GROUPS = {"tops": TopsConfig, "crowns": CrownConfig, "stems": StemConfig, "apex": ApexConfig, "seeds": SeedConfig,
          "covered": CoveredConfig, "measure": MeasureConfig, "canopy": CanopyConfig}


@dataclass(frozen=True)
class DetectConfig:
    hmin: float = 2.0        # m: lowest tree top; cells under it are no canopy
    buffer: float = 20.0     # metres of the neighbours in the mosaic
    tops: TopsConfig = field(default_factory=TopsConfig)
    crowns: CrownConfig = field(default_factory=CrownConfig)
    stems: StemConfig = field(default_factory=StemConfig)
    apex: ApexConfig = field(default_factory=ApexConfig)
    seeds: SeedConfig = field(default_factory=SeedConfig)
    covered: CoveredConfig = field(default_factory=CoveredConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    canopy: CanopyConfig = field(default_factory=CanopyConfig)

    def flat(self) -> dict:
        """Every setting by its name (``hmin``, ``buffer``, then the groups' settings in order)."""
        out = {"hmin": self.hmin, "buffer": self.buffer}
        for g in GROUPS:
            sub = getattr(self, g)
            out.update({f.name: getattr(sub, f.name) for f in fields(sub)})
        return out

    def with_settings(self, **settings) -> DetectConfig:
        """A copy with the named settings changed (names as in :meth:`flat`; an unknown name raises)."""
        top = {k: settings.pop(k) for k in ("hmin", "buffer") if k in settings}
        groups = {}
        for g, cls in GROUPS.items():
            mine = {f.name: settings.pop(f.name) for f in fields(cls) if f.name in settings}
            if mine:
                groups[g] = replace(getattr(self, g), **mine)
        if settings:
            raise TypeError(f"unknown detection settings: {sorted(settings)}")
        return replace(self, **top, **groups)


#: settings read only by the path choice and the canopy-first path (left out of the height model's
#: detection fingerprint: the correction is applied on stem-first scenes only, whose detections
#: they do not change)
CANOPY_SETTINGS = tuple(f.name for f in fields(CanopyConfig))
