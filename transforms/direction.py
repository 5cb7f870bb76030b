"""Direction: daily city KPIs across services, for the city's management dashboard."""

from __future__ import annotations

import polars as pl

TZ = "Europe/Paris"


def city_daily_kpis(frames: pl.DataFrame, segments: pl.DataFrame, events: pl.DataFrame,
                    readings: pl.DataFrame, litter: pl.DataFrame) -> pl.DataFrame:
    """One row per local date with what each service did that day: frames and km surveyed,
    pickups, tonnes, mean fill at pickup, sensor readings and near-full alerts (>= 90 %), litter
    items detected."""
    f = frames.filter(pl.col("captured_at").is_not_null()).with_columns(
        pl.col("captured_at").dt.convert_time_zone(TZ).dt.date().alias("date"))
    seg_len = segments.select("segment_id", "length_m")
    roads = f.group_by("date").agg(pl.len().cast(pl.Int64).alias("frames_surveyed"))
    km = (f.filter(pl.col("segment_id").is_not_null()).select("date", "segment_id").unique()
          .join(seg_len, on="segment_id").group_by("date")
          .agg((pl.col("length_m").sum() / 1000).round(3).alias("km_surveyed")))
    waste = events.group_by(pl.col("collection_date").alias("date")).agg(
        pl.len().cast(pl.Int64).alias("pickups"),
        (pl.col("net_weight_kg").sum() / 1000).round(3).alias("tonnes_collected"),
        pl.col("fill_level_at_pickup").mean().round(3).alias("mean_fill_at_pickup"),
        (pl.col("contamination").cast(pl.Float64).mean() * 100).round(1).alias("contamination_rate_pct"))
    sensors = readings.group_by(pl.col("observed_date").alias("date")).agg(
        pl.len().cast(pl.Int64).alias("sensor_readings"),
        (pl.col("filling_level") >= 0.9).sum().cast(pl.Int64).alias("near_full_alerts"))
    lit = litter.group_by(pl.col("detected_date").alias("date")).agg(
        pl.col("count").sum().cast(pl.Int64).alias("litter_items"))
    dates = pl.concat([d.select("date") for d in (roads, waste, sensors, lit)]).unique()
    out = dates
    for part in (roads, km, waste, sensors, lit):
        out = out.join(part, on="date", how="left")
    counts = ["frames_surveyed", "pickups", "sensor_readings", "near_full_alerts", "litter_items"]
    return out.with_columns([pl.col(c).fill_null(0) for c in counts] +
                            [pl.col("km_surveyed").fill_null(0.0), pl.col("tonnes_collected").fill_null(0.0)]
                            ).sort("date")


def _tag(df: pl.DataFrame, *lookups: tuple[str, dict]) -> pl.DataFrame:
    """`df` with `_commune`: the first of its (column, {value: commune}) lookups that gives one."""
    parts = [pl.col(col).replace_strict(m, default=None, return_dtype=pl.Utf8) for col, m in lookups
             if col in df.columns and m]
    return df.with_columns((pl.coalesce(parts) if parts else pl.lit(None, pl.Utf8)).alias("_commune"))


def city_daily_kpis_by_commune(frames: pl.DataFrame, segments: pl.DataFrame, events: pl.DataFrame,
                               readings: pl.DataFrame, litter: pl.DataFrame, bins: pl.DataFrame,
                               quartiers: pl.DataFrame, agglomeration: str) -> pl.DataFrame:
    """:func:`city_daily_kpis` for each commune (its frames' segments, its bins' pickups and
    readings, its quartiers' litter: a commune's row counts what happened on its territory) and
    for the whole territory, `commune` = `agglomeration` (every row, including a frame matched to
    no segment: the total can exceed the communes' sum). `segments` and `bins` carry `commune`;
    `quartiers` maps `name` -> `commune`."""
    by_seg = dict(segments.select("segment_id", "commune").drop_nulls().iter_rows())
    by_bin = dict(bins.select("bin_id", "commune").drop_nulls().iter_rows())
    by_q = dict(quartiers.select("name", "commune").drop_nulls().iter_rows())
    f = _tag(frames, ("segment_id", by_seg))
    e = _tag(events, ("bin_id", by_bin), ("quartier", by_q))
    r = _tag(readings, ("bin_id", by_bin))
    lit = _tag(litter, ("quartier", by_q))
    s = segments.with_columns(pl.col("commune").alias("_commune"))

    def kpis(keep: pl.Expr, label: str) -> pl.DataFrame:
        out = city_daily_kpis(*(d.filter(keep).drop("_commune") for d in (f, s, e, r, lit)))
        return out.select(pl.lit(label, pl.Utf8).alias("commune"), pl.all())

    communes = sorted(set(by_q.values()) | set(by_seg.values()))
    parts = [kpis(pl.lit(True), agglomeration), *(kpis(pl.col("_commune") == c, c) for c in communes)]
    return pl.concat(parts).sort("date", "commune")
