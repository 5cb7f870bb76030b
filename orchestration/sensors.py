"""One sensor per landing-zone source: each new delivery becomes a dynamic partition of the
source's bronze asset and gets one run, keyed by its content hash.

The cursor remembers, per delivery, its content hash and the (size, mtime) it was hashed at, so
a tick re-hashes only files that changed. A delivery whose bytes were already delivered under
another name is still run once, tagged `lakehouse/duplicate_of`; the bronze asset checks the
lake's lineage and quarantines it as a duplicate instead of ingesting it twice.

Batched sources (LiDAR tiles, survey folders: `Source.batched`) get one run per batch of up to
INGEST_BATCH_FILES new deliveries instead of one run each: a run over a contiguous range of the
source's dynamic partitions (the bronze asset has a single-run backfill policy), run key
`batch:<sha256 of its deliveries' content hashes>`, so a re-delivered file never runs twice and a
batch is never requested twice. Each delivery keeps its own content hash in the cursor and in
bronze (`_checksum`). A failed batch is retried delivery by delivery (run keys
`<hash>:retry<n>`), so a file that breaks a whole run is isolated and quarantined alone.

A delivery is done only when its run succeeded. Until then its cursor entry carries a fourth
element, the pending state {run_key, attempt, due, requested}: each tick looks the run up by its
run key; a failed run is retried (new run key `<hash>:retry<n>`) after a backoff of
RETRY_BACKOFF_S[n-1] seconds (none when the run died with its worker: crash recovery, see
orchestration/recovery.py), and after RETRY_LIMIT failed runs the delivery is moved to quarantine
with the last error. `make run` (orchestration/runner.py) evaluates these same sensors, so the
driver and the daemon retry alike.
"""

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import dagster as dg

from assets.bronze import delivery_checksum, partitions_for, quarantine_failed_delivery
from assets.lake import LakeResource
from assets.sources import SOURCES, Source

from .recovery import DEAD_WORKER, recover_dead_runs

SOURCE_TAG = "lakehouse/source"
CHECKSUM_TAG = "lakehouse/checksum"
DUPLICATE_TAG = "lakehouse/duplicate_of"
ATTEMPT_TAG = "lakehouse/attempt"
BATCH_TAG = "lakehouse/batch_size"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
RETRY_LIMIT = 4                      # runs per delivery content: the first and 3 retries
RETRY_BACKOFF_S = (15, 60, 240)      # wait after the 1st, 2nd, 3rd failed run
UNSEEN_GRACE_S = 600                 # a requested run still unknown to the instance after this is requested again

# outcome(run_key) -> (status, error): status "success", "failure", "dead" (worker died), "running",
# or "unknown" (no run with that key yet)
Outcome = Callable[[str], tuple[str, str]]
GiveUp = Callable[[str, str, str], None]  # (delivery key, checksum, reason)


def _now() -> float:
    return time.time()


def ingest_job_name(source: Source) -> str:
    return f"ingest_{source.name}"


def _stamp(path: Path) -> list:
    target = path / "manifest.json" if path.is_dir() and not path.is_symlink() else path
    st = target.lstat()
    return [st.st_size, st.st_mtime_ns]


def _request(source: Source, key: str, checksum: str, run_key: str, attempt: int,
             duplicate_of: str | None = None) -> dg.RunRequest:
    # Dagster's own run retries stay off for ingestion (max_retries 0): the sensor's policy is the
    # only one, the same under the daemon and under `make run`.
    tags = {SOURCE_TAG: source.name, CHECKSUM_TAG: checksum, ATTEMPT_TAG: str(attempt), "dagster/max_retries": "0"}
    if duplicate_of:
        tags[DUPLICATE_TAG] = duplicate_of
    return dg.RunRequest(run_key=run_key, partition_key=key, tags=tags)


def _follow_pending(source: Source, cursor: dict, outcome: Outcome, give_up: GiveUp | None, now: float):
    """Advance every pending delivery by its run's outcome; returns the retries due now."""
    runs = []
    for key, v in sorted(cursor.items()):
        if len(v) < 4:
            continue
        checksum, st = v[0], dict(v[3])
        status, error = outcome(st["run_key"])
        if status == "success":
            cursor[key] = v[:3]
            continue
        if status == "running":
            continue
        if status == "unknown":
            if now - st.get("requested", now) >= UNSEEN_GRACE_S:  # lost request: ask again, same key
                st["requested"] = now
                runs.append(_request(source, key, checksum, st["run_key"], st["attempt"], st.get("duplicate_of")))
                cursor[key] = [*v[:3], st]
            continue
        # failed (or died with its worker)
        if st["attempt"] >= RETRY_LIMIT:
            reason = (f"gave up after {st['attempt']} failed runs (retry limit {RETRY_LIMIT}); last error: "
                      f"{error[:800]}")
            if give_up is not None:
                give_up(key, checksum, reason)
            cursor[key] = v[:3]
            continue
        if st.get("due") is None:
            st["due"] = now + (0 if status == "dead" else RETRY_BACKOFF_S[min(st["attempt"], len(RETRY_BACKOFF_S)) - 1])
            st["last_error"] = error[:300]
        if now >= st["due"]:   # a failed batch is retried delivery by delivery
            base = checksum if st["run_key"].startswith("batch:") else st["run_key"].split(":retry")[0]
            st = {"run_key": f"{base}:retry{st['attempt']}", "attempt": st["attempt"] + 1, "due": None,
                  "requested": now, "duplicate_of": st.get("duplicate_of")}
            runs.append(_request(source, key, checksum, st["run_key"], st["attempt"], st.get("duplicate_of")))
        cursor[key] = [*v[:3], st]
    return runs


def evaluate_landing(source: Source, landing: Path, cursor: dict, existing_partitions: set[str] | list[str],
                     outcome: Outcome | None = None, give_up: GiveUp | None = None, now: float | None = None,
                     batch: int = 1):
    """Pure sensor logic: (run requests, partitions to add, new cursor) for the deliveries now in
    the landing zone and the pending ones. `cursor` maps delivery key -> [sha256, size, mtime_ns]
    (done) or [sha256, size, mtime_ns, pending state]. Without `outcome` pending deliveries are
    left as they are. A batched source given its partitions as a list (the instance's order)
    and `batch` > 1 gets one run per contiguous range of up to `batch` deliveries (batch_requests)."""
    now = _now() if now is None else now
    order = list(existing_partitions) if isinstance(existing_partitions, list) else None
    existing_partitions = set(existing_partitions)
    cursor = dict(cursor)
    seen = {}
    for k, v in sorted(cursor.items()):
        seen.setdefault(v[0], k)
    runs = _follow_pending(source, cursor, outcome, give_up, now) if outcome is not None else []
    new_parts = []
    retried = {r.partition_key for r in runs}
    for key, path in source.deliveries(landing):
        try:
            stamp = _stamp(path)
        except FileNotFoundError:
            continue  # moved away between listing and stat
        prev = cursor.get(key)
        if prev and prev[1:3] == stamp:
            continue  # unchanged since last hashed
        checksum = delivery_checksum(source, path, landing)
        if prev and prev[0] == checksum:
            cursor[key] = [checksum, *stamp, *prev[3:]]  # touched, same bytes: nothing to do
            continue
        original = seen.get(checksum)
        run_key = checksum
        dup = None
        if original is not None and original != key:
            dup, run_key = original, f"{checksum}:duplicate:{key}"
        if key not in existing_partitions and key not in new_parts:
            new_parts.append(key)
        if key in retried:  # new bytes replace a pending retry of the old ones
            runs = [r for r in runs if r.partition_key != key]
        runs.append(_request(source, key, checksum, run_key, 1, dup))
        cursor[key] = [checksum, *stamp, {"run_key": run_key, "attempt": 1, "due": None, "requested": now,
                                          "duplicate_of": dup}]
        seen.setdefault(checksum, key)
    if source.batched and batch > 1 and order is not None:
        runs = batch_requests(source, runs, cursor, order + new_parts, batch)
    return runs, new_parts, cursor


def _contiguous(keys: list[str], pos: dict[str, int], size: int) -> list[list[str]]:
    """`keys` in partition order, cut where a partition not in `keys` lies between two, and
    every `size` keys: each piece is a partition range holding exactly its keys."""
    out: list[list[str]] = []
    for k in sorted(keys, key=pos.__getitem__):
        if out and len(out[-1]) < size and pos[k] == pos[out[-1][-1]] + 1:
            out[-1].append(k)
        else:
            out.append([k])
    return out


def batch_requests(source: Source, runs: list[dg.RunRequest], cursor: dict, order: list[str],
                   size: int) -> list[dg.RunRequest]:
    """Merge first-attempt requests (and re-requests of a batch already asked for) into runs
    over partition ranges of up to `size` deliveries; the members' cursor entries get the batch's
    run key. Retries stay one run each. A duplicate goes in too: the bronze batch finds the bytes
    in the lake or earlier in the same batch (assets/bronze.py ingest_deliveries)."""
    pos = {k: i for i, k in enumerate(order)}
    by_key = {r.partition_key: r for r in runs}
    groups: dict[str, list[str]] = {}
    single = []
    for r in runs:
        attempt = r.tags.get(ATTEMPT_TAG)
        if r.partition_key not in pos or (attempt != "1" and not r.run_key.startswith("batch:")):
            single.append(r)
        else:
            groups.setdefault(r.run_key if r.run_key.startswith("batch:") else "new", []).append(r.partition_key)
    out = []
    for group, keys in groups.items():
        pieces = _contiguous(keys, pos, size)
        for piece in pieces:
            if len(piece) == 1 and group == "new":
                out.append(by_key[piece[0]])
                continue
            members = sorted(by_key[k].tags[CHECKSUM_TAG] + ":" + k for k in piece)
            run_key = group if len(pieces) == 1 and group != "new" else \
                "batch:" + hashlib.sha256("\n".join(members).encode()).hexdigest()
            attempt = by_key[piece[0]].tags[ATTEMPT_TAG]
            out.append(dg.RunRequest(run_key=run_key, tags={
                SOURCE_TAG: source.name, ATTEMPT_TAG: attempt, BATCH_TAG: str(len(piece)),
                RANGE_START: piece[0], RANGE_END: piece[-1], "dagster/max_retries": "0"}))
            for k in piece:
                st = dict(cursor[k][3])
                st["run_key"] = run_key
                cursor[k] = [*cursor[k][:3], st]
    return out + single


def run_outcome(instance: dg.DagsterInstance, sensor_name: str) -> Outcome:
    """The outcome of the newest run with a given run key, from the instance."""

    def outcome(run_key: str) -> tuple[str, str]:
        found = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": run_key,
                                                              "dagster/sensor_name": sensor_name}), limit=1)
        if not found:
            return "unknown", ""
        run = found[0]
        if run.status == dg.DagsterRunStatus.SUCCESS:
            return "success", ""
        if not run.is_finished:
            return "running", ""
        error = run_error(instance, run.run_id)
        return ("dead" if DEAD_WORKER in error else "failure"), f"run {run.run_id}: {error}"

    return outcome


def run_error(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first step failure's message of a run, else its run-failure message."""
    msgs = []
    for rec in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}):
        ev = rec.dagster_event
        data = ev.event_specific_data if ev else None
        err = getattr(data, "error", None)
        while err is not None and err.cause is not None:  # the user code's own exception, not the wrapper
            err = err.cause
        text = (err.message.strip() if err is not None else "") or (ev.message if ev else "") or rec.message or ""
        msgs.append((0 if ev and ev.event_type == dg.DagsterEventType.STEP_FAILURE else 1, text))
    return sorted(msgs, key=lambda m: m[0])[0][1] if msgs else "run failed (no error recorded)"


def build_sensor(source: Source) -> dg.SensorDefinition:
    parts = partitions_for(source)

    @dg.sensor(name=f"landing_{source.name}", job_name=ingest_job_name(source), minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Watches landing/{source.root} for new {source.name} deliveries; one run per "
                           + ("batch of deliveries (INGEST_BATCH_FILES), run_key = hash of their content hashes"
                              if source.batched else "delivery, run_key = content hash")
                           + f"; failed runs retried {RETRY_LIMIT - 1} times with backoff, then the delivery "
                           "is quarantined with the last error.")
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        try:
            instance = context.instance
        except dg.DagsterInvariantViolationError:
            instance = None  # a context built in a test without an instance
        existing, outcome = [], None
        if instance is not None:
            recover_dead_runs(instance)
            existing = list(instance.get_dynamic_partitions(source.name))   # in the order ranges follow
            outcome = run_outcome(instance, f"landing_{source.name}")

        def give_up(key: str, checksum: str, reason: str) -> None:
            quarantine_failed_delivery(lake.lake(), source, key, lake.landing, lake.quarantine_root, reason, checksum)
            context.log.warning(f"{source.name}/{key}: {reason}")

        runs, new_parts, cursor = evaluate_landing(source, lake.landing, cursor, existing if instance else set(),
                                                   outcome, give_up, batch=lake.ingest_batch_files)
        return dg.SensorResult(
            run_requests=runs, cursor=json.dumps(cursor, sort_keys=True),
            dynamic_partitions_requests=[parts.build_add_request(new_parts)] if new_parts else [],
            skip_reason=None if runs else f"no new delivery in landing/{source.root}")

    return _sensor


SENSORS = [build_sensor(s) for s in SOURCES]
