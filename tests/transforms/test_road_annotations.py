"""COCO road annotations (CVAT / Label Studio export): parsing, bad rows with reasons, bad files,
the latest delivery winning, and the simulator writing its labels in that format."""

import json
from datetime import datetime, timezone

import polars as pl
import pytest

from transforms.parsing import BadDelivery
from transforms.road_annotations import (annotations_to_damages, parse_coco_annotations, silver_annotations,
                                         silver_labelled_frames)


def _coco(**over):
    doc = {
        "info": {"description": "CVAT COCO 1.0"},
        "categories": [{"id": 1, "name": "pothole"}, {"id": 2, "name": "transverse_crack"}, {"id": 3, "name": "car"}],
        "images": [{"id": 1, "file_name": "SRV-A/frame_000001.jpg", "width": 640, "height": 360},
                   {"id": 2, "file_name": "frame_000002.jpg", "width": 640, "height": 360},
                   {"id": 3, "file_name": "SRV-A/frame_000003.jpg", "width": 640, "height": 360}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [100.0, 200.5, 40.0, 30.0], "area": 1100.0,
             "segmentation": [[100, 200.5, 140, 200.5, 140, 230.5, 100, 230.5]], "iscrowd": 0,
             "attributes": {"severity": "high", "occluded": False}},
            {"id": 11, "image_id": 1, "category_id": 2, "segmentation": [[10, 300, 300, 310, 305, 318, 12, 306]],
             "iscrowd": 0, "attributes": {"severity": "Low"}},                # polygon only, severity case
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10]},            # unknown class
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [630, 350, 40, 40],
             "attributes": {"severity": "medium"}},                                       # outside the image
            {"id": 14, "image_id": 9, "category_id": 1, "bbox": [0, 0, 10, 10]},            # unknown image
            {"id": 15, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10],
             "attributes": {"severity": "terrible"}},                                     # bad severity
            {"id": 16, "image_id": 3, "category_id": 1, "bbox": [5, 5, 0, 10]},             # no size
        ]}
    doc.update(over)
    return json.dumps(doc).encode()


def test_coco_rows_and_reasons():
    p = parse_coco_annotations(_coco(), "SRV-B.json")
    good = p.good
    ann = good.filter(pl.col("annotation_id").is_not_null()).sort("annotation_id")
    assert ann["annotation_id"].to_list() == [10, 11]
    a = ann.row(0, named=True)
    assert (a["survey_id"], a["file"], a["damage_class"], a["severity"]) == ("SRV-A", "frame_000001.jpg", "pothole", "high")
    assert (a["x0"], a["y0"], a["x1"], a["y1"]) == (100, 200, 139, 230)
    assert json.loads(a["polygon_json"])[0][:2] == [100, 200.5]
    b = ann.row(1, named=True)
    assert (b["x0"], b["y0"], b["x1"], b["y1"], b["severity"]) == (10, 300, 304, 317, "low")  # box from polygon
    # image 2 has no annotation: a labelled negative; its survey id comes from the delivery name
    neg = good.filter(pl.col("annotation_id").is_null())
    assert neg.select("survey_id", "file").rows() == [("SRV-B", "frame_000002.jpg")]   # image 3 had a bad row
    reasons = " | ".join(p.bad.sort("_row_number")["reason"].to_list())
    assert p.bad.height == 5
    for frag in ("'car' is not one of", "outside its 640x360 image", "image_id 9 is not in images",
                 "severity 'terrible'", "has no size"):
        assert frag in reasons, frag


@pytest.mark.parametrize("data", [b"not json", b'{"images": []}', b'{"images": {}, "annotations": [], "categories": []}'])
def test_not_coco_is_a_bad_delivery(data):
    with pytest.raises(BadDelivery, match="not a COCO annotation file"):
        parse_coco_annotations(data, "x.json")


def _bronze(parsed, delivery, t):
    return parsed.good.with_columns(pl.lit(delivery).alias("_delivery"),
                                    pl.lit(t, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"))


def test_latest_delivery_replaces_a_frames_labels():
    first = _bronze(parse_coco_annotations(_coco(), "SRV-B.json"), "SRV-B.json", datetime(2026, 1, 1, tzinfo=timezone.utc))
    redo = _coco(images=[{"id": 1, "file_name": "SRV-A/frame_000001.jpg", "width": 640, "height": 360}],
                 annotations=[{"id": 1, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4],
                               "attributes": {"severity": "medium"}}])
    second = _bronze(parse_coco_annotations(redo, "fix.json"), "fix.json", datetime(2026, 2, 1, tzinfo=timezone.utc))
    both = pl.concat([first, second])
    ann = silver_annotations(both)
    a1 = ann.filter(pl.col("file") == "frame_000001.jpg")
    assert a1["damage_class"].to_list() == ["transverse_crack"] and a1["delivery"].to_list() == ["fix.json"]
    frames = silver_labelled_frames(both)
    assert frames.height == 2 and dict(zip(frames["file"], frames["annotations"])) == {
        "frame_000001.jpg": 1, "frame_000002.jpg": 0}
    dm = annotations_to_damages(ann)
    assert dm[("SRV-A", "frame_000001.jpg")] == [{"class": "transverse_crack", "severity": "medium", "bbox": [1, 2, 3, 5]}]


def test_simulator_writes_its_labels_as_coco(tmp_path):
    from models.simulator.city import build_city
    from models.simulator.roads import simulate_roads

    simulate_roads(build_city("tiny", 3), tmp_path / "landing", tmp_path / "truth")
    for jl in sorted((tmp_path / "truth" / "roads").glob("*/frames.jsonl")):
        sid = jl.parent.name
        truth = [json.loads(x) for x in jl.read_text().splitlines() if x.strip()]
        p = parse_coco_annotations((tmp_path / "landing" / "roads" / "annotations" / f"{sid}.json").read_bytes(),
                                   f"{sid}.json")
        assert p.bad.height == 0
        frames = silver_labelled_frames(_bronze(p, f"{sid}.json", datetime(2026, 1, 1, tzinfo=timezone.utc)))
        assert frames.height == len(truth)
        dm = annotations_to_damages(silver_annotations(_bronze(p, "d", datetime(2026, 1, 1, tzinfo=timezone.utc))))
        for f in truth:
            got = dm.get((sid, f["file"]), [])
            assert sorted(map(json.dumps, got)) == sorted(
                json.dumps({"class": d["class"], "severity": d["severity"], "bbox": d["bbox"]}) for d in f["damages"])
