"""Vitality labels from arborists' inspection records (silver ``tree_inspections``), matched to
the trees of the LiDAR twin.

* **Which scan**: an inspection labels the latest scan epoch of its year or before (epochs are
  named by year, e.g. ``2025``); an inspection older than every scan labels the first one.
* **Which tree**: by ``tree_id`` when the record carries an id of the twin (an inspection plan
  filled in on site), otherwise by position: a one-to-one, gated nearest match
  (:func:`models.trees.matching.match_points`, :data:`GATE_M`) against the trees standing in
  that scan. Records further than the gate from every tree are left out (and counted).
* **Which class**: Roloff VS0-VS3 as recorded; ``dead`` counts as VS3, the most severe class the
  model predicts. When a tree and scan has several records, the latest inspection wins.

No file system, no simulator: frames in, frames out.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .health import CLASSES, FEATURES
from .matching import match_points

#: metres between an inspection's position and a detected stem/crown top still taken as one tree
GATE_M = 3.0
#: fewer matched records than this, or a single class: the vitality model is not trained
MIN_TRAINING_RECORDS = 30
MIN_CLASSES = 2


def _epoch_of(day, epochs: list[str]) -> str:
    years = [(int(e), e) for e in epochs if e.isdigit()]
    if not years or day is None:
        return epochs[-1]
    before = [e for y, e in years if y <= day.year]
    return before[-1] if before else years[0][1]


def labels_from_inspections(twin: pl.DataFrame, inspections: pl.DataFrame,
                            gate_m: float = GATE_M) -> tuple[pl.DataFrame, dict]:
    """(labelled rows: tree_id, epoch, label 0-3, matched_by, inspection_id, FEATURES; counts)."""
    empty = pl.DataFrame(schema={"tree_id": pl.Utf8, "epoch": pl.Utf8, "label": pl.Int64, "matched_by": pl.Utf8,
                                 "inspection_id": pl.Utf8, **{f: pl.Float64 for f in FEATURES}})
    info = {"records": inspections.height, "matched_by_tree_id": 0, "matched_by_position": 0, "unmatched": 0,
            "gate_m": gate_m}
    if inspections.is_empty() or twin.is_empty():
        info["unmatched"] = inspections.height
        return empty, info
    standing = twin.filter(pl.col("status") != "felled")
    epochs = sorted(standing["epoch"].unique().to_list())
    ins = inspections.with_columns(
        pl.Series("epoch", [_epoch_of(d, epochs) for d in inspections["inspection_date"].to_list()], pl.Utf8),
        pl.col("vitality").replace({"dead": "VS3"}).alias("_cls"))
    known = set(standing["tree_id"].to_list())
    by_id = ins.filter(pl.col("tree_id").is_in(list(known)))
    pairs = [by_id.select("inspection_id", "inspection_date", "_cls", "epoch", "tree_id",
                          pl.lit("tree_id").alias("matched_by"))]
    rest = ins.filter(~pl.col("tree_id").is_in(list(known)) | pl.col("tree_id").is_null())
    rest = rest.filter(pl.col("x_2154").is_not_null() & pl.col("y_2154").is_not_null())
    for ep in epochs:
        a = rest.filter(pl.col("epoch") == ep)
        b = standing.filter(pl.col("epoch") == ep)
        if a.is_empty() or b.is_empty():
            continue
        i, j, _ = match_points(a["x_2154"].to_numpy(), a["y_2154"].to_numpy(), b["x_2154"].to_numpy(),
                               b["y_2154"].to_numpy(), gate_m)
        pairs.append(a[i].select("inspection_id", "inspection_date", "_cls", "epoch").with_columns(
            pl.Series("tree_id", b["tree_id"].to_numpy()[j], pl.Utf8), pl.lit("position").alias("matched_by")))
    m = pl.concat(pairs)
    info["matched_by_tree_id"] = int((m["matched_by"] == "tree_id").sum())
    info["matched_by_position"] = int((m["matched_by"] == "position").sum())
    info["unmatched"] = inspections.height - m.height
    m = m.sort("inspection_date", "inspection_id", descending=True).unique(["tree_id", "epoch"], keep="first")
    out = m.join(standing, on=["tree_id", "epoch"], how="inner").with_columns(
        pl.col("_cls").replace_strict({c: k for k, c in enumerate(CLASSES)}, return_dtype=pl.Int64).alias("label"))
    out = out.select("tree_id", "epoch", "label", "matched_by", "inspection_id",
                     *[pl.col(f).cast(pl.Float64) for f in FEATURES]).sort("tree_id", "epoch")
    info["labelled_rows"] = out.height
    info["label_counts"] = {CLASSES[k]: int((out["label"] == k).sum()) for k in range(len(CLASSES))}
    return out, info


def training_refusal(labelled: pl.DataFrame) -> str | None:
    """Why the vitality model must not be trained on these rows, or None when it may."""
    if labelled.height < MIN_TRAINING_RECORDS:
        return (f"too few inspection records matched to detected trees: {labelled.height} < "
                f"{MIN_TRAINING_RECORDS} (minimum to train the vitality model)")
    n_classes = labelled["label"].n_unique()
    if n_classes < MIN_CLASSES:
        return f"inspection records hold a single vitality class ({CLASSES[labelled['label'][0]]}): nothing to learn"
    return None
