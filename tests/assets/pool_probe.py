"""A parser for the parse pool's tests (imported by its workers: kept light, no Dagster): says
which process parsed the file; the file named "bomb" allocates without end, "crash" ends its
process at once."""

import os


def pid_or_bomb(data: bytes, name: str) -> dict:
    if name == "bomb":
        chunks = []
        while True:   # what a decompression bomb does
            chunks.append(bytearray(64 << 20))
    if name == "crash":
        os._exit(3)   # a native crash: the worker is gone, the pool broken
    return {"name": name, "n": len(data), "pid": os.getpid()}
