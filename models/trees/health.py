"""Tree vitality (Roloff VS0-VS3) from LiDAR structure and change: a small PyTorch classifier.

Inputs (one row per tree and epoch, :data:`FEATURES`): height (m), crown area (m²), crown
diameter (m), crown volume (m³), crown base / height, gap fraction of the whole crown and of its
top (share of first returns that reached the ground through it: foliage loss and dieback show as
transparency), crown star ratio, lean (degrees, 0 where no stem was seen), and the change since
the previous scan (height growth m, crown area change %, 0 for a first scan).

Model: standardised inputs -> 2 hidden layers of 32 (ReLU, dropout 0.1) -> 4 logits; cross
entropy weighted by inverse class frequency (VS3 is rare); Adam, fixed seed, full-batch epochs
(a city is 30,000 rows). Reported: accuracy, macro F1 and per-class precision/recall/F1 on a
held-out 25 % split by tree (both epochs of a tree fall on the same side).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

CLASSES = ("VS0", "VS1", "VS2", "VS3")
FEATURES = ("height_m", "crown_area_m2", "crown_diameter_m", "crown_volume_m3", "crown_base_ratio",
            "gap_fraction", "top_gap_fraction", "crown_star_ratio", "lean_deg", "height_growth_m",
            "crown_area_change_pct")
# "threads": torch intra-op threads, fixed (not the machine's core count) so the same data train the same
# weights and give the same classes on a 2-core or a 64-core machine
CONFIG = {"threads": 2, "hidden": 32, "dropout": 0.1, "epochs": 400, "lr": 0.01, "weight_decay": 1e-4, "seed": 7,
          "test_share": 0.25}


def _net(n_in: int, hidden: int, dropout: float):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, len(CLASSES)))


def feature_matrix(rows: dict) -> np.ndarray:
    X = np.column_stack([np.asarray(rows[f], dtype=np.float64) for f in FEATURES])
    return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)


@dataclass
class HealthModel:
    mean: np.ndarray
    std: np.ndarray
    state: dict
    config: dict

    def predict_proba(self, X: np.ndarray, batch: int = 8192) -> np.ndarray:
        import torch

        torch.set_num_threads(self.config.get("threads", CONFIG["threads"]))
        net = _net(X.shape[1], self.config["hidden"], self.config["dropout"])
        net.load_state_dict(self.state)
        net.eval()
        Z = ((X - self.mean) / self.std).astype(np.float32)
        out = []
        with torch.inference_mode():
            for s in range(0, len(Z), batch):
                out.append(torch.softmax(net(torch.from_numpy(Z[s:s + batch])), 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)

    def save(self, folder) -> None:
        import torch

        torch.save({"mean": self.mean, "std": self.std, "state": self.state, "config": self.config,
                    "features": FEATURES, "classes": CLASSES}, os.path.join(folder, "model.pt"))

    @classmethod
    def load(cls, folder) -> "HealthModel":
        import torch

        d = torch.load(os.path.join(folder, "model.pt"), weights_only=False)
        return cls(d["mean"], d["std"], d["state"], d["config"])


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    out = {"accuracy": float((y == p).mean()) if len(y) else 0.0, "per_class": {}}
    f1s = []
    for k, c in enumerate(CLASSES):
        tp = int(((p == k) & (y == k)).sum()); fp = int(((p == k) & (y != k)).sum()); fn = int(((p != k) & (y == k)).sum())
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        out["per_class"][c] = {"precision": round(pr, 3), "recall": round(rc, 3), "f1": round(f1, 3),
                               "support": int((y == k).sum())}
        if (y == k).sum():
            f1s.append(f1)
    out["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    # a looser view useful to arborists: healthy (VS0-VS1) versus declining (VS2-VS3)
    out["declining_recall"] = float(((p >= 2) & (y >= 2)).sum() / max((y >= 2).sum(), 1))
    return out


def train(X: np.ndarray, y: np.ndarray, groups: np.ndarray, config: dict | None = None) -> tuple[HealthModel, dict]:
    """Train on rows ``X`` with labels ``y`` (0-3); ``groups`` (tree ids) decide the held-out split."""
    import torch

    cfg = {**CONFIG, **(config or {})}
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(cfg["threads"])
    rng = np.random.default_rng(cfg["seed"])
    ug = np.unique(groups)
    test_g = set(rng.choice(ug, int(round(len(ug) * cfg["test_share"])), replace=False).tolist()) if len(ug) > 3 else set()
    test = np.array([g in test_g for g in groups])
    tr = ~test
    mean = X[tr].mean(0)
    std = X[tr].std(0) + 1e-6
    Z = torch.from_numpy(((X - mean) / std).astype(np.float32))
    Y = torch.from_numpy(y.astype(np.int64))
    counts = np.bincount(y[tr], minlength=len(CLASSES)).astype(float)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(CLASSES), 0.0)
    w = np.minimum(w, 10.0)
    net = _net(X.shape[1], cfg["hidden"], cfg["dropout"])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
    idx = torch.from_numpy(np.flatnonzero(tr))
    for _ in range(cfg["epochs"]):
        net.train()
        opt.zero_grad()
        loss = loss_fn(net(Z[idx]), Y[idx])
        loss.backward()
        opt.step()
    model = HealthModel(mean, std, {k: v.detach().clone() for k, v in net.state_dict().items()}, cfg)
    p = model.predict_proba(X).argmax(1)
    metrics = {"test": _metrics(y[test], p[test]), "train": _metrics(y[tr], p[tr]),
               "rows": int(len(y)), "test_rows": int(test.sum()), "final_loss": float(loss.item())}
    return model, metrics


def model_card(version: str, metrics: dict, data: dict) -> tuple[str, str]:
    """Markdown and JSON model card."""
    t = metrics["test"]
    lines = [f"# Tree vitality model `{version}`", "",
             "Predicts the Roloff vitality class (VS0 exploration, VS1 degeneration, VS2 stagnation, "
             "VS3 retreat) of a tree from its LiDAR structure and its change since the previous scan.", "",
             "## Data", "", *[f"- {k}: {v}" for k, v in data.items()], "",
             "## Inputs", "", ", ".join(FEATURES), "",
             "## Held-out metrics (25 % of the trees)", "",
             f"accuracy {t['accuracy']:.3f}, macro F1 {t['macro_f1']:.3f}, recall of declining trees "
             f"(VS2-VS3) {t['declining_recall']:.3f}", "",
             "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
             *[f"| {c} | {m['precision']} | {m['recall']} | {m['f1']} | {m['support']} |" for c, m in t["per_class"].items()],
             "", "## Limits", "",
             "Labels are arborists' inspection records (landing/trees/inspections, Roloff class as "
             "recorded, 'dead' counted as VS3) matched to detected trees; on a simulated city these records "
             "are the simulator's, so its figures are simulated figures. Trees unlike the inspected ones "
             "(species, region) are scored with less confidence; an arborist's inspection confirms any "
             "VS2-VS3 call before work is ordered."]
    card = {"model": "tree_vitality", "version": version, "data": data, "features": FEATURES, "classes": CLASSES,
            "config": CONFIG, "metrics": metrics}
    return "\n".join(lines) + "\n", json.dumps(card, indent=2, default=float)
