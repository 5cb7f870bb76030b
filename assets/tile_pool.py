"""Per-tile work of the LiDAR silver and tree detection steps over INGEST_WORKERS processes.

`map_jobs(func, jobs, workers=n)` calls `func(job)` ("module:function") on every job and yields
`(index, status, value)` **in job order** whatever order the jobs finish in: status "ok" with
the function's result, or "failed" with the reason ("TypeName: message"). The caller writes the
results in the same order as the one-process path, so the lake gets the same rows, in the same
order, in the same commits.

- One worker or one job: every call runs in this process, one after the other (the path before).
- Otherwise a pool of `min(workers, len(jobs))` spawned processes (no fork of a threaded Dagster
  process), each with numpy, OpenMP and Polars on one thread (the pool is the parallelism), works
  through the jobs; at most `ahead` jobs are handed out beyond the oldest one not yet yielded, so
  at most that many results (a tile's points: tens of MB) wait in memory.
- A worker that dies (out of memory, a crash in native code) breaks the pool. The jobs answered
  before are kept; the jobs that were in the broken pool are run again one at a time, each in a
  fresh process of its own, so the one that kills its process again is named ("its worker
  process died (exit code -9)") and the others land; the jobs not yet handed out go to a fresh
  pool.

No wall-clock limit: the work of a job is bounded by its tile, and the run's own limits
(Dagster run monitoring) are the safety net. Dagster-free: workers import this module and the
job's function only.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import import_module

_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS",
            "RAYON_NUM_THREADS")


def _init_worker() -> None:
    for k in _THREADS:   # one core per worker: the pool is the parallelism
        os.environ[k] = "1"


def run_job(func: str, job) -> tuple[str, object]:
    """`func` ("module:function") on `job`: ("ok", its result) or ("failed", "TypeName: message")."""
    mod, name = func.split(":")
    try:
        return "ok", getattr(import_module(mod), name)(job)
    except Exception as exc:  # noqa: BLE001 - the job's failure reason, reported by the caller
        return "failed", f"{type(exc).__name__}: {exc}"


def _executor(n: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)


def run_alone(func: str, job) -> tuple[str, object]:
    """`run_job` in a fresh process of its own: a job that kills it is "failed" with the exit code."""
    pool = _executor(1)
    try:
        fut = pool.submit(run_job, func, job)
        procs = list((pool._processes or {}).values())
        try:
            return fut.result()
        except BrokenProcessPool:
            for p in procs:
                p.join(5)
            codes = [p.exitcode for p in procs]
            return "failed", f"its worker process died (exit code {codes[0] if codes else 'unknown'})"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(fut: Future | None) -> tuple[str, object] | None:
    """A finished future's outcome, None when it was not run or its pool broke under it."""
    if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
        return None
    return fut.result()


def map_jobs(func: str, jobs: list, *, workers: int, ahead: int | None = None) -> Iterator[tuple[int, str, object]]:
    """(index, status, value) of every job, in job order (see the module docstring)."""
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            yield i, *run_job(func, job)
        return
    n = min(workers, len(jobs))
    ahead = max(n, ahead or 2 * n)
    pool = _executor(n)
    futures: dict[int, Future] = {}
    handed, i = 0, 0
    try:
        try:
            while i < len(jobs):
                while handed < len(jobs) and handed < i + ahead:
                    futures[handed] = pool.submit(run_job, func, jobs[handed])
                    handed += 1
                status, value = futures[i].result()
                del futures[i]
                yield i, status, value
                i += 1
        except BrokenProcessPool:
            pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if i == len(jobs):
        return
    # the pool broke: what it answered stands, what it held is run alone, the rest in a new pool
    for j in range(i, handed):
        out = _result(futures.get(j))
        yield (j, *out) if out is not None else (j, *run_alone(func, jobs[j]))
    for j, status, value in map_jobs(func, jobs[handed:], workers=workers, ahead=ahead):
        yield handed + j, status, value
