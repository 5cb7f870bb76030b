"""The tree twin end to end on the tiny city: bronze ingestion of the LAZ tiles (with a truncated
and a mis-projected tile that must be quarantined while the others go through), the communes and
the arborists' inspection records through the landing zone, then every green-spaces asset after
silver materialised with Dagster against a temporary lake with the ground-truth folder deleted
(the vitality model learns from the inspection records), and the results checked against the
simulator's truth read beforehand. Then the same twin without any inspection record: no model,
and the risk says "vitality unknown"."""

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.bronze import ingest_delivery
from assets.lake import Lake, LakeResource
from assets.sources import SOURCES_BY_NAME
from models.trees.matching import match_points
from transforms import trees as T


def _reference_frames(city) -> dict[str, pl.DataFrame]:
    def wkt(poly):
        pts = list(poly) + [poly[0]]
        return "POLYGON((" + ", ".join(f"{x:.2f} {y:.2f}" for x, y in pts) + "))"

    s = city.segments
    return {
        "quartiers": pl.DataFrame({"code": [q.code for q in city.quartiers], "name": [q.name for q in city.quartiers],
                                   "wkt_2154": [wkt(q.polygon) for q in city.quartiers],
                                   "area_km2": [q.area_m2 / 1e6 for q in city.quartiers]}),
        "street_segments": pl.DataFrame({"segment_id": [g.segment_id for g in s], "road_class": [g.road_class for g in s],
                                         "x0": [g.x0 for g in s], "y0": [g.y0 for g in s], "x1": [g.x1 for g in s],
                                         "y1": [g.y1 for g in s]}),
        "places": pl.DataFrame({"place_id": [p.place_id for p in city.places], "kind": [p.kind for p in city.places],
                                "x_2154": [p.x for p in city.places], "y_2154": [p.y for p in city.places]}),
    }


def _write_bad_tiles(landing: Path) -> tuple[str, str]:
    """A truncated copy of a good tile and a tile whose points are in WGS84 degrees written
    under a Lambert-93 header (mis-projected)."""
    from models.simulator.bad_inputs import _write_misprojected

    good = sorted((landing / "trees" / "tiles" / "2026").glob("*.laz"))[0]
    data = good.read_bytes()
    trunc = landing / "trees" / "tiles" / "2026" / "L93_1019000_6278000.laz"
    trunc.write_bytes(data[: int(len(data) * 0.6)])
    mis = landing / "trees" / "tiles" / "2026" / "L93_1019250_6278000.laz"
    _write_misprojected(good, mis)   # the simulator's own bad input
    return "2026/" + trunc.name, "2026/" + mis.name


def test_tree_chain_on_tiny_city(lake_env):
    from models.simulator.city import build_city
    from models.simulator.trees import simulate_trees

    landing = Path(lake_env.landing_uri)
    truth_dir = lake_env.ground_truth_path
    city = build_city("tiny", 7)
    simulate_trees(city, landing, truth_dir)
    trunc_key, mis_key = _write_bad_tiles(landing)
    lake = Lake(lake_env.lake_uri)
    qroot = landing / "_quarantine"

    tiles_src = SOURCES_BY_NAME["lidar_tiles"]
    keys = sorted(p.relative_to(landing / "trees" / "tiles").as_posix() for p in (landing / "trees" / "tiles").glob("*/*.laz"))
    reports = {k: ingest_delivery(tiles_src, k, lake, landing, qroot, run_id="test") for k in keys}
    assert reports[trunc_key].status == "quarantined"
    assert reports[mis_key].status == "quarantined"
    good = [k for k in keys if k not in (trunc_key, mis_key)]
    assert all(reports[k].status == "ingested" for k in good), {k: reports[k].status for k in good}
    q = lake.read("", "quarantine")
    reasons = dict(zip(q["delivery"].to_list(), q["reason"].to_list()))
    assert "unreadable" in reasons[trunc_key]
    assert "mis-projected" in reasons[mis_key] or "outside Cannes" in reasons[mis_key]
    assert (qroot / "lidar_tiles" / "trees" / "tiles" / mis_key).exists()   # kept, not deleted
    ingest_delivery(SOURCES_BY_NAME["tree_register"], "registre_arbres_2019.csv", lake, landing, qroot, run_id="test")
    from models.simulator.reference import communes_geojson
    from transforms import inspections as TI
    from transforms import territory as TT

    (landing / "reference").mkdir(parents=True, exist_ok=True)
    (landing / "reference" / "communes.geojson").write_text(json.dumps(communes_geojson(city)))
    ingest_delivery(SOURCES_BY_NAME["communes"], "communes.geojson", lake, landing, qroot, run_id="test")
    inspection_files = sorted(p.name for p in (landing / "trees" / "inspections").glob("*.csv"))
    assert inspection_files == ["inspections_2025.csv", "inspections_2026.csv"]
    for f in inspection_files:
        assert ingest_delivery(SOURCES_BY_NAME["tree_inspections"], f, lake, landing, qroot, run_id="test").status == "ingested"
    inspections = TI.tree_inspections(lake.read("bronze", "tree_inspections"))
    assert 30 <= inspections.height < 2 * 61   # a subset of the standing trees, both scans
    lake.overwrite("silver", "tree_inspections", inspections)

    ref = _reference_frames(city)
    ref["communes"] = TT.communes(lake.read("bronze", "communes"))
    assert ref["communes"]["insee"].to_list() == ["06029"]
    for name, df in ref.items():
        lake.overwrite("silver", name, df)
    lake.overwrite("silver", "lidar_tiles", T.lidar_tiles(lake.read("bronze", "lidar_tiles"), ref["quartiers"]))
    lake.overwrite("silver", "tree_register", T.tree_register(lake.read("bronze", "tree_register"), ref["quartiers"]))

    # production never reads the simulator's truth: keep it for scoring, then delete the folder
    truth = pl.read_csv(truth_dir / "trees" / "trees.csv", infer_schema_length=0).with_columns(
        pl.col("x_2154", "y_2154", "height_m").cast(pl.Float64, strict=False))
    shutil.rmtree(truth_dir)

    from assets import trees as A

    mine = [A.lidar_points, A.tree_detections, A.tree_twin, A.tree_vitality_model, A.tree_health, A.tree_risk,
            A.tree_inspection_plan, A.tree_inventory, A.tree_changes, A.canopy_by_quartier,
            A.tree_inspection_plan_mart, A.tree_risk_register, A.trees_by_quartier]
    res = dg.materialize([*mine, *A.CHECKS],
                         resources={"lake": LakeResource(lake_uri=lake_env.lake_uri, landing_uri=lake_env.landing_uri)},
                         raise_on_error=False)
    failures = [e.event_specific_data.error.message[:500] for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    checks = [e.event_specific_data for e in res.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert res.success, (failures, [(c.check_name, c.description) for c in checks if not c.passed])
    assert len(checks) == len(A.CHECKS) == 12 and all(c.passed for c in checks), [(c.check_name, c.description) for c in checks]

    # points in Delta, one partition per registered tile and epoch, heights above ground
    products = lake.read("silver", "lidar_tile_products")
    assert products.height == len(good)
    pts = lake.read("silver", "lidar_points", columns=["epoch", "tile_id", "height", "ground"],
                    filters=[("tile_id", "=", products["tile_id"][0]), ("epoch", "=", products["epoch"][0])])
    assert pts.height == products["points"][0]
    assert abs(float(pts.filter(pl.col("ground"))["height"].median())) < 0.1
    assert set(products["ground_source"].to_list()) == {"class 2", "pmf"}   # 2025 classified, 2026 not

    # incremental and idempotent: a second run re-processes no tile and changes no tree
    twin1 = lake.read("silver", "tree_twin")
    res2 = dg.materialize([A.lidar_points, A.tree_detections, A.tree_twin],
                          resources={"lake": LakeResource(lake_uri=lake_env.lake_uri, landing_uri=lake_env.landing_uri)})
    mat = [e for e in res2.all_events if e.event_type_value == "ASSET_MATERIALIZATION"][0]
    assert mat.event_specific_data.materialization.metadata["tiles_processed"].value == 0
    assert lake.read("silver", "tree_twin").sort("tree_id", "epoch").equals(twin1.sort("tree_id", "epoch"))

    # the vitality model learnt from the inspection records that came through the landing zone
    vm = [e.event_specific_data.materialization.metadata for e in res.all_events
          if e.event_type_value == "ASSET_MATERIALIZATION"
          and e.event_specific_data.materialization.asset_key == dg.AssetKey(["ml", "tree_vitality_model"])][0]
    assert vm["trained"].value is True, vm.get("reason")
    assert vm["version"].value != "none" and vm["matched_by_position"].value >= 30
    assert Path(vm["model_card_path"].value).read_text().count("inspection") >= 1
    assert "test_macro_f1" in vm and "metrics" in vm
    reg = lake.read("ml", "model_registry").filter(pl.col("promoted"))
    assert reg["notes"].to_list() == ["labels: arborists' inspection records"]

    # trees against the truth: the tiny city has about 60 trees
    for ep in ("2025", "2026"):
        tr = truth.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled") & (pl.col("height_m") >= 4))
        de = twin1.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled") & (pl.col("height_m") >= 4))
        i, j, _ = match_points(tr["x_2154"].to_numpy(), tr["y_2154"].to_numpy(), de["x_2154"].to_numpy(),
                               de["y_2154"].to_numpy(), 3.0)
        assert len(i) / tr.height >= 0.9 and len(i) / de.height >= 0.9, (ep, len(i), tr.height, de.height)

    inv = lake.read("gold", "tree_inventory")
    assert inv["tree_id"].n_unique() == inv.height
    assert inv["height_source"].null_count() == 0 and "measured" in inv["height_source"].to_list()
    assert set(inv["risk_rating"].drop_nulls().unique().to_list()) <= {"Low", "Moderate", "High", "Extreme"}
    assert inv.filter(pl.col("status") != "felled")["vitality"].null_count() == 0
    plan = lake.read("gold", "tree_inspection_plan")
    assert plan.height > 0 and set(plan["plan_status"].unique().to_list()) <= {"planned", "deferred"}
    canopy = lake.read("gold", "canopy_by_quartier")
    assert canopy["trees"].sum() == inv.filter(pl.col("status") != "felled").height
    exports = Path(lake_env.lake_uri) / "exports" / "trees"
    import pyarrow.parquet as pq

    meta = pq.read_schema(exports / "tree_inventory.parquet").metadata
    assert b"geo" in meta
    assert (exports / "tree_risk_map.png").read_bytes()[:4] == b"\x89PNG"

    # the same twin, no inspection record at all (a fresh lake): no model, and the risk says so
    bare = Lake(str(Path(lake_env.lake_uri).parent / "lake_without_inspections"))
    for t in ("tree_twin", "street_segments", "places", "quartiers"):
        bare.overwrite("silver", t, lake.read("silver", t))
    bare.overwrite("silver", "tree_inspections", pl.DataFrame(schema=TI.TREE_INSPECTIONS))
    res3 = dg.materialize([A.tree_vitality_model, A.tree_health, A.tree_risk, A.tree_inspection_plan],
                          resources={"lake": LakeResource(lake_uri=bare.root, landing_uri=lake_env.landing_uri)})
    assert res3.success
    vm3 = [e.event_specific_data.materialization.metadata for e in res3.all_events
           if e.event_type_value == "ASSET_MATERIALIZATION"
           and e.event_specific_data.materialization.asset_key == dg.AssetKey(["ml", "tree_vitality_model"])][0]
    assert vm3["trained"].value is False and "too few inspection records" in vm3["reason"].value
    assert vm3["version"].value == "none"
    risk3 = bare.read("silver", "tree_risk")
    assert risk3["vitality"].null_count() == risk3.height and not risk3["vitality_known"].any()
    assert risk3["risk_reasons"].str.contains("vitality unknown").all()
    plan3 = bare.read("silver", "tree_inspection_plan")
    assert plan3.height > 0 and plan3["inspection_reason"].str.starts_with("vitality unknown").all()
