"""A month of collection under two policies on the same simulated city and the same waste.

* ``fixed``: today's practice: every bin on its fixed weekly round (the simulator's
  ``build_fixed_rounds``), driven in its order with an unload between stream blocks and when
  the truck is full.
* ``platform``: every evening, the bins whose fill is expected over 85% at tomorrow's
  collection time, or over 100% before the following collection day (with a safety margin on
  the rate), plus bins half full within 400 m of a selected bin of their stream, are selected
  and routed
  with :func:`models.waste.planning.plan_routes` (capacities, shift, windows, disposal trips,
  drop penalties, yesterday's routes as warm start).

Both policies face the same latent filling (hourly, per bin: the simulator's base rates per
stream and quartier, diurnal profile, weekend and Croisette factors, market mornings, gamma
noise) and are costed on the same street network (shortest paths). What the platform knows:
sensor bins (70%) report their fill every evening with +-0.03 noise; a bin without a sensor is
known through the fill the crew sees when emptying it. Its rate forecast here is the
exponentially weighted mean of the observed daily increments (the GRU is measured on its own
by bench/waste_forecast_bench.py), with a safety margin for bins without a sensor.

Measured per policy: km, truck hours, bins emptied, mean fill at emptying, overflow bin-days
(days on which a bin's waste exceeded its capacity at some hour).
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from models.simulator.waste import (CROISETTE_LINE, DAILY_FILL, QUARTIER_FILL, _dist_to_polyline,
                                    build_fixed_rounds)

from . import calendar as WC
from . import network as N
from . import planning as P

PARIS = ZoneInfo("Europe/Paris")
DIURNAL = np.array([0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.7, 1.3, 1.7, 1.6, 1.3, 1.2,
                    1.4, 1.3, 1.0, 0.9, 1.0, 1.3, 1.6, 1.7, 1.6, 1.2, 0.7, 0.35])
DIURNAL = DIURNAL / DIURNAL.mean()
HISTORY_DAYS = 21          # days of history before the month the platform has learned from
SENSOR_MARGIN = 1.1        # safety factor on the rate until the visit after next, sensor bins
NO_SENSOR_MARGIN = 1.3     # ... and bins known only through the crews' estimates
NEXT_VISIT_LIMIT = 1.0     # empty tomorrow if the bin would overflow before the next possible visit


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

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def latent_increments(city, days: list[date], rng: np.random.Generator) -> np.ndarray:
    """(bins, hours) fill added each local hour (share of capacity)."""
    bins = city.bins
    n, D = len(bins), len(days)
    x = np.array([b.x for b in bins]); y = np.array([b.y for b in bins])
    rate = np.array([DAILY_FILL[b.waste_stream] * QUARTIER_FILL.get(b.quartier, 1.0) for b in bins]) \
        * rng.lognormal(-0.06, 0.35, n)
    near_c = np.exp(-_dist_to_polyline(x, y, CROISETTE_LINE) / 700.0)
    wd = np.array([d.isoweekday() for d in days])
    hol = np.array([1.0 if (WC.is_public_holiday(d) or WC.day_features(d)["school_holiday"]) else 0.0 for d in days])
    season = np.array([math.cos(2 * math.pi * (d.timetuple().tm_yday - 200) / 365) for d in days])
    dayf = ((1 + 0.2 * np.isin(wd, (6, 7)) + 0.08 * (wd == 5))[None, :]
            * (1 + near_c[:, None] * (0.45 * hol + 0.25 * season)[None, :]) * rng.lognormal(-0.03, 0.25, (n, D)))
    hours = np.arange(24 * D)
    market = np.ones((n, 24 * D))
    for m in (p for p in city.places if p.kind == "market"):
        mdays = WC.market_days(__import__("json").dumps(m.attributes))
        w = np.clip(1 - np.hypot(x - m.x, y - m.y) / 300.0, 0, None)
        w[np.array([b.waste_stream == "verre" for b in bins])] = 0.0
        on = np.array([d.weekday() in mdays for d in days])
        mh = ((hours % 24) >= 6) & ((hours % 24) < 14) & on[hours // 24]
        market += 1.5 * w[:, None] * mh[None, :]
    noise = rng.gamma(3.0, 1 / 3.0, (n, 24 * D))
    return (rate / 24)[:, None] * DIURNAL[hours % 24][None, :] * dayf[:, hours // 24] * market * noise


OPPORTUNISTIC_FILL = 0.5    # a bin this full is taken too when a selected bin of its stream...
OPPORTUNISTIC_M = 400.0      # ...is this close (the truck passes anyway; saves a trip later)


def opportunistic_picks(must: np.ndarray, fill: np.ndarray, x: np.ndarray, y: np.ndarray, stream: list) -> np.ndarray:
    """Bins not selected on their own, at least half full, within 400 m of a selected bin of
    the same stream."""
    from scipy.spatial import cKDTree

    out = np.zeros(len(must), bool)
    st = np.array(stream)
    for s in set(stream):
        sel = np.nonzero(must & (st == s))[0]
        cand = np.nonzero(~must & (st == s) & (fill >= OPPORTUNISTIC_FILL))[0]
        if len(sel) and len(cand):
            d, _ = cKDTree(np.c_[x[sel], y[sel]]).query(np.c_[x[cand], y[cand]], k=1)
            out[cand[d <= OPPORTUNISTIC_M]] = True
    return out


def _matrices(city):
    segs = city.segments
    net = N.build_network([s.segment_id for s in segs], [s.x0 for s in segs], [s.y0 for s in segs],
                          [s.x1 for s in segs], [s.y1 for s in segs], [s.speed_kmh for s in segs])
    depot = next(p for p in city.places if p.kind == "depot")
    disp = next((p for p in city.places if p.kind == "disposal"), depot)
    px = np.r_[depot.x, disp.x, [b.x for b in city.bins]]
    py = np.r_[depot.y, disp.y, [b.y for b in city.bins]]
    return N.travel_matrices(net, px, py)


def _windows(city, d: date) -> list:
    seg_name = {s.segment_id: s.street_name for s in city.segments}
    markets = [(p.x, p.y, WC.market_days(__import__("json").dumps(p.attributes)))
               for p in city.places if p.kind == "market"]
    out = []
    for b in city.bins:
        w = (0, 5 * 3600) if "Croisette" in seg_name.get(b.segment_id, "") else None
        for mx, my, md in markets:
            if d.weekday() in md and math.hypot(b.x - mx, b.y - my) <= 150:
                w = (0, 3 * 3600)
        out.append(w)
    return out


def simulate_month(city, n_days: int = 30, start: date | None = None, seed: int = 0, vrp_seconds: float = 2.0,
                   workers: int = 1, threshold: float = 0.85, progress=None) -> dict:
    rng = np.random.default_rng(seed)
    start = start or date(2026, 6, 1)
    days = [start + timedelta(i) for i in range(n_days)]
    history = [start - timedelta(HISTORY_DAYS - i) for i in range(HISTORY_DAYS)]
    inc_all = latent_increments(city, history + days, rng)
    inc = inc_all[:, 24 * HISTORY_DAYS:]
    hist_daily = inc_all[:, :24 * HISTORY_DAYS].reshape(inc_all.shape[0], HISTORY_DAYS, 24).sum(axis=2)
    n = len(city.bins)
    D, Tm, info = _matrices(city)
    stream = [b.waste_stream for b in city.bins]
    cap_l = np.array([b.capacity_l for b in city.bins], float)
    dens = np.array([P.DENSITY_KG_L[s] for s in stream])
    trucks = city.trucks
    rounds, _, exp_kg = build_fixed_rounds(city, np.random.default_rng(seed + 1))
    sensor = np.zeros(n, bool); sensor[rng.permutation(n)[:int(round(0.7 * n))]] = True
    init = (np.array([DAILY_FILL[s] for s in stream]) * rng.uniform(0, 3.0, n))
    t0 = datetime.combine(days[0], time(0), PARIS)
    bx = np.array([b.x for b in city.bins]); by = np.array([b.y for b in city.bins])

    def run(policy: str) -> MonthResult:
        fill = init.copy()
        km = hours = 0.0
        emptied_fill: list[float] = []
        overflow_days = dropped = 0
        solve_s = 0.0
        # the platform's running rate estimate, from the weeks before the month: sensor bins
        # from their readings, the others from the crews' fill estimates (noisier)
        hrng = np.random.default_rng(seed + 3)
        rate_est = np.where(sensor, (hist_daily + hrng.normal(0, 0.03 * math.sqrt(2), hist_daily.shape)).mean(axis=1),
                            hist_daily.mean(axis=1) * hrng.lognormal(0, 0.2, n)).clip(0.005, None)
        last_seen = fill + rng.uniform(-0.03, 0.03, n)
        last_empty_h = np.zeros(n)
        previous = None
        nrng = np.random.default_rng(seed + 7)
        for di, d in enumerate(days):
            h0 = di * 24
            visits: dict[int, float] = {}   # bin -> hour of the day (float) it is emptied
            if WC.collection_day(d):
                shift0 = 5.0
                if policy == "fixed":
                    for k, t in enumerate(trucks):
                        seq = rounds.get((k, d.isoweekday()), [])
                        if not seq:
                            continue
                        nodes = [2 + b for b in seq]
                        c = P.fixed_round_cost(nodes, [stream[b] for b in seq], [exp_kg[b] for b in seq],
                                               float(t["capacity_kg"]), D, Tm)
                        km += c["distance_m"] / 1000; hours += c["duration_s"] / 3600
                        # arrival times along the round (same rule as the costing)
                        tt, pos, load, prev = shift0 * 3600, 0, 0.0, None
                        for b in seq:
                            if prev is not None and (stream[b] != prev or load + exp_kg[b] > t["capacity_kg"]):
                                tt += Tm[pos, 1] + P.UNLOAD_MIN * 60; pos, load = 1, 0.0
                            tt += Tm[pos, 2 + b]
                            visits[b] = tt / 3600
                            tt += P.SERVICE_MIN[stream[b]] * 60; load += exp_kg[b]; pos, prev = 2 + b, stream[b]
                else:
                    nxt = d + timedelta(1)
                    while not WC.collection_day(nxt):
                        nxt += timedelta(1)
                    # evening before: fill now (sensor) or estimated; rates forecast
                    now_h = h0 - 2   # 22:00 the day before
                    est_now = np.where(sensor, last_seen, rate_est * (now_h - last_empty_h) / 24)
                    to_plan = (8 + 2) / 24
                    to_next = ((nxt - d).days * 24 + 8 + 2) / 24
                    margin = np.where(sensor, SENSOR_MARGIN, NO_SENSOR_MARGIN)
                    f_plan = est_now + rate_est * to_plan
                    f_next = est_now + rate_est * margin * to_next
                    must = (f_plan >= threshold) | (f_next >= NEXT_VISIT_LIMIT)
                    sel = np.nonzero(must | opportunistic_picks(must, f_plan, bx, by, stream))[0]
                    wins = _windows(city, d)
                    stops = [P.Stop(city.bins[b].bin_id, stream[b], city.bins[b].x, city.bins[b].y, None,
                                    kg=min(max(f_plan[b], 0.05), 1.5) * cap_l[b] * dens[b],
                                    litres_compacted=min(max(f_plan[b], 0.05), 1.5) * cap_l[b] / P.COMPACTION[stream[b]],
                                    window_s=wins[b], overflow_risk=float(max(0.0, f_next[b] - 1)))
                             for b in sel]
                    sub = [0, 1] + [2 + b for b in sel]
                    fleet = P.Fleet([t["truck_id"] for t in trucks], [float(t["capacity_kg"]) for t in trucks],
                                    [float(t["capacity_m3"]) * 1000 for t in trucks], int(7 * 3600))
                    ts = _time.perf_counter()
                    plan = P.plan_routes(stops, fleet, D[np.ix_(sub, sub)], Tm[np.ix_(sub, sub)], vrp_seconds,
                                         previous=previous, workers=workers)
                    solve_s += _time.perf_counter() - ts
                    previous = [(r["truck_id"], r["waste_stream"],
                                 [s["bin_id"] for s in plan.stops if s["truck_id"] == r["truck_id"]
                                  and s["trip"] == r["trip"] and s["kind"] == "bin"]) for r in plan.routes]
                    dropped += len(plan.dropped)
                    idx = {city.bins[b].bin_id: b for b in sel}
                    for s in plan.stops:
                        if s["kind"] == "bin":
                            visits[idx[s["bin_id"]]] = shift0 + s["eta_s"] / 3600
                    km += sum(r["distance_m"] for r in plan.routes) / 1000
                    hours += sum(r["duration_s"] for r in plan.routes) / 3600
            # play the day hour by hour
            over = np.zeros(n, bool)
            for hh in range(24):
                h = h0 + hh
                for b, vh in visits.items():
                    if hh <= vh < hh + 1:
                        part = (vh - hh)
                        f = fill[b] + part * inc[b, h]
                        emptied_fill.append(float(f))
                        if not sensor[b]:
                            # what the crew sees updates the estimate of a bin without a sensor
                            el = max((h + part - last_empty_h[b]) / 24, 0.5)
                            rate_est[b] = 0.5 * rate_est[b] + 0.5 * min(f, 1.0) / el
                        fill[b] = -part * inc[b, h]
                        last_empty_h[b] = h + part
                fill += inc[:, h]
                over |= fill > 1.0
            overflow_days += int(over.sum())
            # evening observation (sensor bins) and rate update
            day_inc = inc[:, h0:h0 + 24].sum(axis=1)
            obs = day_inc + nrng.normal(0, 0.03 * math.sqrt(2), n)
            rate_est = np.where(sensor, 0.8 * rate_est + 0.2 * np.clip(obs, 0, None), rate_est)
            last_seen = np.clip(fill + nrng.uniform(-0.03, 0.03, n), 0, 1)
            if progress:
                progress(f"{policy} {d}: {len(visits)} bins emptied")
        return MonthResult(policy, km, hours, len(emptied_fill),
                           float(np.mean(np.clip(emptied_fill, 0, 1.5))) if emptied_fill else 0.0,
                           overflow_days, dropped, solve_s)

    fixed = run("fixed")
    platform = run("platform")
    return {"fixed": fixed.as_dict(), "platform": platform.as_dict(), "network": info,
            "days": n_days, "start": str(start), "bins": n, "trucks": len(trucks),
            "sensor_share": float(sensor.mean())}
