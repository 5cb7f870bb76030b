"""Arborists' inspection records: the field-app CSV, the plan that comes back filled in, the
labels they give the vitality model, and "vitality unknown" where there is none."""

from datetime import date

import numpy as np
import polars as pl
import pytest

from models.trees import labels as L
from models.trees import pipeline as P
from models.trees import risk as traq
from models.trees.health import FEATURES
from models.trees.inspection import InspectionConfig, plan_inspections
from transforms import inspections as TI

HEADER = "tree_id,x_2154,y_2154,lat,lon,inspection_date,vitality,defects,likelihood_of_failure,height_m,dbh_cm,inspector\n"


def _bronze(text: str) -> pl.DataFrame:
    p = TI.parse_inspections(text.encode(), "inspections.csv")
    return p.good.with_columns(pl.lit("inspections.csv").alias("_delivery"),
                               pl.lit("trees/inspections/inspections.csv").alias("_source_file"))


def test_field_app_export_good_and_bad_rows():
    text = HEADER + "\n".join([
        ",1023500.5,6280400.2,,,2025-10-02,VS1,,improbable,11.5,35,A. Rossi",         # Lambert-93
        ",,,43.5512345,7.0123456,2025-10-03,dead,deadwood|lean,imminent,9,40,C. Bernard",  # GPS
        "TR-1023510-6280410,,,,,2025-10-04,VS2,crown loss,possible,,,L. Giraud",   # tree id only
        ",,,,,2025-10-05,VS1,,,,,A. Rossi",                                          # no tree, no position
        ",1023500.5,,,,2025-10-05,VS1,,,,,A. Rossi",                                 # half a position
        ",1023500.5,6280400.2,,,2025-10-06,VS5,,,,,A. Rossi",                        # not a Roloff class
        ",1023500.5,6280400.2,,,06/10/2025,VS1,,,,,A. Rossi",                        # not an ISO date
    ]) + "\n"
    p = TI.parse_inspections(text.encode(), "inspections.csv")
    assert p.good.height == 3 and p.bad.height == 4
    reasons = dict(zip(p.bad["_row_number"].to_list(), p.bad["reason"].to_list()))
    assert "no tree_id and no position" in reasons[5]
    assert "given by half" in reasons[6]
    assert "vitality: 'VS5' is not one of VS0, VS1, VS2, VS3, dead" in reasons[7]
    assert "inspection_date" in reasons[8]
    silver = TI.tree_inspections(_bronze(text))
    assert silver["position_source"].sort().to_list() == ["lambert93", "tree_id", "wgs84"]
    gps = silver.filter(pl.col("position_source") == "wgs84").row(0, named=True)
    assert 1_000_000 < gps["x_2154"] < 1_050_000 and 6_260_000 < gps["y_2154"] < 6_300_000   # Cannes in Lambert-93
    l93 = silver.filter(pl.col("position_source") == "lambert93").row(0, named=True)
    assert 43.4 < l93["lat"] < 43.7 and 6.8 < l93["lon"] < 7.2
    assert silver.filter(pl.col("position_source") == "tree_id")["x_2154"].null_count() == 1
    # idempotent: the same records twice give the same silver rows
    assert TI.tree_inspections(pl.concat([_bronze(text), _bronze(text)])).equals(silver)


def _twin(n: int = 40, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = 1_023_000 + 12.0 * np.arange(n), 6_280_000 + rng.uniform(0, 5, n)
    rows = {"tree_id": [f"TR-{i}" for i in range(n)], "epoch": ["2025"] * n, "status": ["alive"] * n,
            "x_2154": x, "y_2154": y, "quartier": ["Le Suquet"] * n, "height_m": rng.uniform(6, 20, n),
            "dbh_cm": rng.uniform(20, 60, n), "crown_diameter_m": rng.uniform(3, 8, n), "lean_deg": np.zeros(n),
            "new_lean_deg": np.zeros(n), "crown_loss_pct": np.zeros(n)}
    for f in FEATURES:
        rows.setdefault(f, rng.uniform(0, 1, n))
    return pl.DataFrame(rows)


def _records(twin: pl.DataFrame, idx, *, by_id: bool, day=date(2025, 10, 1), shift=0.8) -> pl.DataFrame:
    t = twin[list(idx)]
    n = t.height
    return pl.DataFrame({
        "inspection_id": [f"I{by_id}{i}" for i in idx], "tree_id": t["tree_id"] if by_id else [None] * n,
        "x_2154": None if by_id else t["x_2154"] + shift, "y_2154": None if by_id else t["y_2154"] - shift,
        "inspection_date": [day] * n, "vitality": [("VS0", "VS1", "VS2", "dead")[i % 4] for i in idx]},
        schema_overrides={"x_2154": pl.Float64, "y_2154": pl.Float64, "tree_id": pl.Utf8})


def test_labels_match_by_tree_id_or_position_within_the_gate():
    twin = _twin()
    recs = pl.concat([_records(twin, range(0, 20), by_id=True), _records(twin, range(20, 35), by_id=False),
                      _records(twin, range(35, 40), by_id=False, shift=4.0)])   # 5.7 m off: beyond the 3 m gate
    lab, info = L.labels_from_inspections(twin, recs)
    assert (info["matched_by_tree_id"], info["matched_by_position"], info["unmatched"]) == (20, 15, 5)
    got = dict(zip(lab["tree_id"].to_list(), lab["label"].to_list()))
    assert got["TR-3"] == 3 and got["TR-21"] == 1 and "TR-36" not in got      # dead counts as VS3
    assert L.training_refusal(lab) is None
    few = lab.head(L.MIN_TRAINING_RECORDS - 1)
    assert "too few inspection records" in L.training_refusal(few)
    assert "single vitality class" in L.training_refusal(lab.with_columns(pl.lit(1, pl.Int64).alias("label")))
    # an inspection of 2026 labels the 2026 scan, one older than every scan the first
    assert L._epoch_of(date(2026, 9, 1), ["2025", "2026"]) == "2026"
    assert L._epoch_of(date(2024, 9, 1), ["2025", "2026"]) == "2025"


def test_unknown_vitality_is_said_and_ranked_for_inspection():
    f, why = traq.failure_likelihood(None, 3.0, 0.0, 0.0, 40.0)
    assert f == "improbable" and why == [traq.VITALITY_UNKNOWN]
    assert traq.failure_likelihood("VS0", 3.0, 0.0, 0.0, 40.0)[1] == []
    risk = pl.DataFrame({"tree_id": ["known", "unknown"], "risk_rating": ["Moderate", "Low"],
                         "risk_score": [30.0, 24.0], "vitality": ["VS1", None], "vitality_known": [True, False],
                         "height_m": [12.0, 12.0], "quartier": ["Q", "Q"], "x_2154": [1.0e6, 1.0e6 + 50],
                         "y_2154": [6.28e6, 6.28e6], "risk_reasons": ["vitality VS1 (+1)", traq.VITALITY_UNKNOWN]})
    cand = P.inspection_candidates(risk, 1)
    assert cand["tree_id"].to_list() == ["unknown"]
    assert cand["inspection_reason"][0].startswith("vitality unknown")


def test_a_filled_in_plan_comes_back_as_a_delivery():
    twin = _twin(12)
    risk = twin.select("tree_id", "epoch", "quartier", "x_2154", "y_2154", "height_m").with_columns(
        pl.lit("Moderate").alias("risk_rating"), pl.lit(30.0).alias("risk_score"), pl.lit(None, pl.Utf8).alias("vitality"),
        pl.lit(False).alias("vitality_known"), pl.lit(traq.VITALITY_UNKNOWN).alias("risk_reasons"))
    places = pl.DataFrame({"kind": ["depot"], "x_2154": [1_023_000.0], "y_2154": [6_279_900.0]})
    # the default config: the solution limit bounds the search; a 1 s wall-clock limit gave no plan on a
    # loaded machine (load 11 on 2 cores)
    plan, info = P.inspection_plan(risk, places, InspectionConfig(), plan_inspections)
    assert list(plan.columns) == list(P.PLAN_SCHEMA)
    assert set(TI.FORM_COLUMNS) <= set(plan.columns) and plan["vitality"].null_count() == plan.height
    assert info["unknown_vitality_candidates"] == 12
    planned = plan.filter(pl.col("plan_status") == "planned")
    assert planned.height > 0
    filled = planned.with_columns(pl.lit(date(2026, 11, 3)).alias("inspection_date"), pl.lit("VS2").alias("vitality"),
                                  pl.lit("crown loss").alias("defects"), pl.lit("possible").alias("likelihood_of_failure"),
                                  pl.lit(13.5).alias("height_m"), pl.lit(41.0).alias("dbh_cm"),
                                  pl.lit("A. Rossi").alias("inspector"))
    parsed = TI.parse_inspections(filled.write_csv().encode(), "plan_2026-11-03.csv")
    assert parsed.bad.height == 0 and parsed.good.height == planned.height
    back = TI.tree_inspections(parsed.good.with_columns(pl.lit("x").alias("_delivery"), pl.lit("y").alias("_source_file")))
    assert back["position_source"].unique().to_list() == ["lambert93"]
    lab, info = L.labels_from_inspections(twin.with_columns(pl.lit("2026").alias("epoch")), back)
    assert info["matched_by_tree_id"] == planned.height and set(lab["label"].to_list()) == {2}


@pytest.mark.parametrize("col,value", [("height_m", "95"), ("dbh_cm", "0"), ("likelihood_of_failure", "high")])
def test_values_out_of_range_are_bad_rows(col, value):
    cells = dict(zip(HEADER.strip().split(","), ["", "1023500", "6280400", "", "", "2025-10-02", "VS1", "",
                                                 "possible", "10", "30", "A. Rossi"]))
    cells[col] = value
    p = TI.parse_inspections((HEADER + ",".join(cells.values()) + "\n").encode(), "x.csv")
    assert p.good.height == 0 and col in p.bad["reason"][0]
