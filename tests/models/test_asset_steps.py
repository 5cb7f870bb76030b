"""Model-side steps moved out of asset bodies (issue 23): the waste plan's stop, route and fixed-
round records, the damage detector's score records, the anonymiser's stored-frame records."""

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import cv2
import numpy as np

from models.roads.detector import CellDetection, FramePrediction, score_records
from models.waste import planning as P

T0 = datetime(2026, 1, 5, 5, 0, tzinfo=timezone.utc)


def _plan():
    stops = [{"truck_id": "T1", "trip": 1, "waste_stream": "ordures_menageres", "stop_order": 1, "kind": "bin", "bin_id": "B1",
              "load_kg_after": 50.0, "load_l_after": 200.0, "pickup_kg": 50.0, "leg_m": 800.0, "eta_s": 600,
              "window_s": (0, 3600), "window_reason": "market"},
             {"truck_id": "T1", "trip": 1, "waste_stream": "ordures_menageres", "stop_order": 2, "kind": "disposal", "bin_id": None,
              "load_kg_after": 0.0, "load_l_after": 0.0, "pickup_kg": 0.0, "leg_m": 900.0, "eta_s": 1200,
              "window_s": None, "window_reason": ""}]
    routes = [{"truck_id": "T1", "trip": 1, "start_s": 0, "end_s": 3600}]
    dropped = [{"bin_id": "B2", "waste_stream": "ordures_menageres", "reason": "capacity"}]
    return SimpleNamespace(stops=stops, routes=routes, dropped=dropped)


def test_stop_records_place_times_and_dropped_bins():
    stops = [SimpleNamespace(bin_id="B1", x=1.0, y=2.0), SimpleNamespace(bin_id="B2", x=3.0, y=4.0)]
    rows = P.stop_records(_plan(), stops, {"depot": (0.0, 0.0), "disposal": (9.0, 9.0)}, {"B1": 0.9, "B2": 1.1},
                          date(2026, 1, 5), T0)
    assert [(r["kind"], r["bin_id"], r["x_2154"], r["y_2154"]) for r in rows] == [
        ("bin", "B1", 1.0, 2.0), ("disposal", None, 9.0, 9.0), ("dropped", "B2", 3.0, 4.0)]
    assert rows[0]["eta"] == T0 + timedelta(seconds=600) and rows[0]["window_end"] == T0 + timedelta(hours=1)
    assert rows[0]["forecast_fill"] == 0.9 and rows[1]["forecast_fill"] is None and rows[1]["window_reason"] is None
    assert rows[2]["reason"] == "capacity" and rows[2]["forecast_fill"] == 1.1 and rows[2]["eta"] is None


def test_route_records_and_fixed_round_records():
    r = P.route_records(_plan(), date(2026, 1, 5), T0)[0]
    assert r["start"] == T0 and r["end"] == T0 + timedelta(hours=1) and r["plan_date"] == date(2026, 1, 5)
    D = np.array([[0, 1000, 500], [1000, 0, 700], [500, 700, 0]], float)
    fc = {"B1": {"fill_at_collection": 0.5, "capacity_l": 240.0, "waste_stream": "ordures_menageres"}}
    rows = P.fixed_round_records([("R1", "T1", ["B1", "B9"])], {"B1": 2}, fc, {"ordures_menageres": 0.1}, {"T1": 9500.0}, D, D / 10)
    assert rows[0]["round_id"] == "R1" and rows[0]["bin_ids"] == ["B1"] and rows[0]["fills"] == [0.5]
    assert rows[0]["bins"] == 1 and rows[0]["distance_m"] == 500 + 700 + 1000   # depot, bin, disposal, depot


def test_score_records_one_row_per_frame_and_per_damaged_cell():
    class Det:
        def detect(self, frames, batch_size):
            assert len(frames) == 2 and frames[0].shape == (16, 16, 3)
            cell = CellDetection("pothole", "high", 0.91234, (1, 2), (64, 32, 95, 63))
            return [FramePrediction([cell], {"pothole": 0.9}, {}), FramePrediction([], {}, {})]

    jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    scores, dets = score_records(Det(), [("S", "a.jpg"), ("S", "b.jpg")], [jpeg, jpeg], "v1", now)
    assert [(s["file"], s["detections"], s["classes_present"]) for s in scores] == [("a.jpg", 1, "pothole"),
                                                                                     ("b.jpg", 0, "")]
    assert all(s["model_version"] == "v1" and s["scored_at"] == now for s in scores)
    assert dets == [{"survey_id": "S", "file": "a.jpg", "cell_row": 1, "cell_col": 2, "damage_class": "pothole",
                     "severity": "high", "confidence": 0.9123, "x0": 64, "y0": 32, "x1": 95, "y1": 63,
                     "model_version": "v1"}]


def test_stored_frame_records_keep_the_key_and_say_what_was_blurred():
    from models.roads.anonymise import AnonymiserConfig, stored_frame_records

    img = np.full((120, 160, 3), 128, np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    recs = stored_frame_records([{"survey_id": "S", "file": "f.jpg", "segment_id": "seg", "source_file": "x"}],
                                [jpeg], AnonymiserConfig(), "anon-v", "now")
    assert len(recs) == 1
    r = recs[0]
    assert (r["survey_id"], r["file"], r["segment_id"], r["anonymiser_version"], r["anonymised_at"]) == (
        "S", "f.jpg", "seg", "anon-v", "now")
    assert (r["width"], r["height"]) == (160, 120) and r["jpeg"][:2] == b"\xff\xd8"
    assert r["faces_blurred"] == 0 and r["plates_blurred"] == 0 and r["boxes_json"] == "[]"
