"""Road-survey models: the damage grid network's plumbing (labels, shapes, training, inference,
artifact) and the anonymiser on planted real faces and rendered French plates.

Accuracy is measured by bench/roads_eval.py; here a tiny model trains for a few steps only."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from models.roads.anonymise import (AnonymiserConfig, anonymise_image, anonymise_jpeg, decode_jpeg,
                                    detect_plates)
from models.roads.detector import DamageDetector
from models.roads.damage_net import (DamageNet, FrameSet, TrainConfig, load_artifact,
                                     predict_probs, save_artifact, train_damage_model)
from models.roads.dataset import (CLASSES, DAMAGE_CLASSES, IGNORE, SEVERITIES, GridSpec, cell_targets,
                                  frame_presence, load_survey, split_by_segment)

SPEC = GridSpec()


# --------------------------------------------------------------------------------------------
# Grid labels
# --------------------------------------------------------------------------------------------

def _cell_of(x: int, y: int) -> tuple[int, int]:
    return (y - SPEC.roi_top) // SPEC.cell, x // SPEC.cell


def test_grid_geometry():
    assert (SPEC.rows, SPEC.cols) == (8, 20)
    assert SPEC.cell_box(0, 0) == (0, 104, 31, 135)
    assert SPEC.cell_box(7, 19) == (608, 328, 639, 359)


def test_cell_targets_rule():
    # a thin longitudinal crack running down inside column 5, rows 2..4 of the grid
    crack = {"class": "longitudinal_crack", "severity": "high", "bbox": [165, 104 + 64, 172, 104 + 159]}
    # a small pothole mostly in cell (6, 10), slightly over into (6, 11)
    pothole = {"class": "pothole", "severity": "low", "bbox": [320 + 14, 104 + 192 + 8, 320 + 36, 104 + 192 + 20]}
    # a large patch covering cells rows 0..1, cols 14..17 fully and a sliver of col 18
    patch = {"class": "patch", "severity": "medium", "bbox": [448, 104, 448 + 128 + 5, 104 + 63]}
    cls, sev = cell_targets([crack, pothole, patch], SPEC)
    assert cls.shape == sev.shape == (SPEC.rows, SPEC.cols)
    k = CLASSES.index
    assert [cls[r, 5] for r in (2, 3, 4)] == [k("longitudinal_crack")] * 3
    assert sev[3, 5] == SEVERITIES.index("high")
    assert cls[6, 10] == k("pothole") and sev[6, 10] == SEVERITIES.index("low")
    assert cls[6, 11] == IGNORE                   # touched but not mostly: left out of the loss
    assert (cls[0:2, 14:18] == k("patch")).all()
    assert (cls[0:2, 18] == IGNORE).all()
    untouched = np.ones_like(cls, bool)
    untouched[2:5, 5] = untouched[6, 10:12] = False
    untouched[0:2, 14:19] = False
    assert (cls[untouched] == 0).all() and (sev[untouched] == IGNORE).all()
    assert frame_presence([crack, patch]).tolist() == [1, 0, 0, 0, 1]


def test_cell_targets_larger_overlap_wins():
    a = {"class": "transverse_crack", "severity": "low", "bbox": [0, 104, 40, 130]}
    b = {"class": "alligator_crack", "severity": "high", "bbox": [0, 104, 31, 135]}
    cls, sev = cell_targets([a, b], SPEC)
    assert cls[0, 0] == CLASSES.index("alligator_crack") and sev[0, 0] == SEVERITIES.index("high")


# --------------------------------------------------------------------------------------------
# Network, training, inference, artifact (on the tiny simulated city)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_survey(tmp_path_factory):
    from models.simulator.city import build_city
    from models.simulator.roads import simulate_roads

    root = tmp_path_factory.mktemp("roads")
    simulate_roads(build_city("tiny", 42), root / "landing", root / "truth")
    recs = load_survey(root / "landing", root / "truth")
    assert recs and all(r.path.exists() for r in recs)
    return recs


@pytest.fixture(scope="module")
def tiny_model(tiny_survey, tmp_path_factory):
    """A tiny model trained for a few steps on damaged frames, saved as an artifact."""
    damaged = [r for r in tiny_survey if r.damages]
    train_recs, val_recs = split_by_segment(damaged, 0.25, seed=0)
    train, val = FrameSet(train_recs[:24], SPEC), FrameSet(val_recs[:12], SPEC)
    cfg = TrainConfig(seed=0, epochs=4, batch_size=4, lr=3e-3, widths=(8, 8, 16, 16, 16), max_steps=16,
                      bf16="off")
    model, report = train_damage_model(train, val, cfg, log=lambda *_: None)
    data = {"profile": "tiny", "train_seeds": [42], "train_frames": len(train), "val_frames": len(val)}
    folder = save_artifact(model, cfg, report, data, tmp_path_factory.mktemp("models"))
    return model, report, folder, val


def test_forward_shapes():
    net = DamageNet((8, 8, 16, 16, 16)).eval()
    x = torch.zeros(2, 3, SPEC.roi_h, SPEC.frame_w, dtype=torch.uint8)
    with torch.inference_mode():
        cl, sl = net(x)
    assert cl.shape == (2, len(CLASSES), SPEC.rows, SPEC.cols)
    assert sl.shape == (2, len(SEVERITIES), SPEC.rows, SPEC.cols)


def test_training_reduces_loss(tiny_model):
    _, report, _, _ = tiny_model
    assert report["steps"] == 16
    assert np.mean(report["loss_last"]) < np.mean(report["loss_first"])
    assert set(report["thresholds"]) == set(DAMAGE_CLASSES)
    assert set(report["val"]["frame"]) == set(DAMAGE_CLASSES)


def test_artifact_round_trip(tiny_model):
    model, report, folder, val = tiny_model
    for name in ("model.pt", "config.json", "model_card.json", "model_card.md"):
        assert (folder / name).exists()
    card = json.loads((folder / "model_card.json").read_text())
    assert card["version"] == folder.name and card["version"].startswith("roads-damage-grid-a")
    assert card["data"]["train_seeds"] == [42] and card["data"]["train_frames"] == 24
    assert set(card["validation"]["frame"]) == set(DAMAGE_CLASSES)
    assert {"precision", "recall", "f1"} <= set(card["validation"]["frame"]["pothole"])
    assert card["created_at"][:2] == "20"
    assert "| pothole |" in (folder / "model_card.md").read_text()
    loaded, config = load_artifact(folder)
    rois = val.images([0, 1])
    a, _ = predict_probs(model, rois)
    b, _ = predict_probs(loaded, rois)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert config["thresholds"] == report["thresholds"]


def test_inference_output_format(tiny_model, tiny_survey):
    _, _, folder, _ = tiny_model
    det = DamageDetector.from_artifact(folder)
    det.thresholds[:] = 0.0          # every cell over threshold: exercise the whole output
    frames = [decode_jpeg(r.path.read_bytes()) for r in tiny_survey[:3]]
    preds = det.detect(frames, batch_size=2)
    assert len(preds) == 3
    for p in preds:
        assert set(p.scores) == set(DAMAGE_CLASSES) and set(p.present) == set(DAMAGE_CLASSES)
        assert len(p.detections) == SPEC.rows * SPEC.cols
        d = p.detections[0].as_dict()
        assert set(d) == {"class", "severity", "confidence", "cell", "box"}
        assert d["class"] in DAMAGE_CLASSES and d["severity"] in SEVERITIES and 0 <= d["confidence"] <= 1
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 < SPEC.frame_w and SPEC.roi_top <= y0 < y1 < SPEC.frame_h


# --------------------------------------------------------------------------------------------
# Anonymisation: real faces and French plates planted at known places
# --------------------------------------------------------------------------------------------

def _street(rng: np.random.Generator) -> np.ndarray:
    """A 640x360 street: sky, a facade band with windows, kerb, asphalt, a dark car rear."""
    img = np.zeros((360, 640, 3), np.uint8)
    img[:40] = (120, 165, 215)
    img[40:150] = (214, 170, 110)
    for y in range(50, 140, 24):
        for x in range(10, 630, 30):
            cv2.rectangle(img, (x, y), (x + 12, y + 14), (55, 58, 66), -1)
    img[150:160] = (190, 190, 185)
    road = np.clip(105 + rng.normal(0, 12, (200, 640)), 0, 255).astype(np.uint8)
    img[160:] = road[..., None]
    cv2.rectangle(img, (330, 190), (620, 330), (40, 40, 44), -1)
    return img


def _astronaut_face(size: int) -> np.ndarray:
    from skimage import data

    crop = data.astronaut()[20:200, 150:300]          # the real face, hair to chin
    return cv2.resize(crop, (size, int(size * crop.shape[0] / crop.shape[1])), interpolation=cv2.INTER_AREA)


def _plate(text: str = "AB-123-CD") -> np.ndarray:
    p = np.full((110, 520, 3), 248, np.uint8)
    cv2.rectangle(p, (0, 0), (50, 109), (0, 51, 153), -1)        # EU band
    cv2.rectangle(p, (470, 0), (519, 109), (0, 51, 153), -1)     # department band
    cv2.putText(p, "F", (12, 96), cv2.FONT_HERSHEY_DUPLEX, 1.3, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(p, "06", (474, 96), cv2.FONT_HERSHEY_DUPLEX, 0.95, (255, 255, 255), 2, cv2.LINE_AA)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 2.0, 6)
    cv2.putText(p, text, (60 + (408 - tw) // 2, 55 + th // 2), cv2.FONT_HERSHEY_DUPLEX, 2.0, (10, 10, 10), 6,
                cv2.LINE_AA)
    cv2.rectangle(p, (0, 0), (519, 109), (20, 20, 20), 3)
    return p


def _paste_plate(img: np.ndarray, cx: float, cy: float, width: float, angle_deg: float) -> list[int]:
    src = _plate()
    h = width * 110 / 520
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-width / 2, -h / 2], [width / 2, -h / 2], [width / 2, h / 2], [-width / 2, h / 2]]) @ rot.T
    dst = (corners + [cx, cy]).astype(np.float32)
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [519, 0], [519, 109], [0, 109]]), dst)
    warped = cv2.warpPerspective(src, M, (img.shape[1], img.shape[0]), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((110, 520), 255, np.uint8), M, (img.shape[1], img.shape[0]))
    img[mask > 128] = warped[mask > 128]
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int)
    return [int(x0), int(y0), int(x1), int(y1)]


def _planted_scene():
    rng = np.random.default_rng(3)
    img = _street(rng)
    faces = []
    for size, (x, y) in ((44, (30, 45)), (64, (150, 30)), (90, (520, 20))):
        f = _astronaut_face(size)
        h = min(f.shape[0], 360 - y)
        img[y:y + h, x:x + size] = f[:h]
        # the face proper (brows to chin, cheek to cheek) within the crop
        fh = f.shape[0]
        faces.append([x + int(size * 0.15), y + int(fh * 0.2), x + int(size * 0.85), y + int(fh * 0.85)])
    plates = [_paste_plate(img, 470, 280, 120, 2.0), _paste_plate(img, 120, 250, 80, -4.0),
              _paste_plate(img, 300, 330, 64, 0.0)]
    return img, faces, plates


def _planted_share(boxes: list[list[int]]) -> float:
    return sum((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in boxes) / (640 * 360)


def _region_change(before: np.ndarray, after: np.ndarray, box: list[int]) -> tuple[float, float, float]:
    """Share of the box covered by changed pixels, and the Laplacian variance before/after
    (detail left in the region)."""
    x0, y0, x1, y1 = box
    a = before[y0:y1 + 1, x0:x1 + 1].astype(np.int16)
    b = after[y0:y1 + 1, x0:x1 + 1].astype(np.int16)
    changed = float((np.abs(a - b).max(-1) > 0).mean())

    def detail(im: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(im.astype(np.uint8), cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

    return changed, detail(a), detail(b)


def test_every_planted_face_and_plate_is_blurred():
    img, faces, plates = _planted_scene()
    out, dets, share = anonymise_image(img, AnonymiserConfig())
    assert {d.kind for d in dets} == {"face", "plate"}
    for box in faces + plates:
        changed, detail_before, detail_after = _region_change(img, out, box)
        assert changed > 0.9, (box, changed)
        assert detail_after < 0.25 * detail_before, (box, detail_before, detail_after)
    # only the regions go (with a margin): the frame as a whole is kept
    assert share < 2.5 * _planted_share(faces + plates)
    assert (out[270:360, 0:200] == img[270:360, 0:200]).all()      # untouched asphalt


def test_plates_found_on_white_and_navy_cars():
    """The white-body cue fails on a white car, the blue-band cue on a navy car: each colour
    must still be found by the other cue."""
    for colour in ((235, 235, 232), (25, 45, 90), (120, 20, 25)):
        img = _street(np.random.default_rng(1))
        cv2.rectangle(img, (330, 190), (620, 330), colour, -1)
        box = _paste_plate(img, 470, 280, 96, 1.5)
        found = [d.box for d in detect_plates(img)]
        cover = np.zeros((box[3] - box[1] + 1, box[2] - box[0] + 1), bool)
        for x0, y0, x1, y1 in found:
            cover[max(0, y0 - box[1]):max(0, y1 - box[1] + 1), max(0, x0 - box[0]):max(0, x1 - box[0] + 1)] = True
        assert cover.mean() > 0.9, (colour, found)


def test_no_blur_on_an_empty_street():
    img = _street(np.random.default_rng(5))
    out, dets, share = anonymise_image(img)
    assert share < 0.01 and len(dets) <= 1


def test_anonymise_jpeg_keeps_exif_and_reports_boxes():
    img, faces, plates = _planted_scene()
    exif = Image.Exif()
    exif[0x010F] = "Vialytics-like"
    exif.get_ifd(0x8825)[0x0001] = "N"
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    data, boxes, share = anonymise_jpeg(buf.getvalue())
    out = Image.open(io.BytesIO(data))
    assert out.size == (640, 360)
    assert out.getexif()[0x010F] == "Vialytics-like"
    assert len(boxes) >= len(faces) + len(plates)
    assert all(len(b) == 4 and 0 <= b[0] <= b[2] < 640 and 0 <= b[1] <= b[3] < 360 for b in boxes)
    assert 0 < share < 2.5 * _planted_share(faces + plates)
    back = decode_jpeg(data)
    changed, before, after = _region_change(img, back, plates[0])
    assert after < 0.25 * before
