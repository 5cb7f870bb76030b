"""LiDAR tree detection: local-maximum filter, canopy height model, ground filter, normalisation.

The real-data tests reproduce the counts that lidR and lasR assert in their own test suites on the
files under ../shared/benchmarks/lidar (see its README). They skip, saying why, in a fresh clone
where ../shared does not exist. The synthetic tests pin down the details those counts depend on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.lidar import (
    canopy_height_model,
    classify_ground_pmf,
    local_maximum_mask,
    locate_trees,
    locate_trees_raster,
    normalize_height,
)
from models.lidar.chm import bilinear
from models.lidar.ground import dtm_raster, ground_surface

LIDAR = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "lidar"


def variable_ws(z: np.ndarray) -> np.ndarray:
    """lidR's test window: diameter 0.07 * height + 3 m."""
    return 0.07 * z + 3


def brute_force_lmf(x, y, z, ws, hmin=2.0, square=False) -> np.ndarray:
    """The definition, one point at a time in input order (O(n^2), for small n only)."""
    if callable(ws):
        w = np.asarray(ws(z), dtype=float)
        w[z < hmin] = ws(np.array([hmin]))[0]
    else:
        w = np.broadcast_to(np.asarray(ws, dtype=float), z.shape)
    lm = np.zeros(z.size, dtype=bool)
    for i in range(z.size):
        if not z[i] >= hmin:
            continue
        r = w[i] / 2
        dx, dy = x - x[i], y - y[i]
        win = (np.abs(dx) <= r + 1e-8) & (np.abs(dy) <= r + 1e-8) if square else dx * dx + dy * dy <= r * r + 1e-8
        if np.any(z[win] > z[i]) or np.any(win & lm & (z == z[i])):
            continue
        lm[i] = True
    return lm


# ---------------------------------------------------------------- local-maximum filter, synthetic


def test_tie_first_in_file_order_wins_and_blocks():
    # A, B, C on a line 2 m apart, all 10 m high; ws = 5 (radius 2.5): A-B and B-C see each other,
    # A-C (4 m) do not.
    x = np.array([0.0, 2.0, 4.0]) + 500_000
    y = np.zeros(3) + 4_000_000
    z = np.full(3, 10.0)
    tops = locate_trees(x, y, z, ws=5)
    assert tops.index.tolist() == [0, 2]  # A accepted, B blocked by A, C accepted (A out of reach)
    order = np.array([1, 0, 2])  # B first: it wins and blocks both A and C
    tops = locate_trees(x[order], y[order], z[order], ws=5)
    assert tops.index.tolist() == [0]
    assert tops.x[0] == 500_002.0


def test_tie_loser_does_not_block_when_it_has_a_higher_neighbour():
    # P0 (10 m) is beaten by P2 (12 m) next to it, so P0 is no maximum and cannot block P1 (10 m),
    # which is out of P2's reach.
    x = np.array([0.0, 2.4, -2.0])
    y = np.zeros(3)
    z = np.array([10.0, 10.0, 12.0])
    assert local_maximum_mask(x, y, z, ws=5).tolist() == [False, True, True]


def test_circle_edge_is_inclusive():
    # 3-4-5 triangle scaled by 0.5: a higher point exactly 2.5 m away is inside lmf(5)'s window.
    x = np.array([0.0, 1.5]) + 481_260.0
    y = np.array([0.0, 2.0]) + 3_812_921.0
    z = np.array([10.0, 11.0])
    assert local_maximum_mask(x, y, z, ws=5).tolist() == [False, True]
    # 1 cm further it is outside: both are maxima.
    y2 = np.array([0.0, 2.01]) + 3_812_921.0
    assert local_maximum_mask(x, y2, z, ws=5).tolist() == [True, True]
    # the square window reaches the corners of the circle's bounding box
    x3 = np.array([0.0, 2.5]) + 481_260.0
    y3 = np.array([0.0, 2.5]) + 3_812_921.0
    assert local_maximum_mask(x3, y3, z, ws=5).tolist() == [True, True]
    assert local_maximum_mask(x3, y3, z, ws=5, shape="square").tolist() == [False, True]


def test_hmin_threshold_is_inclusive():
    x = np.array([0.0, 10.0, 20.0, 21.0])
    y = np.zeros(4)
    z = np.array([1.99, 2.0, 1.5, 1.0])
    # isolated points: only the one at or above hmin is a top
    assert local_maximum_mask(x, y, z, ws=5, hmin=2.0).tolist() == [False, True, False, False]
    assert local_maximum_mask(x, y, z, ws=5, hmin=1.0).tolist() == [True, True, True, False]
    assert local_maximum_mask(x, y, z, ws=5, hmin=0.0).tolist() == [True, True, True, False]


def test_variable_window_uses_the_candidate_window_only():
    # A: 20 m -> ws 4.4 (r 2.2); B: 10 m -> ws 3.7 (r 1.85); 2 m apart. A sees B (lower), B does
    # not see A: both are tops, as in lidR (the variable window is not symmetric).
    x = np.array([0.0, 2.0])
    y = np.zeros(2)
    z = np.array([20.0, 10.0])
    assert local_maximum_mask(x, y, z, ws=variable_ws).tolist() == [True, True]
    assert local_maximum_mask(x, y, z, ws=5).tolist() == [True, False]
    # an explicit per-point array gives the same result as the function
    assert local_maximum_mask(x, y, z, ws=variable_ws(z)).tolist() == [True, True]


def test_matches_the_brute_force_definition_on_random_clouds_with_ties():
    rng = np.random.default_rng(7)
    for trial in range(24):
        n = int(rng.integers(50, 900))
        x = np.round(rng.random(n) * rng.integers(5, 60), 1) + 690_000
        y = np.round(rng.random(n) * 30, 1) + 5_010_000
        z = np.round(rng.random(n) * rng.integers(2, 15), 0 if trial % 2 else 1)  # many equal heights
        ws = variable_ws if trial % 4 == 0 else float(rng.choice([2.0, 3.0, 5.0]))
        square = trial % 3 == 0
        got = local_maximum_mask(x, y, z, ws=ws, hmin=2.0, shape="square" if square else "circular")
        assert np.array_equal(got, brute_force_lmf(x, y, z, ws, 2.0, square)), trial


def test_sparse_cloud_over_a_huge_extent_stays_exact():
    # two clusters 5,000 km apart: the bucketing grid is capped, its cells outgrow the window and
    # the pre-filter switches itself off; the answer must not change
    rng = np.random.default_rng(3)
    x = np.r_[rng.random(200) * 20, rng.random(200) * 20 + 5e6]
    y = np.r_[rng.random(200) * 20, rng.random(200) * 20 + 3e6]
    z = np.round(rng.random(400) * 10, 1)
    for ws in (5.0, 0.5):
        assert np.array_equal(local_maximum_mask(x, y, z, ws=ws), brute_force_lmf(x, y, z, ws))


def test_degenerate_inputs():
    assert len(locate_trees(np.array([]), np.array([]), np.array([]))) == 0
    assert local_maximum_mask(np.array([1.0]), np.array([1.0]), np.array([np.nan])).tolist() == [False]
    assert local_maximum_mask(np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([np.nan, 5.0])).tolist() == [False, True]
    assert local_maximum_mask(np.array([np.nan, 2.0]), np.array([1.0, 1.0]), np.array([9.0, 5.0])).tolist() == [False, True]
    with pytest.raises(ValueError):
        local_maximum_mask(np.zeros(2), np.zeros(2), np.ones(2), ws=0)
    with pytest.raises(ValueError):
        local_maximum_mask(np.zeros(2), np.zeros(2), np.ones(2), shape="hexagon")


def test_raster_ties_are_visited_top_row_first():
    # two equal cells one above the other (1 m apart, ws 5): the northern one (row 0) wins
    chm = np.array([[np.nan, 8.0], [np.nan, 8.0], [np.nan, np.nan]])
    tops = locate_trees_raster(chm, xmin=100.0, ymax=203.0, res=1.0, ws=5)
    assert tops.index.tolist() == [1]
    assert (tops.x[0], tops.y[0], tops.z[0]) == (101.5, 202.5, 8.0)
    # on one row the western one wins
    chm = np.array([[8.0, 8.0, 1.0]])
    assert locate_trees_raster(chm, 0.0, 1.0, 1.0, ws=3).index.tolist() == [0]


# ---------------------------------------------------------------- canopy height model


def test_chm_highest_point_per_cell_north_up():
    x = np.array([0.2, 0.7, 1.5, 0.5])
    y = np.array([0.2, 0.3, 0.5, 1.5])
    z = np.array([3.0, 5.0, 1.0, 7.0])
    r = canopy_height_model(x, y, z, res=1.0)
    assert r.origin == (0.0, 2.0) and r.res == 1.0 and r.values.shape == (2, 2)
    # row 0 is north (y in [1, 2)), row 1 south
    assert r.values[1, 0] == 5.0 and r.values[1, 1] == 1.0 and r.values[0, 0] == 7.0
    assert np.isnan(r.values[0, 1])
    assert r.transform == (0.0, 1.0, 0.0, 2.0, 0.0, -1.0)


def test_chm_subcircle_widens_points_to_their_disc():
    # a point 0.1 m from a cell border reaches the next cell with a 0.15 m disc, not with 0.05 m
    x = np.array([0.9, 0.1, 2.5])
    y = np.array([0.5, 0.5, 1.5])
    z = np.array([10.0, 2.0, 1.0])
    plain = canopy_height_model(x, y, z, res=1.0)
    wide = canopy_height_model(x, y, z, res=1.0, subcircle=0.15)
    narrow = canopy_height_model(x, y, z, res=1.0, subcircle=0.05)
    assert plain.values[1, 1] != 10.0
    assert wide.values[1, 1] == 10.0 and narrow.values[1, 1] != 10.0
    # the layout is the points' box; the disc of the point at x = 0.1 does not create a column west
    assert wide.xmin == 0.0 and wide.values.shape == plain.values.shape
    assert canopy_height_model(x, y, z, res=1.0, subcircle=0.15, extend=True).xmin == -1.0


def test_bilinear_reproduces_a_plane():
    xs = np.arange(0, 10) + 0.5
    ys = np.arange(0, 8)[::-1] + 0.5
    gx, gy = np.meshgrid(xs, ys)
    from models.lidar.chm import Raster

    r = Raster(values=3 + 0.5 * gx - 0.25 * gy, xmin=0.0, ymax=8.0, res=1.0)
    px, py = np.array([0.5, 3.3, 9.5, 7.77]), np.array([0.5, 6.2, 7.5, 1.01])
    np.testing.assert_allclose(bilinear(r, px, py), 3 + 0.5 * px - 0.25 * py, atol=1e-12)


# ---------------------------------------------------------------- ground and normalisation


def synthetic_slope_with_trees(seed: int = 3):
    """A 120 x 80 m slope (up to 35 % grade) with 40 cone-shaped trees and a 15 x 10 m building."""
    rng = np.random.default_rng(seed)

    def terrain(x, y):
        return 50 + 0.25 * x + 0.1 * y + 1.5 * np.sin(x / 15.0)

    n_ground = 16_000
    gx, gy = rng.random(n_ground) * 120, rng.random(n_ground) * 80
    gz = terrain(gx, gy) + rng.normal(0, 0.03, n_ground)
    tx, ty = rng.random(40) * 110 + 5, rng.random(40) * 70 + 5
    th = rng.uniform(8, 25, 40)
    vx, vy, vh = [], [], []
    for cx, cy, h in zip(tx, ty, th):
        crown = 0.25 * h
        m = 250
        a, rad = rng.random(m) * 2 * np.pi, crown * np.sqrt(rng.random(m))
        vx.append(cx + rad * np.cos(a))
        vy.append(cy + rad * np.sin(a))
        vh.append(h * (1 - 0.6 * rad / crown) * rng.uniform(0.9, 1.0, m))
    bx, by = 60 + rng.random(1500) * 15, 10 + rng.random(1500) * 10
    vx.append(bx)
    vy.append(by)
    vh.append(np.full(1500, 6.0))
    vx, vy, vh = map(np.concatenate, (vx, vy, vh))
    x = np.concatenate([gx, vx]) + 1_020_000
    y = np.concatenate([gy, vy]) + 6_280_000
    h = np.concatenate([np.zeros(n_ground), vh])
    z = terrain(x - 1_020_000, y - 6_280_000) + h
    z[:n_ground] = gz
    truth_ground = np.arange(z.size) < n_ground
    order = rng.permutation(z.size)
    return x[order], y[order], z[order], h[order], truth_ground[order]


def test_pmf_finds_the_ground_on_a_slope_with_trees_and_a_building():
    x, y, z, h, truth = synthetic_slope_with_trees()
    ground = classify_ground_pmf(x, y, z)
    recall = (ground & truth).sum() / truth.sum()
    high = h > 1.0
    assert recall > 0.95
    assert (ground & high).sum() / high.sum() < 0.01  # crowns and roof are not ground


def test_normalisation_gives_heights_close_to_truth():
    x, y, z, h, truth = synthetic_slope_with_trees()
    ground = classify_ground_pmf(x, y, z)
    for method in ("tin", "dtm", "plane", "knnidw"):
        hn = normalize_height(x, y, z, ground=ground, method=method)
        err = np.abs(hn - h)[h > 1.0]
        assert np.median(err) < 0.1, method
        assert np.percentile(err, 99) < 0.5, method
    # no ground given and no class 2: the PMF runs by itself
    hn = normalize_height(x, y, z, classification=np.ones(z.size, dtype=np.uint8))
    assert np.median(np.abs(hn - h)[h > 1.0]) < 0.1
    # tree tops on normalised heights: one per cone-shaped tree
    tops = locate_trees(x, y, hn, ws=5)
    assert 34 <= len(tops) <= 46


def test_tin_normalisation_is_exact_on_a_plane():
    rng = np.random.default_rng(1)
    gx, gy = rng.random(500) * 50, rng.random(500) * 50
    px, py = rng.random(2000) * 40 + 5, rng.random(2000) * 40 + 5
    x, y = np.concatenate([gx, px]), np.concatenate([gy, py])
    plane = 200 + 0.3 * x - 0.2 * y
    hts = np.concatenate([np.zeros(500), rng.random(2000) * 20])
    z = plane + hts
    ground = np.arange(z.size) < 500
    np.testing.assert_allclose(normalize_height(x, y, z, ground=ground, method="tin"), hts, atol=1e-9)
    # DTM raster path: bilinear between TIN nodes is exact on a plane too
    dtm = dtm_raster(gx, gy, 200 + 0.3 * gx - 0.2 * gy, res=1.0)
    np.testing.assert_allclose(bilinear(dtm, px, py), 200 + 0.3 * px - 0.2 * py, atol=1e-9)
    np.testing.assert_allclose(normalize_height(x, y, z, ground=ground, method="plane"), hts, atol=1e-8)
    assert ground_surface(x, y, z, ground, method="knnidw").shape == z.shape


# ---------------------------------------------------------------- real files: lidR / lasR counts


def _read(name: str):
    laspy = pytest.importorskip("laspy")
    path = LIDAR / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the real LiDAR files live in ../shared/benchmarks/lidar beside the repository")
    las = laspy.read(path)
    return np.asarray(las.x), np.asarray(las.y), np.asarray(las.z), np.asarray(las.classification)


@pytest.fixture(scope="module")
def mixedconifer():
    x, y, z, _ = _read("lidR_MixedConifer.laz")
    keep = z >= 0  # lidR's test: filter_poi(mixedconifer, Z >= 0)
    return x[keep], y[keep], z[keep]


def test_mixedconifer_points_lmf5_gives_177(mixedconifer):
    assert len(locate_trees(*mixedconifer, ws=5)) == 177


def test_mixedconifer_points_variable_window_gives_205(mixedconifer):
    assert len(locate_trees(*mixedconifer, ws=variable_ws)) == 205


def test_mixedconifer_points_lasr_local_maximum3_gives_297(mixedconifer):
    assert len(locate_trees(*mixedconifer, ws=3)) == 297


def test_mixedconifer_chm_lmf5_gives_167_and_variable_window_204(mixedconifer):
    chm = canopy_height_model(*mixedconifer, res=1.0, subcircle=0.15)
    assert chm.res == 1.0 and chm.origin == (481260.0, 3813011.0) and chm.values.shape == (90, 90)
    assert len(locate_trees_raster(chm.values, chm.xmin, chm.ymax, chm.res, ws=5)) == 167
    assert len(locate_trees_raster(chm, ws=variable_ws)) == 204


def test_bcts_both_files_raw_elevations_local_maximum5_min330_gives_2234():
    parts = [_read("lasR_bcts_1.laz"), _read("lasR_bcts_2.laz")]
    x, y, z = (np.concatenate([p[k] for p in parts]) for k in range(3))
    assert x.size > 1_300_000
    assert len(locate_trees(x, y, z, ws=5, hmin=330)) == 2234


def test_bcts_normalised_against_class2_is_plausible():
    x, y, z, cls = _read("lasR_bcts_1.laz")
    assert (cls == 2).sum() > 10_000  # the tiles ship a ground classification
    h = normalize_height(x, y, z, classification=cls)
    assert abs(float(np.median(h[cls == 2]))) < 1e-6
    assert 0 <= np.percentile(h, 50) < 15 and np.percentile(h, 99.9) < 60
    tops = locate_trees(x, y, h, ws=5)
    assert 500 < len(tops) < 2000
