"""A month of collection under three policies on the same simulated city and the same waste.

* ``fixed``: today's practice: every bin on its fixed weekly round (the simulator's
  ``build_fixed_rounds``), driven in its order with an unload between stream blocks and when
  the truck is full.
* ``platform_gru``: what the platform does every night: the sensor readings and the crews' pickup
  logs seen so far become daily fill rates (``transforms.waste.daily_fill_rates``), the GRU
  forecaster (``models.waste.forecast``, trained on the weeks before the month, retrained weekly
  on the data seen so far, never on the future) forecasts the plan day's rate, the forecast table
  is assembled (``transforms.waste.forecast_bins``), the bins are selected with their reasons
  (``transforms.waste.select_bins``) and routed (``models.waste.planning.selection_stops`` and
  ``plan_routes``: capacities, shift, windows, disposal trips, drop penalties, yesterday's
  routes as warm start). The same functions the Dagster assets call (assets/waste.py).
* ``platform_running_mean``: the same chain with each sensor bin's rate forecast replaced by its
  running mean over the last 21 days (the model's own scale): what the platform would do
  without the model.

The world: hourly filling per bin (the simulator's base rates per stream and quartier, diurnal
profile, weekend, holiday, event and Croisette factors, market mornings, gamma noise), the
same for every policy. The weeks before the month are played under the fixed rounds (that is
the history the platform learns from); every policy starts the month from the same state.
70% of the bins carry a sensor reading every 4 h (per-sensor phase, +-0.03 noise, clipped to
0-1, 2% of readings lost; lid-open and other alerts at the simulator's rates); crews log the
fill they see at each pickup (+-0.07, in steps of 0.05). The platform plans each collection day
at 22:00 the evening before, from what was observed up to then.

Measured per policy: km, truck hours, bins emptied, mean (true) fill at emptying, overflow
bin-days (days on which a bin's waste exceeded its capacity at some hour).
"""

from __future__ import annotations

import json
import math
import time as _time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from models.waste import calendar as WC
from models.waste import forecast as F
from models.waste import network as N
from models.waste import planning as P
from transforms import reference as TR
from transforms import waste as T

from .waste import (CALENDAR_COLUMNS, CROISETTE_LINE, DAILY_FILL, QUARTIER_FILL, _dist_to_polyline,
                    build_fixed_rounds, city_calendar_rows, events, public_holidays, school_holiday)

PARIS = ZoneInfo("Europe/Paris")
DIURNAL = np.array([0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.7, 1.3, 1.7, 1.6, 1.3, 1.2,
                    1.4, 1.3, 1.0, 0.9, 1.0, 1.3, 1.6, 1.7, 1.6, 1.2, 0.7, 0.35])
DIURNAL = DIURNAL / DIURNAL.mean()
HISTORY_DAYS = 63          # weeks before the month, under the fixed rounds: what the platform learns from
SENSOR_SHARE = 0.7
SENSOR_PERIOD_H = 4
SENSOR_NOISE = 0.03
READING_LOSS = 0.02
CREW_NOISE = 0.07
PLAN_HOUR = 22             # the nightly run, the evening before the plan day
ALERTS = (("lidOpen", 0.008), ("dropped", 0.001), ("moved", 0.002), ("vandalized", 0.001), ("burning", 0.0003))
POLICIES = ("fixed", "platform_gru", "platform_running_mean")


@dataclass
class MonthResult:
    policy: str
    km: float
    truck_hours: float
    bins_emptied: int
    mean_fill_at_emptying: float
    overflow_bin_days: int
    dropped: int
    solve_seconds: float
    forecast_seconds: float = 0.0
    trainings: int = 0
    mae_rate: float | None = None          # MAE of the forecast daily rate on the month's sensor bin-days
    bias_rate: float | None = None         # mean (forecast - observed) rate

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def latent_increments(city, days: list[date], rng: np.random.Generator) -> np.ndarray:
    """(bins, hours) fill added each local hour (share of capacity)."""
    bins = city.bins
    n, D = len(bins), len(days)
    x = np.array([b.x for b in bins]); y = np.array([b.y for b in bins])
    rate = np.array([DAILY_FILL[b.waste_stream] * QUARTIER_FILL.get(b.quartier, 1.0) for b in bins]) \
        * rng.lognormal(-0.06, 0.35, n)
    near_c = np.exp(-_dist_to_polyline(x, y, CROISETTE_LINE) / 700.0)
    wd = np.array([d.isoweekday() for d in days])
    hol = np.array([1.0 if (d in public_holidays(d.year) or school_holiday(d)) else 0.0 for d in days])
    ev = np.array([1.0 if events(d) else 0.0 for d in days])
    season = np.array([math.cos(2 * math.pi * (d.timetuple().tm_yday - 200) / 365) for d in days])
    dayf = ((1 + 0.2 * np.isin(wd, (6, 7)) + 0.08 * (wd == 5))[None, :]
            * (1 + near_c[:, None] * (0.45 * hol + 0.8 * ev + 0.25 * season)[None, :])
            * rng.lognormal(-0.03, 0.25, (n, D)))
    hours = np.arange(24 * D)
    market = np.ones((n, 24 * D))
    for m in (p for p in city.places if p.kind == "market"):
        mdays = WC.market_days(json.dumps(m.attributes))
        w = np.clip(1 - np.hypot(x - m.x, y - m.y) / 300.0, 0, None)
        w[np.array([b.waste_stream == "verre" for b in bins])] = 0.0
        on = np.array([d.weekday() in mdays for d in days])
        mh = ((hours % 24) >= 6) & ((hours % 24) < 14) & on[hours // 24]
        market += 1.5 * w[:, None] * mh[None, :]
    noise = rng.gamma(3.0, 1 / 3.0, (n, 24 * D))
    return (rate / 24)[:, None] * DIURNAL[hours % 24][None, :] * dayf[:, hours // 24] * market * noise


def _matrices(city):
    segs = city.segments
    net = N.build_network([s.segment_id for s in segs], [s.x0 for s in segs], [s.y0 for s in segs],
                          [s.x1 for s in segs], [s.y1 for s in segs], [s.speed_kmh for s in segs])
    depot = next(p for p in city.places if p.kind == "depot")
    disp = next((p for p in city.places if p.kind == "disposal"), depot)
    px = np.r_[depot.x, disp.x, [b.x for b in city.bins]]
    py = np.r_[depot.y, disp.y, [b.y for b in city.bins]]
    return N.travel_matrices(net, px, py)


def city_frames(city) -> dict[str, pl.DataFrame]:
    """The reference tables the assets read from silver, built from the simulated city."""
    bins = pl.DataFrame([{"bin_id": b.bin_id, "segment_id": b.segment_id, "waste_stream": b.waste_stream,
                          "quartier": b.quartier, "capacity_l": int(b.capacity_l), "x_2154": float(b.x),
                          "y_2154": float(b.y)} for b in city.bins])
    segs = pl.DataFrame({"segment_id": [s.segment_id for s in city.segments],
                         "street_name": [s.street_name for s in city.segments]})
    places = pl.DataFrame([{"kind": p.kind, "x_2154": float(p.x), "y_2154": float(p.y),
                            "attributes": json.dumps(p.attributes)} for p in city.places],
                          schema={"kind": pl.Utf8, "x_2154": pl.Float64, "y_2154": pl.Float64, "attributes": pl.Utf8})
    return {"bins": bins, "segments": segs, "places": places, "markets": places.filter(pl.col("kind") == "market")}


def month_calendar(days: list[date]) -> WC.CityCalendar:
    """The city calendar the platform would hold: the simulator's ``reference/city_calendar.csv``
    for these days (and the year after), through the landing parser and the silver transform."""
    from transforms.parsing import parse_city_calendar

    from .reference import _csv

    rows = city_calendar_rows(date(days[0].year, 1, 1), date(days[-1].year + 1, 12, 31))
    parsed = parse_city_calendar(_csv(rows, CALENDAR_COLUMNS).encode(), "city_calendar.csv")
    return WC.CityCalendar.from_frame(TR.city_calendar(parsed.good))


class World:
    """The bins' true fill, hour by hour, and what the platform observes of it."""

    def __init__(self, city, days: list[date], inc: np.ndarray, sensor: np.ndarray, phase: np.ndarray,
                 init: np.ndarray, seed: int):
        self.days, self.inc, self.sensor, self.seed = days, inc, sensor, seed
        self.n = inc.shape[0]
        self.bin_ids = np.array([b.bin_id for b in city.bins], dtype=object)
        self.sensor_idx = np.nonzero(sensor)[0]
        self.phase = phase                      # hours in [0, 4), per bin
        self.fill = init.copy()
        self.epoch0 = datetime.combine(days[0], time(0), PARIS).timestamp()
        self.readings: list[tuple] = []         # (bin idx, t_h, level, status) arrays per hour
        self.pickups: list[tuple] = []          # (bin idx, t_h, crew fill)

    def clone(self) -> World:
        w = object.__new__(World)
        w.__dict__.update(self.__dict__)
        w.fill = self.fill.copy(); w.readings = list(self.readings); w.pickups = list(self.pickups)
        return w

    def play_day(self, di: int, visits: dict[int, float]) -> tuple[int, list[float]]:
        """Play day `di` with the bins in `visits` emptied at the given local hour (float).
        Returns (bins that overflowed at some hour, true fills at emptying)."""
        rng = np.random.default_rng([self.seed, 17, di])   # same observation noise for every policy
        vh = np.full(self.n, np.nan)
        for b, h in visits.items():
            vh[b] = h
        over = np.zeros(self.n, bool)
        emptied: list[float] = []
        for hh in range(24):
            h = di * 24 + hh
            x = self.inc[:, h]
            f0 = self.fill
            p = vh - hh
            v = (p >= 0) & (p < 1)
            lost, noise, su, lid, crew = (rng.random(self.n), rng.uniform(-SENSOR_NOISE, SENSOR_NOISE, self.n),
                                          rng.random(self.n), rng.random(self.n), rng.normal(0, CREW_NOISE, self.n))
            # sensor readings this hour
            rb = self.sensor_idx[((hh - np.floor(self.phase[self.sensor_idx])) % SENSOR_PERIOD_H) == 0]
            rb = rb[lost[rb] >= READING_LOSS]
            if len(rb):
                rf = self.phase[rb] % 1
                val = np.where(v[rb] & (np.nan_to_num(p[rb], nan=9) <= rf), (rf - np.nan_to_num(p[rb])) * x[rb],
                               f0[rb] + rf * x[rb])
                status = np.full(len(rb), "ok", dtype=object)
                acc = 0.0
                for name, pr in ALERTS:
                    status[(su[rb] >= acc) & (su[rb] < acc + pr)] = name
                    acc += pr
                status[(val > 1.0) & (lid[rb] < 0.5)] = "lidOpen"
                self.readings.append((rb, h + rf, np.clip(val + noise[rb], 0, 1), status))
            # pickups
            vb = np.nonzero(v)[0]
            if len(vb):
                f = f0[vb] + p[vb] * x[vb]
                emptied.extend(f.tolist())
                over[vb] |= f > 1.0
                seen = np.where(f > 1.0, 1.0, np.clip(np.round((f + crew[vb]) / 0.05) * 0.05, 0, 1))
                self.pickups.append((vb, h + p[vb], seen))
            nf = f0 + x
            nf[vb] = (1 - p[vb]) * x[vb]
            self.fill = nf
            over |= nf > 1.0
        return int(over.sum()), emptied

    # ------------------------------------------------------------------ what the platform sees
    def _stamp(self, t_h: np.ndarray) -> tuple[pl.Series, pl.Series]:
        at = pl.Series(np.round((self.epoch0 + t_h * 3600) * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC"))
        day = pl.Series(np.datetime64(self.days[0], "D") + np.floor(t_h / 24).astype(np.int64)).cast(pl.Date)
        return at, day

    def observed(self, until_h: float) -> tuple[pl.DataFrame, pl.DataFrame]:
        """silver.bin_readings and silver.collection_events as they stand at hour `until_h`."""
        cat = (lambda rows, i, dt: np.concatenate([r[i] for r in rows]) if rows else np.zeros(0, dt))
        rb, rt, rl, rs = (cat(self.readings, i, dt) for i, dt in enumerate((np.int64, float, float, object)))
        k = rt <= until_h
        at, day = self._stamp(rt[k])
        readings = pl.DataFrame({"bin_id": pl.Series(self.bin_ids[rb[k]], dtype=pl.Utf8), "observed_at": at,
                                 "observed_date": day, "filling_level": rl[k], "status": pl.Series(rs[k], dtype=pl.Utf8)})
        pb, pt, pf = (cat(self.pickups, i, dt) for i, dt in enumerate((np.int64, float, float)))
        k = pt <= until_h
        at, day = self._stamp(pt[k])
        ev = pl.DataFrame({"bin_id": pl.Series(self.bin_ids[pb[k]], dtype=pl.Utf8), "collected_at": at,
                           "collection_date": day, "fill_level_at_pickup": pf[k]})
        return readings.sort("observed_at", "bin_id"), ev.sort("collected_at", "bin_id")

    def as_of(self, t_h: float) -> datetime:
        return datetime.fromtimestamp(self.epoch0 + t_h * 3600, ZoneInfo("UTC"))


def fixed_day(city, rounds, exp_kg, stream, D, Tm, d: date) -> tuple[dict[int, float], float, float]:
    """The fixed rounds of weekday `d`: bin -> local hour emptied, km, truck hours."""
    visits: dict[int, float] = {}
    km = hours = 0.0
    for k, t in enumerate(city.trucks):
        seq = rounds.get((k, d.isoweekday()), [])
        if not seq:
            continue
        c = P.fixed_round_cost([2 + b for b in seq], [stream[b] for b in seq], [exp_kg[b] for b in seq],
                               float(t["capacity_kg"]), D, Tm)
        km += c["distance_m"] / 1000; hours += c["duration_s"] / 3600
        tt, pos, load, prev = 5.0 * 3600, 0, 0.0, None        # arrival times, same rule as the costing
        for b in seq:
            if prev is not None and (stream[b] != prev or load + exp_kg[b] > t["capacity_kg"]):
                tt += Tm[pos, 1] + P.UNLOAD_MIN * 60; pos, load = 1, 0.0
            tt += Tm[pos, 2 + b]
            visits[b] = tt / 3600
            tt += P.SERVICE_MIN[stream[b]] * 60; load += exp_kg[b]; pos, prev = 2 + b, stream[b]
    return visits, km, hours


def simulate_month(city, n_days: int = 30, start: date | None = None, seed: int = 0, vrp_seconds: float = 2.0,
                   workers: int = 1, threshold: float = P.SELECT_THRESHOLD, policies=POLICIES,
                   retrain_days: int = 7, train_seconds: float = 20.0, epochs: int = 40, progress=None) -> dict:
    rng = np.random.default_rng(seed)
    start = start or date(2026, 6, 1)
    days = [start - timedelta(HISTORY_DAYS - i) for i in range(HISTORY_DAYS + n_days)]
    inc = latent_increments(city, days, rng)
    n = len(city.bins)
    D, Tm, info = _matrices(city)
    frames = city_frames(city)
    calendar = month_calendar(days)
    stream = [b.waste_stream for b in city.bins]
    rounds, _, exp_kg = build_fixed_rounds(city, np.random.default_rng(seed + 1))
    sensor = np.zeros(n, bool); sensor[rng.permutation(n)[:int(round(SENSOR_SHARE * n))]] = True
    phase = rng.uniform(0, SENSOR_PERIOD_H, n)
    init = np.array([DAILY_FILL[s] for s in stream]) * rng.uniform(0, 3.0, n)
    world0 = World(city, days, inc, sensor, phase, init, seed)
    for di in range(HISTORY_DAYS):                 # the history: today's practice
        visits = fixed_day(city, rounds, exp_kg, stream, D, Tm, days[di])[0] if WC.collection_day(days[di]) else {}
        world0.play_day(di, visits)
    fleet = P.Fleet([t["truck_id"] for t in city.trucks], [float(t["capacity_kg"]) for t in city.trucks],
                    [float(t["capacity_m3"]) * 1000 for t in city.trucks], int(7 * 3600))
    node = {b.bin_id: 2 + i for i, b in enumerate(city.bins)}
    cfg = F.ForecastConfig(epochs=epochs, max_seconds=train_seconds, seed=seed)

    def run(policy: str) -> MonthResult:
        w = world0.clone()
        km = hours = solve_s = fc_s = 0.0
        emptied: list[float] = []
        overflow_days = dropped = trainings = 0
        previous = None
        model, trained_at = None, None
        err: list[np.ndarray] = []
        for di in range(HISTORY_DAYS, len(days)):
            d = days[di]
            visits: dict[int, float] = {}
            if WC.collection_day(d):
                if policy == "fixed":
                    visits, k_, h_ = fixed_day(city, rounds, exp_kg, stream, D, Tm, d)
                    km += k_; hours += h_
                else:
                    ts = _time.perf_counter()
                    nxt = d + timedelta(1)
                    while not WC.collection_day(nxt):
                        nxt += timedelta(1)
                    t_asof = di * 24 - (24 - PLAN_HOUR)
                    readings, events_ = w.observed(t_asof)
                    rates = T.daily_fill_rates(readings)
                    if policy == "platform_gru":
                        if model is None or (retrain_days and (d - trained_at).days >= retrain_days):
                            tp = F.panel_from_rates(rates, frames["bins"], frames["markets"], days[di - 1], extra_days=0,
                                                    calendar=calendar)
                            model, _ = F.train(tp, list(range(8, len(tp.days))), cfg)
                            trained_at, trainings = d, trainings + 1
                    panel = F.panel_from_rates(rates, frames["bins"], frames["markets"], days[di - 1], extra_days=1,
                                               calendar=calendar)
                    rf = (F.score_rates(model, panel, cfg.window) if policy == "platform_gru"
                          else F.running_mean_rates(panel, cfg.window))
                    fc = T.forecast_bins(frames["bins"], readings, events_, rf, as_of=w.as_of(t_asof), plan_date=d,
                                         next_visit_date=nxt, collection_hour=P.COLLECTION_HOUR,
                                         model_version=policy)
                    sel = T.select_bins(fc, threshold, positions=frames["bins"])
                    stops = P.selection_stops(sel, frames["bins"], frames["segments"], frames["places"], d,
                                              P.DENSITY_KG_L)
                    fc_s += _time.perf_counter() - ts
                    sub = [0, 1] + [node[s.bin_id] for s in stops]
                    ts = _time.perf_counter()
                    plan = P.plan_routes(stops, fleet, D[np.ix_(sub, sub)], Tm[np.ix_(sub, sub)], vrp_seconds,
                                         previous=previous, workers=workers)
                    solve_s += _time.perf_counter() - ts
                    previous = [(r["truck_id"], r["waste_stream"],
                                 [s["bin_id"] for s in plan.stops if s["truck_id"] == r["truck_id"]
                                  and s["trip"] == r["trip"] and s["kind"] == "bin"]) for r in plan.routes]
                    dropped += len(plan.dropped)
                    for s in plan.stops:
                        if s["kind"] == "bin":
                            visits[node[s["bin_id"]] - 2] = 5.0 + s["eta_s"] / 3600
                    km += sum(r["distance_m"] for r in plan.routes) / 1000
                    hours += sum(r["duration_s"] for r in plan.routes) / 3600
                    # forecast error of the plan day's rate, once the day is observed (below)
                    err.append(rf.with_columns(pl.lit(d).alias("day")))
            o, e = w.play_day(di, visits)
            overflow_days += o; emptied.extend(e)
            if progress:
                progress(f"{policy} {d}: {len(visits)} bins emptied, {o} overflowing"
                         + (f", {plan.info.get('stops', 0)} selected, {len(plan.dropped)} dropped"
                            if policy != "fixed" and WC.collection_day(d) else ""))
        mae = bias = None
        if err:
            truth = T.daily_fill_rates(w.observed(len(days) * 24)[0]).select("bin_id", "day", "rate_per_day")
            j = pl.concat(err).join(truth, on=["bin_id", "day"], how="inner").drop_nulls(["rate_model"])
            if j.height:
                mae = float((j["rate_model"] - j["rate_per_day"]).abs().mean())
                bias = float((j["rate_model"] - j["rate_per_day"]).mean())
        return MonthResult(policy, km, hours, len(emptied),
                           float(np.mean(np.clip(emptied, 0, 1.5))) if emptied else 0.0,
                           overflow_days, dropped, solve_s, fc_s, trainings, mae, bias)

    results = {p: run(p).as_dict() for p in policies}
    return {**results, "network": info, "days": n_days, "start": str(start), "history_days": HISTORY_DAYS,
            "bins": n, "trucks": len(city.trucks), "sensor_share": float(sensor.mean()),
            "retrain_days": retrain_days, "threshold": threshold}
