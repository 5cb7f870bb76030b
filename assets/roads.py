"""Roads (voirie): survey frames matched to the street network, anonymised before they are
stored, scored by the damage CNN, aggregated into a PCI-style condition per segment, and turned
into this season's repair plan and the crew's days.

    bronze/road_frames -> silver/road_frames -> silver/road_images (faces and plates blurred)
      -> ml/roads_damage_model (shipped weights; fine-tuned on the city's COCO labels when delivered)
      -> silver/road_detections + silver/road_frame_scores (promoted model, every row versioned)
      -> gold/road_segment_condition (PCI, grade, safety, trend; condition map in metadata)
      -> gold/road_network_summary, gold/road_damage_hotspots
      -> gold/road_repair_plan + gold/road_crew_days (CP-SAT under a budget, OR-Tools routing)
    silver/road_frames -> gold/survey_coverage
    bronze/road_annotations (COCO) -> silver/road_annotations + silver/road_labelled_frames -> ml/roads_damage_model
"""

import io
import json
import os
import time
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from quality.checks import read_matching, table_check
from quality.suites_marts import MARTS
from quality.suites_roads import (ROAD_ANNOTATIONS_SUITE, ROAD_LABELLED_FRAMES_SUITE, annotations_rules)
from quality.suites_roads import (ROAD_CONDITION_SUITE, ROAD_CREW_DAYS_SUITE, ROAD_DETECTIONS_SUITE,
                                  ROAD_FRAME_SCORES_SUITE, ROAD_IMAGES_CHECKED, ROAD_IMAGES_SUITE,
                                  ROAD_REPAIR_PLAN_SUITE, condition_rules, crew_days_rules, detections_rules,
                                  frame_scores_rules, images_rules, repair_plan_rules)
from transforms import road_annotations as RA
from transforms import citizens as TC
from transforms import roads as T
from transforms import territory as TT

from . import ml
from .citizens import resident_reports
from .communes import placed
from .lake import Lake, LakeResource, image_metadata, table_metadata
from .roads_anonymise import anonymise_new_frames
from .catalog import gold_asset_args, gold_spec
from .layers import OWNERS, bronze, gold, gold_key, silver, silver_key

GROUP = "voirie"
MODEL = "roads_damage"
CHUNK = 256                      # frames per anonymisation / scoring batch (bounded memory, restartable)
# repair budget: share of what resurfacing every graded surveyed segment would cost (a city sets
# its own figure; ROADS_REPAIR_BUDGET_EUR overrides)
BUDGET_SHARE = 0.12


@silver("road_frames", group=GROUP, deps=[bronze("road_frames"), silver_key("street_segments")],
        keys=["survey_id", "file"])
def road_frames(lake: Lake):
    """Survey frames: time, position (WGS84 and EPSG:2154), heading, matched street segment and
    distance to it (m); frames farther than 20 m from any street keep a NULL segment, are counted
    and get a quarantine record with the distance."""
    df = T.road_frames(lake.read("bronze", "road_frames"), lake.read("silver", "street_segments"))
    lake.quarantine(T.far_frame_quarantine_rows(df))
    return df


@gold("survey_coverage", group=GROUP, deps=[silver_key("road_frames"), silver_key("street_segments")])
def survey_coverage(lake: Lake):
    """Per survey and street: network km, km surveyed, frames, coverage %; unmatched frames on a
    row with a NULL street."""
    return T.survey_coverage_by_street(lake.read("silver", "road_frames"), lake.read("silver", "street_segments"))


# --------------------------------------------------------------------------------------------
# Anonymisation: nothing un-blurred reaches the lake
# --------------------------------------------------------------------------------------------

@dg.asset(key=silver_key("road_images"), deps=[silver_key("road_frames")], group_name=GROUP, owners=OWNERS[GROUP],
          kinds={"delta", "opencv"}, pool="delta:silver/road_images", tags={"layer": "silver"},
          description="Survey frames with faces and number plates blurred (JPEG bytes, EXIF kept), what was "
                      "blurred and the anonymiser version; the only place frames' pixels are stored.",
          metadata={"delta_path": "silver/road_images", "natural_key": ["survey_id", "file"]})
def road_images(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.roads.anonymise import AnonymiserConfig, anonymiser_version

    lk = lake.lake()
    cfg = AnonymiserConfig()
    version = anonymiser_version(cfg)
    frames = lk.read("silver", "road_frames", columns=["survey_id", "file", "segment_id", "source_file"])
    have = lk.read_or_empty("silver", "road_images", {"survey_id": pl.Utf8, "file": pl.Utf8,
                                                      "anonymiser_version": pl.Utf8})
    if have.height:
        have = lk.read("silver", "road_images", columns=["survey_id", "file", "anonymiser_version"])
    done = have.filter(pl.col("anonymiser_version") == version).select("survey_id", "file")
    todo = frames.join(done, on=["survey_id", "file"], how="anti").sort("survey_id", "file")
    t0 = time.perf_counter()
    run = anonymise_new_frames(lk, lake.landing, todo, cfg=cfg, version=version, now=datetime.now(timezone.utc),
                               workers=lake.ingest_workers, chunk=CHUNK, log=context.log.info)
    secs = time.perf_counter() - t0
    total = lk.read("silver", "road_images", columns=["survey_id", "file", "faces_blurred", "plates_blurred",
                                                      "blurred_share", "anonymiser_version"]) \
        if lk.exists("silver", "road_images") else pl.DataFrame(schema={"survey_id": pl.Utf8})
    return dg.MaterializeResult(metadata=table_metadata(total, extra={
        "anonymiser_version": version, "frames_anonymised_now": run.stored, "frames_already_stored": done.height,
        "faces_blurred_now": run.faces, "plates_blurred_now": run.plates, "frames_missing_in_landing": run.missing,
        "frames_failed_now": len(run.failed), "anonymiser_processes": run.processes,
        "frames_per_second": round(run.stored / secs, 1) if run.stored else 0.0, "seconds": round(secs, 2)}))


# --------------------------------------------------------------------------------------------
# Damage model: training (versioned, cached, promoted) and scoring
# --------------------------------------------------------------------------------------------

@dg.multi_asset(
    specs=[dg.AssetSpec(silver_key("road_annotations"), deps=[bronze("road_annotations")], group_name=GROUP,
                        owners=OWNERS[GROUP], kinds={"delta", "polars"}, tags={"layer": "silver"},
                        description="Road damage annotations (COCO deliveries): one row per annotation with frame "
                                    "id, class, severity, pixel box and polygon; the latest delivery of a frame wins.",
                        metadata={"delta_path": "silver/road_annotations",
                                  "natural_key": ["survey_id", "file", "annotation_id"]}),
           dg.AssetSpec(silver_key("road_labelled_frames"), deps=[bronze("road_annotations")], group_name=GROUP,
                        owners=OWNERS[GROUP], kinds={"delta", "polars"}, tags={"layer": "silver"},
                        description="Frames an annotator labelled (with zero or more annotations): size, "
                                    "annotation count, delivery.",
                        metadata={"delta_path": "silver/road_labelled_frames", "natural_key": ["survey_id", "file"]})],
    pool="delta:silver/road_annotations")
def road_annotations(context: dg.AssetExecutionContext, lake: LakeResource):
    lk = lake.lake()
    bronze_df = lk.read("bronze", "road_annotations") if lk.exists("bronze", "road_annotations") else None
    ann = RA.silver_annotations(bronze_df) if bronze_df is not None else pl.DataFrame(
        schema={**RA.ROAD_ANNOTATIONS, "delivery": pl.Utf8})
    frames = RA.silver_labelled_frames(bronze_df) if bronze_df is not None else pl.DataFrame(
        schema={"survey_id": pl.Utf8, "file": pl.Utf8, "image_width": pl.Int64, "image_height": pl.Int64,
                "annotations": pl.Int64, "delivery": pl.Utf8})
    lk.overwrite("silver", "road_annotations", ann)          # rebuilt whole from bronze: idempotent
    lk.overwrite("silver", "road_labelled_frames", frames)
    yield dg.MaterializeResult(asset_key=silver_key("road_annotations"), metadata=table_metadata(ann, extra={
        "per_class": dg.MetadataValue.json(dict(ann.group_by("damage_class").len().iter_rows())),
        "note": "no annotation delivered yet" if bronze_df is None else ""}))
    yield dg.MaterializeResult(asset_key=silver_key("road_labelled_frames"), metadata=table_metadata(frames))


def _card_metadata(lk: Lake, version: str, source: str, note: str, *, trained_now: bool, **extra) -> dict:
    """The registry's view of `version` (ml.model_metadata: version, metrics, model card), plus
    where the model comes from and what this materialisation did."""
    return ml.model_metadata(lk, MODEL, version, trained_now=trained_now,
                             extra={"model_source": source, "note": note, **extra})


@dg.asset(key=["ml", "roads_damage_model"],
          deps=[silver_key("road_images"), silver_key("road_annotations"), silver_key("road_labelled_frames")],
          group_name=GROUP, owners=OWNERS[GROUP], kinds={"torch"}, pool="ml:roads_damage", tags={"layer": "ml"},
          description="Damage-grid CNN: the shipped model (trained on simulated frames; its threshold set on real tiles) "
                      "until the city's annotators deliver labels; then fine-tuned from it on the labelled, "
                      "anonymised frames of the lake (silver.road_annotations), promoted only when at least as "
                      "good as the shipped model on the same validation frames. Version = hash of data + config + "
                      "base model; an existing version is reused; model card beside the weights.")
def roads_damage_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.roads import finetune as FT
    from models.roads.damage_net import ARCH_VERSION

    lk = lake.lake()
    base = _register_shipped(lk)
    imgs = lk.read("silver", "road_images", columns=["survey_id", "file", "segment_id"])
    labelled = lk.read_or_empty("silver", "road_labelled_frames", {"survey_id": pl.Utf8, "file": pl.Utf8})
    usable = labelled.select("survey_id", "file").join(imgs, on=["survey_id", "file"]).sort("survey_id", "file")
    if usable.height < FT.MIN_LABELLED_FRAMES:
        row = ml.promoted(lk, MODEL)
        src = "shipped" if row["version"] == base else "promoted earlier (fine-tuned)"
        note = (f"{usable.height} labelled frames in the lake (fewer than {FT.MIN_LABELLED_FRAMES}): no fine-tuning; "
                f"the {src} model scores the frames")
        context.log.info(note)
        return dg.MaterializeResult(metadata=_card_metadata(
            lk, row["version"], src, note, trained_now=False, labelled_frames=usable.height))
    ann = lk.read("silver", "road_annotations").join(usable.select("survey_id", "file"), on=["survey_id", "file"])
    labels = ann.select("survey_id", "file", "annotation_id", "damage_class", "severity", "x0", "y0", "x1", "y1")
    data_fp = ml.frame_fingerprint(usable.select("survey_id", "file")) + "/" + ml.frame_fingerprint(labels)
    cfg = FT.finetune_config(usable.height)
    version = ml.fingerprint(data_fp, cfg.as_dict(), ARCH_VERSION, base, "roads-damage-grid-finetuned")
    found = ml.find(lk, MODEL, version)
    if found:
        metrics = json.loads(found["metrics_json"])
        better = bool(metrics.get("promoted_over_shipped"))
        ml.register(lk, MODEL, version if better else base, training_rows=found["training_rows"] if better else 0,
                    metrics=metrics if better else json.loads(ml.find(lk, MODEL, base)["metrics_json"]))
        row = ml.promoted(lk, MODEL)
        return dg.MaterializeResult(metadata=_card_metadata(
            lk, row["version"], "fine-tuned (reused)" if better else "shipped", f"fine-tuned version {version} already trained: reused",
            trained_now=False, labelled_frames=usable.height))
    report, better, note = _finetune(context, lk, usable, RA.annotations_to_damages(ann), base, version, data_fp)
    return dg.MaterializeResult(metadata=_card_metadata(
        lk, version, "fine-tuned", note, trained_now=True, promoted_now=better,
        training_frames=report["train_frames"], validation_frames=report["val_frames"]))


def _register_shipped(lk: Lake) -> str:
    """The shipped model's version, its artifact copied and registered (promoted when nothing is)."""
    from models.roads import finetune as FT

    base = FT.shipped_config()["version"]
    base_dir = ml.artifact_dir(lk, MODEL, base)
    if not ml.find(lk, MODEL, base) or not (base_dir / "model.pt").exists():
        FT.copy_shipped(base_dir)
        has_promoted = ml.registry(lk).filter((pl.col("model") == MODEL) & pl.col("promoted")).height > 0
        ml.register(lk, MODEL, base, metrics=FT.shipped_metrics(), training_rows=0, promote=not has_promoted,
                    notes="shipped with the code (models/roads/weights/damage_grid)")
    return base


def _finetune(context, lk: Lake, usable: pl.DataFrame, damages: dict, base: str, version: str, data_fp: str):
    """Fine-tune from the shipped model on the usable labelled frames, save the artifact and
    register it, promoted only when at least as good as the shipped model on the same validation
    frames; (training report, promoted, note)."""
    from models.roads import finetune as FT
    from models.roads.damage_net import save_artifact
    from models.roads.dataset import FrameRecord

    stored = lk.read("silver", "road_images", columns=["survey_id", "file", "jpeg"]).join(
        usable.select("survey_id", "file"), on=["survey_id", "file"]).sort("survey_id", "file")
    seg = dict(zip(zip(usable["survey_id"], usable["file"]), usable["segment_id"]))
    recs = [FrameRecord(Path(f), s, seg[(s, f)] or "unmatched", "asphalt", damages.get((s, f), []), [], [])
            for s, f in zip(stored["survey_id"], stored["file"])]
    model, report, cfg = FT.finetune(recs, stored["jpeg"].to_list(), log=context.log.info)
    val, base_val = report["val"], report["base_val"]
    better = val["frame_macro_f1"] >= base_val["frame_macro_f1"]
    report["limitations"] = (f"Fine-tuned from {base} on {report['train_frames']} labelled frames of this city; the "
                             "real-tile figures of the shipped model are not re-measured after fine-tuning.")
    data = {"source": "silver/road_images (anonymised frames) + silver/road_annotations (COCO deliveries)",
            "surveys": sorted(set(usable["survey_id"])), "train_frames": report["train_frames"],
            "val_frames": report["val_frames"], "val_split": "by road segment, share 0.15, seed 0",
            "data_fingerprint": data_fp, "base_model": base}
    save_artifact(model, cfg, report, data, ml.artifact_dir(lk, MODEL, version).parent, version)
    metrics = {"frame_macro_f1": val["frame_macro_f1"], "cell_macro_f1": val["cell_macro_f1"],
               "frame": val["frame"], "shipped_frame_macro_f1_same_frames": base_val["frame_macro_f1"],
               "promoted_over_shipped": better, "train_seconds": report["train_seconds"], "steps": report["steps"]}
    ml.register(lk, MODEL, version, metrics=metrics, training_rows=report["train_frames"], promote=better,
                notes=f"fine-tuned from {base}; {report['steps']} steps of {cfg.batch_size}")
    if not better:
        ml.register(lk, MODEL, base, metrics=json.loads(ml.find(lk, MODEL, base)["metrics_json"]), training_rows=0)
    note = (f"fine-tuned on {report['train_frames']} labelled frames: validation frame macro-F1 "
            f"{val['frame_macro_f1']:.3f} against {base_val['frame_macro_f1']:.3f} for the shipped model: "
            + ("promoted" if better else "NOT promoted, the shipped model stays"))
    context.log.info(note)
    return report, better, note


def _stream_images(lk: Lake, wanted: pl.DataFrame, chunk: int = CHUNK):
    """The stored frames (survey_id, file, jpeg) whose keys are in `wanted`, in chunks of about
    `chunk`, streamed from the Delta table's record batches (memory stays bounded); only the
    files that can hold `wanted`'s surveys are read (a new survey's, not every stored JPEG)."""
    if wanted.is_empty():
        return
    keys = wanted.select("survey_id", "file")
    buf: list[pl.DataFrame] = []
    n = 0
    for batch in read_matching(lk, "silver", "road_images", ["survey_id", "file", "jpeg"], "survey_id",
                               keys["survey_id"].unique().to_list(), batch_size=chunk):
        part = pl.from_arrow(batch).with_columns(pl.col("survey_id", "file").cast(pl.Utf8))
        part = part.join(keys, on=["survey_id", "file"], how="semi")
        if part.height:
            buf.append(part)
            n += part.height
        if n >= chunk:
            yield pl.concat(buf)
            buf, n = [], 0
    if buf:
        yield pl.concat(buf)


@dg.multi_asset(
    specs=[dg.AssetSpec(silver_key("road_detections"), deps=[["ml", "roads_damage_model"], silver_key("road_images")],
                        group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "torch"}, tags={"layer": "silver"},
                        description="Damage found per frame by the promoted model: one row per grid cell over its "
                                    "class threshold (class, severity, confidence, cell, pixel box, model version)."),
           dg.AssetSpec(silver_key("road_frame_scores"), deps=[["ml", "roads_damage_model"], silver_key("road_images")],
                        group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "torch"}, tags={"layer": "silver"},
                        description="Every frame scored, by which model version, with its detection count "
                                    "(a frame without damage has a row here and none in road_detections).")],
    pool="delta:silver/road_detections")
def road_detections(context: dg.AssetExecutionContext, lake: LakeResource):
    import torch

    from models.roads.detector import DamageDetector, score_records

    lk = lake.lake()
    torch.set_num_threads(os.cpu_count() or 1)
    row = ml.promoted(lk, MODEL)
    det = DamageDetector.from_artifact(ml.artifact_dir(lk, MODEL, row["version"]))
    version = row["version"]
    scores = lk.read_or_empty("silver", "road_frame_scores", T.ROAD_FRAME_SCORES)
    stale = scores.filter(pl.col("model_version") != version).height > 0
    if stale:      # a new model was promoted: everything is scored again by it
        context.log.info(f"model {version} promoted: rescoring every frame")
        scores = scores.clear()
    keys = lk.read("silver", "road_images", columns=["survey_id", "file"])
    todo = keys.join(scores.select("survey_id", "file"), on=["survey_id", "file"], how="anti").sort("survey_id", "file")
    t0 = time.perf_counter()
    all_scores, all_dets = [], []
    for imgs in _stream_images(lk, todo):
        sc, dt = score_records(det, list(zip(imgs["survey_id"], imgs["file"])), imgs["jpeg"].to_list(), version,
                               datetime.now(timezone.utc))
        all_scores += sc
        all_dets += dt
        context.log.info(f"road_detections: {len(all_scores)}/{todo.height} frames scored")
    new_scores = pl.DataFrame(all_scores, schema=T.ROAD_FRAME_SCORES)
    _store_scores(lk, new_scores, pl.DataFrame(all_dets, schema=T.ROAD_DETECTIONS), replace=stale)
    secs = time.perf_counter() - t0
    dets = lk.read("silver", "road_detections")
    yield dg.MaterializeResult(asset_key=silver_key("road_detections"), metadata=table_metadata(dets, extra={
        "model_version": version, "frames_scored_now": new_scores.height,
        "frames_per_second": round(new_scores.height / secs, 1) if new_scores.height else 0.0,
        "per_class": dg.MetadataValue.json(dict(dets.group_by("damage_class").len().iter_rows()))}))
    yield dg.MaterializeResult(asset_key=silver_key("road_frame_scores"), metadata=table_metadata(
        lk.read("silver", "road_frame_scores"), extra={"model_version": version}))


def _store_scores(lk: Lake, scores: pl.DataFrame, dets: pl.DataFrame, *, replace: bool) -> None:
    """Frame scores and detections into the lake: replaced whole when a new model rescored every
    frame (or on first write), else merged on their keys."""
    if replace or not lk.exists("silver", "road_frame_scores"):
        lk.overwrite("silver", "road_detections", dets)
        lk.overwrite("silver", "road_frame_scores", scores)
    elif scores.height:
        lk.merge("silver", "road_detections", dets, ["survey_id", "file", "cell_row", "cell_col"])
        lk.merge("silver", "road_frame_scores", scores, ["survey_id", "file"])


# --------------------------------------------------------------------------------------------
# Segment condition, network summary, hotspots
# --------------------------------------------------------------------------------------------


GRADE_COLOURS = {1.0: "#1a9641", 1.5: "#52b151", 2.0: "#8acc62", 2.5: "#c4e687", 3.0: "#ffffbf", 3.5: "#fed791",
                 4.0: "#fdae61", 4.5: "#ea633e", 5.0: "#d7191c"}


def condition_map_png(condition: pl.DataFrame, segments: pl.DataFrame) -> bytes:
    """The street network, surveyed segments coloured by their latest grade (cobbles purple),
    safety-critical segments marked; PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    latest = condition.filter(pl.col("is_latest")).select("segment_id", "grade", "graded", "safety_critical")
    seg = segments.join(latest, on="segment_id", how="left")
    fig, ax = plt.subplots(figsize=(9, 7), dpi=90)
    lines = [[(r["x0"], r["y0"]), (r["x1"], r["y1"])] for r in seg.iter_rows(named=True)]
    colours, widths = [], []
    for r in seg.iter_rows(named=True):
        if r["graded"] is None:
            colours.append("#cccccc"); widths.append(0.6)
        elif not r["graded"]:
            colours.append("#7b3294"); widths.append(2.2)
        else:
            colours.append(GRADE_COLOURS[r["grade"]]); widths.append(2.2)
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=widths))
    crit = seg.filter(pl.col("safety_critical").fill_null(False))
    if crit.height:
        ax.scatter((crit["x0"] + crit["x1"]) / 2, (crit["y0"] + crit["y1"]) / 2, marker="x", c="black", s=40,
                   zorder=3)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title("Road condition, latest survey (grade 1 very good - 5 very poor)")
    ax.set_xlabel("x (EPSG:2154, m)")
    ax.set_ylabel("y (m)")
    handles = [Line2D([], [], color=c, lw=3, label=f"grade {g}") for g, c in GRADE_COLOURS.items()]
    handles += [Line2D([], [], color="#7b3294", lw=3, label="cobbles (not graded)"),
                Line2D([], [], color="#cccccc", lw=1, label="not surveyed"),
                Line2D([], [], color="black", marker="x", lw=0, label="safety-critical")]
    ax.legend(handles=handles, fontsize=7, loc="best")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@dg.asset(**gold_asset_args(
    "road_segment_condition", group=GROUP, kinds={"delta", "polars", "matplotlib"},
    deps=[silver_key("road_detections"), silver_key("road_frame_scores"), silver_key("road_frames"),
          silver_key("street_segments")],
    description="Per survey and segment: PCI 0-100, band, grade 1-5 (0.5 steps, NULL on cobbles), distress densities, "
                "safety flags, trend against the previous survey"))
def road_segment_condition(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    t = time.perf_counter()
    segments = lk.read("silver", "street_segments")
    df = T.segment_condition(lk.read("silver", "road_frames"), lk.read("silver", "road_frame_scores"),
                             lk.read("silver", "road_detections"), segments)
    df = placed(lk, "road_segment_condition", df)   # the segment's commune, stored
    lk.overwrite("gold", "road_segment_condition", df)
    png = condition_map_png(df, segments)
    latest = df.filter(pl.col("is_latest") & pl.col("graded"))
    return dg.MaterializeResult(metadata=table_metadata(df, preview_rows=20, extra={
        "condition_map": image_metadata(png, "condition map"),
        "segments_graded_latest": latest.height,
        "mean_pci_latest": round(float(latest["pci"].mean()), 1) if latest.height else None,
        "safety_critical_latest": int(df.filter(pl.col("is_latest"))["safety_critical"].sum()),
        "seconds": round(time.perf_counter() - t, 2)}))


@gold("road_network_summary", group=GROUP, deps=[gold_key("road_segment_condition"), silver_key("street_segments")])
def road_network_summary(lake: Lake):
    """Per commune (plus the agglomeration's whole network, commune 'Agglomération Cannes Lérins'),
    survey and grade: segments, km and share (%) of the graded surveyed length; length-weighted PCI,
    safety-critical segments, surveyed and network km (the commune's) on every row."""
    return TT.per_commune(T.network_summary, (lake.read("gold", "road_segment_condition"),
                                              lake.read("silver", "street_segments")))


@gold("road_damage_hotspots", group=GROUP,
      deps=[gold_key("road_segment_condition"), silver_key("road_detections"), silver_key("road_frames")])
def road_damage_hotspots(lake: Lake):
    """The 50 worst segments of the latest survey (by maximum corrected deduct), with their worst
    damage and the frames that show it."""
    return T.damage_hotspots(lake.read("gold", "road_segment_condition"), lake.read("silver", "road_detections"),
                             lake.read("silver", "road_frames"))


# --------------------------------------------------------------------------------------------
# Repair plan (CP-SAT) and crew days (OR-Tools routing)
# --------------------------------------------------------------------------------------------

def plan_day(setting: str | None) -> date:
    """The day the repair plan is made on (crew day 1 is the first working day after it): the
    ROADS_PLAN_DATE setting when given, else today's UTC date."""
    return date.fromisoformat(setting) if setting else datetime.now(timezone.utc).date()


def repair_budget(options: pl.DataFrame, budget_eur: float | None = None) -> float:
    """The season's budget: `budget_eur` (settings: ROADS_REPAIR_BUDGET_EUR) when set, else
    BUDGET_SHARE of resurfacing every option's segment, to the nearest 1,000 EUR."""
    if budget_eur:
        return float(budget_eur)
    full = options.filter(pl.col("treatment") == "resurfacing")["cost_eur"].sum()
    return float(round(BUDGET_SHARE * full / 1000) * 1000)


@dg.multi_asset(
    specs=[gold_spec("road_repair_plan", group=GROUP, kinds={"delta", "ortools"},
                     deps=[gold_key("road_segment_condition"), silver_key("places"), silver_key("citizen_request_routing")],
                     description="Proposed treatments of the season under the budget (CP-SAT): segment, treatment, m2, "
                                 "cost EUR, PCI before/after, reasons, solver status and gap"),
           gold_spec("road_crew_days", group=GROUP, kinds={"delta", "ortools"},
                     deps=[gold_key("road_segment_condition"), silver_key("places")],
                     description="The repair crew's days through the chosen sites (OR-Tools routing): day, order, "
                                 "segment, treatment, arrival time, work hours, travel",
                     may_be_empty="no site in the repair plan (its gx_gold_suite fails when the plan has sites)")],
    pool="delta:gold/road_repair_plan")
def road_repair_plan(context: dg.AssetExecutionContext, lake: LakeResource):
    from models.roads.repair import crew_days, option_value, plan_repairs

    lk = lake.lake()
    cond = lk.read("gold", "road_segment_condition")
    opts = TC.boost_repair_options(T.repair_options(cond), resident_reports(lk, "segment"))
    budget = repair_budget(opts, lake.roads_repair_budget_eur)
    values = [option_value(r["pci_gain"], r["length_m"], r["class_weight"],
                           bool(r["safety_critical"]) and r["treatment"] != "crack_sealing") + r["report_bonus"]
              for r in opts.iter_rows(named=True)]
    res = plan_repairs(opts["segment_id"].to_list(), opts["cost_eur"].to_list(), values, budget)
    if opts.height and res.status not in ("OPTIMAL", "FEASIBLE"):
        # a failed solve never replaces the last good plan: fail visibly, both tables untouched
        raise dg.Failure(f"repair plan not solved ({res.status}: {res.notes}); the previous plan is kept",
                         metadata={"solver_status": res.status, "kept_previous_plan": True})
    planned_on = plan_day(lake.roads_plan_date)
    plan = T.repair_plan_table(opts, values, res.chosen, budget, res.status, res.gap, res.best_bound, planned_on)
    stops, info = crew_days(plan.select("x_2154", "y_2154").to_numpy(), plan["crew_hours"].to_list(),
                            _depot_xy(lk, plan)) if plan.height else ([], {"days": 0, "status": "NO_SITES", "found": True})
    if not info.get("found", True):
        raise dg.Failure(f"crew days not solved ({info.get('status')}, {info.get('dropped_parts')} parts dropped): "
                         f"the previous repair plan and crew days are kept", metadata={
                             "routing_status": str(info.get("status")), "kept_previous_plan": True,
                             "notes": dg.MetadataValue.json(info.get("notes", []))})
    days = T.crew_days_table(stops, plan, info.get("status"))
    first_day = days.group_by("segment_id").agg(pl.col("day").min().alias("crew_day"))
    plan = plan.join(first_day, on="segment_id", how="left")
    plan = placed(lk, "road_repair_plan", plan)   # each site's commune, stored
    lk.overwrite("gold", "road_repair_plan", plan)
    lk.overwrite("gold", "road_crew_days", placed(lk, "road_crew_days", days))
    context.log.info(f"repair plan: {plan.height} items, {res.cost:,.0f} / {budget:,.0f} EUR, {res.status}, "
                     f"gap {res.gap:.4%}; crew {info}")
    yield dg.MaterializeResult(asset_key=gold_key("road_repair_plan"), metadata=table_metadata(plan, extra={
        "budget_eur": budget, "planned_cost_eur": res.cost, "solver_status": res.status,
        "solver_gap": round(res.gap, 6), "objective": round(res.objective, 3), "best_bound": round(res.best_bound, 3),
        "solver_seconds": round(res.wall_s, 2), "options_considered": opts.height, "planned_on": str(planned_on),
        "planned_on_source": "ROADS_PLAN_DATE" if lake.roads_plan_date else "the build's UTC date"}))
    yield dg.MaterializeResult(asset_key=gold_key("road_crew_days"), metadata=table_metadata(days, extra={
        k: (v if isinstance(v, (int, float, str)) else json.dumps(v)) for k, v in info.items()}))


def _depot_xy(lk: Lake, plan: pl.DataFrame) -> tuple[float, float]:
    """Where the crew starts: the depot of silver.places, else the middle of the planned sites."""
    depot = lk.read("silver", "places").filter(pl.col("kind") == "depot")
    return (depot["x_2154"][0], depot["y_2154"][0]) if depot.height else (
        float(plan["x_2154"].mean() or 0), float(plan["y_2154"].mean() or 0))


ASSETS = [road_frames, survey_coverage, road_images, road_annotations, roads_damage_model, road_detections, road_segment_condition,
          road_network_summary, road_damage_hotspots, road_repair_plan]

CHECKS = [
    table_check("silver", "road_annotations", ROAD_ANNOTATIONS_SUITE, extra=annotations_rules,
                description="Great Expectations on damage annotations: key (frame, annotation id) unique, classes "
                            "and severities known, boxes inside their image"),
    table_check("silver", "road_labelled_frames", ROAD_LABELLED_FRAMES_SUITE,
                description="Great Expectations on labelled frames: one row per frame, sizes and counts in range"),
    table_check("silver", "road_images", ROAD_IMAGES_SUITE, extra=images_rules, columns=ROAD_IMAGES_CHECKED,
                description="Great Expectations on the stored frames (every row, without reading the JPEG bytes): "
                            "key unique, anonymiser version set, blurred share and sizes in range; no frame without "
                            "bytes (file statistics); every frame of the latest run a JPEG of its stored size"),
    table_check("silver", "road_detections", ROAD_DETECTIONS_SUITE, extra=detections_rules,
                description="Great Expectations on detections: classes, severities, confidence in [0, 1], grid "
                            "cells and boxes inside the frame, one model version = the promoted one"),
    table_check("silver", "road_frame_scores", ROAD_FRAME_SCORES_SUITE, extra=frame_scores_rules,
                description="Great Expectations on frame scores: key unique, model version set; every stored "
                            "frame scored, by one model version"),
    table_check("gold", "road_segment_condition", ROAD_CONDITION_SUITE, extra=condition_rules,
                description="Great Expectations on segment condition: PCI in [0, 100], grade in 1-5 by 0.5, "
                            "cobbles not graded, key unique, references to street segments"),
    table_check("gold", "road_repair_plan", ROAD_REPAIR_PLAN_SUITE, extra=repair_plan_rules,
                description="The repair plan never exceeds its budget, one treatment per segment, solver status "
                            "OPTIMAL or FEASIBLE"),
    table_check("gold", "road_crew_days", ROAD_CREW_DAYS_SUITE, extra=crew_days_rules,
                description="Crew days: routing status acceptable, every planned site scheduled with all its parts "
                            "once, each day within the 7.5 h shift, (day, order) unique"),
    *[table_check("gold", t, MARTS[t]) for t in ("road_network_summary", "survey_coverage", "road_damage_hotspots")],
]
