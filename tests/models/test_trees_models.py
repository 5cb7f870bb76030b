"""Unit tests of the tree twin's models: crown segmentation, matching, 4D follow-up, TRAQ rules,
allometry, vitality model, stems."""

import numpy as np
import polars as pl
import pytest

from models.lidar.crowns import crown_boundary, dalponte2016, watershed_crowns
from models.trees import allometry, risk
from models.trees.detect_config import DetectConfig
from models.trees.matching import match_points
from models.trees.stems import find_stems, stem_lean
from models.trees.twin import follow_trees


def cone(nr, nc, r0, c0, h, radius, res=0.5):
    rr, cc = np.mgrid[0:nr, 0:nc]
    d = np.hypot(rr - r0, cc - c0) * res
    return np.where(d <= radius, h * (1 - 0.5 * d / radius), 0.0)


# ---------------------------------------------------------------- crowns

def test_dalponte_splits_two_touching_crowns_at_the_valley():
    chm = np.maximum(cone(40, 60, 20, 15, 20.0, 6.0), cone(40, 60, 20, 40, 12.0, 6.0))
    lab = dalponte2016(chm, np.array([[20, 15], [20, 40]]), res=0.5, th_tree=2.0)
    assert lab[20, 15] == 1 and lab[20, 40] == 2
    # the boundary lies between the two tops, on the lower side of the valley
    row = lab[20]
    assert row[16:27].tolist() == [1] * 11 and set(row[29:45].tolist()) == {2}
    # nothing under th_tree, nothing outside the cones
    assert lab[0, 0] == 0 and (lab[chm <= 2.0] == 0).all()


def test_dalponte_respects_seed_ratio_and_max_crown():
    chm = cone(60, 60, 30, 30, 20.0, 14.0)  # a 28 m wide crown
    lab = dalponte2016(chm, np.array([[30, 30]]), res=0.5, th_seed=0.45, max_cr=10.0)
    r, c = np.nonzero(lab)
    assert np.abs(r - 30).max() <= 10 and np.abs(c - 30).max() <= 10   # max_cr / 2 = 5 m = 10 cells
    lab2 = dalponte2016(chm, np.array([[30, 30]]), res=0.5, th_seed=0.8, max_cr=40.0)
    assert (chm[lab2 == 1] > 0.8 * 20 - 1e-9).all()


def test_watershed_variant_and_boundary():
    chm = np.maximum(cone(40, 60, 20, 15, 20.0, 6.0), cone(40, 60, 20, 40, 12.0, 6.0))
    lab = watershed_crowns(chm, np.array([[20, 15], [20, 40]]))
    assert lab[20, 15] == 1 and lab[20, 40] == 2
    b, contact = crown_boundary(lab)
    assert contact.sum() > 0 and (contact <= b).all()


# ---------------------------------------------------------------- matching

def test_matching_is_one_to_one_gated_and_optimal():
    a = np.array([[0.0, 0.0], [2.0, 0.0], [50.0, 0.0]])
    b = np.array([[1.2, 0.0], [3.1, 0.0], [80.0, 0.0]])
    i, j, d = match_points(a[:, 0], a[:, 1], b[:, 0], b[:, 1], 3.0)
    pairs = sorted(zip(i.tolist(), j.tolist()))
    # greedy nearest would pair a1-b0 (0.8) and leave a0 with b1 (3.1 > gate); the optimum pairs both
    assert pairs == [(0, 0), (1, 1)]
    assert np.allclose(sorted(d), [1.1, 1.2])
    assert len(match_points(a[:, 0], a[:, 1], b[:, 0], b[:, 1], 0.5)[0]) == 0


def _det(epoch, xy, h):
    n = len(xy)
    return pl.DataFrame({"epoch": [epoch] * n, "tile_id": ["T"] * n, "x": [p[0] for p in xy], "y": [p[1] for p in xy],
                         "top_x": [p[0] for p in xy], "top_y": [p[1] for p in xy], "height_m": h,
                         "crown_area_m2": [20.0] * n, "crown_diameter_m": [5.0] * n, "crown_volume_m3": [50.0] * n,
                         "crown_base_m": [3.0] * n, "gap_fraction": [0.1] * n, "top_gap_fraction": [0.1] * n,
                         "lean_deg": [1.0] * n, "lean_azimuth_deg": [0.0] * n, "stem_points": [6.0] * n,
                         "crown_contact_share": [0.0] * n, "crown_star_ratio": [0.8] * n, "crown_layer_depth_m": [2.0] * n,
                         "position_source": ["stem"] * n, "occluded": [False] * n})


def test_follow_trees_keeps_ids_and_finds_felled_and_new():
    tiles = pl.DataFrame({"tile_id": ["T", "T"], "epoch": ["2025", "2026"], "min_x": [0.0, 0.0], "min_y": [0.0, 0.0],
                          "max_x": [250.0, 250.0], "max_y": [250.0, 250.0]})
    d25 = _det("2025", [(10.0, 10.0), (20.0, 10.0), (30.0, 10.0)], [10.0, 12.0, 8.0])
    d26 = _det("2026", [(10.4, 10.2), (30.3, 9.8), (60.0, 60.0)], [10.3, 8.4, 3.0])
    tw = follow_trees(pl.concat([d25, d26]), tiles)
    t26 = tw.filter(pl.col("epoch") == "2026")
    assert sorted(t26["status"].to_list()) == ["alive", "alive", "felled", "new"]
    first = tw.filter((pl.col("epoch") == "2025") & (pl.col("x") == 10.0))["tree_id"][0]
    again = t26.filter(pl.col("tree_id") == first)
    assert again["status"][0] == "alive" and again["height_growth_m"][0] == pytest.approx(0.3)
    felled = t26.filter(pl.col("status") == "felled")
    assert felled["x"][0] == 20.0
    # the same input gives the same ids
    assert follow_trees(pl.concat([d25, d26]), tiles)["tree_id"].to_list() == tw["tree_id"].to_list()


def test_a_covered_trees_height_is_carried_from_the_scan_where_its_top_showed():
    tiles = pl.DataFrame({"tile_id": ["T", "T"], "epoch": ["2025", "2026"], "min_x": [0.0, 0.0], "min_y": [0.0, 0.0],
                          "max_x": [250.0, 250.0], "max_y": [250.0, 250.0]})
    # 24 trees seen with their tops showing in both scans, grown 0.3 to 0.5 m: the scene's growth 0.4 m
    xy = [(10.0 + 8 * i, 100.0) for i in range(24)]
    h25 = [8.0 + 0.2 * i for i in range(24)]
    h26 = [h + 0.3 + 0.2 * (i % 2) for i, h in enumerate(h25)]
    # tree A: top showing in 2025 (14 m), covered in 2026 and read 4 m off a scrap of its own crown;
    # tree B: covered in both, read 15.5 m on the canopy over it in 2025 and 9 m off its own crown in 2026;
    # trees C and E: covered in both, both readings on the canopy over it (C's 1.0 m apart after the
    # growth, E's 0.2 m); trees D and F: both off its own crown (D's 4.4 m apart, F's 0.6 m)
    extra = [(20.0, 20.0), (40.0, 20.0), (60.0, 20.0), (80.0, 20.0), (100.0, 20.0), (120.0, 20.0)]
    d25 = _det("2025", xy + extra, h25 + [14.0, 15.5, 12.0, 10.0, 12.0, 10.0]).with_columns(
        pl.Series("occluded", [False] * 24 + [False, True, True, True, True, True]),
        pl.Series("height_reading", ["top"] * 24 + ["top", "canopy", "canopy", "own_crown", "canopy", "own_crown"]))
    d26 = _det("2026", xy + extra, h26 + [4.0, 9.0, 13.4, 6.0, 12.6, 11.0]).with_columns(
        pl.Series("occluded", [False] * 24 + [True] * 6),
        pl.Series("height_reading", ["top"] * 24 + ["own_crown", "own_crown", "canopy", "own_crown", "canopy", "own_crown"]))
    # the carrying and pooling alone (the learned correction on top: test_trees_height_model.py)
    tw = follow_trees(pl.concat([d25, d26]), tiles, correct_heights=False)
    at = lambda ep, x: tw.filter((pl.col("epoch") == ep) & (pl.col("x") == x) & (pl.col("y") == 20.0)).row(0, named=True)  # noqa: E731
    a = at("2026", 20.0)
    assert a["height_m"] == pytest.approx(14.4) and a["height_source"] == "carried from 2025"
    assert a["height_read_m"] == pytest.approx(4.0) and a["height_growth_m"] is None   # growth not measured
    assert at("2025", 20.0)["height_source"] == "measured"
    # readings of each kind: their mean, each shifted by the 0.4 m growth
    b25, b26 = at("2025", 40.0), at("2026", 40.0)
    assert b25["height_m"] == pytest.approx((15.5 + 8.6) / 2) and b26["height_m"] == pytest.approx((15.9 + 9.0) / 2)
    assert b25["height_source"] == "covered in every scan: mean of readings" and b25["height_read_m"] == pytest.approx(15.5)
    # two readings of the canopy over it (upper bounds) more than 0.5 m apart: the lowest; closer: their mean
    c25, c26 = at("2025", 60.0), at("2026", 60.0)
    assert (c25["height_m"], c26["height_m"]) == (pytest.approx(12.0), pytest.approx(12.4))
    assert c25["height_source"] == "covered in every scan: lowest canopy over it"
    e25, e26 = at("2025", 100.0), at("2026", 100.0)
    assert (e25["height_m"], e26["height_m"]) == (pytest.approx(12.1), pytest.approx(12.5))
    assert e25["height_source"] == "covered in every scan: mean of readings"
    # both off its own crown and more than 2.5 m apart (one took a scrap of the neighbour's crown):
    # the lowest; closer, both read the tree: their mean
    d25_, d26_ = at("2025", 80.0), at("2026", 80.0)
    assert (d25_["height_m"], d26_["height_m"]) == (pytest.approx(5.6), pytest.approx(6.0))
    assert d26_["height_source"] == "covered in every scan: lowest reading"
    f25, f26 = at("2025", 120.0), at("2026", 120.0)
    assert (f25["height_m"], f26["height_m"]) == (pytest.approx(10.3), pytest.approx(10.7))
    assert f25["height_source"] == "covered in every scan: mean of readings"
    # the trees seen in both are untouched
    seen = tw.filter(pl.col("y") == 100.0)
    assert (seen["height_source"] == "measured").all() and (seen["height_m"] == seen["height_read_m"]).all()

    # a reading on a crown segment under 1 m2 (a seed left with a cell, its crown taken by its
    # neighbours) is no reading: it takes the tree's other scan and is left out of its pools
    e25 = _det("2025", xy + [(20.0, 60.0), (40.0, 60.0)], h25 + [17.0, 18.5]).with_columns(
        pl.Series("occluded", [False] * 24 + [False, True]), pl.Series("height_reading", ["top"] * 24 + ["top", "canopy"]),
        pl.Series("crown_area_m2", [20.0] * 24 + [30.0, 0.5]))
    e26 = _det("2026", xy + [(20.0, 60.0), (40.0, 60.0)], h26 + [3.0, 12.0]).with_columns(
        pl.Series("occluded", [False] * 24 + [False, True]), pl.Series("height_reading", ["top"] * 24 + ["top", "own_crown"]),
        pl.Series("crown_area_m2", [20.0] * 24 + [0.25, 30.0]))
    te = follow_trees(pl.concat([e25, e26]), tiles, correct_heights=False)
    on = lambda ep, x: te.filter((pl.col("epoch") == ep) & (pl.col("x") == x) & (pl.col("y") == 60.0)).row(0, named=True)  # noqa: E731
    assert on("2026", 20.0)["height_m"] == pytest.approx(17.4) and on("2026", 20.0)["height_source"] == "carried from 2025"
    assert on("2025", 40.0)["height_m"] == pytest.approx(11.6) and on("2026", 40.0)["height_m"] == pytest.approx(12.0)
    assert on("2026", 40.0)["height_source"] == "measured"

    # the twin's quality rule accepts these sources and refuses a visible top's height replaced
    from quality.suites_trees import twin_rules
    assert twin_rules(tw, None) == [] and twin_rules(te, None) == []
    bad = tw.with_columns(pl.when(pl.col("y") == 100.0).then(pl.lit("carried from 2025")).otherwise(pl.col("height_source"))
                          .alias("height_source"))
    assert any("visible top" in m for m in twin_rules(bad, None))


# ---------------------------------------------------------------- TRAQ

def test_traq_matrices():
    assert risk.rate("imminent", "high", "severe") == ("very likely", "Extreme")
    assert risk.rate("probable", "high", "significant") == ("likely", "High")
    assert risk.rate("probable", "medium", "severe") == ("somewhat likely", "Moderate")
    assert risk.rate("possible", "high", "minor") == ("somewhat likely", "Low")
    assert risk.rate("improbable", "high", "severe") == ("unlikely", "Low")


def test_traq_factors_and_reasons():
    f, why = risk.failure_likelihood("VS3", 18.0, 6.0, 30.0, 90.0)
    assert f == "imminent" and len(why) == 5 and any("lean 18" in w for w in why)
    assert risk.failure_likelihood("VS0", 2.0, None, None, 50.0)[0] == "improbable"
    assert risk.failure_likelihood("VS1", None, None, None, None)[0] == "possible"
    assert risk.impact_likelihood([("residential", 4.0), ("school", 12.0)])[0] == "high"
    assert risk.impact_likelihood([("residential", 4.0)])[0] == "low"
    assert risk.impact_likelihood([])[0] == "very low"
    assert risk.consequence(4.0, 30) == "negligible"
    assert risk.consequence(8.0, 30) == "minor"
    assert risk.consequence(15.0, 40) == "significant"
    assert risk.consequence(22.0, 70) == "severe"
    assert risk.risk_score("High", "probable", "high", "severe") > risk.risk_score("Moderate", "imminent", "high", "severe")


# ---------------------------------------------------------------- allometry

def test_allometry_fit_recovers_a_power_law():
    h = np.linspace(5, 25, 30)
    coef = allometry.fit_allometry(["broadleaf"] * 30, h, 2.0 * h ** 1.2)
    a, b = coef["broadleaf"]
    assert a == pytest.approx(2.0, rel=1e-6) and b == pytest.approx(1.2, rel=1e-6)
    assert coef["palm"] == allometry.DEFAULT_COEF["palm"]   # too few palms: default
    assert allometry.species_group("Phoenix canariensis") == "palm"
    assert allometry.group_from_form([12.0], [9.0], [0.3])[0] == "palm"
    assert allometry.group_from_form([15.0], [9.5], [0.9])[0] == "conifer"
    assert allometry.group_from_form([15.0], [4.0], [0.9])[0] == "broadleaf"
    # the crown layer depth decides where it is known: a thin layer of fronds is a palm's
    assert list(allometry.group_from_form([12.0, 12.0, 12.0], [4.0, 4.0, 9.0], [0.9, 0.9, 0.3],
                                          [0.5, 2.5, float("nan")])) == ["palm", "broadleaf", "palm"]


# ---------------------------------------------------------------- stems

def test_stems_and_lean_from_understorey_points():
    rng = np.random.default_rng(3)
    h = rng.uniform(0.4, 6.0, 40)
    lean = np.radians(15.0)
    x = 100 + np.tan(lean) * h * np.sin(np.radians(90)) + rng.normal(0, 0.05, 40)   # leaning east
    y = 200 + rng.normal(0, 0.05, 40)
    # plus lower-crown returns of another tree: high above the ground, no stem
    cx, cy, ch = 110 + rng.normal(0, 0.3, 10), 200 + rng.normal(0, 0.3, 10), rng.uniform(2.6, 3.9, 10)
    cfg = DetectConfig()
    st = find_stems(np.r_[x, cx], np.r_[y, cy], np.r_[h, ch].astype(np.float32), cfg)
    assert len(st["x"]) == 1 and abs(st["x"][0] - 100.3) < 0.4 and abs(st["y"][0] - 200) < 0.1
    le, az, n = stem_lean(x, y, h.astype(np.float32), np.array([100.0]), np.array([200.0]), np.array([6.5]),
                          np.array([True]), cfg)
    assert le[0] == pytest.approx(15.0, abs=2.0) and az[0] == pytest.approx(90.0, abs=5.0) and n[0] >= 30


def test_lean_of_an_upright_stem_is_not_pulled_by_a_branch():
    # returns around an upright stem in a simulated scan (m from the stem base, m above ground):
    # four on the bole, one on the lowest branch under a crown base read 0.6 m too high. A
    # least-squares line through the five leaned the tree 30 degrees; the consensus line holds
    # the four bole returns only, too few to report a lean.
    dx = np.array([-0.18, -0.16, -0.17, -0.13, 0.66])
    dy = np.array([-0.21, -0.08, -0.27, -0.23, 0.79])
    h = np.array([0.82, 1.10, 1.74, 1.89, 2.94], np.float32)
    le, _, _ = stem_lean(50 + dx, 80 + dy, h, np.array([50.0]), np.array([80.0]), np.array([3.33]), np.array([True]),
                         DetectConfig())
    assert np.isnan(le[0])
    # with a fifth bole return the lean is measured, and is about vertical
    le, _, n = stem_lean(50 + np.r_[dx, -0.15], 80 + np.r_[dy, -0.18], np.r_[h, 2.6].astype(np.float32),
                         np.array([50.0]), np.array([80.0]), np.array([3.33]), np.array([True]), DetectConfig())
    assert le[0] < 5.0 and n[0] == 5


# ---------------------------------------------------------------- vitality model

def test_vitality_model_learns_a_separable_signal(tmp_path):
    from models.trees.health import FEATURES, HealthModel, train

    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 4, n)
    X = rng.normal(0, 1, (n, len(FEATURES)))
    X[:, FEATURES.index("gap_fraction")] = 0.1 + 0.15 * y + rng.normal(0, 0.02, n)
    model, metrics = train(X, y, np.array([f"T{i}" for i in range(n)]), {"epochs": 150})
    assert metrics["test"]["accuracy"] > 0.9
    model.save(tmp_path)
    again = HealthModel.load(tmp_path)
    assert np.allclose(again.predict_proba(X[:5]), model.predict_proba(X[:5]))


# ---------------------------------------------------------------- heights, spreads, felled / new

def dome(nr, nc, r0, c0, h, radius, res=0.5):
    """A broadleaf-like crown surface: flat near its apex, dropping to half its depth at the edge."""
    rr, cc = np.mgrid[0:nr, 0:nc]
    rho = np.hypot(rr - r0, cc - c0) * res / radius
    return np.where(rho < 1, h - 0.5 * h * (1 - np.sqrt(np.clip(1 - rho ** 2, 0, 1))), 0.0)


def test_stem_under_a_taller_neighbours_crown_gets_its_own_apex():
    from models.trees.stem_first import fuse_stems

    res, nr, nc = 0.5, 80, 80
    small = dome(nr, nc, 40, 30, 10.0, 3.0)             # 10 m tree, its stem at (40, 30)
    big = dome(nr, nc, 40, 45, 20.0, 7.5)               # 20 m tree 7.5 m east: its crown reaches the small one's stem
    chm = np.maximum(small, big)
    rng = np.random.default_rng(0)
    chm = np.where(rng.random(chm.shape) < 0.2, 0.0, chm)   # a transparent crown: gaps to the ground
    assert chm[40, 31] > 13.0 or chm[41, 31] > 13.0          # 0.5 m east of the small stem: the big crown
    xmin, ymax = 0.0, nr * res
    sx = xmin + np.array([30.5, 45.5]) * res
    sy = ymax - np.array([40.5, 40.5]) * res
    stems = {"x": sx, "y": sy, "n": np.array([8, 8])}
    # the local-maximum filter found only the big tree's top
    r, c, s, occl, h = fuse_stems(chm, np.array([40]), np.array([45]), stems, xmin, ymax, res, DetectConfig())
    by_stem = dict(zip(s.tolist(), h.tolist()))
    assert by_stem[0] == pytest.approx(10.0, abs=0.6)     # not the 12-20 m of the overhanging neighbour
    assert by_stem[1] == pytest.approx(20.0, abs=0.6)


def test_a_leaning_palm_keeps_its_crown_off_its_base():
    from models.trees.stem_first import fuse_stems

    res, nr, nc = 0.5, 80, 80
    # a palm leaning 20 degrees to the east: its base at (40, 20), its crown (20 m, radius 2 m)
    # 7 m east at (40, 34); its stem shows as a line of cells rising from the base to the crown
    palm = dome(nr, nc, 40, 34, 20.0, 2.0)
    stem = np.zeros((nr, nc))
    for c in range(21, 31):
        stem[40, c] = (c - 20) * res / np.tan(np.radians(20))
    # an upright 9 m tree 6 m north of the crown: the crown top is no lone tree by distance alone
    small = dome(nr, nc, 28, 34, 9.0, 2.5)
    chm = np.maximum(np.maximum(palm, stem), small)
    xmin, ymax = 0.0, nr * res
    cols, rows = np.array([20, 34]), np.array([40, 28])
    stems = {"x": xmin + (cols + 0.5) * res, "y": ymax - (rows + 0.5) * res, "n": np.array([9, 9])}
    # the local-maximum filter found the palm's crown top and the small tree's
    r, c, s, occl, h = fuse_stems(chm, np.array([40, 28]), np.array([34, 34]), stems, xmin, ymax, res, DetectConfig())
    by_stem = {int(k): (int(rr), int(cc), float(hh)) for k, rr, cc, hh in zip(s, r, c, h)}
    assert set(by_stem) == {0, 1} and len(s) == 2          # two trees, no stemless extra
    assert by_stem[0][:2] == (40, 34)                       # the palm's stem carries its crown, 7 m off
    assert by_stem[0][2] == pytest.approx(20.0, abs=0.6)
    assert by_stem[1][2] == pytest.approx(9.0, abs=0.6)
    # without the pairing (no stem counts as crownless) the palm's crown is lost
    r, c, s, occl, h = fuse_stems(chm, np.array([40, 28]), np.array([34, 34]), stems, xmin, ymax, res,
                                  DetectConfig().with_settings(crownless_cover=0.0))
    assert 0 not in s.tolist() or h[s.tolist().index(0)] < 10.0
    # a top joined without a gap to a stem whose apex is about as high is an extra maximum of that
    # crown, not a leaning tree's: the palm's crown touching a 19 m crown over the other stem
    other = dome(nr, nc, 40, 42, 19.0, 3.0)
    chm2 = np.maximum(chm, other)
    stems2 = {"x": xmin + (np.array([20, 42]) + 0.5) * res, "y": ymax - (np.array([40, 40]) + 0.5) * res,
              "n": np.array([9, 9])}
    r, c, s, occl, h = fuse_stems(chm2, np.array([40, 40]), np.array([34, 42]), stems2, xmin, ymax, res, DetectConfig())
    assert 0 not in s.tolist() or h[s.tolist().index(0)] < 10.0


def test_a_leaning_trees_top_over_a_smaller_tree_is_the_leaning_trees():
    """A 20 m tree leaning 22 degrees holds its crown 5 m off its base, right over a smaller
    tree's stem: the top is nearer the small stem, but the leaning stem's line leads to it."""
    from models.trees.stem_first import fuse_stems

    res, nr, nc = 0.5, 80, 80
    lean = np.radians(22.0)
    big = dome(nr, nc, 40, 30, 20.0, 6.5)              # the leaning tree's crown (6.5 m radius), centred 5 m east of its base
    small = dome(nr, nc, 40, 33, 8.0, 2.5)             # an 8 m tree under it, its stem 1.5 m east of the top
    chm = np.maximum(big, small)
    xmin, ymax = 0.0, nr * res
    bx, by = xmin + 20.5 * res, ymax - 40.5 * res      # the leaning stem's base
    sx_, sy_ = xmin + 33.5 * res, ymax - 40.5 * res    # the small tree's stem
    h = np.arange(0.5, 6.0, 0.25)
    hs = np.arange(0.5, 2.5, 0.25)
    ux = np.r_[bx + np.tan(lean) * h, np.full(hs.size, sx_)]
    uy = np.r_[np.full(h.size, by), np.full(hs.size, sy_)]
    uh = np.r_[h, hs]
    stems = {"x": np.array([bx, sx_]), "y": np.array([by, sy_]), "n": np.array([12, 8])}
    top = (np.array([40]), np.array([30]))
    r, c, s, occl, hh = fuse_stems(chm, *top, stems, xmin, ymax, res, DetectConfig(), under=(ux, uy, uh))
    got = {int(k): (int(a), int(b), float(v), bool(o)) for k, a, b, v, o in zip(s, r, c, hh, occl)}
    assert got[0][:2] == (40, 30) and got[0][2] == pytest.approx(20.0, abs=0.6)   # the leaning tree's top
    assert got[1][:2] != (40, 30) and got[1][3]          # the small tree: under that crown, flagged
    # without the stems' lines (or with the rule off) the nearest stem takes the top, as before
    r, c, s, occl, hh = fuse_stems(chm, *top, stems, xmin, ymax, res, DetectConfig().with_settings(top_owner_lean=0.0),
                                   under=(ux, uy, uh))
    got = {int(k): (int(a), int(b)) for k, a, b in zip(s, r, c)}
    assert got[1] == (40, 30)


def _covered(chm, rows, cols, first, res=0.5, **cfg):
    """covered_apexes on a CHM whose stems stand under the given tops (one stem per top)."""
    from models.trees.covered import covered_apexes

    rows, cols = np.asarray(rows), np.asarray(cols)
    xmin, ymax = 0.0, chm.shape[0] * res
    stems = {"x": xmin + (cols + 0.5) * res, "y": ymax - (rows + 0.5) * res, "n": np.full(len(rows), 9)}
    return covered_apexes(chm, rows, cols, np.arange(len(rows)), stems, np.asarray(first, float), xmin, ymax, res,
                          DetectConfig().with_settings(**cfg))


def test_a_tree_under_a_taller_crown_is_read_from_what_shows_of_its_own():
    res, nr, nc = 0.5, 80, 100
    big = dome(nr, nc, 40, 40, 19.0, 8.0)              # 19 m, crown radius 8 m
    hidden = dome(nr, nc, 40, 52, 8.0, 4.0)            # 8 m, its stem 6 m east of the big one's: under its crown
    beside = dome(nr, nc, 20, 70, 12.0, 3.5)           # 12 m, its own dome clear of the big crown
    chm = np.maximum(np.maximum(big, hidden), beside)
    assert chm[40, 52] > 15.0                          # over the hidden stem: the big crown
    assert 6.5 < chm[40, 58] < 8.0                     # beyond the big crown's edge: the hidden tree's own crown
    # the first readings: the hidden tree's apex read on the big crown over its stem
    h, flag = _covered(chm, [40, 40, 20], [40, 52, 70], [19.0, float(chm[40, 52]), 12.0])
    assert flag.tolist() == [False, True, False]
    assert 6.5 < h[1] <= 8.0                           # a lower bound of its 8 m, not the 15.8 m over its stem
    assert h[0] == 19.0 and h[2] == 12.0


def test_a_covered_tree_between_two_big_crowns_does_not_take_the_other_flank_for_its_own():
    res, nr, nc = 0.5, 80, 100
    big = dome(nr, nc, 40, 40, 19.0, 8.0)              # 19 m, its crown over the small tree's stem
    small = dome(nr, nc, 40, 52, 8.0, 4.0)             # 8 m, 6 m east of the big one
    other = dome(nr, nc, 40, 72, 18.0, 6.0)            # 18 m, 10 m further east: its flank (9-13 m)
    chm = np.maximum(np.maximum(big, small), other)    # reaches within 4 m of the small stem
    assert 8.0 < chm[40, 61] < 13.0
    h, flag = _covered(chm, [40, 40, 40], [40, 52, 72], [19.0, float(chm[40, 52]), 18.0])
    assert flag.tolist() == [False, True, False]
    assert 6.0 < h[1] <= 8.0                           # its own crown, not the other crown's 9-13 m flank


def test_a_hole_in_a_crown_top_is_not_taken_for_the_tree_showing_beside_its_neighbour():
    res, nr, nc = 0.5, 80, 100
    # a 17 m tree 6 m east of a 19 m one, their crowns joined; its dead top lets the pulses through:
    # a hole of ground and low returns beside its stem, walled in by its own crown
    chm = np.maximum(dome(nr, nc, 40, 40, 19.0, 8.0), dome(nr, nc, 40, 52, 17.0, 5.0))
    rr, cc = np.mgrid[0:nr, 0:nc]
    hole = np.hypot(rr - 40, cc - 53.5) * res <= 1.3
    chm = np.where(hole, np.where((rr + cc) % 3 == 0, 0.0, 4.0 + (rr % 2) * 3), chm)
    h, flag = _covered(chm, [40, 40], [40, 52], [19.0, 17.0])
    assert h.tolist() == [19.0, 17.0] and not flag.any()     # not re-read at 7 m from the hole


def test_a_neighbours_steep_rim_is_not_taken_for_the_covered_trees_own_crown():
    nr, nc = 80, 100
    # a 24 m crown whose side drops to mid-crown height at its edge (12 m); an 11 m tree's stem
    # 6.5 m east, under that edge, its own crown showing beyond it
    chm = np.maximum(dome(nr, nc, 40, 40, 24.0, 7.0), dome(nr, nc, 40, 56, 11.0, 5.0))
    assert chm[40, 53] - chm[40, 54] > 5.0               # the rim: one cell from 16.5 m to the small crown
    first = [24.0, float(chm[40, 53])]
    h, flag = _covered(chm, [40, 40], [40, 53], first, covered_rim=0)
    assert flag[1] and h[1] > 15.0                       # without the rule: the rim's cells
    h, flag = _covered(chm, [40, 40], [40, 53], first)
    assert flag.tolist() == [False, True] and 10.5 < h[1] <= 11.0


def test_a_higher_crown_between_a_stem_and_a_neighbours_top_still_covers_the_stem():
    nr, nc = 80, 100
    # an 18 m crown (top 11.5 m west, out of reach) over an 8 m tree's stem; a neighbour's top read
    # at 14.8 m on that crown's far flank, 9.6 m from the stem: the canopy rises from the stem over
    # the big crown's crest and dips to that top
    chm = np.maximum(dome(nr, nc, 40, 30, 18.0, 12.0), dome(nr, nc, 40, 55, 8.0, 4.0))
    first = [float(chm[26, 40]) - 0.5, float(chm[40, 53])]
    h, flag = _covered(chm, [26, 40], [40, 53], first, covered_to_peak=False, covered_peak_seed=False)
    assert not flag[1] and h[1] > 11.0                   # without the rule: the big crown's flank
    h, flag = _covered(chm, [26, 40], [40, 53], first)
    assert flag.tolist() == [False, True] and 7.5 < h[1] <= 8.0


def test_crown_spread_of_an_isolated_lobed_crown():
    from models.lidar.tiles import TileRasters
    from models.trees.detect import detect_trees

    res, nr, nc = 0.5, 100, 100
    rr, cc = np.mgrid[0:nr, 0:nc]
    th = np.arctan2(rr - 50, cc - 50)
    a = 5.0 * (1 + 0.08 * np.cos(2 * th))                # lobed crown, mean radius 5 m
    rho = np.hypot(rr - 50, cc - 50) * res / a
    # ground returns all around (0 m): the crown edge is where the canopy ends
    chm = np.where(rho < 1, 12.0 - 3.0 * (1 - np.sqrt(np.clip(1 - rho ** 2, 0, 1))), 0.0).astype(np.float32)
    n1 = np.full((nr, nc), 4, np.int32)
    multi = np.where(np.isfinite(chm), 3, 0).astype(np.int32)
    # a stem: understorey returns under the crown centre
    hz = np.linspace(0.5, 3.5, 12)
    ux, uy = np.full(12, 25.25), np.full(12, 50 - 25.25)
    m = TileRasters(0.0, 50.0, res, chm, n1, np.zeros((nr, nc), np.int32), multi, np.full((nr, nc), np.nan, np.float32),
                    ux, uy, hz.astype(np.float32))
    out = detect_trees(m, (0.0, 0.0, 50.0, 50.0))
    assert len(out["x"]) == 1
    assert out["height_m"][0] == pytest.approx(12.0, abs=0.3)
    assert out["crown_diameter_m"][0] == pytest.approx(10.0, abs=0.8)


def test_a_palm_crown_is_told_by_its_thin_layer_and_measured_tip_to_tip():
    from models.lidar.chm import canopy_height_model
    from models.lidar.tiles import TileRasters
    from models.trees.detect import detect_trees

    # a Canary palm seen by 16 pulses/m2: 16 fronds whose thin tips reach 4 m from the stem (8 m
    # tip to tip), the crown surface 1.6 m lower at the tips; the CHM as the pipeline makes it
    rng = np.random.default_rng(1)
    n = 16 * 50 * 50
    px, py = rng.uniform(0, 50, n), rng.uniform(0, 50, n)
    th, d = np.arctan2(py - 25.0, px - 25.0), np.hypot(px - 25.0, py - 25.0)
    reach = 4.0 * (0.3 + 0.7 * np.abs(np.cos(8 * th + 0.3)) ** 2.5)
    r = canopy_height_model(px, py, np.where(d < reach, 12.0 - 1.6 * (d / 4.0) ** 1.6, 0.0), res=0.5, subcircle=0.2)
    chm = r.values.astype(np.float32)
    nr, nc = chm.shape
    hz = np.linspace(0.5, 3.5, 12).astype(np.float32)

    def measure(layer):
        zlow = np.where(chm > 2, chm - layer, np.nan).astype(np.float32)   # lowest return under the surface
        m = TileRasters(r.xmin, r.ymax, 0.5, chm, np.full((nr, nc), 4, np.int32), np.zeros((nr, nc), np.int32),
                        np.full((nr, nc), 3, np.int32), zlow, np.full(12, 25.0), np.full(12, 25.0), hz)
        out = detect_trees(m, (0.0, 0.0, 50.0, 50.0))
        assert len(out["x"]) == 1
        return out

    palm = measure(0.5)                                  # fronds: returns within 0.5 m of the surface
    assert palm["crown_layer_depth_m"][0] == pytest.approx(0.5, abs=0.05)
    assert palm["crown_diameter_m"][0] == pytest.approx(8.0, abs=0.6)
    deep = measure(3.0)                                  # the same outline 3 m deep: not a palm's crown,
    assert deep["crown_layer_depth_m"][0] == pytest.approx(3.0, abs=0.05)   # read as a broadleaf's
    assert deep["crown_diameter_m"][0] < palm["crown_diameter_m"][0] - 0.5


def test_follow_trees_checks_the_other_scan_before_felled_or_new():
    tiles = pl.DataFrame({"tile_id": ["T", "T"], "epoch": ["2025", "2026"], "min_x": [0.0, 0.0], "min_y": [0.0, 0.0],
                          "max_x": [250.0, 250.0], "max_y": [250.0, 250.0]})
    d25 = _det("2025", [(10.0, 10.0), (20.0, 10.0), (30.0, 10.0)], [10.0, 12.0, 8.0]).with_columns(
        pl.Series("canopy_prev_m", [np.nan] * 3), pl.Series("canopy_next_m", [10.2, 12.1, 0.0]))
    d26 = _det("2026", [(10.4, 10.2), (60.0, 60.0), (90.0, 90.0)], [10.3, 3.0, 9.0]).with_columns(
        pl.Series("canopy_prev_m", [10.1, 0.0, 8.8]), pl.Series("canopy_next_m", [np.nan] * 3))
    tw = follow_trees(pl.concat([d25, d26]), tiles)
    t26 = tw.filter(pl.col("epoch") == "2026")
    # the 12 m tree was not detected in 2026 but its canopy is still there: not felled (followed on)
    # the 8 m tree left bare ground: felled; the 9 m tree at (90, 90) stood there in 2025: not new
    assert sorted(t26["status"].to_list()) == ["alive", "alive", "felled", "new"]
    assert t26.filter(pl.col("status") == "felled")["x"][0] == 30.0
    assert t26.filter(pl.col("status") == "new")["x"][0] == 60.0
    assert t26.filter(pl.col("x") == 90.0)["status"][0] == "alive"


def test_a_visible_peaked_top_is_read_on_its_highest_cells_not_around_them():
    from models.lidar.chm import canopy_height_model
    from models.lidar.tiles import TileRasters
    from models.trees.detect import detect_trees

    # a palm-like crown alone: 15 m, its surface falling 1.2 m over its 2 m radius (steepest at the
    # top), seen by 8 pulses/m2 with 5 cm of noise; the CHM as the pipeline makes it. Six draws
    def heights(seed):
        rng = np.random.default_rng(seed)
        n = 8 * 30 * 30
        px, py = rng.uniform(0, 30, n), rng.uniform(0, 30, n)
        d = np.hypot(px - 15.2, py - 14.9)
        z = np.where(d < 2.0, 15.0 - 1.2 * (d / 2.0) ** 1.2 + rng.normal(0, 0.05, n), 0.0)
        r = canopy_height_model(px, py, z, res=0.5, subcircle=0.2)
        chm = r.values.astype(np.float32)
        nr, nc = chm.shape
        zlow = np.where(chm > 2, chm - 2.0, np.nan).astype(np.float32)
        hz = np.linspace(0.5, 3.5, 12).astype(np.float32)
        m = TileRasters(r.xmin, r.ymax, 0.5, chm, np.full((nr, nc), 4, np.int32), np.zeros((nr, nc), np.int32),
                        np.full((nr, nc), 3, np.int32), zlow, np.full(12, 15.2), np.full(12, 14.9), hz)
        peak = detect_trees(m, (0.0, 0.0, 30.0, 30.0))
        sectors = detect_trees(m, (0.0, 0.0, 30.0, 30.0), DetectConfig().with_settings(peak_cells=0))
        assert len(peak["x"]) == 1 and len(sectors["x"]) == 1 and not peak["occluded"][0]
        return peak["height_m"][0], sectors["height_m"][0]

    h = np.array([heights(s) for s in range(6)])
    assert (h[:, 0] >= h[:, 1]).all()                   # never lower than the sector reading
    assert 15.0 - h[:, 1].mean() > 0.12                  # the sectors' highest cells are off the top
    assert abs(15.0 - h[:, 0].mean()) < 0.1              # the highest cells near the top are on it
