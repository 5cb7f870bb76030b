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
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .matching import match_points

KEEP = ("x", "y", "top_x", "top_y", "height_m", "crown_area_m2", "crown_diameter_m", "crown_volume_m3", "crown_base_m",
        "gap_fraction", "top_gap_fraction", "lean_deg", "lean_azimuth_deg", "stem_points", "crown_contact_share",
        "crown_star_ratio", "crown_layer_depth_m", "position_source", "occluded", "tile_id", "canopy_prev_m",
        "canopy_next_m")


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


def follow_trees(det: pl.DataFrame, tiles: pl.DataFrame, gate_m: float = 3.0) -> pl.DataFrame:
    """One row per (tree_id, epoch) with the change columns (see module doc)."""
    det = det.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("canopy_prev_m", "canopy_next_m")
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
        for k in np.flatnonzero(ids == None):  # noqa: E711 - object array
            base = f"TR-{x[k]:.0f}-{y[k]:.0f}"
            tid, s = base, 1
            while tid in used:
                s += 1
                tid = f"{base}-{s}"
            ids[k] = tid
        used.update(ids.tolist())
        cur = d.select(["epoch", *KEEP]).with_columns(pl.Series("tree_id", ids, pl.Utf8),
                                                       pl.Series("status", status, pl.Utf8))
        if last is not None and last.height:
            pi = prev_idx
            has = pi >= 0
            def prev(col):  # noqa: E306
                v = np.full(d.height, np.nan)
                v[has] = last[col].to_numpy()[pi[has]].astype(float)
                return v
            ph, pa, pl_ = prev("height_m"), prev("crown_area_m2"), prev("lean_deg")
            # a tree under a neighbour's crown shows only part of itself: no change measured on it
            occl = cur["occluded"].to_numpy().astype(bool)
            po = np.zeros(d.height, bool)
            po[has] = last["occluded"].to_numpy().astype(bool)[pi[has]]
            hidden = occl | po
            growth = np.where(hidden, np.nan, cur["height_m"].to_numpy() - ph)
            area_chg = np.where(hidden, np.nan, 100 * (cur["crown_area_m2"].to_numpy() - pa) / np.where(pa > 0, pa, np.nan))
            new_lean = cur["lean_deg"].to_numpy().astype(float) - pl_
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
    res = pl.concat(out, how="diagonal_relaxed")
    return res.with_columns(pl.col(c).fill_nan(None) for c in ("height_growth_m", "crown_area_change_pct",
                                                              "crown_loss_pct", "new_lean_deg", "lean_deg",
                                                              "lean_azimuth_deg")).sort("tree_id", "epoch")


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
