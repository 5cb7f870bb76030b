"""Residents' reports: the bronze spec (what a stored Open311 request promises) and the silver and
gold suites. An agglomeration with no report yet has empty tables: `min_rows` is 0."""

from __future__ import annotations

import polars as pl

from models.citizens.open311 import LAT_RANGE, LON_RANGE, SERVICE_CODES, STATUSES
from transforms import citizens as T
from transforms import citizens_marts as M
from transforms.validation import Col

from .suites import TableSuite

BRONZE_CITIZEN_REQUESTS = [
    Col("service_request_id"), Col("service_code", allowed=tuple(SERVICE_CODES)), Col("status", allowed=STATUSES),
    Col("lat", pl.Float64, min=LAT_RANGE[0], max=LAT_RANGE[1]), Col("lon", pl.Float64, min=LON_RANGE[0], max=LON_RANGE[1]),
    Col("content_hash"), Col("redactions", pl.Int64, min=0)]

SERVICES = ("voirie", "proprete", "espaces_verts")
SEG = {"segment_id": ("silver", "street_segments", "segment_id")}
REQ = {"service_request_id": ("silver", "citizen_requests", "service_request_id")}


def _suite(table: str, schema: dict, key: tuple, not_null: tuple = (), **kw) -> TableSuite:
    return TableSuite(table=table, key=key, not_null=tuple(dict.fromkeys((*key, *not_null))), types=dict(schema),
                      min_rows=0, **kw)


SUITES = {
    "citizen_requests": _suite("citizen_requests", T.REQUESTS, ("service_request_id",),
                               not_null=("service_code", "service", "status", "requested_at", "x_2154", "versions"),
                               in_set={"service": SERVICES, "status": STATUSES}, ranges={"versions": (1, None)}),
    "citizen_request_routing": _suite("citizen_request_routing", T.ROUTING, ("service_request_id",),
                                      not_null=("service", "item_kind", "matched", "segment_id", "quartier", "reason"),
                                      in_set={"service": SERVICES, "item_kind": ("segment", "bin", "tree")},
                                      ranges={"distance_m": (0, None)}, references={**SEG, **REQ}),
    "citizen_response_kpis": _suite("citizen_response_kpis", M.KPI_SCHEMA, ("week_start", "service", "commune", "quartier"),
                                    not_null=("requests", "share_resolved_within_target"),
                                    ranges={"share_resolved_within_target": (0, 1), "requests": (1, None),
                                            "median_hours_to_acknowledge": (0, None), "median_hours_to_resolve": (0, None)}),
    "citizen_media": _suite("citizen_media", {"service_request_id": pl.Utf8, "file": pl.Utf8, "source_sha256": pl.Utf8,
                                              "blurred_boxes": pl.Int64, "blurred_share": pl.Float64,
                                              "anonymiser_version": pl.Utf8}, ("service_request_id",),
                            not_null=("file", "source_sha256", "anonymiser_version"),
                            ranges={"blurred_share": (0, 1), "blurred_boxes": (0, None)}, references=REQ),
    "root_heave_candidates": _suite("root_heave_candidates", M.ROOT_HEAVE, ("segment_id", "tree_id"),
                                    not_null=("distance_m", "evidence"), ranges={"distance_m": (0, M.ROOT_HEAVE_M)},
                                    references=SEG),
    "cleanliness_hotspots": _suite("cleanliness_hotspots", M.HOTSPOT, ("segment_id",), not_null=("signals", "evidence"),
                                   ranges={"signals": (2, 3), "complaints": (0, None), "bin_overflows": (0, None)},
                                   references=SEG),
    "works_coordination": _suite("works_coordination", M.WORKS, ("work_date", "repair_segment_id", "truck_id"),
                                 not_null=("street_name", "advice"), ranges={"bins_on_street": (1, None)},
                                 references={"repair_segment_id": ("silver", "street_segments", "segment_id")}),
    "citizen_agent_queue": _suite("citizen_agent_queue", T.ROUTING, ("service_request_id",), not_null=("reason",),
                                  references=REQ),
}


def acknowledged_before_resolved(df: pl.DataFrame, lake) -> list[str]:
    """No request resolved before it was requested or acknowledged after it was resolved."""
    bad = df.filter((pl.col("resolved_at") < pl.col("requested_at")) | (pl.col("acknowledged_at") > pl.col("resolved_at")))
    return [f"{bad.height} request(s) with times out of order, e.g. {bad['service_request_id'][0]}"] if bad.height else []


def matched_within_threshold(df: pl.DataFrame, lake) -> list[str]:
    """A matched report names its item and lies within the match distance of its kind."""
    lim = pl.col("item_kind").replace_strict(T.MATCH_M, default=None)
    bad = df.filter(pl.col("matched") & (pl.col("item_id").is_null() | (pl.col("distance_m") > lim)))
    return [f"{bad.height} matched report(s) without an item or beyond the match distance"] if bad.height else []


def photos_are_anonymised_jpegs(df: pl.DataFrame, lake) -> list[str]:
    """Every stored photo is a JPEG, none stored without the anonymiser's version."""
    bad = df.filter(pl.col("jpeg").is_null() | (pl.col("jpeg").bin.slice(0, 2) != b"\xff\xd8")
                    | pl.col("anonymiser_version").is_null())
    return [f"{bad.height} stored photo(s) not an anonymised JPEG"] if bad.height else []
