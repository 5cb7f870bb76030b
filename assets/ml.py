"""The model registry: versioned model artifacts beside the lake and one Delta table listing them.

Every trained model (road damage CNN, tree vitality model, bin fill forecaster...) is written to
`<lake>/ml/artifacts/<model>/<version>/` (weights, model card, metrics) and registered in the
Delta table `ml/model_registry` with its metrics and whether it is the promoted version. Scoring
assets load the promoted version and write that version next to every scored row, so a score is
always traceable to the model that made it.

A version is a content hash of what the model was trained from (data fingerprint + training
configuration + code version), so re-materialising the training asset on unchanged data finds
the existing version and does not retrain (idempotent). Plain Python; only `model_metadata`
builds Dagster metadata (imported there), so every materialisation of a model asset, trained now
or reused, shows the same things in the UI: version, metrics, where the model card is.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from .lake import Lake

REGISTRY_SCHEMA = {
    "model": pl.Utf8, "version": pl.Utf8, "trained_at": pl.Datetime("us", "UTC"), "promoted": pl.Boolean,
    "artifact_path": pl.Utf8, "metrics_json": pl.Utf8, "training_rows": pl.Int64, "notes": pl.Utf8,
}


def fingerprint(*parts) -> str:
    """A short stable hash of anything JSON-serialisable (data fingerprints, configs, code versions)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


def frame_fingerprint(df: pl.DataFrame) -> str:
    """A content hash of a data frame (row order independent)."""
    if df.is_empty():
        return "empty"
    return f"{int(df.hash_rows(seed=7).sum()) & 0xFFFFFFFFFFFF:012x}-{df.height}"


def artifact_rel(model: str, version: str) -> str:
    return f"ml/artifacts/{model}/{version}"


def artifact_dir(lake: Lake, model: str, version: str) -> Path:
    """A local folder with one model version's files (created): the folder in the lake on local
    disk, a cached download on an object store; `register` uploads what was written there."""
    return lake.files.pull_dir(artifact_rel(model, version))


def registry(lake: Lake) -> pl.DataFrame:
    return lake.read_or_empty("ml", "model_registry", REGISTRY_SCHEMA)


def find(lake: Lake, model: str, version: str) -> dict | None:
    r = registry(lake).filter((pl.col("model") == model) & (pl.col("version") == version))
    return r.row(0, named=True) if r.height else None


def register(lake: Lake, model: str, version: str, *, metrics: dict, training_rows: int,
             promote: bool = True, notes: str = "") -> dict:
    """Record a trained version (idempotent on (model, version)); with `promote`, it becomes the
    one scoring assets use and every other version of the model is demoted."""
    artifact_dir(lake, model, version)
    lake.files.push_dir(artifact_rel(model, version))   # the weights land before the row naming them
    path = lake.files.uri(artifact_rel(model, version))
    row = {"model": model, "version": version, "trained_at": datetime.now(timezone.utc), "promoted": promote,
           "artifact_path": path, "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
           "training_rows": int(training_rows), "notes": notes}
    mine = registry(lake).filter(pl.col("model") == model)
    old = mine.filter(pl.col("version") == version)
    if old.height:
        row["trained_at"] = old["trained_at"][0]
    if promote:
        mine = mine.with_columns(pl.lit(False).alias("promoted"))
    rows = pl.concat([mine.filter(pl.col("version") != version), pl.DataFrame([row], schema=REGISTRY_SCHEMA)])
    # MERGE touches only this model's rows, so two services registering at once do not collide
    lake.merge("ml", "model_registry", rows, ["model", "version"])
    return row


MODEL_CARD_NAMES = ("model_card.md", "MODEL_CARD.md", "README.md")


def model_card_path(folder: str | Path) -> Path | None:
    """The model card (Markdown) in a version's artifact folder, whatever the service named it."""
    for name in MODEL_CARD_NAMES:
        p = Path(folder) / name
        if p.exists():
            return p
    return None


def _flat_metrics(metrics: dict, prefix: str = "", depth: int = 0) -> dict[str, float]:
    """Numeric leaves of a metrics dict as `a/b` -> float (two levels), for the UI's plots."""
    out: dict[str, float] = {}
    for k, v in (metrics or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and v == v:
            out[key] = float(v)
        elif isinstance(v, dict) and depth < 1:
            out.update(_flat_metrics(v, f"{key}/", depth + 1))
    return out


def model_metadata(lake: Lake, model: str, version: str | None = None, *, trained_now: bool,
                   extra: dict | None = None) -> dict:
    """Dagster metadata for a model asset's materialisation, from the registry (so a reused
    version shows exactly what its training run showed): version, trained now or reused,
    promoted, trained_at, training rows, every metric (as JSON and numeric leaves as
    `metric/<name>` entries), the artifact folder and the model card (path and text). `version`
    defaults to the promoted one (version "none" when nothing is promoted yet). Raises
    LookupError when the model has no such version."""
    import dagster as dg

    if version is None:
        r = registry(lake).filter((pl.col("model") == model) & pl.col("promoted"))
        if r.is_empty():   # nothing trained yet (e.g. no labels): say so rather than show nothing
            return {"version": "none", "trained_now": False, "metrics": dg.MetadataValue.json({}),
                    "model_card_path": "missing", **(extra or {})}
        version = r["version"][0]
    row = find(lake, model, version)
    if row is None:
        raise LookupError(f"model {model!r} has no version {version!r} in ml/model_registry")
    metrics = json.loads(row["metrics_json"] or "{}")
    card = model_card_path(artifact_dir(lake, model, version))
    meta: dict = {
        "version": row["version"], "trained_now": bool(trained_now), "promoted": bool(row["promoted"]),
        "trained_at": str(row["trained_at"]), "training_rows": int(row["training_rows"] or 0),
        "metrics": dg.MetadataValue.json(metrics),
        "artifact": dg.MetadataValue.path(str(row["artifact_path"])),
        "model_card_path": dg.MetadataValue.path(str(card)) if card else "missing",
    }
    meta.update({f"metric/{k}": v for k, v in _flat_metrics(metrics).items()})
    if card:
        meta["model_card"] = dg.MetadataValue.md(card.read_text()[:20000])
    meta.update(extra or {})
    return meta


def promoted(lake: Lake, model: str) -> dict:
    """The promoted version of `model` (its registry row); a clear error when none is."""
    r = registry(lake).filter((pl.col("model") == model) & pl.col("promoted"))
    if r.is_empty():
        raise LookupError(f"no promoted version of model {model!r} in ml/model_registry: materialise its "
                          f"training asset first")
    return r.row(0, named=True)
