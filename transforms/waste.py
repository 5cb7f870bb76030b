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


# ============================================================================ fill forecasting

FILL_RATES = {"bin_id": pl.Utf8, "day": pl.Date, "rate_per_day": pl.Float64, "hours_observed": pl.Float64}
MAX_GAP_H = 12.0          # two readings further apart say nothing reliable about one day
EMPTIED_DROP = 0.08       # a fall larger than sensor noise means the bin was emptied in between
FULL_LEVEL = 0.97         # sensors clip at 1: a full bin's increments are not observable


def daily_fill_rates(readings: pl.DataFrame, min_hours: float = 8.0) -> pl.DataFrame:
    """Daily fill rate per bin and local day (share of capacity per 24 h) from consecutive sensor
    readings: increments between readings not separated by an emptying (a fall larger than the
    noise), nor starting from a full (clipped) bin, nor more than 12 h apart, summed and scaled
    to 24 h by the hours they cover. Days covered less than `min_hours` are left out."""
    df = readings.sort("bin_id", "observed_at").with_columns(
        pl.col("filling_level").shift(1).over("bin_id").alias("prev"),
        pl.col("observed_at").shift(1).over("bin_id").alias("prev_at"))
    df = df.with_columns(((pl.col("observed_at") - pl.col("prev_at")).dt.total_seconds() / 3600).alias("dt_h"),
                         (pl.col("filling_level") - pl.col("prev")).alias("diff"))
    ok = (pl.col("dt_h") > 0) & (pl.col("dt_h") <= MAX_GAP_H) & (pl.col("diff") > -EMPTIED_DROP) & \
         (pl.col("prev") < FULL_LEVEL)
    out = (df.filter(ok).group_by("bin_id", pl.col("observed_date").alias("day"))
           .agg(pl.col("diff").clip(lower_bound=0).sum().alias("inc"), pl.col("dt_h").sum().alias("hours_observed"))
           .filter(pl.col("hours_observed") >= min_hours)
           .with_columns((pl.col("inc") / pl.col("hours_observed") * 24).alias("rate_per_day")))
    return conform(out, FILL_RATES).sort("bin_id", "day")


def crew_fill_rates(events: pl.DataFrame) -> pl.DataFrame:
    """Per bin, the median fill rate the crews' estimates imply: fill seen at a pickup divided by
    the days since the previous pickup (bins without a sensor are planned on this)."""
    df = events.sort("bin_id", "collected_at").with_columns(
        pl.col("collected_at").shift(1).over("bin_id").alias("prev_at"))
    df = df.with_columns(((pl.col("collected_at") - pl.col("prev_at")).dt.total_seconds() / 86400).alias("days"))
    return (df.filter(pl.col("days") > 0.5)
            .group_by("bin_id").agg((pl.col("fill_level_at_pickup") / pl.col("days")).median().alias("crew_rate_per_day"),
                                    pl.len().alias("crew_intervals")))


def last_states(readings: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per bin: the last sensor reading (time, level, status) and the last pickup time."""
    last_r = readings.sort("observed_at").group_by("bin_id").agg(
        pl.col("observed_at").last().alias("last_reading_at"), pl.col("filling_level").last().alias("last_level"),
        pl.col("status").last().alias("last_status"))
    last_p = events.group_by("bin_id").agg(pl.col("collected_at").max().alias("last_pickup_at"))
    return last_r.join(last_p, on="bin_id", how="full", coalesce=True)


BIN_FILL_FORECAST = {
    "plan_date": pl.Date, "bin_id": pl.Utf8, "waste_stream": pl.Utf8, "quartier": pl.Utf8, "capacity_l": pl.Int64,
    "as_of": UTC, "fill_now": pl.Float64, "rate_per_day": pl.Float64, "rate_source": pl.Utf8,
    "fill_at_collection": pl.Float64, "fill_at_collection_naive": pl.Float64, "days_until_full": pl.Float64,
    "next_visit_date": pl.Date, "fill_at_next_visit": pl.Float64, "sensor_status": pl.Utf8,
    "model_version": pl.Utf8}


def assemble_forecast(bins: pl.DataFrame, states: pl.DataFrame, rates: pl.DataFrame, *, as_of, plan_date,
                      next_visit_date, collection_hour: float, model_version: str) -> pl.DataFrame:
    """One row per bin: fill now (last reading, or rate x time since the last pickup when the bin
    was emptied after it or has no sensor), the forecast rate (model, or the crews' estimate, or
    the stream's median), the fill expected at the plan day's collection time (local
    `collection_hour`) and at the next possible visit after it, and days until full.

    `rates`: bin_id, rate_model, rate_naive, crew_rate_per_day (any may be null)."""
    import datetime as _dt
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(TZ)
    h = int(collection_hour); m = int(round((collection_hour - h) * 60))
    t_plan = _dt.datetime.combine(plan_date, _dt.time(h, m), tz)
    t_next = _dt.datetime.combine(next_visit_date, _dt.time(h, m), tz)
    df = bins.select("bin_id", "waste_stream", "quartier", "capacity_l").join(states, on="bin_id", how="left") \
        .join(rates, on="bin_id", how="left")
    med = df.group_by("waste_stream").agg(pl.col("rate_model").median().alias("_m1"),
                                          pl.col("crew_rate_per_day").median().alias("_m2"))
    df = df.join(med, on="waste_stream", how="left")
    df = df.with_columns(
        pl.when(pl.col("rate_model").is_not_null()).then(pl.lit("model"))
        .when(pl.col("crew_rate_per_day").is_not_null()).then(pl.lit("crew_estimates"))
        .otherwise(pl.lit("stream_median")).alias("rate_source"),
        pl.coalesce("rate_model", "crew_rate_per_day", "_m1", "_m2", pl.lit(0.1)).clip(0.0, 3.0).alias("rate_per_day"),
        pl.coalesce("rate_naive", "rate_model", "crew_rate_per_day", "_m1", "_m2", pl.lit(0.1)).clip(0.0, 3.0).alias("_rn"))
    as_of_l = pl.lit(as_of, dtype=UTC)
    since_pick = ((as_of_l - pl.col("last_pickup_at")).dt.total_seconds() / 86400)
    emptied_after = pl.col("last_pickup_at").is_not_null() & (
        pl.col("last_reading_at").is_null() | (pl.col("last_pickup_at") > pl.col("last_reading_at")))
    df = df.with_columns(
        pl.when(pl.col("last_level").is_not_null() & ~emptied_after).then(pl.col("last_level"))
        .when(pl.col("last_pickup_at").is_not_null()).then(pl.col("rate_per_day") * since_pick)
        .otherwise(pl.col("rate_per_day") * 3.5).clip(0.0, 1.5).alias("fill_now"))
    d_plan = (t_plan - as_of).total_seconds() / 86400
    d_next = (t_next - as_of).total_seconds() / 86400
    df = df.with_columns(
        (pl.col("fill_now") + pl.col("rate_per_day") * d_plan).alias("fill_at_collection"),
        (pl.col("fill_now") + pl.col("_rn") * d_plan).alias("fill_at_collection_naive"),
        (pl.col("fill_now") + pl.col("rate_per_day") * d_next).alias("fill_at_next_visit"),
        pl.when(pl.col("rate_per_day") > 1e-4).then(((1 - pl.col("fill_now")) / pl.col("rate_per_day")).clip(0.0, 365.0))
        .otherwise(365.0).alias("days_until_full"),
        pl.lit(plan_date).alias("plan_date"), as_of_l.alias("as_of"), pl.lit(next_visit_date).alias("next_visit_date"),
        pl.col("last_status").alias("sensor_status"),
        pl.when(pl.col("rate_source") == "model").then(pl.lit(model_version)).otherwise(pl.lit(None, pl.Utf8))
        .alias("model_version"))
    df = df.with_columns([pl.col(c).round(4) for c in ("fill_now", "rate_per_day", "fill_at_collection",
                                                        "fill_at_collection_naive", "fill_at_next_visit",
                                                        "days_until_full")])
    return conform(df, BIN_FILL_FORECAST).sort("bin_id")


def forecast_bins(bins: pl.DataFrame, readings: pl.DataFrame, events: pl.DataFrame, rate_frame: pl.DataFrame, *,
                  as_of, plan_date, next_visit_date, collection_hour: float, model_version: str) -> pl.DataFrame:
    """The forecast table of every bin from what the platform knows at `as_of`: the readings and
    pickups so far, the sensor bins' forecast rates (`rate_frame`: bin_id, rate_model,
    rate_naive) and, for the others, the crews' estimates. The scoring asset and the month bench
    both call this."""
    rdf = rate_frame.select("bin_id", "rate_model", "rate_naive").join(
        crew_fill_rates(events), on="bin_id", how="full", coalesce=True).select(
        "bin_id", "rate_model", "rate_naive", "crew_rate_per_day")
    return assemble_forecast(bins, last_states(readings, events), rdf, as_of=as_of, plan_date=plan_date,
                             next_visit_date=next_visit_date, collection_hour=collection_hour,
                             model_version=model_version)


SELECTION = {"plan_date": pl.Date, "bin_id": pl.Utf8, "waste_stream": pl.Utf8, "quartier": pl.Utf8,
             "fill_at_collection": pl.Float64, "fill_at_next_visit": pl.Float64, "overflow_risk": pl.Float64,
             "reason": pl.Utf8}
ALERT_STATUS = ("lidOpen", "burning", "vandalized", "dropped")


DUE_FILL = 1.0      # forecast fill at the next possible visit from which waiting a day is not safe
BATCH_FILL = 0.7   # when a stream's trip runs, bins of that stream this full at the next visit join it


def select_bins(forecast: pl.DataFrame, threshold: float = 0.85, positions: pl.DataFrame | None = None,
                due_fill: float = DUE_FILL, batch_fill: float | None = BATCH_FILL) -> pl.DataFrame:
    """The bins to empty on the plan day, each with its reason.

    Due bins (they cannot safely wait for the next possible visit): a forecast fill of at least
    `due_fill` at the next possible visit ("would overflow before the next possible visit"), or a
    sensor alert (lid open, burning, vandalised, knocked over). A stream's trip runs on the plan
    day only when at least one of its bins is due: every trip costs the drive out from the depot
    and back through the disposal facility whatever it carries, so a stream with nothing due
    is deferred (its bins are safe until the next possible visit). When the trip runs, it also
    takes the bins of its stream over `threshold` at collection time or at least `batch_fill`
    full at the next possible visit (batched: they would be due within a few days, and the truck
    passes anyway), and, given `positions` (bin_id, x_2154, y_2154), bins half full within 400 m
    of a selected bin of their stream (opportunistic). `batch_fill=None`: the earlier rule, every
    bin over `threshold` selected whether or not its stream has anything due."""
    f = forecast.with_columns((pl.col("fill_at_next_visit") - 1).clip(lower_bound=0).alias("overflow_risk"))
    r1 = pl.when(pl.col("fill_at_collection") >= threshold).then(pl.format(
        "forecast fill {} >= {} at collection time", pl.col("fill_at_collection").round(2), pl.lit(threshold)))
    r2 = pl.when(pl.col("fill_at_next_visit") >= due_fill).then(pl.format(
        "would overflow before the next possible visit on {} (forecast {} >= {})", pl.col("next_visit_date"),
        pl.col("fill_at_next_visit").round(2), pl.lit(due_fill)))
    r3 = pl.when(pl.col("sensor_status").is_in(ALERT_STATUS)).then(pl.format("sensor reports {}", pl.col("sensor_status")))
    if "resident_report" in f.columns:   # a resident reported it (transforms.citizens.mark_reported_bins): due
        r3 = pl.concat_str([r3, pl.col("resident_report")], separator="; ", ignore_nulls=True)
        r3 = pl.when(r3 != "").then(r3)
    if batch_fill is None:
        f = f.with_columns(pl.concat_str([r1, r2, r3], separator="; ", ignore_nulls=True).alias("reason"))
    else:
        due = pl.concat_str([r2, r3], separator="; ", ignore_nulls=True)
        f = f.with_columns(due.alias("_due"))
        f = f.with_columns(((pl.col("_due").is_not_null() & (pl.col("_due") != "")).any().over("waste_stream"))
                           .alias("_trip"))
        r4 = pl.when(pl.col("fill_at_next_visit") >= batch_fill).then(pl.format(
            "batched: forecast fill {} at the next possible visit on {}, its stream's trip runs today",
            pl.col("fill_at_next_visit").round(2), pl.col("next_visit_date")))
        f = f.with_columns(pl.when(pl.col("_trip")).then(
            pl.concat_str([r1, r2, r3], separator="; ", ignore_nulls=True)).alias("reason"))
        f = f.with_columns(pl.when(pl.col("_trip") & ((pl.col("reason").is_null()) | (pl.col("reason") == "")))
                           .then(r4).otherwise(pl.col("reason")).alias("reason")).drop("_due", "_trip")
    if positions is not None:
        f = _opportunistic(f, positions)
    f = f.filter(pl.col("reason").is_not_null() & (pl.col("reason") != ""))
    return conform(f, SELECTION).sort("bin_id")


OPPORTUNISTIC_FILL = 0.5
OPPORTUNISTIC_M = 400.0


def _opportunistic(f: pl.DataFrame, positions: pl.DataFrame) -> pl.DataFrame:
    """Add bins at least half full within 400 m of a selected bin of the same stream: the truck
    passes anyway, and it saves a trip later (measured in bench/waste_month_bench.py)."""
    from scipy.spatial import cKDTree

    f = f.join(positions.select("bin_id", "x_2154", "y_2154"), on="bin_id", how="left")
    picked = f["reason"].is_not_null() & (f["reason"] != "")
    extra = np.zeros(f.height, bool)
    for s in f["waste_stream"].unique().to_list():
        st = (f["waste_stream"] == s).to_numpy()
        sel = np.nonzero(st & picked.to_numpy())[0]
        cand = np.nonzero(st & ~picked.to_numpy() & (f["fill_at_collection"] >= OPPORTUNISTIC_FILL).to_numpy())[0]
        if len(sel) and len(cand):
            xy = f.select("x_2154", "y_2154").to_numpy()
            d, _ = cKDTree(xy[sel]).query(xy[cand], k=1)
            extra[cand[d <= OPPORTUNISTIC_M]] = True
    return f.with_columns(pl.when(pl.Series(extra)).then(pl.format(
        "opportunistic: forecast fill {} and a selected bin of its stream within 400 m",
        pl.col("fill_at_collection").round(2))).otherwise(pl.col("reason")).alias("reason"))


# ============================================================================ cleanliness

# Weight of one item of each category in the Clean City Index (how much it degrades a street).
LITTER_WEIGHTS = {"cigarette_butt": 0.3, "leaves": 0.2, "paper": 1.0, "can": 1.0, "bottle": 1.5,
                  "plastic_bag": 1.5, "food_packaging": 1.2, "dog_waste": 3.0, "bulky_item": 6.0, "glass": 3.0}
CCI_SCALE = 12.0          # weighted items per 100 m at which the index has fallen to 5/e
MIN_CONFIDENCE = 0.5
SNAP_M = 25.0

CLEANLINESS_INDEX = {"segment_id": pl.Utf8, "street_name": pl.Utf8, "quartier": pl.Utf8, "length_m": pl.Float64,
                     "passes": pl.Int64, "items": pl.Int64, "items_per_100m": pl.Float64,
                     "weighted_per_100m": pl.Float64, "clean_city_index": pl.Float64, "dominant_category": pl.Utf8,
                     "cci_recent": pl.Float64, "cci_previous": pl.Float64, "cci_trend": pl.Float64,
                     "first_day": pl.Date, "last_day": pl.Date}


def snap_to_segments(x: np.ndarray, y: np.ndarray, segments: pl.DataFrame, max_m: float = SNAP_M) -> np.ndarray:
    """Index of the nearest segment for each point (-1 beyond `max_m`): a KD-tree over points
    every 2 m along the segments, so it scales to the whole city."""
    from scipy.spatial import cKDTree

    x0, y0, x1, y1 = (segments[c].to_numpy() for c in ("x0", "y0", "x1", "y1"))
    L = np.hypot(x1 - x0, y1 - y0)
    k = np.maximum(2, np.ceil(L / 2).astype(int) + 1)
    seg = np.repeat(np.arange(len(L)), k)
    t = np.concatenate([np.linspace(0, 1, n) for n in k])
    px = x0[seg] + t * (x1 - x0)[seg]; py = y0[seg] + t * (y1 - y0)[seg]
    d, i = cKDTree(np.c_[px, py]).query(np.c_[x, y], k=1)
    return np.where(d <= max_m, seg[i], -1)


def _cci(weighted_per_100m: pl.Expr) -> pl.Expr:
    return (5 * (-weighted_per_100m / CCI_SCALE).exp()).round(2)


def cleanliness_index(detections: pl.DataFrame, segments: pl.DataFrame, trend_days: int = 7) -> pl.DataFrame:
    """Clean City Index 0-5 per street segment (5 = clean): detections (confidence >= 0.5) snapped
    to the nearest segment; per sweeper pass (a day the segment was driven and seen) the items per
    100 m, weighted by category (LITTER_WEIGHTS); index = 5 * exp(-weighted density / 12). Trend:
    index over the last `trend_days` days minus the index over the days before."""
    det = detections.filter(pl.col("confidence") >= MIN_CONFIDENCE)
    seg = snap_to_segments(det["x_2154"].to_numpy(), det["y_2154"].to_numpy(), segments)
    segs = segments.with_row_index("_i").select("_i", "segment_id", "street_name", "quartier", "length_m")
    w = pl.DataFrame({"category": list(LITTER_WEIGHTS), "w": list(LITTER_WEIGHTS.values())})
    # -1 = no segment within reach: dropped before the index turns unsigned (the join key's type)
    det = det.with_columns(pl.Series("_i", np.asarray(seg, np.int64))).filter(pl.col("_i") >= 0) \
        .with_columns(pl.col("_i").cast(pl.UInt32)).join(w, on="category", how="left").with_columns(pl.col("w").fill_null(1.0))
    last = det["detected_date"].max() if det.height else None
    per_day = det.group_by("_i", "detected_date").agg(pl.col("count").sum().alias("n"),
                                                       (pl.col("count") * pl.col("w")).sum().alias("wn"))
    per_day = per_day.join(segs.select("_i", "length_m"), on="_i")
    per_day = per_day.with_columns((pl.col("n") / pl.col("length_m") * 100).alias("d"),
                                   (pl.col("wn") / pl.col("length_m") * 100).alias("wd"))
    recent = pl.col("detected_date") > (pl.lit(last) - pl.duration(days=trend_days)) if last else pl.lit(True)
    agg = per_day.group_by("_i").agg(
        pl.len().cast(pl.Int64).alias("passes"), pl.col("n").sum().cast(pl.Int64).alias("items"),
        pl.col("d").mean().round(2).alias("items_per_100m"), pl.col("wd").mean().round(2).alias("weighted_per_100m"),
        pl.col("wd").filter(recent).mean().alias("_wr"), pl.col("wd").filter(~recent).mean().alias("_wp"),
        pl.col("detected_date").min().alias("first_day"), pl.col("detected_date").max().alias("last_day"))
    # rounded: a float sum's last bit depends on the order the rows were summed in, and a tie
    # must go to the same category (by name) on every run
    dom = det.group_by("_i", "category").agg((pl.col("count") * pl.col("w")).sum().round(6).alias("s")) \
        .sort("s", "category", descending=[True, False]).group_by("_i", maintain_order=True).first() \
        .select("_i", pl.col("category").alias("dominant_category"))
    out = segs.join(agg, on="_i", how="inner").join(dom, on="_i", how="left").with_columns(
        _cci(pl.col("weighted_per_100m")).alias("clean_city_index"),
        _cci(pl.col("_wr")).alias("cci_recent"), _cci(pl.col("_wp")).alias("cci_previous"))
    out = out.with_columns((pl.col("cci_recent") - pl.col("cci_previous")).round(2).alias("cci_trend"))
    return conform(out, CLEANLINESS_INDEX).sort("segment_id")


PRIORITY_ZONES = {"zone_id": pl.Utf8, "segments": pl.Int64, "street_km": pl.Float64, "mean_cci": pl.Float64,
                  "min_cci": pl.Float64, "quartiers": pl.Utf8, "dominant_category": pl.Utf8,
                  "streets": pl.Utf8, "centroid_x_2154": pl.Float64, "centroid_y_2154": pl.Float64,
                  "mean_cci_trend": pl.Float64, "segment_ids": pl.Utf8}


def priority_zones(cci: pl.DataFrame, segments: pl.DataFrame, max_cci: float = 2.5, link_m: float = 250.0,
                   min_segments: int = 2) -> pl.DataFrame:
    """Clusters of low scores: segments with an index under `max_cci`, linked when their
    midpoints are within `link_m`; clusters of at least `min_segments` segments, worst first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    low = cci.filter(pl.col("clean_city_index") < max_cci).join(
        segments.select("segment_id", "x0", "y0", "x1", "y1"), on="segment_id")
    if low.is_empty():
        return pl.DataFrame(schema=PRIORITY_ZONES)
    mx = ((low["x0"] + low["x1"]) / 2).to_numpy(); my = ((low["y0"] + low["y1"]) / 2).to_numpy()
    pairs = np.array(sorted(cKDTree(np.c_[mx, my]).query_pairs(link_m)), dtype=np.int64).reshape(-1, 2)
    n = low.height
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    low = low.with_columns(pl.Series("_c", lab), pl.Series("_mx", mx), pl.Series("_my", my))
    z = low.group_by("_c").agg(
        pl.len().cast(pl.Int64).alias("segments"), (pl.col("length_m").sum() / 1000).round(3).alias("street_km"),
        pl.col("clean_city_index").mean().round(2).alias("mean_cci"), pl.col("clean_city_index").min().alias("min_cci"),
        pl.col("quartier").unique().sort().str.join(", ").alias("quartiers"),
        pl.col("dominant_category").mode().sort().first().alias("dominant_category"),
        pl.col("street_name").unique().sort().str.join(", ").alias("streets"),
        pl.col("_mx").mean().round(1).alias("centroid_x_2154"), pl.col("_my").mean().round(1).alias("centroid_y_2154"),
        pl.col("cci_trend").mean().round(2).alias("mean_cci_trend"),
        pl.col("segment_id").sort().str.join(",").alias("segment_ids"))
    z = z.filter(pl.col("segments") >= min_segments).sort("mean_cci", "segment_ids")
    z = z.with_columns(pl.format("PZ-{}", pl.int_range(1, z.height + 1).cast(pl.Utf8).str.zfill(3)).alias("zone_id"))
    return conform(z, PRIORITY_ZONES)


SORTING_QUALITY = {"quartier": pl.Utf8, "waste_stream": pl.Utf8, "pickups": pl.Int64, "contaminated": pl.Int64,
                   "contamination_rate_pct": pl.Float64, "rate_first_half_pct": pl.Float64,
                   "rate_second_half_pct": pl.Float64, "trend_pct_points": pl.Float64, "first_day": pl.Date,
                   "last_day": pl.Date}


def sorting_quality(events: pl.DataFrame) -> pl.DataFrame:
    """Per quartier and stream: share of pickups flagged contaminated (sorting errors), and its
    trend (second half of the period minus the first half, percentage points); plus an
    all-streams row per quartier (waste_stream = 'all')."""
    if events.is_empty():
        return pl.DataFrame(schema=SORTING_QUALITY)
    lo, hi = events["collection_date"].min(), events["collection_date"].max()
    mid = lo + (hi - lo) / 2
    ev = events.with_columns((pl.col("collection_date") > mid).alias("_late"), pl.col("contamination").cast(pl.Float64))

    def agg(df, keys):
        return df.group_by(keys).agg(
            pl.len().cast(pl.Int64).alias("pickups"), pl.col("contamination").sum().cast(pl.Int64).alias("contaminated"),
            (pl.col("contamination").mean() * 100).round(2).alias("contamination_rate_pct"),
            (pl.col("contamination").filter(~pl.col("_late")).mean() * 100).round(2).alias("rate_first_half_pct"),
            (pl.col("contamination").filter(pl.col("_late")).mean() * 100).round(2).alias("rate_second_half_pct"),
            pl.col("collection_date").min().alias("first_day"), pl.col("collection_date").max().alias("last_day"))

    by_stream = agg(ev, ["quartier", "waste_stream"])
    all_ = agg(ev, ["quartier"]).with_columns(pl.lit("all").alias("waste_stream"))
    out = pl.concat([by_stream, all_.select(by_stream.columns)]).with_columns(
        (pl.col("rate_second_half_pct") - pl.col("rate_first_half_pct")).round(2).alias("trend_pct_points"))
    return conform(out, SORTING_QUALITY).sort("quartier", "waste_stream")


# ============================================================================ plan tables and KPIs

COLLECTION_STOPS = {"plan_date": pl.Date, "truck_id": pl.Utf8, "trip": pl.Int64, "waste_stream": pl.Utf8,
                    "stop_order": pl.Int64, "kind": pl.Utf8, "bin_id": pl.Utf8, "eta": UTC, "window_end": UTC,
                    "window_reason": pl.Utf8, "forecast_fill": pl.Float64, "pickup_kg": pl.Int64,
                    "load_kg_after": pl.Int64, "load_l_after": pl.Int64, "leg_m": pl.Int64, "reason": pl.Utf8,
                    "x_2154": pl.Float64, "y_2154": pl.Float64}
COLLECTION_ROUTES = {"plan_date": pl.Date, "truck_id": pl.Utf8, "trip": pl.Int64, "waste_stream": pl.Utf8,
                     "bins": pl.Int64, "disposal_visits": pl.Int64, "distance_km": pl.Float64, "start": UTC,
                     "end": UTC, "duration_h": pl.Float64, "collected_kg": pl.Int64, "max_load_kg": pl.Int64,
                     "capacity_kg": pl.Int64, "max_load_l": pl.Int64, "capacity_l": pl.Int64}
PLAN_KPIS = {"plan_date": pl.Date, "policy": pl.Utf8, "trips": pl.Int64, "bins_emptied": pl.Int64,
             "distance_km": pl.Float64, "truck_hours": pl.Float64, "mean_fill_at_emptying": pl.Float64,
             "bins_emptied_over_full": pl.Int64, "bins_left_at_overflow_risk": pl.Int64, "dropped": pl.Int64}


def conform_stops(rows: list[dict]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows, schema_overrides={k: v for k, v in COLLECTION_STOPS.items()}, strict=False)
                   if rows else pl.DataFrame(schema=COLLECTION_STOPS), COLLECTION_STOPS)


def conform_routes(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=COLLECTION_ROUTES)
    df = pl.DataFrame(rows).with_columns((pl.col("distance_m") / 1000).round(3).alias("distance_km"),
                                         (pl.col("duration_s") / 3600).round(3).alias("duration_h"))
    return conform(df, COLLECTION_ROUTES).sort("truck_id", "trip")


def plan_kpis(plan_date, routes: pl.DataFrame, stops: pl.DataFrame, fixed_rows: list[dict],
              forecast: pl.DataFrame, selection: pl.DataFrame) -> pl.DataFrame:
    """The plan and the fixed rounds of the same weekday, one row each, on the same network."""
    visited = stops.filter(pl.col("kind") == "bin")
    emptied = set(visited["bin_id"].to_list())
    fixed_bins = {b for r in fixed_rows for b in r.get("bin_ids", [])}
    risk = forecast.filter(pl.col("fill_at_next_visit") >= 1.0)["bin_id"].to_list()
    fills_p = visited["forecast_fill"].drop_nulls().to_list()
    fills_f = [f for r in fixed_rows for f in r["fills"]]
    rows = [
        {"plan_date": plan_date, "policy": "platform", "trips": routes.height, "bins_emptied": len(emptied),
         "distance_km": round(float(routes["distance_km"].sum()), 3) if routes.height else 0.0,
         "truck_hours": round(float(routes["duration_h"].sum()), 3) if routes.height else 0.0,
         "mean_fill_at_emptying": round(float(np.mean(fills_p)), 3) if fills_p else None,
         "bins_emptied_over_full": sum(1 for f in fills_p if f > 1.0),
         "bins_left_at_overflow_risk": sum(1 for b in risk if b not in emptied),
         "dropped": stops.filter(pl.col("kind") == "dropped").height},
        {"plan_date": plan_date, "policy": "fixed_rounds", "trips": len(fixed_rows),
         "bins_emptied": sum(r["bins"] for r in fixed_rows),
         "distance_km": round(sum(r["distance_m"] for r in fixed_rows) / 1000, 3),
         "truck_hours": round(sum(r["duration_s"] for r in fixed_rows) / 3600, 3),
         "mean_fill_at_emptying": round(float(np.mean(fills_f)), 3) if fills_f else None,
         "bins_emptied_over_full": sum(1 for f in fills_f if f > 1.0),
         "bins_left_at_overflow_risk": sum(1 for b in risk if b not in fixed_bins), "dropped": 0},
    ]
    return conform(pl.DataFrame(rows, schema=PLAN_KPIS), PLAN_KPIS)


COLLECTION_KPIS = {**PLAN_KPIS, "km_saved_pct": pl.Float64, "hours_saved_pct": pl.Float64,
                   "history_mean_fill_at_pickup": pl.Float64, "history_pickups": pl.Int64}


def collection_kpis(plan_kpis: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Plan-day KPIs per policy, the savings of the platform against the fixed rounds (%), and the
    mean fill the crews saw at pickup over the logged history (today's practice)."""
    if plan_kpis.is_empty():
        return pl.DataFrame(schema=COLLECTION_KPIS)
    fx = plan_kpis.filter(pl.col("policy") == "fixed_rounds")
    km0 = fx["distance_km"][0] if fx.height else None
    h0 = fx["truck_hours"][0] if fx.height else None
    df = plan_kpis.with_columns(
        (pl.lit(100.0) * (1 - pl.col("distance_km") / km0)).round(1).alias("km_saved_pct") if km0 else
        pl.lit(None, pl.Float64).alias("km_saved_pct"),
        (pl.lit(100.0) * (1 - pl.col("truck_hours") / h0)).round(1).alias("hours_saved_pct") if h0 else
        pl.lit(None, pl.Float64).alias("hours_saved_pct"),
        pl.lit(round(float(events["fill_level_at_pickup"].mean()), 3) if events.height else None, pl.Float64)
        .alias("history_mean_fill_at_pickup"),
        pl.lit(events.height, pl.Int64).alias("history_pickups"))
    return conform(df, COLLECTION_KPIS)
