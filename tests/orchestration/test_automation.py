"""Declarative automation: a new bronze delivery makes the automation request the silver table
downstream of it, and nothing unrelated (the daemon's automation sensor evaluates exactly this).
A delivery dropped into a running `make ui` was also followed by hand: sensor run, then one
automation run of silver/collection_events, gold/tonnage_daily, gold/city_daily_kpis, serving."""

import json

import dagster as dg

from orchestration.definitions import build_definitions


def _requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_new_delivery_requests_its_silver_table(lake_env, tmp_path):
    defs = build_definitions(lake_env)
    p = tmp_path / "landing" / "waste" / "bin_sensors" / "capteurs_2026-10-12.jsonl"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({"message_id": "m1", "id": "urn:ngsi-ld:WasteContainer:BIN-00001",
                             "type": "WasteContainer", "dateObserved": "2026-10-12T04:00:00Z",
                             "fillingLevel": 0.5}) + "\n")
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert "silver/bin_readings" not in _requested(first)  # its input does not exist yet
        instance.add_dynamic_partitions("bin_readings", [p.name])
        assert defs.resolve_job_def("ingest_bin_readings").execute_in_process(
            instance=instance, partition_key=p.name).success
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = _requested(second)
        assert "silver/bin_readings" in requested
        assert "silver/collection_events" not in requested
