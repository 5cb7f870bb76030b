"""Defect 1: a corrected re-delivery under the same name must replace the delivery's rows in
bronze, silver and gold; the rows it withdrew must not survive in silver (one test per source
kind: CSV, JSON lines, Parquet, one-record-per-file)."""

import polars as pl

from .helpers import collection_log, drive, litter_parquet, read, reading, reference_city, waste_assets, write

LOG = "waste/collection_logs/collecte_2026-11-03.csv"


def test_csv_redelivery_removes_withdrawn_rows_in_silver_and_gold(lake_env, tmp_path):
    assets = waste_assets("collection_events")
    landing = tmp_path / "landing"
    reference_city(landing)
    five = [("BIN-00001", "06:00", 20.5), ("BIN-00002", "06:05", 30.0), ("BIN-00003", "06:10", 40.0),
            ("BIN-00004", "06:15", 25.0), ("BIN-00005", "06:20", 19.5)]
    write(landing, LOG, collection_log(five))
    r = drive(lake_env, assets)
    assert r["failures"] == [] and r["materialised"]
    assert read(lake_env, "silver", "collection_events").height == 5
    # corrected re-delivery: 3 rows, one weight corrected, one pickup time corrected
    three = [("BIN-00001", "06:00", 20.5), ("BIN-00002", "06:05", 24.0), ("BIN-00003", "06:12", 20.0)]
    write(landing, LOG, collection_log(three))
    r = drive(lake_env, assets)
    assert r["failures"] == [] and r["materialised"] and r["runs"] == 1
    assert read(lake_env, "bronze", "collection_logs").height == 3
    ev = read(lake_env, "silver", "collection_events")
    assert ev.height == 3, ev  # before the fix: 6 (3 stale)
    assert sorted(ev["net_weight_kg"].to_list()) == [20.0, 20.5, 24.0]
    t = read(lake_env, "gold", "tonnage_daily")
    assert t["pickups"].sum() == 3  # before the fix: 6 pickups, 0.135 t
    assert abs(t["tonnes"].sum() - (20.5 + 24.0 + 20.0) / 1000) < 0.0015  # tonnes are rounded per group
    # a second pass changes nothing
    drive(lake_env, assets)
    assert read(lake_env, "silver", "collection_events").sort("bin_id").equals(ev.sort("bin_id"))


def test_jsonl_redelivery_removes_withdrawn_messages(lake_env, tmp_path):
    import json

    landing = tmp_path / "landing"
    rel = "waste/bin_sensors/capteurs_2026-11-03.jsonl"
    write(landing, rel, "".join(json.dumps(reading(i)) + "\n" for i in range(1, 9)))
    assets = waste_assets("bin_readings")
    assert drive(lake_env, assets)["materialised"]
    assert read(lake_env, "silver", "bin_readings").height == 8
    write(landing, rel, "".join(json.dumps(reading(i)) + "\n" for i in range(1, 4)))
    assert drive(lake_env, assets)["materialised"]
    s = read(lake_env, "silver", "bin_readings")
    assert sorted(s["message_id"].to_list()) == [f"m-2026-11-03-{i:05d}" for i in range(1, 4)]


def test_parquet_redelivery_removes_withdrawn_detections(lake_env, tmp_path):
    assets = waste_assets("litter_detections")
    landing = tmp_path / "landing"
    reference_city(landing)
    p = landing / "waste/litter/litter_2026-11-03.parquet"
    litter_parquet(p, list(range(1, 11)))
    assert drive(lake_env, assets)["materialised"]
    assert read(lake_env, "silver", "litter_detections").height == 10
    litter_parquet(p, [1, 2, 3, 4], count=5)
    assert drive(lake_env, assets)["materialised"]
    s = read(lake_env, "silver", "litter_detections")
    assert s.height == 4 and s["count"].to_list() == [5] * 4


def test_one_record_delivery_replaced_by_a_bad_one_leaves_silver(lake_env, tmp_path):
    """A document re-delivered unreadable: quarantined, its bronze row withdrawn, and silver
    follows (the old row does not linger)."""
    from assets import admin

    landing = tmp_path / "landing"
    write(landing, "admin/documents/note_2026.txt", "Note de service\nLe stationnement est gratuit le dimanche.\n")
    write(landing, "admin/documents/autre.txt", "Autre note\nTexte.\n")
    assert drive(lake_env, [admin.documents])["materialised"]
    assert sorted(read(lake_env, "silver", "documents")["file"].to_list()) == ["autre.txt", "note_2026.txt"]
    write(landing, "admin/documents/note_2026.txt", "   \n")
    assert drive(lake_env, [admin.documents])["materialised"]
    assert read(lake_env, "silver", "documents")["file"].to_list() == ["autre.txt"]
    assert read(lake_env, "bronze", "documents").filter(pl.col("_delivery") == "note_2026.txt").height == 0
