"""The distributed executor: a job's steps sent through RabbitMQ (broker) to a dagster-celery
worker process, results through Redis, the instance on PostgreSQL; the two independent steps run in the worker, not here."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import service_available

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_job_steps_run_on_a_celery_worker(pg_home, monkeypatch):
    service_available("127.0.0.1", 5672, "RabbitMQ")
    service_available("127.0.0.1", 6379, "Redis")
    import dagster as dg

    tmp_path, pg_env, _ = pg_home   # the Postgres instance: worker processes share it safely (SQLite races)
    cfg_path = ROOT / "orchestration" / "instance" / "celery.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())["execution"]["config"]
    queue = f"lakehouse-test-{uuid.uuid4().hex[:8]}"   # this test's own queue: no other worker takes its steps
    env = {**pg_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # `celery`
    for k in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(k, env[k])
    worker = [str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-y", str(cfg_path),
              "-n", queue, "-q", queue, "-A", "dagster_celery.app"]
    with open(tmp_path / "worker.log", "w") as log:
        # its own process group: `dagster-celery worker start` execs `celery`, which forks its pool
        proc = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        from tests.scale import daemon_defs

        run_config = {"execution": {"config": {**cfg, "config_source": {"task_default_queue": queue}}}}
        with dg.DagsterInstance.get() as inst:
            t = time.monotonic()
            with dg.execute_job(dg.reconstructable(_fan_job), instance=inst, run_config=run_config) as res:
                assert res.success, (tmp_path / "worker.log").read_text()[-3000:]
                a, b = res.output_for_node("both")
            assert a["pid"] != os.getpid() and b["pid"] != os.getpid()   # ran in the worker's processes
            assert time.monotonic() - t < 240
            engine = [e.dagster_event.event_type_value for e in inst.all_logs(res.run_id) if e.is_dagster_event]
            assert engine.count("STEP_SUCCESS") == 3
        assert daemon_defs.fan_job.executor_def.name == "celery"
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop the worker and the pool processes it forked (the group this test started)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _fan_job():
    from tests.scale.daemon_defs import fan_job

    return fan_job
