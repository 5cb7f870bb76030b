"""Bin fill forecast: MAE on held-out days, GRU model vs seasonal-naive baseline.

Simulates a city (demo size, a seed the pipeline's tests do not use) over a long period, takes
the sensor readings exactly as the landing zone holds them, derives the daily fill rates the
platform derives (transforms.waste.daily_fill_rates), trains on all but the last `--holdout`
days and prints the mean absolute error of the one-day-ahead daily fill rate (share of the
bin's capacity per day) on the held-out days, for the model and for the seasonal-naive
baseline (same weekday one week earlier). Target: model MAE at least 20% lower.

    .venv/bin/python bench/waste_forecast_bench.py [--days 150] [--holdout 28] [--seed 2024]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.simulator.city import PROFILES, build_city  # noqa: E402
from models.simulator.waste import simulate_waste  # noqa: E402
from models.simulator.waste_month import month_calendar  # noqa: E402
from models.waste import calendar as WC  # noqa: E402
from models.waste import forecast as F  # noqa: E402
from transforms import waste as T  # noqa: E402
from transforms.parsing import parse_bin_readings  # noqa: E402


def sensor_panel(landing: Path, city) -> F.Panel:
    parts = []
    for f in sorted((landing / "waste" / "bin_sensors").glob("*.jsonl")):
        parts.append(parse_bin_readings(f.read_bytes(), f.name).good.with_columns(pl.lit(f.name).alias("_source_file")))
    readings = T.bin_readings(pl.concat(parts))
    rates = T.daily_fill_rates(readings)
    bins = sorted(rates["bin_id"].unique().to_list())
    d0, d1 = rates["day"].min(), rates["day"].max()
    days = [d0 + timedelta(i) for i in range((d1 - d0).days + 1)]
    idx = {b: i for i, b in enumerate(bins)}
    R = np.full((len(bins), len(days)), np.nan, np.float32)
    for b, d, r in rates.select("bin_id", "day", "rate_per_day").iter_rows():
        R[idx[b], (d - d0).days] = r
    pos = {b.bin_id: (b.x, b.y) for b in city.bins}
    markets = pl.DataFrame([{"x_2154": p.x, "y_2154": p.y, "attributes": json.dumps(p.attributes)}
                            for p in city.places if p.kind == "market"],
                           schema={"x_2154": pl.Float64, "y_2154": pl.Float64, "attributes": pl.Utf8})
    M = WC.market_matrix([pos[b][0] for b in bins], [pos[b][1] for b in bins], markets, days)
    return F.build_panel(bins, days, R, M, month_calendar(days))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=150)
    ap.add_argument("--holdout", type=int, default=28)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--train-seconds", type=float, default=90.0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    prof = replace(PROFILES["demo"], name="forecast-bench", n_days=a.days)
    city = build_city(prof, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        landing, truth = Path(tmp) / "landing", Path(tmp) / "truth"
        simulate_waste(city, landing, truth)
        t_sim = time.perf_counter() - t0
        panel = sensor_panel(landing, city)
    D = len(panel.days)
    train_days = list(range(8, D - a.holdout))
    test_days = list(range(D - a.holdout, D))
    cfg = F.ForecastConfig(epochs=40, max_seconds=a.train_seconds)
    model, info = F.train(panel, train_days, cfg)
    m = F.evaluate(model, panel, test_days, cfg.window)
    load = os.getloadavg()
    res = {"bins_with_sensor": len(panel.bins), "days": D, "train_days": len(train_days), "holdout_days": len(test_days),
           "train_samples": info["samples"], "train_seconds": info["seconds"], "epochs": info["epochs_run"],
           "simulate_seconds": round(t_sim, 1), **m, "load_average": [round(x, 2) for x in load], "seed": a.seed}
    print(f"fill forecast, demo city seed {a.seed}: {len(panel.bins)} sensor bins, {D} days, "
          f"held-out last {len(test_days)} days ({m['pairs']} bin-days)")
    print(f"  MAE daily fill rate (share of capacity/day): model {m['mae_model']:.4f}   "
          f"seasonal naive {m['mae_seasonal_naive']:.4f}   -> {m['improvement_pct']:.1f}% lower (target >= 20%)")
    print(f"  training {info['samples']} samples, {info['epochs_run']} epochs, {info['seconds']} s; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    out = Path(__file__).resolve().parent / "results" / "waste_forecast.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    return 0 if m["improvement_pct"] >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
