"""Expectation suites of the roads tables beyond silver road_frames (whose suite is in
quality/suites.py): stored anonymised frames, detections, segment condition, repair plan.

Each suite is run by a blocking check (`quality.checks.table_check`, declared in assets/roads.py);
the `*_rules` functions add what a column expectation cannot say.
"""

from __future__ import annotations

import polars as pl

from transforms import roads as T

from .suites import ROUTING_OK, TableSuite

SEG = ("silver", "street_segments", "segment_id")
GRADES = [1.0 + 0.5 * k for k in range(9)]


def _types(schema: dict, drop: tuple[str, ...] = ()) -> dict:
    return {c: t for c, t in schema.items() if c not in drop}


ROAD_IMAGES_SUITE = TableSuite(
    table="road_images", key=("survey_id", "file"),
    not_null=("survey_id", "file", "anonymiser_version", "boxes_json", "blurred_share", "anonymised_at"),
    types=_types(T.ROAD_IMAGES, drop=("jpeg",)),      # the JPEG bytes: checked by images_rules
    ranges={"blurred_share": (0.0, 1.0),  # blurring more is the fail-safe side: no upper cap
            "faces_blurred": (0, None), "plates_blurred": (0, None),
            "width": (16, 10000), "height": (16, 10000)},
    references={"segment_id": SEG}, min_rows=1)

ROAD_DETECTIONS_SUITE = TableSuite(
    table="road_detections", key=("survey_id", "file", "cell_row", "cell_col"),
    not_null=("damage_class", "severity", "confidence", "model_version", "x0", "y0", "x1", "y1"),
    types=T.ROAD_DETECTIONS,
    ranges={"confidence": (0.0, 1.0), "cell_row": (0, 63), "cell_col": (0, 127), "x0": (0, None), "y0": (0, None)},
    in_set={"damage_class": T.DAMAGE_CLASSES, "severity": T.SEVERITIES})

ROAD_FRAME_SCORES_SUITE = TableSuite(
    table="road_frame_scores", key=("survey_id", "file"), not_null=("model_version", "detections", "scored_at"),
    types=T.ROAD_FRAME_SCORES, ranges={"detections": (0, 160)})

ROAD_CONDITION_SUITE = TableSuite(
    table="road_segment_condition", key=("survey_id", "segment_id"),
    not_null=("frames", "inspected_area_m2", "graded", "safety_critical", "is_latest", "trend", "model_version",
              "length_m", "road_class"),
    types={"survey_id": pl.Utf8, "segment_id": pl.Utf8, "pci": pl.Float64, "grade": pl.Float64,
           "frames": pl.Int64, "length_m": pl.Float64, "graded": pl.Boolean, "safety_critical": pl.Boolean},
    ranges={"pci": (0.0, 100.0), "grade": (1.0, 5.0), "frames": (1, None), "max_cdv": (0.0, 100.0),
            **{f"{c}_density_pct": (0.0, None) for c in T.DAMAGE_CLASSES}},
    in_set={"grade": GRADES, "trend": ("first survey", "not graded", "worse", "better", "stable"),
            "pci_band": [name for _, name in T.PCI_BANDS]},
    references={"segment_id": SEG}, min_rows=1)

ROAD_REPAIR_PLAN_SUITE = TableSuite(
    table="road_repair_plan", key=("segment_id",),
    not_null=("treatment", "cost_eur", "reasons", "budget_eur", "solver_status", "priority"),
    types={"segment_id": pl.Utf8, "treatment": pl.Utf8, "cost_eur": pl.Float64, "budget_eur": pl.Float64},
    ranges={"cost_eur": (0.0, None), "pci_after": (0.0, 100.0), "pci_gain": (0.0, 100.0)},
    in_set={"treatment": ("crack_sealing", "patching", "crack_sealing+patching", "resurfacing"),
            "solver_status": ("OPTIMAL", "FEASIBLE")},
    references={"segment_id": SEG})


# the columns the road_images check reads for the whole table: all but the JPEG bytes
ROAD_IMAGES_CHECKED = [c for c in T.ROAD_IMAGES if c != "jpeg"]
FULL_DECODE_SAMPLE = 16     # frames of the latest run decoded whole (the others: header and size)
JPEG_MARKER = b"\xff\xd8"


def _jpeg_column_problems(lake) -> list[str]:
    """Every stored frame has bytes starting with the JPEG marker, over the whole table, from the
    parquet files' footers (row-group statistics of `jpeg`: null count, and min and max both
    starting with FF D8, so every value between them does); a file whose footer lacks them is
    read whole. No frame's bytes are read otherwise."""
    nulls, not_jpeg = 0, 0
    for frag in lake.table("silver", "road_images").to_pyarrow_dataset().get_fragments():
        md = frag.metadata
        j = md.schema.names.index("jpeg")
        stats = [md.row_group(i).column(j).statistics for i in range(md.num_row_groups)]
        if all(st is not None and st.has_null_count and st.has_min_max for st in stats):
            nulls += sum(st.null_count for st in stats)
            not_jpeg += sum(st.num_values for st in stats
                            if not (st.min.startswith(JPEG_MARKER) and st.max.startswith(JPEG_MARKER)))
        else:
            values = frag.to_table(columns=["jpeg"]).column("jpeg").to_pylist()
            nulls += sum(v is None for v in values)
            not_jpeg += sum(v is not None and not v.startswith(JPEG_MARKER) for v in values)
    out = [f"{nulls} stored frame(s) without JPEG bytes"] if nulls else []
    if not_jpeg:
        out.append(f"stored frames that are not JPEG bytes (in row groups of {not_jpeg} frames)")
    return out


def images_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every stored frame is a JPEG (its first bytes, for the whole table, from the parquet
    footers: :func:`_jpeg_column_problems`), and every frame the latest run stored (the rows of
    the latest `anonymised_at`) is a JPEG whose header gives its stored width and height, a sample
    of them decoded whole. The bytes of earlier runs were decoded by their own run's check and
    never change: reading every stored JPEG at each run grew with the history (`df` is the table
    without the bytes)."""
    import io

    from PIL import Image

    from .checks import read_matching

    problems = _jpeg_column_problems(lake)
    if df.is_empty():
        return problems
    latest = df.filter(pl.col("anonymised_at") == pl.col("anonymised_at").max()).select(
        "survey_id", "file", "width", "height")
    got = [pl.from_arrow(b) for b in read_matching(lake, "silver", "road_images", ["survey_id", "file", "jpeg"],
                                                   "survey_id", latest["survey_id"].unique().to_list())]
    new = (pl.concat(got).with_columns(pl.col("survey_id", "file").cast(pl.Utf8)) if got else
           pl.DataFrame(schema={"survey_id": pl.Utf8, "file": pl.Utf8, "jpeg": pl.Binary}))
    new = latest.join(new, on=["survey_id", "file"], how="left").sort("survey_id", "file")
    bad, wrong = [], []
    for k, r in enumerate(new.iter_rows(named=True)):
        data = r["jpeg"]
        if data is None or not data.startswith(JPEG_MARKER):
            bad.append(r["file"])
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "JPEG" or im.size != (r["width"], r["height"]):
                    wrong.append(f"{r['survey_id']}/{r['file']} {im.format} {im.size}")
                elif k % max(1, new.height // FULL_DECODE_SAMPLE) == 0:
                    im.load()
        except Exception as exc:   # noqa: BLE001 - the frame is named with the decoder's reason
            wrong.append(f"{r['survey_id']}/{r['file']}: {exc}")
    if bad:
        problems.append(f"{len(bad)} stored frame(s) of the latest run are not JPEG bytes, e.g. {bad[0]}")
    if wrong:
        problems.append(f"{len(wrong)} stored frame(s) of the latest run do not decode to their stored size, "
                        f"e.g. {wrong[0]}")
    return problems


def detections_rules(df: pl.DataFrame, lake) -> list[str]:
    """One model version in the table, the promoted one; boxes well formed."""
    problems = []
    versions = df["model_version"].unique().to_list() if df.height else []
    if len(versions) > 1:
        problems.append(f"detections from {len(versions)} model versions: {versions}")
    if df.height:
        bad = df.filter((pl.col("x1") <= pl.col("x0")) | (pl.col("y1") <= pl.col("y0")))
        if bad.height:
            problems.append(f"{bad.height} detection box(es) with x1 <= x0 or y1 <= y0")
    reg = lake.read("ml", "model_registry") if lake.exists("ml", "model_registry") else None
    promoted = [] if reg is None else reg.filter((pl.col("model") == "roads_damage") & pl.col("promoted"))["version"].to_list()
    if not promoted:
        problems.append("no promoted roads_damage model in ml/model_registry")
    elif versions and versions != promoted:
        problems.append(f"detections scored by {versions}, promoted model is {promoted[0]}")
    return problems


def frame_scores_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every stored (anonymised) frame is scored, all by one model version."""
    problems = []
    if lake.exists("silver", "road_images"):
        imgs = lake.read("silver", "road_images", columns=["survey_id", "file"])
        missing = imgs.join(df.select("survey_id", "file"), on=["survey_id", "file"], how="anti")
        if missing.height:
            problems.append(f"{missing.height} stored frame(s) not scored, e.g. {missing.row(0)}")
    if df["model_version"].n_unique() > 1:
        problems.append(f"frames scored by {df['model_version'].n_unique()} model versions")
    return problems


def condition_rules(df: pl.DataFrame, lake) -> list[str]:
    """Cobbles never graded, every other segment graded; grade consistent with its PCI."""
    problems = []
    cob = df.filter((pl.col("surface") == "cobbles") & pl.col("grade").is_not_null())
    if cob.height:
        problems.append(f"{cob.height} cobbled segment(s) graded, e.g. {cob['segment_id'][0]}")
    miss = df.filter((pl.col("surface") != "cobbles") & pl.col("grade").is_null())
    if miss.height:
        problems.append(f"{miss.height} non-cobbled segment(s) without grade, e.g. {miss['segment_id'][0]}")
    g = df.filter(pl.col("graded"))
    if g.height:
        want = g["pci"].map_elements(T.grade_from_pci, return_dtype=pl.Float64)
        if (want != g["grade"]).any():
            problems.append("grade differs from grade_from_pci(pci) on some segment")
    return problems


def repair_plan_rules(df: pl.DataFrame, lake) -> list[str]:
    """The plan never exceeds the budget."""
    if df.is_empty():
        return []
    cost, budget = float(df["cost_eur"].sum()), float(df["budget_eur"][0])
    return [f"repair plan costs {cost:,.2f} EUR, over its budget of {budget:,.2f} EUR"] if cost > budget + 1e-6 else []


# --------------------------------------------------------------------------- damage annotations (COCO)

from transforms import road_annotations as RA  # noqa: E402

ROAD_ANNOTATIONS_SUITE = TableSuite(
    table="road_annotations", key=("survey_id", "file", "annotation_id"),
    not_null=("survey_id", "file", "annotation_id", "damage_class", "x0", "y0", "x1", "y1", "image_width",
              "image_height", "delivery"),
    types=RA.ROAD_ANNOTATIONS,
    ranges={"x0": (0, None), "y0": (0, None), "image_width": (16, 10000), "image_height": (16, 10000),
            "area_px": (0.0, None)},
    in_set={"damage_class": RA.DAMAGE_CLASSES, "severity": RA.SEVERITIES})

ROAD_LABELLED_FRAMES_SUITE = TableSuite(
    table="road_labelled_frames", key=("survey_id", "file"),
    not_null=("image_width", "image_height", "annotations", "delivery"),
    types={"survey_id": pl.Utf8, "file": pl.Utf8, "image_width": pl.Int64, "image_height": pl.Int64,
           "annotations": pl.Int64},
    ranges={"annotations": (0, None), "image_width": (16, 10000), "image_height": (16, 10000)})


def annotations_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every box inside its image, corners ordered."""
    bad = df.filter((pl.col("x1") < pl.col("x0")) | (pl.col("y1") < pl.col("y0")) |
                    (pl.col("x1") >= pl.col("image_width")) | (pl.col("y1") >= pl.col("image_height")))
    return [f"{bad.height} annotation box(es) outside their image or with unordered corners, e.g. "
            f"{bad.select('survey_id', 'file', 'annotation_id').row(0)}"] if bad.height else []


ROAD_CREW_DAYS_SUITE = TableSuite(
    table="road_crew_days", key=("day", "sequence"),
    not_null=("day", "sequence", "segment_id", "treatment", "part", "parts", "arrival_hhmm", "work_hours",
              "routing_status"),
    types={"day": pl.Int64, "sequence": pl.Int64, "segment_id": pl.Utf8, "part": pl.Int64, "parts": pl.Int64,
           "work_hours": pl.Float64, "routing_status": pl.Utf8},
    ranges={"day": (1, None), "sequence": (1, None), "part": (1, None), "work_hours": (0.0, 7.5),
            "arrival_min_after_start": (0, 7.5 * 60), "travel_km_before": (0.0, None)},
    in_set={"routing_status": ROUTING_OK},
    references={"segment_id": ("gold", "road_repair_plan", "segment_id")})


def crew_days_rules(df: pl.DataFrame, lake) -> list[str]:
    """Every site of the repair plan is scheduled with all its parts, each part once, each day
    within the shift; crew days exist whenever the plan has sites."""
    out = []
    plan = lake.read("gold", "road_repair_plan", columns=["segment_id"]) if lake.exists("gold", "road_repair_plan") \
        else pl.DataFrame(schema={"segment_id": pl.Utf8})
    if plan.height and df.is_empty():
        out.append(f"no crew days although the repair plan has {plan.height} site(s)")
        return out
    missing = plan.join(df.select("segment_id").unique(), on="segment_id", how="anti")
    if missing.height:
        out.append(f"{missing.height} planned site(s) without a crew day, e.g. {missing['segment_id'][0]}")
    parts = df.group_by("segment_id").agg(pl.col("part").n_unique().alias("done"), pl.col("parts").max(),
                                          pl.len().alias("rows"))
    bad = parts.filter((pl.col("done") != pl.col("parts")) | (pl.col("rows") != pl.col("parts")))
    if bad.height:
        out.append(f"{bad.height} site(s) with missing or repeated parts, e.g. {bad['segment_id'][0]}")
    day_work = df.group_by("day").agg(pl.col("work_hours").sum()).filter(pl.col("work_hours") > 7.5 + 1e-6)
    if day_work.height:
        out.append(f"{day_work.height} day(s) with more than a 7.5 h shift of work")
    return out
