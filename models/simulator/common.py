"""Small helpers shared by the simulator's writers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> bool:
    """Write `data` to `path` via a temporary name and a rename, so a watcher never sees half a
    file. Returns False (and writes nothing) when the file already holds exactly these bytes,
    which keeps re-simulation idempotent for the sensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def atomic_write_text(path: Path, text: str) -> bool:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sub_seed(seed: int, name: str) -> list[int]:
    """A seed sequence per simulator part, so parts stay deterministic independently."""
    return [seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)]
