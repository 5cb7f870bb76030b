"""Issue 25, item 4: LiDAR tiles in batches. One run per contiguous range of up to
INGEST_BATCH_FILES new tiles (run key = hash of the tiles' content hashes), each tile's own
content hash in the cursor and in bronze, bad tiles quarantined alone, a failed batch retried
tile by tile, nothing requested twice; the tiles of a batch parsed by a pool of processes."""

import dataclasses
import hashlib
import io
import json

import numpy as np
import polars as pl
import pytest

from assets.parse_pool import parse_files
from assets.sources import SOURCES_BY_NAME
from orchestration import sensors as S
from transforms.parsing import BadDelivery

from ..faults.helpers import drive, quarantine, read, write

TILES = SOURCES_BY_NAME["lidar_tiles"]


def laz(seed: int, n: int = 3000, x0: float = 1024000.0, y0: float = 6280000.0) -> bytes:
    import laspy
    import pyproj

    rng = np.random.default_rng(seed)
    h = laspy.LasHeader(point_format=6, version="1.4")
    h.scales, h.offsets = [0.01, 0.01, 0.01], [x0, y0, 0]
    h.add_crs(pyproj.CRS.from_epsg(2154))
    las = laspy.LasData(h)
    las.x, las.y, las.z = x0 + rng.random(n) * 100, y0 + rng.random(n) * 100, rng.random(n) * 20
    las.classification = np.where(las.z < 1, 2, 5).astype(np.uint8)
    buf = io.BytesIO()
    las.write(buf, do_compress=True)
    return buf.getvalue()


def _tile(landing, i: int, body: bytes) -> str:
    key = f"2026/L93_{1024000 + 250 * i}_6280000.laz"
    write(landing, f"trees/tiles/{key}", body)
    return key


def test_new_tiles_are_batched_in_contiguous_ranges_and_never_requested_twice(tmp_path):
    keys = [_tile(tmp_path, i, laz(i)) for i in range(5)]
    runs, new, cursor = S.evaluate_landing(TILES, tmp_path, {}, [], batch=2, now=1000.0)
    assert new == keys
    assert [(r.tags.get(S.RANGE_START), r.tags.get(S.RANGE_END), r.partition_key) for r in runs] == [
        (keys[0], keys[1], None), (keys[2], keys[3], None), (None, None, keys[4])]
    sha = {k: hashlib.sha256((tmp_path / "trees/tiles" / k).read_bytes()).hexdigest() for k in keys}
    first = "batch:" + hashlib.sha256("\n".join(sorted(f"{sha[k]}:{k}" for k in keys[:2])).encode()).hexdigest()
    assert runs[0].run_key == first and runs[0].tags[S.BATCH_TAG] == "2"
    assert runs[2].run_key == sha[keys[4]]           # a lone tile keeps its content hash as run key
    assert [cursor[k][0] for k in keys] == [sha[k] for k in keys]   # each tile's own content hash
    assert cursor[keys[1]][3]["run_key"] == first
    again, new2, _ = S.evaluate_landing(TILES, tmp_path, cursor, keys, batch=2, now=1001.0)
    assert again == [] and new2 == []

    # the first batch failed: its tiles are retried one by one; the second is lost: asked again whole
    outcomes = {first: ("failure", "run r1: disk full"), runs[1].run_key: ("unknown", ""),
                sha[keys[4]]: ("success", "")}
    t = 1000.0 + S.UNSEEN_GRACE_S
    r1, _, c1 = S.evaluate_landing(TILES, tmp_path, cursor, keys, outcome=lambda k: outcomes[k], now=t, batch=2)
    assert [r.run_key for r in r1] == [runs[1].run_key]      # the failed batch waits for its backoff
    outcomes[runs[1].run_key] = ("running", "")
    r2, _, c2 = S.evaluate_landing(TILES, tmp_path, c1, keys, outcome=lambda k: outcomes[k],
                                   now=t + S.RETRY_BACKOFF_S[0], batch=2)
    by_key = {r.run_key: r for r in r2}
    assert r1[0].tags[S.RANGE_START] == keys[2] and r1[0].tags[S.RANGE_END] == keys[3]  # same batch, same key
    assert set(by_key) == {f"{sha[k]}:retry1" for k in keys[:2]}
    assert {f"{sha[k]}:retry1" for k in keys[:2]} <= set(by_key)
    assert by_key[f"{sha[keys[0]]}:retry1"].partition_key == keys[0]
    assert by_key[f"{sha[keys[0]]}:retry1"].tags[S.ATTEMPT_TAG] == "2"
    assert len(c2[keys[4]]) == 3                      # done


def test_a_redelivered_tile_among_old_ones_breaks_the_range():
    order = ["a", "b", "c", "d"]
    assert S._contiguous(["a", "c", "d"], {k: i for i, k in enumerate(order)}, 10) == [["a"], ["c", "d"]]
    assert S._contiguous(["d", "a", "b", "c"], {k: i for i, k in enumerate(order)}, 3) == [["a", "b", "c"], ["d"]]


def test_batched_ingestion_end_to_end(lake_env, tmp_path):
    settings = dataclasses.replace(lake_env, ingest_batch_files=4, ingest_workers=2)
    landing = tmp_path / "landing"
    good = [laz(i) for i in range(4)]
    keys = [_tile(landing, i, b) for i, b in enumerate(good)]
    keys.append(_tile(landing, 4, good[0][: len(good[0]) * 2 // 3]))   # truncated: chunk table check
    keys.append(_tile(landing, 5, good[1]))                            # same bytes as tile 1
    keys.append(_tile(landing, 6, b"LASF" + bytes(400)))               # poison header
    r = drive(settings)
    assert r["failures"] == [] and r["runs"] == 2                      # 4 + 3 tiles: two runs
    bronze = read(settings, "bronze", "lidar_tiles").sort("_delivery")
    assert bronze["_delivery"].to_list() == keys[:4]
    assert bronze["_checksum"].to_list() == [hashlib.sha256(b).hexdigest() for b in good]
    assert bronze["point_count"].to_list() == [3000] * 4
    assert bronze["_run_id"].n_unique() == 1                           # the first four in one run
    q = quarantine(settings).sort("delivery")
    reasons = dict(zip(q["delivery"], q["reason"]))
    assert set(reasons) == set(keys[4:])
    assert "chunk table check" in reasons[keys[4]]
    assert reasons[keys[5]].startswith("duplicate delivery")
    assert "header check" in reasons[keys[6]]
    assert drive(settings)["runs"] == 0                                # nothing requested twice


def test_pool_isolates_a_file_that_kills_its_worker(tmp_path):
    jobs = []
    for name in ("a", "bomb", "bad", "b", "c"):
        p = tmp_path / name
        p.write_bytes(name.encode() * 3)
        jobs.append((name, p))
    out = parse_files("tests.orchestration.batch_poison:picky", jobs, workers=2, seconds=30, mb=1024)
    assert out["a"] == {"name": "a", "n": 3} and out["c"] == {"name": "c", "n": 3}
    assert isinstance(out["bad"], BadDelivery) and "not a tile" in str(out["bad"])
    assert isinstance(out["bomb"], BadDelivery) and "exceeded 1024 MB" in str(out["bomb"])


def _survey(landing, key: str) -> None:
    from ..transforms.test_parsing import _jpeg_with_gps

    folder = landing / "roads" / "surveys" / key
    folder.mkdir(parents=True)
    frames = []
    for i in range(6):
        data = _jpeg_with_gps(lat=43.55 + i * 1e-4, heading=10.0 * i)
        if i == 2:
            data = data[: len(data) // 3]          # undecodable, and so listed in the manifest
        (folder / f"frame_{i:06d}.jpg").write_bytes(data)
        frames.append({"file": f"frame_{i:06d}.jpg", "sha256": hashlib.sha256(data).hexdigest()})
    frames[4]["sha256"] = "0" * 64                 # damaged in transfer
    frames.append({"file": "frame_000099.jpg", "sha256": "1" * 64})   # missing
    (folder / "manifest.json").write_text(json.dumps({"survey_id": key, "vehicle_id": "V1", "frames": frames}))


def test_survey_frames_decoded_in_parallel_land_like_in_process(tmp_path, monkeypatch):
    from assets import bronze as B
    from assets.lake import QUARANTINE_SCHEMA, Lake

    monkeypatch.setattr(B, "PARALLEL_FRAMES", 2)
    out = {}
    for workers in (1, 2):
        landing, lake = tmp_path / f"w{workers}" / "landing", Lake(str(tmp_path / f"w{workers}" / "lake"))
        _survey(landing, "S1")
        rep = B.ingest_delivery(SOURCES_BY_NAME["road_surveys"], "S1", lake, landing, landing / "_quarantine",
                                "run", workers=workers)
        q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA).sort("row_number")
        out[workers] = (rep.rows, rep.bad_rows, lake.read("bronze", "road_frames").drop("_ingested_at").sort("file"),
                        q.select("item", "row_number", "reason"))
    assert out[1][0] == out[2][0] == 4 and out[1][1] == out[2][1] == 3
    assert out[1][2].equals(out[2][2]) and out[1][3].equals(out[2][3])
    assert out[2][3]["row_number"].to_list() == [3, 5, 7]
    assert "cannot decode image" in out[2][3]["reason"][0] and "damaged in transfer" in out[2][3]["reason"][1]
