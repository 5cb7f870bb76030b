"""Roads (voirie): survey frames matched to street segments, coverage per street."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from .cleaning import conform, latest_per_key
from .geo import point_segment_distance, wgs84_to_l93

UTC = pl.Datetime("us", "UTC")
ROAD_FRAMES = {"survey_id": pl.Utf8, "file": pl.Utf8, "vehicle_id": pl.Utf8, "captured_at": UTC,
               "lat": pl.Float64, "lon": pl.Float64, "x_2154": pl.Float64, "y_2154": pl.Float64,
               "heading_deg": pl.Float64, "width": pl.Int64, "height": pl.Int64, "segment_id": pl.Utf8,
               "match_distance_m": pl.Float64, "position_along": pl.Float64, "source_file": pl.Utf8}

MAX_MATCH_DISTANCE_M = 20.0


def match_to_segments(x: np.ndarray, y: np.ndarray, segments: pl.DataFrame,
                      max_distance_m: float = MAX_MATCH_DISTANCE_M, step_m: float = 10.0):
    """Nearest street segment of each point (exact point-to-segment distance over the candidates
    a KD-tree of points sampled along the segments proposes). Returns (segment_id or None,
    distance, position along the segment 0-1)."""
    n = len(x)
    if n == 0 or segments.is_empty():
        return [None] * n, np.full(n, np.nan), np.full(n, np.nan)
    sx0, sy0 = segments["x0"].to_numpy(), segments["y0"].to_numpy()
    sx1, sy1 = segments["x1"].to_numpy(), segments["y1"].to_numpy()
    ids = segments["segment_id"].to_numpy()
    pts, owner = [], []
    for i in range(len(ids)):
        k = max(2, int(np.ceil(np.hypot(sx1[i] - sx0[i], sy1[i] - sy0[i]) / step_m)) + 1)
        t = np.linspace(0, 1, k)
        pts.append(np.column_stack([sx0[i] + t * (sx1[i] - sx0[i]), sy0[i] + t * (sy1[i] - sy0[i])]))
        owner.append(np.full(k, i))
    tree = cKDTree(np.vstack(pts))
    owner = np.concatenate(owner)
    kq = min(12, len(owner))
    _, idx = tree.query(np.column_stack([x, y]), k=kq)
    idx = idx.reshape(n, -1)
    cand = owner[idx]                                  # (n, k) candidate segments
    d, t = point_segment_distance(x[:, None], y[:, None], sx0[cand], sy0[cand], sx1[cand], sy1[cand])
    best = np.argmin(d, axis=1)
    rows = np.arange(n)
    dist, pos, seg = d[rows, best], t[rows, best], cand[rows, best]
    out_ids = [ids[s] if dd <= max_distance_m else None for s, dd in zip(seg, dist)]
    return out_ids, dist, pos


def road_frames(bronze: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """Silver frames: one per (survey, file), Lambert-93 position, matched segment (None when no
    segment lies within MAX_MATCH_DISTANCE_M: kept and counted, never dropped)."""
    df = latest_per_key(bronze, ["survey_id", "file"])
    x, y = wgs84_to_l93(df["lon"].to_numpy(), df["lat"].to_numpy())
    seg, dist, pos = match_to_segments(np.asarray(x), np.asarray(y), segments)
    df = df.with_columns(
        pl.Series("x_2154", x, pl.Float64), pl.Series("y_2154", y, pl.Float64),
        pl.Series("segment_id", seg, pl.Utf8), pl.Series("match_distance_m", dist, pl.Float64),
        pl.Series("position_along", pos, pl.Float64), pl.col("_source_file").alias("source_file"))
    return conform(df, ROAD_FRAMES).sort("survey_id", "file")


def survey_coverage_by_street(frames: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """Per survey and street: network length, length surveyed (segments with at least one
    matched frame), frames, coverage %. Unmatched frames appear on a row street_name = NULL."""
    per_seg = frames.filter(pl.col("segment_id").is_not_null()).group_by("survey_id", "segment_id").agg(
        pl.len().alias("frames"))
    surveys = frames.select("survey_id").unique()
    net = segments.select("segment_id", "street_name", "quartier", "length_m")
    grid = surveys.join(net, how="cross").join(per_seg, on=["survey_id", "segment_id"], how="left")
    out = grid.group_by("survey_id", "street_name", "quartier").agg(
        pl.len().alias("segments"),
        (pl.col("length_m").sum() / 1000).alias("network_km"),
        (pl.col("frames").is_not_null()).sum().alias("segments_surveyed"),
        (pl.when(pl.col("frames").is_not_null()).then(pl.col("length_m")).otherwise(0).sum() / 1000)
        .alias("km_surveyed"),
        pl.col("frames").fill_null(0).sum().cast(pl.Int64).alias("frames"),
    ).with_columns((100 * pl.col("km_surveyed") / pl.col("network_km")).round(1).alias("coverage_pct"))
    unmatched = frames.filter(pl.col("segment_id").is_null()).group_by("survey_id").agg(
        pl.len().cast(pl.Int64).alias("frames"))
    if unmatched.height:
        out = pl.concat([out, unmatched.with_columns(
            pl.lit(None, pl.Utf8).alias("street_name"), pl.lit(None, pl.Utf8).alias("quartier"),
            pl.lit(0, pl.UInt32).alias("segments"), pl.lit(0.0).alias("network_km"),
            pl.lit(0, pl.UInt32).alias("segments_surveyed"), pl.lit(0.0).alias("km_surveyed"),
            pl.lit(None, pl.Float64).alias("coverage_pct")).select(out.columns)])
    return out.with_columns(pl.col("segments").cast(pl.Int64), pl.col("segments_surveyed").cast(pl.Int64),
                            pl.col("network_km").round(3), pl.col("km_surveyed").round(3)).sort(
        "survey_id", "quartier", "street_name", nulls_last=True)
