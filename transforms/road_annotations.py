"""Road damage annotations delivered as COCO JSON, as CVAT ("COCO 1.0") or Label Studio export
it (docs/LANDING.md): bytes in, one typed row per annotation (and one per labelled image
without any annotation, so a frame labelled "no damage" is known as such).

Accepted: `images` (id, file_name, width, height), `categories` (id, name: a damage class of
models/roads/dataset.DAMAGE_CLASSES), `annotations` (id, image_id, category_id, `bbox` [x, y, w,
h] in pixels and/or `segmentation` polygons [[x1, y1, x2, y2, ...]], `attributes` with
`severity` low / medium / high as CVAT writes track attributes; a missing severity is NULL).
`file_name` is `<survey_id>/<file>` (the frame's key in silver.road_frames); a bare file name
takes the survey id from the delivery's name (`<survey_id>.json`). A box is taken from the
polygons when `bbox` is absent.

A file that is not COCO (not JSON, no `images`/`annotations`/`categories` lists) is a bad
delivery; an annotation with an unknown category or image, a box outside its image or of no
size, or a severity outside the three levels is a bad row (quarantined with its reason); the
rest lands.
"""

from __future__ import annotations

import json
import math
from pathlib import PurePosixPath

import polars as pl

from .parsing import BadDelivery, Parsed, _decode
from .validation import ROW

DAMAGE_CLASSES = ("longitudinal_crack", "transverse_crack", "alligator_crack", "pothole", "patch")
SEVERITIES = ("low", "medium", "high")

ROAD_ANNOTATIONS = {
    "survey_id": pl.Utf8, "file": pl.Utf8, "image_width": pl.Int64, "image_height": pl.Int64,
    "annotation_id": pl.Int64, "damage_class": pl.Utf8, "severity": pl.Utf8,
    "x0": pl.Int64, "y0": pl.Int64, "x1": pl.Int64, "y1": pl.Int64,       # inclusive pixel box
    "polygon_json": pl.Utf8, "area_px": pl.Float64, "tool": pl.Utf8,
}


def _frame_key(file_name: str, delivery: str) -> tuple[str, str]:
    p = PurePosixPath(str(file_name).replace("\\", "/"))
    if len(p.parts) >= 2:
        return p.parts[-2], p.name
    return PurePosixPath(delivery).stem, p.name


def _box(ann: dict) -> tuple[float, float, float, float]:
    """(x, y, w, h) from `bbox`, or from the polygons' extent."""
    bb = ann.get("bbox")
    if bb:
        x, y, w, h = (float(v) for v in bb)
        return x, y, w, h
    segs = ann.get("segmentation")
    if isinstance(segs, list) and segs and isinstance(segs[0], list):
        xs = [float(v) for s in segs for v in s[0::2]]
        ys = [float(v) for s in segs for v in s[1::2]]
        if xs and ys:
            return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    raise ValueError("no bbox and no polygon segmentation")


def parse_coco_annotations(data: bytes, name: str) -> Parsed:
    try:
        doc = json.loads(_decode(data, name))
        images, anns, cats = doc["images"], doc["annotations"], doc["categories"]
        if not all(isinstance(v, list) for v in (images, anns, cats)):
            raise TypeError("images, annotations and categories must be lists")
        cat_names = {int(c["id"]): str(c["name"]) for c in cats}
        imgs = {int(i["id"]): i for i in images}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadDelivery(f"{name}: not a COCO annotation file (images, annotations, categories) ({exc})") from exc
    tool = str((doc.get("info") or {}).get("description") or (doc.get("info") or {}).get("contributor") or "")
    rows, bad, annotated, bad_images = [], [], set(), set()
    for i, a in enumerate(anns, start=1):
        try:
            img = imgs.get(int(a["image_id"]))
            if img is None:
                raise ValueError(f"image_id {a['image_id']} is not in images")
            cls = cat_names.get(int(a["category_id"]))
            if cls not in DAMAGE_CLASSES:
                raise ValueError(f"category {cls or a['category_id']!r} is not one of {', '.join(DAMAGE_CLASSES)}")
            sev = (a.get("attributes") or {}).get("severity")
            if sev is not None and str(sev).strip().lower() not in SEVERITIES:
                raise ValueError(f"severity {sev!r} is not one of {', '.join(SEVERITIES)}")
            W, H = int(img["width"]), int(img["height"])
            x, y, w, h = _box(a)
            if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
                raise ValueError(f"box {[x, y, w, h]} has no size")
            if x < -0.5 or y < -0.5 or x + w > W + 0.5 or y + h > H + 0.5:
                raise ValueError(f"box {[x, y, w, h]} is outside its {W}x{H} image")
            sid, file = _frame_key(img["file_name"], name)
            segs = a.get("segmentation") if isinstance(a.get("segmentation"), list) else None
            rows.append({"survey_id": sid, "file": file, "image_width": W, "image_height": H,
                         "annotation_id": int(a["id"]), "damage_class": cls,
                         "severity": None if sev is None else str(sev).strip().lower(),
                         "x0": max(0, int(math.floor(x))), "y0": max(0, int(math.floor(y))),
                         "x1": min(W - 1, int(math.ceil(x + w)) - 1), "y1": min(H - 1, int(math.ceil(y + h)) - 1),
                         "polygon_json": json.dumps(segs) if segs else None,
                         "area_px": float(a.get("area") or w * h), "tool": tool, ROW: i})
            annotated.add(int(a["image_id"]))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(a, dict):
                bad_images.add(str(a.get("image_id")))
            bad.append({ROW: i, "reason": f"annotation {i} (id {a.get('id') if isinstance(a, dict) else '?'}): {exc}",
                        "raw": json.dumps(a)[:2000]})
    # labelled images without any annotation: frames seen and found undamaged
    for k, (iid, img) in enumerate(sorted(imgs.items()), start=len(anns) + 1):
        if iid in annotated or str(iid) in bad_images:     # an image with a bad annotation is not "undamaged"
            continue
        try:
            sid, file = _frame_key(img["file_name"], name)
            rows.append({"survey_id": sid, "file": file, "image_width": int(img["width"]),
                         "image_height": int(img["height"]), "annotation_id": None, "damage_class": None,
                         "severity": None, "x0": None, "y0": None, "x1": None, "y1": None, "polygon_json": None,
                         "area_px": None, "tool": tool, ROW: k})
        except (KeyError, TypeError, ValueError) as exc:
            bad.append({ROW: k, "reason": f"image {iid}: {exc}", "raw": json.dumps(img)[:2000]})
    good = pl.DataFrame(rows, schema={**ROAD_ANNOTATIONS, ROW: pl.Int64})
    return Parsed(good, pl.DataFrame(bad, schema=Parsed.empty_bad().schema))


def silver_annotations(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per annotation (frame id, class, severity, pixel box, polygon), the latest
    delivery winning when a frame was annotated again (a re-export replaces the frame's labels)."""
    return _latest(bronze).filter(pl.col("annotation_id").is_not_null()).select(
        *ROAD_ANNOTATIONS.keys(), pl.col("_delivery").alias("delivery")).sort("survey_id", "file", "annotation_id")


def silver_labelled_frames(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per labelled frame: its size, annotation count and delivery (a frame with zero
    annotations was looked at and found undamaged)."""
    df = _latest(bronze)
    return df.group_by("survey_id", "file").agg(
        pl.col("image_width").first(), pl.col("image_height").first(),
        pl.col("annotation_id").is_not_null().sum().cast(pl.Int64).alias("annotations"),
        pl.col("_delivery").first().alias("delivery")).sort("survey_id", "file")


def _latest(bronze: pl.DataFrame) -> pl.DataFrame:
    last = bronze.group_by("survey_id", "file").agg(pl.col("_ingested_at").max().alias("__t"),
                                                    pl.col("_delivery").max().alias("__d"))
    return bronze.join(last, on=["survey_id", "file"]).filter(
        (pl.col("_ingested_at") == pl.col("__t")) & (pl.col("_delivery") == pl.col("__d"))).drop("__t", "__d")


def annotations_to_damages(ann: pl.DataFrame) -> dict[tuple[str, str], list[dict]]:
    """Per (survey_id, file), the damage list the network's cell labels read: class, severity
    (medium when the annotator left it empty) and inclusive pixel bbox."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in ann.sort("survey_id", "file", "annotation_id").iter_rows(named=True):
        out.setdefault((r["survey_id"], r["file"]), []).append(
            {"class": r["damage_class"], "severity": r["severity"] or "medium",
             "bbox": [r["x0"], r["y0"], r["x1"], r["y1"]]})
    return out
