"""End to end on the tiny simulated city: simulate (with planted bad inputs), ingest through the
sensors, silver, gold, DuckDB; then again, which must change nothing."""

from pathlib import Path

import duckdb
import polars as pl
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tiny_city_run):
    """The tiny city (seed 11) run twice by `make run`'s runner (the session fixture of
    tests/conftest.py), with its environment (DAGSTER_HOME, LAKE_URI...) set while this module runs."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in tiny_city_run["env"].items():
            mp.setenv(k, v)
        yield tiny_city_run["settings"], tiny_city_run["first"], tiny_city_run["second"]


def test_every_schema_has_populated_marts(city):
    settings, first, _ = city
    assert first.failures == []
    with duckdb.connect(settings.serving_path, read_only=True) as con:
        rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_schema <> 'main'").fetchall()
        by_schema = {}
        for schema, table in rows:
            n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
            by_schema.setdefault(schema, {})[table] = n
    from assets.catalog import published_tables
    from orchestration.definitions import defs

    # a table declared `may_be_empty` (e.g. the AI audit log with no endpoint configured) may be empty
    may_be_empty = {t for t, p in published_tables(defs().resolve_all_asset_specs()).items() if p.may_be_empty}
    for schema in ("voirie", "espaces_verts", "proprete", "administration", "direction"):
        assert schema in by_schema and by_schema[schema], schema
        empty = {t for t, n in by_schema[schema].items() if n == 0}
        assert empty <= may_be_empty, (schema, sorted(empty - may_be_empty))


def test_second_run_changes_no_silver_or_gold_count(city):
    _, first, second = city
    assert second.ingested_runs == 0
    assert second.silver_rows == first.silver_rows
    assert second.gold_rows == first.gold_rows
    assert second.quarantined == first.quarantined


def test_bronze_holds_exactly_the_good_rows_of_the_logs(city):
    from assets.lake import Lake
    from transforms import parsing as P

    settings, _, _ = city
    lake = Lake(settings.lake_uri)
    logs = Path(settings.landing_uri) / "waste" / "collection_logs"
    expected = 0
    for f in sorted(logs.glob("*.csv")):
        expected += P.read_csv_rows(f.read_bytes(), f.name, P.SPECS["collection_logs"]).good.height
    assert lake.read("bronze", "collection_logs").height == expected
    silver = lake.read("silver", "collection_events")
    assert silver.height == silver.select("bin_id", "collected_at").unique().height


def test_planted_bad_inputs_are_quarantined_with_reasons_and_nothing_is_lost(city):
    from assets.lake import Lake

    settings, _, _ = city
    q = Lake(settings.lake_uri).read("", "quarantine")
    reasons = q.select("source", "item", "reason")
    jpeg = reasons.filter(pl.col("item").str.ends_with("frame_999001.jpg"))
    assert jpeg.height == 1 and "cannot decode image" in jpeg["reason"][0]
    laz = reasons.filter(pl.col("item").str.contains("L93_1019000_6278000"))
    assert laz.height == 1 and "unreadable LAS/LAZ" in laz["reason"][0]
    landing = Path(settings.landing_uri)
    rattrapage = next((landing / "waste" / "collection_logs").glob("*_rattrapage.csv"))
    n_lines = len(rattrapage.read_text().splitlines())  # header + good rows + 3 bad rows
    rows = q.filter(pl.col("delivery") == rattrapage.name)
    assert rows["row_number"].sort().to_list() == [n_lines - 2, n_lines - 1, n_lines]
    dup = reasons.filter(pl.col("reason").str.starts_with("duplicate delivery"))
    assert dup.height == 1 and dup["item"][0].endswith("_copie.csv")
    # every quarantined file is kept
    for p in q["quarantined_path"].drop_nulls().to_list():
        assert Path(p).exists(), p
    assert rattrapage.exists()
    bronze = Lake(settings.lake_uri).read("bronze", "collection_logs")
    assert bronze.filter(pl.col("_delivery") == rattrapage.name).height == n_lines - 4 > 0


def test_runs_are_recorded_in_the_dagster_instance(city):
    import dagster as dg

    settings, first, _ = city
    with dg.DagsterInstance.from_config(settings.dagster_home) as instance:
        runs = instance.get_runs()
        assert len(runs) >= first.ingested_runs + 2
        assert all(r.is_success for r in runs)
        assert instance.get_dynamic_partitions("collection_logs")


def test_every_mart_stores_its_commune_or_is_agglomeration_wide(city):
    """`commune` is stored in gold (assets/communes.py `placed`), not added at publication: every
    published table has it, or is listed agglomeration-wide with a reason; the commune file holds
    only its commune's rows, in every table, and leaves the agglomeration-wide ones out."""
    from assets.communes import AGGLOMERATION_WIDE, slug

    settings, first, _ = city
    lake = settings.lake()
    with duckdb.connect(settings.serving_path, read_only=True) as con:
        tables = con.execute("SELECT schema_name, table_name FROM main.lakehouse_catalog").fetchall()
        placed = []
        for schema, table in tables:
            stored = lake.read("gold", table)
            assert "commune" in stored.columns or table in AGGLOMERATION_WIDE, \
                f"gold/{table}: no stored commune and not listed in AGGLOMERATION_WIDE"
            if "commune" in stored.columns:
                placed.append((schema, table))
                if stored.height:
                    assert stored["commune"].is_not_null().any(), f"gold/{table}: no row placed in a commune"
    path = Path(settings.serving_path).parent / "communes" / f"{slug('Cannes')}.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        held = {(s, t) for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                                "WHERE table_schema <> 'main'").fetchall()}
        assert held == set(placed)
        for schema, table in held:
            assert con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE commune IS DISTINCT FROM '
                               "'Cannes'").fetchone()[0] == 0, (schema, table)
        # the marts that were agglomeration-wide before issue 27's last step: Cannes's own rows
        for schema, table in (("administration", "dsp_financials"), ("administration", "complaint_register"),
                              ("administration", "procurement_indicators"), ("direction", "city_daily_kpis"),
                              ("voirie", "road_network_summary")):
            assert con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0] > 0, (schema, table)
    assert len(set(tables) - set(placed)) <= len(AGGLOMERATION_WIDE) == 7
    with duckdb.connect(settings.serving_path, read_only=True) as con:   # the total: agglomeration file only
        assert con.execute("SELECT count(*) FROM direction.city_daily_kpis WHERE commune = "
                           "'Agglomération Cannes Lérins'").fetchone()[0] > 0
