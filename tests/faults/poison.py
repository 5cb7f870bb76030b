"""Parsers that misbehave on purpose, run by the guard's child process in tests/faults."""


def hog_memory(data: bytes, name: str):
    chunks = []
    while True:  # what a decompression bomb does
        chunks.append(bytearray(64 << 20))


def spin(data: bytes, name: str):
    while True:  # what a parser stuck in a loop does
        pass


def echo(data: bytes, name: str):
    return {"name": name, "n": len(data)}


def nap(data: bytes, name: str):
    import time
    time.sleep(2.0)   # slow in wall-clock time, as on a busy machine, but almost no CPU
    return {"name": name}


def wait_forever(data: bytes, name: str):
    import time
    while True:   # blocked without using CPU: only the wall-clock net stops it
        time.sleep(60)
