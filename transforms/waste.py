"""Cleanliness and waste (propreté): collection events, bin sensor readings, litter detections,
tonnage per day and quartier."""

from __future__ import annotations

import numpy as np
import polars as pl

from .cleaning import conform, latest_per_key
from .geo import assign_quartier, wgs84_to_l93

UTC = pl.Datetime("us", "UTC")
TZ = "Europe/Paris"
COLLECTION_EVENTS = {"truck_id": pl.Utf8, "round_id": pl.Utf8, "bin_id": pl.Utf8, "collected_at": UTC,
                     "collection_date": pl.Date, "net_weight_kg": pl.Float64, "fill_level_at_pickup": pl.Float64,
                     "contamination": pl.Boolean, "waste_stream": pl.Utf8, "quartier": pl.Utf8,
                     "capacity_l": pl.Int64, "source_file": pl.Utf8}
BIN_READINGS = {"message_id": pl.Utf8, "bin_id": pl.Utf8, "observed_at": UTC, "observed_date": pl.Date,
                "filling_level": pl.Float64, "status": pl.Utf8, "temperature_c": pl.Float64,
                "cargo_weight_kg": pl.Float64, "bin_capacity_l": pl.Float64, "stored_waste_kind": pl.Utf8,
                "source_file": pl.Utf8}
LITTER_DETECTIONS = {"detection_id": pl.Utf8, "detected_at": UTC, "detected_date": pl.Date,
                     "vehicle_id": pl.Utf8, "category": pl.Utf8, "count": pl.Int64, "lat": pl.Float64,
                     "lon": pl.Float64, "x_2154": pl.Float64, "y_2154": pl.Float64, "quartier": pl.Utf8,
                     "confidence": pl.Float64, "source_file": pl.Utf8}


def _local_date(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone(TZ).dt.date()


def collection_events(bronze: pl.DataFrame, bins: pl.DataFrame) -> pl.DataFrame:
    """One pickup per (bin, time), with the bin's stream, quartier and capacity; the local
    (Europe/Paris) date the crews work in."""
    df = latest_per_key(bronze, ["bin_id", "collected_at"]).join(
        bins.select("bin_id", "waste_stream", "quartier", "capacity_l"), on="bin_id", how="left")
    df = df.with_columns(_local_date("collected_at").alias("collection_date"),
                         pl.col("_source_file").alias("source_file"))
    return conform(df, COLLECTION_EVENTS).sort("collected_at", "bin_id")


def bin_readings(bronze: pl.DataFrame) -> pl.DataFrame:
    """Each sensor message once (deduplicated on message_id)."""
    df = latest_per_key(bronze, ["message_id"]).with_columns(
        pl.col("date_observed").alias("observed_at"), _local_date("date_observed").alias("observed_date"),
        pl.col("_source_file").alias("source_file"))
    return conform(df, BIN_READINGS).sort("observed_at", "bin_id")


def litter_detections(bronze: pl.DataFrame, quartiers: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["detection_id"])
    x, y = wgs84_to_l93(df["lon"].to_numpy(), df["lat"].to_numpy())
    df = df.with_columns(
        _local_date("detected_at").alias("detected_date"),
        pl.Series("x_2154", np.asarray(x), pl.Float64), pl.Series("y_2154", np.asarray(y), pl.Float64),
        pl.Series("quartier", assign_quartier(x, y, quartiers), pl.Utf8),
        pl.col("_source_file").alias("source_file"))
    return conform(df, LITTER_DETECTIONS).sort("detected_at", "detection_id")


def tonnage_daily(events: pl.DataFrame) -> pl.DataFrame:
    """Per local date, quartier and waste stream: pickups, tonnes, mean fill seen at pickup and
    the share of pickups flagged contaminated."""
    return events.group_by("collection_date", "quartier", "waste_stream").agg(
        pl.len().cast(pl.Int64).alias("pickups"),
        (pl.col("net_weight_kg").sum() / 1000).round(3).alias("tonnes"),
        pl.col("fill_level_at_pickup").mean().round(3).alias("mean_fill_at_pickup"),
        (pl.col("contamination").cast(pl.Float64).mean() * 100).round(1).alias("contamination_rate_pct"),
    ).sort("collection_date", "quartier", "waste_stream")
