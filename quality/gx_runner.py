"""Run a Great Expectations 1.x suite on a Polars frame (through pandas, GX's in-memory engine).

One ephemeral GX context per process; each validation gets its own in-memory batch. The
result is reduced to what an engineer needs: pass/fail per expectation, how many values failed
and a few of them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl


@lru_cache(maxsize=1)
def _datasource():
    import great_expectations as gx

    from great_expectations.data_context.types.base import (DataContextConfig, InMemoryStoreBackendDefaults,
                                                            ProgressBarsConfig)

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    # analytics off in the context's own config (these machines are offline; no environment
    # variable needed), and no metric progress bars flooding Dagster's logs
    ctx = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False)))
    return ctx.data_sources.add_pandas("lakehouse")


@dataclass
class Outcome:
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    rows: int = 0

    def summary(self) -> str:
        if self.success:
            return f"{self.evaluated} expectations passed on {self.rows} rows"
        return "; ".join(f"{f['expectation']}({f.get('column') or f.get('columns')}): "
                         f"{f.get('unexpected_count', '?')} unexpected, e.g. {f.get('examples')}"
                         for f in self.failed)


def to_pandas(df: pl.DataFrame):
    """Polars -> pandas keeping integers and booleans integral when they hold nulls (pandas'
    nullable dtypes), so a type expectation means the same with or without missing values."""
    import pandas as pd
    import pyarrow as pa

    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.uint32(): pd.UInt32Dtype(),
               pa.bool_(): pd.BooleanDtype()}
    return df.to_arrow().to_pandas(types_mapper=mapping.get)


def validate(df: pl.DataFrame, expectations: list, name: str = "table") -> Outcome:
    """Validate `df` against GX expectation objects; never raises for failing data."""
    import great_expectations as gx

    if not expectations:
        return Outcome(True, 0, rows=df.height)
    ds = _datasource()
    asset = ds.add_dataframe_asset(f"{name}-{uuid.uuid4().hex[:8]}")
    try:
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": to_pandas(df)})
        suite = gx.ExpectationSuite(name=f"{name}_suite", expectations=[e.copy() for e in expectations])
        res = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    finally:
        ds.delete_asset(asset.name)
    failed = []
    for r in res.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kw = cfg.kwargs
        failed.append({
            "expectation": cfg.type, "column": kw.get("column"), "columns": kw.get("column_list"),
            "unexpected_count": r.result.get("unexpected_count"),
            "observed": r.result.get("observed_value"),
            "examples": r.result.get("partial_unexpected_list"),
            "error": (r.exception_info or {}).get("exception_message") if r.exception_info else None,
        })
    return Outcome(bool(res.success), len(res.results), _json_safe(failed), rows=df.height)


def _json_safe(obj):
    """numpy scalars and timestamps in GX results -> plain JSON values (for Dagster metadata)."""
    import json

    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
