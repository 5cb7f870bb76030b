"""DECP parsing (both published JSON formats) and every procurement indicator on planted cases."""

import json
from datetime import date, timedelta

import polars as pl
import pytest

from transforms import procurement as P
from transforms import procurement_marts as M
from transforms.parsing import BadDelivery

CITY = "21060029200019"


def marche(id_, amount, day, *, cpv="45233141", proc="Procédure adaptée", offers=3, holders=("81234567800025",),
           mods=None, pub_days=20, buyer=CITY):
    m = {"id": id_, "acheteur": {"id": buyer}, "nature": "Marché", "objet": f"objet {id_}", "codeCPV": cpv,
         "procedure": proc, "lieuExecution": {"code": "06029", "typeCode": "Code commune"}, "dureeMois": 12,
         "dateNotification": day, "datePublicationDonnees": (date.fromisoformat(day) + timedelta(days=pub_days)).isoformat(),
         "montant": amount, "formePrix": "Forfaitaire", "offresRecues": offers,
         "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET" if len(h) == 14 else "TVA", "id": h}} for h in holders]}
    if mods:
        m["modifications"] = [{"modification": md} for md in mods]
    return m


def bronze(ms, version="2022", name="decp_2025.json"):
    doc = {"marches": {"marche": ms}} if version == "2022" else {"marches": ms}
    p = P.parse_decp(json.dumps(doc).encode(), name)
    assert p.bad.is_empty(), p.bad
    return p.good.with_columns(pl.lit(name).alias("_source_file"), pl.lit(name).alias("_delivery"))


def marts(ms, sirene=()):
    b = bronze(ms)
    c, h, md = P.procurement_contracts(b), P.procurement_holders(b), P.procurement_modifications(b)
    sup = pl.DataFrame([{"siren": s, "name": None, "category": k, "headcount_band": None, "source_file": "s.csv"}
                        for s, k in sirene], schema=P.SUPPLIERS)
    am, th = M.amendments(c, md), M.threshold_awards(c, h)
    return {"c": c, "h": h, "m": md, "am": am, "th": th, "ind": M.indicators(c, h, sup, am, th),
            "flags": M.flags(c, am, th), "spend": M.supplier_spend(c, h, sup), "mix": M.procedure_mix(c)}


def test_parse_2022_format_nested_holders_and_modifications():
    mods = [{"id": 1, "montant": 110000.0, "dureeMois": 14, "dateNotificationModification": "2025-06-01",
             "datePublicationDonneesModification": "2025-06-05",
             "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "11111111100011"}}]}]
    b = bronze([marche("2025A1", 100000.0, "2025-01-10", cpv="45233141-5", holders=("81234567800025", "IT01234567890"),
                       mods=mods)])
    r = b.row(0, named=True)
    assert (r["contract_id"], r["buyer_siret"], r["cpv_code"], r["schema_version"]) == ("2025A1", CITY, "45233141", "2022")
    assert r["notified_on"] == date(2025, 1, 10) and r["amount_eur"] == 100000.0 and r["offers_received"] == 3
    c, h, m = P.procurement_contracts(b), P.procurement_holders(b), P.procurement_modifications(b)
    assert c["contract_uid"][0] == f"{CITY}-2025A1" and c["final_amount_eur"][0] == 110000.0
    assert c["cpv_division"][0] == "45" and c["publication_delay_days"][0] == 20 and c["n_holders"][0] == 2
    assert h["holder_id"].to_list() == ["81234567800025", "IT01234567890"]
    assert h["siren"].to_list() == ["812345678", None] and h["id_type"].to_list() == ["SIRET", "TVA"]
    assert h["amount_share_eur"].to_list() == [55000.0, 55000.0]
    assert m.row(0, named=True)["amount_eur"] == 110000.0 and m["duration_months"][0] == 14


def test_parse_2019_consolidated_format():
    m = {"id": "20190042", "uid": f"{CITY}20190042", "_type": "Marché", "acheteur": {"id": CITY, "nom": "VILLE DE CANNES"},
         "nature": "Marché", "objet": "Balayage", "codeCPV": "90610000-6", "procedure": "Appel d'offres ouvert",
         "lieuExecution": {"code": "06400", "typeCode": "Code postal", "nom": "Cannes"}, "dureeMois": 48,
         "dateNotification": "2019-03-01", "datePublicationDonnees": "2019-03-20", "montant": 2400000,
         "formePrix": "Unitaire", "titulaires": [{"typeIdentifiant": "SIRET", "id": "41234567800019",
                                                  "denominationSociale": "NETTOIE SA"}],
         "modifications": [{"objetModification": "Avenant 1", "montant": 2500000, "dureeMois": 48,
                            "dateNotificationModification": "2020-01-15",
                            "datePublicationDonneesModification": "2020-01-20"}]}
    conc = {"_type": "Contrat de concession", "id": "DSP1", "autoriteConcedante": {"id": CITY}}
    b = bronze([m, conc], version="2019")
    assert b.height == 1 and b["schema_version"][0] == "2019" and b["offers_received"][0] is None
    h = P.procurement_holders(b)
    assert h["holder_name"][0] == "NETTOIE SA"
    md = P.procurement_modifications(b)
    assert md["object"][0] == "Avenant 1" and md["modification_no"][0] == 1
    assert P.procurement_contracts(b)["final_amount_eur"][0] == 2500000.0


def test_bad_records_are_quarantined_with_their_reason():
    good = marche("OK1", 50000.0, "2025-01-10")
    bad_siret = {**marche("B1", 50000.0, "2025-01-10"), "acheteur": {"id": "2106002"}}
    bad_cpv = {**marche("B2", 50000.0, "2025-01-10"), "codeCPV": "4523"}
    no_holder = {**marche("B3", 50000.0, "2025-01-10"), "titulaires": []}
    broken_holder = {**marche("B4", 50000.0, "2025-01-10"), "titulaires": [{"titulaire": "id"}]}
    bad_date = {**marche("B5", 50000.0, "2025-01-10"), "dateNotification": "10/01/2025"}
    bad_proc = {**marche("B6", 50000.0, "2025-01-10"), "procedure": "Gré à gré"}
    doc = {"marches": {"marche": [good, bad_siret, bad_cpv, no_holder, broken_holder, bad_date, bad_proc]}}
    p = P.parse_decp(json.dumps(doc).encode(), "x.json")
    assert p.good["contract_id"].to_list() == ["OK1"]
    reasons = dict(zip(p.bad["_row_number"].to_list(), p.bad["reason"].to_list()))
    assert "SIRET" in reasons[2] and "codeCPV" in reasons[3] and "titulaires" in reasons[4]
    assert "titulaire" in reasons[5] and "notified_on" in reasons[6] and "procedure" in reasons[7]
    with pytest.raises(BadDelivery):
        P.parse_decp(b'{"foo": []}', "notdecp.json")
    with pytest.raises(BadDelivery):
        P.parse_decp(b'{"marches": ', "broken.json")


def test_latest_delivery_wins_and_contract_uid_is_buyer_plus_id():
    a = bronze([marche("X1", 50000.0, "2025-01-10")], name="a.json")
    b = bronze([marche("X1", 50000.0, "2025-01-10", mods=[{"id": 1, "montant": 52000.0,
                                                         "dateNotificationModification": "2025-05-01"}])], name="b.json")
    other_buyer = bronze([marche("X1", 70000.0, "2025-01-10", buyer="26060046600013")], name="c.json")
    both = pl.concat([a.with_columns(pl.lit("2026-01-01T00:00:00").str.to_datetime(time_zone="UTC").alias("_ingested_at")),
                      b.with_columns(pl.lit("2026-02-01T00:00:00").str.to_datetime(time_zone="UTC").alias("_ingested_at")),
                      other_buyer.with_columns(pl.lit("2026-01-01T00:00:00").str.to_datetime(time_zone="UTC")
                                               .alias("_ingested_at"))])
    c = P.procurement_contracts(both)
    assert c.height == 2
    assert c.filter(pl.col("buyer_siret") == CITY)["final_amount_eur"][0] == 52000.0


def test_split_purchase_detected_and_spaced_awards_not():
    ms = [marche("S1", 36500.0, "2025-03-03", proc="Marché passé sans publicité ni mise en concurrence préalable", offers=1),
          marche("S2", 38900.0, "2025-04-06", proc="Marché passé sans publicité ni mise en concurrence préalable", offers=1),
          marche("S3", 37200.0, "2025-05-12", proc="Marché passé sans publicité ni mise en concurrence préalable", offers=1),
          # same supplier, same division, but ten months later: not in the window
          marche("S4", 39000.0, "2026-03-20", proc="Marché passé sans publicité ni mise en concurrence préalable", offers=1),
          # another CPV division: not part of the group
          marche("S5", 39500.0, "2025-03-10", cpv="30192000", proc="Procédure adaptée")]
    r = marts(ms)
    th = r["th"].filter(pl.col("possible_split"))
    assert sorted(th["contract_uid"].str.slice(15).to_list()) == ["S1", "S2", "S3"]
    assert th["split_total_eur"][0] == 112600.0 and th["split_threshold_eur"][0] == 90000.0
    assert th["split_n_awards"][0] == 3 and th["split_span_days"][0] == 70
    flags = r["flags"]
    assert sorted(flags.filter(pl.col("flag_type") == "possible_split")["contract_uid"].str.slice(15)) == ["S1", "S2", "S3"]
    # S4 and S5 are just under 40 000 on their own
    just = flags.filter(pl.col("flag_type") == "just_under_threshold")["contract_uid"].str.slice(15).to_list()
    assert sorted(just) == ["S4", "S5"]
    assert r["ind"].filter(pl.col("year") == 2025)["n_possible_split_awards"][0] == 3
    # no procedure-free award counts as a single bid
    assert flags.filter(pl.col("flag_type") == "single_bid").is_empty()


def test_two_awards_under_40k_summing_under_it_are_not_a_split():
    r = marts([marche("A", 15000.0, "2025-03-03"), marche("B", 18000.0, "2025-03-20")])
    assert r["th"].is_empty() and r["flags"].is_empty()


def test_single_bid_rate():
    ms = [marche("O1", 480000.0, "2024-06-12", proc="Appel d'offres ouvert", offers=1),
          marche("O2", 300000.0, "2024-07-12", proc="Appel d'offres ouvert", offers=4, holders=("22222222200022",)),
          marche("O3", 60000.0, "2024-08-12", offers=2, holders=("33333333300033",)),
          marche("O4", 20000.0, "2024-09-12", proc="Marché passé sans publicité ni mise en concurrence préalable",
                 offers=1, holders=("44444444400044",))]
    r = marts(ms)
    ind = r["ind"].row(0, named=True)
    assert ind["n_competitive_known_offers"] == 3 and ind["n_single_bid"] == 1
    assert ind["single_bid_rate_pct"] == pytest.approx(33.3)
    assert r["flags"].filter(pl.col("flag_type") == "single_bid")["contract_uid"].to_list() == [f"{CITY}-O1"]


def test_amendment_growth_over_limit():
    mods = [{"id": 1, "montant": 268000.0, "dateNotificationModification": "2024-11-04"},
            {"id": 2, "montant": 301500.0, "dateNotificationModification": "2025-04-22"}]
    small = [{"id": 1, "montant": 105000.0, "dateNotificationModification": "2024-11-04"}]
    services = [{"id": 1, "montant": 112000.0, "dateNotificationModification": "2024-11-04"}]
    r = marts([marche("W", 250000.0, "2024-05-06", mods=mods),
               marche("W2", 100000.0, "2024-05-06", mods=small, holders=("22222222200022",)),
               marche("SV", 100000.0, "2024-05-06", cpv="72260000", mods=services, holders=("33333333300033",))])
    am = {u[15:]: r for u, r in zip(r["am"]["contract_uid"], r["am"].iter_rows(named=True))}
    assert am["W"]["growth_pct"] == 20.6 and am["W"]["limit_pct"] == 15.0 and am["W"]["over_limit"]
    assert am["W"]["last_modification_on"] == date(2025, 4, 22) and am["W"]["n_modifications"] == 2
    assert am["W2"]["growth_pct"] == 5.0 and not am["W2"]["over_limit"]
    assert am["SV"]["growth_pct"] == 12.0 and am["SV"]["limit_pct"] == 10.0 and am["SV"]["over_limit"]
    assert sorted(r["flags"].filter(pl.col("flag_type") == "amendment_over_limit")["contract_uid"].str.slice(15)) == ["SV", "W"]


def test_just_under_thresholds_follow_the_date_and_works():
    assert M.thresholds_for(date(2025, 5, 1), "45") == [40000.0, 90000.0, 5538000.0]
    assert M.thresholds_for(date(2025, 5, 1), "72") == [40000.0, 90000.0, 221000.0]
    assert M.thresholds_for(date(2026, 2, 1), "72")[-1] == 216000.0
    assert M.thresholds_for(date(2023, 2, 1), "72")[-1] == 215000.0
    r = marts([marche("J1", 88400.0, "2025-09-15", cpv="72260000"),
               marche("J2", 210000.0, "2025-09-15", cpv="72260000", holders=("22222222200022",)),
               marche("J3", 210000.0, "2025-09-15", cpv="45233141", holders=("33333333300033",)),
               marche("J4", 75000.0, "2025-09-15", cpv="72260000", holders=("44444444400044",))])
    th = {u[15:]: r for u, r in zip(r["th"]["contract_uid"], r["th"].iter_rows(named=True))}
    assert set(th) == {"J1", "J2"}
    assert th["J1"]["threshold_eur"] == 90000.0 and th["J1"]["gap_pct"] == 1.78
    assert th["J2"]["threshold_eur"] == 221000.0


def test_sme_share_supplier_spend_and_procedure_mix():
    ms = [marche("P1", 100000.0, "2025-01-10", holders=("81234567800025",)),
          marche("P2", 300000.0, "2025-02-10", proc="Appel d'offres ouvert", holders=("92345678900011",)),
          marche("P3", 60000.0, "2025-03-10", holders=("81234567800025", "IT01234567890"))]
    r = marts(ms, sirene=[("812345678", "PME"), ("923456789", "GE")])
    ind = r["ind"].row(0, named=True)
    # holder rows: P1 PME, P2 GE, P3 PME + foreign (unknown): 2 of 3 known are PME
    assert ind["sme_share_awards_pct"] == pytest.approx(66.7) and ind["unknown_category_pct"] == 25.0
    assert ind["sme_share_amount_pct"] == pytest.approx(round(130000 / 430000 * 100, 1))
    sp = r["spend"].filter(pl.col("holder_id") == "81234567800025").row(0, named=True)
    assert sp["n_contracts"] == 2 and sp["spend_eur"] == 130000.0 and sp["category"] == "PME"
    assert sp["share_of_division_pct"] == pytest.approx(round(130000 / 460000 * 100, 1))
    mix = {p: r for p, r in zip(r["mix"]["procedure"], r["mix"].iter_rows(named=True))}
    assert mix["Procédure adaptée"]["n_contracts"] == 2 and mix["Appel d'offres ouvert"]["share_amount_pct"] == 65.2


def test_late_publication_and_empty_inputs():
    r = marts([marche("L1", 64000.0, "2025-02-10", pub_days=75), marche("L2", 64000.0, "2025-02-10", pub_days=30,
                                                                       holders=("22222222200022",))])
    assert r["flags"].filter(pl.col("flag_type") == "late_publication")["contract_uid"].to_list() == [f"{CITY}-L1"]
    assert r["ind"]["n_late_publications"][0] == 1 and r["ind"]["median_publication_delay_days"][0] == 52.5
    empty = P.procurement_contracts(pl.DataFrame())
    assert empty.is_empty() and empty.schema == pl.Schema(P.CONTRACTS)
    e = {k: pl.DataFrame(schema=s) for k, s in (("c", P.CONTRACTS), ("h", P.HOLDERS), ("m", P.MODIFICATIONS),
                                                 ("s", P.SUPPLIERS))}
    am, th = M.amendments(e["c"], e["m"]), M.threshold_awards(e["c"], e["h"])
    assert M.indicators(e["c"], e["h"], e["s"], am, th).is_empty() and M.flags(e["c"], am, th).is_empty()
    assert M.supplier_spend(e["c"], e["h"], e["s"]).is_empty() and M.procedure_mix(e["c"]).is_empty()


def test_lots_of_one_consultation_are_not_a_split_but_mapa_over_the_eu_threshold_is():
    aoo = "Appel d'offres ouvert"
    lots = [marche(f"L{i}", 80000.0, "2025-03-03", cpv="90610000", proc=aoo) for i in range(4)]
    mapa = [marche(f"M{i}", 80000.0 + i, f"2025-0{3 + i}-10", cpv="72260000", holders=("22222222200022",))
            for i in range(3)]
    r = marts(lots + mapa)
    split = r["th"].filter(pl.col("possible_split"))
    assert sorted(split["contract_uid"].str.slice(15)) == ["M0", "M1", "M2"]
    assert split["split_threshold_eur"][0] == 221000.0 and split["split_total_eur"][0] == 240003.0


def test_eu_thresholds_by_period():
    assert [M.thresholds_for(date(y, 6, 1), "72")[-1] for y in (2017, 2019, 2021, 2023, 2025, 2027)] == [
        209000.0, 221000.0, 214000.0, 215000.0, 221000.0, 216000.0]
    assert M.thresholds_for(date(2019, 6, 1), "45")[-1] == 5548000.0


def test_a_holder_listed_twice_counts_once():
    b = bronze([marche("D1", 50000.0, "2025-01-10", holders=("81234567800025", "22222222200022", "81234567800025"))])
    c, h = P.procurement_contracts(b), P.procurement_holders(b)
    assert c["n_holders"][0] == 2 and h["holder_id"].to_list() == ["81234567800025", "22222222200022"]
    assert h["amount_share_eur"].to_list() == [25000.0, 25000.0]
