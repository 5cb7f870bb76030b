"""Five communes: the simulator's reference covers them, their streets joined to the
agglomeration's network and bins in each; `commune` is stored in silver and in every placed gold
table (not added at publication); each commune's DuckDB file holds its own rows only, in every
table; the agglomeration file holds all five; agglomeration-wide tables are left out of the
commune files with their reason."""

import json

import duckdb
import polars as pl
import pytest

FIVE = {"Cannes", "Le Cannet", "Mandelieu-la-Napoule", "Mougins", "Théoule-sur-Mer"}
AGGLO = "Agglomération Cannes Lérins"
# the buyers' reference (SIRET -> commune), and the DECP contracts' buyers: a listed SIRET, another
# establishment of a listed SIREN (Mougins's), the agglomeration, a buyer not in the reference
BUYERS = {"21060029200019": "Cannes", "21060085300011": "Mougins", "20003878900017": AGGLO}
DECP_BUYERS = {"21060029200019": "Cannes", "21060085300029": "Mougins", "20003878900017": AGGLO, "99999999900011": None}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from assets.communes import communes_of, placed, publish_communes
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
    q = R.quartiers(lake.read("bronze", "quartiers"))
    lake.overwrite("silver", "quartiers", q)
    lake.overwrite("silver", "street_segments", R.street_segments(lake.read("bronze", "street_segments"), q))
    lake.overwrite("silver", "collection_points", R.collection_points(lake.read("bronze", "collection_points"), q))
    lake.overwrite("silver", "communes", TT.communes(lake.read("bronze", "communes")))
    seg, bins = lake.read("silver", "street_segments"), lake.read("silver", "collection_points")
    # marts placed by quartier, by segment, by bin, by their own commune, a zone of quartiers, and
    # one agglomeration-wide: written as every gold write does (assets/communes.py `placed`)
    zones = pl.DataFrame({"zone_id": ["Z1", "Z2"], "quartiers": ["Le Suquet, Croisette", "La Bocca, Capitou"]})
    # DSP contracts and DECP buyers as landed: the delegating authority and the buyers' reference
    lake.overwrite("silver", "dsp_contracts", pl.DataFrame(
        {"contract_id": ["DSP-A", "DSP-B", "DSP-C"], "commune": ["Cannes", "Le Cannet", TT.AGGLOMERATION]}))
    lake.overwrite("silver", "procurement_buyers", pl.DataFrame(
        {"siret": list(BUYERS), "siren": [b[:9] for b in BUYERS], "name": ["Ville de Cannes", "Mairie de Mougins",
                                                                            "Agglomération"],
         "commune": list(BUYERS.values())}))
    lake.overwrite("silver", "procurement_contracts", pl.DataFrame(
        {"contract_uid": ["U1", "U2", "U3", "U4"], "buyer_siret": [*DECP_BUYERS]}))
    marts = {"by_quartier": seg.group_by("quartier").len().sort("quartier"),
             "by_segment": seg.select("segment_id", "length_m"), "by_bin": bins.select("bin_id", "capacity_l"),
             "by_commune": pl.DataFrame({"commune": sorted(FIVE), "n": [1, 2, 3, 4, 5]}), "zones": zones,
             "city_daily_kpis": pl.DataFrame({"commune": [TT.AGGLOMERATION, "Cannes", "Mougins"],
                                              "tonnes": [12.5, 10.0, 2.5]}),
             "dsp_financials": pl.DataFrame({"contract_id": ["DSP-A", "DSP-B", "DSP-C", "DSP-X"], "year": [2024] * 4}),
             "complaint_register": pl.DataFrame({"reference": ["R1", "R2"], "contract_id": ["DSP-B", "DSP-C"]}),
             "procurement_amendments": pl.DataFrame({"contract_uid": ["U1", "U2", "U3", "U4"],
                                                     "buyer_siret": [*DECP_BUYERS]}),
             "procurement_flags": pl.DataFrame({"flag_id": ["F1", "F2", "F3", "F4"],
                                                "contract_uid": ["U1", "U2", "U3", "U4"]}),
             "data_quarantine": pl.DataFrame({"source": ["x"], "reason": ["bad"]})}
    for table, df in marts.items():
        lake.overwrite("gold", table, placed(lake, table, df))
    agglo = root / "serving" / "cannes.duckdb"
    tables = {"by_quartier": "direction", "by_segment": "voirie", "by_bin": "proprete", "by_commune": "direction",
              "zones": "proprete", "city_daily_kpis": "direction", "dsp_financials": "administration",
              "complaint_register": "administration", "procurement_amendments": "administration",
              "procurement_flags": "administration", "data_quarantine": "direction"}
    counts = publish(lake, agglo, tables)
    files = publish_communes(agglo, communes_of(lake))
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
    assert set(per) == FIVE and all(4 <= per[c] <= 40 for c in FIVE - {"Cannes"})   # a few segments each
    assert published["lake"].read("silver", "communes").height == 5
    # stored in silver, derived once from the quartier's commune
    stored = published["lake"].read("silver", "street_segments").join(
        q.select(pl.col("name").alias("quartier"), pl.col("commune").alias("expected")), on="quartier")
    assert stored["commune"].to_list() == stored["expected"].to_list()
    bins = published["lake"].read("silver", "collection_points")
    assert set(bins["commune"].to_list()) == FIVE and bins.group_by("commune").len()["len"].min() >= 4


def test_communes_streets_joined_to_the_agglomeration_network():
    """Each commune's grid reaches the rest by a road of its own: the street graph needs no more
    straight 'bridge' links with the communes than Cannes alone needs (its quartier borders)."""
    import dataclasses

    from models.simulator.city import PROFILES, build_city
    from models.waste import network as N

    def bridges(city):
        s = city.segments
        net = N.build_network([g.segment_id for g in s], [g.x0 for g in s], [g.y0 for g in s], [g.x1 for g in s],
                              [g.y1 for g in s], [g.speed_kmh for g in s])
        return len(net.edges) - len(s)

    five = build_city("demo", 42)
    cannes = build_city(dataclasses.replace(PROFILES["demo"], other_communes=()), 42)
    assert bridges(five) == bridges(cannes)
    # the connecting roads lie in their quartier (its polygon holds the road's corridor)
    mids_x = [(g.x0 + g.x1) / 2 for g in five.segments]
    mids_y = [(g.y0 + g.y1) / 2 for g in five.segments]
    assert five.quartier_of(mids_x, mids_y).tolist() == [g.quartier for g in five.segments]
    assert [b.bin_id for b in cannes.bins] == [b.bin_id for b in five.bins[:len(cannes.bins)]]   # Cannes unchanged


def test_commune_is_stored_in_gold(published):
    from assets.communes import AGGLOMERATION_WIDE

    lake = published["lake"]
    for table in ("by_quartier", "by_segment", "by_bin", "by_commune", "zones"):
        df = lake.read("gold", table)          # the Delta table itself, before any publication
        assert "commune" in df.columns, table
        if table != "zones":
            assert set(df["commune"].to_list()) == FIVE, table
    assert lake.read("gold", "zones")["commune"].to_list() == ["Cannes", None]   # a zone across two communes
    # a DSP contract's row: its delegating authority (an unknown contract: NULL)
    assert lake.read("gold", "dsp_financials")["commune"].to_list() == ["Cannes", "Le Cannet", AGGLO, None]
    assert lake.read("gold", "complaint_register")["commune"].to_list() == ["Le Cannet", AGGLO]
    # a DECP row: its buyer's commune, by SIRET, by SIREN, or via the contract; unknown buyer: NULL
    want = list(DECP_BUYERS.values())
    assert lake.read("gold", "procurement_amendments")["commune"].to_list() == want
    assert lake.read("gold", "procurement_flags")["commune"].to_list() == want
    assert "commune" not in lake.read("gold", "data_quarantine").columns and "data_quarantine" in AGGLOMERATION_WIDE
    assert len(AGGLOMERATION_WIDE) == 7 and "city_daily_kpis" not in AGGLOMERATION_WIDE
    with duckdb.connect(str(published["agglo"]), read_only=True) as con:
        placed = con.execute('SELECT DISTINCT commune FROM voirie.by_segment').fetchall()
        assert {r[0] for r in placed} == FIVE                     # the agglomeration file holds all five
        assert con.execute("SELECT count(*) FROM direction.city_daily_kpis").fetchone()[0] == 3
        assert con.execute("SELECT tonnes FROM direction.city_daily_kpis WHERE commune = ?", [AGGLO]).fetchone()[0] == 12.5


def test_each_commune_file_holds_only_its_rows(published):
    files = published["files"]
    assert set(files) == FIVE
    with duckdb.connect(str(published["agglo"]), read_only=True) as agg:
        for commune, info in files.items():
            with duckdb.connect(info["path"], read_only=True) as con:
                tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                     "WHERE table_schema <> 'main'").fetchall()
                assert {t for _, t in tables} == {"by_quartier", "by_segment", "by_bin", "by_commune", "zones",
                                                   "city_daily_kpis", "dsp_financials", "complaint_register",
                                                   "procurement_amendments", "procurement_flags"}
                for schema, table in tables:
                    other = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" '
                                        f'WHERE commune IS DISTINCT FROM ?', [commune]).fetchone()[0]
                    assert other == 0, f"{commune}: {schema}.{table} holds {other} row(s) of another commune"
                    n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                    m = agg.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE commune = ?', [commune]).fetchone()[0]
                    assert n == m, (commune, table, n, m)   # all its rows, none lost
                note = con.execute("SELECT note FROM main.lakehouse_catalog WHERE table_name = 'data_quarantine'").fetchone()[0]
                assert "agglomeration-wide: deliveries and rows set aside" in note
                held = {t: con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables}
                want = {"Cannes": (1, 1, 0, 1), "Le Cannet": (0, 1, 1, 0), "Mougins": (1, 0, 0, 1)}.get(commune, (0, 0, 0, 0))
                assert (held["city_daily_kpis"], held["dsp_financials"], held["complaint_register"],
                        held["procurement_flags"]) == want, (commune, held)
                assert held["by_quartier"] > 0 and held["by_segment"] > 0 and held["by_bin"] > 0
        # agglomeration-level rows and rows of no commune: in the agglomeration file only
        for table in ("direction.city_daily_kpis", "administration.dsp_financials", "administration.procurement_flags"):
            left = agg.execute(f"SELECT count(*) FROM {table} WHERE commune = ? OR commune IS NULL", [AGGLO]).fetchone()[0]
            assert left >= 1, table


def test_place_commune_order_and_fallback():
    """Own commune first, then quartier, segment, bin; a segment table stored before it carried
    the commune is placed through its quartier; unknown places stay NULL."""
    from transforms.territory import place_commune

    q = pl.DataFrame({"name": ["Rocheville", "Le Suquet"], "commune": ["Le Cannet", "Cannes"]})
    seg = pl.DataFrame({"segment_id": ["S1", "S2"], "quartier": ["Rocheville", "Le Suquet"]})    # no commune column
    bins = pl.DataFrame({"bin_id": ["B1"], "commune": ["Mougins"]})
    df = pl.DataFrame({"commune": ["Théoule-sur-Mer", None, None, None, None],
                       "quartier": [None, "Le Suquet", None, None, None],
                       "segment_id": ["S2", None, "S1", None, "S9"], "bin_id": [None, None, None, "B1", None]})
    out = place_commune(df, q, seg, bins)["commune"].to_list()
    assert out == ["Théoule-sur-Mer", "Cannes", "Le Cannet", "Mougins", None]
