"""CPU inference shortcuts of the roads nets (models/roads/inference.py): the damage grid model
with folded batch norms gives the trained net's probabilities, and in bfloat16 (only where the
CPU has it natively) stays close to them; on other CPUs "auto" is exactly float32."""

from __future__ import annotations

import numpy as np
import torch

from models.roads import detector as detector_module
from models.roads.damage_net import roi_of, to_batch
from models.roads.detector import DamageDetector
from models.roads.finetune import SHIPPED


def _frames(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        f = rng.integers(70, 150, (360, 640, 3), dtype=np.uint8)
        f[200:, 100:540] = 90                                            # asphalt
        f[250:254, 150:500] = 30                                         # a dark crack-like line
        frames.append(f)
    return frames


def test_damage_detector_folded_float32_equals_the_trained_net():
    det = DamageDetector.from_artifact(SHIPPED, threads=1, bf16="off")
    assert not det.bf16
    rois = [roi_of(f, det.spec) for f in _frames()]
    with torch.inference_mode():
        cl, _ = det.model(to_batch(rois))
    ref = cl.softmax(1).permute(0, 2, 3, 1).numpy()
    cp, sp = det.probabilities(rois)
    assert np.abs(cp - ref).max() < 1e-5
    assert np.allclose(cp.sum(-1), 1, atol=1e-5) and np.allclose(sp.sum(-1), 1, atol=1e-5)


def test_damage_detector_bf16_is_close_where_native_and_float32_elsewhere(monkeypatch):
    rois = [roi_of(f, DamageDetector.from_artifact(SHIPPED, threads=1, bf16="off").spec) for f in _frames()]
    ref, _ = DamageDetector.from_artifact(SHIPPED, threads=1, bf16="off").probabilities(rois)
    if detector_module.has_native_bf16():
        det = DamageDetector.from_artifact(SHIPPED, threads=1, bf16="auto")
        assert det.bf16
        cp, _ = det.probabilities(rois)
        assert cp.dtype == np.float32 and np.abs(cp - ref).max() < 0.05
    monkeypatch.setattr(detector_module, "has_native_bf16", lambda: False)
    det = DamageDetector.from_artifact(SHIPPED, threads=1, bf16="auto")
    assert not det.bf16
    assert np.array_equal(det.probabilities(rois)[0], ref)
