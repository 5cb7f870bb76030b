"""Fixed rounds vs the platform's plans over a simulated month (models/waste/month.py).

Prints km, truck hours, bins emptied, mean fill at emptying and overflow bin-days for both
policies on the same city, the same waste and the same street network. Targets: at least 20%
fewer km for the platform, and no more overflows.

    .venv/bin/python bench/waste_month_bench.py [--profile demo] [--days 30] [--seed 5] [--vrp-seconds 2]
"""

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.simulator.city import build_city  # noqa: E402
from models.waste.month import simulate_month  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--start", default="2026-06-01")
    ap.add_argument("--vrp-seconds", type=float, default=2.0)
    ap.add_argument("--threshold", type=float, default=0.85, help="select a bin when its forecast fill at "
                    "collection time reaches this (the nightly asset uses the same)")
    ap.add_argument("--workers", type=int, default=1, help="processes per daily solve (the nightly asset uses 2)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    city = build_city(a.profile, a.seed)
    r = simulate_month(city, a.days, date.fromisoformat(a.start), a.seed, a.vrp_seconds, a.workers, a.threshold)
    f, p = r["fixed"], r["platform"]
    load = os.getloadavg()
    print(f"{a.days} days from {a.start}, {a.profile} city seed {a.seed}: {r['bins']} bins, {r['trucks']} trucks, "
          f"{r['sensor_share']:.0%} with a sensor; {time.perf_counter() - t0:.0f} s, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"selection threshold {a.threshold}, {a.vrp_seconds} s per daily solve")
    print(f"{'policy':<14}{'km':>10}{'truck h':>10}{'emptied':>10}{'fill@empty':>12}{'overflow bin-days':>20}{'dropped':>9}")
    for row in (f, p):
        print(f"{row['policy']:<14}{row['km']:>10.1f}{row['truck_hours']:>10.1f}{row['bins_emptied']:>10}"
              f"{row['mean_fill_at_emptying']:>12.2f}{row['overflow_bin_days']:>20}{row['dropped']:>9}")
    saved = 100 * (1 - p["km"] / f["km"]) if f["km"] else 0.0
    ok = saved >= 20 and p["overflow_bin_days"] <= f["overflow_bin_days"]
    print(f"km saved: {saved:.1f}% (target >= 20%); overflows {p['overflow_bin_days']} vs {f['overflow_bin_days']} "
          f"(target: no more) -> {'PASS' if ok else 'FAIL'}")
    out = Path(__file__).resolve().parent / "results" / "waste_month.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**r, "km_saved_pct": round(saved, 1), "pass": ok,
                               "load_average": [round(x, 2) for x in load]}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
