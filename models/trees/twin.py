"""The 4D step: follow detected trees across scan epochs and tie them to the old register.

Epochs are taken in order. The first epoch's trees get a ``tree_id`` from their position
(``TR-<x>-<y>``, metres, Lambert-93), so re-running on the same scans gives the same ids. Each
later epoch is matched one-to-one to the trees last seen (:func:`models.trees.matching.match_points`,
gate ``gate_m``): a match keeps its id; a tree of the earlier epoch left unmatched whose position
lies in a tile scanned again is *felled*; a new detection unmatched is a *new* tree with a new id.
The register (about 200 trees, positions good to about 1.5 m) is matched the same way, gate
``register_gate_m``, to the trees' first positions: a matched tree takes the register's id and
species.

Per tree and epoch: ``height_growth_m`` (m since the previous epoch), ``crown_area_change_pct``
(%), ``crown_loss_pct`` (% of the previous crown area lost, 0 when it grew), ``new_lean_deg``
(degrees of lean gained where a stem was seen in both), ``status`` (alive, new, felled). Growth
and crown change are left empty where the tree is *occluded* (under a taller neighbour's crown)
in either epoch: only part of it is seen.

Heights across epochs (:func:`carry_covered_heights`): a tree whose top is covered by a taller
neighbour's crown in one scan (``occluded``) is read off what shows of it, or off the neighbour's
surface, metres off; where the same tree's top showed in another scan, its height there, shifted
by the scene's growth between the two scans, replaces it; a tree covered in every scan has its
readings pooled. The scan's own reading stays in ``height_read_m``; ``height_source`` (one of
:data:`HEIGHT_SOURCES`, or ``carried from <epoch>``) says where ``height_m`` came from; the growth
of such a tree stays empty (not measured). Last, :func:`models.trees.height_model.apply_height_model`
shifts those heights by a correction learned on simulated cities (``height_correction_m``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .height_model import apply_height_model
from .height_sources import (CANOPY_SPREAD_M, CARRIED, HEIGHT_SOURCES, MEASURED, MIN_CROWN_M2,  # noqa: F401
                             OWN_SPREAD_M, POOLED_CANOPY_LOWEST, POOLED_LOWEST, POOLED_MEAN)
from .matching import match_points

KEEP = ("x", "y", "top_x", "top_y", "height_m", "crown_area_m2", "crown_diameter_m", "crown_volume_m3", "crown_base_m",
        "gap_fraction", "top_gap_fraction", "lean_deg", "lean_azimuth_deg", "stem_points", "crown_contact_share",
        "crown_star_ratio", "crown_layer_depth_m", "position_source", "occluded", "height_reading", "tile_id", "canopy_prev_m",
        "canopy_next_m", "detection_path", "scene_point_density", "scene_canopy_cover")


def _tile_of(x: np.ndarray, y: np.ndarray, tiles: pl.DataFrame) -> np.ndarray:
    """Whether each point lies in one of the tiles (by bounds)."""
    inside = np.zeros(len(x), bool)
    for r in tiles.iter_rows(named=True):
        inside |= (x >= r["min_x"] - 0.5) & (x <= r["max_x"] + 0.5) & (y >= r["min_y"] - 0.5) & (y <= r["max_y"] + 0.5)
    return inside


def _col(df: pl.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy().astype(float) if name in df.columns else np.full(df.height, np.nan)


def _same_canopy(canopy: np.ndarray, height: np.ndarray, low: float = 0.6, high: float = 2.0) -> np.ndarray:
    """Whether the other scan's canopy at a tree's position (``canopy_prev_m`` / ``canopy_next_m``,
    median within 1 m) is about the tree's height: at least ``low`` x its height and at most
    ``high`` m above it (a much higher canopy is a neighbour's crown, not evidence of this tree)."""
    canopy = np.asarray(canopy, float)
    height = np.asarray(height, float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(canopy) & (canopy >= low * height) & (canopy <= height + high)


def follow_trees(det: pl.DataFrame, tiles: pl.DataFrame, gate_m: float = 3.0, correct_heights: bool = True) -> pl.DataFrame:
    """One row per (tree_id, epoch) with the change columns (see module doc). With
    ``correct_heights``, the heights of trees not measured on their own top are shifted by the
    learned correction of :mod:`models.trees.height_model` (``height_correction_m``)."""
    det = det.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("canopy_prev_m", "canopy_next_m")
                           if c not in det.columns)
    for c in ("height_reading", "detection_path"):
        if c not in det.columns:
            det = det.with_columns(pl.lit(None, pl.Utf8).alias(c))
    det = det.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("scene_point_density", "scene_canopy_cover")
                           if c not in det.columns)
    epochs = sorted(det["epoch"].unique().to_list())
    out = []
    last: pl.DataFrame | None = None     # latest row of every living tree
    used: set[str] = set()
    for ep in epochs:
        d = det.filter(pl.col("epoch") == ep).sort("tile_id", "top_x", "top_y")
        x, y = d["x"].to_numpy(), d["y"].to_numpy()
        ids = np.empty(d.height, dtype=object)
        status = np.array(["new" if last is not None else "alive"] * d.height, dtype=object)
        prev_idx = np.full(d.height, -1)
        felled_rows = unseen = None
        if last is not None and last.height:
            i, j, _ = match_points(last["x"].to_numpy(), last["y"].to_numpy(), x, y, gate_m)
            ids[j] = last["tree_id"].to_numpy()[i]
            status[j] = "alive"
            prev_idx[j] = i
            gone = np.setdiff1d(np.arange(last.height), i)
            scanned = _tile_of(last["x"].to_numpy()[gone], last["y"].to_numpy()[gone],
                               tiles.filter(pl.col("epoch") == ep))
            # the new scan still shows a canopy of about the tree's height where it stood: the
            # detector missed it this time; it is followed on, not felled
            scanned &= ~_same_canopy(_col(last, "canopy_next_m")[gone], last["height_m"].to_numpy()[gone])
            felled_rows = last[gone[scanned]].with_columns(pl.lit(ep).alias("epoch"), pl.lit("felled").alias("status"))
            unseen = last[gone[~scanned]]
        if last is not None:
            # an unmatched tree standing where the previous scan already showed a canopy of about
            # its height was there before (missed then): alive, not new
            was_there = _same_canopy(_col(d, "canopy_prev_m"), d["height_m"].to_numpy())
            status[(ids == None) & was_there] = "alive"  # noqa: E711
        _new_ids(ids, x, y, used)
        cur = d.select(["epoch", *KEEP]).with_columns(pl.Series("tree_id", ids, pl.Utf8),
                                                       pl.Series("status", status, pl.Utf8))
        if last is not None and last.height:
            growth, area_chg, new_lean = _changes(cur, last, prev_idx)
        else:
            growth = area_chg = new_lean = np.full(d.height, np.nan)
        cur = cur.with_columns(pl.Series("height_growth_m", growth), pl.Series("crown_area_change_pct", area_chg),
                               pl.Series("crown_loss_pct", np.where(np.isfinite(area_chg), np.maximum(-area_chg, 0), np.nan)),
                               pl.Series("new_lean_deg", new_lean))
        out.append(cur)
        if felled_rows is not None and felled_rows.height:
            out.append(felled_rows.select(["epoch", *KEEP, "tree_id", "status"]).with_columns(
                *[pl.lit(None, pl.Float64).alias(c) for c in ("height_growth_m", "crown_area_change_pct",
                                                            "crown_loss_pct", "new_lean_deg")]))
        alive_now = cur.select(["tree_id", *KEEP])
        if unseen is not None and unseen.height:   # not rescanned: still followed
            alive_now = pl.concat([alive_now, unseen.select(alive_now.columns)])
        last = alive_now
    res = carry_covered_heights(pl.concat(out, how="diagonal_relaxed"))
    if correct_heights:
        res = apply_height_model(res)
    return res.with_columns(pl.col(c).fill_nan(None) for c in ("height_growth_m", "crown_area_change_pct",
                                                              "crown_loss_pct", "new_lean_deg", "lean_deg",
                                                              "lean_azimuth_deg")).sort("tree_id", "epoch")


def _new_ids(ids: np.ndarray, x: np.ndarray, y: np.ndarray, used: set[str]) -> None:
    """Ids for the trees without one (``None`` in ``ids``, filled in place): ``TR-<x>-<y>`` of its
    position, with a ``-2``, ``-3``... where taken; every id of ``ids`` is added to ``used``."""
    for k in np.flatnonzero(ids == None):  # noqa: E711 - object array
        base = f"TR-{x[k]:.0f}-{y[k]:.0f}"
        tid, s = base, 1
        while tid in used:
            s += 1
            tid = f"{base}-{s}"
        ids[k] = tid
    used.update(ids.tolist())


def _changes(cur: pl.DataFrame, last: pl.DataFrame, prev_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height growth (m), crown area change (%) and new lean (degrees) of each tree of ``cur``
    since its row ``prev_idx`` of ``last`` (-1: none, NaN). A tree under a neighbour's crown in
    either scan shows only part of itself: no growth or area change is measured on it."""
    n = cur.height
    has = prev_idx >= 0

    def prev(col):
        v = np.full(n, np.nan)
        v[has] = last[col].to_numpy()[prev_idx[has]].astype(float)
        return v
    ph, pa, pl_ = prev("height_m"), prev("crown_area_m2"), prev("lean_deg")
    occl = cur["occluded"].to_numpy().astype(bool)
    po = np.zeros(n, bool)
    po[has] = last["occluded"].to_numpy().astype(bool)[prev_idx[has]]
    hidden = occl | po
    growth = np.where(hidden, np.nan, cur["height_m"].to_numpy() - ph)
    area_chg = np.where(hidden, np.nan, 100 * (cur["crown_area_m2"].to_numpy() - pa) / np.where(pa > 0, pa, np.nan))
    new_lean = cur["lean_deg"].to_numpy().astype(float) - pl_
    return growth, area_chg, new_lean


def _epoch_steps(epochs: list[str]) -> np.ndarray:
    """Position of each epoch on a time axis: the years where the labels are years, else 0, 1, 2..."""
    try:
        return np.array([float(e) for e in epochs])
    except ValueError:
        return np.arange(len(epochs), dtype=float)


def carry_covered_heights(tw: pl.DataFrame, min_trees: int = 20, min_crown_m2: float = MIN_CROWN_M2,
                          canopy_spread_m: float = CANOPY_SPREAD_M, own_spread_m: float = OWN_SPREAD_M) -> pl.DataFrame:
    """Heights of covered trees carried from a scan where their top showed (see module doc).

    ``growth`` between two scans is the median of ``height_m`` differences over the trees not
    ``occluded`` in either (per year where the epochs are years; 0 where fewer than ``min_trees``
    such trees). A living tree ``occluded`` in one scan takes the height of the nearest scan (in
    time; the earlier one on a tie) in which it was not occluded, plus the growth over the time
    between them. One occluded in every scan (two or more) has its readings, each shifted by the
    growth to the scan's date, combined: read off what shows of its own crown in every one
    (``height_reading`` ``own_crown``, a lower bound that errs high when a scrap of the neighbour's
    crown is taken for the tree's own), the lowest where they lie more than ``own_spread_m`` apart
    (one of them took such a scrap), else their mean (both read the tree; the mean halves the
    noise); read on the canopy over it in every one (``canopy``, an upper bound: the neighbour's
    surface), the lowest where they lie more than ``canopy_spread_m`` apart (the tighter bound),
    else their mean; one of each kind, their mean (they err both ways). A reading taken on a
    crown segment under ``min_crown_m2`` (a seed left with a cell or two, its crown taken by its
    neighbours: 2-5 m read on 17-24 m trees) is no reading: such a row is treated as covered and
    left out of the others' pools. Adds ``height_source`` and ``height_read_m`` (the scan's own
    reading, kept beside)."""
    src = np.full(tw.height, MEASURED, dtype=object)
    if tw.is_empty() or "occluded" not in tw.columns:
        return tw.with_columns(pl.Series("height_source", src, pl.Utf8), pl.col("height_m").alias("height_read_m"))
    epochs = sorted(tw["epoch"].unique().to_list())
    t = dict(zip(epochs, _epoch_steps(epochs)))
    alive = tw["status"].to_numpy() != "felled"
    h0 = tw["height_m"].to_numpy().astype(float)
    area = tw["crown_area_m2"].to_numpy().astype(float) if "crown_area_m2" in tw.columns else np.full(tw.height, np.inf)
    usable = np.isfinite(h0) & ~(area < min_crown_m2)
    occl = tw["occluded"].fill_null(False).to_numpy().astype(bool) | ~usable
    h = h0.copy()
    ids = tw["tree_id"].to_numpy()
    ep = tw["epoch"].to_numpy()
    reading = tw["height_reading"].to_numpy() if "height_reading" in tw.columns else np.full(tw.height, None)
    # the scene's yearly growth: trees seen with their tops showing in consecutive scans
    rate = 0.0
    seen = {(a, b): v for a, b, v, ok in zip(ids, ep, h0, alive & ~occl) if ok}
    diffs = []
    for e0, e1 in zip(epochs, epochs[1:]):
        diffs += [(seen[(i, e1)] - v) / max(t[e1] - t[e0], 1e-9) for (i, e), v in seen.items() if e == e0 and (i, e1) in seen]
    if len(diffs) >= min_trees:
        rate = float(np.median(diffs))
    rows_of: dict = {}
    for k, i in enumerate(ids):
        rows_of.setdefault(i, []).append(k)
    for k in np.flatnonzero(alive & occl):
        shown = [q for q in rows_of[ids[k]] if q != k and alive[q] and not occl[q]]
        if shown:
            best = min(shown, key=lambda q: (abs(t[ep[q]] - t[ep[k]]), t[ep[q]]))
            h[k] = h0[best] + rate * (t[ep[k]] - t[ep[best]])
            src[k] = CARRIED + ep[best]
            continue
        # covered in every scan: the usable readings, each shifted by the growth to this scan's
        # date, are combined (see the docstring)
        pool = [q for q in rows_of[ids[k]] if alive[q] and usable[q]]
        if len(pool) >= 2 or (pool and pool != [k]):
            got = [h0[q] + rate * (t[ep[k]] - t[ep[q]]) for q in pool]
            spread = max(got) - min(got)
            if all(reading[q] == "own_crown" for q in pool) and spread > own_spread_m:
                h[k], src[k] = min(got), POOLED_LOWEST
            elif all(reading[q] == "canopy" for q in pool) and spread > canopy_spread_m:
                h[k], src[k] = min(got), POOLED_CANOPY_LOWEST
            else:
                h[k], src[k] = float(np.mean(got)), POOLED_MEAN
    return tw.with_columns(pl.Series("height_m", h), pl.Series("height_source", src, pl.Utf8),
                           pl.Series("height_read_m", h0))


def match_register(trees: pl.DataFrame, register: pl.DataFrame, gate_m: float = 4.0) -> pl.DataFrame:
    """``tree_id -> register_id, species`` for trees matched to the old register (first positions)."""
    first = trees.filter(pl.col("status") != "felled").sort("epoch").unique("tree_id", keep="first", maintain_order=True)
    if register.is_empty() or first.is_empty():
        return pl.DataFrame(schema={"tree_id": pl.Utf8, "register_id": pl.Utf8, "register_species": pl.Utf8,
                                    "register_distance_m": pl.Float64})
    i, j, dist = match_points(register["x_2154"].to_numpy(), register["y_2154"].to_numpy(), first["x"].to_numpy(),
                              first["y"].to_numpy(), gate_m)
    return pl.DataFrame({"tree_id": first["tree_id"].to_numpy()[j], "register_id": register["register_id"].to_numpy()[i],
                         "register_species": register["species"].to_numpy()[i], "register_distance_m": dist},
                        schema={"tree_id": pl.Utf8, "register_id": pl.Utf8, "register_species": pl.Utf8,
                                "register_distance_m": pl.Float64})
