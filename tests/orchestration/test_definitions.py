import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.definitions import defs as load_defs

defs = load_defs()
from orchestration.settings import Settings


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_has_group_owner_kind_and_description():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        spec = node.to_asset_spec() if hasattr(node, "to_asset_spec") else None
        assert node.group_name, key
        assert node.owners, key
        assert node.description and len(node.description) > 20, key
        if spec is not None:
            assert spec.kinds, key


def test_keys_are_layer_and_table_and_every_bronze_and_silver_table_has_a_blocking_check():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert all(len(k.path) == 2 for k in keys)
    checks = {c for c in graph.asset_check_keys}
    for k in keys:
        if k.path[0] in ("bronze", "silver"):
            assert any(c.asset_key == k for c in checks), f"no check on {k}"


def test_nightly_schedule_is_0200_paris_and_marts_are_eager():
    sched = defs.resolve_schedule_def("nightly_marts_0200_paris")
    assert sched.cron_schedule == "0 2 * * *"
    assert sched.execution_timezone == "Europe/Paris"
    graph = defs.resolve_asset_graph()
    for k in graph.get_all_asset_keys():
        if k.path[0] in ("silver", "gold", "serving"):
            assert graph.get(k).automation_condition is not None, k


def test_settings_defaults_and_errors(tmp_path):
    s = Settings.from_env({})
    assert s.city_profile == "demo" and s.seed == 42
    assert s.lake_uri.endswith("data/lake") and s.serving_path.endswith("cannes.duckdb")
    assert Settings.from_env({"LAKE_URI": "s3://bucket/lake"}).lake_uri == "s3://bucket/lake"
    import pytest
    with pytest.raises(ValueError, match="CITY_PROFILE"):
        Settings.from_env({"CITY_PROFILE": "paris"})
    with pytest.raises(ValueError, match="SEED"):
        Settings.from_env({"SEED": "x"})


def test_build_definitions_uses_the_given_settings(tmp_path):
    s = Settings.from_env({"LAKE_URI": str(tmp_path / "l"), "LANDING_URI": str(tmp_path / "in")})
    d = build_definitions(s)
    assert d.resources["lake"].lake_uri == str(tmp_path / "l")
