"""Vehicle-routing benchmark: the project's OR-Tools solver against the best-known solutions
(BKS) of the public instances in ``../shared/benchmarks/vrp`` and, in the same run, against
PyVRP 0.14 (hybrid genetic search; a dev dependency, never used by the platform) on the same
integer matrices, the same budget and the same machine.

    .venv/bin/python bench/vrp_bench.py                       # all 20 instances + city day, 30 s
    .venv/bin/python bench/vrp_bench.py --seconds 10 --instances large      # the nine larger
    .venv/bin/python bench/vrp_bench.py --seconds 5 --instances X-n228-k23 city --no-pyvrp
    .venv/bin/python bench/vrp_bench.py --solutions 300 --instances A-n32-k5  # deterministic limit
    .venv/bin/python bench/vrp_bench.py --cpu-seconds 30 --instances X-n439-k37  # idle equivalent
    .venv/bin/python bench/vrp_bench.py --single base sa --limits 30 # measure single configs
    .venv/bin/python bench/vrp_bench.py --calibrate 2000 --sisr-only   # ruin-and-recreate iterations / CPU s

``--instances`` takes names and the groups ``original`` (the eleven of up to 200 customers),
``large`` (the nine of 227-1,000) and ``city`` (a Cannes city day from the simulator's ``city``
profile on the street network, :mod:`bench.vrp_cityday`). Per instance it prints our cost, the
gap to the BKS, PyVRP's cost and gap, the ratio ours / PyVRP, and feasibility, both solutions
re-costed and checked by the bench's own code (:mod:`bench.vrp_reference`), then the mean gaps per
group against the issue-24 targets and the load average (PyVRP in the same run suffers the
same load: the ratio is the fairer figure on a busy machine). Results go to
``bench/results/*.json``.

Default mode runs :func:`models.routing.solve` on two processes; PyVRP runs one process
(it is single-threaded) after ours on the same instance. ``--single`` runs named
configurations one at a time (two instances at a time), which is how ``DEFAULT_CONFIGS`` was
chosen.
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
    VRPProblem,
    SearchConfig,
    problem_from_instance,
    read_instance,
    read_solution,
    solution_cost,
    solve,
    solve_single,
)

sys.path.insert(0, str(ROOT / "bench"))
from vrp_reference import pyvrp_solve, recheck  # noqa: E402

from models.routing.vrp import LARGE_MIN_STOPS  # noqa: E402

VRP_DIR = ROOT.parent / "shared" / "benchmarks" / "vrp"
ORIGINAL = ["A-n32-k5", "A-n45-k6", "A-n80-k10", "P-n50-k7", "P-n101-k4", "X-n101-k25", "X-n153-k22",
            "X-n200-k36", "C101", "R101", "R201"]
LARGE = ["X-n228-k23", "X-n270-k35", "X-n322-k28", "X-n359-k29", "X-n439-k37", "X-n513-k21", "X-n627-k43",
         "X-n801-k40", "X-n1001-k43"]
CITY = "city"
# Deterministic budget matching 30 s of one idle core per search, measured with --calibrate 300
# (CPU seconds, so the load of other jobs matters little; 2026-12-06, load 20.6): A-n80-k10 13229,
# X-n153-k22 8054 (whole plan), sectors of X-n513-k21 12222 and X-n1001-k43 13787 solutions.
SOLUTIONS_PER_30_CPU_S = 13000
# issue 24 targets (30 s per instance, two cores)
TARGET_LARGE_MEAN, TARGET_LARGE_MAX, TARGET_ORIGINAL_MEAN, TARGET_CITY_RATIO = 1.5, 3.0, 0.8, 1.02
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


def expand(names: list[str] | None) -> list[str]:
    """Instance names with the groups ``original``, ``large``, ``city`` expanded (default: all)."""
    out: list[str] = []
    for n in names or ["original", "large", "city"]:
        out.extend(ORIGINAL if n == "original" else LARGE if n == "large" else [n])
    return list(dict.fromkeys(out))


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


def load_problem(name: str, vrp_dir: Path) -> tuple[VRPProblem, dict]:
    """The problem and what the bench knows about it (BKS, scale, group)."""
    if name == CITY:
        from vrp_cityday import city_day_problem

        problem, meta = city_day_problem()
        return problem, {"bks": None, "scale": 1, "kind": "city", "group": "city", "meta": meta}
    path = next((f for f in instance_files(vrp_dir, [name]) if f.stem == name), None)
    if path is None:
        raise SystemExit(f"unknown instance {name}")
    inst = read_instance(path)
    bks = read_solution(path.with_suffix(".sol"))
    return problem_from_instance(inst), {"bks": bks.cost, "scale": inst.scale, "kind": inst.kind,
                                         "group": "large" if name in LARGE else "original",
                                         "bks_routes": len(bks.routes)}


def cpu_solution_limit(problem: VRPProblem, cpu_s: float, workers: int) -> int:
    """The solution limit per search that spends about ``cpu_s`` CPU seconds per core (the
    calibrated rate): whole-plan searches one per core; the large path's searches spread over
    ``SECTOR_PASSES`` passes of its sectors on ``workers`` cores."""
    from models.routing import ruin_recreate as rr
    from models.routing.construction import savings_routes
    from models.routing.decompose import SECTOR_PASSES, SECTOR_SIZE, decomposable, sectors

    rate = SOLUTIONS_PER_30_CPU_S / 30.0
    if rr.supported(problem):
        # plain CVRP: one chain (or OR-Tools' search beside one) per core, each this limit
        return max(1, int(rate * cpu_s))
    if decomposable(problem) and len(problem.customers()) >= LARGE_MIN_STOPS:
        n_sec = len(sectors(problem, savings_routes(problem), SECTOR_SIZE, 0.0))
        if n_sec >= 2:
            return max(1, int(rate * cpu_s * workers / (SECTOR_PASSES * n_sec)))
    return max(1, int(rate * cpu_s))


def compare_one(name: str, vrp_dir: Path, seconds: float, workers: int, solutions: int | None,
                with_pyvrp: bool, cpu_s: float | None = None) -> dict:
    """Ours, then PyVRP, on one instance; both re-costed and checked by :func:`recheck`. With
    ``cpu_s`` both get a CPU budget instead of wall time (what an idle machine would give them):
    ours a solution limit from the calibrated rate, PyVRP a stop on its CPU time."""
    problem, info = load_problem(name, vrp_dir)
    if cpu_s is not None:
        solutions, seconds = cpu_solution_limit(problem, cpu_s, workers), 3600.0
    scale, bks = info["scale"], info["bks"]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    cpu0 = os.times()
    sol = solve(problem, time_limit_s=seconds, workers=workers, solution_limit=solutions)
    ours_s = time.perf_counter() - t0
    cpu1 = os.times()
    # CPU of this process and of its finished workers (the pools are joined before solve returns)
    ours_cpu = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4]))
    routes = [r.nodes[1:-1] for r in sol.routes if len(r.nodes) > 2]
    ours, bad = recheck(problem, routes) if sol.found else (None, ["no plan"])
    row = {"instance": name, "group": info["group"], "kind": info["kind"], "customers": len(problem.customers()),
           "seconds": seconds, "solution_limit": solutions, "bks": bks,
           "cost": None if ours is None else ours / scale, "solver_cost": sol.total_distance / scale,
           "feasible": not bad, "violations": bad[:3], "vehicles": sol.vehicles_used,
           "bks_vehicles": info.get("bks_routes"), "time_s": round(ours_s, 2), "cpu_s": round(ours_cpu, 1),
           "status": sol.status,
           "best_run": sol.config.get("name"), "notes": sol.notes[-3:], "load_before": round(load0, 2)}
    row["gap_pct"] = None if (bks is None or ours is None) else round((ours / scale / bks - 1) * 100, 3)
    if with_pyvrp:
        proutes, p_s, p_feas, p_dist = pyvrp_solve(problem, seconds, cpu_seconds=cpu_s)
        pc, pbad = recheck(problem, proutes)
        row.update({"pyvrp_cost": pc / scale, "pyvrp_feasible": not pbad and p_feas, "pyvrp_own_cost": p_dist / scale,
                    "pyvrp_violations": pbad[:3], "pyvrp_time_s": round(p_s, 2), "pyvrp_vehicles": len(proutes),
                    "pyvrp_gap_pct": None if bks is None else round((pc / scale / bks - 1) * 100, 3),
                    "ratio": None if ours is None else round(ours / pc, 4)})
    row["load_after"] = round(os.getloadavg()[0], 2)
    return row


def print_compare(r: dict) -> None:
    def f(v, w=8, p=2):
        return f"{v:>{w}.{p}f}" if v is not None else f"{'-':>{w}}"
    print(f"{r['instance']:<14} {r['customers']:>5} {f(r['bks'], 9, 1)} {f(r['cost'], 9, 1)} {f(r['gap_pct'], 7)} "
          f"{'yes' if r['feasible'] else 'NO':>4} {f(r.get('pyvrp_cost'), 9, 1)} {f(r.get('pyvrp_gap_pct'), 7)} "
          f"{('yes' if r.get('pyvrp_feasible') else 'NO') if 'pyvrp_cost' in r else '-':>4} "
          f"{f(r.get('ratio'), 7, 4)} {r['vehicles']:>4} {r['time_s']:>6.1f} {r.get('cpu_s', 0):>6.1f} "
          f"{r['load_before']:>5.1f}", flush=True)


def compare_summary(rows: list[dict]) -> list[str]:
    """Mean gaps per group, the city ratio, and each issue-24 target with whether it holds."""
    lines = []
    for group, target in (("original", TARGET_ORIGINAL_MEAN), ("large", TARGET_LARGE_MEAN)):
        g = [r for r in rows if r["group"] == group]
        if not g:
            continue
        gaps = [r["gap_pct"] for r in g if r["gap_pct"] is not None]
        pg = [r["pyvrp_gap_pct"] for r in g if r.get("pyvrp_gap_pct") is not None]
        ratios = [r["ratio"] for r in g if r.get("ratio") is not None]
        feas = sum(r["feasible"] for r in g)
        mean = sum(gaps) / len(gaps) if gaps else float("nan")
        line = (f"{group:<9} {len(g)} instances: our mean gap {mean:.2f} % (max {max(gaps, default=float('nan')):.2f})"
                f", feasible {feas}/{len(g)}")
        if pg:
            line += f"; PyVRP mean gap {sum(pg) / len(pg):.2f} %; mean ratio ours/PyVRP {sum(ratios) / len(ratios):.4f}"
        full = len(g) == len(ORIGINAL if group == "original" else LARGE)
        ok = mean <= target and feas == len(g) and (group != "large" or max(gaps, default=99) <= TARGET_LARGE_MAX)
        extra = f", none > {TARGET_LARGE_MAX} %" if group == "large" else ""
        line += f"\n          target mean <= {target} %{extra}"
        line += f": {'HOLDS' if ok else 'NOT MET'}" + ("" if full else " (subset only)")
        lines.append(line)
    for r in rows:
        if r["group"] == "city" and r.get("ratio") is not None:
            ok = r["ratio"] <= TARGET_CITY_RATIO and r["feasible"]
            lines.append(f"city day  {r['customers']} stops: ours {r['cost']:.0f} m, PyVRP {r['pyvrp_cost']:.0f} m, "
                         f"ratio {r['ratio']:.4f} (target <= {TARGET_CITY_RATIO}): {'HOLDS' if ok else 'NOT MET'}")
    return lines


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
    ap.add_argument("--seconds", type=float, default=30.0, help="budget per instance and solver (default 30)")
    ap.add_argument("--limits", type=float, nargs="+", default=[30.0], help="time limits for --single")
    ap.add_argument("--instances", nargs="+", help="names or groups original / large / city (default: all)")
    ap.add_argument("--no-pyvrp", action="store_true", help="skip the in-run PyVRP reference")
    ap.add_argument("--cpu-seconds", type=float, metavar="S",
                    help="idle-machine equivalent: budgets in CPU seconds per core instead of wall time (ours: "
                         "solution limits from the calibrated rate; PyVRP: stopped on its CPU time); slow on a "
                         "busy machine")
    ap.add_argument("--calibrate", type=int, metavar="SOLUTIONS",
                    help="measure the CPU seconds one search takes for this solution limit (whole plan on the "
                         "instances of up to 200 customers, one sector on the larger) and print the limit that "
                         "matches 30 s of one idle core")
    ap.add_argument("--sisr-only", action="store_true", help="--calibrate: the ruin-and-recreate chains only")
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
    if args.calibrate:
        return calibrate(args)
    if not args.single:
        return compare_main(args)
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


def calibrate(args) -> int:
    """Work per CPU second (CPU time, so the load of other jobs matters little): OR-Tools solutions
    of one search (whole plan up to 200 customers, one sector above) and, on plain CVRP, the
    compiled ruin-and-recreate iterations of one chain (numba cache warmed up first, not timed)."""
    from models.routing import ruin_recreate as rr
    from models.routing.construction import savings_routes
    from models.routing.decompose import SECTOR_CONFIG, SECTOR_SIZE, sectors, subproblem

    print(f"calibration: solution limit {args.calibrate} per search, {args.calibrate * rr.ITERATIONS_PER_SOLUTION} "
          f"ruin-and-recreate iterations per chain; load average {os.getloadavg()[0]:.2f}; numba warm-up "
          f"{rr.warm_up():.1f} s")
    rates: dict[str, list[float]] = {}
    for name in expand(args.instances or ["A-n80-k10", "X-n153-k22", "X-n513-k21", "X-n1001-k43"]):
        full, info = load_problem(name, args.dir)
        problem = full
        if len(problem.customers()) >= LARGE_MIN_STOPS:
            routes = savings_routes(problem)
            g = sectors(problem, routes, SECTOR_SIZE, 0.0)[0]
            nodes = [n for k in g for n in routes[k]]
            problem, cfg, what = subproblem(problem, [problem.vehicle_capacities[0]] * (len(g) + 1), nodes), \
                SECTOR_CONFIG, f"sector of {len(nodes)} stops"
        else:
            cfg, what = DEFAULT_CONFIGS[0], "whole plan"
        if not args.sisr_only:
            c0, w0 = time.process_time(), time.perf_counter()
            sol = solve_single(problem, cfg, time_limit_s=600, always_return_plan=False,
                               solution_limit=args.calibrate)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            rate = args.calibrate / max(cpu, 1e-6)
            rates.setdefault("ortools " + ("large" if "sector" in what else "small"), []).append(rate)
            print(f"{name:<14} {what:<22} {cpu:7.1f} CPU s ({wall:6.1f} wall s, status {sol.status}): "
                  f"{rate:7.1f} solutions / CPU s -> {rate * 30:8.0f} per 30 s of one idle core", flush=True)
        if rr.supported(full):
            arr = rr.PlainArrays(full, rr.SISR_PARAMS["granular"], rr.SISR_PARAMS["adjacent"])
            _, chain = rr.run_chain(arr, arr.to_local(savings_routes(full)), rr.iterations_for(args.calibrate), 1)
            rate = chain["iterations_per_cpu_s"]
            rates.setdefault("sisr", []).append(rate)
            print(f"{name:<14} {'sisr chain':<22} {chain['cpu_s']:7.1f} CPU s: {rate:9.0f} iterations / CPU s -> "
                  f"{rate * 30:10.0f} per 30 s of one idle core", flush=True)
    for kind, rs in rates.items():
        med = sorted(rs)[len(rs) // 2]
        print(f"{kind}: median {med * 30:.0f} per 30 CPU s" +
              (f" = {med * 30 / SOLUTIONS_PER_30_CPU_S:.0f} iterations per OR-Tools solution "
               f"(ITERATIONS_PER_SOLUTION is {rr.ITERATIONS_PER_SOLUTION})" if kind == "sisr" else ""))
    return 0


def compare_main(args) -> int:
    """Default mode: ours and PyVRP per instance, the summary against the targets."""
    names = expand(args.instances)
    load0 = os.getloadavg()
    budget = f"{args.cpu_seconds:g} CPU s per core" if args.cpu_seconds else f"{args.seconds:g} s"
    print(f"{len(names)} instances; {budget} per instance and solver; ours on {args.workers} processes, "
          f"PyVRP on one{' (skipped)' if args.no_pyvrp else ''}; "
          + (f"solution limit {args.solutions} per search; " if args.solutions else "")
          + f"cpus {os.cpu_count()}; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    from models.routing import ruin_recreate as rr

    # compile or load numba's cache of the ruin-and-recreate kernels before any timing (spawned
    # workers then only load it from disk)
    print(f"numba warm-up (not timed): {rr.warm_up():.1f} s")
    public = [n for n in names if n != CITY]
    files = instance_files(args.dir, public) if public else []
    bad = [b for b in check_bks(files) if not b["exact"]]
    print(f"BKS re-cost: {len(files) - len(bad)}/{len(files)} exact" + (f"; MISMATCH {bad}" if bad else ""))
    header = (f"{'instance':<14} {'cust':>5} {'BKS':>9} {'ours':>9} {'gap %':>7} {'ok':>4} {'PyVRP':>9} {'gap %':>7} "
              f"{'ok':>4} {'ratio':>7} {'veh':>4} {'time s':>6} {'CPU s':>6} {'load':>5}")
    print(header + "\n" + "-" * len(header))
    rows = []
    t_start = time.time()
    for name in names:
        r = compare_one(name, args.dir, args.seconds, args.workers, args.solutions, not args.no_pyvrp,
                        args.cpu_seconds)
        rows.append(r)
        print_compare(r)
    load1 = os.getloadavg()
    print()
    for line in compare_summary(rows):
        print(line)
    per = SOLUTIONS_PER_30_CPU_S * (args.cpu_seconds or args.seconds) / 30
    print(f"\ndeterministic budget matching {args.cpu_seconds or args.seconds:g} s on an idle core: about "
          f"{per:.0f} solutions per OR-Tools search, i.e. {rr.iterations_for(int(per)):,} ruin-and-recreate "
          f"iterations per chain on plain CVRP (solution_limit x {rr.ITERATIONS_PER_SOLUTION}; measured with "
          f"--calibrate, CPU time); the platform passes its own, smaller limits (docs/ARCHITECTURE.md)")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} cores (above ~2 both "
          f"solvers get less than a core each: compare the ratio); total {time.time() - t_start:.0f} s")
    out = args.out or RESULTS / f"vrp_bench_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": args.seconds,
                               "cpu_seconds": args.cpu_seconds,
                               "solution_limit": args.solutions, "workers": args.workers, "cpus": os.cpu_count(),
                               "load_before": load0, "load_after": load1, "rows": rows,
                               "summary": compare_summary(rows)}, indent=2, default=str))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
