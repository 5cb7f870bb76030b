"""Five communes: the simulator's reference covers them; every published mart carries the
commune; each commune's DuckDB file holds its own rows only, in every table; the agglomeration
file holds all five."""

import json

import duckdb
import polars as pl
import pytest

FIVE = {"Cannes", "Le Cannet", "Mandelieu-la-Napoule", "Mougins", "Théoule-sur-Mer"}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from assets.communes import CommuneResolver, publish_communes
    from assets.lake import Lake
    from assets.serving import publish
    from models.simulator.city import build_city
    from models.simulator.reference import write_reference
    from tests.citizens.conftest import ingest
    from transforms import reference as R
    from transforms import territory as TT

    root = tmp_path_factory.mktemp("communes")
    landing = root / "landing"
    city = build_city("demo", 42)
    stats = write_reference(city, landing)
    lake = Lake(str(root / "lake"))
    for name in ("quartiers", "street_segments", "collection_points", "communes"):
        ingest(lake, landing, name)
    lake.overwrite("silver", "quartiers", R.quartiers(lake.read("bronze", "quartiers")))
    lake.overwrite("silver", "street_segments", R.street_segments(lake.read("bronze", "street_segments")))
    lake.overwrite("silver", "collection_points", R.collection_points(lake.read("bronze", "collection_points")))
    lake.overwrite("silver", "communes", TT.communes(lake.read("bronze", "communes")))
    seg, bins = lake.read("silver", "street_segments"), lake.read("silver", "collection_points")
    # marts placed by quartier, by segment, by bin, by their own commune, and one agglomeration-wide
    lake.overwrite("gold", "by_quartier", seg.group_by("quartier").len().sort("quartier"))
    lake.overwrite("gold", "by_segment", seg.select("segment_id", "length_m"))
    lake.overwrite("gold", "by_bin", bins.select("bin_id", "capacity_l"))
    lake.overwrite("gold", "by_commune", pl.DataFrame({"commune": sorted(FIVE), "n": [1, 2, 3, 4, 5]}))
    lake.overwrite("gold", "city_wide", pl.DataFrame({"day": ["2026-10-01"], "tonnes": [12.5]}))
    agglo = root / "serving" / "cannes.duckdb"
    tables = {"by_quartier": "direction", "by_segment": "voirie", "by_bin": "proprete", "by_commune": "direction",
              "city_wide": "direction"}
    counts = publish(lake, agglo, tables)
    files = publish_communes(agglo, CommuneResolver.from_lake(lake).communes)
    return {"root": root, "landing": landing, "stats": stats, "lake": lake, "agglo": agglo, "counts": counts,
            "files": files, "city": city}


def test_reference_covers_the_five_communes(published):
    geo = json.loads((published["landing"] / "reference" / "communes.geojson").read_text())
    assert {f["properties"]["name"] for f in geo["features"]} == FIVE
    assert {f["properties"]["insee"] for f in geo["features"]} == {"06029", "06030", "06079", "06085", "06138"}
    q = published["lake"].read("silver", "quartiers")
    assert set(q["commune"].to_list()) == FIVE and q.group_by("commune").len()["len"].min() >= 2
    seg = published["lake"].read("silver", "street_segments").join(q.select(pl.col("name").alias("quartier"), "commune"),
                                                                   on="quartier")
    per = dict(seg.group_by("commune").len().iter_rows())
    assert set(per) == FIVE and all(4 <= per[c] <= 20 for c in FIVE - {"Cannes"})   # a few segments each
    assert published["lake"].read("silver", "communes").height == 5


def test_every_published_mart_carries_the_commune(published):
    with duckdb.connect(str(published["agglo"]), read_only=True) as con:
        for schema, table in con.execute("SELECT schema_name, table_name FROM main.lakehouse_catalog").fetchall():
            cols = [r[0] for r in con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()]
            assert "commune" in cols, f"{schema}.{table}"
        placed = con.execute('SELECT DISTINCT commune FROM voirie.by_segment').fetchall()
        assert {r[0] for r in placed} == FIVE                     # the agglomeration file holds all five
        assert con.execute("SELECT count(*) FROM direction.city_wide WHERE commune IS NULL").fetchone()[0] == 1


def test_each_commune_file_holds_only_its_rows(published):
    files = published["files"]
    assert set(files) == FIVE
    with duckdb.connect(str(published["agglo"]), read_only=True) as agg:
        for commune, info in files.items():
            with duckdb.connect(info["path"], read_only=True) as con:
                tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                     "WHERE table_schema <> 'main'").fetchall()
                assert {t for _, t in tables} == {"by_quartier", "by_segment", "by_bin", "by_commune"}
                for schema, table in tables:
                    other = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" '
                                        f'WHERE commune IS DISTINCT FROM ?', [commune]).fetchone()[0]
                    assert other == 0, f"{commune}: {schema}.{table} holds {other} row(s) of another commune"
                    n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                    m = agg.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE commune = ?', [commune]).fetchone()[0]
                    assert n == m and (n > 0 or table == "by_bin"), (commune, table, n, m)   # all its rows, none lost
                note = con.execute("SELECT note FROM main.lakehouse_catalog WHERE table_name = 'city_wide'").fetchone()[0]
                assert "agglomeration-wide" in note
