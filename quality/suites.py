"""Expectation suites per table, written once.

Bronze suites are derived from the parsers' column specs (transforms/parsing.py SPECS), so the
rules a row was admitted under are the rules it is checked against. Silver suites add natural
keys and references to reference data, resolved against the lake when the check runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from transforms import inspections as TI
from transforms import procurement as TPR
from transforms.parsing import SPECS
from transforms.validation import ROW, Col

LINEAGE_NOT_NULL = ["_delivery", "_source_file", "_checksum", "_ingested_at", "_run_id"]
# OR-Tools routing statuses a published plan may carry (anything else is a failed solve)
ROUTING_OK = ("ROUTING_SUCCESS", "ROUTING_OPTIMAL", "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED")


@dataclass(frozen=True)
class TableSuite:
    """What a table promises: key, not-null columns, types, ranges, value sets, references."""

    table: str
    key: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    types: dict = field(default_factory=dict)        # column -> polars dtype
    ranges: dict = field(default_factory=dict)       # column -> (min, max) (None = open)
    in_set: dict = field(default_factory=dict)       # column -> allowed values
    references: dict = field(default_factory=dict)   # column -> (layer, table, column)
    min_rows: int = 0


def _gx_type(dtype) -> str:
    if dtype == pl.Date:
        return "date"  # arrow date32 reaches pandas as datetime.date objects
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "Timestamp"
    return {pl.Float64: "float64", pl.Int64: "int64", pl.Int32: "int32", pl.Boolean: "bool",
            pl.Utf8: "str"}.get(dtype, str(dtype))


def from_spec(table: str, spec: list[Col], *, key: tuple[str, ...] = ("_delivery", ROW),
              extra_types: dict | None = None) -> TableSuite:
    """A bronze suite from a parser spec: declared types, required columns, ranges, value sets,
    lineage present, one row per (delivery, row number)."""
    types = {c.name: c.dtype for c in spec}
    types.update(extra_types or {})
    return TableSuite(
        table=table, key=key,
        not_null=tuple([c.name for c in spec if c.required] + LINEAGE_NOT_NULL),
        types=types,
        ranges={c.name: (c.min, c.max) for c in spec if c.min is not None or c.max is not None},
        in_set={c.name: c.allowed for c in spec if c.allowed},
    )


def expectations(suite: TableSuite, refs: dict[str, list] | None = None) -> list:
    """GX 1.x expectation objects for `suite`; `refs` maps a referencing column to the values of
    the referenced column (looked up by the caller)."""
    import great_expectations as gx

    E = gx.expectations
    out = []
    if suite.types:
        out.append(E.ExpectTableColumnsToMatchSet(column_set=list(suite.types), exact_match=False))
    for c, t in suite.types.items():
        out.append(E.ExpectColumnValuesToBeOfType(column=c, type_=_gx_type(t)))
    for c in suite.not_null:
        out.append(E.ExpectColumnValuesToNotBeNull(column=c))
    if len(suite.key) == 1:
        out.append(E.ExpectColumnValuesToBeUnique(column=suite.key[0]))
    elif suite.key:
        out.append(E.ExpectCompoundColumnsToBeUnique(column_list=list(suite.key)))
    for c, (lo, hi) in suite.ranges.items():
        out.append(E.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi))
    for c, values in suite.in_set.items():
        out.append(E.ExpectColumnValuesToBeInSet(column=c, value_set=list(values)))
    for c, values in (refs or {}).items():
        out.append(E.ExpectColumnValuesToBeInSet(column=c, value_set=list(values)))
    if suite.min_rows:
        out.append(E.ExpectTableRowCountToBeBetween(min_value=suite.min_rows))
    return out


# --------------------------------------------------------------------------- bronze

_RECORD_TYPES = {
    "road_frames": [Col("survey_id"), Col("file"), Col("lat", pl.Float64, min=43.40, max=43.70),
                    Col("lon", pl.Float64, min=6.80, max=7.20), Col("captured_at", pl.Datetime, required=False),
                    Col("heading_deg", pl.Float64, min=0, max=360, required=False),
                    Col("width", pl.Int64, min=16, max=10000), Col("height", pl.Int64, min=16, max=10000)],
    "lidar_tiles": [Col("tile_id"), Col("epoch"), Col("point_count", pl.Int64, min=1),
                    Col("crs_epsg", pl.Int64, min=1024, max=32767), Col("min_x", pl.Float64),
                    Col("max_x", pl.Float64), Col("density_pts_m2", pl.Float64, min=0.1, max=1000)],
    "documents": [Col("file"), Col("doc_format", allowed=("pdf", "docx", "txt")),
                  Col("n_chars", pl.Int64, min=1), Col("pages", pl.Int64, min=1, required=False)],
}

BRONZE_SPECS: dict[str, list[Col]] = {
    "quartiers": [Col("code"), Col("name"), Col("wkt_4326"), Col("wkt_2154"),
                  Col("area_m2", pl.Float64, min=1000, max=50e6)],
    "street_segments": SPECS["street_segments"],
    "collection_points": SPECS["collection_points"],
    "places": SPECS["places"],
    "trucks": SPECS["trucks"],
    "fixed_rounds": SPECS["fixed_rounds"],
    "dsp_contracts": SPECS["dsp_contracts"],
    "procurement_buyers": SPECS["procurement_buyers"],
    "tree_register": SPECS["tree_register"],
    "collection_logs": SPECS["collection_logs"],
    "bin_readings": SPECS["bin_readings"],
    "litter_detections": SPECS["litter_detections"],
    "dsp_report_lines": SPECS["dsp_report_lines"],
    "communes": [Col("insee"), Col("name"), Col("rings_2154"), Col("area_km2", pl.Float64, min=0.01, max=2000)],
    "tree_inspections": TI.SPEC,
    "city_calendar": SPECS["city_calendar"],
    "procurement_contracts": TPR.SPEC,
    "procurement_suppliers": TPR.SIRENE_SPEC,
    **_RECORD_TYPES,
}

# road damage annotations (COCO): one row per annotation, or per labelled image without any
from transforms.road_annotations import DAMAGE_CLASSES as _RA_CLASSES, SEVERITIES as _RA_SEV  # noqa: E402

BRONZE_SPECS["road_annotations"] = [
    Col("survey_id"), Col("file"), Col("image_width", pl.Int64, min=16, max=10000),
    Col("image_height", pl.Int64, min=16, max=10000), Col("annotation_id", pl.Int64, required=False),
    Col("damage_class", allowed=_RA_CLASSES, required=False), Col("severity", allowed=_RA_SEV, required=False),
    Col("x0", pl.Int64, min=0, required=False), Col("y0", pl.Int64, min=0, required=False),
    Col("x1", pl.Int64, min=0, required=False), Col("y1", pl.Int64, min=0, required=False)]


def bronze_suite(table: str) -> TableSuite:
    key = ("_delivery", "file") if table == "road_frames" else ("_delivery", ROW)
    if table in _RECORD_TYPES and table != "road_frames":
        key = ("_delivery",)
    return from_spec(table, BRONZE_SPECS[table], key=key)


# --------------------------------------------------------------------------- silver

def _silver(table: str, schema: dict, key: tuple[str, ...], *, not_null: tuple[str, ...] = (),
            ranges: dict | None = None, in_set: dict | None = None, references: dict | None = None,
            min_rows: int = 1) -> TableSuite:
    return TableSuite(table=table, key=key, not_null=tuple(dict.fromkeys(key + not_null)), types=schema,
                      ranges=ranges or {}, in_set=in_set or {}, references=references or {},
                      min_rows=min_rows)


def _build_silver() -> dict[str, TableSuite]:
    from transforms import admin, inspections, reference, roads, territory, trees, waste
    from transforms.parsing import BIN_STATUS, LITTER_CATEGORIES, ROAD_CLASSES, SURFACES, WASTE_STREAMS

    seg = ("silver", "street_segments", "segment_id")
    bins = ("silver", "collection_points", "bin_id")
    quart = ("silver", "quartiers", "name")
    suites = [
        _silver("quartiers", reference.QUARTIERS, ("code",), not_null=("name", "wkt_2154"),
                ranges={"area_km2": (0.01, 50)}),
        _silver("street_segments", reference.STREET_SEGMENTS, ("segment_id",),
                not_null=("street_name", "quartier", "road_class", "surface", "length_m"),
                ranges={"length_m": (0.5, 5000), "heading_deg": (0, 360)},
                in_set={"road_class": ROAD_CLASSES, "surface": SURFACES}, references={"quartier": quart}),
        _silver("collection_points", reference.COLLECTION_POINTS, ("bin_id",),
                not_null=("segment_id", "capacity_l", "waste_stream"), ranges={"capacity_l": (50, 10000)},
                in_set={"waste_stream": WASTE_STREAMS}, references={"segment_id": seg, "quartier": quart}),
        _silver("places", reference.PLACES, ("place_id",), not_null=("kind", "x_2154", "y_2154")),
        _silver("trucks", reference.TRUCKS, ("truck_id",), not_null=("capacity_kg", "capacity_m3"),
                ranges={"capacity_kg": (500, 40000)}),
        _silver("fixed_rounds", reference.FIXED_ROUNDS, ("round_id", "bin_id"), not_null=("truck_id", "weekday"),
                ranges={"weekday": (1, 7)},
                references={"bin_id": bins, "truck_id": ("silver", "trucks", "truck_id")}),
        _silver("dsp_contracts", reference.DSP_CONTRACTS, ("contract_id",), not_null=("name", "delegate"),
                ranges={"overhead_cap_pct": (0, 100)}),
        _silver("procurement_buyers", reference.PROCUREMENT_BUYERS, ("siret",), not_null=("siren", "name", "commune"),
                min_rows=0),   # a city publishing no DECP lands no buyers list
        _silver("road_frames", roads.ROAD_FRAMES, ("survey_id", "file"), not_null=("lat", "lon", "x_2154"),
                ranges={"match_distance_m": (0, None), "heading_deg": (0, 360)},
                references={"segment_id": seg}),
        _silver("lidar_tiles", trees.LIDAR_TILES, ("tile_id", "epoch"), not_null=("point_count",),
                ranges={"point_count": (1, None), "crs_epsg": (1024, 32767)}),
        _silver("communes", territory.COMMUNES, ("insee",), not_null=("name", "rings_2154", "min_x"),
                ranges={"area_km2": (0.01, 2000)}),
        # no inspection delivered yet is a valid state (the vitality model then says why it is not trained)
        _silver("tree_inspections", inspections.TREE_INSPECTIONS, ("inspection_id",),
                not_null=("inspection_date", "vitality", "inspector", "position_source"),
                ranges={"height_m": (0.5, 70), "dbh_cm": (1, 400), "x_2154": inspections.X93_FRANCE,
                        "y_2154": inspections.Y93_FRANCE},
                in_set={"vitality": inspections.ROLOFF, "likelihood_of_failure": inspections.FAILURE_LEVELS,
                        "position_source": ("tree_id", "lambert93", "wgs84")}, min_rows=0),
        _silver("tree_register", trees.TREE_REGISTER, ("register_id",), not_null=("species", "x_2154"),
                ranges={"height_m": (0, 60), "dbh_cm": (0, 700)}, references={"quartier": quart}),
        _silver("collection_events", waste.COLLECTION_EVENTS, ("bin_id", "collected_at"),
                not_null=("truck_id", "net_weight_kg", "collection_date", "waste_stream"),
                ranges={"net_weight_kg": (0, 5000), "fill_level_at_pickup": (0, 1)},
                references={"bin_id": bins, "truck_id": ("silver", "trucks", "truck_id")}),
        _silver("bin_readings", waste.BIN_READINGS, ("message_id",), not_null=("bin_id", "observed_at"),
                ranges={"filling_level": (0, 1)}, in_set={"status": BIN_STATUS}, references={"bin_id": bins}),
        _silver("litter_detections", waste.LITTER_DETECTIONS, ("detection_id",), not_null=("category", "count"),
                ranges={"count": (1, 10000)}, in_set={"category": LITTER_CATEGORIES}),
        _silver("dsp_report_lines", admin.DSP_REPORT_LINES, ("contract_id", "year", "section", "code"),
                references={"contract_id": ("silver", "dsp_contracts", "contract_id")}),
        _silver("documents", admin.DOCUMENTS, ("file",), not_null=("doc_format", "n_chars")),
        _silver("city_calendar", reference.CITY_CALENDAR, ("kind", "name", "first_day"), not_null=("last_day",),
                ranges={"n_days": (1, 366)}, in_set={"kind": ("school_holiday", "event")},
                min_rows=0),   # a city may deliver no calendar: the forecaster then knows public holidays only
    ]
    return {s.table: s for s in suites}


SILVER_SUITES: dict[str, TableSuite] = _build_silver()


def silver_suite(table: str) -> TableSuite:
    return SILVER_SUITES[table]

# residents' reports (Open311), quality/suites_citizens.py
from .suites_citizens import BRONZE_CITIZEN_REQUESTS  # noqa: E402

BRONZE_SPECS["citizen_requests"] = BRONZE_CITIZEN_REQUESTS
