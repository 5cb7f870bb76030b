import json
import os
import shutil

import dagster as dg
import polars as pl
import pytest

from assets.lake import Lake
from assets.sources import SOURCES_BY_NAME
from orchestration.definitions import build_definitions, resources_for
from orchestration.sensors import DUPLICATE_TAG, evaluate_landing

HEADER = "truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination\n"
GOOD = "".join(f"BOM-01,R1,BIN-{i:05d},2026-10-12T06:{i:02d}:00+02:00,{10 + i}.5,0.{i % 9},0\n" for i in range(1, 8))
BAD = ("BOM-01,R1,BIN-00090,not-a-time,20,0.4,0\n"
       "BOM-01,R1,BIN-00091,2026-10-12T07:01:00+02:00,-3,0.4,0\n"
       "BOM-01,R1,BIN-00092,2026-10-12T07:02:00+02:00,20\n")


def _write(landing, name, body):
    p = landing / "waste" / "collection_logs" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(body)
    return p


def _tick(defs, instance, sensor_name, cursor, settings):
    sensor = defs.resolve_sensor_def(sensor_name)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                  resources={"lake": resources_for(settings)["lake"]})
    return sensor(ctx)


def test_new_file_one_request_same_file_none(lake_env, tmp_path):
    landing = tmp_path / "landing"
    _write(landing, "collecte_2026-10-12.csv", HEADER + GOOD)
    defs = build_definitions(lake_env)
    with dg.instance_for_test() as instance:
        r1 = _tick(defs, instance, "landing_collection_logs", None, lake_env)
        assert len(r1.run_requests) == 1
        req = r1.run_requests[0]
        assert req.partition_key == "collecte_2026-10-12.csv"
        assert len(req.run_key) == 64  # the content hash
        assert list(r1.dynamic_partitions_requests[0].partition_keys) == ["collecte_2026-10-12.csv"]
        r2 = _tick(defs, instance, "landing_collection_logs", r1.cursor, lake_env)
        assert r2.run_requests == [] and not r2.dynamic_partitions_requests
        # touched but identical bytes: still nothing
        os.utime(landing / "waste" / "collection_logs" / "collecte_2026-10-12.csv", None)
        r3 = _tick(defs, instance, "landing_collection_logs", r2.cursor, lake_env)
        assert r3.run_requests == []
        # new content under the same name: a new run with a new key
        _write(landing, "collecte_2026-10-12.csv", HEADER + GOOD + GOOD.replace("06:", "08:"))
        r4 = _tick(defs, instance, "landing_collection_logs", r3.cursor, lake_env)
        assert len(r4.run_requests) == 1 and r4.run_requests[0].run_key != req.run_key


def test_duplicate_delivery_is_tagged_and_quarantined(lake_env, tmp_path):
    landing = tmp_path / "landing"
    _write(landing, "collecte_2026-10-12.csv", HEADER + GOOD)
    _write(landing, "collecte_2026-10-12_copie.csv", HEADER + GOOD)
    defs = build_definitions(lake_env)
    job = defs.resolve_job_def("ingest_collection_logs")
    with dg.instance_for_test() as instance:
        r = _tick(defs, instance, "landing_collection_logs", None, lake_env)
        assert [q.partition_key for q in r.run_requests] == ["collecte_2026-10-12.csv", "collecte_2026-10-12_copie.csv"]
        assert r.run_requests[1].tags[DUPLICATE_TAG] == "collecte_2026-10-12.csv"
        instance.add_dynamic_partitions("collection_logs", list(r.dynamic_partitions_requests[0].partition_keys))
        for q in r.run_requests:
            assert job.execute_in_process(instance=instance, partition_key=q.partition_key, tags=q.tags).success
    lake = Lake(lake_env.lake_uri)
    bronze = lake.read("bronze", "collection_logs")
    assert bronze["_delivery"].unique().to_list() == ["collecte_2026-10-12.csv"]
    assert bronze.height == 7
    q = lake.read("", "quarantine")
    assert q["reason"].str.contains("duplicate delivery").sum() == 1
    assert (landing / "_quarantine" / "collection_logs" / "waste" / "collection_logs" /
            "collecte_2026-10-12_copie.csv").exists()
    assert not (landing / "waste" / "collection_logs" / "collecte_2026-10-12_copie.csv").exists()


def test_csv_with_three_bad_rows_lands_good_rows_and_quarantines_bad(lake_env, tmp_path):
    landing = tmp_path / "landing"
    src = _write(landing, "collecte_2026-10-13.csv", HEADER + GOOD + BAD)
    defs = build_definitions(lake_env)
    with dg.instance_for_test() as instance:
        r = _tick(defs, instance, "landing_collection_logs", None, lake_env)
        instance.add_dynamic_partitions("collection_logs", ["collecte_2026-10-13.csv"])
        job = defs.resolve_job_def("ingest_collection_logs")
        for _ in range(2):  # re-running the same partition is idempotent
            res = job.execute_in_process(instance=instance, partition_key="collecte_2026-10-13.csv",
                                         tags=r.run_requests[0].tags)
            assert res.success
        checks = res.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks)
    lake = Lake(lake_env.lake_uri)
    assert lake.read("bronze", "collection_logs").height == 7
    q = lake.read("", "quarantine").sort("row_number")
    assert q["row_number"].to_list() == [9, 10, 11]
    assert "collected_at" in q["reason"][0] and "below the minimum" in q["reason"][1]
    assert q["reason"][2] == "expected 7 fields, found 5"
    assert src.exists()  # the original stays where it was delivered
    assert (landing / "_quarantine" / "collection_logs" / "waste" / "collection_logs" /
            "collecte_2026-10-13.csv.bad_rows.csv").exists()


def test_bad_file_lands_in_quarantine_and_is_moved_not_deleted(lake_env, tmp_path):
    landing = tmp_path / "landing"
    tile = landing / "trees" / "tiles" / "2026" / "L93_1024000_6280000.laz"
    tile.parent.mkdir(parents=True)
    tile.write_bytes(b"LASF" + b"\0" * 300)  # a header that stops short
    defs = build_definitions(lake_env)
    with dg.instance_for_test() as instance:
        r = _tick(defs, instance, "landing_lidar_tiles", None, lake_env)
        assert [q.partition_key for q in r.run_requests] == ["2026/L93_1024000_6280000.laz"]
        instance.add_dynamic_partitions("lidar_tiles", ["2026/L93_1024000_6280000.laz"])
        res = defs.resolve_job_def("ingest_lidar_tiles").execute_in_process(
            instance=instance, partition_key="2026/L93_1024000_6280000.laz")
        assert res.success
        # the file is gone from the landing zone, so the next tick asks for nothing
        assert _tick(defs, instance, "landing_lidar_tiles", r.cursor, lake_env).run_requests == []
    q = Lake(lake_env.lake_uri).read("", "quarantine")
    assert q.height == 1 and q["reason"][0].startswith("2026/L93_1024000_6280000.laz: unreadable LAS/LAZ")
    kept = landing / "_quarantine" / "lidar_tiles" / "trees" / "tiles" / "2026" / "L93_1024000_6280000.laz"
    assert kept.read_bytes() == b"LASF" + b"\0" * 300


def test_evaluate_landing_is_pure_and_sorted(tmp_path):
    src = SOURCES_BY_NAME["collection_logs"]
    _write(tmp_path, "b.csv", HEADER)
    _write(tmp_path, "a.csv", HEADER)
    runs, parts, cursor = evaluate_landing(src, tmp_path, {}, set())
    assert parts == ["a.csv", "b.csv"]
    assert runs[1].tags[DUPLICATE_TAG] == "a.csv"  # same bytes
    assert set(cursor) == {"a.csv", "b.csv"}


def test_identical_empty_deliveries_are_not_duplicates(lake_env, tmp_path):
    """Two Sundays without collection give byte-identical header-only logs: both are ingested
    (zero rows), neither is quarantined as a duplicate."""
    landing = tmp_path / "landing"
    _write(landing, "collecte_2026-10-04.csv", HEADER)
    _write(landing, "collecte_2026-10-11.csv", HEADER)
    defs = build_definitions(lake_env)
    job = defs.resolve_job_def("ingest_collection_logs")
    with dg.instance_for_test() as instance:
        r = _tick(defs, instance, "landing_collection_logs", None, lake_env)
        instance.add_dynamic_partitions("collection_logs", list(r.dynamic_partitions_requests[0].partition_keys))
        for q in r.run_requests:
            assert job.execute_in_process(instance=instance, partition_key=q.partition_key, tags=q.tags).success
    lake = Lake(lake_env.lake_uri)
    assert not lake.exists("", "quarantine")
    assert (landing / "waste" / "collection_logs" / "collecte_2026-10-11.csv").exists()
