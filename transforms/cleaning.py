"""Generic silver steps: keep the latest version of each natural key, drop lineage noise."""

from __future__ import annotations

import polars as pl


def latest_per_key(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One row per natural key: the one ingested last (ties broken by delivery name, then row)."""
    order = [c for c in ("_ingested_at", "_delivery", "_row_number") if c in df.columns]
    if order:
        df = df.sort(order, descending=True, nulls_last=True)
    return df.unique(subset=keys, keep="first", maintain_order=True)


def conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Select and cast exactly the declared silver columns, in order."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing} for the declared schema {list(schema)}")
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])
