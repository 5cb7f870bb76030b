"""Marts over residents' reports: response-time KPIs per service, commune and quartier with a weekly
trend; and the cross-service marts (root heave candidates, street cleanliness hotspots, works
coordination). Pure Polars/numpy."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

# what each service promises residents (hours): acknowledge within, resolve within
TARGETS_H: dict[str, tuple[float, float]] = {"voirie": (48.0, 240.0), "proprete": (24.0, 48.0),
                                             "espaces_verts": (24.0, 120.0)}
KPI_SCHEMA: dict[str, pl.DataType] = {
    "week_start": pl.Date, "service": pl.Utf8, "commune": pl.Utf8, "quartier": pl.Utf8, "requests": pl.Int64,
    "acknowledged": pl.Int64, "resolved": pl.Int64, "median_hours_to_acknowledge": pl.Float64,
    "median_hours_to_resolve": pl.Float64, "target_hours_to_resolve": pl.Float64,
    "resolved_within_target": pl.Int64, "share_resolved_within_target": pl.Float64, "repeat_reports": pl.Int64,
    "requests_previous_week": pl.Int64, "requests_change": pl.Int64,
}


def response_kpis(reqs: pl.DataFrame, routing: pl.DataFrame) -> pl.DataFrame:
    """Per week (Monday, Europe/Paris, of the request), service, commune and quartier: requests,
    acknowledged and resolved counts, median hours to acknowledge and to resolve (over those that
    were), resolved within the service's target (count and share of all requests of the row),
    repeat reports (a report on an item that an earlier report already named), and the change in
    requests from the previous week of the same service, commune and quartier (the trend)."""
    if reqs.is_empty():
        return pl.DataFrame(schema=KPI_SCHEMA)
    target = {k: v[1] for k, v in TARGETS_H.items()}
    df = reqs.select("service_request_id", "requested_at", "acknowledged_at", "resolved_at").join(
        routing.select("service_request_id", "service", "commune", "quartier", "item_kind", "item_id"),
        on="service_request_id", how="inner")
    hours = lambda c: (pl.col(c) - pl.col("requested_at")).dt.total_seconds() / 3600.0  # noqa: E731
    df = df.with_columns(
        pl.col("requested_at").dt.convert_time_zone("Europe/Paris").dt.date().alias("_day"),
        hours("acknowledged_at").alias("_ack_h"), hours("resolved_at").alias("_res_h"),
        pl.col("service").replace_strict(target, default=None).cast(pl.Float64).alias("target_hours_to_resolve"),
        (pl.col("item_id").is_not_null() & (pl.int_range(pl.len()).over(
            ["item_kind", "item_id"], order_by="requested_at") > 0)).alias("_repeat"))
    df = df.with_columns((pl.col("_day") - pl.duration(days=pl.col("_day").dt.weekday() - 1)).alias("week_start"))
    g = df.group_by("week_start", "service", "commune", "quartier").agg(
        pl.len().cast(pl.Int64).alias("requests"),
        pl.col("acknowledged_at").is_not_null().sum().cast(pl.Int64).alias("acknowledged"),
        pl.col("resolved_at").is_not_null().sum().cast(pl.Int64).alias("resolved"),
        pl.col("_ack_h").median().round(2).alias("median_hours_to_acknowledge"),
        pl.col("_res_h").median().round(2).alias("median_hours_to_resolve"),
        pl.col("target_hours_to_resolve").first(),
        (pl.col("_res_h") <= pl.col("target_hours_to_resolve")).fill_null(False).sum().cast(pl.Int64)
        .alias("resolved_within_target"),
        pl.col("_repeat").sum().cast(pl.Int64).alias("repeat_reports"))
    g = g.with_columns((pl.col("resolved_within_target") / pl.col("requests")).round(4)
                       .alias("share_resolved_within_target"))
    prev = g.select((pl.col("week_start") + pl.duration(days=7)).alias("week_start"), "service", "commune", "quartier",
                    pl.col("requests").alias("requests_previous_week"))
    g = g.join(prev, on=["week_start", "service", "commune", "quartier"], how="left").with_columns(
        pl.col("requests_previous_week").fill_null(0))
    g = g.with_columns((pl.col("requests") - pl.col("requests_previous_week")).alias("requests_change"))
    return g.select([pl.col(c).cast(t) for c, t in KPI_SCHEMA.items()]).sort(
        "week_start", "service", "commune", "quartier")


# -------------------------------------------------------------------- cross-service marts

ROOT_HEAVE_M = 8.0          # a tree this close to a segment's line can lift its pavement
LARGE_TREE_H = 12.0         # m: a large tree (or DBH >= LARGE_TREE_DBH)
LARGE_TREE_DBH = 40.0       # cm
DAMAGED_PCI = 70.0          # below this the survey calls the pavement damaged
ROOT_HEAVE: dict[str, pl.DataType] = {
    "segment_id": pl.Utf8, "street_name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8, "tree_id": pl.Utf8,
    "height_m": pl.Float64, "dbh_cm": pl.Float64, "distance_m": pl.Float64, "pci": pl.Float64,
    "resident_reports": pl.Utf8, "evidence": pl.Utf8,
}


def _seg_dist(x: np.ndarray, y: np.ndarray, seg: pl.DataFrame) -> np.ndarray:
    x0, y0, x1, y1 = (seg[c].to_numpy()[:, None] for c in ("x0", "y0", "x1", "y1"))
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x[None, :] - x0) * dx + (y[None, :] - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
    return np.hypot(x[None, :] - (x0 + t * dx), y[None, :] - (y0 + t * dy))   # segments x trees


def root_heave_candidates(segments: pl.DataFrame, condition: pl.DataFrame, trees: pl.DataFrame,
                          routing: pl.DataFrame, communes: dict[str, str] | None = None) -> pl.DataFrame:
    """Damaged pavement (latest survey PCI < DAMAGED_PCI, or an open pothole/pavement report) within
    ROOT_HEAVE_M of a large tree (height >= LARGE_TREE_H m or DBH >= LARGE_TREE_DBH cm): a joint
    visit of voirie and espaces verts, one row per (segment, tree)."""
    pci = (condition.filter(pl.col("is_latest") & pl.col("graded")).select("segment_id", "pci")
           if condition is not None and condition.height else pl.DataFrame(schema={"segment_id": pl.Utf8, "pci": pl.Float64}))
    rep = (routing.filter((pl.col("service") == "voirie") & pl.col("matched") & (pl.col("status") == "open"))
           .group_by("item_id").agg(pl.col("service_request_id").sort().str.join(", ").alias("resident_reports"))
           .rename({"item_id": "segment_id"}) if routing is not None and routing.height
           else pl.DataFrame(schema={"segment_id": pl.Utf8, "resident_reports": pl.Utf8}))
    seg = segments.join(pci, on="segment_id", how="left").join(rep, on="segment_id", how="left").filter(
        (pl.col("pci") < DAMAGED_PCI) | pl.col("resident_reports").is_not_null())
    if trees is None or trees.is_empty():
        return pl.DataFrame(schema=ROOT_HEAVE)
    big = trees.filter((pl.col("height_m") >= LARGE_TREE_H) | (pl.col("dbh_cm").fill_null(0) >= LARGE_TREE_DBH))
    if seg.is_empty() or big.is_empty():
        return pl.DataFrame(schema=ROOT_HEAVE)
    d = _seg_dist(big["x_2154"].to_numpy(), big["y_2154"].to_numpy(), seg)
    si, ti = np.nonzero(d <= ROOT_HEAVE_M)
    rows = []
    for s, t in zip(si, ti):
        S, T = seg.row(int(s), named=True), big.row(int(t), named=True)
        ev = ([f"survey PCI {S['pci']:.0f}"] if S["pci"] is not None and S["pci"] < DAMAGED_PCI else []) + (
            [f"resident report {S['resident_reports']}"] if S["resident_reports"] else [])
        rows.append({"segment_id": S["segment_id"], "street_name": S["street_name"], "quartier": S["quartier"],
                     "commune": (communes or {}).get(S["quartier"], "Cannes"), "tree_id": T["tree_id"],
                     "height_m": T["height_m"], "dbh_cm": T["dbh_cm"], "distance_m": round(float(d[s, t]), 1),
                     "pci": S["pci"], "resident_reports": S["resident_reports"],
                     "evidence": "; ".join(ev) + f"; tree {T['height_m']:.0f} m at {d[s, t]:.1f} m"})
    return pl.DataFrame(rows, schema=ROOT_HEAVE).sort("segment_id", "tree_id")


HOTSPOT: dict[str, pl.DataType] = {
    "segment_id": pl.Utf8, "street_name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8,
    "clean_city_index": pl.Float64, "litter_items": pl.Int64, "complaints": pl.Int64, "bin_overflows": pl.Int64,
    "signals": pl.Int64, "evidence": pl.Utf8,
}
LITTER_CCI = 3.0            # clean-city index (0-5) at or below which a street counts as littered
OVERFLOW_FILL = 1.0         # a sensor reading at or above this is an overflow


def cleanliness_hotspots(segments: pl.DataFrame, cleanliness: pl.DataFrame, routing: pl.DataFrame,
                         readings: pl.DataFrame, bins: pl.DataFrame, communes: dict[str, str] | None = None) -> pl.DataFrame:
    """Street segments where at least two of the three signals coincide: litter (clean-city index
    <= LITTER_CCI), residents' propreté reports, bin overflows (a sensor reading >= 100 % of a bin
    on the segment); `signals` says how many (3 = all three)."""
    lit = (cleanliness.select("segment_id", "clean_city_index", pl.col("items").alias("litter_items"))
           if cleanliness is not None and cleanliness.height else
           pl.DataFrame(schema={"segment_id": pl.Utf8, "clean_city_index": pl.Float64, "litter_items": pl.Int64}))
    comp = (routing.filter(pl.col("service") == "proprete").group_by("segment_id").agg(
        pl.len().cast(pl.Int64).alias("complaints")) if routing is not None and routing.height
        else pl.DataFrame(schema={"segment_id": pl.Utf8, "complaints": pl.Int64}))
    ov = (readings.filter(pl.col("filling_level") >= OVERFLOW_FILL).join(bins.select("bin_id", "segment_id"), on="bin_id")
          .group_by("segment_id").agg(pl.len().cast(pl.Int64).alias("bin_overflows"))
          if readings is not None and readings.height and bins is not None else pl.DataFrame(schema={"segment_id": pl.Utf8, "bin_overflows": pl.Int64}))
    df = segments.select("segment_id", "street_name", "quartier").join(lit, on="segment_id", how="left").join(
        comp, on="segment_id", how="left").join(ov, on="segment_id", how="left").with_columns(
        pl.col("litter_items", "complaints", "bin_overflows").fill_null(0))
    littered = pl.col("clean_city_index").fill_null(5.0) <= LITTER_CCI
    df = df.with_columns((littered.cast(pl.Int64) + (pl.col("complaints") > 0).cast(pl.Int64)
                          + (pl.col("bin_overflows") > 0).cast(pl.Int64)).alias("signals"))
    df = df.filter(pl.col("signals") >= 2).with_columns(
        pl.col("quartier").replace_strict(communes or {}, default="Cannes").alias("commune"),
        pl.concat_str([pl.when(littered).then(pl.format("litter: clean-city index {}", pl.col("clean_city_index").round(1))),
                       pl.when(pl.col("complaints") > 0).then(pl.format("{} resident report(s)", pl.col("complaints"))),
                       pl.when(pl.col("bin_overflows") > 0).then(pl.format("{} bin overflow reading(s)", pl.col("bin_overflows")))],
                      separator="; ", ignore_nulls=True).alias("evidence"))
    return df.select([pl.col(c).cast(t) for c, t in HOTSPOT.items()]).sort(["signals", "segment_id"], descending=[True, False])


WORKS: dict[str, pl.DataType] = {
    "work_date": pl.Date, "street_name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8, "repair_segment_id": pl.Utf8,
    "treatment": pl.Utf8, "crew_arrival": pl.Utf8, "truck_id": pl.Utf8, "bins_on_street": pl.Int64,
    "first_collection_eta": pl.Datetime("us", "UTC"), "round_source": pl.Utf8, "advice": pl.Utf8,
}


def working_day(start: date, n: int) -> date:
    """The n-th working day (Monday-Friday) after `start` (n = 1: the next one)."""
    d = start
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def works_coordination(plan: pl.DataFrame, crew_days: pl.DataFrame, stops: pl.DataFrame, bins: pl.DataFrame,
                       segments: pl.DataFrame, communes: dict[str, str] | None = None,
                       fixed_rounds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Repair sites and collection rounds on the same street the same day. A crew day d is the d-th
    working day after the plan's date. The rounds of a day: the collection plan's stops on its plan
    date (`round_source` 'collection plan'); on a crew day no plan covers, the fixed weekly rounds
    of that ISO weekday (reference/fixed_rounds.csv, the standing calendar; `round_source` 'fixed
    round <id>', no ETA). One row per (day, street, repair segment, truck)."""
    if any(t is None or t.is_empty() for t in (plan, crew_days)):
        return pl.DataFrame(schema=WORKS)
    planned_on = plan["planned_on"][0]
    crew = crew_days.filter(pl.col("part") == 1).with_columns(
        pl.col("day").map_elements(lambda d: working_day(planned_on, int(d)), return_dtype=pl.Date).alias("work_date"))
    crew = crew.join(segments.select("segment_id", "quartier"), on="segment_id", how="left")
    streets = bins.select("bin_id", "segment_id").join(
        segments.select("segment_id", pl.col("street_name").alias("street_name")), on="segment_id")
    cols = ["plan_date", "truck_id", "bin_id", "eta", "round_source"]
    rounds = [] if stops is None or stops.is_empty() else [
        stops.filter(pl.col("bin_id").is_not_null()).with_columns(pl.lit("collection plan").alias("round_source"))
        .select(cols)]
    planned_days = set() if stops is None or stops.is_empty() else set(stops["plan_date"].to_list())
    if fixed_rounds is not None and not fixed_rounds.is_empty():
        days = pl.DataFrame({"plan_date": sorted(set(crew["work_date"].to_list()) - planned_days)},
                            schema={"plan_date": pl.Date})
        fx = days.with_columns(pl.col("plan_date").dt.weekday().cast(pl.Int64).alias("weekday")).join(
            fixed_rounds.select("round_id", "truck_id", "weekday", "bin_id"), on="weekday")
        rounds.append(fx.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("eta"),
                                      pl.format("fixed round {}", pl.col("round_id")).alias("round_source")).select(cols))
    if not rounds:
        return pl.DataFrame(schema=WORKS)
    st = pl.concat([r.cast({"eta": pl.Datetime("us", "UTC")}) for r in rounds]).join(streets, on="bin_id")
    st = st.group_by("plan_date", "street_name", "truck_id").agg(
        pl.len().cast(pl.Int64).alias("bins_on_street"), pl.col("eta").min().alias("first_collection_eta"),
        pl.col("round_source").unique().sort().str.join(", "))
    j = crew.join(st, left_on=["work_date", "street_name"], right_on=["plan_date", "street_name"], how="inner")
    j = j.with_columns(pl.col("quartier").replace_strict(communes or {}, default="Cannes").alias("commune"),
                       pl.format("crew arrives {} on {} ({}), truck {} collects {} bin(s) there the same day ({}): agree "
                                 "the order (collect before the works close the lane)", pl.col("arrival_hhmm"),
                                 pl.col("street_name"), pl.col("treatment"), pl.col("truck_id"),
                                 pl.col("bins_on_street"), pl.col("round_source")).alias("advice"))
    return j.select(pl.col("work_date"), "street_name", "quartier", "commune", pl.col("segment_id").alias("repair_segment_id"),
                    "treatment", pl.col("arrival_hhmm").alias("crew_arrival"), "truck_id", "bins_on_street",
                    "first_collection_eta", "round_source", "advice").cast(WORKS).sort("work_date", "street_name", "truck_id")
