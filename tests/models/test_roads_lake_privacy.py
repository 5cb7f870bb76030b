"""What reaches the lake is anonymised: real faces (scikit-image's public-domain astronaut photo)
and French SIV plates (AB-123-CD, white, EU band) planted at known places, at realistic sizes and
angles, in survey frames of the landing zone; the `silver/road_images` asset stores them; the
test reads the JPEGs back from the Delta table and checks every planted region is blurred.

The detector itself (scene by scene, colours of cars, EXIF kept) is tested in
test_roads_models.py; this test is about the stored bytes. It prints the detector's recall and
the share of frame area blurred."""

import io
import json
from datetime import datetime, timezone

import cv2
import dagster as dg
import numpy as np
import polars as pl
from PIL import Image

from tests.models.test_roads_models import (_astronaut_face, _paste_plate, _planted_scene, _region_change,
                                            _street)


def _scene_b():
    """Other sizes, places and angles: a pedestrian near the horizon, a close one, plates on two
    car rears at 5 and -7 degrees, one far plate. Faces (brows to chin) 34 to 53 px wide here,
    31 to 63 over both scenes: the cascades' documented floor is about 27 px (see
    models/roads/anonymise.py); a 23 px face was missed when tried, a limit of the Haar
    detector, not of the storage path."""
    rng = np.random.default_rng(11)
    img = _street(rng)
    cv2.rectangle(img, (20, 200), (250, 320), (150, 150, 160), -1)          # a grey car rear
    faces = []
    for size, (x, y) in ((52, (300, 40)), (76, (420, 25)), (48, (560, 70))):
        f = _astronaut_face(size)
        h = min(f.shape[0], 360 - y)
        img[y:y + h, x:x + size] = f[:h]
        fh = f.shape[0]
        faces.append([x + int(size * 0.15), y + int(fh * 0.2), x + int(size * 0.85), y + int(fh * 0.85)])
    plates = [_paste_plate(img, 135, 285, 104, 5.0), _paste_plate(img, 480, 300, 90, -7.0),
              _paste_plate(img, 420, 215, 58, 1.0)]
    return img, faces, plates


def _jpeg_with_gps(rgb: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Vialytics-like"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (43.0, 33.0, 10.0), "E", (7.0, 1.0, 5.0)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def test_frames_reach_the_lake_blurred(lake_env):
    from assets.lake import Lake, LakeResource
    from assets.roads import road_images
    from transforms import roads as T

    scenes = [_planted_scene(), _scene_b()]
    landing = lake_env.landing_uri
    folder = f"{landing}/roads/surveys/SRV-TEST"
    import os
    os.makedirs(folder, exist_ok=True)
    rows, originals = [], {}
    for k, (img, faces, plates) in enumerate(scenes):
        name = f"frame_{k + 1:06d}.jpg"
        data = _jpeg_with_gps(img)
        with open(f"{folder}/{name}", "wb") as fh:
            fh.write(data)
        originals[name] = (cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                                        cv2.COLOR_BGR2RGB), faces, plates)
        rows.append({"survey_id": "SRV-TEST", "file": name, "vehicle_id": "V", "captured_at": datetime.now(timezone.utc),
                     "lat": 43.55, "lon": 7.02, "x_2154": 1.0, "y_2154": 2.0, "heading_deg": 0.0, "width": 640,
                     "height": 360, "segment_id": "SEG-00001", "match_distance_m": 1.0, "position_along": 0.5,
                     "source_file": f"roads/surveys/SRV-TEST/{name}"})
    lake = Lake(lake_env.lake_uri)
    lake.overwrite("silver", "road_frames", pl.DataFrame(rows, schema=T.ROAD_FRAMES))
    res = LakeResource(lake_uri=lake_env.lake_uri, landing_uri=landing)

    r1 = dg.materialize([road_images], resources={"lake": res})
    assert r1.success
    stored = lake.read("silver", "road_images")
    assert stored.height == 2 and stored["anonymiser_version"].n_unique() == 1

    found = total = 0
    shares = []
    for rec in stored.iter_rows(named=True):
        before, faces, plates = originals[rec["file"]]
        after = cv2.cvtColor(cv2.imdecode(np.frombuffer(rec["jpeg"], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert after.shape == before.shape
        assert Image.open(io.BytesIO(rec["jpeg"])).getexif()[0x010F] == "Vialytics-like"   # EXIF kept
        boxes = [b["box"] for b in json.loads(rec["boxes_json"])]
        for box in faces + plates:
            total += 1
            changed, detail_before, detail_after = _region_change(before, after, box)
            # blurred: nearly every pixel of the region changed and its detail is gone
            if changed > 0.9 and detail_after < 0.25 * detail_before:
                found += 1
            else:
                print(f"{rec['file']}: region {box} not blurred (changed {changed:.2f}, detail {detail_before:.0f} "
                      f"-> {detail_after:.0f}); blurred boxes {boxes}")
        planted = sum((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in faces + plates) / (640 * 360)
        shares.append((rec["blurred_share"], planted))
        # the blur is targeted: the frame as a whole is kept (no blanket blur of the upper frame)
        assert rec["blurred_share"] < 2.5 * planted, (rec["file"], rec["blurred_share"], planted)
        assert rec["faces_blurred"] >= 1 and rec["plates_blurred"] >= 1
        assert np.abs(after[300:360, 260:330].astype(int) - before[300:360, 260:330].astype(int)).mean() < 4 or \
            rec["file"] == "frame_000001.jpg"        # untouched asphalt stays (frame 1 has a plate there)
    recall = found / total
    print(f"\nstored frames: detector recall {found}/{total} = {recall:.3f}; blurred share of frame area "
          f"{[round(s, 4) for s, _ in shares]} (planted regions cover {[round(p, 4) for _, p in shares]})")
    assert recall == 1.0

    # idempotent: nothing new to anonymise, the table is unchanged
    v = lake.table("silver", "road_images").version()
    r2 = dg.materialize([road_images], resources={"lake": res})
    mat = r2.asset_materializations_for_node(road_images.node_def.name)[0]
    assert mat.metadata["frames_anonymised_now"].value == 0
    assert lake.table("silver", "road_images").version() == v
