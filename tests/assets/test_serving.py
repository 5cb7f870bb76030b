import duckdb
import polars as pl

from assets.lake import Lake
from assets.catalog import PublishedTable
from assets.serving import delta_connection, publish


def _gold(lake, n):
    lake.overwrite("gold", "tonnage_daily", pl.DataFrame({"day": list(range(n)), "tonnes": [1.5] * n}))
    lake.overwrite("gold", "city_daily_kpis", pl.DataFrame({"day": list(range(n)), "pickups": [n] * n}))


def test_publish_writes_one_schema_per_service(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _gold(lake, 3)
    path = tmp_path / "serving" / "c.duckdb"
    counts = publish(lake, path, {"tonnage_daily": "proprete", "city_daily_kpis": "direction"})
    assert counts == {"direction.city_daily_kpis": 3, "proprete.tonnage_daily": 3}
    with duckdb.connect(str(path), read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        assert {"voirie", "espaces_verts", "proprete", "administration", "direction"} <= schemas
        assert con.execute("SELECT sum(tonnes) FROM proprete.tonnage_daily").fetchone()[0] == 4.5
        assert con.execute("SELECT count(*) FROM main.lakehouse_catalog").fetchone()[0] == 2
    assert not list(path.parent.glob("*.tmp"))


def test_a_publish_that_fails_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    path = tmp_path / "c.duckdb"
    _gold(lake, 3)
    publish(lake, path, {"tonnage_daily": "proprete"})
    _gold(lake, 7)
    broken = PublishedTable("tonnage_daily", "proprete", "", serving_sql=("SELECT * FROM no_such_table",))
    try:
        publish(lake, path, {"tonnage_daily": broken})
    except duckdb.CatalogException as e:
        assert "no_such_table" in str(e)
    else:
        raise AssertionError("a serving statement that fails must fail the publish")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM proprete.tonnage_daily").fetchone()[0] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.duckdb", "lake"]


def test_reader_open_during_publish_keeps_a_consistent_file(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    tables = {"tonnage_daily": "proprete", "city_daily_kpis": "direction"}
    path = tmp_path / "c.duckdb"
    _gold(lake, 3)
    publish(lake, path, tables)
    reader = duckdb.connect(str(path), read_only=True)
    before = reader.execute("SELECT count(*), sum(tonnes) FROM proprete.tonnage_daily").fetchone()
    _gold(lake, 1000)
    publish(lake, path, tables)  # renamed over the file the reader holds
    during = reader.execute("SELECT count(*), sum(tonnes) FROM proprete.tonnage_daily").fetchone()
    k = reader.execute("SELECT count(*) FROM direction.city_daily_kpis").fetchone()[0]
    reader.close()
    assert before == during == (3, 4.5) and k == 3  # the old snapshot, whole
    with duckdb.connect(str(path), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM proprete.tonnage_daily").fetchone()[0] == 1000


def test_duckdb_reads_delta_tables_in_place_through_the_extension(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.merge("silver", "bins", pl.DataFrame({"bin_id": ["B1", "B2"], "capacity_l": [240, 660]}), ["bin_id"])
    lake.quarantine([{"source": "s", "delivery": "d", "item": "i", "reason": "why"}])
    con = delta_connection(str(tmp_path / "lake"))
    assert con.execute("SELECT sum(capacity_l) FROM silver_bins").fetchone()[0] == 900
    assert con.execute("SELECT reason FROM quarantine").fetchone()[0] == "why"
    # the extension reads the latest Delta version
    lake.merge("silver", "bins", pl.DataFrame({"bin_id": ["B3"], "capacity_l": [100]}), ["bin_id"])
    con2 = delta_connection(str(tmp_path / "lake"))
    assert con2.execute("SELECT count(*) FROM silver_bins").fetchone()[0] == 3
