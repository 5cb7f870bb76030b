"""Fault-injection bench: a fixed list of bad inputs and faults thrown at a tiny simulated city,
as an outside tester would after `make run`, and what the platform did with each.

    python bench/faults_bench.py [--work DIR] [--seed 7] [--profile tiny]

Prints, per probe, whether it was survived (the expected outcome held), then: faults tried,
survived, rows lost (good rows that never reached bronze: must be 0), stale rows (silver rows no
delivery holds any more: must be 0), runs hung (runs still in progress at the end, or a pass that
did not finish in time: must be 0), seconds to recover after a kill -9 mid Delta write, and
whether two further `make run` passes give identical row counts and content hashes for every mart
(run-time stamp columns such as `generated_at` left out, as `bench/rerun_bench.py` does)
published to DuckDB. All figures are on the simulator's city (profile tiny), not on real
deliveries. The retry backoff is shortened to 1 s here (RETRY_BACKOFF_S) so the bench does not
sleep; the limit and the order of events are the production ones.
"""

import argparse
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

LOG_HEADER = "truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination\n"


@dataclass
class Probe:
    name: str
    survived: bool = False
    detail: str = ""
    rows_lost: int = 0


def env_for(work: Path, profile: str, seed: int) -> dict:
    return {"LAKE_URI": str(work / "lake"), "LANDING_URI": str(work / "landing"),
            "SERVING_PATH": str(work / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(work / "dagster"),
            "CITY_PROFILE": profile, "SEED": str(seed)}


def mart_snapshot(serving: str) -> dict:
    """Every mart published to the DuckDB file, as a Polars frame."""
    import duckdb

    from rerun_bench import _volatile   # one definition of "when it ran" columns (publication, generation time)

    with duckdb.connect(serving, read_only=True) as con:
        names = con.execute("SELECT schema_name, table_name FROM main.lakehouse_catalog").fetchall()
        out = {}
        for s, t in names:
            df = con.execute(f'SELECT * FROM "{s}"."{t}"').pl()
            out[f"{s}.{t}"] = df.drop([c for c in df.columns if _volatile(s, t, c)])
        return out


def mart_hash(df) -> tuple[int, str]:
    """(rows, sha256 of the rows sorted): a mart's count and content hash."""
    text = "\n".join(sorted(repr(r) for r in df.rows()))
    return df.height, hashlib.sha256(text.encode()).hexdigest()[:16]


def differing_columns(a, b) -> list[str]:
    import polars as pl

    if a.columns != b.columns or a.height != b.height:
        return ["<shape>"]
    return [c for c in a.columns if a[c].cast(pl.Utf8).sort().to_list() != b[c].cast(pl.Utf8).sort().to_list()]


def stale_rows(lake) -> dict[str, int]:
    """Silver rows whose key no bronze delivery holds any more."""
    import polars as pl

    pairs = {"collection_events": ("collection_logs", ["bin_id", "collected_at"]),
             "bin_readings": ("bin_readings", ["message_id"]),
             "litter_detections": ("litter_detections", ["detection_id"]),
             "documents": ("documents", ["file"]), "lidar_tiles": ("lidar_tiles", ["tile_id", "epoch"])}
    out = {}
    for silver, (bronze, keys) in pairs.items():
        if not (lake.exists("silver", silver) and lake.exists("bronze", bronze)):
            continue
        s = lake.read("silver", silver, columns=keys)
        b = lake.read("bronze", bronze, columns=keys).unique()
        if "collected_at" in keys:  # bronze keeps the delivered instant, silver the same in UTC
            b = b.with_columns(pl.col("collected_at").dt.convert_time_zone("UTC"))
            s = s.with_columns(pl.col("collected_at").dt.convert_time_zone("UTC"))
        out[silver] = s.join(b, on=keys, how="anti").height
    return out


def in_progress_runs(instance) -> int:
    import dagster as dg

    return len(instance.get_runs(filters=dg.RunsFilter(statuses=[
        dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED])))


def bronze_rows(lake, table: str, delivery: str) -> int:
    if not lake.exists("bronze", table):
        return 0
    return lake.read("bronze", table, columns=["_delivery"], filters=[("_delivery", "=", delivery)]).height


def quarantined(lake, source: str, delivery: str, contains: str = "") -> list[str]:
    from assets.lake import QUARANTINE_SCHEMA

    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    q = q.filter((q["source"] == source) & (q["delivery"] == delivery))
    return [r for r in q["reason"].to_list() if contains in r]


def zero_point_laz() -> bytes:
    import laspy
    from pyproj import CRS

    h = laspy.LasHeader(point_format=6, version="1.4")
    h.offsets, h.scales = [1025000.0, 6280000.0, 0.0], [0.01, 0.01, 0.01]
    h.add_crs(CRS.from_epsg(2154))
    buf = io.BytesIO()
    laspy.LasData(h).write(buf, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    return buf.getvalue()


KILL_CHILD = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import assets.lake as L
real = L.write_deltalake
def stuck(uri, *a, **k):
    if "bronze/collection_logs" in str(uri):
        Path(os.environ["FAULT_READY"]).write_text(str(os.getpid()))
        time.sleep(600)
    return real(uri, *a, **k)
L.write_deltalake = stuck
from orchestration.settings import get_settings
from tests.faults.helpers import drive
drive(get_settings())
"""
AGAIN_CHILD = """
import sys
sys.path.insert(0, {root!r})
from orchestration.settings import get_settings
from tests.faults.helpers import drive
r = drive(get_settings())
print("RESULT", r["runs"], len(r["failures"]))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="working folder (default: a new temporary one)")
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="faults_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(env_for(work, args.profile, args.seed))
    print(f"work folder {work}; load: {os.popen('uptime').read().strip()}")

    import dagster as dg
    import polars as pl
    from rich.console import Console

    import assets.bronze as B
    from assets.lake import Lake
    from orchestration import sensors as S
    from orchestration.mqtt import RAW_LIMIT, parse_batch
    from orchestration.runner import run_all
    from orchestration.settings import get_settings
    from tests.faults.helpers import drive, write

    settings = get_settings()
    landing, lake = Path(settings.landing_uri), Lake(settings.lake_uri)
    S.RETRY_BACKOFF_S = (1, 1, 1)
    log = open(work / "runs.log", "a")
    console = Console(file=log, width=160)
    hung = 0

    def make_run(simulate: bool = False):
        t = time.perf_counter()
        s = run_all(settings, simulate=simulate, bad_inputs=True, console=console)
        return s, time.perf_counter() - t

    base, secs = make_run(simulate=True)
    print(f"baseline make run (simulate + everything): {secs:.0f} s, {len(base.failures)} failure(s)")
    logs = sorted((landing / "waste/collection_logs").glob("collecte_*.csv"))
    sample = next(p for p in logs if p.read_text().count("\n") >= 6 and "_" not in p.stem[9:])
    lines = sample.read_text().splitlines(keepends=True)
    good_row = lines[1]

    def row_on(day: str) -> str:
        """The sample's first row moved to another day (same truck and bin: references hold)."""
        f = good_row.split(",")
        f[3] = day + f[3][10:]
        return ",".join(f)
    probes: list[Probe] = []
    P = lambda name: probes.append(Probe(name)) or probes[-1]  # noqa: E731

    # ---------------------------------------------------------------- file probes, one pass
    cl = "waste/collection_logs"
    write(landing, f"{cl}/collecte_2031-01-01.csv", b"")
    write(landing, f"{cl}/collecte_2031-01-02.csv", (LOG_HEADER + row_on("2031-01-02").replace(",", ",Réservé-", 1)).encode("latin-1"))
    write(landing, f"{cl}/collecte_2031-01-03.csv", ("\ufeff" + LOG_HEADER + row_on("2031-01-03"))
          .replace("\n", "\r\n").encode("utf-8"))
    write(landing, f"{cl}/collecte_2031-01-04.csv", bytes(random.Random(1).getrandbits(8) for _ in range(4096)))
    jl = sorted((landing / "waste/bin_sensors").glob("*.jsonl"))[0].read_text().splitlines()
    fresh = [json.loads(x) for x in jl[:5]]
    for i, m in enumerate(fresh):
        m["message_id"] = f"bench-trunc-{i}"
    write(landing, "waste/bin_sensors/capteurs_2031-01-05.jsonl",
          "\n".join(json.dumps(m) for m in fresh[:4]) + "\n" + json.dumps(fresh[4])[:37])
    write(landing, "trees/tiles/2031/L93_1025000_6280000.laz", b"")
    write(landing, "trees/tiles/2031/L93_1025500_6280000.laz", zero_point_laz())
    write(landing, "trees/tiles/2031/L93_1026000_6280000.laz", b"LASF" + bytes(random.Random(4).getrandbits(8)
                                                                             for _ in range(5000)))
    odd = "collecte 2031-01-06 (copie) é'$x.csv"
    write(landing, f"{cl}/{odd}", LOG_HEADER + row_on("2031-01-06"))
    other = next(p for p in logs if p != sample and p.read_text().count("\n") >= 2 and "_" not in p.stem[9:])
    write(landing, f"{cl}/collecte_2031-01-07_doublon.csv", other.read_bytes())  # not the file corrected below
    survey = landing / "roads/surveys/S-2031-01"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    write(survey, "f0001.jpg", png)
    write(survey, "manifest.json", json.dumps({"survey_id": "S-2031-01", "vehicle_id": "VH-9", "frames": [
        {"file": "f0001.jpg", "sha256": hashlib.sha256(png).hexdigest()}]}))
    os.symlink("/etc/passwd", landing / cl / "collecte_2031-01-08.csv")
    outside = work / "outside.csv"
    outside.write_text(LOG_HEADER + row_on("2031-01-09"))
    os.symlink(outside, landing / cl / "collecte_2031-01-09.csv")
    write(landing, f"{cl}/collecte_2031-01-10.csv", LOG_HEADER.replace("\n", ",driver\n")
          + row_on("2031-01-10").replace("\n", ",Paul\n"))
    corrected = lines[:1] + lines[1:4]
    corrected[2] = corrected[2].replace(corrected[2].split(",")[4], str(float(corrected[2].split(",")[4]) + 1.0), 1)
    sample.write_text("".join(corrected))
    s1, secs = make_run()
    print(f"make run after the file probes: {secs:.0f} s")

    def expect(name: str, ok: bool, detail: str, lost: int = 0):
        p = P(name)
        p.survived, p.detail, p.rows_lost = bool(ok), detail, lost

    q = lambda d, src="collection_logs", c="": quarantined(lake, src, d, c)  # noqa: E731
    expect("empty CSV (0 bytes)", q("collecte_2031-01-01.csv", c="empty"), "quarantined: empty file")
    expect("Latin-1 CSV", q("collecte_2031-01-02.csv", c="UTF-8"), "quarantined: not UTF-8")
    n = bronze_rows(lake, "collection_logs", "collecte_2031-01-03.csv")
    expect("BOM + CRLF CSV", n == 1, f"{n}/1 row landed", 1 - n)
    expect("random bytes as CSV", q("collecte_2031-01-04.csv"), "quarantined")
    n = bronze_rows(lake, "bin_readings", "capteurs_2031-01-05.jsonl")
    expect("truncated JSONL", n == 4 and q("capteurs_2031-01-05.jsonl", "bin_readings", "invalid JSON"),
           f"{n}/4 good lines landed, the cut line quarantined", 4 - n)
    expect("0-byte LAZ", q("2031/L93_1025000_6280000.laz", "lidar_tiles"), "quarantined")
    expect("0-point LAZ", q("2031/L93_1025500_6280000.laz", "lidar_tiles", "no points")
           or q("2031/L93_1025500_6280000.laz", "lidar_tiles"), "quarantined")
    r = q("2031/L93_1026000_6280000.laz", "lidar_tiles", "header check")
    expect("poison LAZ (LASF + 5 KB random)", r, "quarantined by the header check, no points read")
    n = bronze_rows(lake, "collection_logs", odd)
    expect("odd file name (spaces, accent, quote, $)", n == 1, f"{n}/1 row landed", 1 - n)
    expect("duplicate delivery", q("collecte_2031-01-07_doublon.csv", c="duplicate"), "quarantined as duplicate")
    expect("PNG named .jpg in a survey", quarantined(lake, "road_surveys", "S-2031-01"), "frame quarantined")
    r = q("collecte_2031-01-08.csv", c="symbolic link")
    expect("symlink to /etc/passwd", r and not any("root:" in x for x in q("collecte_2031-01-08.csv")),
           "refused unread, link moved to quarantine")
    n = bronze_rows(lake, "collection_logs", "collecte_2031-01-09.csv")
    expect("symlink to a CSV outside the landing zone", n == 0 and q("collecte_2031-01-09.csv", c="symbolic"),
           f"refused, {n} rows ingested")
    n = bronze_rows(lake, "collection_logs", "collecte_2031-01-10.csv")
    expect("extra CSV column", n == 1 and q("collecte_2031-01-10.csv", c="schema drift"),
           f"{n}/1 row landed, drift recorded", 1 - n)
    ev = lake.read("silver", "collection_events").filter(pl.col("source_file").str.ends_with(sample.name))
    gold_ok = ev["net_weight_kg"].sum() == pytest_approx(sum(float(x.split(",")[4]) for x in corrected[1:]))
    expect("corrected re-delivery (5+ rows then 3)", ev.height == 3 and gold_ok,
           f"silver holds {ev.height} rows of it (3 expected)")
    huge = b'{"id": "' + b"x" * (1 << 20)
    _, bad = parse_batch([huge])
    expect("1 MB malformed MQTT payload", len(bad) == 1 and len(bad[0]["raw"]) < RAW_LIMIT + 100
           and bad[0]["raw"].startswith('{"id": "xxx'), f"raw kept: {len(bad[0]['raw'])} chars of {len(huge)} bytes")

    # ---------------------------------------------------------------- faults during runs
    from assets.lake import Lake as LakeCls

    # 40 detections taken from the simulated deliveries (positions on the city's streets), new ids
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = pa.concat_tables([pq.read_table(f) for f in sorted((landing / "waste/litter").glob("litter_*.parquet"))])
    src = src.slice(0, 40)
    src = src.set_column(src.column_names.index("detection_id"), "detection_id",
                         pa.array([f"BENCH-{i:05d}" for i in range(src.num_rows)]))
    pq.write_table(src, landing / "waste/litter/litter_2031-01-11.parquet")
    real = LakeCls.replace_where

    def refuse(self, layer, tbl, *a, **k):
        if (layer, tbl) == ("bronze", "litter_detections"):
            raise PermissionError(f"[Errno 13] Permission denied: '{self.uri(layer, tbl)}'")
        return real(self, layer, tbl, *a, **k)

    LakeCls.replace_where = refuse
    r1 = drive(settings)
    LakeCls.replace_where = real
    time.sleep(1.1)
    drive(settings)  # sees the failure, schedules the retry
    time.sleep(1.1)
    drive(settings)
    n = bronze_rows(lake, "litter_detections", "litter_2031-01-11.parquet")
    expect("bronze table unwritable for one run", any("litter_detections" in f for f in r1["failures"]) and n == 40,
           f"first run failed naming the table; after restore {n}/40 rows landed", 40 - n)

    bad_csv = write(landing, f"{cl}/collecte_2031-01-12.csv", b"\xff\xfe\x00")
    real_move = B.move_to_quarantine
    B.move_to_quarantine = lambda *a, **k: (_ for _ in ()).throw(SystemError("crash between reason and move"))
    drive(settings)
    B.move_to_quarantine = real_move
    time.sleep(1.1)
    drive(settings)
    time.sleep(1.1)
    drive(settings)
    expect("crash between quarantine reason and move", not bad_csv.exists() and len(q("collecte_2031-01-12.csv")) == 1,
           "reason recorded once, file moved on retry")

    write(landing, f"{cl}/collecte_2031-01-13.csv", LOG_HEADER + row_on("2031-01-13"))
    ready = work / "ready"
    env = {**os.environ, "FAULT_READY": str(ready)}
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD.format(root=str(ROOT))], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not ready.exists() and child.poll() is None and time.time() - t0 < 300:
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    t_kill = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", AGAIN_CHILD.format(root=str(ROOT))], cwd=ROOT, env=os.environ.copy(),
                             capture_output=True, text=True, timeout=300).stdout
    except subprocess.TimeoutExpired:
        out, hung = "", hung + 1
    recover_s = time.perf_counter() - t_kill
    n = bronze_rows(lake, "collection_logs", "collecte_2031-01-13.csv")
    expect("kill -9 during a Delta write", "RESULT" in out and n == 1,
           f"next pass completed in {recover_s:.1f} s, {n}/1 row landed", 1 - n)

    # ---------------------------------------------------------------- two more make runs: nothing moves
    a_run, secs_a = make_run()
    a = mart_snapshot(settings.serving_path)
    b_run, secs_b = make_run()
    b = mart_snapshot(settings.serving_path)
    counts_differ = sorted(k for k in set(a) | set(b) if k not in a or k not in b or a[k].height != b[k].height)
    differ = {k: differing_columns(a[k], b[k]) for k in sorted(set(a) & set(b)) if mart_hash(a[k]) != mart_hash(b[k])}
    expect("two make runs after the probes: counts", not counts_differ and not b_run.failures,
           f"{len(a)} marts, identical row counts" if not counts_differ else f"differ: {', '.join(counts_differ)}")
    expect("two make runs after the probes: content hashes", not differ,
           f"{len(a) - len(differ)}/{len(a)} marts identical" + ("; differing columns: " + "; ".join(
               f"{k} ({', '.join(v)})" for k, v in differ.items()) if differ else ""))
    stale = stale_rows(lake)
    with dg.DagsterInstance.get() as instance:
        hung += in_progress_runs(instance)

    print(f"\n{'probe':48} {'survived':9} detail")
    for p in probes:
        print(f"{p.name:48} {'yes' if p.survived else 'NO':9} {p.detail}")
    print(f"\nfaults tried: {len(probes)}")
    print(f"survived: {sum(p.survived for p in probes)}")
    print(f"rows lost: {sum(max(0, p.rows_lost) for p in probes)}")
    print(f"stale rows: {sum(stale.values())} ({', '.join(f'{k} {v}' for k, v in stale.items())})")
    print(f"runs hung: {hung}")
    print(f"seconds to recover after kill -9: {recover_s:.1f}")
    print(f"make run after probes: {secs_a:.0f} s then {secs_b:.0f} s; failures reported: "
          f"{len(a_run.failures)} then {len(b_run.failures)}")
    print(f"figures measured on the simulator (profile {args.profile}, seed {args.seed}); load: "
          f"{os.popen('uptime').read().strip()}")
    log.close()
    ok = all(p.survived for p in probes) and not sum(stale.values()) and not hung
    return 0 if ok else 1


def pytest_approx(x: float, tol: float = 1e-6):
    class _A:
        def __eq__(self, other):
            return abs(other - x) <= tol
    return _A()


if __name__ == "__main__":
    sys.exit(main())
