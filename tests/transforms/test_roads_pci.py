"""Roads condition logic: deduct values, corrected deduct iteration (ASTM D6433 logic), grade
from PCI, segment condition (cobbles, safety, trend), network summary, far-frame quarantine,
repair options."""

import json
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from transforms import roads as T


def test_deduct_values_grow_with_density_and_severity():
    for cls in T.DAMAGE_CLASSES:
        for sev in T.SEVERITIES:
            dv = [T.deduct_value(cls, sev, d) for d in (0.0, 0.01, 0.1, 1, 5, 10, 50, 100, 300)]
            assert dv[0] == 0.0 and all(0 <= v <= 100 for v in dv)
            assert all(b >= a for a, b in zip(dv, dv[1:])), (cls, sev, dv)
        lo, med, hi = (T.deduct_value(cls, s, 5.0) for s in T.SEVERITIES)
        assert lo < med < hi, cls
    # potholes weigh more than the same density of cracks
    assert T.deduct_value("pothole", "medium", 1) > T.deduct_value("alligator_crack", "medium", 1) > \
        T.deduct_value("longitudinal_crack", "medium", 1)
    # anchors are met exactly
    assert T.deduct_value("alligator_crack", "high", 10.0) == pytest.approx(60.0)


def test_corrected_deduct_curves():
    assert T.corrected_deduct(40, 1) == pytest.approx(40)              # q = 1: CDV = TDV
    assert T.corrected_deduct(100, 4) == pytest.approx(59)
    assert T.corrected_deduct(75, 3) == pytest.approx(33 + 25 / 50 * 33)
    assert T.corrected_deduct(100, 12) == T.corrected_deduct(100, 7)   # q >= 7 shares a curve
    for q in range(1, 8):                                               # more deducts, less each
        assert T.corrected_deduct(100, q) >= T.corrected_deduct(100, q + 1)


def test_pci_iteration_by_hand():
    # deducts 40, 30, 20, 10: m = 1 + 9/98 * 60 = 6.5 -> all kept
    # q=4 TDV=100 -> 59; q=3 [40,30,20,2] TDV=92 -> 33 + 42/50*33 = 60.72;
    # q=2 [40,30,2,2] TDV=74 -> 40 + 24/50*38 = 58.24; q=1 [40,2,2,2] TDV=46 -> 46; max 60.72
    pci, cdv = T.pci_from_deducts([10, 40, 20, 30])
    assert cdv == pytest.approx(60.72) and pci == pytest.approx(39.28)
    assert T.pci_from_deducts([]) == (100.0, 0.0)
    assert T.pci_from_deducts([25]) == (75.0, 25.0)
    # HDV 100 -> m = 1: only the highest deduct counts
    assert T.pci_from_deducts([100, 50])[0] == 0.0
    # m = 1 + 9/98*(100-78) = 3.02: the 4th deduct enters at 2 % of its value
    pci3, _ = T.pci_from_deducts([78, 20, 15, 12])
    assert 0 <= pci3 < 100 - 78


def test_grade_from_pci():
    grades = [T.grade_from_pci(p) for p in np.linspace(100, 0, 201)]
    assert grades[0] == 1.0 and grades[-1] == 5.0
    assert all(b >= a for a, b in zip(grades, grades[1:]))
    assert set(grades) <= {1.0 + 0.5 * k for k in range(9)}
    assert T.pci_band(90) == "Good" and T.pci_band(60) == "Fair" and T.pci_band(5) == "Failed"


# --------------------------------------------------------------------------------------------
# Segment condition on a hand-made survey
# --------------------------------------------------------------------------------------------

def _segments():
    return pl.DataFrame({
        "segment_id": ["S1", "S2", "S3"], "street_name": ["Rue A", "Rue B", "Rue C"], "quartier": ["Q"] * 3,
        "road_class": ["primary", "residential", "tertiary"], "surface": ["asphalt", "asphalt", "cobbles"],
        "length_m": [200.0, 100.0, 50.0], "x0": [0.0, 0.0, 0.0], "y0": [0.0, 10.0, 20.0],
        "x1": [200.0, 100.0, 50.0], "y1": [0.0, 10.0, 20.0]})


def _survey(sid: str, day: int, damaged: dict[str, list[tuple[str, str]]]):
    """Four frames on each segment; `damaged[segment]` = cells (class, severity) on its first frame."""
    t = datetime(2026, 4 if day < 100 else 10, 1, 9, tzinfo=timezone.utc)
    frames, dets = [], []
    for seg in ("S1", "S2", "S3"):
        for k in range(4):
            f = f"{seg}_{k}.jpg"
            frames.append({"survey_id": sid, "file": f, "segment_id": seg, "captured_at": t})
            if k == 0:
                for i, (c, s) in enumerate(damaged.get(seg, [])):
                    dets.append({"survey_id": sid, "file": f, "damage_class": c, "severity": s,
                                 "confidence": 0.9, "cell_row": i // 20, "cell_col": i % 20})
    frames.append({"survey_id": sid, "file": "far.jpg", "segment_id": None, "captured_at": t})
    fr = pl.DataFrame(frames)
    scores = fr.select("survey_id", "file").with_columns(pl.lit("v1").alias("model_version"))
    return fr, scores, pl.DataFrame(dets, schema={"survey_id": pl.Utf8, "file": pl.Utf8, "damage_class": pl.Utf8,
                                                  "severity": pl.Utf8, "confidence": pl.Float64,
                                                  "cell_row": pl.Int64, "cell_col": pl.Int64})


def _condition():
    f1, s1, d1 = _survey("SRV-A", 1, {"S1": [("transverse_crack", "low")] * 3,
                                       "S2": [("alligator_crack", "medium")] * 8, "S3": [("pothole", "high")]})
    f2, s2, d2 = _survey("SRV-B", 200, {"S1": [("transverse_crack", "low")] * 3,
                                         "S2": [("alligator_crack", "high")] * 20 + [("pothole", "high")] * 2})
    return T.segment_condition(pl.concat([f1, f2]), pl.concat([s1, s2]), pl.concat([d1, d2]), _segments())


def test_segment_condition():
    c = _condition()
    assert c.height == 6                                    # 3 segments x 2 surveys; the far frame is not used
    row = {(r["survey_id"], r["segment_id"]): r for r in c.iter_rows(named=True)}
    s3 = row[("SRV-A", "S3")]
    assert s3["graded"] is False and s3["grade"] is None and s3["pci"] is None      # cobbles not graded
    a2, b2 = row[("SRV-A", "S2")], row[("SRV-B", "S2")]
    assert a2["frames"] == 4 and a2["inspected_area_m2"] == pytest.approx(4 * T.FRAME_AREA_M2, abs=0.01)
    # 8 cells of medium alligator on 4 frames: density = 8 cells x cell area / area x 100
    dens = 8 * T.CELL_AREA_M2 / (4 * T.FRAME_AREA_M2) * 100
    assert a2["alligator_crack_density_pct"] == pytest.approx(dens, abs=1e-3)
    # each frame is a sample unit: the damaged frame's PCI, averaged with three undamaged frames (100)
    frame = 100 - T.deduct_value("alligator_crack", "medium", 4 * dens)
    assert a2["pci"] == pytest.approx((frame + 300) / 4, abs=0.02)
    assert a2["max_cdv"] == pytest.approx(100 - frame, abs=0.02)
    assert a2["main_distress"] == "alligator_crack" and a2["safety_critical"] is False
    # the autumn survey is worse, has high-severity potholes: flagged, trend "worse"
    assert b2["pci"] < a2["pci"] and b2["safety_critical"] is True and "pothole" in b2["safety_reason"]
    assert b2["previous_survey_id"] == "SRV-A" and b2["trend"] == "worse" and b2["grade_change"] >= 0.5
    assert b2["is_latest"] and not a2["is_latest"]
    assert row[("SRV-B", "S1")]["trend"] == "stable" and row[("SRV-A", "S1")]["trend"] == "first survey"
    assert row[("SRV-B", "S3")]["pci"] == 100 or row[("SRV-B", "S3")]["pci"] is None
    assert all(g == T.grade_from_pci(p) for g, p in zip(c.filter("graded")["grade"], c.filter("graded")["pci"]))
    assert json.loads(b2["deducts_json"])["pothole/high"]["frames"] == 1
    assert len(json.loads(b2["frames_json"])) == 1


def test_network_summary_shares():
    s = T.network_summary(_condition(), _segments())
    for sid in ("SRV-A", "SRV-B"):
        g = s.filter((pl.col("survey_id") == sid) & pl.col("grade").is_not_null())
        assert g["share_of_graded_length_pct"].sum() == pytest.approx(100.0, abs=0.05)
        assert g["km"].sum() == pytest.approx(0.3)
        ng = s.filter((pl.col("survey_id") == sid) & pl.col("grade").is_null())
        assert ng["km"].to_list() == [0.05] and ng["segments"].to_list() == [1]
    assert s["network_km"].unique().to_list() == [0.35]


def test_far_frames_are_quarantined_with_reason():
    fr = pl.DataFrame({"survey_id": ["S", "S"], "file": ["a.jpg", "b.jpg"], "segment_id": ["X", None],
                       "match_distance_m": [3.0, 412.4], "lat": [43.55, 43.56], "lon": [7.0, 7.01],
                       "source_file": ["roads/surveys/S/a.jpg", "roads/surveys/S/b.jpg"]})
    rows = T.far_frame_quarantine_rows(fr)
    assert len(rows) == 1 and rows[0]["item"] == "S/b.jpg"
    assert "412 m from the nearest street" in rows[0]["reason"] and "limit 20 m" in rows[0]["reason"]
    assert rows == T.far_frame_quarantine_rows(fr)        # same content: the same quarantine key


def test_repair_options_and_budget():
    from models.roads.repair import option_value, plan_repairs

    opts = T.repair_options(_condition())
    assert set(opts["segment_id"]) == {"S1", "S2"}         # latest survey, graded only
    s2 = opts.filter(pl.col("segment_id") == "S2")
    assert {"patching", "resurfacing"} <= set(s2["treatment"])
    assert (opts["pci_after"] >= opts["pci_before"]).all()
    rs = s2.filter(pl.col("treatment") == "resurfacing").row(0, named=True)
    assert rs["cost_eur"] == pytest.approx(100 * T.CARRIAGEWAY_WIDTH_M["residential"] * 32.0)
    assert "grade" in rs["reasons"] and "SAFETY" in rs["reasons"] and "EUR" in rs["reasons"]
    vals = [option_value(r["pci_gain"], r["length_m"], r["class_weight"], r["safety_critical"])
            for r in opts.iter_rows(named=True)]
    for budget in (0.0, 5000.0, 20000.0, 1e7):
        res = plan_repairs(opts["segment_id"].to_list(), opts["cost_eur"].to_list(), vals, budget)
        assert res.status == "OPTIMAL" and res.cost <= budget
        chosen = opts[res.chosen]
        assert chosen["segment_id"].is_unique().all() and chosen["cost_eur"].sum() <= budget
    assert len(plan_repairs(opts["segment_id"].to_list(), opts["cost_eur"].to_list(), vals, 1e7).chosen) == 2
