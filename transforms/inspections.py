"""Arborists' inspection records: the CSV a field app exports, parsed and cleaned (docs/LANDING.md).

One row per tree inspected: the tree (``tree_id`` of the twin, or a position in Lambert-93
``x_2154``/``y_2154`` or WGS84 ``lat``/``lon``), the date, the Roloff vitality class (VS0-VS3, or
``dead``), defects seen, the TRAQ likelihood of failure, the height and DBH measured, and the
inspector. The inspection plan (silver/gold ``tree_inspection_plan``) carries the same columns,
empty: an exported plan filled in on site comes back as a delivery of this source.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from .cleaning import conform, latest_per_key
from .validation import ROW, Col

ROLOFF = ("VS0", "VS1", "VS2", "VS3", "dead")
FAILURE_LEVELS = ("improbable", "possible", "probable", "imminent")
# Lambert-93's area of use (metropolitan France), not one city: any commune of the reference data
X93_FRANCE = (50_000.0, 1_300_000.0)
Y93_FRANCE = (6_000_000.0, 7_150_000.0)

SPEC: list[Col] = [
    Col("tree_id", required=False),
    Col("x_2154", pl.Float64, required=False, min=X93_FRANCE[0], max=X93_FRANCE[1]),
    Col("y_2154", pl.Float64, required=False, min=Y93_FRANCE[0], max=Y93_FRANCE[1]),
    Col("lat", pl.Float64, required=False, min=41.0, max=51.5),
    Col("lon", pl.Float64, required=False, min=-5.5, max=10.0),
    Col("inspection_date", pl.Date),
    Col("vitality", allowed=ROLOFF),
    Col("defects", required=False),
    Col("likelihood_of_failure", required=False, allowed=FAILURE_LEVELS),
    Col("height_m", pl.Float64, required=False, min=0.5, max=70.0),
    Col("dbh_cm", pl.Float64, required=False, min=1.0, max=400.0),
    Col("inspector"),
]
#: the columns an arborist fills in (the inspection plan carries them empty)
FORM_COLUMNS = {"inspection_date": pl.Date, "vitality": pl.Utf8, "defects": pl.Utf8,
                "likelihood_of_failure": pl.Utf8, "height_m": pl.Float64, "dbh_cm": pl.Float64,
                "inspector": pl.Utf8}

TREE_INSPECTIONS = {"inspection_id": pl.Utf8, "tree_id": pl.Utf8, "x_2154": pl.Float64, "y_2154": pl.Float64,
                    "lat": pl.Float64, "lon": pl.Float64, "position_source": pl.Utf8, **FORM_COLUMNS,
                    "source_file": pl.Utf8}


def parse_inspections(data: bytes, name: str):
    """Parse one export. A row is bad when a value breaks the spec, or when it names neither a
    tree id nor a whole position (x_2154 and y_2154, or lat and lon)."""
    from .parsing import Parsed, read_csv_rows

    p = read_csv_rows(data, name, SPEC)
    g = p.good
    has_xy = pl.col("x_2154").is_not_null() & pl.col("y_2154").is_not_null()
    has_ll = pl.col("lat").is_not_null() & pl.col("lon").is_not_null()
    half = ((pl.col("x_2154").is_null() != pl.col("y_2154").is_null())
            | (pl.col("lat").is_null() != pl.col("lon").is_null()))
    reason = (pl.when(half).then(pl.lit("position: x_2154/y_2154 or lat/lon given by half"))
              .when(pl.col("tree_id").is_null() & ~has_xy & ~has_ll)
              .then(pl.lit("no tree_id and no position (x_2154/y_2154 or lat/lon): the tree cannot be found")))
    g = g.with_columns(reason.alias("__reason"))
    badrows = g.filter(pl.col("__reason").is_not_null())
    bad = badrows.select(pl.col(ROW), pl.col("__reason").alias("reason"),
                         pl.concat_str([pl.col(c.name).cast(pl.Utf8).fill_null("") for c in SPEC], separator=",")
                         .alias("raw"))
    good = g.filter(pl.col("__reason").is_null()).drop("__reason")
    return Parsed(good, pl.concat([p.bad, bad]).sort(ROW))


def _inspection_id(tree_id, x, y, day, inspector) -> str:
    where = tree_id if tree_id else f"{x:.1f},{y:.1f}"
    return hashlib.sha256(f"{where}|{day}|{inspector}".encode()).hexdigest()[:16]


def tree_inspections(bronze: pl.DataFrame) -> pl.DataFrame:
    """Silver inspection records: both position forms filled (Lambert-93 from WGS84 or the other
    way), ``position_source`` saying which the arborist gave (``tree_id``, ``lambert93``,
    ``wgs84``), one row per tree, date and inspector (the latest delivery wins)."""
    from .geo import l93_to_wgs84, wgs84_to_l93

    if bronze.is_empty():
        return pl.DataFrame(schema=TREE_INSPECTIONS)
    df = bronze
    x, y = df["x_2154"].to_numpy().astype(float), df["y_2154"].to_numpy().astype(float)
    lon, lat = df["lon"].to_numpy().astype(float), df["lat"].to_numpy().astype(float)
    fx, fy = wgs84_to_l93(np.nan_to_num(lon), np.nan_to_num(lat))
    flon, flat = l93_to_wgs84(np.nan_to_num(x), np.nan_to_num(y))
    has_xy, has_ll = np.isfinite(x) & np.isfinite(y), np.isfinite(lon) & np.isfinite(lat)
    X = np.where(has_xy, x, np.where(has_ll, fx, np.nan))
    Y = np.where(has_xy, y, np.where(has_ll, fy, np.nan))
    LON = np.where(has_ll, lon, np.where(has_xy, flon, np.nan))
    LAT = np.where(has_ll, lat, np.where(has_xy, flat, np.nan))
    tid = df["tree_id"].to_list()
    src = ["lambert93" if a else "wgs84" if b else "tree_id" for a, b in zip(has_xy, has_ll)]
    df = df.with_columns(pl.Series("x_2154", X).fill_nan(None), pl.Series("y_2154", Y).fill_nan(None),
                         pl.Series("lon", LON).fill_nan(None), pl.Series("lat", LAT).fill_nan(None),
                         pl.Series("position_source", src, pl.Utf8), pl.col("_source_file").alias("source_file"))
    ids = [_inspection_id(t, a if np.isfinite(a) else 0.0, b if np.isfinite(b) else 0.0, d, i)
           for t, a, b, d, i in zip(tid, X, Y, df["inspection_date"].to_list(), df["inspector"].to_list())]
    df = df.with_columns(pl.Series("inspection_id", ids, pl.Utf8))
    return conform(latest_per_key(df, ["inspection_id"]), TREE_INSPECTIONS).sort("inspection_date", "inspection_id")
