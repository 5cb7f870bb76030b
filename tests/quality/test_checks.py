import dagster as dg
import polars as pl

from quality.checks import check_table, to_result
from quality.suites import bronze_suite, silver_suite


def test_silver_suite_passes_on_good_frame_and_fails_on_duplicates_and_orphans():
    suite = silver_suite("fixed_rounds")
    good = pl.DataFrame({"round_id": ["R1", "R1"], "truck_id": ["T1", "T1"], "weekday": [1, 1],
                         "bin_id": ["B1", "B2"], "sequence": [1, 2]})
    refs = {"bin_id": ["B1", "B2"], "truck_id": ["T1"]}
    assert check_table(good, suite, refs).success
    bad = pl.concat([good, good.head(1)]).with_columns(pl.Series("weekday", [1, 1, 9]))
    out = check_table(bad, suite, {"bin_id": ["B1"], "truck_id": ["T1"]})
    assert not out.success
    failed = {(f["expectation"], f["column"] or tuple(f["columns"] or ())) for f in out.failed}
    assert ("expect_compound_columns_to_be_unique", ("round_id", "bin_id")) in failed
    assert ("expect_column_values_to_be_between", "weekday") in failed
    assert ("expect_column_values_to_be_in_set", "bin_id") in failed  # B2 is not a known bin
    res = to_result(out)
    assert isinstance(res, dg.AssetCheckResult) and res.passed is False


def test_bronze_suite_checks_types_and_lineage():
    suite = bronze_suite("trucks")
    df = pl.DataFrame({"truck_id": ["T"], "capacity_kg": [9500.0], "capacity_m3": [19.0], "shift_start": ["05:00"],
                       "shift_hours": [7.0], "depot_id": ["D"], "streams": ["all"], "_row_number": [1],
                       "_delivery": ["fleet.json"], "_source_file": ["reference/fleet.json"], "_checksum": ["x"],
                       "_ingested_at": pl.Series([0]).cast(pl.Datetime("us", "UTC")), "_run_id": ["r"]})
    assert check_table(df, suite).success
    wrong_type = df.with_columns(pl.col("capacity_kg").cast(pl.Utf8))
    assert not check_table(wrong_type, suite).success
    no_lineage = df.with_columns(pl.lit(None, pl.Utf8).alias("_checksum"))
    assert not check_table(no_lineage, suite).success
