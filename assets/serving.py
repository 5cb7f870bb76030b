"""Serving: publish every gold mart into one DuckDB file for BI tools, one schema per service,
atomically (a new file is written beside the old one, then renamed over it, so a BI tool that
holds the old file open keeps reading a consistent one). Also: a DuckDB connection that reads
the Delta tables in place through DuckDB's delta extension, loaded from its file on disk."""


import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb

from transforms.columns import describe

from .catalog import PublishedTable, published_tables
from .communes import communes_of, publish_communes
from .lake import Lake, LakeResource
from .storage import replaced_atomically

SCHEMAS = ("voirie", "espaces_verts", "proprete", "administration", "direction", "relation_usagers")


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


def publish(lake: Lake, path: str | Path, tables: dict[str, PublishedTable | str]) -> dict[str, int]:
    """Write the gold `tables` (as declared on their specs, `assets.catalog.published_tables`;
    a bare DuckDB schema name is accepted for a table without a description) into a new DuckDB
    file, run their serving SQL, and rename the file over `path`. Returns row counts by
    `schema.table`."""
    tables = {t: g if isinstance(g, PublishedTable) else PublishedTable(t, g, "") for t, g in tables.items()}
    counts: dict[str, int] = {}
    now = datetime.now(timezone.utc)
    with replaced_atomically(path) as tmp, duckdb.connect(str(tmp)) as con:
        for schema in dict.fromkeys([*SCHEMAS, *(d.schema for d in tables.values())]):   # a new service's too
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute("CREATE TABLE main.lakehouse_catalog (schema_name VARCHAR, table_name VARCHAR, "
                    "row_count BIGINT, description VARCHAR, delta_path VARCHAR, published_at TIMESTAMPTZ)")
        for table, decl in sorted(tables.items()):
            schema = decl.schema
            dt = lake.table("gold", table)
            if dt is None:
                continue
            arrow = dt.to_pyarrow_table()   # `commune` is stored in gold (assets/communes.py `placed`)
            con.register("_src", arrow)
            con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM _src')
            con.unregister("_src")
            desc = decl.description
            comment = desc.replace("'", "''")
            con.execute(f'COMMENT ON TABLE "{schema}"."{table}" IS \'{comment}\'')
            for col in arrow.column_names:
                doc = describe(col).replace("'", "''")
                if doc:
                    con.execute(f'COMMENT ON COLUMN "{schema}"."{table}"."{col}" IS \'{doc}\'')
            con.execute("INSERT INTO main.lakehouse_catalog VALUES (?, ?, ?, ?, ?, ?)",
                        [schema, table, arrow.num_rows, desc, lake.uri("gold", table), now])
            counts[f"{schema}.{table}"] = arrow.num_rows
        for statement in dict.fromkeys(q for _, d in sorted(tables.items()) for q in d.serving_sql):
            con.execute(statement)
        con.execute("CHECKPOINT")
    return counts


class ServingResource(dg.ConfigurableResource):
    """Where the DuckDB file for BI tools is written (the control reports go beside it), and the
    optional chat endpoint drafting the reports' narrative (orchestration/settings.py: LLM_*;
    the API key is handed over as an `EnvVar`, so run config never shows it)."""

    path: str
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0

    def llm_endpoint(self) -> dict | None:
        if not self.llm_base_url or not self.llm_model:
            return None
        return {"base_url": self.llm_base_url.rstrip("/"), "model": self.llm_model, "api_key": self.llm_api_key,
                "timeout": self.llm_timeout_s}


def serving_asset(tables: dict[str, PublishedTable]) -> dg.AssetsDefinition:
    """The DuckDB publication asset over `tables`: the published tables of the asset graph
    (`published_tables(specs)`, built in orchestration/definitions.py), its dependencies too."""
    tables = dict(sorted(tables.items()))

    @dg.asset(
        key=["serving", "cannes_duckdb"], deps=[dg.AssetKey(["gold", t]) for t in tables],
        group_name="serving", kinds={"duckdb"}, owners=["team:data-platform"],
        description="Every gold mart published into the DuckDB file BI tools open (SERVING_PATH), one "
                    "schema per service, swapped in atomically.",
        pool="duckdb:serving",
    )
    def cannes_duckdb(context: dg.AssetExecutionContext, lake: LakeResource,
                      serving: ServingResource) -> dg.MaterializeResult:
        t = time.perf_counter()
        counts = publish(lake.lake(), serving.path, tables)
        # one file per commune beside it, holding only that commune's rows (assets/communes.py)
        communes = publish_communes(serving.path, communes_of(lake.lake()))
        table = "| table | rows |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in counts.items())
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(serving.path), "tables": len(counts),
            "dagster/row_count": sum(counts.values()), "tables_published": dg.MetadataValue.md(table),
            "commune_files": dg.MetadataValue.json(communes), "seconds": round(time.perf_counter() - t, 2)})

    return cannes_duckdb


def serving_asset_for(assets: list) -> dg.AssetsDefinition:
    """`serving_asset` over the published tables among `assets` (AssetsDefinitions)."""
    return serving_asset(published_tables(spec for a in assets for spec in getattr(a, "specs", [])))


def delta_connection(lake_root: str, con: duckdb.DuckDBPyConnection | None = None,
                     storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the delta extension loaded and one view per Delta
    table found under `lake_root` (local or s3://, see assets/storage.py): `<layer>_<table>`
    (e.g. silver_collection_events) and `quarantine`. Reads the live tables, no copy."""
    from .storage import attach_lake_views

    con = con or duckdb.connect()
    attach_lake_views(con, lake_root, storage_options)
    return con
