"""Cross-service marts on small hand-made frames."""

from datetime import date, datetime, timezone

import polars as pl

from transforms import citizens_marts as M

SEGS = pl.DataFrame({"segment_id": ["S1", "S2", "S3"], "street_name": ["Rue A", "Rue B", "Rue C"],
                     "quartier": ["Carnot", "Carnot", "Ranguin"], "x0": [0.0, 0.0, 500.0], "y0": [0.0, 100.0, 0.0],
                     "x1": [100.0, 100.0, 600.0], "y1": [0.0, 100.0, 0.0]})
COMMUNES = {"Carnot": "Cannes", "Ranguin": "Cannes"}


def test_root_heave_candidates():
    cond = pl.DataFrame({"segment_id": ["S1", "S2", "S3"], "pci": [55.0, 90.0, 90.0], "is_latest": [True] * 3,
                         "graded": [True] * 3})
    trees = pl.DataFrame({"tree_id": ["T1", "T2", "T3", "T4"], "x_2154": [50.0, 50.0, 550.0, 20.0],
                          "y_2154": [5.0, 104.0, 6.0, 40.0], "height_m": [15.0, 14.0, 18.0, 20.0],
                          "dbh_cm": [45.0, 30.0, 60.0, 70.0]})
    routing = pl.DataFrame({"service_request_id": ["R9"], "service": ["voirie"], "matched": [True], "status": ["open"],
                            "item_id": ["S2"]})
    r = M.root_heave_candidates(SEGS, cond, trees, routing, COMMUNES)
    # S1 damaged by survey with T1 5 m away; S2 reported with T2 4 m away; S3 sound and unreported; T4 40 m off
    assert r.select("segment_id", "tree_id").rows() == [("S1", "T1"), ("S2", "T2")]
    assert r["distance_m"].to_list() == [5.0, 4.0]
    assert "survey PCI 55" in r["evidence"][0] and "resident report R9" in r["evidence"][1]


def test_cleanliness_hotspots_need_two_signals():
    cci = pl.DataFrame({"segment_id": ["S1", "S2", "S3"], "clean_city_index": [2.0, 4.5, 2.5], "items": [30, 2, 25]})
    routing = pl.DataFrame({"service_request_id": ["R1", "R2"], "service": ["proprete", "proprete"],
                            "segment_id": ["S1", "S2"]})
    bins = pl.DataFrame({"bin_id": ["B1", "B2"], "segment_id": ["S1", "S2"]})
    readings = pl.DataFrame({"bin_id": ["B1", "B1", "B2"], "filling_level": [1.0, 0.4, 0.9]})
    h = M.cleanliness_hotspots(SEGS, cci, routing, readings, bins, COMMUNES)
    # S1: litter + report + overflow = 3; S2: report only = 1 (out); S3: litter only = 1 (out)
    assert h.select("segment_id", "signals").rows() == [("S1", 3)]
    assert h["evidence"][0] == "litter: clean-city index 2.0; 1 resident report(s); 1 bin overflow reading(s)"


def test_works_coordination_same_street_same_day():
    plan = pl.DataFrame({"segment_id": ["S1"], "planned_on": [date(2026, 10, 30)]})    # a Friday
    crew = pl.DataFrame({"day": [1, 2], "segment_id": ["S1", "S3"], "street_name": ["Rue A", "Rue C"],
                         "treatment": ["patching", "patching"], "part": [1, 1], "arrival_hhmm": ["08:10", "09:00"]})
    eta = datetime(2026, 11, 2, 6, 30, tzinfo=timezone.utc)
    stops = pl.DataFrame({"plan_date": [date(2026, 11, 2), date(2026, 11, 2), date(2026, 11, 2)],
                          "truck_id": ["T1", "T1", "T2"], "bin_id": ["B1", "B2", "B3"], "eta": [eta] * 3})
    bins = pl.DataFrame({"bin_id": ["B1", "B2", "B3"], "segment_id": ["S1", "S1", "S2"]})
    w = M.works_coordination(plan, crew, stops, bins, SEGS, COMMUNES)
    # crew day 1 = Monday 2 Nov (next working day after Friday 30 Oct), Rue A: truck T1 with 2 bins;
    # crew day 2 (Tue 3 Nov, Rue C) meets no round
    assert w.select("work_date", "street_name", "truck_id", "bins_on_street").rows() == [
        (date(2026, 11, 2), "Rue A", "T1", 2)]
    assert "crew arrives 08:10 on Rue A" in w["advice"][0] and w["round_source"][0] == "collection plan"
    # the crew days no collection plan covers meet the fixed weekly rounds of their weekday: Tuesday
    # 3 Nov (ISO 2), Rue C (bin B4 on S3) on round R-T3-2; the Monday round is not used (the plan covers Monday)
    bins4 = pl.concat([bins, pl.DataFrame({"bin_id": ["B4"], "segment_id": ["S3"]})])
    fixed = pl.DataFrame({"round_id": ["R-T3-2", "R-T3-1", "R-T3-3"], "truck_id": ["T3"] * 3, "weekday": [2, 1, 3],
                          "bin_id": ["B4", "B1", "B4"]})
    w = M.works_coordination(plan, crew, stops, bins4, SEGS, COMMUNES, fixed)
    assert w.select("work_date", "street_name", "truck_id", "bins_on_street", "round_source").rows() == [
        (date(2026, 11, 2), "Rue A", "T1", 2, "collection plan"), (date(2026, 11, 3), "Rue C", "T3", 1, "fixed round R-T3-2")]
    assert w["first_collection_eta"][1] is None and "(fixed round R-T3-2)" in w["advice"][1]
