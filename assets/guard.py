"""Run one parser on one delivery in a child process under a time and memory budget.

A poison file (a LAZ whose header announces billions of points, a PDF that decompresses without
end) must cost one quarantine row, not a hung pipeline or an exhausted machine. The child gets
the delivery's bytes on stdin, an address-space limit (RLIMIT_AS) and a CPU-time limit
(RLIMIT_CPU); the CPU limit decides, so a good file is never quarantined because the machine
was busy (a re-run gives the same quarantine whatever the load). The parent's wall clock is only
a far net, `WALL_NET_FACTOR` times the budget plus a few seconds, for a child that waits without
using CPU. Whatever goes wrong is
reported as `BadDelivery` naming the budget: "exceeded 60 s" or "exceeded 2048 MB".
Process handling lives here, beside the lake helpers, so that transforms/ stays pure (bytes in,
records out); the child imports only transforms/ and what the parser needs.
"""

import os
import pickle
import signal
import subprocess
import sys
from importlib import import_module
from pathlib import Path

from transforms.parsing import BadDelivery

ROOT = Path(__file__).resolve().parents[1]
# The child sets its own limits, first thing, from its arguments (MB, CPU seconds), then imports the
# parser. Not `preexec_fn`: Python code run between fork and exec in a process with threads (a
# Dagster run, a pytest worker) can deadlock on a lock another thread held at the fork, and then
# `subprocess.run` waits for the exec forever, its timeout not yet running (seen on 7 December:
# a `make test` worker stuck there for minutes).
_CHILD = ("import resource, sys; a = int(sys.argv[1]) << 20; c = int(sys.argv[2]); "
          "resource.setrlimit(resource.RLIMIT_AS, (a, a)); resource.setrlimit(resource.RLIMIT_CPU, (c, c + 1)); "
          "from assets.guard import _child; _child()")
WALL_NET_FACTOR = 4          # wall-clock net = 4 x the CPU budget + WALL_NET_SLACK_S
WALL_NET_SLACK_S = 5.0


def run_limited(func: str, data: bytes, name: str, *, seconds: float, mb: int):
    """`func` ("module:function", called as f(data, name)) in a child process; its return value,
    or BadDelivery for what it raised, for a crash, or for a budget exceeded."""
    budget = f"(budget {seconds:g} s / {mb} MB per delivery)"

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "POLARS_MAX_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    net = seconds * WALL_NET_FACTOR + WALL_NET_SLACK_S
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(int(mb)), str(int(seconds) + 1)],
                              input=pickle.dumps((func, data, name)), capture_output=True, timeout=net, env=env)
    except subprocess.TimeoutExpired:
        raise BadDelivery(f"{name}: parsing exceeded {seconds:g} s {budget}: no result after {net:g} s of "
                          f"wall-clock time (the far net); stopped, not read further") from None
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode == 0:
        try:
            status, value = pickle.loads(proc.stdout)
        except Exception as exc:  # noqa: BLE001 - a child that printed garbage
            raise BadDelivery(f"{name}: parser produced no result ({exc}) {budget}") from exc
        if status == "ok":
            return value
        if status == "memory" or (status == "bad" and "MemoryError" in value):
            raise BadDelivery(f"{name}: parsing exceeded {mb} MB {budget} ({value})")
        raise BadDelivery(value)
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and "MemoryError" not in err:
        raise BadDelivery(f"{name}: parsing exceeded {seconds:g} s of CPU {budget}; stopped")
    if "memory allocation" in err or "MemoryError" in err or "std::bad_alloc" in err \
            or proc.returncode in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS):
        raise BadDelivery(f"{name}: parsing exceeded {mb} MB {budget} (parser aborted: "
                          f"{err.strip().splitlines()[-1][:200] if err.strip() else 'signal ' + str(-proc.returncode)})")
    raise BadDelivery(f"{name}: parser crashed (exit {proc.returncode}): {err.strip()[-300:]}")


def _child() -> None:
    func, data, name = pickle.loads(sys.stdin.buffer.read())
    mod, fn = func.split(":")
    try:
        out = ("ok", getattr(import_module(mod), fn)(data, name))
    except BadDelivery as exc:
        out = ("bad", str(exc))
    except MemoryError as exc:
        out = ("memory", f"MemoryError {exc}".strip())
    except Exception as exc:  # noqa: BLE001 - reported as a bad delivery by the parent
        out = ("bad", f"{name}: parser failed ({type(exc).__name__}: {str(exc)[:300]})")
    sys.stdout.buffer.write(pickle.dumps(out))
    sys.stdout.flush()
