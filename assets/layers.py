"""Decorators that turn a plain `Lake -> polars.DataFrame` function into a silver or gold asset.

Silver tables are upserted with Delta MERGE on their natural key (idempotent re-runs), and rows no
delivery holds any more (a replaced delivery's withdrawn rows) are deleted in the same commit; gold marts
are recomputed whole and overwritten. Both follow their inputs with declarative automation
(`AutomationCondition.eager()`), report row count, schema and a preview, and take a pool of
size 1 per Delta table so two runs never commit to the same table at once.
"""


import time
from dataclasses import dataclass
from typing import Callable

import dagster as dg
import polars as pl

from .lake import Lake, LakeResource, table_metadata

OWNERS = {"reference": ["team:data-platform"], "voirie": ["team:voirie"],
          "espaces_verts": ["team:espaces-verts"], "proprete": ["team:proprete"],
          "administration": ["team:administration"], "direction": ["team:direction"],
          "relation_usagers": ["team:relation-usagers"]}


@dataclass(frozen=True)
class GoldTable:
    table: str
    schema: str        # DuckDB schema it is published to
    description: str
    may_be_empty: str = ""   # why an empty table can be right (its `contract` check then passes)


GOLD_TABLES: dict[str, GoldTable] = {}

# SQL run in the DuckDB serving file after the marts are copied in (macros, views over them),
# registered by service modules with `serving_sql(...)`; each statement must be idempotent.
SERVING_SQL: list[str] = []


def serving_sql(statement: str) -> None:
    if statement not in SERVING_SQL:
        SERVING_SQL.append(statement)


def bronze(table: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", table])


def silver_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["silver", table])


def gold_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["gold", table])


def silver(table: str, *, group: str, deps: list, keys: list[str], kinds: set[str] | None = None):
    """Declare a silver asset: `fn(lake) -> DataFrame` in the table's declared schema, merged on
    `keys`. The function's docstring is the asset's description."""

    def wrap(fn: Callable[[Lake], pl.DataFrame]) -> dg.AssetsDefinition:
        @dg.asset(key=silver_key(table), deps=deps, group_name=group, owners=OWNERS[group],
                  kinds=kinds or {"delta", "polars"}, description=(fn.__doc__ or table).strip(),
                  automation_condition=dg.AutomationCondition.eager(), pool=f"delta:silver/{table}",
                  tags={"layer": "silver"}, metadata={"delta_path": f"silver/{table}", "natural_key": keys})
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
         plot: Callable[[pl.DataFrame], bytes] | None = None, may_be_empty: str = ""):
    """Declare a gold mart: `fn(lake) -> DataFrame`, overwritten whole and published to the
    DuckDB schema named after its service group."""

    def wrap(fn: Callable[[Lake], pl.DataFrame]) -> dg.AssetsDefinition:
        desc = (fn.__doc__ or table).strip()
        GOLD_TABLES[table] = GoldTable(table, group, desc, may_be_empty)

        @dg.asset(key=gold_key(table), deps=deps, group_name=group, owners=OWNERS[group],
                  kinds=kinds or {"delta", "polars"}, description=desc,
                  automation_condition=dg.AutomationCondition.eager(), pool=f"delta:gold/{table}",
                  tags={"layer": "gold"},
                  metadata={"delta_path": f"gold/{table}", "duckdb_table": f"{group}.{table}"})
        def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
            lk = lake.lake()
            t = time.perf_counter()
            df = fn(lk)
            lk.overwrite("gold", table, df)
            return dg.MaterializeResult(metadata=table_metadata(df, preview_rows=20, extra={
                "seconds": round(time.perf_counter() - t, 2)}))

        _asset.__doc__ = fn.__doc__
        return _asset

    return wrap
