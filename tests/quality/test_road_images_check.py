"""The road_images check and the survey-filtered reads of stored frames (issue 25, incremental
cost): they read the JPEG bytes of the frames they need (the latest run's, a new survey's), not
every stored frame. Proved by spoiling the older survey's parquet file on disk (its JPEG pages
zeroed, the footer kept; or the file deleted for the filtered read): a read of its bytes fails,
the check and the filtered read do not."""

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from assets.lake import Lake
from quality.checks import check_table, read_matching
from quality.suites_roads import ROAD_IMAGES_CHECKED, ROAD_IMAGES_SUITE, images_rules
from transforms import roads as T

T0 = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def jpeg(w: int = 64, h: int = 36) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 90, 90)).save(buf, format="JPEG")
    return buf.getvalue()


def frames(survey: str, n: int, at: datetime, data: bytes | None = None, w: int = 64, h: int = 36) -> pl.DataFrame:
    return pl.DataFrame([{"survey_id": survey, "file": f"frame_{i:03d}.jpg", "segment_id": None,
                          "jpeg": jpeg(w, h) if data is None else data, "width": w, "height": h, "boxes_json": "[]",
                          "faces_blurred": 0, "plates_blurred": 0, "blurred_share": 0.0,
                          "anonymiser_version": "v1", "anonymised_at": at} for i in range(n)], schema=T.ROAD_IMAGES)


@pytest.fixture
def lake(tmp_path) -> Lake:
    """silver/road_images with an older survey (file 1) and the latest run's survey (file 2)."""
    lk = Lake(str(tmp_path / "lake"))
    lk.merge("silver", "road_images", frames("SRV-2026-10", 4, T0 - timedelta(days=1)), ["survey_id", "file"])
    lk.merge("silver", "road_images", frames("SRV-2026-10B", 3, T0), ["survey_id", "file"])
    return lk


def drop_file_of(lk: Lake, survey: str) -> None:
    """Delete from disk the parquet file holding `survey` (the Delta log still lists it)."""
    import pyarrow as pa

    acts = pa.table(lk.table("silver", "road_images").get_add_actions(flatten=True)).to_pylist()
    (path,) = [a["path"] for a in acts if a["min.survey_id"] == survey]
    (Path(lk.uri("silver", "road_images")) / path).unlink()


def spoil_jpeg_of(lk: Lake, survey: str) -> None:
    """Zero the `jpeg` column chunks of the parquet file holding `survey`; its footer stays."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    acts = pa.table(lk.table("silver", "road_images").get_add_actions(flatten=True)).to_pylist()
    (path,) = [Path(lk.uri("silver", "road_images")) / a["path"] for a in acts if a["min.survey_id"] == survey]
    md = pq.ParquetFile(path).metadata
    j = md.schema.names.index("jpeg")
    raw = bytearray(path.read_bytes())
    for i in range(md.num_row_groups):
        col = md.row_group(i).column(j)
        start = col.dictionary_page_offset or col.data_page_offset
        raw[start:start + col.total_compressed_size] = bytes(col.total_compressed_size)
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception):
        pq.read_table(path, columns=["jpeg"])


def test_read_matching_reads_only_the_files_of_the_wanted_surveys(lake):
    df = lake.read("silver", "road_images", columns=ROAD_IMAGES_CHECKED)
    drop_file_of(lake, "SRV-2026-10")
    got = pl.concat(pl.from_arrow(b) for b in read_matching(lake, "silver", "road_images", ["survey_id", "file", "jpeg"],
                                                           "survey_id", ["SRV-2026-10B"]))
    assert sorted(got["file"].to_list()) == ["frame_000.jpg", "frame_001.jpg", "frame_002.jpg"]
    assert set(got["survey_id"].cast(pl.Utf8)) == {"SRV-2026-10B"}
    assert all(b.startswith(b"\xff\xd8") for b in got["jpeg"])
    with pytest.raises(Exception):      # the old survey's file is gone: a whole read fails
        lake.read("silver", "road_images")
    assert df.height == 7
    assert list(read_matching(lake, "silver", "road_images", ["file"], "survey_id", [])) == []
    assert list(read_matching(lake, "silver", "road_images", ["file"], "survey_id", ["SRV-2027-01"])) == []


def test_images_rules_pass_on_good_frames_reading_only_the_latest_run(lake):
    df = lake.read("silver", "road_images", columns=ROAD_IMAGES_CHECKED)
    spoil_jpeg_of(lake, "SRV-2026-10")          # the older run's bytes are not read again
    assert images_rules(df, lake) == []
    assert "jpeg" not in df.columns
    assert check_table(df, ROAD_IMAGES_SUITE, {"segment_id": []}).success


@pytest.mark.parametrize("bad, expect", [
    (b"GIF89a not a jpeg", ["stored frames that are not JPEG bytes (in row groups of 2 frames)",
                            "2 stored frame(s) of the latest run are not JPEG bytes, e.g. frame_000.jpg"]),
    (b"\xff\xd8\xff\xe0 truncated", ["2 stored frame(s) of the latest run do not decode to their stored size"]),
    (None, ["2 stored frame(s) of the latest run do not decode to their stored size"]),   # another size than the row's
])
def test_images_rules_fail_on_a_bad_frame_of_the_latest_run(lake, bad, expect):
    rows = frames("SRV-2026-10C", 2, T0 + timedelta(days=1), data=bad)
    if bad is None:
        rows = rows.with_columns(pl.Series("jpeg", [jpeg(80, 40)] * 2))
    lake.merge("silver", "road_images", rows, ["survey_id", "file"])
    df = lake.read("silver", "road_images", columns=ROAD_IMAGES_CHECKED)
    problems = images_rules(df, lake)
    assert [p[:len(e)] for p, e in zip(problems, expect)] == expect and len(problems) == len(expect)


def test_images_rules_see_a_non_jpeg_of_an_older_run_from_the_footers(lake):
    """Not decoded again, but an older file holding non-JPEG bytes is still found (statistics)."""
    lake.merge("silver", "road_images", frames("SRV-2026-09", 3, T0 - timedelta(days=30), data=b"PNG..."),
               ["survey_id", "file"])
    problems = images_rules(lake.read("silver", "road_images", columns=ROAD_IMAGES_CHECKED), lake)
    assert problems == ["stored frames that are not JPEG bytes (in row groups of 3 frames)"]


def test_images_rules_count_frames_without_bytes_over_the_whole_table(lake):
    rows = frames("SRV-2026-09", 2, T0 - timedelta(days=30)).with_columns(pl.lit(None, pl.Binary).alias("jpeg"))
    lake.merge("silver", "road_images", rows, ["survey_id", "file"])
    problems = images_rules(lake.read("silver", "road_images", columns=ROAD_IMAGES_CHECKED), lake)
    assert problems == ["2 stored frame(s) without JPEG bytes"]


def test_the_blocking_check_reads_no_jpeg_column(lake):
    """The asset check as declared (assets/roads.py): blocking, passes on the lake above, fails
    when the latest run stored a non-JPEG."""
    from assets.lake import LakeResource
    from assets.roads import CHECKS

    (check,) = [c for c in CHECKS if any(k.asset_key.path == ["silver", "road_images"] for k in c.check_keys)]
    assert all(spec.blocking for spec in check.check_specs)
    res = LakeResource(lake_uri=lake.root, landing_uri=str(Path(lake.root).parent / "landing"))
    ok = dg.materialize([check], resources={"lake": res}, selection=dg.AssetSelection.all_asset_checks(),
                        raise_on_error=False)
    assert ok.get_asset_check_evaluations()[0].passed
    lake.merge("silver", "road_images", frames("SRV-2026-10C", 1, T0 + timedelta(days=1), data=b"nope"),
               ["survey_id", "file"])
    bad = dg.materialize([check], resources={"lake": res}, selection=dg.AssetSelection.all_asset_checks(),
                         raise_on_error=False)
    assert not bad.get_asset_check_evaluations()[0].passed
