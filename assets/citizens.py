"""Residents' reports (service relation, "relation usagers"): Open311 service requests from the
landing zone and NATS JetStream, routed to the services' items and into their plans; response-time
KPIs and the cross-service marts.

    bronze/citizen_requests -> silver/citizen_requests -> silver/citizen_request_routing
        -> (road_repair_plan, collection_selection, tree_inspection_plan boosts: their own modules)
        -> gold/citizen_agent_queue, gold/citizen_response_kpis (direction)
    silver/citizen_requests + landing/citizens/media -> silver/citizen_media (anonymised photos)
    cross-service: gold/root_heave_candidates, gold/cleanliness_hotspots, gold/works_coordination
"""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from models.citizens.media import anonymise_photo, media_file
from quality import suites_citizens as QC
from quality.checks import table_check
from transforms import citizens as T
from transforms import citizens_marts as M

from .lake import Lake, LakeResource, table_metadata
from .layers import OWNERS, bronze, gold, gold_key, silver, silver_key

GROUP = "relation_usagers"
MEDIA = {"service_request_id": pl.Utf8, "file": pl.Utf8, "source_sha256": pl.Utf8, "jpeg": pl.Binary,
         "blurred_boxes": pl.Int64, "blurred_share": pl.Float64, "anonymiser_version": pl.Utf8,
         "stored_at": pl.Datetime("us", "UTC")}


def communes_of_quartiers(lake: Lake) -> dict[str, str]:
    """quartier -> commune, from the quartier reference (communes without quartier data: none)."""
    if not lake.exists("silver", "quartiers"):
        return {}
    q = lake.read("silver", "quartiers")
    return dict(q.select("name", "commune").iter_rows()) if "commune" in q.columns else {}


def _read(lake: Lake, layer: str, table: str) -> pl.DataFrame | None:
    return lake.read(layer, table) if lake.exists(layer, table) else None


def resident_reports(lake: Lake, kind: str) -> pl.DataFrame:
    """Open, matched reports on items of `kind` (segment, bin, tree): what a plan raises, with its reason."""
    return T.open_reports(_read(lake, "silver", "citizen_request_routing"), kind)


@silver("citizen_requests", group=GROUP, deps=[bronze("citizen_requests")], keys=["service_request_id"])
def citizen_requests(lake: Lake):
    """One row per resident's report (Open311): latest status, redacted description, service,
    position (WGS84, Lambert-93), requested / acknowledged / resolved times, versions received."""
    return T.requests(lake.read_or_empty("bronze", "citizen_requests", {}))


@silver("citizen_request_routing", group=GROUP, deps=[silver_key("citizen_requests"), silver_key("street_segments"),
                                                      silver_key("collection_points"), dg.AssetKey(["silver", "tree_risk"]),
                                                      silver_key("quartiers")], keys=["service_request_id"])
def citizen_request_routing(lake: Lake):
    """Each report's service and the street segment, bin or tree it is about (within 25 / 40 / 15 m),
    or why nothing matched; its street, quartier and commune."""
    return T.route(lake.read("silver", "citizen_requests"), lake.read("silver", "street_segments"),
                   _read(lake, "silver", "collection_points"), _read(lake, "silver", "tree_risk"),
                   communes_of_quartiers(lake))


@dg.asset(key=silver_key("citizen_media"), deps=[silver_key("citizen_requests")], group_name=GROUP,
          owners=OWNERS[GROUP], kinds={"delta", "opencv"}, automation_condition=dg.AutomationCondition.eager(),
          pool="delta:silver/citizen_media", tags={"layer": "silver"},
          description="Residents' photos after the roads anonymiser (faces and plates blurred): only the "
                      "anonymised JPEG is stored; a missing or unreadable photo is quarantined with the reason")
def citizen_media(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    reqs = lk.read("silver", "citizen_requests").filter(pl.col("media_url").is_not_null())
    done = lk.read_or_empty("silver", "citizen_media", MEDIA)["service_request_id"].to_list()
    rows, bad = [], []
    for rid, url in reqs.filter(~pl.col("service_request_id").is_in(done)).select("service_request_id", "media_url").iter_rows():
        try:
            rec = anonymise_photo(media_file(url, lake.landing / "citizens" / "media"))
            rows.append({"service_request_id": rid, **rec, "stored_at": datetime.now(timezone.utc)})
        except ValueError as exc:
            bad.append({"source": "citizen_media", "delivery": "citizens/media", "item": rid, "reason": str(exc),
                        "original_path": url, "run_id": context.run_id})
    lk.quarantine(bad)
    if rows:
        lk.merge("silver", "citizen_media", pl.DataFrame(rows, schema=MEDIA), ["service_request_id"], update=False)
    total = lk.read_or_empty("silver", "citizen_media", MEDIA)
    return dg.MaterializeResult(metadata=table_metadata(total.drop("jpeg"), extra={
        "anonymised_now": len(rows), "quarantined_now": len(bad)}))


@gold("citizen_agent_queue", group=GROUP, deps=[silver_key("citizen_request_routing"), silver_key("citizen_requests"),
                                               gold_key("road_segment_condition")],
      may_be_empty="every open report matched its street segment, bin or tree and can enter its plan")
def citizen_agent_queue(lake: Lake):
    """Open reports for an agent, with the reason: those that matched no street segment, bin or tree
    (nearest item and its distance), and pothole/pavement reports on a segment no survey has graded
    (no repair option); the redacted description and where it is."""
    cond = _read(lake, "gold", "road_segment_condition")
    graded = cond.filter(pl.col("is_latest") & pl.col("graded"))["segment_id"].to_list() if cond is not None else None
    r = T.agent_queue(lake.read("silver", "citizen_request_routing"), graded)
    return r.join(lake.read("silver", "citizen_requests").select("service_request_id", "description", "address",
                                                                 "lat", "lon"), on="service_request_id", how="left")


@gold("citizen_response_kpis", group="direction", deps=[silver_key("citizen_requests"), silver_key("citizen_request_routing")])
def citizen_response_kpis(lake: Lake):
    """Residents' reports per week, service, commune and quartier: median hours to acknowledge and to
    resolve, share resolved within the service's target, repeat reports on the same item, and the
    change from the previous week."""
    return M.response_kpis(lake.read("silver", "citizen_requests"), lake.read("silver", "citizen_request_routing"))


@gold("root_heave_candidates", group="direction",
      deps=[silver_key("street_segments"), gold_key("road_segment_condition"), dg.AssetKey(["silver", "tree_risk"]),
            silver_key("citizen_request_routing")],
      may_be_empty="no damaged pavement within 8 m of a large tree")
def root_heave_candidates(lake: Lake):
    """Damaged pavement (survey PCI < 70 or an open pothole/pavement report) within 8 m of a large
    tree (>= 12 m or DBH >= 40 cm): root heave candidates for a joint voirie / espaces verts visit."""
    return M.root_heave_candidates(lake.read("silver", "street_segments"), _read(lake, "gold", "road_segment_condition"),
                                   _read(lake, "silver", "tree_risk"), _read(lake, "silver", "citizen_request_routing"),
                                   communes_of_quartiers(lake))


@gold("cleanliness_hotspots", group="direction",
      deps=[silver_key("street_segments"), gold_key("cleanliness_index"), silver_key("citizen_request_routing"),
            silver_key("bin_readings"), silver_key("collection_points")],
      may_be_empty="no street where two of litter, residents' reports and bin overflows coincide")
def cleanliness_hotspots(lake: Lake):
    """Street segments where litter (clean-city index <= 3), residents' propreté reports and bin
    overflows (a sensor reading >= 100 %) coincide, at least two of the three."""
    return M.cleanliness_hotspots(lake.read("silver", "street_segments"), _read(lake, "gold", "cleanliness_index"),
                                  _read(lake, "silver", "citizen_request_routing"), _read(lake, "silver", "bin_readings"),
                                  _read(lake, "silver", "collection_points"), communes_of_quartiers(lake))


@gold("works_coordination", group="direction",
      deps=[gold_key("road_repair_plan"), gold_key("road_crew_days"), silver_key("collection_stops"),
            silver_key("fixed_rounds"), silver_key("collection_points"), silver_key("street_segments")],
      may_be_empty="no repair site on a street a collection round serves the same day")
def works_coordination(lake: Lake):
    """Repair sites and collection rounds on the same street the same day (crew day d = d-th working
    day after the plan; the rounds: the collection plan on its date, the fixed weekly rounds on the
    other crew days), with the advice to agree the order."""
    return M.works_coordination(_read(lake, "gold", "road_repair_plan"), _read(lake, "gold", "road_crew_days"),
                                _read(lake, "silver", "collection_stops"), lake.read("silver", "collection_points"),
                                lake.read("silver", "street_segments"), communes_of_quartiers(lake),
                                _read(lake, "silver", "fixed_rounds"))


ASSETS = [citizen_requests, citizen_request_routing, citizen_media, citizen_agent_queue, citizen_response_kpis,
          root_heave_candidates, cleanliness_hotspots, works_coordination]

CHECKS = [
    table_check("silver", "citizen_requests", QC.SUITES["citizen_requests"], extra=QC.acknowledged_before_resolved,
                description="Great Expectations on residents' reports: one row per request, service and status known, "
                            "times in order"),
    table_check("silver", "citizen_request_routing", QC.SUITES["citizen_request_routing"],
                extra=QC.matched_within_threshold,
                description="Every report routed to a known service, its segment known; a match within its distance"),
    table_check("silver", "citizen_media", QC.SUITES["citizen_media"], extra=QC.photos_are_anonymised_jpegs,
                description="Stored residents' photos: one per request, an anonymised JPEG with the anonymiser's version"),
    table_check("gold", "citizen_response_kpis", QC.SUITES["citizen_response_kpis"]),
    table_check("gold", "citizen_agent_queue", QC.SUITES["citizen_agent_queue"]),
    *[table_check("gold", t, QC.SUITES[t]) for t in ("root_heave_candidates", "cleanliness_hotspots",
                                                      "works_coordination")],
]
