"""Serving: publish every gold mart into one DuckDB file for BI tools, one schema per service,
atomically (a new file is written beside the old one, then renamed over it, so a BI tool that
holds the old file open keeps reading a consistent one). Also: a DuckDB connection that reads
the Delta tables in place through DuckDB's delta extension, loaded from its file on disk."""


import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb

# the service modules register their gold tables (and serving SQL) when imported: import them
# all before the serving asset below takes its dependencies from the registry
from . import admin, direction, procurement, reference, roads, trees, waste  # noqa: F401,E402
from transforms.columns import describe

from .lake import Lake, LakeResource
from .layers import GOLD_TABLES, SERVING_SQL, gold_key

SCHEMAS = ("voirie", "espaces_verts", "proprete", "administration", "direction")


def delta_extension_path() -> Path:
    """The delta extension shipped by the duckdb-extension-delta wheel for this DuckDB version
    (DuckDB cannot download extensions on these machines)."""
    import duckdb_extension_delta

    base = Path(duckdb_extension_delta.__file__).parent / "extensions"
    found = sorted(base.glob(f"v{duckdb.__version__}/delta.duckdb_extension")) or sorted(
        base.glob("*/delta.duckdb_extension"))
    if not found:
        raise FileNotFoundError(f"no delta.duckdb_extension under {base}: install duckdb-extension-delta "
                                f"=={duckdb.__version__}")
    return found[0]


def load_delta(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"LOAD '{delta_extension_path()}'")


def publish(lake: Lake, path: str | Path, tables: dict | None = None) -> dict[str, int]:
    """Write every gold table into a new DuckDB file and rename it over `path`. Returns row
    counts by `schema.table`."""
    tables = tables if tables is not None else {t: g.schema for t, g in GOLD_TABLES.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    counts: dict[str, int] = {}
    now = datetime.now(timezone.utc)
    con = duckdb.connect(str(tmp))
    try:
        for schema in SCHEMAS:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute("CREATE TABLE main.lakehouse_catalog (schema_name VARCHAR, table_name VARCHAR, "
                    "row_count BIGINT, description VARCHAR, delta_path VARCHAR, published_at TIMESTAMPTZ)")
        for table, schema in sorted(tables.items()):
            dt = lake.table("gold", table)
            if dt is None:
                continue
            arrow = dt.to_pyarrow_table()
            con.register("_src", arrow)
            con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM _src')
            con.unregister("_src")
            desc = GOLD_TABLES[table].description if table in GOLD_TABLES else ""
            comment = desc.replace("'", "''")
            con.execute(f'COMMENT ON TABLE "{schema}"."{table}" IS \'{comment}\'')
            for col in arrow.column_names:
                doc = describe(col).replace("'", "''")
                if doc:
                    con.execute(f'COMMENT ON COLUMN "{schema}"."{table}"."{col}" IS \'{doc}\'')
            con.execute("INSERT INTO main.lakehouse_catalog VALUES (?, ?, ?, ?, ?, ?)",
                        [schema, table, arrow.num_rows, desc, lake.uri("gold", table), now])
            counts[f"{schema}.{table}"] = arrow.num_rows
        for statement in SERVING_SQL:
            con.execute(statement)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    return counts


class ServingResource(dg.ConfigurableResource):
    """Where the DuckDB file for BI tools is written."""

    path: str


@dg.asset(
    key=["serving", "cannes_duckdb"],
    deps=[gold_key(t) for t in GOLD_TABLES],
    group_name="serving", kinds={"duckdb"}, owners=["team:data-platform"],
    description="Every gold mart published into the DuckDB file BI tools open (SERVING_PATH), one "
                "schema per service, swapped in atomically.",
    automation_condition=dg.AutomationCondition.eager(), pool="duckdb:serving",
)
def cannes_duckdb(context: dg.AssetExecutionContext, lake: LakeResource, serving: ServingResource) -> dg.MaterializeResult:
    t = time.perf_counter()
    counts = publish(lake.lake(), serving.path)
    table = "| table | rows |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(serving.path), "tables": len(counts),
        "dagster/row_count": sum(counts.values()), "tables_published": dg.MetadataValue.md(table),
        "seconds": round(time.perf_counter() - t, 2)})



def delta_connection(lake_root: str, con: duckdb.DuckDBPyConnection | None = None,
                     storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the delta extension loaded and one view per Delta
    table found under `lake_root` (local or s3://, see assets/storage.py): `<layer>_<table>`
    (e.g. silver_collection_events) and `quarantine`. Reads the live tables, no copy."""
    from .storage import attach_lake_views

    con = con or duckdb.connect()
    attach_lake_views(con, lake_root, storage_options)
    return con
