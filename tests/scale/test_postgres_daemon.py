"""The Postgres instance profile (orchestration/instance/dagster.postgres.yaml) under the real
daemon: `dagster-daemon run` against the local PostgreSQL ticks a sensor and a schedule, and the
queued runs they request are launched and succeed; everything lands in PostgreSQL tables."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.slow]


def _query(db: str, sql: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db) as con, con.cursor() as cur:
        try:
            cur.execute(sql)
            return cur.fetchall()
        except psycopg2.errors.UndefinedTable:
            return []


def test_daemon_ticks_sensor_and_schedule_on_postgres(pg_home):
    home, env, db = pg_home
    daemon = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")]
    with open(home / "daemon.log", "w") as log:
        proc = subprocess.Popen(daemon, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240   # a schedule every minute: up to ~60 s to its first tick
        ticks, runs = [], []
        while time.monotonic() < deadline:
            ticks = _query(db, "SELECT selector_id, type, status FROM job_ticks")
            runs = _query(db, "SELECT status FROM runs")
            kinds = {(t, s) for _, t, s in ticks}
            if {("SENSOR", "SUCCESS"), ("SCHEDULE", "SUCCESS")} <= kinds and runs.count(("SUCCESS",)) >= 2:
                break
            assert proc.poll() is None, (home / "daemon.log").read_text()[-3000:]
            time.sleep(3)
        kinds = {(t, s) for _, t, s in ticks}
        assert ("SENSOR", "SUCCESS") in kinds, (ticks, (home / "daemon.log").read_text()[-3000:])
        assert ("SCHEDULE", "SUCCESS") in kinds, (ticks, (home / "daemon.log").read_text()[-3000:])
        assert runs.count(("SUCCESS",)) >= 2, (runs, (home / "daemon.log").read_text()[-3000:])
        # the daemon's heartbeats are in PostgreSQL too (what the UI's daemon page reads)
        beats = {r[0] for r in _query(db, "SELECT daemon_type FROM daemon_heartbeats")}
        assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= beats
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
