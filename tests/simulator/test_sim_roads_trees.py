"""The road-survey and LiDAR simulators on the tiny city: files follow docs/LANDING.md, the ground
truth covers every frame and tree, and a re-run writes byte-identical files."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from datetime import datetime, timezone

import laspy
import numpy as np
import pytest
from PIL import Image

from models.simulator.city import build_city, to_lambert93
from models.simulator.roads import DAMAGE_CLASSES, SEVERITIES, paris_offset_hours, simulate_roads
from models.simulator.trees import SPECIES, simulate_trees

REGISTER_HEADER = "id_arbre;espece;nom_commun;lat;lon;annee_plantation;hauteur_m;circonference_cm;adresse"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    city = build_city("tiny", 42)
    landing, truth = root / "landing", root / "truth"
    roads = simulate_roads(city, landing, truth)
    trees = simulate_trees(city, landing, truth)
    return {"root": root, "city": city, "landing": landing, "truth": truth, "roads": roads, "trees": trees}


def _surveys(sim):
    return sorted(p for p in (sim["landing"] / "roads" / "surveys").iterdir() if p.is_dir())


def _truth_rows(sim, survey):
    lines = (sim["truth"] / "roads" / survey.name / "frames.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _city_bbox(city, margin=50.0):
    xs = [x for q in city.quartiers for x, _ in q.polygon]
    ys = [y for q in city.quartiers for _, y in q.polygon]
    return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


def _deg(v) -> float:
    return float(v[0]) + float(v[1]) / 60 + float(v[2]) / 3600


# -- roads ----------------------------------------------------------------------------------

def test_two_campaigns_with_frames(sim):
    names = [p.name for p in _surveys(sim)]
    assert names == ["SRV-2026-04", "SRV-2026-10"]
    assert sim["roads"]["frames"] > 100
    assert sim["roads"]["frames_written"] == sim["roads"]["frames"]


def test_frames_carry_exif_gps_inside_the_city(sim):
    x0, y0, x1, y1 = _city_bbox(sim["city"])
    for survey in _surveys(sim):
        for row in _truth_rows(sim, survey):
            im = Image.open(survey / row["file"])
            assert im.size == (640, 360) and im.format == "JPEG"
            ex = im.getexif()
            assert ex[0x010F] == "Vialytics-like"
            sub = ex.get_ifd(0x8769)
            stamp = datetime.strptime(sub[0x9003], "%Y:%m:%d %H:%M:%S")
            assert sub[0x9011] in ("+01:00", "+02:00")
            assert stamp.weekday() < 5 and 7 <= stamp.hour <= 13
            gps = ex.get_ifd(0x8825)
            lat = _deg(gps[2]) * (1 if gps[1] == "N" else -1)
            lon = _deg(gps[4]) * (1 if gps[3] == "E" else -1)
            x, y = to_lambert93(lon, lat)
            assert x0 <= x <= x1 and y0 <= y <= y1
            # EXIF round trip within 0.1 m of the recorded GPS fix, fix within ~12 m of the truth
            assert math.hypot(x - row["gps_x_2154"], y - row["gps_y_2154"]) < 0.1
            assert math.hypot(x - row["x_2154"], y - row["y_2154"]) < 12
            assert gps[16] == "T"
            dh = (float(gps[17]) - row["heading"] + 180) % 360 - 180
            assert abs(dh) < 15


def test_manifest_lists_every_frame_with_its_sha256(sim):
    for survey in _surveys(sim):
        manifest = json.loads((survey / "manifest.json").read_text())
        jpgs = sorted(p.name for p in survey.glob("frame_*.jpg"))
        assert manifest["survey_id"] == survey.name
        assert manifest["frame_count"] == len(jpgs) == len(manifest["frames"])
        assert [f["file"] for f in manifest["frames"]] == jpgs
        for f in manifest["frames"]:
            assert hashlib.sha256((survey / f["file"]).read_bytes()).hexdigest() == f["sha256"]
        assert manifest["started_at"] < manifest["ended_at"]
        assert manifest["started_at"].startswith("2026-") and manifest["vehicle_id"]


def test_ground_truth_has_a_valid_row_per_frame(sim):
    segs = {s.segment_id: s for s in sim["city"].segments}
    for survey in _surveys(sim):
        rows = _truth_rows(sim, survey)
        assert [r["file"] for r in rows] == sorted(p.name for p in survey.glob("frame_*.jpg"))
        for r in rows:
            s = segs[r["segment_id"]]
            assert s.road_class != "pedestrian"
            assert 0 <= r["heading"] < 360
            for box in [d["bbox"] for d in r["damages"]] + r["faces"] + r["plates"]:
                assert 0 <= box[0] < box[2] < 640 and 0 <= box[1] < box[3] < 360
            for d in r["damages"]:
                assert d["class"] in DAMAGE_CLASSES and d["severity"] in SEVERITIES
                assert d["bbox"][1] >= 360 * 0.4 - 1          # damages are on the road band
            if r["surface"] == "cobbles":
                assert r["damages"] == []
    # no landing-zone leak of the truth
    assert not list(sim["landing"].rglob("*.jsonl"))


def test_every_damage_class_and_privacy_content_appear(sim):
    rows = [r for s in _surveys(sim) for r in _truth_rows(sim, s)]
    classes = {d["class"] for r in rows for d in r["damages"]}
    sevs = {d["severity"] for r in rows for d in r["damages"]}
    assert classes == set(DAMAGE_CLASSES)
    assert sevs == set(SEVERITIES)
    assert 0.2 < sum(bool(r["damages"]) for r in rows) / len(rows) < 0.8     # many clean frames
    private = [r for r in rows if r["faces"] or r["plates"]]
    assert 0.05 < len(private) / len(rows) < 0.3
    faces = [f for r in rows for f in r["faces"]]
    plates = [p for r in rows for p in r["plates"]]
    assert faces and plates
    for x0, y0, x1, y1 in faces:
        assert 25 <= x1 - x0 <= 95
    for x0, y0, x1, y1 in plates:
        assert 50 <= x1 - x0 <= 160 and 2.8 < (x1 - x0) / (y1 - y0) < 6.5


def test_planted_face_is_a_real_face(sim):
    """The pasted face is photographic: OpenCV's stock Haar cascade finds most of them."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = total = 0
    for survey in _surveys(sim):
        for r in _truth_rows(sim, survey):
            if not r["faces"]:
                continue
            grey = np.array(Image.open(survey / r["file"]).convert("L"))
            dets = cascade.detectMultiScale(grey, 1.1, 3, minSize=(20, 20))
            for x0, y0, x1, y1 in r["faces"]:
                total += 1
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                found += any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in dets)
    assert total and found / total >= 0.6


def test_segment_state_worsens_between_campaigns(sim):
    rows = list(csv.DictReader(open(sim["truth"] / "roads" / "segment_state.csv", encoding="utf-8")))
    assert len(rows) == 2 * len(sim["city"].segments)
    by = {(r["segment_id"], r["survey_id"]): r for r in rows}
    for s in sim["city"].segments:
        a, b = by[(s.segment_id, "SRV-2026-04")], by[(s.segment_id, "SRV-2026-10")]
        assert float(b["condition"]) >= float(a["condition"])
    driven = [r for r in rows if r["driven"] == "1"]
    assert driven and sum(int(r["frames"]) for r in rows) == sim["roads"]["frames"]
    assert {"n_pothole_high", "rate_alligator_crack_low"} <= set(rows[0])


def test_paris_offset():
    assert paris_offset_hours(datetime(2026, 4, 13, 8, tzinfo=timezone.utc)) == 2
    assert paris_offset_hours(datetime(2026, 10, 26, 8, tzinfo=timezone.utc)) == 1
    assert paris_offset_hours(datetime(2026, 1, 5, 8, tzinfo=timezone.utc)) == 1


# -- trees ----------------------------------------------------------------------------------

def _tree_rows(sim):
    return list(csv.DictReader(open(sim["truth"] / "trees" / "trees.csv", encoding="utf-8")))


def test_laz_tiles_read_back_with_crs_and_classes(sim):
    rows = _tree_rows(sim)
    for epoch, allowed, must in (("2025", {1, 2, 5, 6, 7}, {2, 5, 6}), ("2026", {1, 7}, {1})):
        tiles = sorted((sim["landing"] / "trees" / "tiles" / epoch).glob("*.laz"))
        expected = {r["tile_id"] for r in rows if r["epoch"] == epoch and r["status"] != "felled"}
        assert {t.stem for t in tiles} == expected
        for t in tiles:
            las = laspy.read(t)
            h = las.header
            assert h.version.major == 1 and h.version.minor == 4 and h.point_format.id == 6
            assert h.parse_crs().to_epsg() == 2154
            assert h.point_count > 100_000
            m = re.fullmatch(r"L93_(\d+)_(\d+)", t.stem)
            tx, ty = int(m.group(1)), int(m.group(2))
            assert tx % 250 == 0 and ty % 250 == 0
            assert tx <= las.x.min() and las.x.max() < tx + 250 and ty <= las.y.min() and las.y.max() < ty + 250
            classes = set(np.unique(las.classification).tolist())
            assert classes <= allowed and must <= classes
            density = h.point_count / 250 ** 2
            assert 0.6 * sim["city"].profile.lidar_density < density < 1.5 * sim["city"].profile.lidar_density
            assert (np.asarray(las.return_number) <= np.asarray(las.number_of_returns)).all()
            assert np.all(np.diff(las.gps_time) >= 0)


def test_tree_truth_covers_both_epochs(sim):
    rows = _tree_rows(sim)
    n = sim["city"].profile.n_trees
    r25 = [r for r in rows if r["epoch"] == "2025"]
    r26 = [r for r in rows if r["epoch"] == "2026"]
    assert len(r25) == n and all(r["status"] == "alive" for r in r25)
    status = {r["status"] for r in r26}
    assert status <= {"alive", "felled", "new"} and "new" in status
    names = {s[0] for s in SPECIES}
    for r in r25 + [r for r in r26 if r["status"] != "felled"]:
        assert r["species"] in names and r["vitality"] in ("VS0", "VS1", "VS2", "VS3")
        assert 2 <= float(r["height_m"]) <= 27 and 0 < float(r["crown_base_m"]) < float(r["height_m"])
        assert r["quartier"]
    h25 = {r["tree_id"]: float(r["height_m"]) for r in r25}
    grown = [float(r["height_m"]) - h25[r["tree_id"]] for r in r26 if r["status"] == "alive"]
    assert min(grown) >= 0.05 and max(grown) <= 0.65


def test_register_parses_with_french_headers(sim):
    path = sim["landing"] / "trees" / "register" / "registre_arbres_2019.csv"
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == REGISTER_HEADER
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    assert len(rows) == min(200, sim["city"].profile.n_trees // 3)
    mapping = {r["id_arbre"]: r for r in csv.DictReader(open(sim["truth"] / "trees" / "register_truth.csv"))}
    trees = {r["tree_id"]: r for r in _tree_rows(sim) if r["epoch"] == "2025"}
    for r in rows:
        assert re.fullmatch(r"ARB-2019-\d{4}", r["id_arbre"])
        t = trees[mapping[r["id_arbre"]]["tree_id"]]
        assert r["espece"] == t["species"]
        x, y = to_lambert93(float(r["lon"]), float(r["lat"]))
        assert math.hypot(x - float(t["x_2154"]), y - float(t["y_2154"])) < 6
        assert float(r["hauteur_m"]) <= float(t["height_m"]) + 0.25
        assert int(r["circonference_cm"]) > 0 and re.match(r"\d+ \S", r["adresse"])


# -- determinism (last: it re-runs both simulators over the same folders) --------------------

def test_rerun_writes_identical_bytes(sim):
    def digest():
        return {p.relative_to(sim["root"]).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(sim["root"].rglob("*")) if p.is_file()}

    before = digest()
    roads = simulate_roads(sim["city"], sim["landing"], sim["truth"])
    trees = simulate_trees(sim["city"], sim["landing"], sim["truth"])
    assert roads["frames_written"] == 0 and trees["tiles_written"] == 0
    assert roads["frames"] == sim["roads"]["frames"] and trees["points"] == sim["trees"]["points"]
    assert digest() == before
