"""Crash recovery: runs whose worker process died (kill -9, OOM killer, power loss) are marked
failed, and the concurrency slots they or any finished run still hold are released.

Why this is needed: a run killed during a Delta write never reports its end, so Dagster keeps it
STARTED and keeps its row in the instance's `concurrency_slots` (pool `delta:<layer>/<table>`,
limit 1); every later run that needs the pool waits for that slot forever. Dagster's run
monitoring daemon (dagster.yaml `run_monitoring`) frees slots of *finished* runs after
`free_slots_after_run_end_seconds`, but it cannot tell that a run launched by the default run
launcher or executed in process is dead (the default launcher has no worker health check), and
`make run` has no daemon at all.

What is used (Dagster 1.13): the worker's pid, from the `lakehouse/pid` tag the driver puts on
the runs it executes in process, or from the engine event "Started process for run (pid: N)" a
daemon-launched run worker writes; `/proc/<pid>/stat`'s start time tells a live worker from a
reused pid. A dead worker's run is reported failed (`instance.report_run_failed`) and its slots
freed (`instance.event_log_storage.free_concurrency_slots_for_run`); the landing sensors then
retry its delivery (orchestration/sensors.py). Called at the start of `make run` and on every
sensor tick; it only touches runs of this host whose process is provably gone.
"""

import os
import re
import socket

import dagster as dg

PID_TAG = "lakehouse/pid"
PID_START_TAG = "lakehouse/pid_start"
HOST_TAG = "lakehouse/host"
DEAD_WORKER = "worker process gone"
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_STARTED_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or
    None when no such process exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_tags(pid: int | None = None) -> dict[str, str]:
    """Tags naming the process that executes a run (put on every run the driver executes)."""
    pid = pid or os.getpid()
    return {PID_TAG: str(pid), PID_START_TAG: _proc_start(pid) or "", HOST_TAG: socket.gethostname()}


def _worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, str | None] | None:
    if run.tags.get(PID_TAG):
        if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
            return None  # another machine's worker: not ours to judge
        return int(run.tags[PID_TAG]), run.tags.get(PID_START_TAG) or None
    for rec in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        m = _STARTED_PID.search(rec.message or (rec.dagster_event.message if rec.dagster_event else "") or "")
        if m:
            return int(m.group(1)), None
    return None


def worker_alive(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool | None:
    """True / False when the run's worker process is known to be alive / gone, None when unknown."""
    w = _worker(instance, run)
    if w is None:
        return None
    pid, start = w
    now = _proc_start(pid)
    if now is None:
        return False
    return start is None or now == start


def recover_dead_runs(instance: dg.DagsterInstance, say=None) -> dict[str, list[str]]:
    """Mark failed the in-progress runs whose worker is gone; free the concurrency slots held by
    runs that are finished (or unknown to the instance). Returns the run ids touched."""
    failed, freed = [], []
    for rec in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = rec.dagster_run
        if worker_alive(instance, run) is False:
            pid = _worker(instance, run)[0]
            instance.report_run_failed(run, message=f"{DEAD_WORKER}: pid {pid} on {socket.gethostname()} no "
                                       "longer runs (killed or crashed); marked failed by crash recovery")
            failed.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in sorted(storage.get_concurrency_run_ids()):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                freed.append(run_id)
    if say and (failed or freed):
        say(f"  crash recovery: {len(failed)} run(s) of dead workers marked failed, slots of {len(freed)} "
            "finished run(s) released")
    return {"failed": failed, "freed": freed}
