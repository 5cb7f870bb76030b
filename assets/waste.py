"""Cleanliness and waste (propreté): pickups, sensor readings, litter, tonnage per day; the bin
fill forecaster (training, scoring), tomorrow's selection and routes on the street network, the
plan against the fixed rounds, the Clean City Index, priority zones and sorting quality."""


import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from models.waste import calendar as WC
from models.waste import forecast as F
from models.waste import network as N
from models.waste import planning as P
from quality import suites_waste as QS
from quality.checks import table_check
from quality.suites_marts import MARTS
from transforms import citizens as TC
from transforms import waste as T

from . import ml
from .citizens import resident_reports
from .lake import Lake, LakeResource, image_metadata, table_metadata
from .catalog import CONTRACT, NIGHTLY_ONLY
from .layers import OWNERS, bronze, gold, gold_key, silver, silver_key


@silver("collection_events", group="proprete", deps=[bronze("collection_logs"), silver_key("collection_points")],
        keys=["bin_id", "collected_at"])
def collection_events(lake: Lake):
    """Pickups: truck, bin, time (UTC) and local date, net weight (kg), fill seen at pickup (0-1),
    contamination flag, with the bin's stream, quartier and capacity (L)."""
    return T.collection_events(lake.read("bronze", "collection_logs"), lake.read("silver", "collection_points"))


@silver("bin_readings", group="proprete", deps=[bronze("bin_readings")], keys=["message_id"])
def bin_readings(lake: Lake):
    """Bin fill-sensor readings, each message once: fill level (0-1), status, temperature (°C)."""
    return T.bin_readings(lake.read("bronze", "bin_readings"))


@silver("litter_detections", group="proprete", deps=[bronze("litter_detections"), silver_key("quartiers")],
        keys=["detection_id"])
def litter_detections(lake: Lake):
    """Litter detections from vehicle cameras: category, count, position, quartier, local date."""
    return T.litter_detections(lake.read("bronze", "litter_detections"), lake.read("silver", "quartiers"))


@gold("tonnage_daily", group="proprete", deps=[silver_key("collection_events")])
def tonnage_daily(lake: Lake):
    """Per local date, quartier and stream: pickups, tonnes, mean fill at pickup (0-1),
    contamination rate (% of pickups)."""
    return T.tonnage_daily(lake.read("silver", "collection_events"))


ASSETS = [collection_events, bin_readings, litter_detections, tonnage_daily]


# ============================================================================ forecast, plan, cleanliness


MODEL = "bin_fill_forecaster"
CODE_VERSION = "gru-v1"
COLLECTION_HOUR = P.COLLECTION_HOUR      # shared with bench/waste_month_bench.py (models/simulator/waste_month.py)
SELECT_THRESHOLD = P.SELECT_THRESHOLD
# Reproducible rounds: the search stops after VRP_SOLUTIONS solutions (the same plan on an idle or a
# loaded machine); VRP_SECONDS is only the wall-clock safety net, reaching it fails the asset.
VRP_SOLUTIONS = {"tiny": 300, "demo": 1000, "city": 3000}
VRP_SECONDS = {"tiny": 120.0, "demo": 300.0, "city": 900.0}
# the forecaster trains its fixed number of epochs (ForecastConfig.epochs: the same model whatever
# the machine's load; ~1.5 s on the demo city); the seconds are only a far safety net, logged when hit
TRAIN_SAFETY_SECONDS = {"tiny": 120.0, "demo": 600.0, "city": 1800.0}
GROUP = "proprete"


def _calendar(lk: Lake) -> tuple[WC.CityCalendar, pl.DataFrame]:
    """The city's calendar from silver.city_calendar (empty when the city delivered none)."""
    from transforms.reference import CITY_CALENDAR

    df = lk.read_or_empty("silver", "city_calendar", CITY_CALENDAR)
    return WC.CityCalendar.from_frame(df), df


def _panel(lk: Lake, extra_day: bool):
    """Daily fill-rate panel of the sensor bins (+ one extra calendar day for tomorrow)."""
    readings = lk.read("silver", "bin_readings")
    rates = T.daily_fill_rates(readings)
    places = lk.read("silver", "places")
    if rates.is_empty():
        return None, rates, readings
    panel = F.panel_from_rates(rates, lk.read("silver", "collection_points"), places.filter(pl.col("kind") == "market"),
                               readings["observed_date"].max(), extra_days=1 if extra_day else 0,
                               calendar=_calendar(lk)[0])
    return panel, rates, readings


@dg.asset(key=["ml", MODEL], deps=[silver_key("bin_readings"), silver_key("collection_points"),
                                   silver_key("places"), silver_key("city_calendar")],
          group_name=GROUP, owners=OWNERS[GROUP], kinds={"torch", "delta"}, tags=NIGHTLY_ONLY,
          description="Trains the bin fill forecaster (GRU over the last weeks of daily fill rates + calendar); "
                      "versioned by data and config, not retrained when that version exists; model card beside it")
def bin_fill_forecaster(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    panel, rates, _ = _panel(lk, extra_day=False)
    cfg = F.ForecastConfig(max_seconds=TRAIN_SAFETY_SECONDS.get(lake.city_profile, 600.0))
    calendar, calendar_df = _calendar(lk)
    version = ml.fingerprint(ml.frame_fingerprint(rates), ml.frame_fingerprint(calendar_df), cfg.__dict__,
                             CODE_VERSION)
    folder = ml.artifact_dir(lk, MODEL, version)
    known = ml.find(lk, MODEL, version)
    if known and (folder / "model.pt").exists():
        context.log.info(f"{MODEL} {version} already trained: not retrained")
        if not known["promoted"]:
            ml.register(lk, MODEL, version, metrics=json.loads(known["metrics_json"]),
                        training_rows=known["training_rows"])
        return dg.MaterializeResult(metadata=ml.model_metadata(lk, MODEL, version, trained_now=False))
    D = len(panel.days) if panel else 0
    hold = max(1, D // 5)
    train_days = list(range(1, max(1, D - hold)))
    test_days = list(range(max(1, D - hold), D))
    model, info = F.train(panel, train_days, cfg) if panel else (F._net(cfg), {"samples": 0})
    metrics = F.evaluate(model, panel, test_days, cfg.window) if panel else {}
    if info.get("stopped_by_time"):
        context.log.warning(f"{MODEL}: training hit its {cfg.max_seconds} s safety net after {info['epochs_run']} epochs")
    card = {"model": MODEL, "version": version, "trained_at": datetime.now(timezone.utc).isoformat(),
            "data": f"silver.bin_readings: {rates.height} (bin, day) fill rates of {rates['bin_id'].n_unique()} "
                    f"sensor bins, {panel.days[0] if panel else None} to {panel.days[-1] if panel else None}",
            "calendar": calendar.describe(),
            "training_samples": info.get("samples"), "holdout_days": len(test_days), "metrics": metrics,
            "config": cfg.__dict__, "training": info}
    F.save(model, cfg, folder, card)
    ml.register(lk, MODEL, version, metrics=metrics, training_rows=int(info.get("samples", 0)))
    return dg.MaterializeResult(metadata=ml.model_metadata(lk, MODEL, version, trained_now=True, extra={
        k: v for k, v in info.items() if isinstance(v, (int, float, str))}))


def _plan_dates(as_of_local_date):
    plan = as_of_local_date + timedelta(1)
    while not WC.collection_day(plan):
        plan += timedelta(1)
    nxt = plan + timedelta(1)
    while not WC.collection_day(nxt):
        nxt += timedelta(1)
    return plan, nxt


@dg.asset(key=silver_key("bin_fill_forecast"), deps=[dg.AssetKey(["ml", MODEL]), silver_key("collection_events")],
          group_name=GROUP, owners=OWNERS[GROUP], kinds={"torch", "delta"}, pool="delta:silver/bin_fill_forecast",
          description="Per bin: fill now, forecast daily rate (promoted model, else crews' estimates), fill at "
                      "the next collection day's collection time and at the visit after, days until full")
def bin_fill_forecast_scored(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from zoneinfo import ZoneInfo

    lk = lake.lake()
    panel, rates, readings = _panel(lk, extra_day=True)
    events = lk.read("silver", "collection_events")
    bins_df = lk.read("silver", "collection_points")
    as_of = max(readings["observed_at"].max(), events["collected_at"].max() if events.height else readings["observed_at"].max())
    as_of_local = as_of.astimezone(ZoneInfo(T.TZ)).date()
    plan_date, next_date = _plan_dates(as_of_local)
    version = ml.promoted(lk, MODEL)["version"]
    model, cfg = F.load(ml.artifact_dir(lk, MODEL, version))
    # the panel's extra day is the one after the data: the forecast for the day the plan starts from
    df = T.forecast_bins(bins_df, readings, events, F.score_rates(model, panel, cfg.window), as_of=as_of,
                         plan_date=plan_date, next_visit_date=next_date, collection_hour=COLLECTION_HOUR,
                         model_version=version)
    lk.merge("silver", "bin_fill_forecast", df, ["plan_date", "bin_id"])
    return dg.MaterializeResult(metadata=table_metadata(df, extra={
        "plan_date": str(plan_date), "as_of": str(as_of), "model_version": version,
        "bins_by_source": dg.MetadataValue.json(dict(df.group_by("rate_source").len().iter_rows()))}))


@dg.asset(key=silver_key("collection_selection"), deps=[silver_key("bin_fill_forecast"), silver_key("citizen_request_routing")],
          group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "polars"}, pool="delta:silver/collection_selection",
          metadata={CONTRACT: True},
          description="Bins to empty on the next collection day, each with its reason: due bins (overflow before "
                      "the next possible visit, sensor alert) start their stream's trip, which also takes its bins "
                      "over 85% at collection, 70% at the next visit (batched) or half full next to a selected bin; "
                      "a stream with nothing due is deferred")
def collection_selection(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    fc = TC.mark_reported_bins(_latest(lk.read("silver", "bin_fill_forecast")), resident_reports(lk, "bin"))
    sel = T.select_bins(fc, SELECT_THRESHOLD, positions=lk.read("silver", "collection_points"))
    plan_date = fc["plan_date"][0]
    lk.replace_where("silver", "collection_selection", sel, "plan_date", str(plan_date))
    return dg.MaterializeResult(metadata=table_metadata(sel, extra={"plan_date": str(plan_date),
                                                                    "selected": sel.height, "bins": fc.height}))


def _latest(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(pl.col("plan_date") == df["plan_date"].max()) if df.height else df


def _matrices(lk: Lake, bins: pl.DataFrame):
    """Depot, disposal and `bins` on the street network: shortest-path distance (m), time (s)."""
    segs = lk.read("silver", "street_segments")
    places = lk.read("silver", "places")
    depot = places.filter(pl.col("kind") == "depot").row(0, named=True)
    disp = places.filter(pl.col("kind") == "disposal")
    disp = disp.row(0, named=True) if disp.height else depot
    net = N.build_network(segs["segment_id"].to_list(), segs["x0"], segs["y0"], segs["x1"], segs["y1"], segs["speed_kmh"])
    seg_idx = {s: i for i, s in enumerate(segs["segment_id"].to_list())}
    px = np.r_[depot["x_2154"], disp["x_2154"], bins["x_2154"].to_numpy()]
    py = np.r_[depot["y_2154"], disp["y_2154"], bins["y_2154"].to_numpy()]
    D, Tm, info = N.travel_matrices(net, px, py)
    return D, Tm, info, segs, depot, disp, seg_idx


def _densities(events: pl.DataFrame) -> dict:
    """kg per litre of each stream measured from the logs (net weight / (fill x capacity))."""
    d = dict(P.DENSITY_KG_L)
    ok = events.filter(pl.col("fill_level_at_pickup") >= 0.2)
    for s, v in ok.group_by("waste_stream").agg(
            (pl.col("net_weight_kg") / (pl.col("fill_level_at_pickup") * pl.col("capacity_l"))).median()).iter_rows():
        if s in d and v is not None and np.isfinite(v) and v > 0:
            d[s] = float(v)
    return d


def _previous_routes(lk: Lake, plan_date) -> list:
    """The routes of the latest plan *before* `plan_date` (the warm start): a re-run for the same
    day starts from the same routes as the first run, so it finds the same plan."""
    if not lk.exists("silver", "collection_stops"):
        return []
    prev = lk.read("silver", "collection_stops").filter((pl.col("kind") == "bin") & (pl.col("plan_date") < plan_date))
    if prev.is_empty():
        return []
    prev = prev.filter(pl.col("plan_date") == prev["plan_date"].max()).sort("truck_id", "trip", "stop_order")
    return [(t, s, g["bin_id"].to_list()) for (t, s), g in prev.group_by(["truck_id", "waste_stream"], maintain_order=True)]


def _route_map(segs: pl.DataFrame, stops_df: pl.DataFrame, depot: dict, disp: dict, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=90)
    for x0, y0, x1, y1 in segs.select("x0", "y0", "x1", "y1").iter_rows():
        ax.plot([x0, x1], [y0, y1], color="#cccccc", lw=0.8, zorder=1)
    cmap = plt.get_cmap("tab10")
    for k, ((truck, trip), g) in enumerate(stops_df.filter(pl.col("kind") != "dropped")
                                           .group_by(["truck_id", "trip"], maintain_order=True)):
        ax.plot(g["x_2154"], g["y_2154"], "-o", ms=3, lw=1.2, color=cmap(k % 10), zorder=2,
                label=f"{truck} trip {trip} ({g['waste_stream'][0]})")
    dr = stops_df.filter(pl.col("kind") == "dropped")
    if dr.height:
        ax.scatter(dr["x_2154"], dr["y_2154"], marker="x", color="red", zorder=3, label="dropped")
    ax.scatter([depot["x_2154"]], [depot["y_2154"]], marker="s", s=60, color="black", zorder=4, label="depot")
    ax.scatter([disp["x_2154"]], [disp["y_2154"]], marker="^", s=60, color="brown", zorder=4, label="disposal")
    ax.set_title(title + " (stops in order; legs drawn straight, driven on shortest paths)", fontsize=8)
    ax.set_aspect("equal"); ax.legend(fontsize=6, loc="best"); ax.set_xlabel("x (EPSG:2154, m)")
    buf = io.BytesIO(); fig.tight_layout(); fig.savefig(buf, format="png"); plt.close(fig)
    return buf.getvalue()


@dg.asset(key=silver_key("collection_stops"),
          deps=[silver_key("collection_selection"), silver_key("bin_fill_forecast"), silver_key("street_segments"),
                silver_key("trucks"), silver_key("fixed_rounds"), silver_key("places"),
                silver_key("collection_points"), silver_key("collection_events")],
          group_name=GROUP, owners=OWNERS[GROUP], kinds={"ortools", "delta"}, pool="delta:silver/collection_stops",
          metadata={CONTRACT: True},
          description="Next collection day's routes (OR-Tools, shortest-path travel times, kg and volume "
                      "capacities, shift, windows, disposal trips, drop penalties, yesterday's routes as warm "
                      "start, both cores), costed beside the fixed rounds of that weekday; route map in metadata")
def collection_plan(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    sel = _latest(lk.read("silver", "collection_selection"))
    fc = _latest(lk.read("silver", "bin_fill_forecast"))
    plan_date = fc["plan_date"][0]
    trucks = lk.read("silver", "trucks").sort("truck_id")
    fixed = lk.read("silver", "fixed_rounds").filter(pl.col("weekday") == plan_date.isoweekday()) \
        .sort("round_id", "sequence")
    stops, fleet, net, dens = _plan_problem(lk, sel, fixed, trucks, plan_date)
    D, Tm, net_info, segs, depot, disp, node_of = net
    sub = [0, 1] + [node_of[s.bin_id] for s in stops]
    plan = P.plan_routes(stops, fleet, D[np.ix_(sub, sub)], Tm[np.ix_(sub, sub)],
                         VRP_SECONDS.get(lake.city_profile, 300.0), previous=_previous_routes(lk, plan_date),
                         solution_limit=VRP_SOLUTIONS.get(lake.city_profile, 1000))
    if stops and not plan.solution.found:
        # a failed solve never replaces the last good plan: fail visibly, tables untouched
        raise dg.Failure(f"collection plan for {plan_date} not solved ({plan.solution.status}); the previous "
                         f"plan is kept. {' '.join(plan.solution.notes[-3:])}",
                         metadata={"solver_status": plan.solution.status, "kept_previous_plan": True,
                                   "selected_bins": len(stops)})
    t0 = _shift_start(plan_date, trucks["shift_start"][0])
    places_xy = {"depot": (depot["x_2154"], depot["y_2154"]), "disposal": (disp["x_2154"], disp["y_2154"])}
    stops_df = T.conform_stops(P.stop_records(plan, stops, places_xy, dict(fc.select("bin_id", "fill_at_collection")
                                                                          .iter_rows()), plan_date, t0))
    routes_df = T.conform_routes(P.route_records(plan, plan_date, t0))
    # the fixed rounds of that weekday, on the same network
    rounds = [(rid, truck, g["bin_id"].to_list()) for (rid, truck), g in fixed.group_by(["round_id", "truck_id"],
                                                                                       maintain_order=True)]
    fixed_rows = P.fixed_round_records(rounds, node_of, {r["bin_id"]: r for r in fc.iter_rows(named=True)}, dens,
                                       dict(trucks.select("truck_id", "capacity_kg").iter_rows()), D, Tm)
    kpis = T.plan_kpis(plan_date, routes_df, stops_df, fixed_rows, fc, sel)
    lk.replace_where("silver", "collection_stops", stops_df, "plan_date", str(plan_date))
    lk.replace_where("silver", "collection_routes", routes_df, "plan_date", str(plan_date))
    lk.replace_where("silver", "collection_kpis", kpis, "plan_date", str(plan_date))
    png, map_path = _write_route_map(lk, segs, stops_df, depot, disp, f"Collection plan {plan_date}")
    return dg.MaterializeResult(metadata=table_metadata(stops_df, extra={
        "plan_date": str(plan_date), "selected_bins": sel.height, "dropped": len(plan.dropped),
        "routes": routes_df.height, "distance_km": round(plan.info.get("distance_m", 0) / 1000, 2) if stops else 0.0,
        "solver": dg.MetadataValue.json({k: v for k, v in plan.info.items() if k != "runs"}),
        "network": dg.MetadataValue.json(net_info), "route_map_path": dg.MetadataValue.path(str(map_path)),
        "route_map": image_metadata(png, "routes")}))


def _plan_problem(lk: Lake, sel: pl.DataFrame, fixed: pl.DataFrame, trucks: pl.DataFrame, plan_date):
    """The day's routing problem: the selected bins as stops, the fleet, and one travel matrix
    over the depot, the disposal site and every bin either policy (plan or fixed rounds) visits."""
    bins = lk.read("silver", "collection_points")
    nodes_bins = bins.filter(pl.col("bin_id").is_in(sel["bin_id"].to_list() + fixed["bin_id"].to_list())).sort("bin_id")
    D, Tm, net_info, segs, depot, disp, _ = _matrices(lk, nodes_bins)
    node_of = {b: 2 + i for i, b in enumerate(nodes_bins["bin_id"].to_list())}
    dens = _densities(lk.read("silver", "collection_events"))
    stops = P.selection_stops(sel, bins, segs, lk.read("silver", "places"), plan_date, dens)
    shift_s = int(float(trucks["shift_hours"].max()) * 3600)
    fleet = P.Fleet(trucks["truck_id"].to_list(), trucks["capacity_kg"].to_list(),
                    [c * 1000 for c in trucks["capacity_m3"].to_list()], shift_s)
    return stops, fleet, (D, Tm, net_info, segs, depot, disp, node_of), dens


def _shift_start(plan_date, hhmm: str) -> datetime:
    """The crews' shift start on `plan_date`, Paris time."""
    from zoneinfo import ZoneInfo

    h, m = (int(v) for v in hhmm.split(":"))
    return datetime.combine(plan_date, datetime.min.time().replace(hour=h, minute=m), ZoneInfo(T.TZ))


def _write_route_map(lk: Lake, segs, stops_df, depot, disp, title: str):
    """The route map (PNG bytes) and where it was written (its uri), beside the gold tables."""
    png = _route_map(segs, stops_df, depot, disp, title)
    return png, lk.files.put_bytes("gold/_maps/collection_routes.png", png)   # local disk or object store


@gold("bin_fill_forecast", group=GROUP, deps=[silver_key("bin_fill_forecast")], kinds={"torch", "delta"})
def bin_fill_forecast(lake: Lake):
    """Per bin, for the next collection day: fill now (0-1), forecast rate (share of capacity per
    day), fill expected at collection time (08:00) by the model and by the seasonal-naive
    baseline, fill at the following possible visit, days until full, model version."""
    return _latest(lake.read("silver", "bin_fill_forecast"))


@gold("collection_routes", group=GROUP, deps=[silver_key("collection_stops")], kinds={"ortools", "delta"})
def collection_routes(lake: Lake):
    """One row per truck trip of the next collection day: stream, bins, disposal visits, km,
    start/end, duration (s), collected kg, peak load (kg, compacted L) against capacity."""
    return _latest(lake.read("silver", "collection_routes"))


@gold("collection_stops", group=GROUP, deps=[silver_key("collection_stops")], kinds={"ortools", "delta"})
def collection_stops(lake: Lake):
    """Every stop of the plan in order (depot, bins, disposal) with ETA, time-window end and why,
    load after the stop (kg, L), leg length (m); selected bins left out are kind='dropped' with
    the reason."""
    return _latest(lake.read("silver", "collection_stops"))


@gold("collection_kpis", group=GROUP, deps=[silver_key("collection_stops"), silver_key("collection_events")])
def collection_kpis(lake: Lake):
    """Next collection day: the platform's plan against the fixed rounds of that weekday, both on
    the same street network: km, truck hours, bins emptied, mean forecast fill at emptying, bins
    left at overflow risk; plus the mean fill the crews saw at pickup over the history."""
    return T.collection_kpis(_latest(lake.read("silver", "collection_kpis")), lake.read("silver", "collection_events"))


@gold("cleanliness_index", group=GROUP, deps=[silver_key("litter_detections"), silver_key("street_segments")])
def cleanliness_index(lake: Lake):
    """Clean City Index 0-5 per street segment (5 = clean) from the sweeper cameras' litter
    detections: items and weighted items per 100 m per pass, dominant category, trend."""
    return T.cleanliness_index(lake.read("silver", "litter_detections"), lake.read("silver", "street_segments"))


@gold("priority_zones", group=GROUP, deps=[gold_key("cleanliness_index")],
      may_be_empty="no two linked street segments score under 2.5 on the clean-city index: nothing to prioritise")
def priority_zones(lake: Lake):
    """Clusters of segments scoring under 2.5, linked within 250 m: size (km), mean and min index,
    quartiers, dominant litter, trend."""
    return T.priority_zones(lake.read("gold", "cleanliness_index"), lake.read("silver", "street_segments"))


@gold("sorting_quality", group=GROUP, deps=[silver_key("collection_events")])
def sorting_quality(lake: Lake):
    """Per quartier and stream: pickups, share flagged contaminated (%), and its trend (points,
    second half of the period minus the first)."""
    return T.sorting_quality(lake.read("silver", "collection_events"))


ASSETS += [bin_fill_forecaster, bin_fill_forecast_scored, collection_selection, collection_plan, bin_fill_forecast,
           collection_routes, collection_stops, collection_kpis, cleanliness_index, priority_zones, sorting_quality]

CHECKS = [
    QS.rules_check("silver", "collection_events", QS.logs_rules, "pickups: weight consistent with the bin's "
                   "capacity and stream, times inside the crews' hours"),
    QS.rules_check("silver", "bin_readings", QS.readings_rules, "sensor readings: no time in the future, at most "
                   "12 readings per bin and day, status alerts counted"),
    table_check("silver", "bin_fill_forecast", QS.FORECAST, extra=QS.forecast_rules),
    table_check("silver", "collection_selection", QS.SELECTION, extra=QS.selection_rules),
    QS.rules_check("silver", "collection_stops", QS.latest_stops_rules, "the latest plan: every selected bin "
                   "visited once or dropped with a reason, windows respected, trips run depot ... disposal, depot"),
    table_check("gold", "collection_stops", QS.STOPS, extra=QS.stops_rules),
    table_check("gold", "collection_routes", QS.ROUTES, extra=QS.routes_rules),
    table_check("gold", "bin_fill_forecast", QS.FORECAST, extra=QS.forecast_rules),
    *[table_check("gold", t, MARTS[t]) for t in ("cleanliness_index", "priority_zones", "sorting_quality",
                                                  "tonnage_daily", "collection_kpis")],
]
