"""Parse many deliveries of one source in parallel, each under the same budget as alone.

A batch of LiDAR tiles (or documents) is parsed by a pool of `workers` child processes
(`LakeResource.ingest_workers`, INGEST_WORKERS): each worker reads the file itself (no bytes
through a pipe), has an address-space limit of `mb` (RLIMIT_AS) and arms a wall-clock alarm of
`seconds` around each file, whose default action kills the worker even inside native code.
A worker that dies (memory, alarm, crash) breaks the pool: the results already back are kept and
every file not yet answered is parsed again alone by `run_limited` (assets/guard.py), which
names the budget the poison file exceeded. So one bad file costs one quarantine row and a pool
restart, never the batch.

`ParsePool` keeps its workers across calls: a survey's frames are anonymised chunk after chunk
by the same processes, each loading the anonymiser's networks once (assets/roads_anonymise.py).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from importlib import import_module
from pathlib import Path

from transforms.parsing import BadDelivery

from .guard import run_limited

_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS",
            "RAYON_NUM_THREADS")


def _init_worker(mb: int) -> None:
    for k in _THREADS:   # one core per worker: the pool is the parallelism
        os.environ[k] = "1"
    lim = int(mb) << 20
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _parse_one(func: str, path: str, name: str, seconds: float) -> tuple[str, object]:
    mod, fn = func.split(":")
    parse = getattr(import_module(mod), fn)
    data = Path(path).read_bytes()
    signal.alarm(max(1, int(seconds)))   # SIG_DFL: the worker dies, the parent re-runs this file alone
    try:
        return "ok", parse(data, name)
    except BadDelivery as exc:
        return "bad", str(exc)
    except MemoryError:
        return "retry", "MemoryError"
    except Exception as exc:  # noqa: BLE001 - reported as a bad delivery, as run_limited does
        return "bad", f"{name}: parser failed ({type(exc).__name__}: {str(exc)[:300]})"
    finally:
        signal.alarm(0)


class ParsePool:
    """`func` ("module:function", f(bytes, name) -> dict) on many files, over several calls, by
    the same worker processes: what a worker loads once (a model, a cascade) serves every file it
    is given until the pool closes. A worker that dies breaks the pool: the files not answered are
    parsed alone under `run_limited` and the next call starts a fresh pool. Use as a context
    manager (the workers stop on exit)."""

    def __init__(self, func: str, *, workers: int, seconds: float, mb: int, processes: int | None = None):
        self.func, self.workers, self.seconds, self.mb = func, workers, seconds, mb
        self.processes = max(1, min(workers, processes or workers))
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0          # pools broken by a file (a dead or silent worker)

    def __enter__(self) -> "ParsePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")   # no fork of a threaded Dagster process
            self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=ctx,
                                             initializer=_init_worker, initargs=(self.mb,))
        return self._pool

    def parse(self, jobs: list[tuple[str, Path]]) -> dict[str, dict | BadDelivery]:
        """name -> the record, or the BadDelivery saying why the file is unusable, for every
        (name, path) of `jobs`. With one worker or one job each file is parsed alone under
        run_limited."""
        out: dict[str, dict | BadDelivery] = {}
        if self.workers > 1 and len(jobs) > 1 and self.processes > 1:
            pool = self._executor()
            broken = False
            try:
                futures = {pool.submit(_parse_one, self.func, str(p), name, self.seconds): name for name, p in jobs}
                pending = set(futures)
                while pending:
                    # a worker alive but silent past the budget (its alarm should have killed it):
                    # stop the pool and parse what is left alone
                    done, pending = wait(pending, timeout=self.seconds + 30, return_when=FIRST_COMPLETED)
                    if not done:
                        for proc in list((pool._processes or {}).values()):
                            proc.kill()
                        broken = True
                        break
                    for f in done:
                        status, value = f.result()
                        if status == "ok":
                            out[futures[f]] = value
                        elif status == "bad":
                            out[futures[f]] = BadDelivery(value)
                        # "retry": parsed again alone below, where the budget is named
            except BrokenProcessPool:
                broken = True   # a worker died on a poison file: the files not answered are parsed alone below
            if broken:
                self.restarts += 1
                self.close()
        for name, path in jobs:
            if name not in out:
                try:
                    out[name] = run_limited(self.func, Path(path).read_bytes(), name, seconds=self.seconds,
                                            mb=self.mb)
                except BadDelivery as exc:
                    out[name] = exc
        return out


def parse_files(func: str, jobs: list[tuple[str, Path]], *, workers: int, seconds: float,
                mb: int) -> dict[str, dict | BadDelivery]:
    """`func` ("module:function", f(bytes, name) -> dict) on every (name, path) of `jobs`:
    name -> the record, or the BadDelivery saying why the file is unusable. With one worker or
    one job each file is parsed alone under run_limited."""
    with ParsePool(func, workers=workers, seconds=seconds, mb=mb, processes=len(jobs)) as pool:
        return pool.parse(jobs)
