"""The agglomeration's communes in the gold tables and the published marts.

Where a row is, is stored: the silver reference tables carry `commune` (derived once, from the
commune of each quartier's polygon: transforms/reference.py `with_commune`), and every gold table
that has a place is written with a `commune` column (`placed`, called by every gold write:
its own `commune` carried from silver, else its quartier's, segment's or bin's, through the silver
reference tables). Publishing a commune's file is then a plain filter on that stored column.

Tables with no place are listed in :data:`AGGLOMERATION_WIDE` with the reason; they have no
`commune` column and are in the agglomeration file only (each commune file's catalog names them
and why). A row of a placed table that lies across communes (a truck's trip, a zone spanning two)
has commune NULL: in the agglomeration file only.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import duckdb
import polars as pl

from transforms import territory as TT

from .lake import Lake
from .storage import replaced_atomically

#: gold tables with no place, and why: in the agglomeration file only
AGGLOMERATION_WIDE: dict[str, str] = {
    "data_quarantine": "deliveries and rows set aside, before anything in them was placed",
    "collection_routes": "a truck's trip may cross communes (one fleet plans the agglomeration's collection); "
                         "its stops (proprete.collection_stops) carry each bin's commune",
    "collection_kpis": "the plan's totals for the whole fleet (one plan across communes)",
    "document_index": "the administration's documents (contracts, minutes), not places",
    "meeting_actions": "actions from council and service meetings, not places",
    "letter_translations": "translations of the letters, kept with the log of the translation requests",
    "ai_audit": "the audit log of generative-AI calls",
}


def slug(name: str) -> str:
    """`Théoule-sur-Mer` -> `theoule-sur-mer` (the commune file's name)."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in s).split())


def _silver(lake: Lake, table: str, cols: list[str]) -> pl.DataFrame | None:
    if not lake.exists("silver", table):
        return None
    df = lake.read("silver", table)
    return df.select([c for c in cols if c in df.columns])


def placed(lake: Lake, table: str, df: pl.DataFrame) -> pl.DataFrame:
    """The gold frame `df` of `table` as it is stored: with its rows' `commune` (transforms/territory.py
    `place_commune` over the silver reference tables), unless the table is agglomeration-wide."""
    if table in AGGLOMERATION_WIDE and not TT.has_place(df):
        return df
    decp = "buyer_siret" in df.columns or "contract_uid" in df.columns
    return TT.place_commune(df, _silver(lake, "quartiers", ["name", "commune"]),
                            _silver(lake, "street_segments", ["segment_id", "commune", "quartier"]),
                            _silver(lake, "collection_points", ["bin_id", "commune", "quartier"]),
                            dsp_contracts=_silver(lake, "dsp_contracts", ["contract_id", "commune"])
                            if "contract_id" in df.columns and not decp else None,
                            procurement=_silver(lake, "procurement_contracts", ["contract_uid", "buyer_siret"])
                            if decp else None,
                            buyers=_silver(lake, "procurement_buyers", ["siret", "commune"]) if decp else None)


def communes_of(lake: Lake) -> list[str]:
    """The communes of the reference quartiers (one DuckDB file each)."""
    q = _silver(lake, "quartiers", ["commune"])
    return sorted(q["commune"].drop_nulls().unique().to_list()) if q is not None and "commune" in q.columns else []


def publish_communes(agglomeration: str | Path, communes: list[str], out_dir: str | Path | None = None) -> dict:
    """One DuckDB file per commune beside the agglomeration file (`communes/<slug>.duckdb`): every
    published table with a stored `commune` column, filtered to that commune's rows (an empty
    table when it has none), plus the catalog naming the tables left out (agglomeration-wide). Each file is written under a temporary name and
    renamed over the old one. Returns {commune: {"path", "tables", "rows", "left_out"}}."""
    agglomeration = Path(agglomeration)
    out_dir = Path(out_dir) if out_dir else agglomeration.parent / "communes"
    out_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(agglomeration), read_only=True) as src:
        tables = src.execute("SELECT schema_name, table_name, description FROM main.lakehouse_catalog ORDER BY 1, 2").fetchall()
        kept, left_out = [], {}
        for schema, table, desc in tables:
            cols = [r[0] for r in src.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()]
            if "commune" not in cols:
                left_out[f"{schema}.{table}"] = "agglomeration-wide: " + AGGLOMERATION_WIDE.get(
                    table, "no commune column (not listed in assets/communes.py AGGLOMERATION_WIDE)")
                continue
            kept.append((schema, table, desc))
    out = {}
    for commune in communes:
        path = out_dir / f"{slug(commune)}.duckdb"
        rows = 0
        with replaced_atomically(path) as tmp, duckdb.connect(str(tmp)) as con:
            con.execute(f"ATTACH '{agglomeration.as_posix()}' AS agglo (READ_ONLY)")
            con.execute("CREATE TABLE main.lakehouse_catalog (schema_name VARCHAR, table_name VARCHAR, row_count BIGINT, "
                        "description VARCHAR, commune VARCHAR, note VARCHAR)")
            for schema, table, desc in kept:
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
        out[commune] = {"path": str(path), "tables": len(kept), "rows": rows, "left_out": len(left_out)}
    return out
