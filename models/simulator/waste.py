"""Waste and cleanliness: latent bin filling, today's fixed collection rounds, the trucks'
collection logs, fill-level sensors and litter detections from sweeper cameras.

Writes into the landing zone (docs/LANDING.md):

- ``reference/fixed_rounds.csv``: ``round_id,truck_id,weekday,bin_id,sequence``
- ``waste/collection_logs/collecte_YYYY-MM-DD.csv``:
  ``truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination``
- ``waste/bin_sensors/capteurs_YYYY-MM-DD.jsonl``: FIWARE WasteContainer-like readings
- ``waste/litter/litter_YYYY-MM-DD.parquet``: litter detections
- ``reference/city_calendar.csv``: ``kind,name,first_day,last_day,zone``: school holidays
  (zone B) and city events as periods, the data the forecaster's calendar comes from

and the ground truth beside it (``truth/waste/``):

- ``fill_hourly.parquet``: ``bin_id, ts (timestamp[us, UTC], start of the hour), true_fill
  (float32), overflow (bool)``. ``true_fill`` is the volume of waste deposited since the last
  emptying divided by the bin's capacity; it is *not* capped, so ``true_fill > 1`` is an
  overflow (bags beside the bin) and ``overflow == (true_fill > 1)``.
- ``litter_intensity.csv``: ``segment_id, category, rate_per_100m, zone``: the latent number of
  items per 100 m a sweeper pass finds on an ordinary weekday (``zone``: the priority zones the
  segment belongs to, ``market``/``beach``/``nightlife`` joined by ``+``, or ``none``).
- ``calendar.csv``: ``date, iso_weekday, public_holiday, school_holiday, event``.
- ``contamination.csv``: ``bin_id, quartier, waste_stream, p_first_day, p_last_day``: the
  probability that a pickup is flagged as contaminated (sorting errors), with its trend.

Conventions
-----------
- Period: the ``profile.n_days`` local days ending ``profile.end_date`` (Europe/Paris); daily
  files are named after the *local* date (sensor readings are stamped in UTC but filed by their
  Paris date).
- ``weekday`` in ``fixed_rounds.csv`` is the ISO weekday: 1 = Monday ... 7 = Sunday. Rounds run
  Monday to Saturday (1-6). Nothing is collected on Sundays, 1 January, 1 May and 25 December.
- ``round_id = "R-<truck_id>-<weekday>"`` (e.g. ``R-BOM-03-2``): one round per truck and
  weekday. Each truck owns a compact sector (recursive bisection of the bins, weighted by the
  truck's ``capacity_kg``). Inside a sector the ordures_menageres bins are split geographically
  into one sub-sector per weekday pattern; each weekly stream is cut into geographic chunks of
  about 90 minutes of work, each placed on the least loaded weekday that does not yet hold that
  stream. A round holds its bins in stream blocks (ordures_menageres, biodechets, emballages,
  verre; usually one or two blocks), each block in nearest-neighbour order from the depot or the
  previous block; the truck unloads at the transfer centre between blocks and whenever its
  planned load would exceed ``capacity_kg``. ``sequence`` is the 1-based stop number.
- Frequencies: ordures_menageres 3 times a week (Mon/Wed/Fri or Tue/Thu/Sat) in the dense and
  tourist quartiers (Croisette, Le Suquet, Pointe Croisette, Carnot, Prado-République), twice a
  week (Mon/Thu, Tue/Fri, Wed/Sat) elsewhere; every other stream once a week.
- Collection logs: crews start at 05:00 local; ``collected_at`` is the arrival at the bin with
  its Paris offset; about 1% of planned pickups are missed (blocked access) and leave no row (the
  bin is not emptied). ``net_weight_kg`` = collected fill (at most 1.5) x capacity x density
  (kg/L: ordures 0.12, emballages 0.04, verre 0.35, biodechets 0.45) x lognormal noise;
  ``fill_level_at_pickup`` is the crew's visual estimate (steps of 0.05, 1.00 when
  overflowing).
- Sensors: 70% of the bins (deterministic choice), one reading every 4 h with a per-sensor phase
  and ~5 min jitter; ~2% of readings are lost and ~5% of the sensors have one outage of 12-48 h.
  ``fillingLevel`` = true fill + U(-0.03, 0.03), clipped to 0-1, 3 decimals.
  ``message_id`` = uuid5(WASTE_NS, "<bin_id>|<dateObserved>").
- Latent filling (hourly, vectorised over bins x hours): per-bin base rate (stream, quartier,
  lognormal spread) x diurnal profile (local hour) x day factor (Friday and weekend up; public
  and school holidays (zone B), events (Festival de Cannes, Yachting Festival, MIPCOM) and the
  summer season raise the rate near the Croisette) x market factor (bins within 300 m of a
  market, on its market days, 06:00-14:00) x gamma noise.
- Litter: ``max(1, round(street_km / 80))`` sweepers ``BAL-NN``, one sector each; priority
  segments (top 15% latent litter) are swept daily, the others every fourth day (Sundays:
  priority segments only). Sweeping starts at 05:30 local at 7 km/h. Expected items on a pass =
  rate x length / 100 x day factor (weekend x1.4 for cigarette_butt/can/bottle/glass; holidays
  and events x1.3 for beach categories; leaves x1.6 from October to December) x recall 0.9;
  items come in detections of ``count`` items (cigarette butts and leaves in clusters), placed
  along the segment with ~3 m of noise; 2% extra false positives with low confidence.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .calendar import (CALENDAR_COLUMNS, SCHOOL_HOLIDAYS_B, city_calendar_rows, events,  # noqa: F401
                       public_holidays, school_holiday, write_city_calendar)
from .city import CITY_OUTLINE, City, to_wgs84
from .common import atomic_write_bytes, atomic_write_text, sub_seed
from .reference import _csv

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc

STREAMS = ("ordures_menageres", "emballages", "verre", "biodechets")
DENSITY_KG_L = {"ordures_menageres": 0.12, "emballages": 0.04, "verre": 0.35, "biodechets": 0.45}
DAILY_FILL = {"ordures_menageres": 0.15, "emballages": 0.075, "verre": 0.07, "biodechets": 0.08}
QUARTIER_FILL = {"Croisette": 1.35, "Le Suquet": 1.3, "Pointe Croisette": 1.15,
                 "Prado-République": 1.1, "Carnot": 1.1}
THREE_A_WEEK = {"Croisette", "Le Suquet", "Pointe Croisette", "Carnot", "Prado-République"}
PATTERNS_3 = [(1, 3, 5), (2, 4, 6)]
PATTERNS_2 = [(1, 4), (2, 5), (3, 6)]
PATTERNS_1 = [(1,), (2,), (3,), (4,), (5,), (6,)]
BLOCK_ORDER = ("ordures_menageres", "biodechets", "emballages", "verre")
SERVICE_MIN = {"ordures_menageres": 1.2, "emballages": 1.5, "biodechets": 1.5, "verre": 4.0}
CONTAM_STREAM = {"ordures_menageres": 0.04, "emballages": 0.20, "verre": 0.05, "biodechets": 0.12}
CONTAM_QUARTIER = {"La Bocca": 1.5, "Ranguin": 1.4, "La Frayère": 1.3, "Croisette": 1.3,
                   "Le Suquet": 1.2}
NO_COLLECTION = {(1, 1), (5, 1), (12, 25)}
TRUCK_SPEED_MS = 22 / 3.6
DETOUR = 1.35
UNLOAD_MIN = 20.0
BLOCK_PENALTY_MIN = 45.0   # planning cost of one more stream block (unload trip) in a round

# The Croisette promenade (schematic) and the coastline, Lambert-93.
CROISETTE_LINE = [(1024400, 6280080), (1025400, 6279980), (1026300, 6279750), (1026900, 6279300)]
COAST = CITY_OUTLINE[:9]
NIGHTLIFE_STREETS = {"Rue du Suquet", "Rue Saint-Antoine", "Quai Saint-Pierre", "Rue Meynadier",
                     "Rue des Belges", "Rue Commandant André", "Rue du Commandant Vidal",
                     "Rue Hoche", "Rue d'Antibes"}
HILL_QUARTIERS = {"Californie", "Montfleury", "Les Broussailles", "Petit Juas", "Ranguin",
                  "La Frayère"}
DUMPING_QUARTIERS = {"La Bocca", "Ranguin", "La Frayère"}

LITTER_CATEGORIES = ("cigarette_butt", "can", "bottle", "paper", "plastic_bag", "food_packaging",
                     "leaves", "dog_waste", "bulky_item", "glass")
LITTER_BASE = {"cigarette_butt": 3.0, "can": 0.25, "bottle": 0.2, "paper": 0.8,
               "plastic_bag": 0.3, "food_packaging": 0.6, "leaves": 1.5, "dog_waste": 0.25,
               "bulky_item": 0.02, "glass": 0.08}
LITTER_CLUSTER = {"cigarette_butt": 2.2, "leaves": 1.8}
MARKET_MULT = {"food_packaging": 3.0, "paper": 2.0, "plastic_bag": 3.0, "cigarette_butt": 1.5}
BEACH_MULT = {"cigarette_butt": 3.0, "can": 3.0, "bottle": 2.5, "food_packaging": 2.5,
              "plastic_bag": 2.0}
NIGHT_MULT = {"bottle": 3.0, "glass": 4.0, "can": 2.5, "cigarette_butt": 2.5}
SWEEP_SPEED_MS = 7 / 3.6
SWEEP_TRANSIT_MS = 20 / 3.6
RECALL = 0.9

WASTE_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://data.cannes.example/waste/bin_sensors")

# --------------------------------------------------------------------------------- helpers

def _dist_to_polyline(x, y, line) -> np.ndarray:
    x = np.asarray(x, float); y = np.asarray(y, float)
    best = np.full(x.shape, np.inf)
    for (ax, ay), (bx, by) in zip(line[:-1], line[1:]):
        dx, dy = bx - ax, by - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        best = np.minimum(best, np.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


def _bisect(idx: np.ndarray, x, y, w, caps: list[float]) -> list[np.ndarray]:
    """Split `idx` into len(caps) compact groups whose weight is proportional to caps."""
    if len(caps) == 1:
        return [idx]
    k = len(caps) // 2
    if len(idx) == 0:
        return [idx] * len(caps)
    share = sum(caps[:k]) / sum(caps)
    xs, ys = x[idx], y[idx]
    axis = xs if np.ptp(xs) >= np.ptp(ys) else ys
    order = idx[np.argsort(axis, kind="stable")]
    cw = np.cumsum(w[order])
    cut = int(np.searchsorted(cw, share * cw[-1]))
    return _bisect(order[:cut], x, y, w, caps[:k]) + _bisect(order[cut:], x, y, w, caps[k:])


def _nn_order(idx: list[int], x, y, start: tuple[float, float]) -> list[int]:
    """Nearest-neighbour tour through idx from `start`."""
    left = list(idx)
    out: list[int] = []
    px, py = start
    while left:
        arr = np.array(left)
        j = int(np.argmin(np.hypot(x[arr] - px, y[arr] - py)))
        b = left.pop(j)
        out.append(b)
        px, py = x[b], y[b]
    return out


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _iso_utc(epoch_s: np.ndarray) -> list[str]:
    s = np.datetime_as_string(np.asarray(epoch_s, dtype="int64").astype("datetime64[s]"), unit="s")
    return [v + "Z" for v in s]


# --------------------------------------------------------------------------------- rounds

def build_fixed_rounds(city: City, rng: np.random.Generator):
    """Today's practice. Returns (rounds, stream, exp_kg) where rounds maps
    (truck_index, iso_weekday) -> ordered list of bin indices."""
    bins = city.bins
    n = len(bins)
    x = np.array([b.x for b in bins]); y = np.array([b.y for b in bins])
    stream = [b.waste_stream for b in bins]
    cap = np.array([b.capacity_l for b in bins], float)
    visits = np.array([(3 if b.quartier in THREE_A_WEEK else 2) if b.waste_stream == "ordures_menageres"
                       else 1 for b in bins])
    qf = np.array([QUARTIER_FILL.get(b.quartier, 1.0) for b in bins])
    exp_fill = np.minimum(1.1, np.array([DAILY_FILL[s] for s in stream]) * qf * 7 / visits)
    exp_kg = exp_fill * cap * np.array([DENSITY_KG_L[s] for s in stream])
    minutes = np.array([SERVICE_MIN[s] for s in stream]) + 2.0

    trucks = city.trucks
    caps = [float(t["capacity_kg"]) for t in trucks]
    sectors = _bisect(np.arange(n), x, y, visits * minutes, caps)
    depot = next(p for p in city.places if p.kind == "depot")
    rounds: dict[tuple[int, int], list[int]] = {}
    for k, sector in enumerate(sectors):
        load = np.zeros(7)
        day_bins: dict[int, list[int]] = {d: [] for d in range(1, 7)}
        day_streams: dict[int, set[str]] = {d: set() for d in range(1, 7)}
        sec = sector.tolist()
        # ordures ménagères: geographic sub-sectors, one per weekday pattern
        for v, patterns in ((3, PATTERNS_3), (2, PATTERNS_2)):
            grp = np.array([b for b in sec if visits[b] == v], dtype=int)
            if len(grp) == 0:
                continue
            parts = _bisect(grp, x, y, minutes, [1.0] * len(patterns))
            pats = sorted(patterns, key=lambda p: (sum(load[d] for d in p), p))
            for part, pat in zip(sorted(parts, key=lambda a: -minutes[a].sum()), pats):
                for d in pat:
                    day_bins[d] += part.tolist(); load[d] += minutes[part].sum()
                    day_streams[d].add("ordures_menageres")
        # weekly streams: chunks of about 90 minutes on the least loaded days
        for s in BLOCK_ORDER:
            grp = np.array([b for b in sec if visits[b] == 1 and stream[b] == s], dtype=int)
            if len(grp) == 0:
                continue
            nparts = int(min(6, max(1, math.ceil(minutes[grp].sum() / 90.0))))
            parts = _bisect(grp, x, y, minutes, [1.0] * nparts)
            for part in sorted(parts, key=lambda a: -minutes[a].sum()):
                if len(part) == 0:
                    continue
                d = min(range(1, 7), key=lambda d: (s in day_streams[d], load[d], d))
                day_bins[d] += part.tolist(); load[d] += minutes[part].sum() + BLOCK_PENALTY_MIN
                day_streams[d].add(s)
        for d, members in day_bins.items():
            if not members:
                continue
            seq: list[int] = []
            pos = (depot.x, depot.y)
            for s in BLOCK_ORDER:
                blk = sorted(b for b in members if stream[b] == s)
                if blk:
                    seq += _nn_order(blk, x, y, pos)
                    pos = (x[seq[-1]], y[seq[-1]])
            rounds[(k, d)] = seq
    return rounds, stream, exp_kg


# --------------------------------------------------------------------------------- main

def simulate_waste(city: City, landing: Path, truth: Path) -> dict:
    rng = np.random.default_rng(sub_seed(city.seed, "waste"))
    landing, truth = Path(landing), Path(truth)
    prof = city.profile
    bins = city.bins
    n = len(bins)
    bin_ids = [b.bin_id for b in bins]
    x = np.array([b.x for b in bins]); y = np.array([b.y for b in bins])
    cap = np.array([b.capacity_l for b in bins], float)
    stream = [b.waste_stream for b in bins]
    dens = np.array([DENSITY_KG_L[s] for s in stream])
    quartier = [b.quartier for b in bins]

    # ---- period and hour grid
    days = [prof.end_date - timedelta(prof.n_days - 1 - i) for i in range(prof.n_days)]
    t0 = datetime.combine(days[0], time(0), PARIS).astimezone(UTC)
    t1 = datetime.combine(prof.end_date + timedelta(1), time(0), PARIS).astimezone(UTC)
    T0, T1 = int(t0.timestamp()), int(t1.timestamp())
    H = (T1 - T0) // 3600
    local = [datetime.fromtimestamp(T0 + 3600 * h, PARIS) for h in range(H)]
    loc_hour = np.array([t.hour for t in local])
    loc_day = np.array([(t.date() - days[0]).days for t in local])
    D = len(days)

    hol = {}
    for yr in {d.year for d in days}:
        hol.update(public_holidays(yr))
    cal_rows = []
    is_hol = np.zeros(D); is_event = np.zeros(D); wd = np.array([d.isoweekday() for d in days])
    for i, d in enumerate(days):
        ph, sh, ev = hol.get(d, ""), school_holiday(d), events(d)
        is_hol[i] = 1.0 if (ph or sh) else 0.0
        is_event[i] = 1.0 if ev else 0.0
        cal_rows.append({"date": d.isoformat(), "iso_weekday": d.isoweekday(), "public_holiday": ph,
                         "school_holiday": int(sh), "event": ev})
    season = np.array([math.cos(2 * math.pi * (d.timetuple().tm_yday - 200) / 365) for d in days])
    n_calendar = write_city_calendar(days, landing)

    # ---- fixed rounds
    rounds, _, exp_kg = build_fixed_rounds(city, rng)
    trucks = city.trucks
    rr = []
    for (k, d), seq in sorted(rounds.items()):
        rid = f"R-{trucks[k]['truck_id']}-{d}"
        for i, b in enumerate(seq):
            rr.append({"round_id": rid, "truck_id": trucks[k]["truck_id"], "weekday": d,
                       "bin_id": bin_ids[b], "sequence": i + 1})
    atomic_write_text(landing / "reference" / "fixed_rounds.csv",
                      _csv(rr, ["round_id", "truck_id", "weekday", "bin_id", "sequence"]))

    # ---- planned pickups: (day index, truck index, weekday, bin, epoch seconds)
    depot = next(p for p in city.places if p.kind == "depot")
    disposal = next((p for p in city.places if p.kind == "disposal"), depot)

    def leg(ax, ay, bx, by):
        return math.hypot(bx - ax, by - ay) * DETOUR / TRUCK_SPEED_MS

    pickups: list[tuple[int, int, int, int, float]] = []
    for di, d in enumerate(days):
        if (d.month, d.day) in NO_COLLECTION or d.isoweekday() == 7:
            continue
        start = datetime.combine(d, time(5, 0), PARIS).timestamp()
        for k in range(len(trucks)):
            seq = rounds.get((k, d.isoweekday()))
            if not seq:
                continue
            t = start + rng.normal(0, 180)
            px, py = depot.x, depot.y
            load, prev = 0.0, None
            capkg = float(trucks[k]["capacity_kg"])
            noise = rng.lognormal(0, 0.15, size=(len(seq), 2))
            skip = rng.random(len(seq)) < 0.01
            for i, b in enumerate(seq):
                if prev is not None and (stream[b] != prev or load + exp_kg[b] > capkg):
                    t += leg(px, py, disposal.x, disposal.y) + UNLOAD_MIN * 60
                    px, py, load = disposal.x, disposal.y, 0.0
                t += leg(px, py, x[b], y[b]) * noise[i, 0]
                if not skip[i]:
                    pickups.append((di, k, d.isoweekday(), b, t))
                t += SERVICE_MIN[stream[b]] * 60 * noise[i, 1]
                load += exp_kg[b]
                px, py, prev = x[b], y[b], stream[b]
    pickups.sort(key=lambda p: (p[0], p[1], p[4]))

    # ---- latent hourly fill process
    qf = np.array([QUARTIER_FILL.get(q, 1.0) for q in quartier])
    rate = np.array([DAILY_FILL[s] for s in stream]) * qf * rng.lognormal(-0.06, 0.35, n)
    near_c = np.exp(-_dist_to_polyline(x, y, CROISETTE_LINE) / 700.0)
    diurnal = np.array([0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.7, 1.3, 1.7, 1.6, 1.3, 1.2,
                        1.4, 1.3, 1.0, 0.9, 1.0, 1.3, 1.6, 1.7, 1.6, 1.2, 0.7, 0.35])
    diurnal = diurnal / diurnal.mean()
    weekend = np.isin(wd, (6, 7)).astype(float); friday = (wd == 5).astype(float)
    dayf = ((1 + 0.2 * weekend + 0.08 * friday)[None, :]
            * (1 + near_c[:, None] * (0.45 * is_hol + 0.8 * is_event + 0.25 * season)[None, :])
            * rng.lognormal(-0.03, 0.25, (n, D)))
    market_mult = np.ones((n, H))
    market_hours = (loc_hour >= 6) & (loc_hour < 14)
    wd_names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    for m in (p for p in city.places if p.kind == "market"):
        mdays = {s.strip() for s in str(m.attributes.get("market_days", "")).split(",")}
        on = np.array([wd_names[d.weekday()] in mdays for d in days])
        w = np.clip(1 - np.hypot(x - m.x, y - m.y) / 300.0, 0, None)
        w[np.array([s == "verre" for s in stream])] = 0.0
        market_mult += 1.5 * w[:, None] * (on[loc_day] & market_hours)[None, :]
    noise = rng.gamma(3.0, 1 / 3.0, (n, H))
    inc = (rate / 24)[:, None] * diurnal[loc_hour][None, :] * dayf[:, loc_day] * market_mult * noise
    C = np.zeros((n, H + 1))
    np.cumsum(inc, axis=1, out=C[:, 1:])
    # warm start: what accumulated since the last scheduled pickup before the period
    bin_days: dict[int, set[int]] = {}
    for (k, d), seq in rounds.items():
        for b in seq:
            bin_days.setdefault(b, set()).add(d)
    w0 = days[0].isoweekday()
    since = np.array([next((kk for kk in range(1, 8) if ((w0 - kk - 1) % 7) + 1 in bin_days.get(b, ())), 7)
                      for b in range(n)], float) - 0.25
    init = rate * since * rng.lognormal(0, 0.25, n)
    marker = np.full((n, H + 1), -np.inf)
    marker[:, 0] = -init
    pick_frac = np.full((n, H), np.nan)
    pb = np.array([p[3] for p in pickups], dtype=int)
    pt = np.array([p[4] for p in pickups], dtype=float)
    ph = np.floor((pt - T0) / 3600).astype(int)
    ok = (ph >= 0) & (ph < H)
    pf = (pt - T0) / 3600 - ph
    pickups = [p for p, o in zip(pickups, ok) if o]
    pb, ph, pf, pt = pb[ok], ph[ok], pf[ok], pt[ok]
    marker[pb, ph + 1] = C[pb, ph] + pf * inc[pb, ph]
    pick_frac[pb, ph] = pf
    base = np.maximum.accumulate(marker, axis=1)
    fill_at_pickup = C[pb, ph] + pf * inc[pb, ph] - base[pb, ph]
    true_fill = C[:, :H] - base[:, :H]

    # ---- collection logs
    qnames = sorted(set(quartier))
    slope_q = {q: rng.normal(0, 0.5) for q in qnames}
    latent_c = rng.lognormal(-0.08, 0.4, n)
    p0 = np.array([CONTAM_STREAM[s] * CONTAM_QUARTIER.get(q, 1.0) for s, q in zip(stream, quartier)]) * latent_c
    slope = np.array([slope_q[q] for q in quartier])

    def p_contam(b, dfrac):
        return np.clip(p0[b] * np.exp(slope[b] * (dfrac - 0.5)), 0, 0.8)

    dfrac = np.array([p[0] for p in pickups]) / max(1, D - 1)
    contam = (rng.random(len(pickups)) < p_contam(pb, dfrac)).astype(int)
    crew = np.clip(np.round((fill_at_pickup + rng.normal(0, 0.07, len(pickups))) / 0.05) * 0.05, 0, 1)
    crew[fill_at_pickup > 1.0] = 1.0
    weight = np.minimum(fill_at_pickup, 1.5) * cap[pb] * dens[pb] * rng.lognormal(0, 0.12, len(pickups))
    by_day: dict[int, list[dict]] = {i: [] for i in range(D)}
    for j, (di, k, w_, b, t) in enumerate(pickups):
        by_day[di].append({
            "truck_id": trucks[k]["truck_id"], "round_id": f"R-{trucks[k]['truck_id']}-{w_}",
            "bin_id": bin_ids[b],
            "collected_at": datetime.fromtimestamp(round(t), PARIS).isoformat(timespec="seconds"),
            "net_weight_kg": f"{weight[j]:.1f}", "fill_level_at_pickup": f"{crew[j]:.2f}",
            "contamination": int(contam[j])})
    log_cols = ["truck_id", "round_id", "bin_id", "collected_at", "net_weight_kg",
                "fill_level_at_pickup", "contamination"]
    for di, d in enumerate(days):
        atomic_write_text(landing / "waste" / "collection_logs" / f"collecte_{d.isoformat()}.csv",
                          _csv(by_day[di], log_cols) if by_day[di] else ",".join(log_cols) + "\n")

    # ---- sensors
    n_sens = int(round(0.7 * n))
    sensor_bins = np.sort(rng.permutation(n)[:n_sens])
    per = H // 4 + 2
    phase = rng.uniform(0, 4 * 3600, n_sens)
    ts = np.round(T0 + phase[:, None] + 4 * 3600 * np.arange(per)[None, :] + rng.normal(0, 300, (n_sens, per)))
    keep = (ts >= T0) & (ts < T1) & (rng.random((n_sens, per)) >= 0.02)
    outage = rng.random(n_sens) < 0.05
    o_start = T0 + rng.uniform(0, max(1, T1 - T0 - 12 * 3600), n_sens)
    o_len = rng.uniform(12, 48, n_sens) * 3600
    keep &= ~(outage[:, None] & (ts >= o_start[:, None]) & (ts < (o_start + o_len)[:, None]))
    si, ki = np.nonzero(keep)
    rb = sensor_bins[si]
    rt = np.round(ts[si, ki]).astype(np.int64)
    order = np.lexsort((rb, rt))
    rb, rt = rb[order], rt[order]
    rh = np.clip((rt - T0) // 3600, 0, H - 1)
    rf = (rt - T0) / 3600 - rh
    val = C[rb, rh] + rf * inc[rb, rh] - base[rb, rh]
    pfr = pick_frac[rb, rh]
    after = ~np.isnan(pfr) & (pfr <= rf)
    val[after] = ((rf - np.nan_to_num(pfr)) * inc[rb, rh])[after]
    nr = len(rb)
    level = np.clip(val + rng.uniform(-0.03, 0.03, nr), 0, 1)
    u = rng.random(nr)
    status = np.full(nr, "ok", dtype=object)
    status[u < 0.008] = "lidOpen"
    status[(u >= 0.008) & (u < 0.009)] = "dropped"
    status[(u >= 0.009) & (u < 0.011)] = "moved"
    status[(u >= 0.011) & (u < 0.012)] = "vandalized"
    status[(u >= 0.012) & (u < 0.0123)] = "burning"
    status[(val > 1.0) & (rng.random(nr) < 0.5)] = "lidOpen"
    doy = np.array([days[i].timetuple().tm_yday for i in loc_day[rh]])
    temp = (16 + 7 * np.cos(2 * np.pi * (doy - 205) / 365)
            + 4 * np.cos(2 * np.pi * (loc_hour[rh] - 15) / 24)
            + np.where(np.array([stream[b] == "biodechets" for b in rb]), 2.5 * np.minimum(val, 1.2), 0)
            + rng.normal(0, 1.0, nr))
    burning = status == "burning"
    temp[burning] = rng.uniform(70, 150, int(burning.sum()))
    cargo = level * cap[rb] * dens[rb]
    stamps = _iso_utc(rt)
    lines_by_day: dict[int, list[str]] = {i: [] for i in range(D)}
    rdays = loc_day[rh]
    for j in range(nr):
        b = rb[j]
        obj = {"message_id": str(uuid.uuid5(WASTE_NS, f"{bin_ids[b]}|{stamps[j]}")),
               "id": f"urn:ngsi-ld:WasteContainer:{bin_ids[b]}", "type": "WasteContainer",
               "dateObserved": stamps[j], "fillingLevel": round(float(level[j]), 3),
               "binCapacity": int(cap[b]), "storedWasteKind": stream[b], "status": status[j],
               "temperature": round(float(temp[j]), 1), "cargoWeight": round(float(cargo[j]), 1)}
        lines_by_day[int(rdays[j])].append(json.dumps(obj, ensure_ascii=False))
    for di, d in enumerate(days):
        body = "\n".join(lines_by_day[di]) + ("\n" if lines_by_day[di] else "")
        atomic_write_text(landing / "waste" / "bin_sensors" / f"capteurs_{d.isoformat()}.jsonl", body)

    # ---- litter
    n_det, litter_rows = _simulate_litter(city, rng, days, hol, landing, truth)

    # ---- truth
    tdir = truth / "waste"
    tf = true_fill.astype(np.float32)
    table = pa.table({
        "bin_id": pa.array(np.repeat(np.array(bin_ids, dtype=object), H), pa.string()),
        "ts": pa.array(np.tile((T0 + 3600 * np.arange(H, dtype=np.int64)) * 1_000_000, n),
                       pa.timestamp("us", tz="UTC")),
        "true_fill": pa.array(np.round(tf, 4).ravel(), pa.float32()),
        "overflow": pa.array((true_fill > 1.0).ravel(), pa.bool_()),
    })
    atomic_write_bytes(tdir / "fill_hourly.parquet", _parquet_bytes(table))
    atomic_write_text(tdir / "calendar.csv", _csv(cal_rows, ["date", "iso_weekday", "public_holiday",
                                                             "school_holiday", "event"]))
    crow = [{"bin_id": bin_ids[b], "quartier": quartier[b], "waste_stream": stream[b],
             "p_first_day": f"{p_contam(b, 0.0):.4f}", "p_last_day": f"{p_contam(b, 1.0):.4f}"}
            for b in range(n)]
    atomic_write_text(tdir / "contamination.csv",
                      _csv(crow, ["bin_id", "quartier", "waste_stream", "p_first_day", "p_last_day"]))

    return {"days": D, "rounds": len(rounds), "round_stops": len(rr), "collections": len(pickups),
            "overflow_at_pickup": int((fill_at_pickup > 1.0).sum()),
            "mean_fill_at_pickup": round(float(np.mean(fill_at_pickup)), 3) if len(pickups) else 0.0,
            "sensor_bins": n_sens, "sensor_readings": nr, "litter_detections": n_det,
            "litter_truth_rows": litter_rows, "calendar_periods": n_calendar,
            "overflow_bin_hours_pct": round(100 * float((true_fill > 1.0).mean()), 2)}


def _simulate_litter(city: City, rng, days, hol, landing: Path, truth: Path) -> tuple[int, int]:
    segs = city.segments
    S = len(segs)
    x0 = np.array([s.x0 for s in segs]); y0 = np.array([s.y0 for s in segs])
    x1 = np.array([s.x1 for s in segs]); y1 = np.array([s.y1 for s in segs])
    L = np.hypot(x1 - x0, y1 - y0)
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    markets = [p for p in city.places if p.kind == "market"]
    d_market = (np.min([np.hypot(mx - m.x, my - m.y) for m in markets], axis=0)
                if markets else np.full(S, np.inf))
    market_w = np.exp(-d_market / 150.0)
    beach_w = np.exp(-_dist_to_polyline(mx, my, COAST) / 150.0)
    night_w = np.array([1.0 if s.street_name in NIGHTLIFE_STREETS else 0.0 for s in segs])
    night_w *= rng.uniform(0.5, 1.0, S)
    hill = np.array([1.0 if s.quartier in HILL_QUARTIERS and s.road_class == "residential" else 0.0
                     for s in segs])
    dump = np.array([1.0 if s.quartier in DUMPING_QUARTIERS else 0.0 for s in segs])
    seg_noise = rng.lognormal(-0.12, 0.5, S)
    K = len(LITTER_CATEGORIES)
    rate = np.zeros((S, K))
    for j, c in enumerate(LITTER_CATEGORIES):
        m = ((1 + (MARKET_MULT.get(c, 1.0) - 1) * market_w)
             * (1 + (BEACH_MULT.get(c, 1.0) - 1) * beach_w)
             * (1 + (NIGHT_MULT.get(c, 1.0) - 1) * night_w))
        if c in ("dog_waste", "leaves"):
            m = m * (1 + hill)
        if c == "bulky_item":
            m = m * (1 + 2 * dump)
        rate[:, j] = LITTER_BASE[c] * m * seg_noise * rng.lognormal(-0.045, 0.3, S)
    zone = []
    for i in range(S):
        z = [name for name, w in (("market", market_w[i]), ("beach", beach_w[i]),
                                  ("nightlife", night_w[i])) if w > 0.35]
        zone.append("+".join(z) if z else "none")
    rows = [{"segment_id": segs[i].segment_id, "category": c, "rate_per_100m": f"{rate[i, j]:.4f}",
             "zone": zone[i]} for i in range(S) for j, c in enumerate(LITTER_CATEGORIES)]
    atomic_write_text(truth / "waste" / "litter_intensity.csv",
                      _csv(rows, ["segment_id", "category", "rate_per_100m", "zone"]))

    total = rate.sum(axis=1)
    priority = total >= np.quantile(total, 0.85)
    group = rng.integers(0, 4, S)
    n_sw = max(1, int(round(city.street_km / 80)))
    vehicles = [f"BAL-{i + 1:02d}" for i in range(n_sw)]
    sectors = _bisect(np.arange(S), mx, my, L, [1.0] * n_sw)
    depot = next(p for p in city.places if p.kind == "depot")
    cat_arr = np.array(LITTER_CATEGORIES, dtype=object)
    clus = np.array([LITTER_CLUSTER.get(c, 1.1) for c in LITTER_CATEGORIES])
    night_cats = np.array([c in ("cigarette_butt", "can", "bottle", "glass") for c in LITTER_CATEGORIES])
    beach_cats = np.array([c in BEACH_MULT for c in LITTER_CATEGORIES])
    leaves = np.array([c == "leaves" for c in LITTER_CATEGORIES])
    schema = pa.schema([("detection_id", pa.string()), ("detected_at", pa.timestamp("us", tz="UTC")),
                        ("vehicle_id", pa.string()), ("category", pa.string()), ("count", pa.int32()),
                        ("lat", pa.float64()), ("lon", pa.float64()), ("confidence", pa.float32())])
    n_total = 0
    for di, d in enumerate(days):
        wdn = d.isoweekday()
        holiday = bool(hol.get(d)) or school_holiday(d) or bool(events(d))
        dayf = np.ones(K)
        if wdn in (6, 7):
            dayf = dayf * np.where(night_cats, 1.4, 1.0)
        if holiday:
            dayf = dayf * np.where(beach_cats, 1.3, 1.0)
        if d.month >= 10:
            dayf = dayf * np.where(leaves, 1.6, 1.0)
        driven = priority | ((group == di % 4) & (wdn != 7))
        cols: dict[str, list] = {k: [] for k in ("vid", "t", "cat", "cnt", "x", "y", "conf")}
        for v, sector in enumerate(sectors):
            segs_v = [int(i) for i in sector if driven[i]]
            if not segs_v:
                continue
            order = _nn_order(segs_v, mx, my, (depot.x, depot.y))
            oa = np.array(order)
            gaps = np.hypot(x0[oa] - np.r_[depot.x, x1[oa][:-1]], y0[oa] - np.r_[depot.y, y1[oa][:-1]])
            dur = L[oa] / SWEEP_SPEED_MS * rng.lognormal(0, 0.1, len(oa))
            transit = gaps * 1.3 / SWEEP_TRANSIT_MS
            start0 = datetime.combine(d, time(5, 30), PARIS).timestamp() + rng.normal(0, 300)
            starts = start0 + np.cumsum(transit) + np.r_[0, np.cumsum(dur)[:-1]]
            lam = rate[oa] * (L[oa] / 100)[:, None] * dayf[None, :] * RECALL / clus[None, :]
            N = rng.poisson(lam)
            si, ci = np.nonzero(N)
            reps = N[si, ci]
            si = np.repeat(si, reps); ci = np.repeat(ci, reps)
            m = len(si)
            cnt = 1 + rng.poisson(clus[ci] - 1)
            conf = np.minimum(rng.beta(8, 1.6, m), 0.999)
            # false positives
            nf = rng.binomial(max(1, m), 0.02)
            if nf:
                si = np.r_[si, rng.integers(0, len(oa), nf)]
                ci = np.r_[ci, rng.integers(0, K, nf)]
                cnt = np.r_[cnt, np.ones(nf, int)]
                conf = np.r_[conf, rng.beta(2.5, 3, nf) * 0.8]
                m += nf
            tt = rng.uniform(0, 1, m)
            sg = oa[si]
            cols["vid"] += [vehicles[v]] * m
            cols["t"].append(starts[si] + tt * dur[si])
            cols["cat"].append(cat_arr[ci])
            cols["cnt"].append(cnt)
            cols["x"].append(x0[sg] + tt * (x1[sg] - x0[sg]) + rng.normal(0, 2.1, m))
            cols["y"].append(y0[sg] + tt * (y1[sg] - y0[sg]) + rng.normal(0, 2.1, m))
            cols["conf"].append(conf)
        if cols["t"]:
            t_all = np.concatenate(cols["t"]); vid = np.array(cols["vid"], dtype=object)
            cat = np.concatenate(cols["cat"]); cnt = np.concatenate(cols["cnt"]).astype(np.int32)
            lon, lat = to_wgs84(np.concatenate(cols["x"]), np.concatenate(cols["y"]))
            conf = np.round(np.concatenate(cols["conf"]), 3).astype(np.float32)
            us = np.round(t_all * 1e6).astype(np.int64)
            order = np.lexsort((lon, us, vid.astype(str)))
        else:
            t_all = np.zeros(0); vid = np.zeros(0, dtype=object); cat = np.zeros(0, dtype=object)
            cnt = np.zeros(0, np.int32); lon = lat = np.zeros(0); conf = np.zeros(0, np.float32)
            us = np.zeros(0, np.int64); order = np.zeros(0, int)
        ids, counter = [], {}
        for v in vid[order]:
            counter[v] = counter.get(v, 0) + 1
            ids.append(f"LIT-{d.strftime('%Y%m%d')}-{v}-{counter[v]:05d}")
        table = pa.table([pa.array(ids, pa.string()), pa.array(us[order], pa.timestamp("us", tz="UTC")),
                          pa.array(vid[order].tolist(), pa.string()),
                          pa.array(cat[order].tolist(), pa.string()), pa.array(cnt[order], pa.int32()),
                          pa.array(np.round(np.asarray(lat)[order], 7), pa.float64()),
                          pa.array(np.round(np.asarray(lon)[order], 7), pa.float64()),
                          pa.array(conf[order], pa.float32())], schema=schema)
        atomic_write_bytes(landing / "waste" / "litter" / f"litter_{d.isoformat()}.parquet",
                           _parquet_bytes(table))
        n_total += len(ids)
    return n_total, len(rows)
