"""docs/ARCHITECTURE.md "How to add a table" and "How to add a service", followed step by step:
a toy service module in a temporary folder declares one mart with `@gold` and its suite check,
is listed beside the service modules, and the Definitions built from that list publish it: the
toy table is materialised against a temporary lake, its blocking contract and GX checks run and
pass, and it appears in the DuckDB serving file under its (new) service's schema with its
description."""

from __future__ import annotations

import sys
import textwrap

import dagster as dg
import duckdb

TOY = textwrap.dedent('''
    """A toy service (tests/orchestration/test_add_a_table.py)."""
    import polars as pl

    from assets.layers import gold
    from quality.checks import table_check
    from quality.suites import TableSuite

    GROUP = "toy"                # step 1 of a new service: its group (= DuckDB schema) and owners

    # step 1 of a table: the transform (here inline; in a service, a tested function of transforms/)
    def toy_numbers() -> pl.DataFrame:
        return pl.DataFrame({"n": [1, 2, 3], "square": [1, 4, 9]})

    # step 2: the declaration, once: key, DuckDB schema (the group), description (the docstring)
    @gold("toy_squares", group=GROUP, deps=[])
    def toy_squares(lake):
        """Toy mart: the first three numbers and their squares (tests the documented steps)."""
        return toy_numbers()

    # step 3: its domain suite and the service's lists
    TOY_SUITE = TableSuite("toy_squares", key=("n",), types={"n": pl.Int64, "square": pl.Int64},
                           ranges={"square": (1, None)})
    ASSETS = [toy_squares]
    CHECKS = [table_check("gold", "toy_squares", TOY_SUITE)]
''')


def test_a_toy_table_added_through_the_documented_steps_is_checked_and_published(tmp_path, lake_env, monkeypatch):
    from assets import catalog
    from orchestration.definitions import SERVICE_MODULES, build_definitions

    monkeypatch.setitem(catalog.OWNERS, "toy", ["team:toy"])     # step 1: the group's owners (assets/catalog.py)
    (tmp_path / "toy_service.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    defs = build_definitions(lake_env, SERVICE_MODULES + ("toy_service",))   # step 4: list the module

    key = dg.AssetKey(["gold", "toy_squares"])
    graph = defs.resolve_asset_graph()
    checks = {ck.name: graph.get_check_spec(ck).blocking for ck in graph.asset_check_keys if ck.asset_key == key}
    assert checks == {"contract": True, "gx_gold_suite": True}
    assert key in graph.get(dg.AssetKey(["serving", "cannes_duckdb"])).parent_keys
    assert graph.get(key).automation_condition == dg.AutomationCondition.eager()
    assert graph.get(key).group_name == "toy" and graph.get(key).owners == ["team:toy"]

    serving = dg.AssetKey(["serving", "cannes_duckdb"])
    job = defs.resolve_implicit_job_def_def_for_assets([key, serving])
    with dg.instance_for_test() as instance:     # the Definitions' own resources (settings -> lake_env)
        res = job.execute_in_process(asset_selection=[key, serving], instance=instance)
    assert res.success
    evals = {e.event_specific_data.check_name: e.event_specific_data.passed for e in res.all_events
             if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert evals == {"contract": True, "gx_gold_suite": True}

    with duckdb.connect(lake_env.serving_path, read_only=True) as con:
        assert con.execute("SELECT n, square FROM toy.toy_squares ORDER BY n").fetchall() == [(1, 1), (2, 4),
                                                                                                  (3, 9)]
        desc = con.execute("SELECT description FROM main.lakehouse_catalog WHERE table_name = 'toy_squares'").fetchone()
    assert desc and desc[0].startswith("Toy mart: the first three numbers")
    sys.modules.pop("toy_service", None)
