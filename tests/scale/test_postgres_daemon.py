"""The Postgres instance profile (orchestration/instance/dagster.postgres.yaml) under the real
daemon: `dagster-daemon run` against the local PostgreSQL ticks a sensor and a schedule, and the
queued runs they request are launched and succeed; everything lands in PostgreSQL tables."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import service_available

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def pg_home(tmp_path):
    service_available("127.0.0.1", 5432, "PostgreSQL")
    import psycopg2

    db = f"dagster_daemon_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db}")
    shutil.copy(ROOT / "orchestration" / "instance" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: tests.scale.daemon_defs\n"
        f"      working_directory: {ROOT}\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DAGSTER_PG_HOST": "127.0.0.1",
           "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db,
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    try:
        yield tmp_path, env, db
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.close()


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
