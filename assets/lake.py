"""The lake: Delta tables addressed as `<layer>/<table>` under LAKE_URI, read and written with
delta-rs (`deltalake`) and Polars, plus the quarantine table every ingestion writes to.

`Lake` is plain Python (usable from tests, benches and the CLI); `LakeResource` hands one to
Dagster assets and sensors.
"""


import hashlib
import json
import os
import shutil
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

LINEAGE = ["_delivery", "_source_file", "_checksum", "_ingested_at", "_run_id"]

QUARANTINE_SCHEMA = {
    "quarantine_id": pl.Utf8, "source": pl.Utf8, "delivery": pl.Utf8, "item": pl.Utf8,
    "row_number": pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8, "original_path": pl.Utf8,
    "quarantined_path": pl.Utf8, "checksum": pl.Utf8, "quarantined_at": pl.Datetime("us", "UTC"),
    "run_id": pl.Utf8,
}


def _sql_str(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


class Lake:
    """Delta tables under one root URI (a local path or s3://...)."""

    def __init__(self, root: str, storage_options: dict | None = None):
        self.root = root.rstrip("/")
        self.storage_options = storage_options or None
        self._files = None

    @property
    def files(self):
        """The lake's other files (artifacts, rasters, exports, maps): assets/storage.py."""
        if self._files is None:
            from .storage import LakeFiles

            self._files = LakeFiles(self.root, self.storage_options)
        return self._files

    # -- addressing
    def uri(self, layer: str, table: str) -> str:
        return f"{self.root}/{layer}/{table}" if layer else f"{self.root}/{table}"

    def table(self, layer: str, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(layer, table), storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self, layer: str, table: str) -> bool:
        return self.table(layer, table) is not None

    # -- reads
    def read(self, layer: str, table: str, columns: list[str] | None = None,
             filters: list[tuple] | None = None) -> pl.DataFrame:
        """The whole table (or some columns / a pyarrow filter) as a Polars frame; a table that
        does not exist yet raises a FileNotFoundError naming it."""
        dt = self.table(layer, table)
        if dt is None:
            raise FileNotFoundError(f"Delta table {layer}/{table} does not exist yet under {self.root}: "
                                    "materialise its upstream asset first")
        return pl.from_arrow(dt.to_pyarrow_table(columns=columns, filters=filters))

    def read_or_empty(self, layer: str, table: str, schema: dict) -> pl.DataFrame:
        return self.read(layer, table) if self.exists(layer, table) else pl.DataFrame(schema=schema)

    def count(self, layer: str, table: str) -> int:
        dt = self.table(layer, table)
        if dt is None:
            return 0
        actions = pa.table(dt.get_add_actions(flatten=True))
        return int(pa.compute.sum(actions.column("num_records")).as_py() or 0)

    # -- writes
    def _retry(self, fn, attempts: int = 8):
        for i in range(attempts):
            try:
                return fn()
            except CommitFailedError:
                if i == attempts - 1:
                    raise
                time.sleep(0.2 * (i + 1))

    def overwrite(self, layer: str, table: str, df: pl.DataFrame) -> int:
        """Replace the table's content (and schema) in one commit."""
        data = df.to_arrow()
        self._retry(lambda: write_deltalake(self.uri(layer, table), data, mode="overwrite",
                                            schema_mode="overwrite", storage_options=self.storage_options))
        return df.height

    def append(self, layer: str, table: str, df: pl.DataFrame) -> int:
        """Add `df`'s rows in one commit (creates the table on first write). The caller guarantees
        the keys are new: an append never checks them (`merge` does, at the cost of a scan)."""
        data = df.to_arrow()
        self._retry(lambda: write_deltalake(self.uri(layer, table), data, mode="append",
                                            storage_options=self.storage_options))
        return df.height

    def replace_where(self, layer: str, table: str, df: pl.DataFrame, column: str, value: str | list[str]) -> int:
        """Replace the rows whose `column` equals `value` (or one of a list of values: a batch of
        deliveries) with `df`, in one commit (how a bronze delivery is re-ingested idempotently).
        Creates the table on first write."""
        data = df.to_arrow()
        uri = self.uri(layer, table)
        if not self.exists(layer, table):
            self._retry(lambda: write_deltalake(uri, data, mode="append", storage_options=self.storage_options))
            return df.height
        pred = (f"{column} = {_sql_str(value)}" if isinstance(value, str)
                else f"{column} IN ({', '.join(_sql_str(v) for v in value)})")
        self._retry(lambda: write_deltalake(uri, data, mode="overwrite", predicate=pred,
                                            storage_options=self.storage_options))
        return df.height

    def merge(self, layer: str, table: str, df: pl.DataFrame, keys: list[str],
              update: bool = True, delete_missing: bool = False) -> dict:
        """Upsert `df` on its natural key: matched rows updated, new rows inserted. Re-running
        with the same input changes nothing but the table version. With `delete_missing`, `df`
        is the table's whole current content: target rows whose key it no longer holds (a
        delivery replaced by a shorter or corrected one) are deleted in the same commit."""
        if df.is_empty() and self.exists(layer, table) and not delete_missing:
            return {"num_source_rows": 0}
        dups = df.group_by(keys).len().filter(pl.col("len") > 1)
        if dups.height:
            raise ValueError(f"merge into {layer}/{table}: {dups.height} duplicate key(s) in the source "
                             f"on {keys}, e.g. {dups.row(0, named=True)}")
        data = df.to_arrow()
        if not self.exists(layer, table):
            self._retry(lambda: write_deltalake(self.uri(layer, table), data, mode="append",
                                                storage_options=self.storage_options))
            return {"num_target_rows_inserted": df.height}
        pred = " AND ".join(f"t.{k} = s.{k}" for k in keys)

        def go():
            m = self.table(layer, table).merge(data, predicate=pred, source_alias="s", target_alias="t")
            if update:
                m = m.when_matched_update_all()
            m = m.when_not_matched_insert_all()
            if delete_missing:
                m = m.when_not_matched_by_source_delete()
            return m.execute()

        return self._retry(go)

    # -- quarantine
    def quarantine(self, rows: list[dict]) -> int:
        """Record quarantined items (insert-only merge on a content key, so re-runs add nothing)."""
        if not rows:
            return 0
        now = datetime.now(timezone.utc)
        recs = []
        for r in rows:
            rec = {k: r.get(k) for k in QUARANTINE_SCHEMA}
            rec["quarantined_at"] = rec["quarantined_at"] or now
            ident = "|".join(str(rec[k]) for k in ("source", "delivery", "item", "row_number", "reason"))
            rec["quarantine_id"] = hashlib.sha256(ident.encode()).hexdigest()[:24]
            recs.append(rec)
        df = pl.DataFrame(recs, schema=QUARANTINE_SCHEMA).unique("quarantine_id", keep="first")
        self.merge("", "quarantine", df, ["quarantine_id"], update=False)
        return df.height


def landing_relative(path: Path, landing_root: Path) -> Path:
    """`path` relative to the landing zone without following a symlink at its last component (a
    link is quarantined as the link, never as what it points to)."""
    return (Path(path).parent.resolve() / Path(path).name).relative_to(Path(landing_root).resolve())


def quarantine_destination(path: Path, landing_root: Path, quarantine_root: Path, source: str) -> Path:
    """Where `move_to_quarantine` will put `path`: quarantine/<source>/<relative path>, with a
    numeric suffix when an earlier, different file already sits there. Computed before the move so
    the reason row can be written first (a crash between the two leaves the reason recorded and
    the file still in the landing zone, and the next attempt moves it to the same place)."""
    path = Path(path)
    dest = quarantine_root / source / landing_relative(path, landing_root)
    if not (dest.exists() or dest.is_symlink()):
        return dest
    if _same_entry(path, dest):
        return dest
    stem, i = dest.name, 1
    while True:
        cand = dest.with_name(f"{stem}.{i}")
        if not (cand.exists() or cand.is_symlink()) or _same_entry(path, cand):
            return cand
        i += 1


def _same_entry(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return a.is_file() and b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def move_to_quarantine(path: Path, landing_root: Path, quarantine_root: Path, source: str,
                       dest: Path | None = None) -> Path:
    """Move a bad file (or a symlink, as the link itself) under quarantine/<source>/ keeping its
    relative path; never overwrite an earlier quarantined file (a suffix is added), never delete
    anything but a second copy of bytes already kept. Idempotent: a path already moved is not
    an error."""
    path = Path(path)
    dest = dest or quarantine_destination(path, landing_root, quarantine_root, source)
    if not (path.exists() or path.is_symlink()):
        return dest  # moved by an earlier attempt
    dest.parent.mkdir(parents=True, exist_ok=True)
    if (dest.exists() or dest.is_symlink()) and _same_entry(path, dest):
        path.unlink()  # the identical bytes are already kept in quarantine
        return dest
    shutil.move(str(path), str(dest))  # a rename on one file system; moves a symlink as the link
    return dest


def quarantine_root(landing_uri: str | Path) -> Path:
    """Where bad deliveries are moved: `<landing zone>/_quarantine/<source>/...`."""
    return Path(landing_uri) / "_quarantine"


@lru_cache(maxsize=32)
def open_lake(lake_uri: str, storage_options_json: str = "{}") -> Lake:
    """The one factory for a `Lake`: one object per (root, storage options), reused by every
    asset, sensor and command of the process."""
    return Lake(lake_uri, json.loads(storage_options_json or "{}"))


class LakeResource(dg.ConfigurableResource):
    """Where the Delta lake and the landing zone live, and the run settings assets need, all read
    once in orchestration/settings.py (`Settings.lake_resource()`)."""

    lake_uri: str
    landing_uri: str
    storage_options_json: str = "{}"
    city_profile: str = "demo"                    # CITY_PROFILE: sizes the solvers' work limits
    roads_repair_budget_eur: float | None = None  # ROADS_REPAIR_BUDGET_EUR
    roads_plan_date: str | None = None            # ROADS_PLAN_DATE (ISO date; None: the build's UTC date)
    pii_hash_key: str = ""                        # CANNES_PII_HASH_KEY (by reference: never shown in the UI)
    ingest_workers: int = 2                       # INGEST_WORKERS: parser processes per bronze run (batches)
    ingest_batch_files: int = 100                 # INGEST_BATCH_FILES: deliveries per run of a batched source

    def lake(self) -> Lake:
        return open_lake(self.lake_uri, self.storage_options_json or "{}")

    @property
    def landing(self) -> Path:
        return Path(self.landing_uri)

    @property
    def quarantine_root(self) -> Path:
        return quarantine_root(self.landing_uri)


def image_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline in the Dagster UI (markdown with a data URI)."""
    import base64

    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def table_metadata(df: pl.DataFrame, *, preview_rows: int = 10, extra: dict | None = None) -> dict:
    """Row count, column schema (each column described from transforms/columns.py) and a
    Markdown preview, the metadata every asset reports."""
    from transforms.columns import describe

    cols = [dg.TableColumn(name, str(dtype), description=describe(name) or None) for name, dtype in df.schema.items()]
    meta = {
        "dagster/row_count": df.height,
        "dagster/column_schema": dg.TableSchema(columns=cols),
        "preview": dg.MetadataValue.md(_markdown(df.head(preview_rows))),
    }
    meta.update(extra or {})
    return meta


def _markdown(df: pl.DataFrame) -> str:
    if df.width == 0:
        return "_empty_"
    shown = df.select(df.columns[:12])
    head = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * shown.width + "\n"
    rows = ["| " + " | ".join("" if v is None else str(v)[:40] for v in r) + " |" for r in shown.iter_rows()]
    return head + "\n".join(rows)
