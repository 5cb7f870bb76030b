"""Bronze: every delivery from the landing zone, as received, plus lineage.

One dynamically partitioned asset per source (a partition = a delivery: a file, or a survey
folder). Re-materialising a partition replaces that delivery's rows (idempotent). Bad files are
moved under `_quarantine/` and bad rows written to the `quarantine` table; the good rows land.
"""


import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from quality.checks import bronze_check
from transforms.parsing import BadDelivery, Parsed
from transforms.validation import ROW

from .lake import LINEAGE, Lake, LakeResource, move_to_quarantine, quarantine_destination, table_metadata
from .guard import run_limited
from .parse_pool import parse_files
from .layers import OWNERS
from .sources import SOURCES, Source

# Column types of the one-record-per-item sources (frames, tiles, documents).
RECORD_SCHEMAS: dict[str, dict] = {
    "road_surveys": {"survey_id": pl.Utf8, "file": pl.Utf8, "vehicle_id": pl.Utf8, "lat": pl.Float64,
                     "lon": pl.Float64, "heading_deg": pl.Float64, "captured_at": pl.Datetime("us", "UTC"),
                     "width": pl.Int64, "height": pl.Int64, "make": pl.Utf8, "model": pl.Utf8},
    "lidar_tiles": {"tile_id": pl.Utf8, "epoch": pl.Utf8, "point_count": pl.Int64, "point_format": pl.Int64,
                    "las_version": pl.Utf8, "crs_epsg": pl.Int64, "min_x": pl.Float64, "min_y": pl.Float64,
                    "max_x": pl.Float64, "max_y": pl.Float64, "min_z": pl.Float64, "max_z": pl.Float64,
                    "density_pts_m2": pl.Float64, "ground_points": pl.Int64, "vegetation_points": pl.Int64,
                    "building_points": pl.Int64, "noise_points": pl.Int64, "has_ground_class": pl.Boolean},
    "documents": {"file": pl.Utf8, "doc_format": pl.Utf8, "pages": pl.Int64, "n_chars": pl.Int64,
                  "n_words": pl.Int64, "title": pl.Utf8},
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Parsers that run in a child process under a budget (assets/guard.py): one delivery may use
# at most this many seconds and MB; a poison file is quarantined with "exceeded N s / N MB".
PARSE_BUDGETS: dict[str, tuple[str, float, int]] = {
    "lidar_tiles": ("transforms.parsing:parse_laz_tile", 120.0, 4096),
    "documents": ("transforms.parsing:parse_document", 60.0, 2048),
}


# A survey's frames decoded in a process pool from this many frames on (fewer: in the run's process)
PARALLEL_FRAMES = 200
FRAME_BUDGET = ("transforms.parsing:parse_survey_frame", 60.0, 2048)


def landing_refusal(source: Source, landing: Path, path: Path) -> str | None:
    """Why a delivery must not be read, or None: a symlink anywhere below the landing zone (the
    delivery itself, a folder on its way, a survey's manifest) or a path that resolves outside
    the landing zone. Decided from the links alone, without opening the target."""
    landing = Path(landing)
    try:
        rel = Path(path).relative_to(landing)
    except ValueError:
        return f"{path} is not under the landing zone {landing}: refused, not read"
    cur = landing
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            return (f"{rel.as_posix()}: symbolic link to {os.readlink(cur)!r} refused (a delivery must be a "
                    "regular file in the landing zone); not read")
    if source.folder_delivery and (Path(path) / "manifest.json").is_symlink():
        return f"{rel.as_posix()}/manifest.json: symbolic link refused; not read"
    if not Path(path).resolve().is_relative_to(landing.resolve()):
        return f"{rel.as_posix()}: resolves outside the landing zone ({Path(path).resolve()}); refused, not read"
    return None


def delivery_checksum(source: Source, path: Path, landing: Path | None = None) -> str:
    """Content hash of a delivery: the file's sha256, or a survey folder's manifest's sha256
    (the manifest lists every frame's sha256, so it stands for the folder). A symbolic link is
    never followed: its hash is that of the link's text."""
    path = Path(path)
    if path.is_symlink() or (source.folder_delivery and (path / "manifest.json").is_symlink()):
        link = path if path.is_symlink() else path / "manifest.json"
        return hashlib.sha256(b"symlink:" + os.readlink(link).encode()).hexdigest()
    if landing is not None and landing_refusal(source, landing, path):
        return hashlib.sha256(b"refused:" + str(path).encode()).hexdigest()
    return sha256_file(path / "manifest.json" if source.folder_delivery else path)


@dataclass
class IngestReport:
    source: str
    delivery: str
    status: str = "ingested"        # ingested | partial | quarantined | duplicate
    rows: int = 0
    bad_rows: int = 0
    quarantined: list[dict] = field(default_factory=list)
    checksum: str = ""


def _lineage(df: pl.DataFrame, key: str, source_file: str, checksum: str, now, run_id: str) -> pl.DataFrame:
    return df.with_columns(
        pl.lit(key).alias("_delivery"), pl.lit(source_file).alias("_source_file"),
        pl.lit(checksum).alias("_checksum"), pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(run_id).alias("_run_id"))


def _known_duplicate(lake: Lake, table: str, checksum: str, key: str) -> str | None:
    """The delivery that already brought these exact bytes into bronze, if another one did."""
    if not lake.exists("bronze", table):
        return None
    seen = lake.read("bronze", table, columns=["_delivery", "_checksum"],
                     filters=[("_checksum", "=", checksum)])
    others = seen.filter(pl.col("_delivery") != key)["_delivery"].unique().sort().to_list()
    return others[0] if others else None


@dataclass
class _Opened:
    """A delivery located (landing zone, or quarantine after an earlier run) and hashed."""
    path: Path
    rel: str
    refusal: str | None
    rep: IngestReport


def _open_delivery(source: Source, key: str, landing: Path, quarantine_root: Path) -> _Opened:
    path = landing / source.root / key
    kept = quarantine_root / source.name / source.root / key
    if not (path.exists() or path.is_symlink()):
        if kept.exists() or kept.is_symlink():
            path = kept  # quarantined by an earlier run: re-derive the same records from it
        else:
            raise FileNotFoundError(f"{source.name}: delivery '{key}' not found at {path} "
                                    f"(nor in quarantine at {kept})")
    in_landing = path.is_relative_to(landing) and not path.is_relative_to(quarantine_root)
    base = landing if in_landing else quarantine_root
    rep = IngestReport(source.name, key, checksum=delivery_checksum(source, path, base))
    rel = path.relative_to(landing).as_posix() if path.is_relative_to(landing) else str(path)
    return _Opened(path, rel, landing_refusal(source, base, path), rep)


def _quarantine_whole(lake: Lake, source: Source, key: str, d: _Opened, landing: Path, quarantine_root: Path,
                      run_id: str, reason: str) -> IngestReport:
    """The whole delivery to quarantine with its reason; rows an earlier version had in bronze go."""
    q = quarantine_files(lake, source, key, [(d.path, key, reason, None, str(landing / source.root / key))],
                         landing, quarantine_root, run_id, d.rep.checksum)
    if lake.exists("bronze", source.bronze_table):
        empty = lake.read("bronze", source.bronze_table).clear()
        lake.replace_where("bronze", source.bronze_table, empty, "_delivery", key)
    d.rep.status, d.rep.quarantined = ("duplicate" if reason.startswith("duplicate") else "quarantined"), q
    return d.rep


def _refused_or_duplicate(lake: Lake, source: Source, key: str, d: _Opened,
                          known: dict[str, list[str]] | None = None) -> str | None:
    """Why the delivery is not parsed at all: a refused link, or bytes another delivery already
    brought into bronze. The sensor's duplicate_of tag is a hint; the lake's lineage decides (two
    empty daily logs, e.g. two Sundays without collection, are identical but not duplicates)."""
    if d.refusal:  # decided from the link itself: the target is never opened
        return d.refusal
    if known is None:
        dup = _known_duplicate(lake, source.bronze_table, d.rep.checksum, key)
    else:   # a batch: the lineage read once (_lineage_index)
        dup = next((k for k in known.get(d.rep.checksum, []) if k != key), None)
    if dup and dup != key:
        return (f"duplicate delivery: same content (sha256 {d.rep.checksum[:12]}) as '{dup}', already "
                "ingested; not ingested again")
    return None


def _record_frame(source: Source, key: str, rec: dict) -> pl.DataFrame:
    rec = {**rec, **_item_ids(source, key)}
    schema = RECORD_SCHEMAS[source.name]
    return pl.DataFrame([{k: rec.get(k) for k in schema}], schema=schema).with_columns(pl.lit(1, pl.Int64).alias(ROW))


def _lineage_index(lake: Lake, table: str) -> dict[str, list[str]]:
    """content hash -> the deliveries that brought those bytes into bronze (sorted), read once."""
    if not lake.exists("bronze", table):
        return {}
    seen = lake.read("bronze", table, columns=["_delivery", "_checksum"]).unique().sort("_delivery")
    out: dict[str, list[str]] = {}
    for delivery, checksum in seen.iter_rows():
        out.setdefault(checksum, []).append(delivery)
    return out


def ingest_delivery(source: Source, key: str, lake: Lake, landing: Path, quarantine_root: Path,
                    run_id: str, duplicate_of: str | None = None, workers: int = 1) -> IngestReport:
    """Ingest one delivery of `source` into bronze. Safe to re-run: the delivery's rows are
    replaced, quarantine records are insert-only, moved files are found again in quarantine.
    `workers` > 1: a large survey folder's frames are decoded in parallel."""
    now = datetime.now(timezone.utc)
    landing, quarantine_root = Path(landing), Path(quarantine_root)
    d = _open_delivery(source, key, landing, quarantine_root)
    path, rep = d.path, d.rep
    why = _refused_or_duplicate(lake, source, key, d)
    if why:
        return _quarantine_whole(lake, source, key, d, landing, quarantine_root, run_id, why)

    if source.folder_delivery:
        try:
            return _ingest_survey(source, key, path, lake, landing, quarantine_root, run_id, now, rep, workers)
        except BadDelivery as exc:
            return _quarantine_whole(lake, source, key, d, landing, quarantine_root, run_id, str(exc))

    data = path.read_bytes()
    try:
        if source.parse is not None:
            parsed: Parsed = source.parse(data, key)
        else:
            if source.name in PARSE_BUDGETS:
                func, seconds, mb = PARSE_BUDGETS[source.name]
                rec = run_limited(func, data, key, seconds=seconds, mb=mb)
            else:
                rec = source.parse_one(data, key)
            parsed = Parsed(_record_frame(source, key, rec), Parsed.empty_bad())
    except BadDelivery as exc:
        return _quarantine_whole(lake, source, key, d, landing, quarantine_root, run_id, str(exc))

    good = _lineage(parsed.good, key, d.rel, rep.checksum, now, run_id)
    rep.rows = lake.replace_where("bronze", source.bronze_table, good, "_delivery", key)
    notes = [{"source": source.name, "delivery": key, "item": key, "row_number": None,
              "reason": f"warning, schema drift: {n}", "raw": None, "original_path": str(path),
              "quarantined_path": None, "checksum": rep.checksum, "run_id": run_id}
             for n in getattr(parsed, "notes", [])]
    if notes:  # the good rows landed; the drift is on record for the data owner
        lake.quarantine(notes)
        rep.quarantined += notes
    if parsed.bad.height:
        bad_copy = quarantine_root / source.name / source.root / f"{key}.bad_rows.csv"
        bad_copy.parent.mkdir(parents=True, exist_ok=True)
        parsed.bad.write_csv(bad_copy)
        rows = [{"source": source.name, "delivery": key, "item": key, "row_number": r[ROW],
                 "reason": r["reason"], "raw": r["raw"], "original_path": str(path),
                 "quarantined_path": str(bad_copy), "checksum": rep.checksum, "run_id": run_id}
                for r in parsed.bad.iter_rows(named=True)]
        lake.quarantine(rows)
        rep.bad_rows, rep.quarantined, rep.status = len(rows), rep.quarantined + rows, "partial"
    return rep


def ingest_deliveries(source: Source, keys: list[str], lake: Lake, landing: Path, quarantine_root: Path,
                      run_id: str, workers: int = 1) -> list[IngestReport]:
    """Ingest a batch of deliveries of `source` (one run over several partitions). Sources parsed
    under a budget, one record per file (LiDAR tiles, documents), are parsed by `workers`
    processes at once (assets/parse_pool.py) and their records written in one commit; each bad
    file is quarantined with its reason and the others land. Other sources: one by one. Safe to
    re-run, like ingest_delivery."""
    if len(keys) == 1 or source.name not in PARSE_BUDGETS or source.parse is not None:
        return [ingest_delivery(source, k, lake, landing, quarantine_root, run_id, workers=workers) for k in keys]
    now = datetime.now(timezone.utc)
    landing, quarantine_root = Path(landing), Path(quarantine_root)
    reports, opened, first_of = [], {}, {}
    known = _lineage_index(lake, source.bronze_table)
    for key in keys:
        d = _open_delivery(source, key, landing, quarantine_root)
        why = _refused_or_duplicate(lake, source, key, d, known)
        if not why and d.rep.checksum in first_of:   # the same bytes twice in this batch
            why = (f"duplicate delivery: same content (sha256 {d.rep.checksum[:12]}) as "
                   f"'{first_of[d.rep.checksum]}', ingested in the same run; not ingested again")
        if why:
            reports.append(_quarantine_whole(lake, source, key, d, landing, quarantine_root, run_id, why))
            continue
        opened[key] = d
        first_of.setdefault(d.rep.checksum, key)
    func, seconds, mb = PARSE_BUDGETS[source.name]
    results = parse_files(func, [(k, d.path) for k, d in opened.items()], workers=workers, seconds=seconds, mb=mb)
    frames = []
    for key, d in opened.items():
        res = results[key]
        if isinstance(res, BadDelivery):
            reports.append(_quarantine_whole(lake, source, key, d, landing, quarantine_root, run_id, str(res)))
            continue
        frames.append(_lineage(_record_frame(source, key, res), key, d.rel, d.rep.checksum, now, run_id))
        d.rep.rows = 1
        reports.append(d.rep)
    if frames:   # one commit for the batch's good records
        lake.replace_where("bronze", source.bronze_table, pl.concat(frames), "_delivery",
                           [k for k, d in opened.items() if d.rep.rows])
    return reports


def quarantine_files(lake: Lake, source: Source, key: str, items: list[tuple], landing: Path,
                     quarantine_root: Path, run_id: str, checksum: str | None) -> list[dict]:
    """Quarantine files of one delivery: `items` are (path or None, item, reason, row_number, original path).
    The reason rows are committed first, naming where each file will go, and the files are moved
    after: a crash in between leaves the reasons recorded and the files still in the landing
    zone, and the retried run writes the same rows (insert-only, same ids) and moves them to the
    same places. Nothing is lost between the two."""
    landing, quarantine_root = Path(landing), Path(quarantine_root)
    plans, rows = [], []
    for path, item, reason, row_number, original in items:
        dest = path
        if path is not None and path.is_relative_to(landing) and not path.is_relative_to(quarantine_root):
            dest = quarantine_destination(path, landing, quarantine_root, source.name)
            plans.append((path, dest))
        rows.append({"source": source.name, "delivery": key, "item": item, "row_number": row_number,
                     "reason": reason, "raw": None, "original_path": original,
                     "quarantined_path": None if dest is None else str(dest),
                     "checksum": checksum, "run_id": run_id})
    lake.quarantine(rows)
    for path, dest in plans:
        move_to_quarantine(path, landing, quarantine_root, source.name, dest=dest)
    return rows


def quarantine_failed_delivery(lake: Lake, source: Source, key: str, landing: Path, quarantine_root: Path,
                               reason: str, checksum: str | None) -> list[dict]:
    """A delivery whose runs kept failing (retry limit reached): its file goes to quarantine with
    the last error, its rows (if an earlier version had landed) stay as they were, so that the
    lake shows the last good delivery and the quarantine table says why the new one is not in."""
    path = Path(landing) / source.root / key
    if not (path.exists() or path.is_symlink()):
        path = None
    return quarantine_files(lake, source, key, [(path, key, reason, None, str(Path(landing) / source.root / key))], landing, quarantine_root,
                            run_id="retry-limit", checksum=checksum)


def _item_ids(source: Source, key: str) -> dict:
    p = Path(key)
    if source.name == "lidar_tiles":
        return {"tile_id": p.stem, "epoch": p.parent.name}
    if source.name == "documents":
        return {"file": p.name}
    return {}


def _ingest_survey(source, key, folder: Path, lake: Lake, landing: Path, qroot: Path, run_id, now,
                   rep: IngestReport, workers: int = 1) -> IngestReport:
    """A survey folder: verify each frame against the manifest, decode it, read its EXIF;
    bad frames go to quarantine one by one, the rest of the survey lands. A large survey's
    frames are decoded by `workers` processes (each frame under FRAME_BUDGET)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        frames = manifest["frames"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadDelivery(f"{source.name}/{key}: unreadable manifest.json ({exc})") from exc
    parallel = workers > 1 and len(frames) >= PARALLEL_FRAMES
    kept_dir = qroot / source.name / source.root / key
    schema = RECORD_SCHEMAS["road_surveys"]
    records, bad = [], []
    for i, fr in enumerate(frames, start=1):
        name = fr.get("file", "")
        fp = folder / name
        if not fp.exists() and (kept_dir / name).exists():
            fp = kept_dir / name
        item = f"{key}/{name}"
        if fp.is_symlink() or not fp.resolve().is_relative_to(folder.resolve()):
            bad.append({"item": item, "row_number": i, "reason": f"{item}: symbolic link or path outside the "
                        "delivery refused; not read", "path": fp, "checksum": None})
            continue
        if not fp.exists():
            bad.append({"item": item, "row_number": i, "reason": f"{item}: listed in manifest.json but "
                        "missing from the delivery", "path": None, "checksum": fr.get("sha256")})
            continue
        data = fp.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            if fr.get("sha256") and digest != fr["sha256"]:
                raise BadDelivery(f"{item}: sha256 {digest[:12]} differs from the manifest's "
                                  f"{fr['sha256'][:12]} (damaged in transfer)")
            rec = None if parallel else source.parse_one(data, item)
        except BadDelivery as exc:
            bad.append({"item": item, "row_number": i, "reason": str(exc), "path": fp, "checksum": digest})
            continue
        rec = {} if rec is None else rec
        rec.update({"survey_id": manifest.get("survey_id", key), "file": name,
                    "vehicle_id": manifest.get("vehicle_id"), "_row": i, "_path": fp, "_item": item})
        rec["_source_file"] = fp.relative_to(landing).as_posix() if fp.is_relative_to(landing) else str(fp)
        rec["_checksum"] = digest
        records.append(rec)
    if parallel:   # decode the verified frames in the pool (assets/parse_pool.py), in manifest order
        func, seconds, mb = FRAME_BUDGET
        parsed = parse_files(func, [(r["_item"], r["_path"]) for r in records], workers=workers, seconds=seconds, mb=mb)
        for r in records:
            if isinstance(parsed[r["_item"]], BadDelivery):
                bad.append({"item": r["_item"], "row_number": r["_row"], "reason": str(parsed[r["_item"]]),
                            "path": r["_path"], "checksum": r["_checksum"]})
            else:
                r.update(parsed[r["_item"]])
        records = [r for r in records if not isinstance(parsed[r["_item"]], BadDelivery)]
        bad.sort(key=lambda b: b["row_number"])
    df = pl.DataFrame([{k: r.get(k) for k in schema} for r in records], schema=schema)
    df = df.with_columns(
        pl.lit(key).alias("_delivery"),
        pl.Series("_source_file", [r["_source_file"] for r in records], dtype=pl.Utf8),
        pl.Series("_checksum", [r["_checksum"] for r in records], dtype=pl.Utf8),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"), pl.lit(run_id).alias("_run_id"))
    rep.rows = lake.replace_where("bronze", source.bronze_table, df, "_delivery", key)
    qrows = []
    for b in bad:  # reasons first, then the moves (quarantine_files)
        qrows += quarantine_files(lake, source, key, [(b["path"], b["item"], b["reason"], b["row_number"],
                                    str(folder / Path(b["item"]).name))],
                                  landing, qroot, run_id, b["checksum"])
    rep.bad_rows, rep.quarantined = len(qrows), qrows
    rep.status = "partial" if qrows else "ingested"
    return rep


def partitions_for(source: Source) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=source.name)


def build_bronze_asset(source: Source) -> dg.AssetsDefinition:
    parts = partitions_for(source)

    @dg.asset(
        key=["bronze", source.bronze_table],
        partitions_def=parts,
        # a batched source's run covers a range of deliveries (orchestration/sensors.py); a backfill too
        backfill_policy=dg.BackfillPolicy.single_run() if source.batched else None,
        group_name=source.group,
        kinds=set(source.kinds),
        owners=OWNERS[source.group],
        description=f"{source.description}. One partition per delivery in "
                    f"landing/{source.root}; raw records plus lineage ({', '.join(LINEAGE)}).",
        pool=f"delta:bronze/{source.bronze_table}",
        tags={"layer": "bronze"},
        metadata={"landing_path": source.root, "delta_path": f"bronze/{source.bronze_table}"},
    )
    def _bronze(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        keys, lk, run_id = list(context.partition_keys), lake.lake(), context.run.run_id
        if len(keys) == 1:
            reps = [ingest_delivery(source, keys[0], lk, lake.landing, lake.quarantine_root, run_id,
                                    duplicate_of=context.run.tags.get("lakehouse/duplicate_of"),
                                    workers=lake.ingest_workers)]
        else:
            reps = ingest_deliveries(source, keys, lk, lake.landing, lake.quarantine_root, run_id,
                                     workers=lake.ingest_workers)
        quarantined = [q for r in reps for q in r.quarantined]
        for q in quarantined[:20]:
            context.log.warning(f"quarantined {q['item']} row {q['row_number']}: {q['reason']}")
        part = (lk.read("bronze", source.bronze_table, filters=[("_delivery", "in", keys)])
                if lk.exists("bronze", source.bronze_table) else pl.DataFrame())
        statuses = sorted({r.status for r in reps})
        return dg.MaterializeResult(metadata=table_metadata(part, extra={
            "status": statuses[0] if len(statuses) == 1 else ", ".join(statuses),
            "bad_rows_or_items": sum(r.bad_rows for r in reps),
            "checksum": reps[0].checksum if len(reps) == 1 else f"{len(reps)} deliveries (see _checksum)",
            "deliveries_in_run": len(keys),
            "quarantine_reasons": dg.MetadataValue.md(
                "\n".join(f"- {q['item']} (row {q['row_number']}): {q['reason']}" for q in quarantined[:50])
                or "_none_")}))

    return _bronze


BRONZE_ASSETS = [build_bronze_asset(s) for s in SOURCES]
BRONZE_CHECKS = [bronze_check(s.bronze_table, partitions_for(s), s.group) for s in SOURCES]

QUARANTINE = dg.AssetSpec(
    key=["lake", "quarantine"], group_name="reference", kinds={"delta"}, owners=["team:data-platform"],
    description="Every quarantined delivery, item or row with its reason, written by the bronze "
                "ingestion (Delta table `quarantine` at the lake root); originals kept under "
                "landing/_quarantine/.",
    metadata={"delta_path": "quarantine"})
