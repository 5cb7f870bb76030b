"""Acceptance (issue 25): the whole chain (`lakehouse run`, what `make run` runs) with the lake on
an S3 server gives the same published marts as with the lake on local disk.

Starts moto's S3 server (`python -m moto.server`, from the dev dependencies) on a free port of
127.0.0.1, creates a bucket, then runs the same simulated city twice from empty: once with
LAKE_URI on local disk, once with LAKE_URI=s3://<bucket>/lake (LAKE_STORAGE_OPTIONS: the local
endpoint, plain HTTP, test credentials). Compares every table of the two DuckDB serving files:
row count and an order-independent content hash (bench/rerun_bench.py's, run-time stamp columns
left out), after replacing each run's own lake root and work folder by a placeholder in text
columns (a raster path names its lake). Also runs `lakehouse delta-sql` against the S3 lake and
lists what the lake holds besides Delta tables (artifacts, rasters, exports, maps).

    python bench/s3_parity_bench.py                  # tiny city, seed 7 (a few minutes)
    python bench/s3_parity_bench.py --profile demo   # the acceptance run (make bench-s3)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rerun_bench import _volatile as _rerun_volatile, plan_date  # noqa: E402

# the forecaster trains a fixed number of epochs; only its far wall-clock safety net
# (ForecastConfig.max_seconds) could stop two builds after different epochs: then these marts, which
# follow from its forecast, are reported apart (the epochs are read from both model cards)
FORECAST_MARTS = {"proprete.bin_fill_forecast", "proprete.collection_routes", "proprete.collection_stops",
                  "proprete.collection_kpis"}


def _volatile(schema: str, table: str, col: str) -> bool:
    return _rerun_volatile(schema, table, col) or col == "quarantined_at"   # when the file was moved


def forecaster_epochs(lake_uri: str, opts: dict | None) -> tuple[int | None, int | None]:
    """(epochs run, epochs configured) of the promoted bin fill forecaster, from its model card."""
    import polars as pl

    from assets.lake import Lake

    lake = Lake(lake_uri, opts)
    reg = lake.read_or_empty("ml", "model_registry", {"model": pl.Utf8})
    row = reg.filter((pl.col("model") == "bin_fill_forecaster") & pl.col("promoted")) if reg.height else reg
    if not row.height:
        return None, None
    card = json.loads(lake.files.get_bytes(f"ml/artifacts/bin_fill_forecaster/{row['version'][0]}/model_card.json"))
    return card.get("training", {}).get("epochs_run"), card.get("config", {}).get("epochs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"moto S3 server did not start: {log.read_text()[-2000:]}")


def snapshot(path: Path, replace: dict[str, str]) -> dict[str, dict]:
    """Row count and content hash of every table in the DuckDB file, text columns with the
    run's own roots replaced by placeholders."""
    import duckdb

    out: dict[str, dict] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                               "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
            exprs = []
            for c, typ in cols:
                if _volatile(schema, table, c):
                    continue
                e = f'"{c}"'
                if typ == "VARCHAR":
                    for old, new in replace.items():
                        e = f"replace({e}, '{old}', '{new}')"
                exprs.append(e)
            h = f"coalesce(sum(hash({', '.join(exprs)}))::HUGEINT, 0)" if exprs else "0"
            rows, hv = con.execute(f'SELECT count(*), {h} FROM "{schema}"."{table}"').fetchone()
            out[f"{schema}.{table}"] = {"rows": int(rows), "hash": f"{int(hv):x}"}
    return out


def start_chain(env: dict, log: Path) -> tuple[subprocess.Popen, float]:
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "run"], cwd=ROOT, env=env,
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, time.perf_counter()


def wait_chain(proc: subprocess.Popen, t0: float) -> tuple[int, float, float]:
    """Exit code, wall seconds and CPU seconds (the child's process tree) of one build."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tiny", choices=("tiny", "demo", "city"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", help="keep both lakes' work folders here (default: a temporary folder)")
    ap.add_argument("--json", help="write the comparison here")
    ap.add_argument("--parallel", action="store_true",
                    help="run the two builds at the same time (each then sees the other's load)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="s3_parity_") if not args.workdir else None
    base = Path(args.workdir or tmp.name)
    base.mkdir(parents=True, exist_ok=True)
    s3_server, endpoint = start_s3(base / "moto.log")
    try:
        import boto3

        bucket = f"cannes-lake-{int(time.time())}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        opts = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
        pp = f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep)
        runs = {}
        lakes = {"local": str(base / "local" / "lake"), "s3": f"s3://{bucket}/lake"}
        started = {}
        plan_day = plan_date()   # both builds plan the road repairs on the same day, even past midnight
        for name, lake in lakes.items():
            w = base / name
            w.mkdir(exist_ok=True)
            env = {**os.environ, "CITY_PROFILE": args.profile, "SEED": str(args.seed), "LAKE_URI": lake,
                   "LAKE_STORAGE_OPTIONS": json.dumps(opts) if lake.startswith("s3://") else "",
                   "LANDING_URI": str(w / "landing"), "SERVING_PATH": str(w / "serving" / "cannes.duckdb"),
                   "DAGSTER_HOME": str(w / "dagster"), "PYTHONPATH": pp, "ROADS_PLAN_DATE": plan_day}
            print(f"{name}: LAKE_URI={lake}; load {os.getloadavg()[0]:.1f}", flush=True)
            started[name] = (env, *start_chain(env, w / "run.log"))
            if not args.parallel:
                runs[name] = {"env": env, "result": wait_chain(*started[name][1:])}
        for name, (env, build, t0) in started.items():
            if name not in runs:
                runs[name] = {"env": env, "result": wait_chain(build, t0)}
        for name, lake in lakes.items():
            w = base / name
            rc, secs, cpu = runs[name].pop("result")
            print(f"{name}: exit {rc}, {secs:.0f} s wall, {cpu:.0f} s CPU (log {w / 'run.log'}); "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            serving = w / "serving" / "cannes.duckdb"
            replace = {lake: "<lake>", str(w): "<work>"}
            runs[name] |= {"rc": rc, "seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
                           "snap": snapshot(serving, replace) if serving.exists() else {},
                           "forecaster_epochs": forecaster_epochs(lake, opts if lake.startswith("s3://") else None)}
        sql = subprocess.run([sys.executable, "-m", "orchestration.cli", "delta-sql",
                              "SELECT count(*) AS gold_tables FROM information_schema.tables WHERE table_name LIKE 'gold_%'"],
                             cwd=ROOT, env=runs["s3"]["env"], capture_output=True, text=True)
        print(f"\nlakehouse delta-sql on s3 (exit {sql.returncode}):\n{sql.stdout.strip()}{sql.stderr.strip()[-500:]}")
        from assets.storage import LakeFiles

        files = LakeFiles(f"s3://{bucket}/lake", opts).list("")
        other = sorted({"/".join(f.split("/")[:3]) for f in files if "_delta_log" not in f and not f.endswith(".parquet")
                        or f.startswith(("ml/artifacts", "exports/"))})
        print(f"\nfiles on s3 besides Delta data and logs ({len(other)} folders): {', '.join(other[:20])}")
    finally:
        s3_server.terminate()
        s3_server.wait(10)

    a, b = runs["local"]["snap"], runs["s3"]["snap"]
    names = sorted(set(a) | set(b))
    bad = [n for n in names if a.get(n) != b.get(n)]
    w = max([len(n) for n in names] + [10])
    print(f"\n{'table':<{w}} {'rows local':>10} {'rows s3':>10} {'hash local':>18} {'hash s3':>18}  same")
    for n in names:
        x, y = a.get(n), b.get(n)
        print(f"{n:<{w}} {x['rows'] if x else '-':>10} {y['rows'] if y else '-':>10} {x['hash'] if x else '-':>18} "
              f"{y['hash'] if y else '-':>18}  {'yes' if x == y else 'NO'}")
    ea, eb = runs["local"]["forecaster_epochs"], runs["s3"]["forecaster_epochs"]
    explained = [n for n in bad if n in FORECAST_MARTS and ea[0] != eb[0]]
    unexplained = [n for n in bad if n not in explained]
    print(f"\nbin fill forecaster epochs run (of configured): local {ea[0]} ({ea[1]}), s3 {eb[0]} ({eb[1]})")
    if explained:
        print(f"differ because the forecaster hit its time safety net after a different number of epochs (CPU load, "
              f"not storage): {', '.join(explained)}")
    ok = runs["local"]["rc"] == 0 and runs["s3"]["rc"] == 0 and sql.returncode == 0 and names and not unexplained
    print(f"\nprofile {args.profile} seed {args.seed}: {len(names)} tables, {len(names) - len(bad)} identical, "
          f"{len(explained)} differ by the forecaster's safety net, {len(unexplained)} differ otherwise"
          f"{': ' + ', '.join(unexplained) if unexplained else ''}; local {runs['local']['seconds']} s, "
          f"s3 {runs['s3']['seconds']} s (simulated city); {'OK' if ok else 'FAILED'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "env"}
                                               for k, v in runs.items()} | {"differ": bad, "unexplained": unexplained},
                                              indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
