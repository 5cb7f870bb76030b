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
    assert s.roads_plan_date is None
    assert Settings.from_env({"ROADS_PLAN_DATE": " 2027-01-08 "}).roads_plan_date == "2027-01-08"
    assert Settings.from_env({"ROADS_PLAN_DATE": "2027-01-08"}).lake_resource().roads_plan_date == "2027-01-08"
    with pytest.raises(ValueError, match="ROADS_PLAN_DATE"):
        Settings.from_env({"ROADS_PLAN_DATE": "08/01/2027"})


def test_build_definitions_uses_the_given_settings(tmp_path):
    s = Settings.from_env({"LAKE_URI": str(tmp_path / "l"), "LANDING_URI": str(tmp_path / "in")})
    d = build_definitions(s)
    assert d.resources["lake"].lake_uri == str(tmp_path / "l")


# ---------------------------------------------------------------- the asset graph (issue 23)

SERVICES = {"reference", "voirie", "espaces_verts", "proprete", "administration", "direction", "relation_usagers"}


def test_graph_keys_layers_and_groups():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    layers = {k.path[0] for k in keys}
    assert layers == {"bronze", "silver", "gold", "ml", "lake", "serving"}
    groups = {graph.get(k).group_name for k in keys}
    assert groups == SERVICES | {"serving"}
    assert dg.AssetKey(["serving", "cannes_duckdb"]) in keys and dg.AssetKey(["lake", "quarantine"]) in keys
    for k in keys:      # services own their assets: the group's team is an owner
        node = graph.get(k)
        if node.group_name in SERVICES and k.path[0] != "bronze":
            assert node.owners and all(o.startswith("team:") for o in node.owners), k
    # a sample of each service's chain is there
    for k in (["gold", "road_repair_plan"], ["gold", "tree_risk_register"], ["silver", "collection_stops"],
              ["gold", "dsp_reports"], ["ml", "roads_damage_model"], ["gold", "city_daily_kpis"]):
        assert dg.AssetKey(k) in keys, k


def test_every_published_table_is_declared_once_served_and_has_a_blocking_contract_check():
    from assets.catalog import DUCKDB_TABLE
    from orchestration.definitions import published

    graph = defs.resolve_asset_graph()
    tables = published(defs)
    gold = {k for k in graph.get_all_asset_keys() if k.path[0] == "gold"}
    assert {dg.AssetKey(["gold", t]) for t in tables} == gold     # every gold table is published
    serving = graph.get(dg.AssetKey(["serving", "cannes_duckdb"]))
    assert set(serving.parent_keys) == gold                         # the serving asset's inputs: the graph's
    checks = {}
    for ck in graph.asset_check_keys:
        checks.setdefault(ck.asset_key, {})[ck.name] = graph.get_check_spec(ck).blocking
    for t, decl in tables.items():
        node = graph.get(dg.AssetKey(["gold", t]))
        assert decl.schema == node.group_name and node.metadata[DUCKDB_TABLE] == f"{decl.schema}.{t}", t
        assert decl.description == node.description and len(decl.description) > 20, t
        assert checks[node.key].get("contract") is True, t          # blocking contract check
        assert any(n != "contract" for n in checks[node.key]), t    # and a domain suite
    assert tables["road_crew_days"].may_be_empty and tables["data_quarantine"].may_be_empty
    assert any("administration.search" in q for q in tables["document_index"].serving_sql)


def test_automation_is_one_policy_mapped_over_the_specs():
    from assets.catalog import NIGHTLY_ONLY

    graph = defs.resolve_asset_graph()
    eager = dg.AutomationCondition.eager()
    for k in graph.get_all_asset_keys():
        node = graph.get(k)
        if k.path[0] in ("bronze", "lake") or all(node.tags.get(t) == v for t, v in NIGHTLY_ONLY.items()):
            assert node.automation_condition is None, k
        else:
            assert node.automation_condition == eager, k
    assert graph.get(dg.AssetKey(["ml", "bin_fill_forecaster"])).automation_condition is None


def test_definitions_are_built_lazily():
    """Importing the module builds nothing and imports no service module; `defs()` builds once."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, orchestration.definitions as d; "
            "assert not [m for m in sys.modules if m.startswith('assets.')], sorted(sys.modules); "
            "assert d.defs() is d.defs(); assert 'assets.roads' in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LAKE_URI": "/tmp/_lazy/lake",
                              "LANDING_URI": "/tmp/_lazy/landing", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_every_asset_check_is_blocking_on_published_and_plan_tables():
    graph = defs.resolve_asset_graph()
    plan = {("silver", "collection_selection"), ("silver", "collection_stops"), ("silver", "tree_inspection_plan")}
    contract = {tuple(ck.asset_key.path) for ck in graph.asset_check_keys if ck.name == "contract"}
    assert plan <= contract
    assert {c for c in contract if c[0] != "gold"} == plan
