"""Fixed rounds vs the platform's plans over a simulated month (models/simulator/waste_month.py).

Three policies on the same city, the same waste and the same street network: the fixed weekly
rounds; the platform as the nightly assets run it (readings -> daily fill rates -> GRU forecaster
trained on the weeks before the month and retrained weekly on what was seen so far -> forecast
table -> selection with reasons -> OR-Tools routes); and the same chain with a running-mean rate
instead of the GRU. Prints km, truck hours, bins emptied, mean fill at emptying and overflow
bin-days, plus the forecast error of the rates planned on. Targets for the platform (GRU): at
least 20% fewer km than the fixed rounds, and no more overflows.

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
from models.waste import planning as P  # noqa: E402
from models.simulator.waste_month import POLICIES, simulate_month  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--start", default="2026-06-01")
    ap.add_argument("--vrp-seconds", type=float, default=2.0)
    ap.add_argument("--threshold", type=float, default=P.SELECT_THRESHOLD,
                    help="select a bin when its forecast fill at collection time reaches this (the nightly asset "
                         "uses models.waste.planning.SELECT_THRESHOLD)")
    ap.add_argument("--workers", type=int, default=1, help="processes per daily solve (the nightly asset uses 2)")
    ap.add_argument("--retrain-days", type=int, default=7, help="retrain the GRU every N days on the data seen "
                    "so far (0: train once before the month)")
    ap.add_argument("--train-seconds", type=float, default=20.0)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    city = build_city(a.profile, a.seed)
    pol = tuple(a.policies.split(","))
    r = simulate_month(city, a.days, date.fromisoformat(a.start), a.seed, a.vrp_seconds, a.workers, a.threshold,
                       policies=pol, retrain_days=a.retrain_days, train_seconds=a.train_seconds,
                       progress=print if a.verbose else None)
    load = os.getloadavg()
    print(f"{a.days} days from {a.start} ({r['history_days']} days of history under the fixed rounds before), "
          f"{a.profile} city seed {a.seed}: {r['bins']} bins, {r['trucks']} trucks, {r['sensor_share']:.0%} with a "
          f"sensor; {time.perf_counter() - t0:.0f} s, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"selection threshold {a.threshold}, {a.vrp_seconds} s per daily solve, GRU retrained every "
          f"{a.retrain_days or 'never'} days")
    print(f"{'policy':<24}{'km':>9}{'truck h':>9}{'emptied':>9}{'fill@empty':>12}{'overflow bin-days':>19}"
          f"{'dropped':>9}{'rate MAE':>10}{'bias':>9}")
    for p in pol:
        row = r[p]
        mae = f"{row['mae_rate']:.4f}" if row["mae_rate"] is not None else "-"
        bias = f"{row['bias_rate']:+.4f}" if row["bias_rate"] is not None else "-"
        print(f"{p:<24}{row['km']:>9.1f}{row['truck_hours']:>9.1f}{row['bins_emptied']:>9}"
              f"{row['mean_fill_at_emptying']:>12.2f}{row['overflow_bin_days']:>19}{row['dropped']:>9}{mae:>10}{bias:>9}")
    ok = True
    out = {**r, "load_average": [round(x, 2) for x in load]}
    if "fixed" in r:
        f = r["fixed"]
        for p in pol:
            if p == "fixed":
                continue
            saved = 100 * (1 - r[p]["km"] / f["km"]) if f["km"] else 0.0
            hsaved = 100 * (1 - r[p]["truck_hours"] / f["truck_hours"]) if f["truck_hours"] else 0.0
            good = saved >= 20 and r[p]["overflow_bin_days"] <= f["overflow_bin_days"]
            out[p] = {**r[p], "km_saved_pct": round(saved, 1), "hours_saved_pct": round(hsaved, 1), "pass": good}
            print(f"{p}: km saved {saved:.1f}% (target >= 20%), truck hours saved {hsaved:.1f}%; overflows "
                  f"{r[p]['overflow_bin_days']} vs {f['overflow_bin_days']} (target: no more) -> "
                  f"{'PASS' if good else 'FAIL'}")
            if p == "platform_gru":
                ok = good
    res = Path(__file__).resolve().parent / "results" / "waste_month.json"
    res.parent.mkdir(exist_ok=True)
    res.write_text(json.dumps({**out, "pass": ok}, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
