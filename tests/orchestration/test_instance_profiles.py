"""The instance configurations load, and the Postgres profile really works against the local
PostgreSQL (skipped where it is absent, required under CI=true)."""

import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import service_available

ROOT = Path(__file__).resolve().parents[2]


def test_default_profile_is_sqlite_with_pools_and_no_telemetry(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as inst:
        assert type(inst.run_storage).__name__ == "SqliteRunStorage"
        assert type(inst.event_log_storage).__name__ == "ConsolidatedSqliteEventLogStorage"
        assert type(inst.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert inst.get_settings("telemetry")["enabled"] is False
        assert inst.get_settings("concurrency")["pools"]["default_limit"] == 1


@pytest.mark.services
def test_postgres_profile_runs_a_job(tmp_path, monkeypatch):
    service_available("127.0.0.1", 5432, "PostgreSQL")
    import psycopg2

    db = f"dagster_test_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db}")
    try:
        for k, v in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "",
                     "DAGSTER_PG_DB": db}.items():
            monkeypatch.setenv(k, v)
        shutil.copy(ROOT / "orchestration" / "instance" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(tmp_path)) as inst:
            assert type(inst.run_storage).__name__ == "PostgresRunStorage"

            @dg.asset
            def one():
                return 1

            res = dg.materialize([one], instance=inst)
            assert res.success
            assert inst.get_run_by_id(res.run_id).is_success
            assert inst.get_latest_materialization_event(dg.AssetKey("one")) is not None
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.close()
