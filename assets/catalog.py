"""The one declaration path of a published (gold) table, and how the rest of the platform finds it.

A published table is declared once, on its asset spec, next to the transform that makes it:

- `@gold(table, group=..., deps=...)` (assets/layers.py) for a `fn(lake) -> DataFrame` mart, or
- `gold_spec(table, ...)` inside `@dg.multi_asset(specs=[...])`, or `**gold_asset_args(table, ...)`
  in `@dg.asset(...)` for a mart whose asset does more than return a frame (plots, exports, plans).

Each puts on the spec: the description (the DuckDB table comment), the DuckDB table
`<service schema>.<table>` (`duckdb_table`), why the table may rightly be empty
(`lakehouse/may_be_empty`), idempotent SQL to run in the DuckDB file after the marts are copied
(`lakehouse/serving_sql`), plus the group, owners, kinds, pool and layer tag every gold asset has.
The serving asset (assets/serving.py), the contract checks (quality/checks.py `contract_check`,
built in orchestration/definitions.py) and the `make run` summary all read these specs from the
asset graph (`published_tables(specs)`): no registry filled by imports. A silver table that must
not come out empty (a plan kept with its history) says so with `CONTRACT` in its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import dagster as dg

OWNERS = {"reference": ["team:data-platform"], "voirie": ["team:voirie"],
          "espaces_verts": ["team:espaces-verts"], "proprete": ["team:proprete"],
          "administration": ["team:administration"], "direction": ["team:direction"]}

DUCKDB_TABLE = "duckdb_table"              # "<schema>.<table>" in the serving file
MAY_BE_EMPTY = "lakehouse/may_be_empty"    # why an empty table can be right ("" = it cannot)
SERVING_SQL = "lakehouse/serving_sql"      # idempotent statements run after the marts are copied
CONTRACT = "lakehouse/contract"            # True on a non-gold table that gets a `contract` check
# tags of an asset the eager automation leaves alone (refreshed by the nightly job only)
NIGHTLY_ONLY = {"lakehouse/automation": "nightly"}


@dataclass(frozen=True)
class PublishedTable:
    """A gold table as the asset graph declares it."""

    table: str
    schema: str          # DuckDB schema it is published to (its service group)
    description: str
    may_be_empty: str = ""
    serving_sql: tuple[str, ...] = ()
    deps: tuple[dg.AssetKey, ...] = ()


def gold_metadata(table: str, group: str, *, may_be_empty: str = "", serving_sql: Iterable[str] = (),
                  extra: dict | None = None) -> dict:
    meta = {"delta_path": f"gold/{table}", DUCKDB_TABLE: f"{group}.{table}"}
    if may_be_empty:
        meta[MAY_BE_EMPTY] = may_be_empty
    if serving_sql:
        meta[SERVING_SQL] = dg.MetadataValue.json(list(serving_sql))
    return {**meta, **(extra or {})}


def gold_spec(table: str, *, group: str, description: str, deps: list, kinds: set[str] | None = None,
              may_be_empty: str = "", serving_sql: Iterable[str] = (), metadata: dict | None = None) -> dg.AssetSpec:
    """The spec of a published table, for `@dg.multi_asset(specs=[...])`."""
    return dg.AssetSpec(["gold", table], deps=deps, group_name=group, owners=OWNERS[group],
                        kinds=kinds or {"delta", "polars"}, description=description, tags={"layer": "gold"},
                        metadata=gold_metadata(table, group, may_be_empty=may_be_empty, serving_sql=serving_sql,
                                               extra=metadata))


def gold_asset_args(table: str, *, group: str, description: str, deps: list, kinds: set[str] | None = None,
                    may_be_empty: str = "", serving_sql: Iterable[str] = (), metadata: dict | None = None) -> dict:
    """Keyword arguments of `@dg.asset(**gold_asset_args(...))` for a published table."""
    return dict(key=["gold", table], deps=deps, group_name=group, owners=OWNERS[group],
                kinds=kinds or {"delta", "polars"}, description=description, pool=f"delta:gold/{table}",
                tags={"layer": "gold"}, metadata=gold_metadata(table, group, may_be_empty=may_be_empty,
                                                               serving_sql=serving_sql, extra=metadata))


def _value(v):
    return getattr(v, "value", v)


def published_tables(specs: Iterable[dg.AssetSpec]) -> dict[str, PublishedTable]:
    """Every gold table declared in `specs` (e.g. `defs.resolve_all_asset_specs()`), by table name."""
    out: dict[str, PublishedTable] = {}
    for spec in specs:
        meta = spec.metadata or {}
        if spec.key.path[0] != "gold" or DUCKDB_TABLE not in meta:
            continue
        schema, table = str(_value(meta[DUCKDB_TABLE])).split(".", 1)
        out[table] = PublishedTable(table, schema, spec.description or table,
                                    str(_value(meta.get(MAY_BE_EMPTY, "")) or ""),
                                    tuple(_value(meta.get(SERVING_SQL)) or ()),
                                    tuple(d.asset_key for d in spec.deps))
    return dict(sorted(out.items()))


def contract_tables(specs: Iterable[dg.AssetSpec]) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(layer, table, may_be_empty, lake inputs) of every table that gets a blocking `contract`
    check: every published table and every spec marked `CONTRACT`. Inputs are the silver/gold
    tables it is computed from (bronze and the quarantine log are deliveries, not inputs)."""
    out = []
    for spec in specs:
        meta = spec.metadata or {}
        if not ((spec.key.path[0] == "gold" and DUCKDB_TABLE in meta) or _value(meta.get(CONTRACT))):
            continue
        inputs = sorted({(d.asset_key.path[0], d.asset_key.path[1]) for d in spec.deps
                         if len(d.asset_key.path) == 2 and d.asset_key.path[0] in ("silver", "gold")})
        out.append((spec.key.path[0], spec.key.path[1], str(_value(meta.get(MAY_BE_EMPTY, "")) or ""), inputs))
    return sorted(out, key=lambda r: (r[0], r[1]))
