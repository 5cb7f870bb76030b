"""The data-driven choice between stem-first and canopy-first detection, the applicability domain
of the learned corrections, and (where ../shared/real is present) the real NEON plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.lidar.tiles import tile_rasters
from models.trees.canopy_tops import CANOPY_FIRST, STEM_FIRST
from models.trees.detect import detect_trees
from models.trees.detect_config import CANOPY_SETTINGS, DetectConfig
from models.trees.height_model import (FEATURES, TreeEnsemble, apply_height_model, detection_fingerprint,
                                       in_model_domain)
from models.trees.surface import mosaic

REAL = Path(__file__).resolve().parents[3] / "shared" / "real" / "lidar"


def _scene(stems: bool, seed: int = 0, n_side: int = 5, spacing: float = 7.0):
    """A 50 m scene of ``n_side`` x ``n_side`` dome crowns (12-18 m, radius 3 m) at 20 pts/m²,
    canopy returns of two-return pulses, ground returns elsewhere. ``stems``: each tree has a
    column of 12 returns from 0.4 to 3.8 m at its base; otherwise the understorey holds only
    scattered two-return clusters (shrubs) between the trees."""
    rng = np.random.default_rng(seed)
    ox, oy = 1_020_000.0, 6_280_000.0
    cx, cy = np.meshgrid(np.arange(n_side) * spacing + 8.0, np.arange(n_side) * spacing + 8.0)
    cx, cy = cx.ravel() + rng.uniform(-0.5, 0.5, cx.size), cy.ravel() + rng.uniform(-0.5, 0.5, cy.size)
    th = rng.uniform(12, 18, cx.size)
    n = int(50 * 50 * 20)
    px, py = rng.uniform(0, 50, n), rng.uniform(0, 50, n)
    d = np.hypot(px[:, None] - cx[None], py[:, None] - cy[None])
    k = d.argmin(1)
    dk = d[np.arange(n), k]
    crown = dk < 3.0
    ph = np.where(crown, th[k] - 4.0 * (dk / 3.0) ** 2 + rng.normal(0, 0.05, n), rng.normal(0, 0.03, n))
    rn = np.ones(n, np.uint8)
    nr = np.where(crown, 2, 1).astype(np.uint8)
    xs, ys, hs = [px], [py], [ph]
    if stems:
        for x0, y0 in zip(cx, cy):
            xs.append(x0 + rng.normal(0, 0.08, 12)); ys.append(y0 + rng.normal(0, 0.08, 12))
            hs.append(np.linspace(0.4, 3.8, 12))
    else:
        for _ in range(30):
            x0, y0 = rng.uniform(2, 48, 2)
            xs.append(x0 + rng.normal(0, 0.1, 2)); ys.append(y0 + rng.normal(0, 0.1, 2))
            hs.append(rng.uniform(0.4, 1.5, 2))
    m = sum(len(a) for a in xs) - n
    x, y, h = np.concatenate(xs) + ox, np.concatenate(ys) + oy, np.concatenate(hs)
    rn = np.r_[rn, np.full(m, 2, np.uint8)]
    nr = np.r_[nr, np.full(m, 2, np.uint8)]
    bounds = (ox, oy, ox + 50, oy + 50)
    r = tile_rasters(x, y, h, rn, nr, bounds)
    return mosaic(r, [], 20.0), bounds, np.c_[cx + ox, cy + oy]


def test_resolved_stems_take_the_stem_first_path():
    m, b, trees = _scene(stems=True)
    d = detect_trees(m, b)
    assert set(d["detection_path"]) == {STEM_FIRST}
    assert d["scene_stem_share"][0] >= 0.8 and d["scene_top_share"][0] >= 0.8
    assert len(d["x"]) == len(trees)


def test_unresolved_stems_take_the_canopy_first_path_and_keep_every_top():
    m, b, trees = _scene(stems=False)
    d = detect_trees(m, b)
    assert set(d["detection_path"]) == {CANOPY_FIRST}
    assert d["scene_stem_share"][0] < 0.4
    # every crown is found once, on its top
    dd = np.hypot(d["top_x"][:, None] - trees[None, :, 0], d["top_y"][:, None] - trees[None, :, 1])
    assert len(d["x"]) == len(trees) and (dd.min(0) < 1.5).all()
    assert not np.asarray(d["occluded"], bool).any()
    # the switch off: the historic stem-first path on the same scene
    off = detect_trees(m, b, DetectConfig().with_settings(canopy_switch=False))
    assert set(off["detection_path"]) == {STEM_FIRST}


def test_canopy_settings_stay_out_of_the_height_models_fingerprint():
    base = detection_fingerprint()
    for f in CANOPY_SETTINGS:
        assert f in DetectConfig().flat()
        assert f not in base
    assert "top_tolerance" in base


def test_corrections_are_left_off_outside_the_applicability_domain():
    rows = []
    for k, (path, dens, cover) in enumerate([("stem-first", 9.0, 0.02), ("canopy-first", 9.0, 0.02),
                                             ("stem-first", 5.2, 0.02), ("stem-first", 9.0, 0.6),
                                             (None, None, None)]):
        rows.append(dict(tree_id=str(k), epoch="2025", status="alive", x=10.0 * k, y=0.0, top_x=10.0 * k, top_y=0.0,
                         height_m=10.0, height_reading="canopy", height_source="measured", occluded=True,
                         detection_path=path, scene_point_density=dens, scene_canopy_cover=cover))
    tw = pl.DataFrame(rows)
    assert in_model_domain(tw).tolist() == [True, False, False, False, True]
    const = TreeEnsemble([0], [0.0], [-1], [-1], [False], [True], [-2.0], [0], 0.0, FEATURES)
    out = apply_height_model(tw, const)
    assert out["height_m"].to_list() == [8.0, 10.0, 10.0, 10.0, 8.0]
    assert out["in_model_domain"].to_list() == [True, False, False, False, True]


def test_crown_form_species_is_unknown_outside_the_domain():
    from models.trees.pipeline import build_twin

    det = pl.DataFrame([dict(epoch="2025", tile_id="T", detection_id=f"2025:T:{k}", top_x=1_020_000.0 + 10 * k,
                             top_y=6_280_000.0, x=1_020_000.0 + 10 * k, y=6_280_000.0, height_m=15.0,
                             crown_area_m2=30.0, crown_diameter_m=6.0, crown_volume_m3=100.0, crown_base_m=5.0,
                             gap_fraction=0.1, top_gap_fraction=0.1, lean_deg=2.0, lean_azimuth_deg=0.0,
                             stem_points=5.0, crown_contact_share=0.0, crown_cells=120.0, crown_star_ratio=0.8,
                             crown_layer_depth_m=2.0, position_source="stem", occluded=False, height_reading="top",
                             detection_path=p, scene_point_density=9.0, scene_canopy_cover=0.02)
                        for k, p in enumerate(["stem-first", "canopy-first"])])
    tiles = pl.DataFrame({"tile_id": ["T"], "epoch": ["2025"], "min_x": [1_019_990.0], "min_y": [6_279_990.0],
                          "max_x": [1_020_240.0], "max_y": [6_280_240.0]})
    register = pl.DataFrame(schema={"register_id": pl.Utf8, "species": pl.Utf8, "x_2154": pl.Float64,
                                    "y_2154": pl.Float64, "height_m": pl.Float64, "dbh_cm": pl.Float64})
    quartiers = pl.DataFrame({"code": ["Q"], "name": ["Q"], "wkt_2154": [
        "POLYGON((1019000 6279000, 1021000 6279000, 1021000 6281000, 1019000 6281000, 1019000 6279000))"]})
    tw, _ = build_twin(det, tiles, register, quartiers)
    g = dict(zip(tw["detection_path"].to_list(), tw["species_group"].to_list()))
    assert g["stem-first"] == "broadleaf" and g["canopy-first"] == "unknown"
    assert tw.filter(pl.col("species_group") == "unknown")["dbh_cm"].is_not_null().all()


def test_real_neon_plots_chain_beats_lmf():
    """On the 18 real NEON TEAK plots (../shared/real/lidar) the chain takes the canopy-first path
    everywhere, its F-score is above lmf(3 m, 2 m)'s by at least 0.05 pooled over the 14 scored
    plots, and the corrections are off there."""
    if not (REAL / "trees.csv").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{REAL} is required under CI")
        pytest.skip(f"{REAL} is absent: the real sets live in ../shared/real beside the repository")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import trees_real as T

    refs = T.load_reference()
    rows = [T.plot_run(f, refs[f["plot_id"]], DetectConfig()) for f in T.load_files()
            if f["plot_id"].startswith("TEAK") and f["plot_id"] not in T.SPARSE]
    assert len(rows) == 14 and {r["path"] for r in rows} == {CANOPY_FIRST}
    c, lm = T.figures([r["chain"] for r in rows]), T.figures([r["lmf"] for r in rows])
    assert c["f"] >= lm["f"] + 0.05, (c, lm)
    held = [r for r in rows if T.held_out(r["plot_id"])]
    assert T.figures([r["chain"] for r in held])["f"] >= T.figures([r["lmf"] for r in held])["f"] + 0.05
