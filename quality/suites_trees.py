"""Expectation suites and extra rules for the tree twin: tiles, trees, changes."""

from __future__ import annotations

import polars as pl

from models.trees.height_model import needs_correction
from models.trees.twin import CARRIED, HEIGHT_SOURCES, MEASURED, MIN_CROWN_M2
from quality.suites import TableSuite
from transforms import trees as T

TILE_PRODUCTS = TableSuite(
    table="lidar_tile_products", key=("tile_id", "epoch"),
    not_null=("tile_id", "epoch", "points", "ground_points", "ground_source", "rasters_path"),
    types={"tile_id": pl.Utf8, "epoch": pl.Utf8, "points": pl.Int64, "ground_points": pl.Int64,
           "min_height_m": pl.Float64, "max_height_m": pl.Float64},
    ranges={"points": (1, None), "ground_points": (1, None), "min_height_m": (-5.0, 2.0), "max_height_m": (0.0, 80.0),
            "canopy_cells_share": (0.0, 1.0)},
    in_set={"ground_source": ("class 2", "pmf")}, min_rows=1)

DETECTIONS = TableSuite(
    table="tree_detections", key=("detection_id",),
    not_null=("epoch", "tile_id", "x", "y", "height_m", "crown_area_m2", "crown_diameter_m"),
    types={"detection_id": pl.Utf8, "epoch": pl.Utf8, "x": pl.Float64, "y": pl.Float64, "height_m": pl.Float64},
    ranges={"height_m": (1.5, 60.0), "crown_area_m2": (0.0, 1000.0), "crown_diameter_m": (0.0, 40.0),
            "crown_base_m": (0.0, 60.0), "crown_layer_depth_m": (0.0, 60.0), "gap_fraction": (0.0, 1.0),
            "lean_deg": (0.0, 60.0),
            # Lambert-93 area of use (the territory itself is checked on the tiles, against the communes)
            "x": (50_000, 1_300_000), "y": (6_000_000, 7_150_000)},
    in_set={"position_source": ("stem", "crown_top"), "height_reading": ("top", "own_crown", "canopy"),
            "detection_path": ("stem-first", "canopy-first")}, min_rows=1)

TWIN = TableSuite(
    table="tree_twin", key=("tree_id", "epoch"), not_null=("status", "x_2154", "y_2154"),
    types={"tree_id": pl.Utf8, "epoch": pl.Utf8, "status": pl.Utf8, "x_2154": pl.Float64, "y_2154": pl.Float64},
    ranges={"height_growth_m": (-30.0, 5.0), "dbh_cm": (1.0, 400.0)},
    in_set={"status": T.TREE_STATUS, "species_group": ("broadleaf", "conifer", "palm", "unknown")},
    references={"quartier": ("silver", "quartiers", "name")}, min_rows=1)


def tile_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every registered tile has its points and rasters (none silently skipped)."""
    if not lake.exists("silver", "lidar_tiles"):
        return []
    reg = lake.read("silver", "lidar_tiles", columns=["tile_id", "epoch"])
    miss = reg.join(df.select("tile_id", "epoch"), on=["tile_id", "epoch"], how="anti")
    if miss.height:
        return [f"{miss.height} registered tile(s) without points, e.g. {miss.row(0)}"]
    return []


def detection_rules(df: pl.DataFrame, lake) -> list[str]:
    """Detections inside their tile's bounds (+ buffer none: a tree belongs to the tile of its top)
    and a crown no smaller than a cell."""
    out = []
    small = df.filter(pl.col("crown_area_m2") < 0.25)
    if small.height:
        out.append(f"{small.height} detection(s) with a crown under one cell, e.g. {small['detection_id'][0]}")
    return out


def twin_rules(df: pl.DataFrame, lake) -> list[str]:
    """A felled tree stays felled (no later alive row); new only after the first epoch."""
    out = []
    if df.is_empty():
        return out
    first = df["epoch"].min()
    bad_new = df.filter((pl.col("epoch") == first) & (pl.col("status") != "alive"))
    if bad_new.height:
        out.append(f"{bad_new.height} tree(s) new or felled in the first epoch {first}")
    f = df.filter(pl.col("status") == "felled").group_by("tree_id").agg(pl.col("epoch").min().alias("felled_at"))
    later = df.join(f, on="tree_id").filter((pl.col("epoch") > pl.col("felled_at")) & (pl.col("status") != "felled"))
    if later.height:
        out.append(f"{later.height} tree(s) alive again after being felled, e.g. {later['tree_id'][0]}")
    if "height_source" in df.columns:
        # a height is carried or pooled only where the scan's own reading was of a covered top
        known = (pl.col("height_source").is_in(list(HEIGHT_SOURCES))
                 | pl.col("height_source").str.starts_with(CARRIED))
        odd = df.filter(~known.fill_null(False))
        if odd.height:
            out.append(f"{odd.height} row(s) with an unknown height_source, e.g. {odd['height_source'][0]!r}")
        if "occluded" in df.columns:
            # (a reading on a crown segment under 1 m² is no reading: it may be replaced too)
            tiny = (pl.col("crown_area_m2") < MIN_CROWN_M2).fill_null(False) if "crown_area_m2" in df.columns else pl.lit(False)
            moved = df.filter((pl.col("height_source") != MEASURED) & ~pl.col("occluded").fill_null(False).cast(pl.Boolean)
                              & ~tiny)
            if moved.height:
                out.append(f"{moved.height} tree-epoch(s) whose visible top's height was replaced, e.g. {moved['tree_id'][0]}")
    if "height_correction_m" in df.columns:
        # the learned correction moves only trees not measured on their own top
        moved = df["height_correction_m"].fill_null(0.0).to_numpy() != 0
        shifted = df.filter(pl.Series(moved & ~needs_correction(df)))
        if shifted.height:
            out.append(f"{shifted.height} tree-epoch(s) measured on their own top with a height correction, "
                       f"e.g. {shifted['tree_id'][0]}")
    return out


VITALITY = ("VS0", "VS1", "VS2", "VS3")
RATINGS = ("Low", "Moderate", "High", "Extreme")

HEALTH = TableSuite(
    # vitality is NULL only when no vitality model is promoted yet (no labels to train on)
    table="tree_health", key=("tree_id", "epoch"),
    types={"tree_id": pl.Utf8, "epoch": pl.Utf8, "vitality": pl.Utf8, "vitality_confidence": pl.Float64,
           "model_version": pl.Utf8},
    ranges={c: (0.0, 1.0) for c in ("vitality_confidence", "p_vs0", "p_vs1", "p_vs2", "p_vs3")},
    in_set={"vitality": VITALITY}, min_rows=1)

RISK = TableSuite(
    table="tree_risk", key=("tree_id", "epoch"),
    not_null=("risk_rating", "risk_score", "risk_reasons", "x_2154", "y_2154"),
    types={"tree_id": pl.Utf8, "risk_rating": pl.Utf8, "risk_score": pl.Float64, "risk_reasons": pl.Utf8},
    ranges={"risk_score": (0.0, None)}, in_set={"risk_rating": RATINGS, "vitality": VITALITY}, min_rows=1)

INSPECTION = TableSuite(
    table="tree_inspection_plan", key=("tree_id",), not_null=("plan_status", "risk_rating", "risk_reasons"),
    types={"tree_id": pl.Utf8, "plan_status": pl.Utf8, "risk_score": pl.Float64},
    in_set={"plan_status": ("planned", "deferred"), "risk_rating": RATINGS})


def health_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every row scored by the promoted vitality model; the class probabilities sum to 1."""
    out = []
    reg = lake.read_or_empty("ml", "model_registry", {"model": pl.Utf8, "version": pl.Utf8, "promoted": pl.Boolean})
    reg = reg.filter((pl.col("model") == "tree_vitality") & pl.col("promoted"))
    if reg.height:   # the model registry (assets/ml.py) read as a table: quality does not import assets
        version = reg["version"][0]
    else:
        unscored = df.filter(pl.col("vitality").is_not_null())
        return [f"{unscored.height} row(s) with a vitality but no promoted model"] if unscored.height else []
    stale = df.filter(pl.col("model_version") != version)
    if stale.height:
        out.append(f"{stale.height} row(s) scored by another version than the promoted {version}")
    s = df.select((pl.col("p_vs0") + pl.col("p_vs1") + pl.col("p_vs2") + pl.col("p_vs3") - 1).abs().max()).item()
    if s is not None and s > 1e-3:
        out.append(f"vitality probabilities do not sum to 1 (max deviation {s:.4f})")
    return out


def inspection_rules(df: pl.DataFrame, lake) -> list[str]:
    """Planned visits have a team, an order and a start time; every tree is in the risk register."""
    out = []
    planned = df.filter(pl.col("plan_status") == "planned")
    miss = planned.filter(pl.col("team").is_null() | pl.col("stop").is_null() | pl.col("planned_start_min").is_null())
    if miss.height:
        out.append(f"{miss.height} planned visit(s) without team, order or start time")
    dup = planned.group_by("team", "stop").len().filter(pl.col("len") > 1)
    if dup.height:
        out.append(f"{dup.height} (team, stop) pair(s) used twice")
    if lake.exists("silver", "tree_risk"):
        risk = lake.read("silver", "tree_risk", columns=["tree_id"])
        orphan = df.join(risk, on="tree_id", how="anti")
        if orphan.height:
            out.append(f"{orphan.height} planned tree(s) not in silver.tree_risk, e.g. {orphan['tree_id'][0]}")
    return out
