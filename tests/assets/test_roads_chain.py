"""The roads chain on the tiny city with the simulator's ground truth deleted: frames and labels
arrive only through the landing zone. First without any label (the shipped damage model scores
the frames, the asset says so, nothing raises), then with the COCO annotations delivered (they
land in bronze and silver, the model is fine-tuned from the shipped weights on the lake's
labelled frames and promoted only if at least as good; the scores follow the promoted version);
a broken COCO file is quarantined with its reason."""

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl

ROADS_SOURCES = ["quartiers", "street_segments", "places", "road_surveys"]


def _materialize(assets, checks, s):
    from assets.lake import LakeResource

    res = dg.materialize([*assets, *checks], resources={"lake": LakeResource(lake_uri=s.lake_uri,
                                                                              landing_uri=s.landing_uri)},
                         raise_on_error=False)
    failed = [e.event_specific_data.error.message[:400] for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    bad = [(e.event_specific_data.check_name, e.event_specific_data.description) for e in res.all_events
           if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
    assert res.success and not bad, (failed, bad)
    meta = {}
    for e in res.all_events:
        if e.event_type_value == "ASSET_MATERIALIZATION":
            m = e.event_specific_data.materialization
            meta[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return meta


def test_roads_chain_without_ground_truth(lake_env):
    from assets import reference
    from assets import roads as A
    from assets.bronze import ingest_delivery
    from assets.lake import Lake
    from assets.sources import SOURCES_BY_NAME
    from models.roads.finetune import shipped_config
    from models.simulator.city import build_city
    from models.simulator.reference import write_reference
    from models.simulator.roads import simulate_roads

    s = lake_env
    landing = Path(s.landing_uri)
    city = build_city("tiny", 7)
    write_reference(city, landing)
    simulate_roads(city, landing, s.ground_truth_path)
    shutil.rmtree(s.ground_truth_path)                      # no simulator truth anywhere
    assert not s.ground_truth_path.exists()
    lake = Lake(s.lake_uri)
    for name in ROADS_SOURCES:
        src = SOURCES_BY_NAME[name]
        for key, _ in src.deliveries(landing):
            ingest_delivery(src, key, lake, landing, s.quarantine_path, "test")
    ref = [a for a in reference.ASSETS if a.key.path[-1] in ("quartiers", "street_segments", "places")]

    # 1. no labels, no promoted model: the shipped model is used and the metadata says so
    meta = _materialize([*ref, *A.ASSETS], [c for c in A.CHECKS], s)
    m = meta["ml/roads_damage_model"]
    shipped = shipped_config()["version"]
    assert m["version"] == shipped and m["model_source"] == "shipped" and m["trained_now"] is False
    assert "no fine-tuning" in m["note"] and Path(m["model_card_path"]).exists()
    assert "real_holdout" in m["metrics"]
    reg = lake.read("ml", "model_registry").filter(pl.col("model") == "roads_damage")
    assert reg.filter(pl.col("promoted"))["version"].to_list() == [shipped]
    scores = lake.read("silver", "road_frame_scores")
    assert scores.height == lake.read("silver", "road_images").height > 0
    assert set(scores["model_version"]) == {shipped}
    assert lake.read("gold", "road_segment_condition").height > 0
    assert lake.read("silver", "road_annotations").height == 0

    # 2. the annotators' COCO files arrive (and a broken one): bronze, silver, fine-tuning
    ann_src = SOURCES_BY_NAME["road_annotations"]
    (landing / "roads" / "annotations" / "broken.json").write_text('{"images": [')
    reports = {k: ingest_delivery(ann_src, k, lake, landing, s.quarantine_path, "test")
               for k, _ in ann_src.deliveries(landing)}
    assert reports["broken.json"].status == "quarantined"
    assert "not a COCO annotation file" in reports["broken.json"].quarantined[0]["reason"]
    assert all(r.status == "ingested" for k, r in reports.items() if k != "broken.json")
    coco = [json.loads(p.read_text()) for p in sorted((landing / "roads" / "annotations").glob("SRV-*.json"))]
    meta = _materialize([A.road_annotations, A.roads_damage_model, A.road_detections],
                        [c for c in A.CHECKS if c.check_keys and list(c.check_keys)[0].asset_key.path[0] == "silver"
                         and list(c.check_keys)[0].asset_key.path[-1] in
                         ("road_annotations", "road_labelled_frames", "road_detections", "road_frame_scores")], s)
    ann = lake.read("silver", "road_annotations")
    assert ann.height == sum(len(c["annotations"]) for c in coco) > 0
    assert lake.read("silver", "road_labelled_frames").height == sum(len(c["images"]) for c in coco)
    m = meta["ml/roads_damage_model"]
    assert m["trained_now"] is True and m["model_source"] == "fine-tuned" and m["version"] != shipped
    assert m["metrics"]["shipped_frame_macro_f1_same_frames"] is not None
    card = Path(m["model_card_path"])
    assert card.exists() and shipped in card.read_text()
    reg = lake.read("ml", "model_registry").filter(pl.col("model") == "roads_damage")
    promoted = reg.filter(pl.col("promoted"))["version"].to_list()
    assert len(promoted) == 1 and promoted[0] == (m["version"] if m["promoted"] else shipped)
    assert set(lake.read("silver", "road_frame_scores")["model_version"]) == set(promoted)

    # 3. a re-run trains nothing and keeps the same promoted version
    meta = _materialize([A.roads_damage_model], [], s)
    assert meta["ml/roads_damage_model"]["trained_now"] is False
    assert meta["ml/roads_damage_model"]["version"] == promoted[0]
