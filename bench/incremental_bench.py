"""Incremental cost (issue 25, item 5): what one new day of data costs once the city is built.

    python bench/incremental_bench.py --profile demo          # make bench-incremental
    python bench/incremental_bench.py --profile tiny          # a quicker look
    python bench/incremental_bench.py --profile tiny --reuse  # again on that lake: the next day and survey

1. Full build from an empty lake in a scratch folder: `lakehouse run` (simulate the city, the
   landing sensors into bronze, the job nightly_marts, DuckDB); each stage printed.
2. The declarative automation is evaluated once (Dagster's `evaluate_automation_conditions`, the
   evaluation the `lakehouse_automation` sensor runs in the daemon): the settled state, its cursor.
3. New deliveries are landed, made by the simulator (bench/ may use it; production code never
   does): one new working day of waste data (the truck collection log, the bin-sensor readings and
   the litter detections of the first working day after what the landing zone holds) and one new
   road survey folder (an extra campaign of the same city, SRV-2026-10B, then C...). The simulator
   has no "one more day" mode: the waste part is simulated again over a period ending on the new
   day and only that day's three files are copied (its fill levels do not continue the delivered
   ones exactly); the roads part with campaigns appended, only the new folder copied (without its
   COCO annotations: a new survey arrives unlabelled).
4. What the sensors run, timed until DuckDB shows the new rows: the landing sensors (a run per new
   delivery), then automation ticks, each executing what the tick requested as one run (the asset
   subset of nightly_marts, with their checks), until a tick requests nothing.
5. Optionally (`--nightly`) the nightly schedule's job, nightly_marts, on the same lake afterwards:
   it refreshes everything after bronze, new data or not.

Prints each stage, the assets each tick ran, the DuckDB tables that changed, where the new day and
the new survey are visible, and the ratio incremental / full build. Figures are on the simulator
("simulated"); the load average is printed with each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# the new survey: id prefix (B, then C... on later rounds), first day (a Monday of October 2026), vehicle
NEW_SURVEY = ("SRV-2026-10", 19, "VEH-VOIRIE-03")


def load() -> float:
    return round(os.getloadavg()[0], 1)


def cpu_s() -> float:
    """CPU seconds of this process and of its finished child processes (fairer than wall time on a
    machine shared with other jobs)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def land_new_deliveries(profile: str, seed: int, landing: Path, scratch: Path) -> dict:
    """Write one new day of waste data and one new survey folder into `landing` (see module doc):
    the next working day after the profile's period (or after the last day already landed here),
    and survey SRV-2026-10B (or the next letter free)."""
    from datetime import date

    if scratch.exists():
        shutil.rmtree(scratch)

    from models.simulator import roads as SR
    from models.simulator.city import PROFILES, build_city
    from models.simulator.waste import simulate_waste

    base = PROFILES[profile]
    landed = [date.fromisoformat(p.stem.removeprefix("collecte_")[:10])
              for p in (landing / "waste" / "collection_logs").glob("collecte_????-??-??.csv")]
    new_day = max([base.end_date, *landed]) + timedelta(days=1)
    while new_day.weekday() >= 5:   # the next working day (the trucks do not collect at weekends)
        new_day += timedelta(days=1)
    longer = dataclasses.replace(base, n_days=base.n_days + (new_day - base.end_date).days, end_date=new_day)
    simulate_waste(build_city(longer, seed), scratch / "landing", scratch / "truth")
    copied = []
    for folder, name in (("collection_logs", f"collecte_{new_day}.csv"), ("bin_sensors", f"capteurs_{new_day}.jsonl"),
                         ("litter", f"litter_{new_day}.parquet")):
        src = scratch / "landing" / "waste" / folder / name
        if src.exists():
            dst = landing / "waste" / folder / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append(f"waste/{folder}/{name}")

    prefix, day, vehicle = NEW_SURVEY
    letters = "BCDEFGHIJKLMNOPQRSTUVWXYZ"
    n = next(i for i, c in enumerate(letters) if not (landing / "roads" / "surveys" / f"{prefix}{c}").exists())
    extra = [(f"{prefix}{c}", date(2026, 10, day), vehicle) for c in letters[:n + 1]]
    sid = extra[-1][0]
    saved = SR.CAMPAIGNS, SR._segment_states

    def more_states(city, rng):   # the extra campaigns see the roads as the second did, weeks later
        return [dict(st, conditions=(*st["conditions"], *[st["conditions"][-1]] * len(extra)))
                for st in saved[1](city, rng)]

    SR.CAMPAIGNS, SR._segment_states = (*saved[0], *extra), more_states
    try:
        SR.simulate_roads(build_city(base, seed), scratch / "landing", scratch / "truth")
    finally:
        SR.CAMPAIGNS, SR._segment_states = saved
    src = scratch / "landing" / "roads" / "surveys" / sid
    dst = landing / "roads" / "surveys" / sid
    frames = [p for p in src.iterdir() if p.name != "manifest.json"]
    dst.mkdir(parents=True, exist_ok=True)
    for p in frames:
        shutil.copyfile(p, dst / p.name)
    shutil.copyfile(src / "manifest.json", dst / "manifest.json")   # last: the delivery is complete
    copied.append(f"roads/surveys/{sid}/ ({len(frames)} frames)")
    return {"new_day": str(new_day), "survey_id": sid, "files": copied}


def duckdb_state(path: str, new_day: str, survey_id: str) -> tuple[dict, dict]:
    """(row count and content hash per table, rows showing the new day / the new survey per table)."""
    import duckdb

    from rerun_bench import snapshot

    snap = snapshot(Path(path))
    seen: dict[str, int] = {}
    with duckdb.connect(path, read_only=True) as con:
        cols = con.execute("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                           "WHERE table_schema NOT IN ('main', 'information_schema')").fetchall()
        for schema, table, col, typ in cols:
            if col == "survey_id":
                q = f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{col}" = ?'
                arg = survey_id
            elif typ == "DATE":
                q = f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{col}" = ?::DATE'
                arg = new_day
            else:
                continue
            n = con.execute(q, [arg]).fetchone()[0]
            if n:
                seen[f"{schema}.{table}.{col}"] = int(n)
    return snap, seen


def run_ticks(defs, instance, cursor, say, max_ticks: int = 4, job_name: str = "nightly_marts"
              ) -> tuple[list[dict], object, list[str]]:
    """Automation ticks until one requests nothing: each tick's requested assets run as one run
    (the subset of `job_name`, checks included). Returns (ticks, cursor, failures)."""
    import dagster as dg

    from orchestration.progress import execute_watched
    from orchestration.runner import QUIET

    marts = defs.resolve_job_def(job_name)
    cpu = StepCPU(instance)
    ticks, failures = [], []
    try:
        for _ in range(max_ticks):
            t = time.perf_counter()
            res = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = res.cursor
            keys = sorted({ap.asset_key for ap in res._requested_asset_partitions}, key=lambda k: k.to_user_string())
            tick = {"evaluate_s": round(time.perf_counter() - t, 1), "assets": [k.to_user_string() for k in keys]}
            if not keys:
                ticks.append(tick)
                break
            t = time.perf_counter()
            job = marts.get_subset(asset_selection=set(keys))
            r = execute_watched(job, instance, say, raise_on_error=False, run_config=QUIET,
                                tags={"lakehouse/trigger": "automation (incremental_bench)"})
            tick.update(run_s=round(time.perf_counter() - t, 1), success=r.success, load=load(),
                        run_ended=time.perf_counter(), run_id=r.run_id, work=work_done(instance, r.run_id),
                        steps=step_seconds(instance, r.run_id), step_cpu_s=cpu.take())
            if not r.success:
                failures.append(f"tick run {r.run_id}: failed steps "
                                f"{[e.step_key for e in r.all_events if e.event_type_value == 'STEP_FAILURE']}")
            ticks.append(tick)
    finally:
        cpu.close()
    return ticks, cursor, failures


class StepCPU:
    """CPU seconds per step of the runs executed in this process (the bench executes runs in
    process, one step after another): the process's CPU plus its finished children's (the
    anonymisation pool's workers are joined inside their step) between a step's STEP_START and
    its STEP_SUCCESS / STEP_FAILURE event, recorded as the instance handles them. Load does not
    inflate these, unlike the step durations."""

    def __init__(self, instance):
        self.instance, self.cpu, self._start = instance, {}, {}
        self._orig = instance.handle_new_event

        def handle(event, *args, **kwargs):
            ev = getattr(event, "dagster_event", None)
            if ev is not None and ev.step_key:
                kind = ev.event_type_value
                if kind == "STEP_START":
                    self._start[ev.step_key] = cpu_s()
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in self._start:
                    self.cpu[ev.step_key] = round(cpu_s() - self._start.pop(ev.step_key), 1)
            return self._orig(event, *args, **kwargs)

        instance.handle_new_event = handle

    def close(self) -> None:
        """The instance's own event handling back."""
        del self.instance.handle_new_event

    def take(self) -> dict:
        """The CPU seconds recorded since the last call, longest first; the checks summed."""
        out, self.cpu = self.cpu, {}
        checks = {k: v for k, v in out.items() if "check" in k or "gx_" in k or "contract" in k}
        steps = {k: v for k, v in out.items() if k not in checks}
        return dict(sorted(steps.items(), key=lambda kv: -kv[1]),
                    **({f"checks ({len(checks)} steps)": round(sum(checks.values()), 1)} if checks else {}))


def step_seconds(instance, run_id: str) -> dict:
    """Seconds of each step of a run (from its STEP_SUCCESS / STEP_FAILURE events), longest first;
    the asset checks of the run summed under "checks"."""
    import dagster as dg

    out: dict[str, float] = {}
    for kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
        for rec in instance.get_records_for_run(run_id, of_type=kind).records:
            ev = rec.event_log_entry.dagster_event
            secs = round(getattr(ev.event_specific_data, "duration_ms", 0) / 1000, 1) if ev.event_specific_data else 0
            out[ev.step_key] = secs
    checks = {k: v for k, v in out.items() if "check" in k or "gx_" in k or "contract" in k}
    steps = {k: v for k, v in out.items() if k not in checks}
    return dict(sorted(steps.items(), key=lambda kv: -kv[1]), **{f"checks ({len(checks)} steps)": round(sum(checks.values()), 1)})


def work_done(instance, run_id: str) -> dict:
    """What each asset of a run says it did now (metadata such as `trained_now`,
    `frames_anonymised_now`, `frames_scored_now`): incremental steps report the new work only."""
    import dagster as dg

    out = {}
    for rec in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        m = rec.event_log_entry.dagster_event.event_specific_data.materialization
        said = {k: getattr(v, "value", v) for k, v in m.metadata.items() if k.endswith("_now") or k.endswith("_stored")}
        if said:
            out[m.asset_key.to_user_string()] = said
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo", choices=("tiny", "demo", "city"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", default="data/bench_incremental")
    ap.add_argument("--nightly", action="store_true", help="also time the nightly job on the new data afterwards")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--reuse", action="store_true", help="keep the workdir's built lake and its full-build figures "
                    "(a previous run's step 1); steps 2-5 run on it, landing the next working day and the next survey")
    args = ap.parse_args()

    base = Path(args.workdir).resolve() / args.profile
    if base.exists() and not args.reuse:
        shutil.rmtree(base)
    env = {"LAKE_URI": str(base / "lake"), "LANDING_URI": str(base / "landing"), "LAKE_STORAGE_OPTIONS": "",
           "SERVING_PATH": str(base / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(base / "dagster"),
           "CITY_PROFILE": args.profile, "SEED": str(args.seed)}
    os.environ.update(env)
    import dagster as dg
    from rich.console import Console

    from orchestration.definitions import build_definitions, resources_for
    from orchestration.runner import _execute, ingest_landing, prepare_dagster_home, run_all
    from orchestration.settings import Settings

    settings = Settings.from_env(env)
    out: dict = {"profile": args.profile, "seed": args.seed, "cpus": os.cpu_count()}
    quiet = Console(file=open(os.devnull, "w"))
    say = lambda m: None  # noqa: E731  (run progress lines are not printed)

    print(f"[1] full build from an empty lake, profile {args.profile}, seed {args.seed} (simulated city); "
          f"load {load()}", flush=True)
    full_json = base / "full_build.json"
    if args.reuse and full_json.exists():
        out["full"] = json.loads(full_json.read_text())
        print(f"    reused {full_json} (built before)")
    else:
        cpu0 = cpu_s()
        t = time.perf_counter()
        full = run_all(settings, console=quiet)
        out["full"] = {"seconds": round(time.perf_counter() - t, 1), "cpu_s": round(cpu_s() - cpu0, 1),
                       "stages": {s.name: round(s.seconds, 1) for s in full.stages}, "failures": full.failures,
                       "load_end": load(), "details": {s.name: s.detail for s in full.stages}}
        full_json.write_text(json.dumps(out["full"], indent=1))
    for name, secs in out["full"]["stages"].items():
        print(f"    {name:<18} {secs:8.1f} s  {out['full'].get('details', {}).get(name, '')[:90]}")
    print(f"    total {out['full']['seconds']} s, load at end {out['full']['load_end']}; failures: "
          f"{out['full']['failures'] or 'none'}", flush=True)
    full_build_s = sum(v for k, v in out["full"]["stages"].items() if k != "simulate")

    home = prepare_dagster_home(settings)
    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        t = time.perf_counter()
        settle, cursor, _ = run_ticks(defs, instance, None, say)
        print(f"[2] automation settled after the full build: {sum(len(x['assets']) for x in settle)} assets requested "
              f"in {len(settle)} tick(s), {time.perf_counter() - t:.1f} s; load {load()}", flush=True)
        for x in settle:
            if x["assets"]:
                print(f"    tick ran {len(x['assets'])}: {', '.join(x['assets'])}")
        out["settle"] = settle
        before, _ = duckdb_state(settings.serving_path, "1900-01-01", "-")

        t = time.perf_counter()
        landed = land_new_deliveries(args.profile, args.seed, Path(settings.landing_uri), base / "scratch")
        out["landed"] = landed | {"simulate_s": round(time.perf_counter() - t, 1)}
        print(f"[3] landed (simulator, {out['landed']['simulate_s']} s): {', '.join(landed['files'])}", flush=True)

        print(f"[4] incremental: landing sensors, then automation ticks until none requests anything; "
              f"load {load()}", flush=True)
        cpu0 = cpu_s()
        t0 = time.perf_counter()
        runs, failures = ingest_landing(defs, instance, home, resources_for(settings), say=say)
        bronze_s = time.perf_counter() - t0
        print(f"    bronze: {runs} delivery runs, {bronze_s:.1f} s; load {load()}", flush=True)
        ticks, cursor, tick_failures = run_ticks(defs, instance, cursor, say)
        incr_s = time.perf_counter() - t0
        published = [x["run_ended"] for x in ticks if "serving/cannes_duckdb" in x["assets"] and x.get("success")]
        to_duckdb_s = (published[0] - t0) if published else float("nan")
        for x in ticks:
            x.pop("run_ended", None)
        after, seen = duckdb_state(settings.serving_path, landed["new_day"], landed["survey_id"])
        for i, x in enumerate(ticks, 1):
            print(f"    tick {i}: evaluate {x['evaluate_s']} s, {len(x['assets'])} assets"
                  + (f", run {x['run_s']} s ({'ok' if x['success'] else 'FAILED'}), load {x['load']}" if x["assets"] else "")
                  + (f": {', '.join(x['assets'])}" if x["assets"] else ""), flush=True)
        for x in ticks:
            for asset, said in x.get("work", {}).items():
                print(f"      {asset}: {json.dumps(said, default=str)}")
            if x.get("steps"):
                print("      step seconds, longest first: " + ", ".join(f"{k} {v}" for k, v in list(x["steps"].items())[:14]))
            if x.get("step_cpu_s"):
                print("      step CPU seconds, longest first: "
                      + ", ".join(f"{k} {v}" for k, v in list(x["step_cpu_s"].items())[:14]))
        changed = sorted(n for n in after if before.get(n) != after[n])
        all_assets = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
        ran = sorted({a for x in ticks for a in x["assets"]})
        not_ran = [a for a in all_assets if a not in ran and not a.startswith(("bronze/", "lake/"))]
        out["incremental"] = {"seconds": round(incr_s, 1), "to_duckdb_s": round(to_duckdb_s, 1), "cpu_s": round(cpu_s() - cpu0, 1),
                              "bronze_s": round(bronze_s, 1), "delivery_runs": runs, "ticks": ticks,
                              "failures": failures + tick_failures, "load_end": load(),
                              "assets_ran": ran, "assets_not_ran": not_ran, "duckdb_tables_changed": changed,
                              "new_rows_visible": seen}
        print(f"    DuckDB tables changed ({len(changed)} of {len(after)}): {', '.join(changed)}")
        print(f"    new day {landed['new_day']} / survey {landed['survey_id']} visible in DuckDB: "
              f"{json.dumps(seen) if seen else 'NOWHERE'}")
        print(f"    assets after bronze not run ({len(not_ran)}): {', '.join(not_ran)}")
        print(f"    incremental: {to_duckdb_s:.1f} s until DuckDB was published with them, {incr_s:.1f} s until a tick "
              f"requested nothing more (CPU {out['incremental']['cpu_s']} s), "
              f"load {load()}; failures: {failures + tick_failures or 'none'}", flush=True)

        if args.nightly:
            t = time.perf_counter()
            nf = _execute(defs, instance, "nightly_marts", say=say)
            out["nightly_after"] = {"seconds": round(time.perf_counter() - t, 1), "failures": nf, "load_end": load()}
            print(f"[5] nightly_marts on the same lake: {out['nightly_after']['seconds']} s, load {load()}; "
                  f"failures {nf or 'none'}", flush=True)

    ratio = to_duckdb_s / full_build_s if full_build_s else float("nan")
    out["ratio_incremental_over_full"] = round(ratio, 3)
    full_cpu = out["full"].get("cpu_s", out["full"].get("cpu_s_driver"))
    cpu_ratio = out["incremental"]["cpu_s"] / full_cpu if full_cpu else float("nan")
    out["cpu_ratio_incremental_over_full"] = round(cpu_ratio, 3)
    ok = (not out["incremental"]["failures"] and not out["full"]["failures"] and any(k.endswith("survey_id") for k in seen)
          and any(not k.endswith("survey_id") for k in seen))
    print(f"\nprofile {args.profile} (simulated): full build {full_build_s:.0f} s (bronze + silver..DuckDB, without "
          f"simulating), new day + new survey in DuckDB after {to_duckdb_s:.0f} s -> ratio {ratio:.2f} (CPU "
          f"{out['incremental']['cpu_s']} s of {full_cpu} s with simulating: {cpu_ratio:.2f}); target <= 120 s: "
          f"{'met' if to_duckdb_s <= 120 else 'NOT met'}; new rows in DuckDB: {'yes' if ok else 'NO'}; load {load()}")
    if args.nightly:
        print(f"nightly_marts afterwards (full refresh after bronze): {out['nightly_after']['seconds']} s, "
              f"ratio {out['nightly_after']['seconds'] / full_build_s:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
