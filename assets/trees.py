"""Green spaces (espaces verts): the LiDAR 4D tree twin.

tiles (bronze, silver registry) -> lidar_points (heights, rasters) -> tree_detections (tops,
crowns, metrics) -> tree_twin (epochs matched, register matched, DBH) -> tree_vitality_model
(training) -> tree_health (scoring) -> tree_risk (TRAQ) -> tree_inspection_plan (OR-Tools) ->
marts tree_inventory, tree_changes, canopy_by_quartier, tree_risk_register (+ GeoJSON /
GeoParquet exports and a map), tree_inspection_plan; trees_by_quartier from the register.
"""

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from models.trees.health import CLASSES, FEATURES, HealthModel, feature_matrix, model_card, train
from models.trees.inspection import InspectionConfig, plan_inspections
from models.trees import labels as L
from quality.suites import ROUTING_OK
from quality.suites_marts import MARTS
from models.trees import pipeline as P
from quality import suites_trees as QS
from quality.checks import table_check
from transforms import citizens as TC
from transforms import inspections as TI
from transforms import territory as TT
from transforms import trees as T
from transforms.geo import wkt_coords

from . import ml
from . import trees_tiles as TP
from .citizens import resident_reports
from .communes import placed
from .lake import Lake, LakeResource, move_to_quarantine, image_metadata, table_metadata
from .catalog import CONTRACT, gold_asset_args
from .layers import OWNERS, bronze, gold, gold_key, silver, silver_key

GROUP = "espaces_verts"
VITALITY_MODEL = "tree_vitality"


@silver("lidar_tiles", group=GROUP, deps=[bronze("lidar_tiles"), silver_key("quartiers"), silver_key("communes")],
        keys=["tile_id", "epoch"])
def lidar_tiles(lake: Lake):
    """LiDAR tiles per scan epoch inside the territory (reference communes + 500 m): bounds
    (EPSG:2154), declared CRS, points, density (pts/m²), points per class, whether the delivery
    carries a ground class, quartier of the tile centre; tiles outside are quarantined with the area."""
    tiles = T.lidar_tiles(lake.read("bronze", "lidar_tiles"), lake.read("silver", "quartiers"))
    inside, outside = TT.split_tiles(tiles, lake.read_or_empty("silver", "communes", TT.COMMUNES))
    lake.quarantine(TT.tile_quarantine_rows(outside))
    return inside


@silver("tree_inspections", group=GROUP, deps=[bronze("tree_inspections")], keys=["inspection_id"])
def tree_inspections(lake: Lake):
    """Arborists' inspection records: tree id or position (EPSG:2154 and WGS84), date, Roloff
    vitality (VS0-VS3, dead), defects, TRAQ likelihood of failure, measured height (m) and DBH (cm),
    inspector; the labels of the vitality model."""
    return TI.tree_inspections(lake.read_or_empty("bronze", "tree_inspections", {}))


@silver("tree_register", group=GROUP, deps=[bronze("tree_register"), silver_key("quartiers")],
        keys=["register_id"])
def tree_register(lake: Lake):
    """The city's old tree register: species, position, quartier, height (m), girth and DBH (cm)."""
    return T.tree_register(lake.read("bronze", "tree_register"), lake.read("silver", "quartiers"))


@gold("trees_by_quartier", group=GROUP,
      deps=[silver_key("tree_register"), silver_key("lidar_tiles"), silver_key("quartiers")])
def trees_by_quartier(lake: Lake):
    """Per quartier: registered trees, trees per km², species count and main species, mean height
    (m) and DBH (cm), LiDAR tiles and points per scan epoch."""
    return T.trees_by_quartier(lake.read("silver", "tree_register"), lake.read("silver", "lidar_tiles"),
                               lake.read("silver", "quartiers"))


# ---------------------------------------------------------------- helpers

def _asset(key: list[str], deps: list, description: str, kinds: set[str], **kw):
    return dg.asset(key=key, deps=deps, group_name=GROUP, owners=OWNERS[GROUP], kinds=kinds,
                    description=description, pool=f"delta:{'/'.join(key)}", tags={"layer": key[0]},
                    **kw)


def _load_avg() -> str:
    import os

    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------- points, ground, heights, rasters

@_asset(["silver", "lidar_points"], [silver_key("lidar_tiles"), bronze("lidar_tiles")],
        "LiDAR points of every registered tile in Delta (partitioned by epoch and tile), ground "
        "classified where the delivery has no class 2, heights above ground (m), and per-tile rasters "
        "(canopy height model, 0.5 m); incremental: a tile whose file checksum is unchanged is skipped",
        {"delta", "laz", "numpy"})
def lidar_points(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    tiles = lk.read("silver", "lidar_tiles")
    checks = T.tile_checksums(lk.read("bronze", "lidar_tiles", columns=["tile_id", "epoch", "_checksum", "_ingested_at"]))
    done = lk.read_or_empty("silver", "lidar_tile_products", T.TILE_PRODUCTS)
    todo = T.tiles_to_process(tiles, checks, done, P.RASTER_VERSION)
    t0 = time.perf_counter()
    # tiles over INGEST_WORKERS processes (assets/trees_tiles.py), their points written here in order
    rows, failed = TP.tile_points(lk, lake.landing, todo, lake.ingest_workers)
    bad = [T.tile_quarantine_row(r, reason, lake.landing, _quarantine_tile(lake, r), context.run_id) for r, reason in failed]
    for _r, reason in failed:   # quarantined with the reason, the rest landed
        context.log.warning(reason)
    lk.quarantine(bad)
    if rows:   # the per-tile summary is small: rewritten whole (also upgrades a table of an older schema)
        lk.overwrite("silver", "lidar_tile_products", T.merge_tile_products(done, rows))
    dt = time.perf_counter() - t0
    n_points = sum(r["points"] for r in rows)
    products = lk.read_or_empty("silver", "lidar_tile_products", T.TILE_PRODUCTS)
    return dg.MaterializeResult(metadata=table_metadata(products, extra={
        "tiles_processed": len(rows), "tiles_skipped_unchanged": tiles.height - todo.height,
        "tiles_quarantined": len(bad), "points_processed": n_points, "seconds": round(dt, 2),
        "points_per_s": round(n_points / dt) if dt > 0 and n_points else 0, "load_average": _load_avg(),
        "ingest_workers": lake.ingest_workers}))


def _quarantine_tile(lake: LakeResource, r: dict):
    path = lake.landing / r["source_file"]
    return move_to_quarantine(path, lake.landing, lake.quarantine_root, "lidar_tiles") if path.exists() else None


@_asset(["silver", "tree_detections"], [dg.AssetKey(["silver", "lidar_points"])],
        "Trees found per tile and epoch: lidR local-maximum tops on the canopy height model, "
        "dalponte2016 crowns, per-tree metrics (position EPSG:2154, height m, crown area m², diameter "
        "m, volume m³, crown base m, lean °, gap fractions)", {"delta", "numpy", "scipy"})
def tree_detections(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    products = lk.read("silver", "lidar_tile_products")
    t = time.perf_counter()
    # jobs of whole tile columns over INGEST_WORKERS processes (assets/trees_tiles.py); a failure raises
    det = TP.tree_detections(lk.files.localise(products, "rasters_path"), lake.ingest_workers)
    lk.overwrite("silver", "tree_detections", det)
    return dg.MaterializeResult(metadata=table_metadata(det, extra={
        "seconds": round(time.perf_counter() - t, 2), "tiles": products.height, "load_average": _load_avg(),
        "ingest_workers": lake.ingest_workers,
        "trees_per_epoch": dg.MetadataValue.json(det.group_by("epoch").len().sort("epoch").to_dicts())}))


@_asset(["silver", "tree_twin"], [dg.AssetKey(["silver", "tree_detections"]), silver_key("tree_register"),
                                  silver_key("lidar_tiles"), silver_key("quartiers")],
        "The 4D twin: one row per tree and epoch with a stable tree_id (epochs matched one-to-one, "
        "Hungarian with a 3 m gate; the old register matched with a 4 m gate), status alive/new/felled, "
        "growth (m), crown area change (%), new lean (°), species group and DBH (cm) by allometry",
        {"delta", "polars", "scipy"})
def tree_twin(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    twin, coef = P.build_twin(lk.read("silver", "tree_detections"), lk.read("silver", "lidar_tiles"),
                              lk.read("silver", "tree_register"), lk.read("silver", "quartiers"))
    lk.overwrite("silver", "tree_twin", twin)
    return dg.MaterializeResult(metadata=table_metadata(twin, extra={
        "allometry_dbh_cm_a_h_b": dg.MetadataValue.json({k: {"a": round(a, 3), "b": round(b, 3)} for k, (a, b) in coef.items()}),
        "register_matched": int(twin.filter(pl.col("register_id").is_not_null())["tree_id"].n_unique()),
        "status_counts": dg.MetadataValue.json(twin.group_by("epoch", "status").len().sort("epoch", "status").to_dicts())}))


# ---------------------------------------------------------------- health model

@_asset(["ml", "tree_vitality_model"], [dg.AssetKey(["silver", "tree_twin"]), silver_key("tree_inspections")],
        "PyTorch vitality classifier (Roloff VS0-VS3) from structure and change features, trained on "
        "arborists' inspection records matched to the detected trees (never below "
        f"{L.MIN_TRAINING_RECORDS} records); versioned in ml/model_registry with a model card (no "
        "retraining when data and configuration are unchanged)", {"torch"})
def tree_vitality_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.trees.health import CONFIG

    lk = lake.lake()
    labelled, info = L.labels_from_inspections(lk.read("silver", "tree_twin"),
                                               lk.read_or_empty("silver", "tree_inspections", TI.TREE_INSPECTIONS))
    refusal = L.training_refusal(labelled)
    if refusal:
        context.log.warning(f"vitality model not trained: {refusal}")
        return dg.MaterializeResult(metadata={"trained": False, "reason": refusal, **_vitality_meta(lk, info, trained_now=False)})
    version = ml.fingerprint(ml.frame_fingerprint(labelled.select("tree_id", "epoch", "label", *FEATURES)), CONFIG,
                             "tree_vitality/2-inspections")
    if ml.find(lk, VITALITY_MODEL, version):
        ml.register(lk, VITALITY_MODEL, version, metrics=json.loads(ml.find(lk, VITALITY_MODEL, version)["metrics_json"]),
                    training_rows=labelled.height)
        return dg.MaterializeResult(metadata={"trained": False, "reason": "version exists (same records, same config)",
                                              **_vitality_meta(lk, info, trained_now=False)})
    t = time.perf_counter()
    model, metrics = train(feature_matrix(labelled.to_dict(as_series=False)), labelled["label"].to_numpy(),
                           labelled["tree_id"].to_numpy())
    d = ml.artifact_dir(lk, VITALITY_MODEL, version)
    model.save(d)
    md, js = model_card(version, metrics, {
        "source": f"silver/tree_inspections (arborists' records) matched to silver/tree_twin by tree id or "
                  f"nearest position within {L.GATE_M:.0f} m",
        "records": info["records"], "matched_by_tree_id": info["matched_by_tree_id"],
        "matched_by_position": info["matched_by_position"], "unmatched": info["unmatched"],
        "rows": labelled.height, "trees": labelled["tree_id"].n_unique(), "label_counts": info["label_counts"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    (d / "MODEL_CARD.md").write_text(md)
    (d / "model_card.json").write_text(js)
    ml.register(lk, VITALITY_MODEL, version, metrics=metrics, training_rows=labelled.height,
                notes="labels: arborists' inspection records")
    return dg.MaterializeResult(metadata={
        "trained": True, "seconds": round(time.perf_counter() - t, 2), **_vitality_meta(lk, info, trained_now=True),
        "model_card": dg.MetadataValue.md(md)})


def _vitality_meta(lk: Lake, info: dict, *, trained_now: bool) -> dict:
    """The promoted vitality model as the registry shows it (ml.model_metadata: version, metrics,
    model card; version "none" when no model was ever trained), with the inspection records'
    matching counts: reported on every materialisation."""
    meta = {"inspection_records": info["records"], "matched_by_tree_id": info["matched_by_tree_id"],
            "matched_by_position": info["matched_by_position"], "unmatched_records": info["unmatched"],
            "min_training_records": L.MIN_TRAINING_RECORDS}
    out = ml.model_metadata(lk, VITALITY_MODEL, trained_now=trained_now, extra=meta)
    test = (out["metrics"].data or {}).get("test", {}) if out["version"] != "none" else {}
    if test:    # the two figures the arborists' team reads first
        out.update(test_accuracy=test["accuracy"], test_macro_f1=test["macro_f1"])
    return out


@_asset(["silver", "tree_health"], [dg.AssetKey(["ml", "tree_vitality_model"]), dg.AssetKey(["silver", "tree_twin"])],
        "Vitality class (VS0-VS3) per tree and epoch from the promoted vitality model, with its "
        "probability and the model version", {"torch", "delta"})
def tree_health(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    twin = lk.read("silver", "tree_twin").filter(pl.col("status") != "felled")
    try:
        reg = ml.promoted(lk, VITALITY_MODEL)
        model = HealthModel.load(ml.artifact_dir(lk, VITALITY_MODEL, reg["version"]))
        proba = model.predict_proba(feature_matrix(twin.to_dict(as_series=False)))
        version = reg["version"]
    except LookupError as exc:
        context.log.warning(str(exc))
        proba, version = np.full((twin.height, len(CLASSES)), np.nan), None
    cls = np.where(np.isfinite(proba).all(1), proba.argmax(1) if len(proba) else 0, -1)
    health = twin.select("tree_id", "epoch").with_columns(
        pl.Series("vitality", [CLASSES[c] if c >= 0 else None for c in cls], pl.Utf8),
        pl.Series("vitality_confidence", proba.max(1) if len(proba) else np.zeros(0), pl.Float64),
        *[pl.Series(f"p_{c.lower()}", proba[:, k] if len(proba) else np.zeros(0), pl.Float64) for k, c in enumerate(CLASSES)],
        pl.lit(version, pl.Utf8).alias("model_version"))
    lk.overwrite("silver", "tree_health", health)
    return dg.MaterializeResult(metadata=table_metadata(health, extra={"model_version": version or "none"}))


# ---------------------------------------------------------------- risk and inspections

@_asset(["silver", "tree_risk"], [dg.AssetKey(["silver", "tree_health"]), dg.AssetKey(["silver", "tree_twin"]),
                                  silver_key("street_segments"), silver_key("places")],
        "TRAQ-style risk per living tree (latest scan): likelihood of failure x likelihood of impact "
        "(targets in the fall zone) x consequence (size) -> Low/Moderate/High/Extreme with reasons",
        {"delta", "polars"})
def tree_risk(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    r = P.tree_risk(lk.read("silver", "tree_twin"), lk.read("silver", "tree_health"),
                    lk.read("silver", "street_segments"), lk.read("silver", "places"))
    lk.overwrite("silver", "tree_risk", r)
    return dg.MaterializeResult(metadata=table_metadata(r, extra={
        "ratings": dg.MetadataValue.json(r.group_by("risk_rating").len().sort("risk_rating").to_dicts())}))


@_asset(["silver", "tree_inspection_plan"], [dg.AssetKey(["silver", "tree_risk"]), silver_key("places"),
                                            silver_key("citizen_request_routing")],
        "Tomorrow's arborist rounds: the trees most worth a visit (TRAQ score; a tree of unknown vitality "
        "ranked as if declining, with that reason) that two teams can inspect in a 7 h 30 shift, routed with "
        "OR-Tools (every tree optional, drop penalty = priority); carries the arborist's form columns, empty",
        {"ortools", "delta"}, metadata={CONTRACT: True})
def tree_inspection_plan(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    risk = TC.mark_reported_trees(lk.read("silver", "tree_risk"), resident_reports(lk, "tree"))
    plan, info = P.inspection_plan(risk, lk.read("silver", "places"), InspectionConfig(),
                                   plan_inspections)
    if info["candidates"] and info["solver_status"] not in ROUTING_OK:
        # a failed solve never replaces the last good rounds: fail visibly, table untouched
        raise dg.Failure(f"inspection rounds not solved ({info['solver_status']}); the previous plan is kept",
                         metadata={"solver_status": str(info["solver_status"]), "kept_previous_plan": True})
    lk.overwrite("silver", "tree_inspection_plan", plan)
    return dg.MaterializeResult(metadata=table_metadata(plan, extra={k: v for k, v in info.items()}))


# ---------------------------------------------------------------- marts

@gold("tree_inventory", group=GROUP, deps=[dg.AssetKey(["silver", "tree_twin"]), dg.AssetKey(["silver", "tree_health"]),
                                           dg.AssetKey(["silver", "tree_risk"])])
def tree_inventory(lake: Lake):
    """One row per tree, latest state: position (EPSG:2154 m, WGS84), height (m), crown area (m²),
    diameter (m), volume (m³), crown base (m), DBH (cm), lean (°), species (register) or species
    group, vitality class, TRAQ risk."""
    return T.tree_inventory(lake.read("silver", "tree_twin"), lake.read("silver", "tree_health"),
                            lake.read("silver", "tree_risk"))


@gold("tree_changes", group=GROUP, deps=[dg.AssetKey(["silver", "tree_twin"])])
def tree_changes(lake: Lake):
    """Per tree and later scan: status, height growth (m), crown area change (%), crown loss (%),
    new lean (°), felled and new flags."""
    return T.tree_changes(lake.read("silver", "tree_twin"))


@gold("canopy_by_quartier", group=GROUP, deps=[gold_key("tree_inventory"), silver_key("quartiers")])
def canopy_by_quartier(lake: Lake):
    """Per quartier: living trees, canopy cover (% of area under detected crowns), trees per km²,
    mean height (m), species-group mix, new, felled and high-risk trees."""
    return T.canopy_by_quartier(lake.read("gold", "tree_inventory"), lake.read("silver", "quartiers"))


@gold("tree_inspection_plan", group=GROUP, deps=[dg.AssetKey(["silver", "tree_inspection_plan"])])
def tree_inspection_plan_mart(lake: Lake):
    """Arborist rounds: team, visit order, planned start (minutes after shift start), tree, risk,
    priority and reason, position (EPSG:2154, WGS84); dropped candidates listed with team null; the
    inspection form's columns (date, vitality, defects, likelihood of failure, height, DBH,
    inspector) empty, to fill in and send back to landing/trees/inspections."""
    return lake.read("silver", "tree_inspection_plan")


@dg.asset(**gold_asset_args(
    "tree_risk_register", group=GROUP, kinds={"delta", "geoparquet", "geojson"},
    deps=[dg.AssetKey(["silver", "tree_risk"]), gold_key("tree_inventory"), dg.AssetKey(["silver", "tree_inspection_plan"]),
          silver_key("quartiers")],
    description="Living trees by TRAQ risk: rating, score, failure / impact / consequence levels, targets and reasons; "
                "exported as GeoJSON and GeoParquet for QGIS"))
def tree_risk_register(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.trees.export import risk_map_png, write_geojson, write_geoparquet

    lk = lake.lake()
    reg = placed(lk, "tree_risk_register", T.tree_risk_register(lk.read("silver", "tree_risk")))
    lk.overwrite("gold", "tree_risk_register", reg)
    inv = lk.read("gold", "tree_inventory")
    out = lk.files.pull_dir("exports/trees")   # a local folder: the lake's own, or a cache pushed below
    files = {"tree_inventory.geojson": write_geojson(inv, out / "tree_inventory.geojson"),
             "tree_inventory.parquet": write_geoparquet(inv, out / "tree_inventory.parquet"),
             "tree_risk_register.geojson": write_geojson(reg, out / "tree_risk_register.geojson"),
             "tree_risk_register.parquet": write_geoparquet(reg, out / "tree_risk_register.parquet")}
    q = lk.read("silver", "quartiers")
    rings = [wkt_coords(w) for w in q["wkt_2154"].to_list()]
    plan = lk.read("silver", "tree_inspection_plan")
    routes = P.route_lines(plan, lk.read("silver", "places"))
    png = risk_map_png(inv.filter(pl.col("status") != "felled"), rings, routes)
    (out / "tree_risk_map.png").write_bytes(png)
    lk.files.push_dir("exports/trees")
    return dg.MaterializeResult(metadata=table_metadata(reg, preview_rows=20, extra={
        **{f"export_{k.replace('.', '_')}": dg.MetadataValue.path(lk.files.uri(f"exports/trees/{k}")) for k in files},
        "map": image_metadata(png, "trees by risk"),
        "map_path": dg.MetadataValue.path(lk.files.uri("exports/trees/tree_risk_map.png"))}))


@dg.asset_check(asset=dg.AssetKey(["silver", "lidar_points"]), name="gx_tile_products", blocking=True,
                description="Tiles: every registered tile has its points, heights and rasters once, heights "
                            "in range, ground found (GX on silver/lidar_tile_products, the per-tile summary)")
def lidar_tiles_processed(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    from quality.checks import check_table, to_result

    lk = lake.lake()
    df = lk.read_or_empty("silver", "lidar_tile_products", T.TILE_PRODUCTS)
    result = to_result(check_table(df, QS.TILE_PRODUCTS))
    problems = QS.tile_rules(df, lk)
    if not problems:
        return result
    return dg.AssetCheckResult(passed=False, description=("; ".join(problems) + " | " + (result.description or ""))[:2000],
                               metadata={**(result.metadata or {}), "rule_failures": dg.MetadataValue.json(problems[:50])})


ASSETS = [lidar_tiles, tree_register, tree_inspections, trees_by_quartier, lidar_points, tree_detections, tree_twin,
          tree_vitality_model, tree_health, tree_risk, tree_inspection_plan, tree_inventory, tree_changes,
          canopy_by_quartier, tree_inspection_plan_mart, tree_risk_register]

CHECKS = [
    table_check("silver", "tree_detections", QS.DETECTIONS, extra=QS.detection_rules,
                description="Trees: one row per detection, metrics in physical ranges, every processed tile covered"),
    table_check("silver", "tree_twin", QS.TWIN, extra=QS.twin_rules,
                description="Changes: one row per tree and epoch, statuses consistent across epochs, growth plausible"),
    table_check("silver", "tree_health", QS.HEALTH, extra=QS.health_rules,
                description="Vitality: one row per tree and epoch, VS0-VS3, probabilities in [0, 1] summing to 1, "
                            "scored by the promoted model"),
    table_check("silver", "tree_risk", QS.RISK,
                description="TRAQ risk: one row per tree and epoch, a rating in Low/Moderate/High/Extreme with its "
                            "score and reasons"),
    table_check("silver", "tree_inspection_plan", QS.INSPECTION, extra=QS.inspection_rules,
                description="Inspection plan: each tree once, planned visits with team, order and start, every "
                            "tree in the risk register, reasons carried"),
    lidar_tiles_processed,
    table_check("gold", "tree_inspection_plan", QS.INSPECTION, extra=QS.inspection_rules),
    *[table_check("gold", t, MARTS[t]) for t in ("tree_inventory", "tree_changes", "canopy_by_quartier",
                                                  "trees_by_quartier", "tree_risk_register")],
]
