"""Defect 3 (lock half): a run killed with SIGKILL in the middle of a Delta write leaves its run
STARTED and its slot of pool `delta:bronze/<table>` taken; without recovery every later run that
needs the pool waits forever. The driver (and every sensor tick) marks runs of dead workers
failed and frees their slots, and the killed delivery is run again."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from .helpers import collection_log, read, write

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import assets.lake as L
real = L.write_deltalake
def stuck(uri, *a, **k):
    if "bronze/collection_logs" in str(uri):
        Path(os.environ["FAULT_READY"]).write_text(str(os.getpid()))
        time.sleep(600)  # killed here, in the middle of the Delta write
    return real(uri, *a, **k)
L.write_deltalake = stuck
from orchestration.settings import get_settings
from tests.faults.helpers import drive
print(drive(get_settings()))
"""

AGAIN = """
import sys
sys.path.insert(0, {root!r})
from orchestration.settings import get_settings
from tests.faults.helpers import drive
r = drive(get_settings())
print("RESULT", r["runs"], r["failures"])
"""


def kill_mid_write(tmp_path: Path, timeout: float = 240) -> int:
    """Start an ingestion pass in a child process, SIGKILL it during the bronze Delta write."""
    ready = tmp_path / "ready"
    env = {**os.environ, "FAULT_READY": str(ready), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT))], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.time()
    while not ready.exists():
        assert child.poll() is None, "the child ended before reaching the Delta write"
        assert time.time() - t < timeout, "the child never reached the Delta write"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return child.pid


@pytest.mark.slow
def test_sigkill_mid_write_then_the_next_run_completes(lake_env, tmp_path):
    landing = tmp_path / "landing"
    write(landing, "waste/collection_logs/collecte_2026-11-03.csv",
          collection_log([("BIN-00001", "06:00", 20.5), ("BIN-00002", "06:05", 30.0)]))
    kill_mid_write(tmp_path)
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME of lake_env, with the repository's dagster.yaml
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert len(stuck) == 1  # the killed run never reported its end
        held = instance.event_log_storage.get_concurrency_run_ids()
        assert held == {stuck[0].run_id}  # and keeps its slot of delta:bronze/collection_logs
    t = time.time()
    out = subprocess.run([sys.executable, "-c", AGAIN.format(root=str(ROOT))], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "RESULT 1 []" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    assert time.time() - t < 300
    assert read(lake_env, "bronze", "collection_logs").height == 2
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(stuck[0].run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        msgs = [r.message for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
        assert any("worker process gone" in (m or "") for m in msgs) or run.status == dg.DagsterRunStatus.FAILURE


@dg.op
def _nothing():
    return None


@dg.job
def _noop():
    _nothing()


def test_recovery_leaves_live_runs_alone(lake_env):
    """Only runs whose worker is provably gone are touched (a live pid, or a reused pid whose
    start time differs, are told apart)."""
    from orchestration.recovery import recover_dead_runs, worker_alive, worker_tags
    from orchestration.runner import prepare_dagster_home

    prepare_dagster_home(lake_env)
    with dg.DagsterInstance.get() as instance:
        live = instance.create_run_for_job(_noop, tags=worker_tags())
        instance.handle_run_event(live.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name="noop"))
        dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_pid.wait()
        dead = instance.create_run_for_job(_noop, tags=worker_tags(dead_pid.pid) | {"lakehouse/pid_start": "1"})
        instance.handle_run_event(dead.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name="noop"))
        assert worker_alive(instance, instance.get_run_by_id(live.run_id)) is True
        assert worker_alive(instance, instance.get_run_by_id(dead.run_id)) is False
        out = recover_dead_runs(instance)
        assert out["failed"] == [dead.run_id]
        assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
