"""Direction: the city's daily KPIs across services and the data-quarantine log."""


import dagster as dg
import polars as pl

from transforms import direction as T
from transforms import territory as TT

from quality.checks import table_check
from quality.suites_marts import MARTS

from .lake import QUARANTINE_SCHEMA, Lake
from .sources import SOURCES
from .layers import gold, silver_key


@gold("city_daily_kpis", group="direction",
      deps=[silver_key("road_frames"), silver_key("street_segments"), silver_key("collection_events"),
            silver_key("bin_readings"), silver_key("litter_detections"), silver_key("collection_points"),
            silver_key("quartiers")])
def city_daily_kpis(lake: Lake):
    """Per local date and commune (plus the agglomeration's total, commune 'Agglomération Cannes
    Lérins'): frames and km surveyed, pickups, tonnes collected, mean fill at pickup, contamination
    (%), sensor readings, near-full alerts (fill >= 90 %), litter items."""
    return T.city_daily_kpis_by_commune(
        lake.read("silver", "road_frames"), lake.read("silver", "street_segments"),
        lake.read("silver", "collection_events"), lake.read("silver", "bin_readings"),
        lake.read("silver", "litter_detections"), lake.read("silver", "collection_points"),
        lake.read("silver", "quartiers"), TT.AGGLOMERATION)


# assets after bronze that also write quarantine records (far-off frames, frames missing at
# anonymisation, tiles unreadable at the points step); the MQTT subscriber writes between runs
QUARANTINE_WRITERS = [silver_key("road_frames"), silver_key("road_images"), silver_key("lidar_points")]


@gold("data_quarantine", group="direction",
      deps=[dg.AssetKey(["lake", "quarantine"]), *[dg.AssetKey(["bronze", s.bronze_table]) for s in SOURCES],
            *QUARANTINE_WRITERS], may_be_empty="nothing was quarantined: every delivery, item and row was good")
def data_quarantine(lake: Lake):
    """Every quarantined delivery, item or row: source, delivery, item, row number, reason, where
    the original is kept, when."""
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    return q.select("source", "delivery", "item", "row_number", "reason", "quarantined_path",
                    "quarantined_at", "checksum").sort("quarantined_at", "source", "delivery", "item",
                                                        "row_number", nulls_last=True)


ASSETS = [city_daily_kpis, data_quarantine]

CHECKS = [table_check("gold", t, MARTS[t]) for t in ("city_daily_kpis", "data_quarantine")]
