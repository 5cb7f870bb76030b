"""Green spaces (espaces verts): LiDAR tile registry, the old tree register, trees per quartier."""

from __future__ import annotations

import math

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
        pl.col("species").mode().first().alias("main_species"),
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
