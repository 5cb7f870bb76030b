"""Spawned process pools for the routing searches, ended without relying on SIGTERM.

`Pool.terminate()` (what `with Pool(...) as pool:` calls on exit) stops the workers with SIGTERM
and then waits for them. A process that ignores SIGTERM passes that on to the processes it spawns
(an ignored signal survives exec), and then that wait never ends. Dagster does this: it maps
SIGTERM to whatever SIGINT does (`dagster._utils.interrupts`), and a process started in the
background by a shell ignores SIGINT. Seen on 7 December: `make test` started in the background,
one pytest-xdist worker ignoring SIGTERM, the two-chain routing test waiting forever in
`Pool.__exit__`. A Dagster step started the same way would hang the same way.

So a pool here ends with `close()` + `join()` when its work is done: idle workers leave on the
close sentinel, and no signal is needed. When the caller gives up on a worker, or an error
escapes, the workers get SIGKILL, which cannot be ignored, before `terminate()`.
"""

from __future__ import annotations

import multiprocessing as mp
from contextlib import contextmanager
from multiprocessing.pool import Pool
from typing import Iterator


def kill_pool(pool: Pool) -> None:
    """SIGKILL every worker (a stuck search cannot ignore it), then tear the pool down."""
    for proc in list(getattr(pool, "_pool", [])):
        proc.kill()
    pool.terminate()


@contextmanager
def spawn_pool(processes: int) -> Iterator[Pool]:
    """A pool of `processes` spawned workers: closed and joined after the block, killed if an
    error leaves it (or if the block called `kill_pool` itself)."""
    pool = mp.get_context("spawn").Pool(processes=processes)
    try:
        yield pool
    except BaseException:
        kill_pool(pool)
        raise
    pool.close()     # a no-op after kill_pool (terminated already)
    pool.join()
