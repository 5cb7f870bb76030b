"""Decorators that turn a plain `Lake -> polars.DataFrame` function into a silver or gold asset.

Silver tables are upserted with Delta MERGE on their natural key (idempotent re-runs), and rows no
delivery holds any more (a replaced delivery's withdrawn rows) are deleted in the same commit; gold marts
are recomputed whole and overwritten. Both report row count, schema and a preview, and take a pool
of size 1 per Delta table so two runs never commit to the same table at once. Declarative
automation (`AutomationCondition.eager()`) is applied once to every spec in
orchestration/definitions.py (`with_automation`), not written here.
"""


import time
from typing import Callable

import dagster as dg
import polars as pl

from .communes import placed
from .lake import Lake, LakeResource, table_metadata

# OWNERS and the gold declaration live in assets/catalog.py (kept importable from here)
from .catalog import CONTRACT, OWNERS, gold_asset_args  # noqa: E402,F401


def bronze(table: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", table])


def silver_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["silver", table])


def gold_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["gold", table])


def silver(table: str, *, group: str, deps: list, keys: list[str], kinds: set[str] | None = None,
           contract: bool = False):
    """Declare a silver asset: `fn(lake) -> DataFrame` in the table's declared schema, merged on
    `keys`. The function's docstring is the asset's description. `contract`: the table gets a
    blocking `contract` check (written, not empty while its inputs have rows), as gold tables do."""

    def wrap(fn: Callable[[Lake], pl.DataFrame]) -> dg.AssetsDefinition:
        @dg.asset(key=silver_key(table), deps=deps, group_name=group, owners=OWNERS[group],
                  kinds=kinds or {"delta", "polars"}, description=(fn.__doc__ or table).strip(),
                  pool=f"delta:silver/{table}", tags={"layer": "silver"},
                  metadata={"delta_path": f"silver/{table}", "natural_key": keys, **({CONTRACT: True} if contract else {})})
        def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
            lk = lake.lake()
            t = time.perf_counter()
            df = fn(lk)
            # fn returns the table's whole current content (from all of bronze): rows a replaced
            # delivery withdrew are deleted in the same commit as the upsert
            stats = lk.merge("silver", table, df, keys, delete_missing=True)
            total = lk.read("silver", table)
            context.log.info(f"silver/{table}: {df.height} source rows merged on {keys}: {stats}")
            if int(stats.get("num_target_rows_deleted", 0) or 0):
                context.log.warning(f"silver/{table}: {stats['num_target_rows_deleted']} row(s) no longer in any "
                                    "delivery deleted (a delivery was replaced or withdrawn)")
            return dg.MaterializeResult(metadata=table_metadata(total, extra={
                "merged_source_rows": df.height,
                "inserted": int(stats.get("num_target_rows_inserted", 0) or 0),
                "updated": int(stats.get("num_target_rows_updated", 0) or 0),
                "deleted": int(stats.get("num_target_rows_deleted", 0) or 0),
                "seconds": round(time.perf_counter() - t, 2)}))

        _asset.__doc__ = fn.__doc__
        return _asset

    return wrap


def gold(table: str, *, group: str, deps: list, kinds: set[str] | None = None,
         plot: Callable[[pl.DataFrame], bytes] | None = None, may_be_empty: str = "",
         serving_sql: tuple[str, ...] = ()):
    """Declare a published gold mart: `fn(lake) -> DataFrame`, overwritten whole and published to
    the DuckDB schema named after its service group (the declaration: assets/catalog.py). The
    function's docstring is the table's description; `may_be_empty` says why an empty table can
    be right; `serving_sql` are idempotent statements run in the DuckDB file after the copy."""

    def wrap(fn: Callable[[Lake], pl.DataFrame]) -> dg.AssetsDefinition:
        desc = (fn.__doc__ or table).strip()

        @dg.asset(**gold_asset_args(table, group=group, deps=deps, kinds=kinds, description=desc,
                                    may_be_empty=may_be_empty, serving_sql=serving_sql))
        def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
            lk = lake.lake()
            t = time.perf_counter()
            df = placed(lk, table, fn(lk))   # the rows' commune, stored (assets/communes.py)
            lk.overwrite("gold", table, df)
            return dg.MaterializeResult(metadata=table_metadata(df, preview_rows=20, extra={
                "seconds": round(time.perf_counter() - t, 2)}))

        _asset.__doc__ = fn.__doc__
        return _asset

    return wrap


_GONE = {"GOLD_TABLES", "GoldTable", "SERVING_SQL", "serving_sql"}


def __getattr__(name: str):
    # the registries filled by imports are gone (issue 23): say where their job went
    if name in _GONE:
        raise ImportError(f"assets.layers.{name} is gone: a published table is declared once on its asset spec "
                          "(@gold(..., may_be_empty=..., serving_sql=...), or gold_spec / gold_asset_args from "
                          "assets/catalog.py); see docs/ARCHITECTURE.md, 'How to add a table'")
    raise AttributeError(f"module 'assets.layers' has no attribute {name!r}")
