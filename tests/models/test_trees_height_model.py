"""The learned height correction of covered trees: the numpy ensemble reproduces scikit-learn's
predictions, only trees not measured on their own top move, and the shipped model loads."""

import numpy as np
import polars as pl
import pytest

from models.trees.height_model import (FEATURES, MODEL_PATH, TreeEnsemble, apply_height_model, covered_features,
                                       load_model, needs_correction)


def test_numpy_ensemble_matches_sklearn(tmp_path):
    sk = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 4))
    X[rng.random((2000, 4)) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 - np.where(np.isnan(X[:, 1]), 3.0, X[:, 1] ** 2) + rng.normal(0, 0.1, 2000)
    m = sk.HistGradientBoostingRegressor(max_iter=30, early_stopping=False, random_state=0).fit(X, y)
    ens = TreeEnsemble.from_sklearn(m, ("a", "b", "c", "d"))
    ens.save(tmp_path / "m.npz", note="test")
    back = TreeEnsemble.load(tmp_path / "m.npz")
    Xt = rng.normal(size=(500, 4))
    Xt[rng.random((500, 4)) < 0.2] = np.nan
    np.testing.assert_allclose(back.predict(Xt), m.predict(Xt), rtol=1e-9, atol=1e-9)
    assert back.features == ("a", "b", "c", "d")


def _tw():
    rows = []
    for ep in ("2025", "2026"):
        rows += [
            # a big tree measured on its top, and a small one under its crown read on the canopy
            dict(tree_id="A", epoch=ep, status="alive", x=0.0, y=0.0, top_x=0.0, top_y=0.0, height_m=18.0,
                 height_read_m=18.0, height_reading="top", height_source="measured", occluded=False),
            dict(tree_id="B", epoch=ep, status="alive", x=3.0, y=0.0, top_x=3.0, top_y=0.0, height_m=16.5,
                 height_read_m=16.5, height_reading="canopy", height_source="covered in every scan: mean of readings",
                 occluded=True),
        ]
    rows.append(dict(tree_id="C", epoch="2026", status="felled", x=9.0, y=9.0, top_x=9.0, top_y=9.0, height_m=7.0,
                     height_read_m=7.0, height_reading="canopy", height_source="measured", occluded=True))
    return pl.DataFrame(rows)


def test_only_trees_not_measured_on_their_top_move():
    tw = _tw()
    todo = needs_correction(tw)
    assert todo.tolist() == [False, True, False, True, False]
    X = covered_features(tw)
    assert X.shape == (5, len(FEATURES))
    j = FEATURES.index("neighbour_rise_m_5")
    assert X[1, j] == pytest.approx(1.5) and X[1, FEATURES.index("neighbour_dist_m_5")] == pytest.approx(3.0)
    assert X[0, j] == pytest.approx(-1.5)  # the highest top around the big tree is 1.5 m lower
    assert X[4, FEATURES.index("neighbour_rise_m_8")] == -5.0   # a felled tree has no living top near
    # a constant ensemble: every corrected tree goes down 2 m, the rest stay as read
    const = TreeEnsemble([0], [0.0], [-1], [-1], [False], [True], [-2.0], [0], 0.0, FEATURES)
    out = apply_height_model(tw, const)
    assert out["height_m"].to_list() == [18.0, 14.5, 18.0, 14.5, 7.0]
    assert out["height_correction_m"].to_list() == [0.0, -2.0, 0.0, -2.0, 0.0]


def test_shipped_model_loads_and_predicts():
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} not trained yet")
    m = load_model()
    assert m is not None and m.features == FEATURES
    pred = m.predict(covered_features(_tw()))
    assert np.isfinite(pred).all() and np.abs(pred).max() < 20


def test_follow_trees_applies_the_shipped_correction_to_covered_trees_only():
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} not trained yet")
    from models.trees.twin import follow_trees

    rows = []
    for ep, h_small in (("2025", 15.8), ("2026", 16.1)):
        for k in range(25):   # a street of visible trees, and a small one under the crown of the first
            rows.append(dict(epoch=ep, tile_id="T", top_x=10.0 * k, top_y=0.0, x=10.0 * k, y=0.0,
                             height_m=16.0 + 0.3 * (ep == "2026"), crown_area_m2=50.0, crown_diameter_m=8.0,
                             occluded=False, height_reading="top", position_source="stem"))
        rows.append(dict(epoch=ep, tile_id="T", top_x=2.5, top_y=2.0, x=2.5, y=2.0, height_m=h_small,
                         crown_area_m2=6.0, crown_diameter_m=3.0, occluded=True, height_reading="canopy",
                         position_source="stem"))
    det = pl.DataFrame(rows).with_columns(
        pl.lit(20.0).alias("crown_volume_m3"), pl.lit(3.0).alias("crown_base_m"), pl.lit(0.1).alias("gap_fraction"),
        pl.lit(0.1).alias("top_gap_fraction"), pl.lit(1.0).alias("lean_deg"), pl.lit(0.0).alias("lean_azimuth_deg"),
        pl.lit(6.0).alias("stem_points"), pl.lit(0.2).alias("crown_contact_share"), pl.lit(0.8).alias("crown_star_ratio"),
        pl.lit(2.0).alias("crown_layer_depth_m"))
    tiles = pl.DataFrame({"epoch": ["2025", "2026"], "min_x": [-10.0] * 2, "max_x": [300.0] * 2,
                          "min_y": [-10.0] * 2, "max_y": [10.0] * 2})
    raw = follow_trees(det, tiles, correct_heights=False)
    cor = follow_trees(det, tiles)
    moved = cor["height_correction_m"].to_numpy() != 0
    assert moved.sum() == 2 and (cor.filter(pl.col("occluded"))["height_correction_m"] != 0).all()
    np.testing.assert_allclose(cor["height_m"].to_numpy() - cor["height_correction_m"].to_numpy(),
                               raw["height_m"].to_numpy())


def test_shipped_model_was_trained_on_this_detection():
    """The model's inputs are the detection's outputs: a change to DetectConfig or to the 4D
    step's pooling constants without training the model again (bench/trees_height_model.py,
    docs/trees.md) fails here."""
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} not trained yet")
    from models.trees.height_model import model_meta, same_detection

    meta = model_meta()
    assert same_detection(meta["detection"]), (
        "tree detection changed since the height model was trained: train it again (docs/trees.md, model card)")
    held_out = {"city:2718", "city:5151", "demo:2718", "demo:5151", "demo:8080"}
    assert not held_out & set(meta["train"].split(",")) and not held_out & set(meta["validate"].split(","))


def test_quality_refuses_a_correction_on_a_tree_measured_on_its_top():
    from quality.suites_trees import twin_rules

    const = TreeEnsemble([0], [0.0], [-1], [-1], [False], [True], [-2.0], [0], 0.0, FEATURES)
    ok = apply_height_model(_tw(), const)
    assert not [m for m in twin_rules(ok, None) if "correction" in m]
    bad = ok.with_columns(pl.lit(-2.0).alias("height_correction_m"))
    assert [m for m in twin_rules(bad, None) if "measured on their own top with a height correction" in m]
