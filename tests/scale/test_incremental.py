"""bench/incremental_bench.py's two parts that decide its figures: the automation ticks run only
what a new delivery makes stale (not the whole graph), and the simulated new deliveries are one
new working day of waste data and one complete new survey folder."""

import json
import sys
from pathlib import Path

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from incremental_bench import land_new_deliveries, run_ticks  # noqa: E402

DELIVERIES = dg.DynamicPartitionsDefinition(name="toy_deliveries")
EAGER = dg.AutomationCondition.eager()
BUILT: list[str] = []


@dg.asset(key=["bronze", "readings"], partitions_def=DELIVERIES)
def bronze_readings(context) -> None:
    BUILT.append(f"bronze/{context.partition_key}")


@dg.asset(key=["silver", "readings"], deps=[bronze_readings], automation_condition=EAGER)
def silver_readings() -> dg.MaterializeResult:
    BUILT.append("silver/readings")
    return dg.MaterializeResult(metadata={"rows_merged_now": 1, "rows": 2})


@dg.asset(key=["gold", "daily"], deps=[silver_readings], automation_condition=EAGER)
def gold_daily() -> None:
    BUILT.append("gold/daily")


@dg.asset(key=["gold", "unrelated"], automation_condition=EAGER)
def gold_unrelated() -> None:
    BUILT.append("gold/unrelated")


def _defs() -> dg.Definitions:
    marts = dg.define_asset_job("toy_marts", selection=dg.AssetSelection.all() - dg.AssetSelection.key_prefixes(["bronze"]))
    ingest = dg.define_asset_job("toy_ingest", selection=[bronze_readings], partitions_def=DELIVERIES)
    return dg.Definitions(assets=[bronze_readings, silver_readings, gold_daily, gold_unrelated], jobs=[marts, ingest])


def test_ticks_run_only_what_a_new_delivery_makes_stale():
    defs = _defs()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_deliveries", ["day1"])
        defs.resolve_job_def("toy_ingest").execute_in_process(instance=instance, partition_key="day1")
        defs.resolve_job_def("toy_marts").execute_in_process(instance=instance)
        settle, cursor, failures = run_ticks(defs, instance, None, print, job_name="toy_marts")
        assert failures == [] and settle[-1]["assets"] == []       # the built graph settles
        BUILT.clear()
        instance.add_dynamic_partitions("toy_deliveries", ["day2"])
        defs.resolve_job_def("toy_ingest").execute_in_process(instance=instance, partition_key="day2")
        ticks, cursor, failures = run_ticks(defs, instance, cursor, print, job_name="toy_marts")
        assert failures == []
        assert ticks[0]["assets"] == ["gold/daily", "silver/readings"] and ticks[-1]["assets"] == []
        assert BUILT == ["bronze/day2", "silver/readings", "gold/daily"]   # gold/unrelated not rebuilt
        assert ticks[0]["work"] == {"silver/readings": {"rows_merged_now": 1}}   # what it says it did now
        # CPU seconds per step, recorded as the steps run (the fair figure on a loaded machine)
        assert set(ticks[0]["step_cpu_s"]) == {"silver__readings", "gold__daily"}
        assert all(v >= 0 for v in ticks[0]["step_cpu_s"].values())
        assert "handle_new_event" not in vars(instance)          # the recorder is removed after the ticks
        again, _, _ = run_ticks(defs, instance, cursor, print, job_name="toy_marts")
        assert again[0]["assets"] == []                             # nothing new: nothing runs


@pytest.mark.slow
def test_new_deliveries_are_one_working_day_and_one_complete_survey(tmp_path):
    from transforms.parsing import parse_survey_frame

    landing = tmp_path / "landing"
    got = land_new_deliveries("tiny", 42, landing, tmp_path / "scratch")
    assert got["new_day"] == "2026-11-02"            # the profile ends on Saturday 31 October: Monday next
    files = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    waste = [f for f in files if f.startswith("waste/")]
    assert waste == ["waste/bin_sensors/capteurs_2026-11-02.jsonl", "waste/collection_logs/collecte_2026-11-02.csv",
                     "waste/litter/litter_2026-11-02.parquet"]
    log = (landing / waste[1]).read_text().splitlines()
    assert len(log) > 1 and all("2026-11-02" in line for line in log[1:])
    manifest = json.loads((landing / "roads/surveys/SRV-2026-10B/manifest.json").read_text())
    assert manifest["survey_id"] == "SRV-2026-10B" and manifest["frame_count"] == len(manifest["frames"]) > 10
    assert {f["file"] for f in manifest["frames"]} == {Path(f).name for f in files if f.endswith(".jpg")}
    first = landing / "roads/surveys/SRV-2026-10B" / manifest["frames"][0]["file"]
    row = parse_survey_frame(first.read_bytes(), first.name)
    assert str(row.get("captured_at", ""))[:7] == "2026-10"
