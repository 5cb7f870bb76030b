"""Residents' reports (Open311 service requests): one row per request, routed to its service and
matched to the street segment, bin or tree it is about; the plans' boosts.

Pure Polars/numpy; the bronze rows are already typed and redacted (models/citizens/open311.py).
"""

from __future__ import annotations

import numpy as np
import polars as pl

# service_code -> (service, kind of item it is matched to); models/citizens/open311.py holds the names
ROUTES: dict[str, tuple[str, str]] = {
    "pothole": ("voirie", "segment"), "pavement": ("voirie", "segment"),
    "bin_overflow": ("proprete", "bin"), "fly_tipping": ("proprete", "bin"), "litter": ("proprete", "bin"),
    "tree_danger": ("espaces_verts", "tree"), "tree_fallen": ("espaces_verts", "tree"),
}
# how far a report may be from the item it is matched to (m): a phone fix in town is good to
# ~10-20 m; a street segment is a line the resident stands on, a bin or a tree a point
MATCH_M: dict[str, float] = {"segment": 25.0, "bin": 40.0, "tree": 15.0}
UTC = pl.Datetime("us", "UTC")

REQUESTS: dict[str, pl.DataType] = {
    "service_request_id": pl.Utf8, "service_code": pl.Utf8, "service_name": pl.Utf8, "service": pl.Utf8,
    "description": pl.Utf8, "status": pl.Utf8, "lat": pl.Float64, "lon": pl.Float64, "x_2154": pl.Float64,
    "y_2154": pl.Float64, "address": pl.Utf8, "media_url": pl.Utf8, "requested_at": UTC, "acknowledged_at": UTC,
    "resolved_at": UTC, "updated_at": UTC, "versions": pl.Int64, "redactions": pl.Int64,
}
ROUTING: dict[str, pl.DataType] = {
    "service_request_id": pl.Utf8, "service": pl.Utf8, "service_code": pl.Utf8, "status": pl.Utf8,
    "item_kind": pl.Utf8, "item_id": pl.Utf8, "distance_m": pl.Float64, "matched": pl.Boolean,
    "segment_id": pl.Utf8, "street_name": pl.Utf8, "quartier": pl.Utf8, "commune": pl.Utf8,
    "requested_at": UTC, "reason": pl.Utf8,
}


def requests(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per request: its latest version (by updated time, then ingestion), with the times it
    was acknowledged (first version carrying an agent's status note, or closed) and resolved (first
    closed version), and its position in Lambert-93."""
    from pyproj import Transformer

    if bronze.is_empty():
        return pl.DataFrame(schema=REQUESTS)
    b = bronze.unique(["service_request_id", "content_hash"], keep="first").sort(
        ["service_request_id", "updated_datetime", "_ingested_at"])
    ack = pl.when(pl.col("status_notes").is_not_null() | (pl.col("status") == "closed")).then(pl.col("updated_datetime"))
    agg = b.group_by("service_request_id").agg(
        pl.col("requested_datetime").min().alias("requested_at"), ack.min().alias("acknowledged_at"),
        pl.when(pl.col("status") == "closed").then(pl.col("updated_datetime")).min().alias("resolved_at"),
        pl.len().cast(pl.Int64).alias("versions"), pl.col("redactions").max().alias("redactions"))
    last = b.group_by("service_request_id", maintain_order=True).last().drop("redactions")
    df = last.join(agg, on="service_request_id").with_columns(pl.col("updated_datetime").alias("updated_at"))
    tr = Transformer.from_crs(4326, 2154, always_xy=True)
    x, y = tr.transform(df["lon"].to_numpy(), df["lat"].to_numpy())
    df = df.with_columns(pl.Series("x_2154", np.asarray(x, float)), pl.Series("y_2154", np.asarray(y, float)),
                         pl.col("service_code").replace_strict({k: v[0] for k, v in ROUTES.items()},
                                                               default=None).alias("service"))
    # a request that was closed then reopened is not resolved
    df = df.with_columns(pl.when(pl.col("status") == "closed").then(pl.col("resolved_at")).alias("resolved_at"))
    return df.select([pl.col(c).cast(t) for c, t in REQUESTS.items()]).sort("service_request_id")


def _point_segment_dist(px: np.ndarray, py: np.ndarray, seg: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each point: index of the nearest segment (as a straight line end to end) and the distance."""
    x0, y0, x1, y1 = (seg[c].to_numpy()[None, :] for c in ("x0", "y0", "x1", "y1"))
    dx, dy = x1 - x0, y1 - y0
    L2 = np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(((px[:, None] - x0) * dx + (py[:, None] - y0) * dy) / L2, 0, 1)
    d = np.hypot(px[:, None] - (x0 + t * dx), py[:, None] - (y0 + t * dy))
    i = d.argmin(axis=1)
    return i, d[np.arange(len(px)), i]


def _nearest_point(px: np.ndarray, py: np.ndarray, pts: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    tree = cKDTree(np.c_[pts["x_2154"].to_numpy(), pts["y_2154"].to_numpy()])
    d, i = tree.query(np.c_[px, py])
    return i, d


def route(reqs: pl.DataFrame, segments: pl.DataFrame, bins: pl.DataFrame, trees: pl.DataFrame,
          communes: dict[str, str] | None = None) -> pl.DataFrame:
    """Each request -> its service and the item it is about: the nearest street segment (pothole,
    pavement), bin (overflowing bin, fly-tipping, litter) or tree (dangerous or fallen tree) within
    MATCH_M; else unmatched with the reason (nearest item and its distance). Every request also
    gets its nearest street segment, street name and quartier (where it is, for the KPIs);
    `communes` maps a quartier to its commune."""
    if reqs.is_empty() or segments.is_empty():
        return pl.DataFrame(schema=ROUTING)
    px, py = reqs["x_2154"].to_numpy(), reqs["y_2154"].to_numpy()
    si, sd = _point_segment_dist(px, py, segments)
    near = {"segment": (si, sd, segments["segment_id"].to_list())}
    for kind, pts, key in (("bin", bins, "bin_id"), ("tree", trees, "tree_id")):
        if pts is not None and pts.height:
            i, d = _nearest_point(px, py, pts)
            near[kind] = (i, d, pts[key].to_list())
    rows = []
    for k, r in enumerate(reqs.select("service_request_id", "service_code", "status", "requested_at").iter_rows()):
        rid, code, status, at = r
        service, kind = ROUTES[code]
        item, dist, matched = None, None, False
        if kind in near:
            i, d, ids = near[kind]
            item, dist = ids[int(i[k])], float(d[k])
            matched = dist <= MATCH_M[kind]
        if matched:
            reason = f"{service}: {kind} {item} at {dist:.0f} m"
        elif item is None:
            reason = f"no {kind} known to match a {code} report against: queued for an agent"
        else:
            reason = (f"no {kind} within {MATCH_M[kind]:.0f} m (nearest {item} at {dist:.0f} m): "
                      f"queued for an agent")
        s = int(si[k])
        q = segments["quartier"][s]
        rows.append({"service_request_id": rid, "service": service, "service_code": code, "status": status,
                     "item_kind": kind, "item_id": item if matched else None,
                     "distance_m": round(dist, 1) if dist is not None else None, "matched": matched,
                     "segment_id": segments["segment_id"][s], "street_name": segments["street_name"][s],
                     "quartier": q, "commune": (communes or {}).get(q, "Cannes"), "requested_at": at,
                     "reason": reason})
    return pl.DataFrame(rows, schema=ROUTING).sort("service_request_id")


def open_reports(routing: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Open, matched reports of one item kind, one row per item: its id, the report ids, the reason
    text ("resident report <id>[, <id> ...]") and how many reports name it."""
    if routing is None or routing.is_empty():
        return pl.DataFrame(schema={"item_id": pl.Utf8, "reports": pl.Int64, "report_reason": pl.Utf8})
    return (routing.filter(pl.col("matched") & (pl.col("status") == "open") & (pl.col("item_kind") == kind))
            .sort("service_request_id").group_by("item_id", maintain_order=True)
            .agg(pl.len().cast(pl.Int64).alias("reports"),
                 pl.col("service_request_id").str.join(", ").alias("_ids"))
            .select("item_id", "reports", pl.format("resident report {}", pl.col("_ids")).alias("report_reason")))


def agent_queue(routing: pl.DataFrame, graded_segments: list[str] | None) -> pl.DataFrame:
    """Open reports an agent must handle: those that matched nothing (their routing reason), and
    pothole/pavement reports on a segment no survey has graded (the repair plan has no option for
    it: someone must go and look)."""
    open_ = routing.filter(pl.col("status") == "open")
    unmatched = open_.filter(~pl.col("matched"))
    if graded_segments is None:
        return unmatched
    ungraded = open_.filter(pl.col("matched") & (pl.col("item_kind") == "segment")
                            & ~pl.col("item_id").is_in(graded_segments)).with_columns(pl.format(
        "segment {} ({}) has no graded survey, so no repair option: send a technician", pl.col("item_id"),
        pl.col("street_name")).alias("reason"))
    return pl.concat([unmatched, ungraded]).sort("service_request_id")


# -------------------------------------------------------------------- the plans' boosts

#: objective points a reported segment's repair options gain (per report, at most 3): the size of
#: a safety-critical fix's bonus (models/roads/repair.py SAFETY_BONUS), a resident's report being
#: as good a reason to act as the survey's own safety flag
REPORT_BONUS_REPAIR = 50.0
#: inspection priority added to a reported tree: TRAQ risk scores are 0-100 (models/trees/risk.py),
#: so a reported tree ranks above every unreported one and the rounds drop it last
REPORT_PRIORITY_TREE = 100.0


def boost_repair_options(options: pl.DataFrame, reports: pl.DataFrame) -> pl.DataFrame:
    """The repair options with `report_bonus` (objective points) and the reason appended for the
    segments residents reported; other options get 0."""
    o = options.join(reports.rename({"item_id": "segment_id"}), on="segment_id", how="left")
    return o.with_columns(
        (pl.col("reports").fill_null(0).clip(upper_bound=3) * REPORT_BONUS_REPAIR).cast(pl.Float64).alias("report_bonus"),
        pl.when(pl.col("report_reason").is_not_null())
        .then(pl.concat_str([pl.col("reasons"), pl.col("report_reason")], separator="; "))
        .otherwise(pl.col("reasons")).alias("reasons")).drop("reports", "report_reason")


def mark_reported_bins(forecast: pl.DataFrame, reports: pl.DataFrame) -> pl.DataFrame:
    """The bin forecast with `resident_report` (the reason text, or null): a reported bin is due."""
    return forecast.join(reports.select(pl.col("item_id").alias("bin_id"), pl.col("report_reason").alias(
        "resident_report")), on="bin_id", how="left")


def mark_reported_trees(risk: pl.DataFrame, reports: pl.DataFrame) -> pl.DataFrame:
    """The tree risk table with `report_priority` (added to the inspection priority) and
    `report_reason` for the trees residents reported."""
    r = risk.join(reports.select(pl.col("item_id").alias("tree_id"), "report_reason"), on="tree_id", how="left")
    return r.with_columns(pl.when(pl.col("report_reason").is_not_null()).then(REPORT_PRIORITY_TREE)
                          .otherwise(0.0).alias("report_priority"))
