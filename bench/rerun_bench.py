"""Acceptance: a re-run changes no published table, even on a loaded machine.

Runs the whole chain (`lakehouse run`, what `make run` runs) twice on one simulated city in a
temporary lake: the first time as is, the second time with a CPU hog on every core (one
`python -c "while True: pass"` per core, started and killed here). After each run it reads every
table of the DuckDB serving file and records its row count and an order-independent content hash
(sum of DuckDB row hashes), then prints both runs side by side and exits non-zero on any
mismatch (or when a run fails).

Columns that say *when* something ran (publication time, materialisation time) are left out of
the hash and listed; they change on every run by design.

    python bench/rerun_bench.py                   # tiny city, seed 7
    python bench/rerun_bench.py --profile demo    # the real check (several minutes per run)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run-time stamps: differ between two runs by design, not part of the content compared
VOLATILE = {("main", "lakehouse_catalog", "published_at"), ("*", "*", "published_at"),
            ("*", "*", "trained_at"), ("*", "*", "generated_at"),
            ("administration", "dsp_reports", "seconds"),     # how long generating the report took
            ("administration", "letter_translations", "created_at"),   # when the translation was requested
            ("administration", "ai_audit", "created_at"),   # when the text was generated (kept from its first run)
            ("voirie", "road_repair_plan", "planned_on"),   # the day the plan was computed (today's date)
            ("*", "*", "_ingested_at"), ("*", "*", "_run_id"), ("*", "*", "run_id")}


def plan_date() -> str:
    """The road repair plan's date for the builds a bench compares (ROADS_PLAN_DATE if set, else
    today, UTC): two builds either side of midnight would date the crews, and
    direction.works_coordination, a day apart."""
    return os.environ.get("ROADS_PLAN_DATE") or datetime.now(timezone.utc).date().isoformat()


def _volatile(schema: str, table: str, col: str) -> bool:
    return any((s in ("*", schema)) and (t in ("*", table)) and c == col for s, t, c in VOLATILE)


def snapshot(path: Path) -> dict[str, dict]:
    """Row count and content hash of every table in the DuckDB file."""
    import duckdb

    out: dict[str, dict] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position", [schema, table]).fetchall()]
            kept = [c for c in cols if not _volatile(schema, table, c)]
            if kept:
                args_sql = ", ".join(f'"{c}"' for c in kept)
                rows, h = con.execute(f'SELECT count(*), coalesce(sum(hash({args_sql}))::HUGEINT, 0) '
                                      f'FROM "{schema}"."{table}"').fetchone()
            else:
                rows, h = con.execute(f'SELECT count(*), 0 FROM "{schema}"."{table}"').fetchone()
            out[f"{schema}.{table}"] = {"rows": int(rows), "hash": f"{int(h):x}",
                                        "skipped": [c for c in cols if c not in kept]}
    return out


def run_chain(env: dict, log: Path) -> tuple[int, float]:
    t = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call([sys.executable, "-m", "orchestration.cli", "run"], cwd=ROOT, env=env,
                             stdout=f, stderr=subprocess.STDOUT)
    return rc, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tiny", choices=("tiny", "demo", "city"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="CPU hogs during the second run")
    ap.add_argument("--workdir", help="keep the lake here (default: a temporary folder, removed)")
    ap.add_argument("--json", help="write the comparison here")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="rerun_bench_") if not args.workdir else None
    base = Path(args.workdir or tmp.name)
    base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CITY_PROFILE": args.profile, "SEED": str(args.seed),
           "LAKE_URI": str(base / "lake"), "LANDING_URI": str(base / "landing"),
           "SERVING_PATH": str(base / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(base / "dagster"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
           "ROADS_PLAN_DATE": plan_date()}   # both runs plan the road repairs on the same day
    serving = base / "serving" / "cannes.duckdb"
    print(f"profile {args.profile}, seed {args.seed}, lake {base}; load: {os.getloadavg()}")

    rc1, s1 = run_chain(env, base / "run1.log")
    print(f"run 1: exit {rc1}, {s1:.0f} s (log {base / 'run1.log'})")
    snap1 = snapshot(serving) if serving.exists() else {}

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    try:
        time.sleep(2)
        load_during = os.getloadavg()
        rc2, s2 = run_chain(env, base / "run2.log")
        load_after = os.getloadavg()
    finally:
        for p in hogs:
            p.kill()
        for p in hogs:
            p.wait()
    print(f"run 2 with {args.hogs} CPU hogs: exit {rc2}, {s2:.0f} s (log {base / 'run2.log'}); "
          f"load at start {load_during[0]:.1f}, at end {load_after[0]:.1f}")
    snap2 = snapshot(serving) if serving.exists() else {}

    names = sorted(set(snap1) | set(snap2))
    bad = []
    w = max([len(n) for n in names] + [10])
    print(f"\n{'table':<{w}} {'rows 1':>8} {'rows 2':>8} {'hash 1':>18} {'hash 2':>18}  same")
    for n in names:
        a, b = snap1.get(n), snap2.get(n)
        same = a is not None and b is not None and a["rows"] == b["rows"] and a["hash"] == b["hash"]
        if not same:
            bad.append(n)
        print(f"{n:<{w}} {a['rows'] if a else '-':>8} {b['rows'] if b else '-':>8} "
              f"{a['hash'] if a else '-':>18} {b['hash'] if b else '-':>18}  {'yes' if same else 'NO'}")
    skipped = sorted({f"{n}.{c}" for n in names for c in (snap1.get(n) or snap2.get(n))["skipped"]})
    print(f"\nrun-time stamp columns left out of the hash: {', '.join(skipped) or 'none'}")
    ok = rc1 == 0 and rc2 == 0 and not bad and bool(names)
    print(f"{len(names)} tables, {len(bad)} mismatched{': ' + ', '.join(bad) if bad else ''}; "
          f"runs exit {rc1}/{rc2} -> {'PASS' if ok else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"profile": args.profile, "seed": args.seed, "run1": snap1,
                                               "run2": snap2, "seconds": [s1, s2], "exit": [rc1, rc2],
                                               "mismatched": bad, "pass": ok}, indent=1))
    if tmp:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
