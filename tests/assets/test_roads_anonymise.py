"""silver.road_images anonymised across worker processes (assets/roads_anonymise.py): the same
rows, bytes and order as in the run's process, on simulated survey frames (faces and plates in
them); a frame that fails is quarantined with its reason and the rest land; a run where every
frame fails raises; the pool's workers persist across chunks and a worker's death costs one file."""

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from assets import roads_anonymise as RA
from assets.lake import Lake
from assets.parse_pool import ParsePool
from transforms import roads as T
from transforms.parsing import BadDelivery

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Ten frames of the tiny city's first survey (five with a face or a plate first), one frame
    whose bytes are not a JPEG, one listed frame whose file is gone: (landing, todo)."""
    from models.simulator.city import build_city
    from models.simulator.roads import simulate_roads

    root = tmp_path_factory.mktemp("anon")
    simulate_roads(build_city("tiny", 42), root / "landing", root / "truth")
    landing = root / "landing"
    folder = sorted((landing / "roads" / "surveys").iterdir())[0]
    files = sorted(p.name for p in folder.glob("*.jpg"))
    busy = [f for f in files if f in _private_frames(root / "truth" / "roads" / folder.name / "frames.jsonl")][:5]
    chosen = busy + [f for f in files if f not in busy][:10 - len(busy)]
    rows = [{"survey_id": folder.name, "file": f, "segment_id": f"SEG-{i}", "source_file":
             (folder / f).relative_to(landing).as_posix()} for i, f in enumerate(chosen)]
    bad = folder / "frame_broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg at all")
    rows.insert(3, {"survey_id": folder.name, "file": bad.name, "segment_id": None,
                    "source_file": bad.relative_to(landing).as_posix()})
    rows.insert(7, {"survey_id": folder.name, "file": "frame_gone.jpg", "segment_id": None,
                    "source_file": (folder / "frame_gone.jpg").relative_to(landing).as_posix()})
    todo = pl.DataFrame(rows).sort("survey_id", "file")
    return landing, todo, len(busy)


def _private_frames(truth: Path) -> set[str]:
    """Frames whose simulator truth holds a face or a plate."""
    import json

    out = set()
    for line in truth.read_text().splitlines():
        tr = json.loads(line) if line.strip() else {}
        if tr.get("faces") or tr.get("plates"):
            out.add(Path(tr.get("file", "")).name)
    return out


def _run(tmp_path: Path, landing: Path, todo: pl.DataFrame, workers: int, monkeypatch, chunk: int = 4):
    from models.roads.anonymise import AnonymiserConfig, anonymiser_version

    monkeypatch.setattr(RA, "POOL_FROM", 2)
    lk = Lake(str(tmp_path / f"lake{workers}"))
    merged: list[pl.DataFrame] = []
    real_store = RA.store_frames
    monkeypatch.setattr(RA, "store_frames",    # the rows, in the order written
                        lambda lk_, recs, stored: (merged.append(recs), real_store(lk_, recs, stored))[1])
    cfg = AnonymiserConfig()
    run = RA.anonymise_new_frames(lk, landing, todo, cfg=cfg, version=anonymiser_version(cfg), now=NOW,
                                  workers=workers, chunk=chunk)
    stored = [m for m in merged if "jpeg" in m.columns]
    return lk, run, pl.concat(stored) if stored else pl.DataFrame(schema=T.ROAD_IMAGES)


def test_pool_stores_the_same_rows_bytes_and_order_as_in_process(survey, tmp_path, monkeypatch):
    landing, todo, busy = survey
    lk1, run1, rows1 = _run(tmp_path, landing, todo, 1, monkeypatch)
    lk2, run2, rows2 = _run(tmp_path, landing, todo, 2, monkeypatch)
    assert (run1.processes, run2.processes) == (1, 2)
    assert run1.stored == run2.stored == todo.height - 2 == rows1.height
    assert rows1.equals(rows2)                                   # every column, every byte, in order
    assert rows2["file"].to_list() == [f for f in todo["file"] if f not in ("frame_broken.jpg", "frame_gone.jpg")]
    assert all(j.startswith(b"\xff\xd8") for j in rows2["jpeg"])
    assert rows2["anonymised_at"].unique().to_list() == [NOW]
    if busy:   # the simulator's truth says some frames show a face or a plate: something was blurred
        assert run2.faces + run2.plates > 0 and run1.faces == run2.faces and run1.plates == run2.plates
    stored1 = lk1.read("silver", "road_images").sort("survey_id", "file")
    stored2 = lk2.read("silver", "road_images").sort("survey_id", "file")
    assert stored1.equals(stored2)
    for lk, run in ((lk1, run1), (lk2, run2)):
        q = lk.read("", "quarantine").sort("item")
        reasons = dict(zip(q["item"].str.split("/").list.last(), q["reason"]))
        assert set(reasons) == {"frame_broken.jpg", "frame_gone.jpg"}
        assert "anonymising" in reasons["frame_broken.jpg"] and "frame_broken.jpg" in reasons["frame_broken.jpg"]
        assert "missing from the landing zone" in reasons["frame_gone.jpg"]
        assert run.missing == 1 and len(run.failed) == 1
    # the failed frame is not stored, so the next run tries it again (and quarantines nothing new)
    again = lk2.read("silver", "road_images").select("survey_id", "file")
    assert "frame_broken.jpg" not in again["file"].to_list()


def test_a_run_where_every_frame_fails_raises_and_quarantines_nothing(survey, tmp_path, monkeypatch):
    landing, todo, _ = survey
    monkeypatch.setattr(RA, "POOL_FROM", 2)
    folder = landing / "roads" / "surveys" / "SRV-BROKEN"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(3):
        (folder / f"f{i}.jpg").write_bytes(b"garbage" * (i + 1))
        rows.append({"survey_id": "SRV-BROKEN", "file": f"f{i}.jpg", "segment_id": None,
                     "source_file": f"roads/surveys/SRV-BROKEN/f{i}.jpg"})
    from models.roads.anonymise import AnonymiserConfig

    lk = Lake(str(tmp_path / "lake"))
    with pytest.raises(RuntimeError, match="every one of the 3 frames failed"):
        RA.anonymise_new_frames(lk, landing, pl.DataFrame(rows), cfg=AnonymiserConfig(), version="v", now=NOW,
                                workers=2, chunk=2)
    assert not lk.exists("", "quarantine") and not lk.exists("silver", "road_images")


def test_pool_workers_persist_across_calls_and_a_dead_worker_costs_one_file(tmp_path):
    jobs = []
    for name in ("a", "b", "c", "d", "bomb", "e", "crash", "f"):
        p = tmp_path / name
        p.write_bytes(name.encode() * 3)
        jobs.append((name, p))
    with ParsePool("tests.assets.pool_probe:pid_or_bomb", workers=2, seconds=30, mb=1024) as pool:
        first = pool.parse(jobs[:4])
        second = pool.parse(jobs[:4])
        pids = {r["pid"] for r in (*first.values(), *second.values())}
        assert len(pids) <= 2 and pool.restarts == 0            # the same two workers served both calls
        third = pool.parse(jobs)
        assert isinstance(third["bomb"], BadDelivery) and "exceeded 1024 MB" in str(third["bomb"])
        assert isinstance(third["crash"], BadDelivery) and "crashed (exit 3)" in str(third["crash"])
        assert [third[n]["n"] for n in "abcdef"] == [3] * 6 and pool.restarts == 1
        fourth = pool.parse(jobs[:2])                             # a fresh pool after the broken one
        assert {r["pid"] for r in fourth.values()}.isdisjoint(pids)


def test_store_frames_appends_new_keys_and_merges_re_anonymised_ones(tmp_path):
    """New keys are appended (no MERGE over the stored files), a frame stored under an older
    anonymiser version is updated in place: one row per key, and a second write of the same
    frames (a re-run) changes no row."""
    lk = Lake(str(tmp_path / "lake"))

    def rows(files, version, data=b"\xff\xd8old"):
        return pl.DataFrame([{"survey_id": "S1", "file": f, "segment_id": None, "jpeg": data, "width": 64,
                              "height": 36, "boxes_json": "[]", "faces_blurred": 0, "plates_blurred": 0,
                              "blurred_share": 0.0, "anonymiser_version": version, "anonymised_at": NOW}
                             for f in files], schema=T.ROAD_IMAGES)

    empty = pl.DataFrame(schema={"survey_id": pl.Utf8, "file": pl.Utf8})
    RA.store_frames(lk, rows(["a", "b"], "v1"), empty)                    # creates the table
    stored = lk.read("silver", "road_images", columns=["survey_id", "file"])
    RA.store_frames(lk, rows(["c"], "v2", b"\xff\xd8new").vstack(rows(["a"], "v2", b"\xff\xd8new")), stored)
    ops = [h["operation"] for h in lk.table("silver", "road_images").history()]
    assert ops[:2] == ["MERGE", "WRITE"]                                   # newest first: merge of "a", append of "c"
    got = lk.read("silver", "road_images").sort("file")
    assert got["file"].to_list() == ["a", "b", "c"]
    assert got["anonymiser_version"].to_list() == ["v2", "v1", "v2"]
    assert got["jpeg"].to_list() == [b"\xff\xd8new", b"\xff\xd8old", b"\xff\xd8new"]
    RA.store_frames(lk, rows(["c"], "v2", b"\xff\xd8new"), lk.read("silver", "road_images", columns=["survey_id", "file"]))
    assert lk.read("silver", "road_images").sort("file").equals(got)
