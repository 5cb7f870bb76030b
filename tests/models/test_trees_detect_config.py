"""The grouped detection settings (models/trees/detect_config.py): one name per setting across the
groups, set by that name, and the height model's fingerprint unchanged by the grouping."""

import ast
from dataclasses import fields

import pytest

from models.trees.detect_config import CANOPY_SETTINGS, GROUPS, CanopyConfig, DetectConfig
from models.trees.height_model import MODEL_PATH, detection_fingerprint, model_meta, same_detection


def test_each_setting_has_one_name_and_is_set_by_it():
    names = [f.name for cls in GROUPS.values() for f in fields(cls)] + ["hmin", "buffer"]
    assert len(names) == len(set(names)) == len(DetectConfig().flat())
    cfg = DetectConfig().with_settings(top_tolerance=0.9, hmin=3.0, peak_cells=0, covered_rise=0.25)
    assert (cfg.seeds.top_tolerance, cfg.hmin, cfg.apex.peak_cells, cfg.covered.covered_rise) == (0.9, 3.0, 0, 0.25)
    assert DetectConfig().seeds.top_tolerance == 0.5          # the default is left alone (frozen copies)
    changed = {k for k, v in cfg.flat().items() if DetectConfig().flat()[k] != v}
    assert changed == {"top_tolerance", "hmin", "peak_cells", "covered_rise"}
    with pytest.raises(TypeError, match="top_tolerence"):
        DetectConfig().with_settings(top_tolerence=0.9)
    assert CANOPY_SETTINGS == tuple(f.name for f in fields(CanopyConfig))


def test_fingerprint_compares_values_not_the_order_of_settings():
    fp = detection_fingerprint()
    d = ast.literal_eval(fp)
    reordered = repr({**d, "detect": dict(reversed(list(d["detect"].items())))})
    assert reordered != fp and same_detection(reordered, fp)
    d["detect"]["top_tolerance"] = 1.5
    assert not same_detection(repr(d), fp)
    if MODEL_PATH.exists():       # the model file shipped was trained on these very settings
        assert same_detection(model_meta()["detection"])
