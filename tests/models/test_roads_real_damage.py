"""The damage model with real imagery: the fixed hold-out rule of the real crack tiles, their cell
targets, letterboxing and colour order, the synthetic hard negatives, mixed training, and the
shipped weights on the held-out real tiles (the acceptance figures of bench/roads_real_damage.py).

Tests that read ../shared/real/cracks skip when it is absent, except under CI=true."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from models.roads.detector import DamageDetector
from models.roads.damage_net import decode_image, letterbox, roi_of, tile_input
from models.roads.dataset import IGNORE, GridSpec
from models.roads.finetune import SHIPPED
from models.roads.hard_negatives import KINDS, paint_negatives
from models.roads.tile_model import TILE_MODEL, load_tile_model, tile_metrics, tile_scores, tune_tile_threshold
from models.roads.real_cracks import (CRACK_ANY, HOLDOUT_PHOTOS, TUNE_PHOTOS, box_found, load_tiles, photo_of,
                                      split_of, tile_targets)
from tests.conftest import SHARED

CRACKS = SHARED / "real" / "cracks"


def _need_cracks():
    if not (CRACKS / "images.csv").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CRACKS} is required under CI=true")
        pytest.skip(f"{CRACKS} not present")


def test_hold_out_rule_by_source_photo():
    assert photo_of("images/crack/k1_MAX_1644_9_3.jpg") == "k1_MAX_1644"
    assert photo_of("images/crack/h1_MAX_0008_15m_2_11.jpg") == "h1_MAX_0008_15m"
    assert split_of("images/no_crack/k1_MAX_1647_0_1.jpg") == "holdout"
    assert split_of("images/crack/k1_MAX_1641_3_15.jpg") == "tune"
    assert split_of("images/crack/k1_MAX_1631_13_6.jpg") == "train"
    assert not set(HOLDOUT_PHOTOS) & set(TUNE_PHOTOS)


def test_real_set_splits_are_fixed():
    _need_cracks()
    tiles = load_tiles(CRACKS)
    by = {s: [t for t in tiles if t.split == s] for s in ("train", "tune", "holdout")}
    counts = {s: (sum(t.has_crack for t in v), sum(not t.has_crack for t in v)) for s, v in by.items()}
    assert counts == {"train": (159, 48), "tune": (52, 16), "holdout": (83, 36)}
    assert not {photo_of(t.file) for t in by["train"]} & {photo_of(t.file) for t in by["holdout"]}


def test_tile_targets_thin_and_wide_boxes():
    thin = (40.0, 0.0, 60.0, 255.0)             # a vertical crack 20 px wide: runs through its cells
    wide = (128.0, 128.0, 250.0, 250.0)         # a loose box around a diagonal crack
    t, masks = tile_targets([thin, wide])
    assert (t[:, 1] == CRACK_ANY).all()
    assert (t[4:, 4:] == IGNORE).all() and t[0, 5] == 0
    assert masks.shape == (2, 8, 8) and masks[1, 4:, 4:].all() and not masks[1, :4].any()
    flagged = np.zeros((8, 8), bool)
    assert not box_found(wide, flagged)
    flagged[7, 7] = True
    assert box_found(wide, flagged) and not box_found(thin, flagged)


def test_letterbox_keeps_aspect_and_colour_order():
    spec = GridSpec()
    big = np.zeros((720, 1280, 3), np.uint8)
    big[:, :, 0] = 200                                              # red in RGB
    lb, s, x0, y0 = letterbox(big, 640, 360)
    assert (s, x0, y0) == (0.5, 0, 0) and lb.shape == (360, 640, 3)
    square = np.full((400, 400, 3), 50, np.uint8)
    lb, s, x0, y0 = letterbox(square, 640, 360)
    assert s == 0.9 and x0 == 140 and y0 == 0
    assert (lb[:, :140] == 114).all() and (lb[:, 140:500] == 50).all()     # padded, not stretched
    assert roi_of(square, spec).shape == (spec.roi_h, 640, 3)
    assert tile_input(np.zeros((250, 300, 3), np.uint8), 32).shape == (256, 320, 3)
    # JPEG bytes written as RGB by PIL decode to RGB (OpenCV's BGR converted once)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "JPEG", quality=95)
    rgb = decode_image(buf.getvalue())
    assert rgb[..., 0].mean() > 180 and rgb[..., 2].mean() < 20


def test_hard_negatives_avoid_damage_and_are_seeded():
    base = np.full((256, 256, 3), 110, np.uint8)
    avoid = np.zeros((256, 256), bool)
    avoid[100:160, 100:160] = True
    for seed in range(30):
        img, painted = paint_negatives(base, np.random.default_rng(seed), 2, avoid=avoid)
        assert not (painted & avoid).any()
        assert (img[avoid] == 110).all()
        again, _ = paint_negatives(base, np.random.default_rng(seed), 2, avoid=avoid)
        assert np.array_equal(img, again)
    kinds_seen = {KINDS[int(np.random.default_rng(s).integers(len(KINDS)))] for s in range(200)}
    assert kinds_seen == set(KINDS)


def test_mixed_training_steps_are_deterministic(tmp_path):
    _need_cracks()
    import torch

    from models.roads.damage_net import FrameSet
    from models.roads.dataset import load_survey
    from models.roads.training import MixedConfig, train_mixed
    from models.simulator.city import build_city
    from models.simulator.roads import simulate_roads

    simulate_roads(build_city("tiny", 5), tmp_path / "landing", tmp_path / "truth")
    recs = load_survey(tmp_path / "landing", tmp_path / "truth")[:30]
    real = load_tiles(CRACKS, ("train",))[:20]
    cfg = MixedConfig(seed=3, steps=3, batch_size=4, widths=(8, 8, 16, 16, 16))
    losses = []
    for _ in range(2):
        model, rep = train_mixed(FrameSet(recs, cfg.grid), real, cfg, log=lambda *_: None)
        losses.append(rep["loss_first"])
        assert all(np.isfinite(rep["loss_first"]))
    assert losses[0] == losses[1]
    # fine-tuning starts from given weights
    m2, _ = train_mixed(FrameSet(recs, cfg.grid), [], MixedConfig(seed=3, steps=1, batch_size=2, widths=(8, 8, 16, 16, 16),
                                                                   lr=1e-9), init_state=model.state_dict(), log=lambda *_: None)
    for a, b in zip(model.state_dict().values(), m2.state_dict().values()):
        if a.dtype == torch.float32 and a.ndim > 1:
            assert torch.allclose(a, b, atol=1e-4)


def test_shipped_weights_are_small_and_load():
    assert (SHIPPED / "model.pt").stat().st_size + (TILE_MODEL / "model.pt").stat().st_size < 5 * 2 ** 20
    tm, tcfg = load_tile_model()
    assert 0 < tcfg["threshold"] < 1
    p, cells = tile_scores(tm, [np.full((256, 256, 3), 120, np.uint8), np.full((300, 200, 3), 90, np.uint8)])
    assert p.shape == (2,) and ((0 <= p) & (p <= 1)).all() and len(cells) == 2
    cfg = json.loads((SHIPPED / "config.json").read_text())
    assert 0 < cfg["thresholds"]["any_damage"] < 1
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert card["real_holdout"]["tiles"] == 119 and "CC BY-SA 4.0" in json.dumps(card["licences"])
    det = DamageDetector.from_artifact(SHIPPED, threads=1)
    odd = np.full((500, 900, 3), 120, np.uint8)               # any frame size goes through
    p = det.detect([odd])[0]
    assert set(p.scores) and all(0 <= d.box[0] < 640 for d in p.detections)


def _holdout_metrics():
    from models.roads.training import real_metrics, tile_probs

    det = DamageDetector.from_artifact(SHIPPED, threads=1)
    hold = load_tiles(CRACKS, ("holdout",))
    return det, hold, real_metrics(tile_probs(det.model, hold), hold, det.any_threshold)


def test_grid_model_on_held_out_real_tiles_matches_its_card():
    """The grid model (vehicle frames) is not the real-tile model any more; its figures on the
    held-out tiles are still recorded in its card and must not drift."""
    _need_cracks()
    from models.roads.training import tile_probs

    det, hold, m = _holdout_metrics()
    assert m["tiles"] == 119 and m["crack_tiles"] == 83 and m["crack_free_tiles"] == 36
    card = json.loads((SHIPPED / "model_card.json").read_text())["real_holdout"]
    for k in ("precision", "recall", "false_alarm_rate", "box_recall"):
        if card[k] is None:
            assert m[k] is None
        else:
            assert m[k] == pytest.approx(card[k], abs=0.02), (k, m[k], card[k])
    # the pipeline's own decoding flags (at least) every tile the metric flags
    preds = det.detect_tiles([decode_image(t.jpeg) for t in hold[:20]])
    probs = tile_probs(det.model, hold[:20])
    by_metric = ((1 - probs[..., 0]) >= det.any_threshold).reshape(20, -1).any(1)
    assert all(bool(p.detections) for p, f in zip(preds, by_metric) if f)


def _tile_holdout_metrics():
    tm, tcfg = load_tile_model()
    hold = load_tiles(CRACKS, ("holdout",))
    s, cells = tile_scores(tm, [decode_image(t.jpeg) for t in hold], tta=int(tcfg.get("tta", 1)))
    return tile_metrics(s, cells, hold, float(tcfg["threshold"]))


def test_tile_model_on_held_out_real_tiles():
    """The tile model's measured level on the held-out real tiles (never used for training,
    tuning or any choice), as its model card states it: a drop below it fails (precision 0.892,
    recall 0.892, false alarms 0.250, box recall 0.764 when shipped)."""
    _need_cracks()
    m = _tile_holdout_metrics()
    assert m["tiles"] == 119 and m["crack_tiles"] == 83 and m["crack_free_tiles"] == 36
    card = json.loads((TILE_MODEL / "model_card.json").read_text())["real_holdout"]
    for k in ("precision", "recall", "false_alarm_rate", "box_recall"):
        assert m[k] == pytest.approx(card[k], abs=0.02), (k, m[k], card[k])
    assert m["precision"] >= 0.85 and m["recall"] >= 0.85, m


def test_tile_threshold_rule():
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.05, 0.6])
    has = np.array([True, True, True, True, False, False, False, False])
    assert tune_tile_threshold(s, has, 0.0) == pytest.approx(0.6001)        # above every crack-free score
    assert tune_tile_threshold(s, has, 0.25) == pytest.approx(0.2001)       # one of 4 crack-free may pass


def test_tile_training_is_deterministic():
    _need_cracks()
    from models.roads.tile_model import TileConfig, train_tile_model

    tiles = load_tiles(CRACKS, ("train",))
    tiles = [t for t in tiles if t.has_crack][:4] + [t for t in tiles if not t.has_crack][:4]
    cfg = TileConfig(seed=2, steps=2, batch_size=4, widths=(8, 8, 16, 16, 16))
    a = train_tile_model(tiles, cfg, log=lambda *_: None)[1]["loss_first"]
    b = train_tile_model(tiles, cfg, log=lambda *_: None)[1]["loss_first"]
    assert a == b and all(np.isfinite(a))


def test_acceptance_line_on_held_out_real_tiles():
    """Issue 19's real damage line, on the held-out photos (never trained or tuned on), for the
    shipped tile decision (the backbone's quadrant head, cells from the small tile model): met with
    little margin (false alarms 3 of 36, the limit; recall 76 of 83), so a worse head fails here."""
    _need_cracks()
    m = _backbone_holdout_metrics()
    assert m["recall"] >= 0.90 and m["precision"] >= 0.85 and m["false_alarm_rate"] <= 0.10, m


_BACKBONE_CACHE: dict = {}


def _backbone_holdout_metrics():
    """Held-out metrics of the shipped backbone head (computed once per session: 8 views of 119
    tiles through EfficientNet-Lite0)."""
    if "m" not in _BACKBONE_CACHE:
        from models.roads.tile_backbone import backbone_tile_scores, load_head

        head, card = load_head()
        tm, tcfg = load_tile_model()
        hold = load_tiles(CRACKS, ("holdout",))
        imgs = [decode_image(t.jpeg) for t in hold]
        _, cells = tile_scores(tm, imgs, tta=int(tcfg.get("tta", 1)))
        _BACKBONE_CACHE["m"] = tile_metrics(backbone_tile_scores(imgs, head), cells, hold, float(card["threshold"]))
    return _BACKBONE_CACHE["m"]


def test_backbone_head_on_held_out_real_tiles_matches_its_card():
    _need_cracks()
    from models.roads.tile_backbone import HEAD

    m = _backbone_holdout_metrics()
    assert m["tiles"] == 119
    card = json.loads((HEAD / "model_card.json").read_text())["real_holdout"]
    assert json.loads((HEAD / "head.json").read_text())["regions"] == "quadrants"
    for k in ("precision", "recall", "false_alarm_rate", "box_recall"):
        assert m[k] == pytest.approx(card[k], abs=0.02), (k, m[k], card[k])


def test_backbone_weights_come_from_the_installed_wheel_and_head_is_small():
    import torch

    from models.roads.tile_backbone import HEAD, backbone, backbone_features, fit_head, head_scores

    assert (HEAD / "head.json").stat().st_size < 200_000
    net = backbone()
    assert sum(p.numel() for p in net.parameters()) > 4_000_000 and not net.training
    w = net._conv_stem.weight
    assert float(w.abs().mean()) > 0 and not torch.isnan(w).any()
    rng = np.random.default_rng(0)
    flat = [np.full((64, 64, 3), 120, np.uint8) for _ in range(3)]
    lines = []
    for _ in range(3):                                  # dark lines on grey: crack-like
        im = np.full((64, 64, 3), 120, np.uint8)
        im[:, int(rng.integers(10, 50))] = 20
        lines.append(im)
    f = backbone_features(flat + lines, views=2)
    assert f.shape == (2, 6, 2560)
    head = fit_head(f, np.array([False] * 3 + [True] * 3), C=1.0)
    p = head_scores(head, f)
    assert p[3:].min() > p[:3].max()                    # the fitted head separates what it saw


def test_crop_positions_keep_negatives_off_the_boxes():
    from models.roads.real_cracks import RealTile
    from models.roads.tile_model import crop_positions

    t = RealTile("x.jpg", "k1", True, [(10.0, 10.0, 60.0, 150.0)])
    neg, pos = crop_positions(t, 128)
    assert neg and all(x >= 60 + 8 for y, x in neg)             # clear of the box and its margin
    assert pos == [(16, 0)]                                      # centred on the box, clipped
    free = RealTile("y.jpg", "k1", False, [])
    assert len(crop_positions(free, 128)[0]) == 81 and crop_positions(free, 128)[1] == []


def test_test_time_averaging_is_rotation_invariant():
    import torch

    from models.roads.tile_model import TileNet

    torch.manual_seed(0)
    m = TileNet((8, 8, 16, 16, 16)).eval()
    img = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    p, c = tile_scores(m, [img], tta=8)
    p_rot, c_rot = tile_scores(m, [np.ascontiguousarray(np.rot90(img))], tta=8)
    assert p == pytest.approx(p_rot, abs=1e-5)
    assert np.allclose(np.rot90(c[0]), c_rot[0], atol=1e-5)     # cells follow the image
    p1, _ = tile_scores(m, [img], tta=1)
    assert abs(float(p1[0]) - float(p[0])) > 1e-7                # a random net is not invariant by itself


def test_quadrant_labels_follow_the_boxes_and_the_views():
    from models.roads.real_cracks import quadrant_labels
    from models.roads.tile_backbone import _dihedral, quadrant_views

    q = quadrant_labels([(10.0, 10.0, 60.0, 100.0), (118.0, 200.0, 150.0, 250.0)])
    # the first box lies in the top-left quadrant; the second reaches 22 px into the bottom-right
    # one (counts) and grazes the bottom-left one by 10 px (left out)
    assert q.tolist() == [[1, 0], [-1, 1]]
    assert quadrant_labels([]).tolist() == [[0, 0], [0, 0]]
    img = np.zeros((256, 256), np.int8)
    img[:128, :128] = 1                                          # mark the top-left quadrant
    v = quadrant_views(np.array([[[1, 0], [0, 0]]], np.int8), 8)
    assert v.shape == (8, 1, 4)
    for k in range(8):                                           # the label moves with the pixels
        im = _dihedral(img, k)
        seen = [im[:128, :128].mean(), im[:128, 128:].mean(), im[128:, :128].mean(), im[128:, 128:].mean()]
        assert v[k, 0].tolist() == [int(s == 1) for s in seen]


def test_quadrant_head_scores_a_tile_by_its_most_crack_like_quadrant():
    from models.roads.tile_backbone import backbone_features, fit_quadrant_head, head_scores, quadrant_views

    rng = np.random.default_rng(1)
    plain = [np.full((128, 128, 3), 120, np.uint8) + rng.integers(0, 6, (128, 128, 3)).astype(np.uint8)
             for _ in range(4)]
    cracked = []
    labels = []
    for i in range(4):                                   # one dark line in one quadrant of each tile
        im = plain[i].copy()
        r, c = divmod(i, 2)
        im[r * 64:(r + 1) * 64, c * 64 + 20 + i] = 15
        cracked.append(im)
        lab = np.zeros((2, 2), np.int8)
        lab[r, c] = 1
        labels.append(lab)
    f = backbone_features(plain + cracked, views=2, regions=5)
    assert f.shape == (2, 8, 5, 2560)
    assert np.allclose(f[:, :, 0], backbone_features(plain + cracked, views=2))   # whole map = regions 1
    lab = np.concatenate([np.zeros((4, 2, 2), np.int8), np.stack(labels)])
    head = fit_quadrant_head([f], [quadrant_views(lab, 2)], C=1.0)
    p = head_scores(head, f)
    assert head["regions"] == "quadrants" and p.shape == (8,)
    assert p[4:].min() > p[:4].max()                     # the fitted head separates what it saw
    with pytest.raises(ValueError):
        head_scores(head, f[:, :, 0])                    # whole-tile features cannot feed a quadrant head
