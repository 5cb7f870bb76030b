"""A parser that misbehaves by file name, for the parse pool's test (imported by its workers:
kept light, no Dagster)."""

from transforms.parsing import BadDelivery


def picky(data: bytes, name: str):
    if name == "bomb":
        chunks = []
        while True:   # what a decompression bomb does
            chunks.append(bytearray(64 << 20))
    if name == "bad":
        raise BadDelivery(f"{name}: not a tile")
    return {"name": name, "n": len(data)}
