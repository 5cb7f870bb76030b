"""The one-pipeline throughput bench (bench/roads_real_chain.py) runs the real chain: decode,
face and plate detection, blur, damage inference, encode; a frame comes out anonymised (a
detected region is changed), re-encoded at its size, with every stage timed. Timing itself is
measured by the bench, not asserted here."""

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from models.roads.anonymise import AnonymiserConfig, decode_jpeg, detect_faces, detect_plates  # noqa: E402
from models.roads.detector import DamageDetector  # noqa: E402
from models.roads.finetune import SHIPPED  # noqa: E402


def test_chain_runs_every_stage_and_anonymises():
    from roads_real_chain import STAGES, Chain, _shares

    from tests.conftest import SHARED

    cfg = AnonymiserConfig()
    faces = SHARED / "real" / "faces"
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (360, 640, 3), dtype=np.uint8)
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    real = (faces / "annotations.csv").exists()
    if real:                                          # a real photo with faces, letterboxed to 640x360
        import csv

        rows = list(csv.DictReader(open(faces / "annotations.csv", newline="")))
        img = cv2.imread(str(faces / rows[0]["file"]))
        s = min(640 / img.shape[1], 360 / img.shape[0])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)))
        frame = np.full((360, 640, 3), 114, np.uint8)
        frame[:img.shape[0], :img.shape[1]] = img
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    chain = Chain(DamageDetector.from_artifact(SHIPPED, threads=1), cfg)
    out, n_cells, t = chain(jpeg)
    assert set(t) == set(STAGES) and all(v > 0 for v in t.values())
    assert isinstance(n_cells, int) and n_cells >= 0
    back = decode_jpeg(out)
    assert back.shape == (360, 640, 3)
    rgb = decode_jpeg(jpeg)
    dets = detect_faces(rgb, cfg) + detect_plates(rgb, cfg)
    assert dets or not real                          # the real photo shows faces
    for d in dets:                                    # every detected region was redacted
        x0, y0, x1, y1 = (int(v) for v in d.box)
        a, b = rgb[y0:y1, x0:x1].astype(float), back[y0:y1, x0:x1].astype(float)
        if a.size:
            assert np.abs(a - b).mean() > 3
    sh = _shares([t, t])
    assert abs(sum(sh.values()) - 1) < 0.01
    import time

    _, _, tc = chain(jpeg, clock=time.process_time)    # the bench's per-stage CPU pass
    assert set(tc) == set(STAGES) and all(v >= 0 for v in tc.values()) and tc["detect"] > 0
