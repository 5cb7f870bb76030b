"""Vehicle-routing benchmark: run the project's OR-Tools solver on the public instances in
``../shared/benchmarks/vrp`` and compare with the best-known solutions (BKS).

    .venv/bin/python bench/vrp_bench.py                       # every instance, 10 s and 30 s
    .venv/bin/python bench/vrp_bench.py --limits 10 --instances A-n32-k5 C101
    .venv/bin/python bench/vrp_bench.py --limits 30 --single base sa   # measure single configs

For each instance and time limit it prints cost, BKS, gap % (cost / BKS - 1), whether the plan is
feasible (every customer served, capacities / windows / fleet respected, checked independently
of the solver), vehicles used and wall time; then the mean gap over the CVRP instances and over
the Solomon (VRPTW) instances per limit. Before solving it re-costs every BKS with the same
integer conventions (it must match exactly). Results also go to ``bench/results/*.json``.

Default mode runs :func:`models.routing.solve` (two differently configured ILS searches side by
side on two processes, the better kept). ``--single`` runs named configurations one at a time
in a single process each (two instances at a time, one per core) and prints the best-of-two for
every pair, which is how ``DEFAULT_CONFIGS`` was chosen. The machine's load average is recorded:
other CPU-heavy jobs distort the timings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.routing import (  # noqa: E402
    DEFAULT_CONFIGS,
    SearchConfig,
    problem_from_instance,
    read_instance,
    read_solution,
    solution_cost,
    solve,
    solve_single,
)

VRP_DIR = ROOT.parent / "shared" / "benchmarks" / "vrp"
RESULTS = ROOT / "bench" / "results"

# Configurations compared with --single (names usable on the command line).
TUNING_CONFIGS: dict[str, SearchConfig] = {
    "base": SearchConfig(name="base", first_solution="PATH_CHEAPEST_ARC"),
    "sa": SearchConfig(name="sa", acceptance="sa"),
    "r20s15": SearchConfig(name="r20s15", sisr_avg_removed=20, sisr_max_sequence=15),
    "r20s15sa": SearchConfig(name="r20s15sa", sisr_avg_removed=20, sisr_max_sequence=15, acceptance="sa"),
    "r25s15": SearchConfig(name="r25s15", sisr_avg_removed=25, sisr_max_sequence=15),
    "r15s15": SearchConfig(name="r15s15", sisr_avg_removed=15, sisr_max_sequence=15),
    "r10": SearchConfig(name="r10", sisr_avg_removed=10, sisr_max_sequence=10),
    "savings": SearchConfig(name="savings", first_solution="SAVINGS"),
    "pci": SearchConfig(name="pci", first_solution="PARALLEL_CHEAPEST_INSERTION"),
    "lcci": SearchConfig(name="lcci", recreate="LOCAL_CHEAPEST_COST_INSERTION"),
    "fullops": SearchConfig(name="fullops", lean_operators=False),
    "gls": SearchConfig(name="gls", metaheuristic="GLS", lean_operators=False),
    "savr25": SearchConfig(name="savr25", first_solution="SAVINGS", sisr_avg_removed=25, sisr_max_sequence=15),
    "pcir25": SearchConfig(name="pcir25", first_solution="PARALLEL_CHEAPEST_INSERTION", sisr_avg_removed=25,
                           sisr_max_sequence=15),
    "pcilcci": SearchConfig(name="pcilcci", first_solution="PARALLEL_CHEAPEST_INSERTION",
                            recreate="LOCAL_CHEAPEST_COST_INSERTION"),
    "savlcci": SearchConfig(name="savlcci", first_solution="SAVINGS", recreate="LOCAL_CHEAPEST_COST_INSERTION"),
}
for _c in DEFAULT_CONFIGS:
    TUNING_CONFIGS.setdefault(_c.name, _c)


def instance_files(vrp_dir: Path, names: list[str] | None) -> list[Path]:
    files = sorted(vrp_dir.glob("*.vrp")) + sorted(vrp_dir.glob("*.txt"))
    files = [f for f in files if f.with_suffix(".sol").exists()]
    if names:
        wanted = {n.rsplit(".", 1)[0] for n in names}
        missing = wanted - {f.stem for f in files}
        if missing:
            raise SystemExit(f"unknown instances: {sorted(missing)}")
        files = [f for f in files if f.stem in wanted]
    return files


def check_bks(files: list[Path]) -> list[dict]:
    """Re-cost every BKS with the reader's integer matrix; it must match the published cost."""
    out = []
    for f in files:
        inst = read_instance(f)
        bks = read_solution(f.with_suffix(".sol"))
        cost = solution_cost(inst.distance, bks.routes)
        out.append({"instance": inst.name, "recost": cost / inst.scale, "bks": bks.cost,
                    "exact": cost == round(bks.cost * inst.scale)})
    return out


def run_one(args: tuple) -> dict:
    """Solve one instance (default pair, or one named config in this process)."""
    path, limit, config_name, workers = args[:4]
    solutions = args[4] if len(args) > 4 else None
    path = Path(path)
    inst = read_instance(path)
    bks = read_solution(path.with_suffix(".sol"))
    problem = problem_from_instance(inst)
    t0 = time.perf_counter()
    if config_name is None:
        sol = solve(problem, time_limit_s=limit, workers=workers, solution_limit=solutions)
    else:
        sol = solve_single(problem, TUNING_CONFIGS[config_name], time_limit_s=limit, solution_limit=solutions)
    wall = time.perf_counter() - t0
    cost = sol.total_distance / inst.scale
    feasible = sol.feasible and len(sol.routes) <= problem.num_vehicles
    return {
        "instance": inst.name,
        "kind": inst.kind,
        "limit_s": limit,
        "solution_limit": solutions,
        "config": config_name or "+".join(c.name for c in DEFAULT_CONFIGS),
        "cost": round(cost, 1),
        "bks": bks.cost,
        "gap_pct": round((cost / bks.cost - 1) * 100, 3) if sol.found else None,
        "feasible": feasible,
        "dropped": len(sol.dropped),
        "violations": sol.violations[:5],
        "vehicles": sol.vehicles_used,
        "bks_vehicles": len(bks.routes),
        "time_s": round(wall, 2),
        "status": sol.status,
        "best_run": sol.config.get("name"),
        "runs": sol.runs,
    }


def print_row(r: dict) -> None:
    gap = f"{r['gap_pct']:7.2f}" if r["gap_pct"] is not None else "    n/a"
    print(f"{r['instance']:<12} {r['best_run']:<22} {r['limit_s']:>5.0f} {r['cost']:>10.1f} {r['bks']:>10.1f} {gap} "
          f"{'yes' if r['feasible'] else 'NO':>8} {r['vehicles']:>4}/{r['bks_vehicles']:<3} {r['time_s']:>6.1f}",
          flush=True)


def summarise(rows: list[dict]) -> dict:
    """Mean gap per (config, limit) over CVRP and over Solomon instances (infeasible counted)."""
    out: dict = {}
    for (cfg, lim), grp in itertools.groupby(sorted(rows, key=lambda r: (r["config"], r["limit_s"])),
                                             key=lambda r: (r["config"], r["limit_s"])):
        grp = list(grp)
        entry = {}
        for kind, label in (("cvrp", "cvrp"), ("vrptw", "solomon")):
            k = [r for r in grp if r["kind"] == kind]
            if not k:
                continue
            gaps = [r["gap_pct"] for r in k if r["gap_pct"] is not None]
            entry[label] = {
                "instances": len(k),
                "mean_gap_pct": round(sum(gaps) / len(gaps), 3) if gaps else None,
                "feasible": sum(r["feasible"] for r in k),
            }
        out[f"{cfg}@{lim:g}s"] = entry
    return out


def pair_table(rows: list[dict]) -> list[dict]:
    """Best-of-two of every pair of single configs (what two parallel runs would keep)."""
    by: dict = {}
    for r in rows:
        by.setdefault((r["config"], r["limit_s"]), {})[r["instance"]] = r
    res = []
    for lim in sorted({r["limit_s"] for r in rows}):
        names = sorted(c for (c, lm) in by if lm == lim)
        for a, b in itertools.combinations(names, 2):
            da, db = by[(a, lim)], by[(b, lim)]
            common = sorted(set(da) & set(db))
            entry = {"limit_s": lim, "pair": f"{a}+{b}"}
            for kind, label in (("cvrp", "cvrp"), ("vrptw", "solomon")):
                gaps = [min(da[i]["gap_pct"], db[i]["gap_pct"]) for i in common
                        if da[i]["kind"] == kind and da[i]["gap_pct"] is not None and db[i]["gap_pct"] is not None]
                if gaps:
                    entry[label] = round(sum(gaps) / len(gaps), 3)
            res.append(entry)
    return sorted(res, key=lambda e: (e["limit_s"], e.get("cvrp", 99) + e.get("solomon", 0)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limits", type=float, nargs="+", default=[10.0, 30.0], help="time limits in seconds")
    ap.add_argument("--instances", nargs="+", help="instance names (default: all)")
    ap.add_argument("--solutions", type=int, help="solution limit per search (reproducible; the time limit is "
                                                  "then only the wall-clock safety net)")
    ap.add_argument("--dir", type=Path, default=VRP_DIR, help="instance folder")
    ap.add_argument("--workers", type=int, default=2, help="processes per solve (default pair mode)")
    ap.add_argument("--single", nargs="+", metavar="CONFIG", choices=sorted(TUNING_CONFIGS),
                    help="measure these configurations one at a time instead of the default pair")
    ap.add_argument("--out", type=Path, help="JSON output (default bench/results/vrp_bench_<time>.json)")
    args = ap.parse_args(argv)

    if not args.dir.is_dir():
        print(f"VRP benchmark instances not found at {args.dir}: skipping (nothing to do).")
        return 0
    files = instance_files(args.dir, args.instances)
    if not files:
        print(f"no instances with a .sol file in {args.dir}: skipping.")
        return 0

    load_before = os.getloadavg()
    mode = "single configs " + ", ".join(args.single) if args.single else (
        "default pair " + " + ".join(c.name for c in DEFAULT_CONFIGS) + f" on {args.workers} processes")
    print(f"{len(files)} instances from {args.dir}; limits {args.limits}; {mode}; cpus {os.cpu_count()}; "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    bks_check = check_bks(files)
    bad = [b for b in bks_check if not b["exact"]]
    print(f"BKS re-cost: {len(bks_check) - len(bad)}/{len(bks_check)} exact" +
          (f"; MISMATCH {bad}" if bad else ""))

    header = (f"{'instance':<12} {'best run':<22} {'limit':>5} {'cost':>10} {'BKS':>10} {'gap %':>7} "
              f"{'feasible':>8} {'veh/BKS':>8} {'time s':>6}")
    print(header)
    print("-" * len(header))
    rows: list[dict] = []
    t_start = time.time()
    if args.single:
        jobs = [(str(f), lim, c, 1, args.solutions) for lim in args.limits for c in args.single for f in files]
        with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as ex:
            for r in ex.map(run_one, jobs):
                rows.append(r)
                print_row(r)
    else:
        for lim in args.limits:
            for f in files:
                r = run_one((str(f), lim, None, args.workers, args.solutions))
                rows.append(r)
                print_row(r)
    load_after = os.getloadavg()

    summary = summarise(rows)
    print()
    print(f"{'config@limit':<40} {'CVRP mean gap %':>16} {'feasible':>9} {'Solomon mean gap %':>19} {'feasible':>9}")
    for key, e in summary.items():
        cv, so = e.get("cvrp", {}), e.get("solomon", {})

        def fmt(d: dict) -> tuple[str, str]:
            if not d:
                return "-", "-"
            g = "n/a" if d["mean_gap_pct"] is None else f"{d['mean_gap_pct']:.2f}"
            return g, f"{d['feasible']}/{d['instances']}"

        a, b = fmt(cv)
        c, d = fmt(so)
        print(f"{key:<40} {a:>16} {b:>9} {c:>19} {d:>9}")
    pairs = pair_table(rows) if args.single and len(args.single) > 1 else []
    if pairs:
        print("\nbest-of-two per pair of single configs (mean gap %):")
        for p in pairs[:15]:
            print(f"  {p['limit_s']:>4.0f}s {p['pair']:<30} CVRP {p.get('cvrp', float('nan')):6.2f}  "
                  f"Solomon {p.get('solomon', float('nan')):6.2f}")
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"(2-core machine: above ~2 the timings are distorted); total {time.time() - t_start:.0f} s")

    out = args.out or RESULTS / f"vrp_bench_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "instances_dir": str(args.dir),
        "limits": args.limits,
        "mode": "single" if args.single else "default-pair",
        "default_configs": [asdict(c) for c in DEFAULT_CONFIGS],
        "single_configs": {n: asdict(TUNING_CONFIGS[n]) for n in (args.single or [])},
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "bks_check": bks_check,
        "rows": rows,
        "summary": summary,
        "pairs": pairs,
    }, indent=2))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
