"""Green spaces (espaces verts): LiDAR tile registry, the old tree register, trees per quartier."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from .cleaning import conform, latest_per_key
from .geo import assign_quartier, wgs84_to_l93

LIDAR_TILES = {"tile_id": pl.Utf8, "epoch": pl.Utf8, "quartier": pl.Utf8, "point_count": pl.Int64,
               "density_pts_m2": pl.Float64, "min_x": pl.Float64, "min_y": pl.Float64, "max_x": pl.Float64,
               "max_y": pl.Float64, "min_z": pl.Float64, "max_z": pl.Float64, "ground_points": pl.Int64,
               "vegetation_points": pl.Int64, "building_points": pl.Int64, "noise_points": pl.Int64,
               "has_ground_class": pl.Boolean, "crs_epsg": pl.Int64, "source_file": pl.Utf8}
TREE_REGISTER = {"register_id": pl.Utf8, "species": pl.Utf8, "common_name": pl.Utf8, "lat": pl.Float64,
                 "lon": pl.Float64, "x_2154": pl.Float64, "y_2154": pl.Float64, "quartier": pl.Utf8,
                 "planting_year": pl.Int64, "height_m": pl.Float64, "circumference_cm": pl.Float64,
                 "dbh_cm": pl.Float64, "address": pl.Utf8}


def lidar_tiles(bronze: pl.DataFrame, quartiers: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["tile_id", "epoch"])
    cx = ((df["min_x"] + df["max_x"]) / 2).to_numpy()
    cy = ((df["min_y"] + df["max_y"]) / 2).to_numpy()
    df = df.with_columns(pl.Series("quartier", assign_quartier(cx, cy, quartiers), pl.Utf8),
                         pl.col("_source_file").alias("source_file"))
    return conform(df, LIDAR_TILES).sort("epoch", "tile_id")


def tree_register(bronze: pl.DataFrame, quartiers: pl.DataFrame) -> pl.DataFrame:
    """The old register in English column names, Lambert-93 position, quartier, and DBH from the
    girth (circumference / pi)."""
    df = latest_per_key(bronze, ["id_arbre"])
    x, y = wgs84_to_l93(df["lon"].to_numpy(), df["lat"].to_numpy())
    df = df.with_columns(
        pl.col("id_arbre").alias("register_id"), pl.col("espece").alias("species"),
        pl.col("nom_commun").alias("common_name"), pl.col("annee_plantation").alias("planting_year"),
        pl.col("hauteur_m").alias("height_m"), pl.col("circonference_cm").alias("circumference_cm"),
        (pl.col("circonference_cm") / math.pi).round(1).alias("dbh_cm"), pl.col("adresse").alias("address"),
        pl.Series("x_2154", np.asarray(x), pl.Float64), pl.Series("y_2154", np.asarray(y), pl.Float64),
        pl.Series("quartier", assign_quartier(x, y, quartiers), pl.Utf8))
    return conform(df, TREE_REGISTER).sort("register_id")


def trees_by_quartier(register: pl.DataFrame, tiles: pl.DataFrame, quartiers: pl.DataFrame) -> pl.DataFrame:
    """Per quartier: registered trees, density per km², species mix, mean height, and LiDAR
    coverage (tiles and points per scan epoch)."""
    reg = register.group_by("quartier").agg(
        pl.len().cast(pl.Int64).alias("register_trees"),
        pl.col("species").n_unique().cast(pl.Int64).alias("species_count"),
        # mode() lists tied species in no fixed order: the alphabetically first, the same on every run
        pl.col("species").mode().sort(nulls_last=True).first().alias("main_species"),
        pl.col("height_m").mean().round(2).alias("mean_height_m"),
        pl.col("dbh_cm").mean().round(1).alias("mean_dbh_cm"))
    epochs = sorted(tiles["epoch"].unique().to_list()) if tiles.height else []
    out = quartiers.select(pl.col("name").alias("quartier"), "area_km2").join(reg, on="quartier", how="left")
    for ep in epochs:
        t = tiles.filter(pl.col("epoch") == ep).group_by("quartier").agg(
            pl.len().cast(pl.Int64).alias(f"lidar_tiles_{ep}"), pl.col("point_count").sum().alias(f"lidar_points_{ep}"))
        out = out.join(t, on="quartier", how="left")
    return out.with_columns(
        pl.col("register_trees").fill_null(0), pl.col("species_count").fill_null(0),
        *[pl.col(c).fill_null(0) for c in out.columns if c.startswith("lidar_")],
        (pl.col("register_trees").fill_null(0) / pl.col("area_km2")).round(2).alias("register_trees_per_km2"),
    ).sort("quartier")


# ---------------------------------------------------------------- the LiDAR tree twin

TILE_PRODUCTS = {"tile_id": pl.Utf8, "epoch": pl.Utf8, "checksum": pl.Utf8, "source_file": pl.Utf8,
                 "origin_x": pl.Float64, "origin_y": pl.Float64, "points": pl.Int64, "ground_points": pl.Int64, "ground_source": pl.Utf8,
                 "min_height_m": pl.Float64, "max_height_m": pl.Float64, "canopy_cells_share": pl.Float64,
                 "rasters_path": pl.Utf8, "raster_version": pl.Utf8, "seconds": pl.Float64}
TREE_STATUS = ("alive", "new", "felled")
VITALITY = ("VS0", "VS1", "VS2", "VS3")
RISK_RATINGS = ("Low", "Moderate", "High", "Extreme")


def tree_changes(twin: pl.DataFrame) -> pl.DataFrame:
    """Per tree and epoch after the first scan: status, height growth (m), crown area change (%),
    crown loss (%), new lean (degrees), felled and new flags."""
    first = twin["epoch"].min() if twin.height else None
    return (twin.filter(pl.col("epoch") != first)
            .select("tree_id", "epoch", "status", "quartier", "x_2154", "y_2154", "height_m",
                    *(["height_source"] if "height_source" in twin.columns else []),
                    *(["height_correction_m"] if "height_correction_m" in twin.columns else []), "height_growth_m",
                    "crown_area_m2", "crown_area_change_pct", "crown_loss_pct", "lean_deg", "new_lean_deg",
                    (pl.col("status") == "felled").alias("felled"), (pl.col("status") == "new").alias("new"))
            .sort("epoch", "tree_id"))


def tree_inventory(twin: pl.DataFrame, health: pl.DataFrame, risk: pl.DataFrame) -> pl.DataFrame:
    """One row per tree: its latest state (a felled tree keeps its last measures, status felled),
    vitality and risk."""
    latest = twin.sort("epoch").group_by("tree_id", maintain_order=True).last()
    measured = (twin.filter(pl.col("status") != "felled").sort("epoch").group_by("tree_id", maintain_order=True).last()
                .select("tree_id", pl.col("epoch").alias("last_measured_epoch")))
    first = twin.group_by("tree_id").agg(pl.col("epoch").min().alias("first_epoch"))
    out = latest.join(first, on="tree_id", how="left").join(measured, on="tree_id", how="left")
    h = health.select("tree_id", "epoch", "vitality", "vitality_confidence", "model_version")
    out = out.join(h, on=["tree_id", "epoch"], how="left")
    r = risk.select("tree_id", "risk_rating", "risk_score", "risk_reasons")
    out = out.join(r, on="tree_id", how="left")
    return out.select(
        "tree_id", "register_id", "species", "species_group", "quartier", "status", "first_epoch",
        pl.col("epoch").alias("latest_epoch"), "last_measured_epoch", "x_2154", "y_2154", "lon", "lat", "height_m",
        *(["height_source"] if "height_source" in out.columns else []),
        *(["height_correction_m"] if "height_correction_m" in out.columns else []),
        *(["in_model_domain"] if "in_model_domain" in out.columns else []), "crown_area_m2", "crown_diameter_m", "crown_volume_m3", "crown_base_m", "dbh_cm", "lean_deg",
        "lean_azimuth_deg", "position_source", "gap_fraction", "vitality", "vitality_confidence", "model_version",
        "risk_rating", "risk_score", "risk_reasons").sort("tree_id")


def canopy_by_quartier(inventory: pl.DataFrame, quartiers: pl.DataFrame) -> pl.DataFrame:
    """Per quartier: living trees, canopy cover (% of the quartier's area under detected crowns),
    mean height (m), species groups and main species, new and felled trees, trees at High or
    Extreme risk."""
    alive = inventory.filter(pl.col("status") != "felled")
    agg = alive.group_by("quartier").agg(
        pl.len().cast(pl.Int64).alias("trees"),
        pl.col("crown_area_m2").sum().alias("canopy_m2"),
        pl.col("height_m").mean().round(2).alias("mean_height_m"),
        (pl.col("species_group") == "broadleaf").sum().cast(pl.Int64).alias("broadleaf_trees"),
        (pl.col("species_group") == "conifer").sum().cast(pl.Int64).alias("conifer_trees"),
        (pl.col("species_group") == "palm").sum().cast(pl.Int64).alias("palm_trees"),
        pl.col("species").drop_nulls().mode().sort().first().alias("main_register_species"),   # ties: by name
        (pl.col("status") == "new").sum().cast(pl.Int64).alias("new_trees"),
        pl.col("risk_rating").is_in(["High", "Extreme"]).sum().cast(pl.Int64).alias("high_risk_trees"))
    felled = inventory.filter(pl.col("status") == "felled").group_by("quartier").agg(
        pl.len().cast(pl.Int64).alias("felled_trees"))
    out = (quartiers.select(pl.col("name").alias("quartier"), "area_km2").join(agg, on="quartier", how="left")
           .join(felled, on="quartier", how="left"))
    return out.with_columns(
        *[pl.col(c).fill_null(0) for c in ("trees", "broadleaf_trees", "conifer_trees", "palm_trees", "new_trees",
                                           "high_risk_trees", "felled_trees")],
        pl.col("canopy_m2").fill_null(0.0).round(1),
        (100 * pl.col("canopy_m2").fill_null(0.0) / (pl.col("area_km2") * 1e6)).round(3).alias("canopy_cover_pct"),
        (pl.col("trees").fill_null(0) / pl.col("area_km2")).round(1).alias("trees_per_km2"),
    ).sort("quartier")

TILE_SIZE_M = 250.0


def tile_checksums(bronze: pl.DataFrame) -> pl.DataFrame:
    """The checksum of the latest delivery of each tile and epoch."""
    return (bronze.sort("_ingested_at").group_by("tile_id", "epoch", maintain_order=True).last()
            .select("tile_id", "epoch", pl.col("_checksum").alias("checksum")))


def tiles_to_process(tiles: pl.DataFrame, checksums: pl.DataFrame, done: pl.DataFrame,
                     version: str | None = None) -> pl.DataFrame:
    """Registered tiles whose points are missing, came from other bytes (changed checksum) or were
    made by another version of the raster code, with the tile's core bounds (the ``TILE_SIZE_M``
    grid cell holding its points)."""
    t = tiles.join(checksums, on=["tile_id", "epoch"], how="left")
    if done.height:
        t = t.join(done.select("tile_id", "epoch", pl.col("checksum").alias("_done"), pl.col("raster_version").alias("_v")),
                   on=["tile_id", "epoch"], how="left")
        stale = pl.col("_done").is_null() | (pl.col("_done") != pl.col("checksum"))
        if version is not None:
            stale = stale | pl.col("_v").is_null() | (pl.col("_v") != version)
        t = t.filter(stale).drop("_done", "_v")
    return t.with_columns(
        ((pl.col("min_x") / TILE_SIZE_M).floor() * TILE_SIZE_M).alias("core_x0"),
        ((pl.col("min_y") / TILE_SIZE_M).floor() * TILE_SIZE_M).alias("core_y0"),
    ).sort("epoch", "tile_id")


def tree_risk_register(risk: pl.DataFrame) -> pl.DataFrame:
    """Living trees ranked by TRAQ risk (score descending)."""
    return risk.sort(["risk_score", "height_m"], descending=True).with_columns(
        pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"))


def tile_quarantine_row(tile: dict, reason: str, landing, quarantined_path, run_id: str) -> dict:
    """The quarantine record of a registered tile whose points could not be read."""
    return {"source": "lidar_tiles", "delivery": f"{tile['epoch']}/{tile['tile_id']}.laz", "item": tile["source_file"],
            "reason": reason, "original_path": str(Path(landing) / tile["source_file"]),
            "quarantined_path": str(quarantined_path) if quarantined_path else None, "checksum": tile["checksum"],
            "run_id": run_id}


def merge_tile_products(done: pl.DataFrame, rows: list[dict]) -> pl.DataFrame:
    """The per-tile summary after this run: the tiles processed now (`rows`) replace their earlier
    rows in `done`; earlier rows of an older schema get the new columns as nulls."""
    new = pl.DataFrame(rows, schema=TILE_PRODUCTS)
    kept = done.join(new.select("tile_id", "epoch"), on=["tile_id", "epoch"], how="anti")
    kept = kept.with_columns(*[pl.lit(None, t).alias(c) for c, t in TILE_PRODUCTS.items() if c not in kept.columns])
    return pl.concat([kept.select(list(TILE_PRODUCTS)).cast(TILE_PRODUCTS), new])
