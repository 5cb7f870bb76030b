"""Real held-out photos through the real road-survey path: nothing identifiable reaches the lake.

A handful of HELD-OUT real photos (bench/real_anon_sets.py split: dash-cam plate frames, day
and night, and photos of masked and unmasked faces) are delivered as a road survey is: a
folder of JPEGs with the camera's EXIF (GPS, time; written as the simulator writes it) and a
manifest.json with their SHA-256. The bronze ingest, the silver frame matching and the
`silver/road_images` asset run as in production; the stored JPEGs are then read back from the
Delta table and every annotated face and plate at least 20 px high (the documented floor of
the requirement; smaller ones are reported) must be covered (>= 80 % of its box inside the
blurred boxes) and its pixels actually blurred.

The images are read from ../shared/real at run time and only written to the test's temporary
landing zone and lake; the test skips when ../shared is absent, except under CI=true.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "real"

if not (REAL / "plates" / "annotations.csv").exists() or not (REAL / "faces" / "annotations.csv").exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{REAL} is absent and CI=true requires it")
    pytest.skip(f"{REAL} absent: the real-photo privacy test needs ../shared/real", allow_module_level=True)

sys.path.insert(0, str(ROOT / "bench"))
from real_anon_sets import covered_share, face_sets, plate_sets  # noqa: E402

SURVEY = "SRV-REAL-HELDOUT"


def _pick():
    """A fixed handful of held-out images: the first three day and two night plate frames and
    the first five face photos, by file name."""
    plates = sorted(plate_sets()["heldout"], key=lambda r: r.path.name)
    day = [r for r in plates if r.info["lighting"] == "day"][:3]
    night = [r for r in plates if r.info["lighting"] == "night"][:2]
    faces = sorted(face_sets()["heldout"], key=lambda r: r.path.name)[:5]
    return [("plate", r) for r in day + night] + [("face", r) for r in faces]


def _survey_jpeg(path: Path, k: int) -> bytes:
    """The photo re-encoded with a survey camera's EXIF, as models/simulator/roads.py writes it."""
    from models.simulator.roads import _exif

    spec = {"local": datetime(2026, 5, 4, 9, 30, k), "offset_h": 2, "lat": 43.5513 + k * 2e-5, "lon": 7.0128,
            "speed_kmh": 20.0, "gps_heading": 90.0}
    buf = io.BytesIO()
    with Image.open(path) as im:
        im.convert("RGB").save(buf, "JPEG", quality=92, exif=_exif(spec))
    return buf.getvalue()


def _detail(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_real_heldout_photos_reach_the_lake_blurred(lake_env):
    import dagster as dg

    from assets.bronze import ingest_delivery
    from assets.lake import Lake, LakeResource
    from assets.roads import road_frames, road_images
    from assets.sources import SOURCES_BY_NAME

    landing = Path(lake_env.landing_uri)
    folder = landing / "roads" / "surveys" / SURVEY
    folder.mkdir(parents=True)
    picked = _pick()
    truth, manifest = {}, []
    for k, (kind, r) in enumerate(picked):
        name = f"frame_{k + 1:06d}.jpg"
        data = _survey_jpeg(r.path, k)
        (folder / name).write_bytes(data)
        manifest.append({"file": name, "sha256": hashlib.sha256(data).hexdigest()})
        truth[name] = (kind, r)
    (folder / "manifest.json").write_text(json.dumps({"survey_id": SURVEY, "vehicle_id": "VH-TEST",
                                                      "frame_count": len(manifest), "frames": manifest}))

    lake = Lake(lake_env.lake_uri)
    rep = ingest_delivery(SOURCES_BY_NAME["road_surveys"], SURVEY, lake, landing, landing / "_quarantine", "test")
    assert rep.rows == len(picked) and not rep.quarantined
    # one street segment through the survey's positions, for the silver frame matching
    from transforms.geo import wgs84_to_l93

    x, y = wgs84_to_l93(np.array([7.0128]), np.array([43.5513]))
    lake.overwrite("silver", "street_segments", pl.DataFrame({
        "segment_id": ["SEG-REAL"], "street_name": ["Boulevard test"], "quartier": ["Q"], "length_m": [100.0],
        "x0": [float(x[0]) - 50], "y0": [float(y[0])], "x1": [float(x[0]) + 50], "y1": [float(y[0]) + 30]}))
    res = LakeResource(lake_uri=lake_env.lake_uri, landing_uri=str(landing))
    assert dg.materialize([road_frames, road_images], resources={"lake": res}).success

    stored = lake.read("silver", "road_images")
    assert stored.height == len(picked)
    found = total = small = 0
    missed = []
    for rec in stored.iter_rows(named=True):
        kind, r = truth[rec["file"]]
        with Image.open(r.path) as im:
            before = np.asarray(im.convert("RGB"))
        after = cv2.cvtColor(cv2.imdecode(np.frombuffer(rec["jpeg"], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert after.shape == before.shape
        assert Image.open(io.BytesIO(rec["jpeg"])).getexif().get_ifd(0x8825), "GPS EXIF lost"
        boxes = [b["box"] for b in json.loads(rec["boxes_json"])]
        if kind == "plate":     # a day road frame keeps most of its pixels (the damage model needs them)
            assert rec["blurred_share"] < 0.5, (r.path.name, rec["blurred_share"])
        for g in r.boxes:
            if g[3] - g[1] < 20:
                small += 1
                continue
            total += 1
            cov = covered_share(g, boxes, after.shape[:2])
            x0, y0, x1, y1 = (int(round(v)) for v in g)
            d0, d1 = _detail(before[y0:y1 + 1, x0:x1 + 1]), _detail(after[y0:y1 + 1, x0:x1 + 1])
            if cov >= 0.8 and d1 < 0.35 * d0 + 1.0:
                found += 1
            else:
                missed.append(f"{kind} {r.path.name} {[x0, y0, x1, y1]}: covered {cov:.2f}, detail {d0:.0f} -> {d1:.0f}")
    print(f"\nreal held-out photos in the lake: {found}/{total} faces and plates >= 20 px blurred "
          f"({small} smaller ones not counted); blurred share {stored['blurred_share'].round(3).to_list()}")
    assert total >= 10
    assert found == total, missed
