"""Silver reference data shared by every service: quartiers, streets, bins, places, fleet,
fixed rounds, DSP contracts."""

from __future__ import annotations

import numpy as np
import polars as pl

from .cleaning import conform, latest_per_key
from .geo import wkt_coords

UTC = pl.Datetime("us", "UTC")

QUARTIERS = {"code": pl.Utf8, "name": pl.Utf8, "commune": pl.Utf8, "area_km2": pl.Float64,
             "wkt_2154": pl.Utf8, "wkt_4326": pl.Utf8}
STREET_SEGMENTS = {"segment_id": pl.Utf8, "street_name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8,
                   "road_class": pl.Utf8,
                   "surface": pl.Utf8, "length_m": pl.Float64, "speed_kmh": pl.Float64,
                   "x0": pl.Float64, "y0": pl.Float64, "x1": pl.Float64, "y1": pl.Float64,
                   "heading_deg": pl.Float64, "wkt_2154": pl.Utf8, "wkt_4326": pl.Utf8}
COLLECTION_POINTS = {"bin_id": pl.Utf8, "segment_id": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8,
                     "x_2154": pl.Float64,
                     "y_2154": pl.Float64, "lon": pl.Float64, "lat": pl.Float64, "capacity_l": pl.Int64,
                     "waste_stream": pl.Utf8}
PLACES = {"place_id": pl.Utf8, "kind": pl.Utf8, "name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8,
          "x_2154": pl.Float64,
          "y_2154": pl.Float64, "lon": pl.Float64, "lat": pl.Float64, "attributes": pl.Utf8}
TRUCKS = {"truck_id": pl.Utf8, "capacity_kg": pl.Float64, "capacity_m3": pl.Float64, "shift_start": pl.Utf8,
          "shift_hours": pl.Float64, "depot_id": pl.Utf8, "streams": pl.Utf8}
FIXED_ROUNDS = {"round_id": pl.Utf8, "truck_id": pl.Utf8, "weekday": pl.Int64, "bin_id": pl.Utf8,
                "sequence": pl.Int64}
DSP_CONTRACTS = {"contract_id": pl.Utf8, "name": pl.Utf8, "service": pl.Utf8, "delegate": pl.Utf8,
                 "contract_type": pl.Utf8, "start_date": pl.Date, "end_date": pl.Date,
                 "overhead_cap_pct": pl.Float64, "annual_fee_eur": pl.Float64,
                 "penalty_eur_per_step": pl.Float64, "penalty_step_pct": pl.Float64, "penalty_cap_eur": pl.Float64,
                 "commune": pl.Utf8}
PROCUREMENT_BUYERS = {"siret": pl.Utf8, "siren": pl.Utf8, "name": pl.Utf8, "commune": pl.Utf8}
CITY_CALENDAR = {"kind": pl.Utf8, "name": pl.Utf8, "first_day": pl.Date, "last_day": pl.Date, "n_days": pl.Int64,
                 "zone": pl.Utf8}


def quartiers(bronze: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["code"]).with_columns((pl.col("area_m2") / 1e6).alias("area_km2"))
    return conform(df, QUARTIERS).sort("code")


def with_commune(df: pl.DataFrame, quartiers: pl.DataFrame | None) -> pl.DataFrame:
    """`df` with the `commune` of its `quartier` (silver/quartiers: the commune each quartier's
    polygon belongs to). Derived here, once, for the reference tables every other table is placed
    through (segments, bins, places); null where the quartier is unknown."""
    df = df.drop("commune", strict=False)
    if quartiers is None or "commune" not in quartiers.columns:
        return df.with_columns(pl.lit(None, pl.Utf8).alias("commune"))
    names = quartiers.select(pl.col("name").alias("quartier"), pl.col("commune").cast(pl.Utf8)).sort("quartier", "commune", nulls_last=True).unique("quartier", keep="first")
    return df.join(names, on="quartier", how="left")


def street_segments(bronze: pl.DataFrame, quartiers: pl.DataFrame | None = None) -> pl.DataFrame:
    df = with_commune(latest_per_key(bronze, ["segment_id"]), quartiers)
    ends = [wkt_coords(w) for w in df["wkt_2154"].to_list()]
    x0 = np.array([e[0, 0] for e in ends]) if ends else np.array([])
    y0 = np.array([e[0, 1] for e in ends]) if ends else np.array([])
    x1 = np.array([e[-1, 0] for e in ends]) if ends else np.array([])
    y1 = np.array([e[-1, 1] for e in ends]) if ends else np.array([])
    df = df.with_columns(pl.Series("x0", x0, pl.Float64), pl.Series("y0", y0, pl.Float64),
                         pl.Series("x1", x1, pl.Float64), pl.Series("y1", y1, pl.Float64),
                         pl.Series("heading_deg", np.degrees(np.arctan2(x1 - x0, y1 - y0)) % 360, pl.Float64))
    return conform(df, STREET_SEGMENTS).sort("segment_id")


def collection_points(bronze: pl.DataFrame, quartiers: pl.DataFrame | None = None) -> pl.DataFrame:
    return conform(with_commune(latest_per_key(bronze, ["bin_id"]), quartiers), COLLECTION_POINTS).sort("bin_id")


def places(bronze: pl.DataFrame, quartiers: pl.DataFrame | None = None) -> pl.DataFrame:
    return conform(with_commune(latest_per_key(bronze, ["place_id"]), quartiers), PLACES).sort("place_id")


def trucks(bronze: pl.DataFrame) -> pl.DataFrame:
    return conform(latest_per_key(bronze, ["truck_id"]), TRUCKS).sort("truck_id")


def fixed_rounds(bronze: pl.DataFrame) -> pl.DataFrame:
    return conform(latest_per_key(bronze, ["round_id", "bin_id"]), FIXED_ROUNDS).sort("round_id", "sequence")


def dsp_contracts(bronze: pl.DataFrame) -> pl.DataFrame:
    return conform(latest_per_key(bronze, ["contract_id"]), DSP_CONTRACTS).sort("contract_id")


def procurement_buyers(bronze: pl.DataFrame) -> pl.DataFrame:
    """The public buyers of the territory (DECP `acheteur.id` = SIRET) and the commune each buys
    for (or the agglomeration), the latest delivery of each SIRET."""
    df = latest_per_key(bronze, ["siret"]).with_columns(pl.col("siret").str.slice(0, 9).alias("siren"))
    return conform(df, PROCUREMENT_BUYERS).sort("siret")


def city_calendar(bronze: pl.DataFrame | None) -> pl.DataFrame:
    """School-holiday and event periods (inclusive days, `n_days` long), the latest delivery of
    each; None (nothing delivered yet): the empty table."""
    if bronze is None:
        return pl.DataFrame(schema=CITY_CALENDAR)
    df = latest_per_key(bronze, ["kind", "name", "first_day"]).with_columns(
        ((pl.col("last_day") - pl.col("first_day")).dt.total_days() + 1).cast(pl.Int64).alias("n_days"))
    return conform(df, CITY_CALENDAR).sort("kind", "first_day", "name")
