"""A survey's new frames anonymised across the machine's cores (silver.road_images).

`anonymise_new_frames` works through the frames not stored yet in chunks of `chunk` (each chunk
written into silver.road_images as soon as it is done: bounded memory, a crash keeps what landed;
new keys appended, frames of an older anonymiser version merged: `store_frames`).
From `POOL_FROM` frames on, with INGEST_WORKERS > 1, the frames go to a pool of worker processes
(assets/parse_pool.ParsePool: torch and OpenCV on one thread each, the pool is the parallelism;
each worker loads MTCNN and the plate net once and keeps them for the whole run; each frame under
the same kind of budget as a parsed delivery, FRAME_ANON_BUDGET). Fewer frames stay in the run's
process (a pool costs a few seconds to start: Python, torch, the networks).

Both paths give the same rows, bytes and order: the worker calls the anonymiser's own
`stored_frame_records` on one frame with the default `AnonymiserConfig` and the parent adds the
keys, the version and the run's time (tests/assets/test_roads_anonymise.py). A frame that fails
(or kills its worker: it is then anonymised again alone under `run_limited`, which names the
budget) is quarantined with its reason and the others land; a run in which every frame failed
raises instead (that is the anonymiser, not the frames) and quarantines nothing.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import polars as pl

from transforms.parsing import BadDelivery

from .parse_pool import ParsePool

if TYPE_CHECKING:   # not imported at run time: the pool's workers import this module, Dagster-free
    from .lake import Lake

# per frame: at most this many seconds (the first frame of a worker also loads the networks) and MB
FRAME_ANON_BUDGET: tuple[str, float, int] = ("assets.roads_anonymise:anonymise_frame_file", 120.0, 4096)
POOL_FROM = 64   # frames of one run from which a pool anonymises them (break-even of its ~3.5 s start-up)
_ANONYMISED = ("jpeg", "width", "height", "boxes_json", "faces_blurred", "plates_blurred", "blurred_share")


def anonymise_frame_file(data: bytes, name: str) -> dict:
    """One frame's JPEG bytes anonymised with the default AnonymiserConfig: the columns of
    silver.road_images that depend on its pixels (run in a pool worker, or alone under
    run_limited). Raises BadDelivery naming `name` when the anonymiser fails on it."""
    from models.roads.anonymise import AnonymiserConfig, stored_frame_records

    row = {"survey_id": None, "file": None, "segment_id": None, "source_file": name}
    try:
        (rec,) = stored_frame_records([row], [data], AnonymiserConfig(), "", None)
    except RuntimeError as exc:
        raise BadDelivery(str(exc)) from None
    return {k: rec[k] for k in _ANONYMISED}


@dataclass
class AnonymiseRun:
    """What one run of silver.road_images did now."""
    stored: int = 0
    faces: int = 0
    plates: int = 0
    missing: int = 0
    failed: list[dict] = field(default_factory=list)   # quarantine rows of the frames that failed
    processes: int = 1
    pool_restarts: int = 0


def _in_process(rows: list[dict], jpegs: list[bytes], cfg, version: str, now) -> tuple[list[dict], list[tuple]]:
    from models.roads.anonymise import stored_frame_records

    try:
        return stored_frame_records(rows, jpegs, cfg, version, now), []
    except RuntimeError:      # which frame: each again alone (same function, same bytes)
        recs, bad = [], []
        for r, data in zip(rows, jpegs):
            try:
                recs += stored_frame_records([r], [data], cfg, version, now)
            except RuntimeError as exc:
                bad.append((r, str(exc)))
        return recs, bad


def _pooled(pool: ParsePool, rows: list[dict], landing: Path, version: str, now) -> tuple[list[dict], list[tuple]]:
    out = pool.parse([(r["source_file"], landing / r["source_file"]) for r in rows])
    recs, bad = [], []
    for r in rows:
        res = out[r["source_file"]]
        if isinstance(res, BadDelivery):
            bad.append((r, str(res).replace(": parsing exceeded", ": anonymising exceeded")))
        else:
            recs.append({"survey_id": r["survey_id"], "file": r["file"], "segment_id": r["segment_id"], **res,
                         "anonymiser_version": version, "anonymised_at": now})
    return recs, bad


def store_frames(lk: "Lake", recs: pl.DataFrame, stored: pl.DataFrame) -> None:
    """Write anonymised frames into silver.road_images: frames whose key is not stored yet are
    appended (a MERGE scans every file of the table for its join, which grows with the history:
    0.5-0.75 CPU s per 256-frame chunk at 2,000 stored frames); frames stored under an older
    anonymiser version are merged (updated in place). `stored`: the keys stored when the run began
    (the run's own chunks have new keys; a crashed run's appended frames are `done` next time, so a
    re-run never appends a key twice; one run at a time: pool delta:silver/road_images)."""
    new = recs.join(stored, on=["survey_id", "file"], how="anti")
    old = recs.join(stored, on=["survey_id", "file"], how="semi")
    if new.height and lk.exists("silver", "road_images"):
        lk.append("silver", "road_images", new)
    elif new.height:
        lk.merge("silver", "road_images", new, ["survey_id", "file"])     # creates the table
    if old.height:
        lk.merge("silver", "road_images", old, ["survey_id", "file"])


def failed_frame_quarantine_rows(bad: list[tuple[dict, str]]) -> list[dict]:
    """Quarantine records for frames the anonymiser failed on: not stored, the reason kept."""
    return [{"source": "road_surveys", "delivery": r["survey_id"], "item": f"{r['survey_id']}/{r['file']}",
             "reason": reason, "original_path": r["source_file"]} for r, reason in bad]


def anonymise_new_frames(lk: "Lake", landing: Path, todo: pl.DataFrame, *, cfg, version: str, now, workers: int,
                         chunk: int, log: Callable[[str], None] = lambda m: None) -> AnonymiseRun:
    """Anonymise the frames of `todo` (survey_id, file, segment_id, source_file; in that order)
    and merge them into silver.road_images chunk by chunk; frames missing from the landing zone
    and frames that fail are quarantined with their reason."""
    from models.roads.anonymise import AnonymiserConfig
    from transforms import roads as T   # here, not above: the workers import this module and need neither

    use_pool = workers > 1 and todo.height >= POOL_FROM and cfg == AnonymiserConfig()
    func, seconds, mb = FRAME_ANON_BUDGET
    run = AnonymiseRun(processes=min(workers, todo.height) if use_pool else 1)
    stored = (lk.read("silver", "road_images", columns=["survey_id", "file"]) if lk.exists("silver", "road_images")
              else pl.DataFrame(schema={"survey_id": pl.Utf8, "file": pl.Utf8}))
    missing, bad = [], []
    with (ParsePool(func, workers=workers, seconds=seconds, mb=mb, processes=todo.height) if use_pool
          else nullcontext()) as pool:
        for i in range(0, todo.height, chunk):
            rows = todo.slice(i, chunk).to_dicts()
            missing += [r for r in rows if not (landing / r["source_file"]).exists()]
            rows = [r for r in rows if (landing / r["source_file"]).exists()]
            recs, failed = (_pooled(pool, rows, landing, version, now) if pool is not None else
                            _in_process(rows, [(landing / r["source_file"]).read_bytes() for r in rows], cfg,
                                        version, now))
            if recs:
                store_frames(lk, pl.DataFrame(recs, schema=T.ROAD_IMAGES), stored)
            bad += failed
            run.stored += len(recs)
            run.faces += sum(r["faces_blurred"] for r in recs)
            run.plates += sum(r["plates_blurred"] for r in recs)
            log(f"road_images: {min(i + chunk, todo.height)}/{todo.height} frames anonymised "
                f"({run.processes} process{'es' if run.processes > 1 else ''})")
        run.pool_restarts = pool.restarts if pool is not None else 0
    if bad and not run.stored and len(bad) > 1:
        raise RuntimeError(f"road_images: every one of the {len(bad)} frames failed (first: {bad[0][1]}); the "
                           "anonymiser is broken, not the frames: nothing stored or quarantined")
    run.missing, run.failed = len(missing), failed_frame_quarantine_rows(bad)
    lk.quarantine(T.missing_frame_quarantine_rows(missing) + run.failed)
    return run
