"""Jobs for the tile pool's tests (imported by its workers: kept light, no Dagster): a job says
which process ran it; "bad" raises, "crash" ends its process at once (a native crash)."""

import os


def pid_or_crash(job: str) -> dict:
    if job == "bad":
        raise ValueError("a bad tile")
    if job == "crash":
        os._exit(3)
    return {"job": job, "pid": os.getpid()}
