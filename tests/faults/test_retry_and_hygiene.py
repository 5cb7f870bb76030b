"""Defects 2, 3 (quarantine half) and 5 (symlinks): a delivery is done only when its run
succeeded; failed runs are retried with backoff and quarantined at the limit, by the `make run`
driver and by the daemon's sensor alike; symlinks are refused without being read; a quarantine
reason and its file move cannot be separated by a crash."""

import json
import os

import dagster as dg
import polars as pl
import pytest

from orchestration import sensors as S

from .helpers import drive, litter_parquet, quarantine, read, write

LITTER = "waste/litter/litter_2026-11-04.parquet"


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(S, "RETRY_BACKOFF_S", (0, 0, 0))


def _unwritable(monkeypatch, table: str):
    """bronze/<table> refuses writes (as a full disk or a read-only mount would)."""
    from assets.lake import Lake

    real = Lake.replace_where

    def refuse(self, layer, tbl, *a, **k):
        if (layer, tbl) == ("bronze", table):
            raise PermissionError(f"[Errno 13] Permission denied: '{self.uri(layer, tbl)}/_delta_log'")
        return real(self, layer, tbl, *a, **k)

    monkeypatch.setattr(Lake, "replace_where", refuse)


def test_failed_delivery_is_retried_by_the_next_run(lake_env, tmp_path, monkeypatch, no_backoff):
    landing = tmp_path / "landing"
    litter_parquet(landing / "waste/litter/litter_2026-11-03.parquet", [1, 2])
    assert drive(lake_env)["failures"] == []
    litter_parquet(landing / LITTER, list(range(100, 140)))
    with monkeypatch.context() as m:
        _unwritable(m, "litter_detections")
        r = drive(lake_env)
    assert len(r["failures"]) == 1 and "litter_detections" in r["failures"][0]
    r = drive(lake_env)  # restored: before the fix, "nothing new" and the 40 rows never landed
    assert r["runs"] == 1 and r["failures"] == []
    b = read(lake_env, "bronze", "litter_detections")
    assert b.filter(pl.col("_delivery") == "litter_2026-11-04.parquet").height == 40
    assert drive(lake_env)["runs"] == 0  # done now: nothing more to do


def test_backoff_then_quarantine_with_the_last_error(lake_env, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    litter_parquet(landing / LITTER, list(range(100, 140)))
    _unwritable(monkeypatch, "litter_detections")
    clock = [1_000_000.0]
    monkeypatch.setattr(S, "_now", lambda: clock[0])
    r = drive(lake_env)
    assert r["runs"] == 1
    r = drive(lake_env)  # the failure is seen: retry due after RETRY_BACKOFF_S[0], not yet
    assert r["runs"] == 0 and "retry 2 due in 15 s" in " ".join(r["failures"])
    attempts = 1
    for wait in S.RETRY_BACKOFF_S:
        clock[0] += wait
        r = drive(lake_env)
        attempts += r["runs"]
        drive(lake_env)  # see the failure, schedule the next retry
    assert attempts == S.RETRY_LIMIT
    clock[0] += 10_000
    drive(lake_env)
    q = quarantine(lake_env)
    gave_up = q.filter(pl.col("reason").str.contains("gave up after 4 failed runs"))
    assert gave_up.height == 1 and "Permission denied" in gave_up["reason"][0]
    assert not (landing / LITTER).exists()
    assert (landing / "_quarantine/litter_detections" / LITTER).exists()
    assert drive(lake_env)["runs"] == 0


def test_daemon_sensor_retries_like_the_driver(lake_env, tmp_path, monkeypatch, no_backoff):
    """The sensor the daemon ticks: a failed run's delivery is requested again under a new run
    key (<hash>:retry1, attempt 2); Dagster's own run retries are off for it."""
    from orchestration.definitions import build_definitions, resources_for

    landing = tmp_path / "landing"
    litter_parquet(landing / LITTER, list(range(100, 110)))
    defs = build_definitions(lake_env)
    sensor = defs.resolve_sensor_def("landing_litter_detections")
    job = defs.resolve_job_def("ingest_litter_detections")
    with dg.instance_for_test() as instance:
        def tick(cursor):
            return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                                 sensor_name=sensor.name, resources=resources_for(lake_env)))

        def launch(req):  # what the daemon does with a run request
            tags = {**req.tags, "dagster/run_key": req.run_key, "dagster/sensor_name": sensor.name}
            return job.execute_in_process(instance=instance, partition_key=req.partition_key, tags=tags,
                                          raise_on_error=False)

        r1 = tick(None)
        instance.add_dynamic_partitions("litter_detections", list(r1.dynamic_partitions_requests[0].partition_keys))
        assert r1.run_requests[0].tags["dagster/max_retries"] == "0"
        with monkeypatch.context() as m:
            _unwritable(m, "litter_detections")
            assert not launch(r1.run_requests[0]).success
        r2 = tick(r1.cursor)
        assert [q.run_key for q in r2.run_requests] == [r1.run_requests[0].run_key + ":retry1"]
        assert r2.run_requests[0].tags[S.ATTEMPT_TAG] == "2"
        assert launch(r2.run_requests[0]).success
        r3 = tick(r2.cursor)
        assert r3.run_requests == [] and len(json.loads(r3.cursor)["litter_2026-11-04.parquet"]) == 3


def test_symlinks_are_refused_without_being_read(lake_env, tmp_path):
    landing = tmp_path / "landing"
    outside = tmp_path / "outside.csv"
    outside.write_text("truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination\n"
                       "BOM-09,R9,BIN-00099,2026-11-03T06:00:00+01:00,99.0,0.5,0\n")
    (landing / "waste/collection_logs").mkdir(parents=True)
    os.symlink("/etc/passwd", landing / "waste/collection_logs/collecte_2026-11-05.csv")
    os.symlink(outside, landing / "waste/collection_logs/collecte_2026-11-06.csv")
    write(landing, "waste/collection_logs/collecte_2026-11-07.csv", outside.read_text().replace("BOM-09", "BOM-01"))
    r = drive(lake_env)
    assert r["failures"] == [] and r["runs"] == 3  # before the fix: a crash moving the link
    b = read(lake_env, "bronze", "collection_logs")
    assert b["_delivery"].to_list() == ["collecte_2026-11-07.csv"]  # the outside CSV was not ingested
    q = quarantine(lake_env)
    assert q.height == 2 and q["reason"].str.contains("symbolic link").all()
    assert not q["reason"].str.contains("root:").any() and q["raw"].is_null().all()
    kept = landing / "_quarantine/collection_logs/waste/collection_logs/collecte_2026-11-05.csv"
    assert kept.is_symlink() and os.readlink(kept) == "/etc/passwd"  # the link moved, not its target
    assert outside.exists() and os.path.exists("/etc/passwd")
    assert drive(lake_env)["runs"] == 0 and quarantine(lake_env).height == 2


def test_a_crash_between_reason_and_move_loses_nothing(lake_env, tmp_path, monkeypatch, no_backoff):
    """The reason row is committed before the file moves; a crash in between leaves the file
    in the landing zone with its reason, and the retry moves it (same row, not a second one)."""
    import assets.bronze as B

    landing = tmp_path / "landing"
    bad = write(landing, "waste/collection_logs/collecte_2026-11-08.csv", b"\xff\xfe\x00garbage")
    with monkeypatch.context() as m:
        def crash(*a, **k):
            raise SystemError("killed between the quarantine row and the move")
        m.setattr(B, "move_to_quarantine", crash)
        r = drive(lake_env)
    assert r["failures"] and bad.exists()
    assert quarantine(lake_env).height == 1  # the reason is on record even though the move never happened
    r = drive(lake_env)
    assert r["failures"] == [] and not bad.exists()
    q = quarantine(lake_env)
    assert q.height == 1 and q["quarantined_path"][0].endswith("_quarantine/collection_logs/waste/collection_logs/"
                                                                "collecte_2026-11-08.csv")
