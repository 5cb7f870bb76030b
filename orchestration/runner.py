"""`make run` / `lakehouse run`: simulate the city, then drive the same Dagster definitions the
UI and the daemon use, stage by stage, and print a summary.

Ingestion goes through the real sensors: each sensor is evaluated against the landing zone, its
new dynamic partitions registered and each run request executed with the sensor's run key, so a
second `make run` finds nothing new and the daemon, started later, does not re-run what ran here.
Runs are recorded in the Dagster instance under DAGSTER_HOME and appear in the UI.
"""

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.table import Table

from .progress import execute_watched, heartbeat
from .settings import Settings, set_dagster_home

REPO_ROOT = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    detail: str = ""
    rows: int = 0


@dataclass
class RunSummary:
    stages: list[Stage] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)
    silver_rows: dict[str, int] = field(default_factory=dict)
    gold_rows: dict[str, int] = field(default_factory=dict)
    ingested_runs: int = 0
    quarantined: int = 0


def prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME with the repository's dagster.yaml, or the DAGSTER_PROFILE's (the instance
    config lives there)."""
    from .settings import INSTANCE_PROFILES

    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    src = REPO_ROOT / INSTANCE_PROFILES[settings.dagster_profile]
    dst = home / "dagster.yaml"
    if src.exists() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    set_dagster_home(home)
    return home


def _cursor_file(home: Path) -> Path:
    return home / "lakehouse_sensor_cursors.json"


def ingest_landing(defs: dg.Definitions, instance: dg.DagsterInstance, home: Path, resources: dict,
                   say=print) -> tuple[int, list[str]]:
    """Evaluate every landing sensor and execute what it requests. Returns (runs, failures)."""
    from assets.sources import SOURCES

    from .recovery import recover_dead_runs, worker_tags
    from .sensors import _now, ingest_job_name

    # runs a killed driver left STARTED are marked failed and their pool slots freed; the sensors
    # below then retry their deliveries (a delivery is done only when its run succeeded)
    recover_dead_runs(instance, say=say)
    cursors_path = _cursor_file(home)
    cursors = json.loads(cursors_path.read_text()) if cursors_path.exists() else {}
    runs_done, failures = 0, []
    for source in SOURCES:
        sensor = defs.resolve_sensor_def(f"landing_{source.name}")
        ctx = dg.build_sensor_context(instance=instance, cursor=cursors.get(sensor.name), definitions=defs,
                                      sensor_name=sensor.name, resources=resources)
        result = sensor(ctx)
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        job = defs.resolve_job_def(ingest_job_name(source))
        requests = result.run_requests or []
        for i, req in enumerate(requests, start=1):
            already = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": req.run_key,
                                                                    "dagster/sensor_name": sensor.name}), limit=1)
            if already and already[0].is_success:
                continue
            tags = {**req.tags, "dagster/run_key": req.run_key, "dagster/sensor_name": sensor.name, **worker_tags()}
            what = req.partition_key or delivery_range(req)   # one delivery, or a batch (a partition range)
            res = execute_watched(job, instance, say, assets=False, label=f"{source.name}/{what}: ",
                                  partition_key=req.partition_key, tags=tags, run_config=QUIET, raise_on_error=False)
            runs_done += 1
            if not res.success:
                failures.append(f"{source.name}/{what}: run {res.run_id} failed")
            if len(requests) > 20 and i % 20 == 0:
                say(f"    {source.name}: {i}/{len(requests)} deliveries")
        if requests:
            n = sum(int(r.tags.get("lakehouse/batch_size", 1)) for r in requests)
            say(f"  {source.name}: {n} new deliveries" + (f" in {len(requests)} runs" if n != len(requests) else ""))
        # the cursor keeps each delivery pending until its run succeeded: a failed one is retried
        # by the next `make run` (or the daemon) after its backoff, then quarantined at the limit
        cursors[sensor.name] = result.cursor
        _write_atomic(cursors_path, json.dumps(cursors, indent=1, sort_keys=True))
        waiting = [(k, v[3]) for k, v in json.loads(result.cursor).items() if len(v) > 3 and v[3].get("due")]
        for k, st in waiting:
            failures.append(f"{source.name}/{k}: run {st['attempt']} failed, retry {st['attempt'] + 1} due in "
                            f"{max(0, st['due'] - _now()):.0f} s (next `make run` or the daemon): "
                            f"{st.get('last_error', '')[:200]}")
    return runs_done, failures


def delivery_range(req: dg.RunRequest) -> str:
    """`first..last (n deliveries)` of a batched run request."""
    from .sensors import BATCH_TAG, RANGE_END, RANGE_START

    return f"{req.tags[RANGE_START]}..{req.tags[RANGE_END]} ({req.tags.get(BATCH_TAG, '?')} deliveries)"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _execute(defs: dg.Definitions, instance, job_name: str, say=print) -> list[str]:
    res = execute_watched(defs.resolve_job_def(job_name), instance, say, raise_on_error=False, run_config=QUIET)
    if res.success:
        return []
    failed = [e.step_key for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    checks = [e.event_specific_data.asset_check_key.to_user_string()
              for e in res.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and not e.event_specific_data.passed]
    return [f"{job_name}: failed steps {failed}, failed checks {checks} (run {res.run_id})"]


def _nothing_delivered(settings: Settings) -> bool:
    from assets.sources import SOURCES

    lake = settings.lake()
    return not any(lake.exists("bronze", s.bronze_table) for s in SOURCES)


def run_all(settings: Settings, *, simulate: bool = True, bad_inputs: bool = True,
            console: Console | None = None) -> RunSummary:
    console = console or Console(width=max(120, Console().width))
    summary = RunSummary()
    home = prepare_dagster_home(settings)

    def stage(name: str):
        console.rule(f"[bold]{name}")
        return time.perf_counter()

    if simulate:
        t = stage(f"1/3 simulate the city (profile {settings.city_profile}, seed {settings.seed})")
        from models.simulator import simulate as sim
        from models.simulator import simulated_marker

        done = simulated_marker(settings.landing_uri)
        if done and done["profile"] == settings.city_profile and done["seed"] == settings.seed:
            console.print(f"  the landing zone already holds this city (profile {done['profile']}, seed "
                          f"{done['seed']}): not simulated again (`make clean` starts over)")
            stats = {}
        elif done:
            raise SystemExit(f"the landing zone {settings.landing_uri} holds another city (profile {done['profile']}, "
                             f"seed {done['seed']}); run `make clean` or point LANDING_URI/LAKE_URI elsewhere")
        else:
            with heartbeat(console.print, "simulating") as say:
                stats = sim(settings.city_profile, settings.seed, settings.landing_uri, settings.ground_truth_path,
                            bad_inputs=bad_inputs, progress=lambda m: say(f"  {m}"))
        brief = ", ".join(f"{k} {v['seconds']} s" for k, v in stats.items() if isinstance(v, dict) and "seconds" in v)
        summary.stages.append(Stage("simulate", time.perf_counter() - t, brief))

    from .definitions import build_definitions, resources_for

    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        t = stage("2/3 ingest the landing zone into bronze (one sensor per source)")
        runs, failures = ingest_landing(defs, instance, home, resources_for(settings), say=console.print)
        summary.ingested_runs = runs
        summary.failures += failures
        summary.stages.append(Stage("bronze", time.perf_counter() - t, f"{runs} delivery runs"))

        t = stage("3/3 silver, models and scoring, plans, gold marts, DuckDB publication (job nightly_marts)")
        if _nothing_delivered(settings):   # a real city's empty landing zone: an empty state, not a failure
            console.print(f"  no delivery has reached bronze (landing zone {settings.landing_uri}): nothing to build")
            summary.stages.append(Stage("silver to DuckDB", 0.0, "nothing delivered"))
        else:
            summary.failures += _execute(defs, instance, "nightly_marts", say=console.print)
            summary.stages.append(Stage("silver to DuckDB", time.perf_counter() - t))
            # after silver too: some silver steps quarantine frames and tiles
            report_quarantine(instance, settings, say=console.print)

    from quality.suites import SILVER_SUITES

    from .definitions import published

    lake = settings.lake()
    summary.silver_rows = {t: lake.count("silver", t) for t in SILVER_SUITES}
    summary.gold_rows = {f"{g.schema}.{t}": lake.count("gold", t) for t, g in published(defs).items()}
    summary.quarantined = lake.count("", "quarantine")
    summary.published = published_counts(settings.serving_path)
    for st in summary.stages:
        st.rows = 0
    print_summary(console, settings, summary)
    return summary


def report_quarantine(instance: dg.DagsterInstance, settings: Settings, say=print) -> None:
    """Record a materialisation of `lake/quarantine` (an external asset: the bronze ingestion
    appends to it) with its rows, columns and counts by source, so the UI shows its state."""
    from assets.lake import QUARANTINE_SCHEMA, table_metadata

    lake = settings.lake()
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    by_source = q.group_by("source").len().sort("source").to_dicts() if q.height else []
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=["lake", "quarantine"], description="quarantine log after ingestion (make run)",
        metadata=table_metadata(q.sort("quarantined_at", nulls_last=True), extra={
            "by_source": dg.MetadataValue.json(by_source), "delta_path": "quarantine"})))
    say(f"  lake/quarantine: {q.height} entries recorded")


def published_counts(path: str) -> dict[str, int]:
    import duckdb

    if not Path(path).exists():
        return {}
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute("SELECT schema_name || '.' || table_name, row_count FROM main.lakehouse_catalog "
                           "ORDER BY 1").fetchall()
    return dict(rows)


def print_summary(console: Console, settings: Settings, s: RunSummary) -> None:
    t = Table(title="Stages")
    t.add_column("stage"); t.add_column("seconds", justify="right"); t.add_column("detail")
    for st in s.stages:
        t.add_row(st.name, f"{st.seconds:.1f}", st.detail)
    console.print(t)
    m = Table(title=f"Marts published to {settings.serving_path}")
    m.add_column("schema.table"); m.add_column("rows", justify="right")
    for k, v in s.published.items():
        m.add_row(k, str(v))
    console.print(m)
    communes = sorted((Path(settings.serving_path).parent / "communes").glob("*.duckdb"))
    if communes:
        console.print("commune files (each holds only its commune's rows): " + ", ".join(str(p) for p in communes))
    console.print("silver: " + ", ".join(f"{k} {v}" for k, v in s.silver_rows.items()))
    console.print(f"quarantine: {s.quarantined} entries (SELECT * FROM direction.data_quarantine, or "
                  f"`.venv/bin/lakehouse quarantine`)")
    if s.failures:
        console.print("[bold red]Failures:[/]")
        for f in s.failures:
            console.print(f"  [red]{f}[/]")
    console.print(
        "\n[bold]What to open next[/]\n"
        f"  • Dagster UI:   make ui   → http://127.0.0.1:3000 (assets by service, sensors, the nightly schedule)\n"
        f"  • DuckDB CLI:   .venv/bin/duckdb -readonly {settings.serving_path}\n"
        f"      SELECT * FROM proprete.tonnage_daily LIMIT 10;\n"
        f"  • BI tools:     DBeaver / Superset / Metabase → DuckDB file {settings.serving_path} (read-only)\n"
        f"  • Delta tables: {settings.lake_uri} (bronze/, silver/, gold/, quarantine)\n")
