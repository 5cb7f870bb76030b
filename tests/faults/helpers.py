"""A tiny landing zone written by hand (a few rows per source, in the formats the real tools
export) and a driver that ingests it through the sensors exactly as `make run` does, then
materialises the silver and gold assets a test looks at. Shared by tests/faults and
bench/faults_bench.py."""

import json
from pathlib import Path

import dagster as dg
import polars as pl

COLLECTION_HEADER = "truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination\n"
BINS = [("BIN-00001", "ordures_menageres"), ("BIN-00002", "emballages"), ("BIN-00003", "verre"),
        ("BIN-00004", "ordures_menageres"), ("BIN-00005", "biodechets")]


def quartiers_geojson() -> str:
    ring = [[7.00, 43.53], [7.04, 43.53], [7.04, 43.57], [7.00, 43.57], [7.00, 43.53]]
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "Q01", "name": "Centre"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]})


def collection_points_csv() -> str:
    head = "bin_id,segment_id,quartier,x_2154,y_2154,lon,lat,capacity_l,waste_stream\n"
    return head + "".join(f"{b},SEG-{i:04d},Q01,{1025000 + 10 * i},{6280000 + 10 * i},{7.01 + i / 1e4},"
                          f"{43.55 + i / 1e4},660,{s}\n" for i, (b, s) in enumerate(BINS, start=1))


def collection_log(rows: list[tuple[str, str, float]], day: str = "2026-11-03") -> str:
    """rows: (bin, HH:MM, kg)."""
    return COLLECTION_HEADER + "".join(f"BOM-01,R1,{b},{day}T{t}:00+01:00,{kg},0.5,0\n" for b, t, kg in rows)


def reading(i: int, bin_id: str = "BIN-00001", day: str = "2026-11-03") -> dict:
    return {"id": f"urn:ngsi-ld:WasteContainer:{bin_id}", "type": "WasteContainer", "message_id": f"m-{day}-{i:05d}",
            "dateObserved": f"{day}T{6 + i % 12:02d}:{i % 60:02d}:00Z", "fillingLevel": round(0.1 + (i % 8) / 10, 2),
            "status": "ok", "temperature": 18.5}


def litter_parquet(path: Path, ids: list[int], count: int = 2) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datetime import datetime, timezone

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "detection_id": [f"D{i:05d}" for i in ids],
        "detected_at": [datetime(2026, 11, 3, 9, i % 60, tzinfo=timezone.utc) for i in ids],
        "vehicle_id": ["VH-1"] * len(ids), "category": ["can"] * len(ids), "count": [count] * len(ids),
        "lat": [43.55] * len(ids), "lon": [7.01] * len(ids), "confidence": [0.9] * len(ids)}), path)
    return path


def write(landing: Path, rel: str, body) -> Path:
    p = Path(landing) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return p


def reference_city(landing: Path) -> None:
    write(landing, "reference/quartiers.geojson", quartiers_geojson())
    write(landing, "reference/collection_points.csv", collection_points_csv())


def drive(settings, silver_gold: list | None = None, say=lambda m: None) -> dict:
    """One `make run` ingestion pass (sensors, runs, cursors under DAGSTER_HOME, crash recovery),
    then materialise `silver_gold` (asset definitions). Returns runs and failures."""
    from orchestration.definitions import build_definitions, resources_for
    from orchestration.runner import ingest_landing, prepare_dagster_home

    home = prepare_dagster_home(settings)
    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        runs, failures = ingest_landing(defs, instance, home, resources_for(settings), say=say)
        ok = True
        if silver_gold:
            res = dg.materialize(silver_gold, instance=instance, resources={"lake": resources_for(settings)["lake"]},
                                 raise_on_error=False)
            ok = res.success
    return {"runs": runs, "failures": failures, "materialised": ok}


def waste_assets(*names: str) -> list:
    """Silver/gold waste assets by table name (and the reference tables they join)."""
    from assets import reference, waste

    by = {"collection_events": [reference.collection_points, waste.collection_events, waste.tonnage_daily],
          "bin_readings": [waste.bin_readings], "litter_detections": [reference.quartiers, waste.litter_detections]}
    return [a for n in names for a in by[n]]


def read(settings, layer: str, table: str) -> pl.DataFrame:
    from assets.lake import Lake

    return Lake(settings.lake_uri).read(layer, table)


def quarantine(settings) -> pl.DataFrame:
    from assets.lake import QUARANTINE_SCHEMA, Lake

    return Lake(settings.lake_uri).read_or_empty("", "quarantine", QUARANTINE_SCHEMA)


ROOT = Path(__file__).resolve().parents[2]
SHARED_LIDAR = ROOT.parent / "shared/real/lidar/ign_lidarhd/870000_6618000.subset.50mx100m.las"
