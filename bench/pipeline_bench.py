"""Pipeline benchmark: materialise the demo and/or city profiles end to end in a scratch folder
and print seconds per stage and rows per second.

    .venv/bin/python bench/pipeline_bench.py --profiles demo city [--seed 42] [--workdir data/bench]

Each profile runs twice: the first run does all the work; the second must find nothing new
(idempotence) and its silver/gold row counts must equal the first run's.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from orchestration.settings import Settings  # noqa: E402


def per_source(dagster_home: str, lake_uri: str) -> list[dict]:
    """Seconds spent in each source's ingestion runs (from the Dagster instance) and what they
    ingested: rows, and for LiDAR the points, so throughput is per unit that matters."""
    import dagster as dg

    from assets.lake import Lake
    from assets.sources import SOURCES

    import os

    lake = Lake(lake_uri)
    os.environ["DAGSTER_HOME"] = dagster_home  # dagster.yaml reads its storage folder from it
    with dg.DagsterInstance.from_config(dagster_home) as inst:
        runs = inst.get_runs()
        records = {r.dagster_run.run_id: r for r in inst.get_run_records()}
    out = []
    for s in SOURCES:
        job = f"ingest_{s.name}"
        secs = 0.0
        n = 0
        for run in runs:
            rec = records.get(run.run_id)
            if run.job_name == job and rec and rec.start_time and rec.end_time:
                secs += rec.end_time - rec.start_time
                n += 1
        rows = lake.count("bronze", s.bronze_table)
        row = {"source": s.name, "runs": n, "seconds": round(secs, 1), "rows": rows,
               "rows_per_s": round(rows / secs, 1) if secs else None}
        if s.name == "lidar_tiles" and rows:
            pts = int(lake.read("bronze", "lidar_tiles", columns=["point_count"])["point_count"].sum())
            row.update(points=pts, points_per_s=round(pts / secs) if secs else None)
        out.append(row)
    return out


def bench_profile(profile: str, seed: int, workdir: Path, console: Console) -> dict:
    import os

    base = workdir / profile
    if base.exists():
        shutil.rmtree(base)
    env = {"LAKE_URI": str(base / "lake"), "LANDING_URI": str(base / "landing"),
           "SERVING_PATH": str(base / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(base / "dagster"),
           "CITY_PROFILE": profile, "SEED": str(seed)}
    os.environ.update(env)
    settings = Settings.from_env(env)
    from assets.lake import Lake
    from assets.sources import SOURCES
    from orchestration.runner import run_all

    quiet = Console(file=open(os.devnull, "w"))
    t0 = time.perf_counter()
    first = run_all(settings, console=quiet)
    total = time.perf_counter() - t0
    lake = Lake(settings.lake_uri)
    bronze_rows = sum(lake.count("bronze", s.bronze_table) for s in SOURCES)
    t1 = time.perf_counter()
    second = run_all(settings, console=quiet)
    rerun = time.perf_counter() - t1
    stages = {s.name: s.seconds for s in first.stages}
    return {
        "profile": profile, "seed": seed, "total_s": round(total, 1), "stages_s": {k: round(v, 1) for k, v in stages.items()},
        "delivery_runs": first.ingested_runs, "bronze_rows": bronze_rows,
        "silver_rows": sum(first.silver_rows.values()), "gold_rows": sum(first.gold_rows.values()),
        "bronze_rows_per_s": round(bronze_rows / max(stages.get("bronze", 1e-9), 1e-9)),
        "silver_rows_per_s": round(sum(first.silver_rows.values()) / max(stages.get("silver", 1e-9), 1e-9)),
        "quarantined": first.quarantined, "failures": first.failures + second.failures,
        "rerun_s": round(rerun, 1), "rerun_new_runs": second.ingested_runs,
        "rerun_same_counts": first.silver_rows == second.silver_rows and first.gold_rows == second.gold_rows,
        "per_source": per_source(settings.dagster_home, settings.lake_uri),
        "landing_mb": round(sum(p.stat().st_size for p in (base / "landing").rglob("*") if p.is_file()) / 1e6, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="+", default=["demo"], choices=["tiny", "demo", "city"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", default="data/bench")
    args = ap.parse_args()
    console = Console()
    results = []
    for p in args.profiles:
        console.print(f"[bold]profile {p}[/] ...")
        r = bench_profile(p, args.seed, Path(args.workdir).resolve(), console)
        results.append(r)
        console.print(json.dumps(r, indent=1))
    t = Table(title="Pipeline benchmark (2-core CPU)")
    for c in ("profile", "simulate s", "bronze s", "silver s", "gold+publish s", "total s", "deliveries",
              "bronze rows", "bronze rows/s", "silver rows", "silver rows/s", "re-run s", "re-run new runs",
              "same counts"):
        t.add_column(c, justify="right")
    for r in results:
        s = r["stages_s"]
        t.add_row(r["profile"], str(s.get("simulate", "")), str(s.get("bronze", "")), str(s.get("silver", "")),
                  str(s.get("gold + publish", "")), str(r["total_s"]), str(r["delivery_runs"]), str(r["bronze_rows"]),
                  str(r["bronze_rows_per_s"]), str(r["silver_rows"]), str(r["silver_rows_per_s"]), str(r["rerun_s"]),
                  str(r["rerun_new_runs"]), str(r["rerun_same_counts"]))
    console.print(t)
    for r in results:
        st = Table(title=f"Bronze ingestion per source, profile {r['profile']} (run durations from the Dagster instance)")
        for c in ("source", "runs", "seconds", "rows", "rows/s", "points/s"):
            st.add_column(c, justify="right")
        for x in r["per_source"]:
            st.add_row(x["source"], str(x["runs"]), str(x["seconds"]), str(x["rows"]), str(x["rows_per_s"]),
                       str(x.get("points_per_s", "")))
        console.print(st)
    out = Path(args.workdir) / "results.json"
    out.write_text(json.dumps(results, indent=1))
    console.print(f"results written to {out}")
    return 0 if all(not r["failures"] and r["rerun_same_counts"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
