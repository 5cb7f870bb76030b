"""Progress of a Dagster run executed in this process (`make run`): no silent minute.

`execute_watched` runs a job with `execute_in_process` under a known run id while a watcher
thread reads that run's event stream from the instance (the same records the UI shows) and
prints each asset as it is materialised (elapsed seconds in the step, rows), each failed step or
check, and a heartbeat line naming the steps still running whenever nothing was printed for
`heartbeat_s` seconds.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
import time
import uuid
from typing import Callable

import dagster as dg

HEARTBEAT_S = 20.0
POLL_S = 1.0

_TYPES = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
          dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION}


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{int(s // 60)} min {int(s % 60):02d} s"


class RunWatcher:
    """Reads one run's events from the instance and turns them into progress lines."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, say: Callable[[str], None], *,
                 assets: bool = True, heartbeat_s: float = HEARTBEAT_S, label: str = ""):
        self.instance, self.run_id, self.say = instance, run_id, say
        self.assets, self.heartbeat_s, self.label = assets, heartbeat_s, label
        self.cursor: str | None = None
        self.running: dict[str, float] = {}       # step key -> start (event time, epoch seconds)
        self.done = 0
        self.t0 = time.monotonic()
        self.last_line = self.t0
        self.lines: list[str] = []

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.last_line = time.monotonic()
        self.say(line)

    def poll(self) -> None:
        """Print what happened since the last poll, and a heartbeat when it has been quiet."""
        try:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=_TYPES)
        except Exception:  # noqa: BLE001 - the run may not be stored yet; progress is best effort
            conn = None
        if conn is not None:
            self.cursor = conn.cursor
            for rec in conn.records:
                self._event(rec.event_log_entry)
        if time.monotonic() - self.last_line >= self.heartbeat_s:
            now = time.time()
            steps = sorted(self.running, key=self.running.get)
            what = ", ".join(f"{k} ({_fmt_s(now - self.running[k])})" for k in steps[:4]) or "starting up"
            more = f" and {len(steps) - 4} more" if len(steps) > 4 else ""
            self._emit(f"    … {self.label}{_fmt_s(time.monotonic() - self.t0)} elapsed, {self.done} step(s) done; "
                       f"running: {what}{more}")

    def _event(self, entry) -> None:
        ev = entry.dagster_event
        if ev is None:
            return
        now = entry.timestamp   # when it happened, not when it was read
        step = ev.step_key or ""
        kind = ev.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self.running[step] = now
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self.running.pop(step, None)
            self.done += 1
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            started = self.running.pop(step, now)
            self.done += 1
            err = ev.event_specific_data.error
            while err is not None and err.cause is not None:   # the user's error, not Dagster's wrapper
                err = err.cause
            msg = (err.message if err else "").strip().splitlines()
            self._emit(f"    ✗ {step} failed after {_fmt_s(now - started)}: {msg[0][:200] if msg else ''}")
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION and self.assets:
            mat = ev.event_specific_data.materialization
            rows = mat.metadata.get("dagster/row_count")
            rows_txt = f", {rows.value:,} rows" if rows is not None else ""
            started = self.running.get(step, now)
            self._emit(f"    ✓ {mat.asset_key.to_user_string()}  {_fmt_s(now - started)}{rows_txt}")
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            data = ev.event_specific_data
            if not data.passed:
                desc = (data.description or "").splitlines()
                self._emit(f"    ✗ check {data.asset_check_key.to_user_string()} failed: "
                           f"{desc[0][:200] if desc else ''}")


@contextmanager
def heartbeat(say: Callable[[str], None], label: str, every_s: float = HEARTBEAT_S):
    """For work that is not a Dagster run (simulating the city): yields a `say` to print
    through, and prints "… label: N s elapsed" whenever nothing was printed for `every_s`."""
    t0 = time.monotonic()
    last = [t0]
    stop = threading.Event()

    def tell(msg: str) -> None:
        last[0] = time.monotonic()
        say(msg)

    def loop():
        while not stop.wait(min(1.0, every_s / 4)):
            if time.monotonic() - last[0] >= every_s:
                tell(f"    … {label}: {_fmt_s(time.monotonic() - t0)} elapsed")

    th = threading.Thread(target=loop, name="heartbeat", daemon=True)
    th.start()
    try:
        yield tell
    finally:
        stop.set()
        th.join(timeout=5)


def execute_watched(job: dg.JobDefinition, instance: dg.DagsterInstance, say: Callable[[str], None], *,
                    assets: bool = True, heartbeat_s: float = HEARTBEAT_S, label: str = "",
                    **kwargs) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(instance=instance, **kwargs)` with progress lines (see module doc)."""
    run_id = kwargs.pop("run_id", None) or str(uuid.uuid4())
    watcher = RunWatcher(instance, run_id, say, assets=assets, heartbeat_s=heartbeat_s, label=label)
    stop = threading.Event()

    def loop():
        while not stop.wait(POLL_S):
            watcher.poll()

    th = threading.Thread(target=loop, name=f"progress-{run_id[:8]}", daemon=True)
    th.start()
    try:
        return job.execute_in_process(instance=instance, run_id=run_id, **kwargs)
    finally:
        stop.set()
        th.join(timeout=10)
        watcher.poll()   # the last events (the final assets, a failure)
