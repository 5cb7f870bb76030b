"""The agglomeration's communes in the published marts: every mart carries `commune`, and one
DuckDB file per commune holds only that commune's rows (a commune's analysts connect to theirs
and see nothing else).

A row's commune is resolved once, at publication, from what the row says about where it is, in
this order: its own `commune` column; its `quartier` (silver/quartiers gives each quartier's
commune); its `segment_id` (street segment -> quartier); its `bin_id` (collection point ->
quartier). A row that says nothing of a place (a city-wide daily KPI, a DSP contract, a public
contract) has commune NULL: it is in the agglomeration file only, and the catalog of each commune
file lists the tables left out and why.
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from .lake import Lake


def slug(name: str) -> str:
    """`Théoule-sur-Mer` -> `theoule-sur-mer` (the commune file's name)."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in s).split())


@dataclass
class CommuneResolver:
    by_quartier: dict[str, str] = field(default_factory=dict)
    by_segment: dict[str, str] = field(default_factory=dict)
    by_bin: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_lake(cls, lake: Lake) -> "CommuneResolver":
        def read(table, cols):
            return lake.read("silver", table, columns=cols) if lake.exists("silver", table) else None

        q = read("quartiers", ["name", "commune"])
        byq = dict(q.drop_nulls().iter_rows()) if q is not None else {}
        seg = read("street_segments", ["segment_id", "quartier"])
        bins = read("collection_points", ["bin_id", "quartier"])
        return cls(byq, {s: byq.get(qq) for s, qq in seg.iter_rows()} if seg is not None else {},
                   {b: byq.get(qq) for b, qq in bins.iter_rows()} if bins is not None else {})

    @property
    def communes(self) -> list[str]:
        return sorted(set(self.by_quartier.values()))

    def add(self, df: pl.DataFrame) -> pl.DataFrame:
        """`df` with a `commune` column (kept where present, filled from quartier, segment, bin)."""
        parts = [pl.col("commune").cast(pl.Utf8)] if "commune" in df.columns else []
        for col, mapping in (("quartier", self.by_quartier), ("segment_id", self.by_segment), ("bin_id", self.by_bin)):
            if col in df.columns and df.schema[col] == pl.Utf8 and mapping:
                parts.append(pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.Utf8))
        expr = pl.coalesce(parts) if parts else pl.lit(None, pl.Utf8)
        return df.with_columns(expr.alias("commune"))


def publish_communes(agglomeration: str | Path, communes: list[str], out_dir: str | Path | None = None) -> dict:
    """One DuckDB file per commune beside the agglomeration file (`communes/<slug>.duckdb`): every
    published table that has rows placed in communes, filtered to that commune's rows (an empty
    table when it has none), plus the catalog. Each file is written under a temporary name and
    renamed over the old one. Returns {commune: {"path", "tables", "rows", "left_out"}}."""
    agglomeration = Path(agglomeration)
    out_dir = Path(out_dir) if out_dir else agglomeration.parent / "communes"
    out_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(agglomeration), read_only=True) as src:
        tables = src.execute("SELECT schema_name, table_name, description FROM main.lakehouse_catalog ORDER BY 1, 2").fetchall()
        placed, left_out = [], {}
        for schema, table, desc in tables:
            cols = [r[0] for r in src.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()]
            if "commune" not in cols:
                left_out[f"{schema}.{table}"] = "no commune column"
                continue
            n = src.execute(f'SELECT count(*), count(commune) FROM "{schema}"."{table}"').fetchone()
            if n[0] and not n[1]:
                left_out[f"{schema}.{table}"] = "no row is placed in a commune (agglomeration-wide figures)"
                continue
            placed.append((schema, table, desc))
    out = {}
    for commune in communes:
        path = out_dir / f"{slug(commune)}.duckdb"
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        rows = 0
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"ATTACH '{agglomeration.as_posix()}' AS agglo (READ_ONLY)")
            con.execute("CREATE TABLE main.lakehouse_catalog (schema_name VARCHAR, table_name VARCHAR, row_count BIGINT, "
                        "description VARCHAR, commune VARCHAR, note VARCHAR)")
            for schema, table, desc in placed:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM agglo."{schema}"."{table}" '
                            f'WHERE commune = ?', [commune])
                n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                rows += n
                con.execute("INSERT INTO main.lakehouse_catalog VALUES (?, ?, ?, ?, ?, NULL)",
                            [schema, table, n, desc, commune])
            for name, why in left_out.items():
                s, t = name.split(".", 1)
                con.execute("INSERT INTO main.lakehouse_catalog VALUES (?, ?, 0, NULL, ?, ?)",
                            [s, t, commune, f"not in a commune file: {why}"])
            con.execute("DETACH agglo")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
        out[commune] = {"path": str(path), "tables": len(placed), "rows": rows, "left_out": len(left_out)}
    return out
