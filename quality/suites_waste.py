"""Quality of the waste service's tables: GX suites (forecasts, routes, stops) and the rules a
column expectation cannot say (every selected bin visited or dropped with a reason, loads within
capacity, time windows respected, pickups consistent with their bin)."""


from datetime import datetime, timezone

import dagster as dg
import polars as pl

from transforms import waste as W

from .suites import TableSuite

STREAMS = ("ordures_menageres", "emballages", "verre", "biodechets")
BINS = ("silver", "collection_points", "bin_id")

FORECAST = TableSuite(
    table="bin_fill_forecast", key=("plan_date", "bin_id"),
    not_null=("plan_date", "bin_id", "fill_now", "rate_per_day", "fill_at_collection", "days_until_full",
              "rate_source"),
    types=W.BIN_FILL_FORECAST,
    ranges={"fill_now": (0, 1.5), "rate_per_day": (0, 3), "fill_at_collection": (0, 10),
            "days_until_full": (0, 365)},
    in_set={"rate_source": ("model", "crew_estimates", "stream_median"), "waste_stream": STREAMS},
    references={"bin_id": BINS}, min_rows=1)

STOPS = TableSuite(
    table="collection_stops", key=(), not_null=("plan_date", "kind"),
    types=W.COLLECTION_STOPS,
    ranges={"load_kg_after": (0, 40000), "pickup_kg": (0, 5000), "leg_m": (0, 100000)},
    in_set={"kind": ("depot", "bin", "disposal", "dropped"), "waste_stream": STREAMS},
    references={"bin_id": BINS})

ROUTES = TableSuite(
    table="collection_routes", key=("plan_date", "truck_id", "trip"),
    not_null=("plan_date", "truck_id", "trip", "waste_stream", "distance_km", "duration_h"),
    types=W.COLLECTION_ROUTES,
    ranges={"distance_km": (0, 500), "duration_h": (0, 12), "bins": (1, 10000)},
    in_set={"waste_stream": STREAMS})


SELECTION = TableSuite(
    table="collection_selection", key=("plan_date", "bin_id"),
    not_null=("plan_date", "bin_id", "reason", "fill_at_collection"), types=W.SELECTION,
    ranges={"overflow_risk": (0, 10)}, in_set={"waste_stream": STREAMS}, references={"bin_id": BINS})


def selection_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every selected bin carries a non-empty reason."""
    empty = df.filter(pl.col("reason").str.strip_chars() == "")
    return [f"{empty.height} selected bin(s) without a reason"] if empty.height else []


def latest_stops_rules(df: pl.DataFrame, lake) -> list[str]:
    """`stops_rules` on the latest plan of the silver history."""
    return stops_rules(df.filter(pl.col("plan_date") == df["plan_date"].max()), lake) if df.height else []


def stops_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every selected bin visited once or reported dropped with a reason; windows respected;
    loads never negative; each trip starts at the depot and ends there after the disposal site."""
    out: list[str] = []
    if df.is_empty():
        return out
    plan = df["plan_date"].max()
    sel = lake.read("silver", "collection_selection").filter(pl.col("plan_date") == plan)
    visited = df.filter(pl.col("kind") == "bin")["bin_id"].to_list()
    dropped = df.filter(pl.col("kind") == "dropped")
    missing = set(sel["bin_id"].to_list()) - set(visited) - set(dropped["bin_id"].to_list())
    if missing:
        out.append(f"{len(missing)} selected bin(s) neither visited nor dropped, e.g. {sorted(missing)[:5]}")
    twice = {b for b in visited if visited.count(b) > 1}
    if twice:
        out.append(f"bin(s) visited twice: {sorted(twice)[:5]}")
    extra = set(visited) - set(sel["bin_id"].to_list())
    if extra:
        out.append(f"{len(extra)} visited bin(s) were not selected, e.g. {sorted(extra)[:5]}")
    noreason = dropped.filter(pl.col("reason").is_null() | (pl.col("reason") == ""))
    if noreason.height:
        out.append(f"{noreason.height} dropped bin(s) without a reason")
    late = df.filter(pl.col("window_end").is_not_null() & (pl.col("eta") > pl.col("window_end")))
    if late.height:
        out.append(f"{late.height} stop(s) served after their window, e.g. {late['bin_id'].head(3).to_list()}")
    for (truck, trip), g in df.filter(pl.col("kind") != "dropped").group_by(["truck_id", "trip"]):
        kinds = g.sort("stop_order")["kind"].to_list()
        if kinds[0] != "depot" or kinds[-1] != "depot" or kinds[-2] != "disposal":
            out.append(f"{truck} trip {trip}: does not run depot ... disposal, depot ({kinds[:2]}...{kinds[-2:]})")
    return out


def routes_rules(df: pl.DataFrame, lake) -> list[str]:
    """Loads within both capacities; one truck's trips do not overlap in time."""
    out: list[str] = []
    over = df.filter((pl.col("max_load_kg") > pl.col("capacity_kg")) |
                     (pl.col("max_load_l").is_not_null() & (pl.col("max_load_l") > pl.col("capacity_l"))))
    if over.height:
        out.append(f"{over.height} trip(s) over capacity: {over.select('truck_id', 'trip').rows()[:5]}")
    for truck, g in df.sort("start").group_by("truck_id"):
        g = g.sort("start")
        ends, starts = g["end"].to_list(), g["start"].to_list()
        for k in range(1, g.height):
            if starts[k] < ends[k - 1]:
                out.append(f"{truck[0] if isinstance(truck, tuple) else truck}: trip {k + 1} starts before trip {k} is back")
    return out


def forecast_rules(df: pl.DataFrame, lake) -> list[str]:
    """Model rows carry a model version; the fill at the visit after the plan day is never below
    the fill on the plan day (rates are non-negative)."""
    out = []
    nov = df.filter((pl.col("rate_source") == "model") & pl.col("model_version").is_null())
    if nov.height:
        out.append(f"{nov.height} model forecast(s) without a model version")
    dec = df.filter(pl.col("fill_at_next_visit") < pl.col("fill_at_collection") - 1e-6)
    if dec.height:
        out.append(f"{dec.height} bin(s) whose forecast fill decreases without an emptying")
    return out


def logs_rules(df: pl.DataFrame, lake) -> list[str]:
    """A pickup's net weight is plausible for the bin's capacity and stream (at most 1.5 x full
    at 1.0 kg/L); collected between 04:00 and 15:00."""
    out = []
    heavy = df.filter(pl.col("net_weight_kg") > pl.col("capacity_l") * 1.5)
    if heavy.height:
        out.append(f"{heavy.height} pickup(s) heavier than 1.5 kg per litre of capacity")
    hour = pl.col("collected_at").dt.convert_time_zone(W.TZ).dt.hour()
    odd = df.filter((hour < 4) | (hour >= 15))
    if odd.height:
        out.append(f"{odd.height} pickup(s) outside 04:00-15:00 local")
    return out


def readings_rules(df: pl.DataFrame, lake) -> list[str]:
    """No reading dated in the future; at most 12 readings per bin and day (one every 2 h)."""
    out = []
    fut = df.filter(pl.col("observed_at") > datetime.now(timezone.utc))
    if fut.height:
        out.append(f"{fut.height} reading(s) dated in the future")
    many = df.group_by("bin_id", "observed_date").len().filter(pl.col("len") > 12)
    if many.height:
        out.append(f"{many.height} bin-day(s) with more than 12 readings")
    return out


def rules_check(layer: str, table: str, rules, description: str) -> dg.AssetChecksDefinition:
    """A blocking check running `rules(df, lake) -> [failure messages]` on `layer/table` (for
    tables whose GX suite is already attached by the platform)."""

    @dg.asset_check(asset=dg.AssetKey([layer, table]), name="waste_rules", blocking=True,
                    required_resource_keys={"lake"}, description=description)
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lk = context.resources.lake.lake()
        df = lk.read(layer, table)
        problems = rules(df, lk)
        return dg.AssetCheckResult(passed=not problems, description="; ".join(problems)[:2000] or "ok",
                                   metadata={"rows": df.height, "rule_failures": dg.MetadataValue.json(problems[:50])})

    return _check
