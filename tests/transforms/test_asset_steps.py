"""The table-building steps moved out of the asset bodies (issue 23): tile quarantine record and
tile-product merge (trees), missing-frame quarantine records, repair plan and crew-day tables
(roads)."""

from types import SimpleNamespace

import polars as pl

from transforms import roads as TR
from transforms import trees as TT


def test_tile_quarantine_row_names_the_tile_and_where_it_went():
    tile = {"epoch": "2025", "tile_id": "T1", "source_file": "trees/lidar/2025/T1.laz", "checksum": "abc"}
    row = TT.tile_quarantine_row(tile, "T1.laz: unreadable", "/landing", "/landing/_quarantine/x", "run-1")
    assert row == {"source": "lidar_tiles", "delivery": "2025/T1.laz", "item": "trees/lidar/2025/T1.laz",
                   "reason": "T1.laz: unreadable", "original_path": "/landing/trees/lidar/2025/T1.laz",
                   "quarantined_path": "/landing/_quarantine/x", "checksum": "abc", "run_id": "run-1"}
    assert TT.tile_quarantine_row(tile, "r", "/landing", None, "r1")["quarantined_path"] is None


def _product(tile_id: str, epoch: str, points: int) -> dict:
    row = {c: None for c in TT.TILE_PRODUCTS}
    return {**row, "tile_id": tile_id, "epoch": epoch, "points": points}


def test_merge_tile_products_replaces_reprocessed_tiles_and_upgrades_old_rows():
    done = pl.DataFrame([_product("A", "2025", 10), _product("B", "2025", 20)], schema=TT.TILE_PRODUCTS)
    old_schema = done.drop(done.columns[-1])          # an earlier table without the last column
    out = TT.merge_tile_products(old_schema, [_product("B", "2025", 99), _product("C", "2025", 5)])
    assert out.schema == pl.Schema(TT.TILE_PRODUCTS)
    assert sorted(zip(out["tile_id"], out["points"])) == [("A", 10), ("B", 99), ("C", 5)]


def test_missing_frame_quarantine_rows():
    rows = TR.missing_frame_quarantine_rows([{"survey_id": "S1", "file": "f1.jpg", "source_file": "roads/S1/f1.jpg"}])
    assert rows == [{"source": "road_surveys", "delivery": "S1", "item": "S1/f1.jpg",
                     "reason": "roads/S1/f1.jpg: frame in silver.road_frames but missing from the landing zone: "
                               "cannot be anonymised, so not stored", "original_path": "roads/S1/f1.jpg"}]
    assert TR.missing_frame_quarantine_rows([]) == []


def test_repair_plan_table_orders_safety_first_then_value_and_carries_the_solve():
    opts = pl.DataFrame({"segment_id": ["a", "b", "c"], "safety_critical": [False, True, False],
                         "cost_eur": [1.0, 2.0, 3.0]})
    plan = TR.repair_plan_table(opts, [5.0, 1.0, 9.12345], [0, 1, 2], 1000.0, "OPTIMAL", 0.0012345678, 12.34567,
                                "2026-01-01")
    assert plan["segment_id"].to_list() == ["b", "c", "a"] and plan["priority"].to_list() == [1, 2, 3]
    assert plan["value"].to_list() == [1.0, 9.123, 5.0]
    assert set(plan["solver_status"]) == {"OPTIMAL"} and plan["solver_gap"][0] == 0.001235
    assert plan["solver_bound"][0] == 12.346 and plan["budget_eur"][0] == 1000.0
    assert TR.repair_plan_table(opts, [1.0, 2.0, 3.0], [2], 10.0, "FEASIBLE", 0, 0, None)["segment_id"].to_list() == ["c"]


def test_crew_days_table_clock_times_and_units():
    plan = pl.DataFrame({"segment_id": ["s0", "s1"], "street_name": ["Rue A", "Rue B"],
                         "treatment": ["patching", "resurfacing"]})
    stops = [SimpleNamespace(day=1, sequence=1, site=1, part=1, parts=2, arrival_min=95, work_min=150,
                             travel_m_before=1234.0)]
    days = TR.crew_days_table(stops, plan, "ROUTING_SUCCESS")
    assert days.schema == pl.Schema(TR.CREW_DAYS)
    assert days.row(0, named=True) == {"day": 1, "sequence": 1, "segment_id": "s1", "street_name": "Rue B",
                                       "treatment": "resurfacing", "part": 1, "parts": 2, "arrival_hhmm": "09:05",
                                       "arrival_min_after_start": 95, "work_hours": 2.5, "travel_km_before": 1.23,
                                       "routing_status": "ROUTING_SUCCESS"}
    assert TR.crew_days_table([], plan, "NO_SITES").is_empty()
