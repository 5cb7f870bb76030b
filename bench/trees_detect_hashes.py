"""Content hashes of the tree detections on fixed inputs: a refactor of the detection must leave them equal.

    PYTHONPATH=$PWD .venv/bin/python bench/trees_detect_hashes.py --out before.json [--demo DIR]
    ... (change the code) ...
    PYTHONPATH=$PWD .venv/bin/python bench/trees_detect_hashes.py --out after.json --compare before.json

Inputs: the real LiDAR of ``../shared/real/lidar`` (18 NEON TEAK plots and the IGN sample, the
chain of ``bench/trees_real.py``), each run twice: with the path the scene chooses (canopy-first
on NEON, stem-first on IGN) and with stem-first forced (``canopy_switch=False``: the stem fusion,
leaning and covered trees on real data); and, with ``--demo DIR``, a simulated city's tiles
prepared by ``bench/trees_dev.py prep SEED`` (``DIR`` = its ``<workdir>/<profile>_<seed>``)
through :func:`models.trees.pipeline.detect_all`. A hash covers every column's dtype and bytes
(object columns by value). Exit status 1 when ``--compare`` finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import trees_real as TR  # noqa: E402
from models.trees import pipeline as P  # noqa: E402

try:
    from models.trees.detect_config import DetectConfig  # noqa: E402
except ImportError:    # a commit before issue 23's split: one flat DetectConfig in detect.py
    from models.trees.detect import DetectConfig  # noqa: E402


def stem_first_forced() -> DetectConfig:
    if hasattr(DetectConfig, "with_settings"):
        return DetectConfig().with_settings(canopy_switch=False)
    return DetectConfig(canopy_switch=False)


def hash_columns(cols: dict) -> str:
    m = hashlib.sha256()
    for k in sorted(cols):
        a = np.asarray(cols[k])
        m.update(k.encode())
        m.update(repr(a.tolist()).encode() if a.dtype == object else str(a.dtype).encode() + a.tobytes())
    return m.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="write the hashes there (JSON)")
    ap.add_argument("--demo", default="", help="a bench/trees_dev.py prep folder (holding products.parquet)")
    ap.add_argument("--compare", default="", help="an earlier --out file: report the inputs whose hash differs")
    a = ap.parse_args(argv)
    got = {}
    if (TR.REAL / "files.csv").exists():
        for name, cfg in (("chosen", DetectConfig()), ("stem-first", stem_first_forced())):
            for f in TR.load_files():
                b = tuple(float(f[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
                det = TR.run_chain(TR.REAL / f["file"], b, cfg)[2]
                got[f"{name}:{f['file']}"] = {"trees": int(len(det["x"])), "hash": hash_columns(det)}
    else:
        print(f"{TR.REAL} not found: real inputs left out")
    if a.demo:
        det = P.detect_all(pl.read_parquet(Path(a.demo) / "products.parquet"))
        got[f"demo:{Path(a.demo).name}"] = {"trees": det.height, "hash": hash_columns({c: det[c].to_numpy() for c in det.columns})}
    Path(a.out).write_text(json.dumps(got, indent=1))
    print(f"{len(got)} inputs, {sum(v['trees'] for v in got.values())} trees -> {a.out}")
    if a.compare:
        old = json.loads(Path(a.compare).read_text())
        diff = sorted(k for k in set(old) | set(got) if old.get(k) != got.get(k))
        for k in diff:
            print("differs:", k, old.get(k), got.get(k))
        print(f"{len(set(old) & set(got)) - len([k for k in diff if k in old and k in got])} of {len(old)} identical")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
