"""Simulated public procurement of the agglomeration's buyers, written as their DECP exports.

Landing (docs/LANDING.md): ``admin/procurement/decp_<year>.json`` in the regulatory JSON format
of the arrêtés du 22 décembre 2022 (``{"marches": {"marche": [...]}}``, schema
``schema_decp_v2.0.3.json`` of 139bercy/format-commande-publique), one file per year of
notification, and ``admin/procurement/sirene/sirene_titulaires.csv``, an INSEE SIRENE extract
(StockUniteLegale columns) of the holders, which gives each company's category (PME/ETI/GE).

Truth (``truth/admin/procurement_truth.json``): the planted cases, by contract uid:
``split`` (three awards to one supplier for one CPV just under 40 000 EUR HT within 70 days,
total over 90 000), ``single_bid`` (open call for tenders with one offer), ``amendment``
(two modifications taking the amount 20.6 % over its initial value), ``just_under`` (an award
just under 90 000), ``late_publication`` (data published 75 days after notification), and the
SME share of awards computed from what was written. Background contracts are drawn so that
none of them would raise those flags.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from .city import City
from .common import atomic_write_text, sub_seed

BUYERS = {"21060029200019": "Ville de Cannes", "26060046600013": "CCAS de Cannes",
          "20003878900017": "Communauté d'agglomération Cannes Pays de Lérins"}
CITY = "21060029200019"
# the commune each buyer buys for (reference/procurement_buyers.csv): the town and its CCAS for
# Cannes, the agglomeration's community for the agglomeration. These SIRETs are the simulator's;
# the real DECP sample (tests/data/decp) holds no buyer of the five communes or the agglomeration.
AGGLOMERATION = "Agglomération Cannes Lérins"
BUYER_COMMUNES = {"21060029200019": "Cannes", "26060046600013": "Cannes", "20003878900017": AGGLOMERATION}
CPV = [  # code, label, typical amount (EUR HT), CCAG
    ("45233141", "Travaux d'entretien routier", 180_000, "Travaux"),
    ("45112710", "Travaux d'aménagement paysager d'espaces verts", 140_000, "Travaux"),
    ("77311000", "Entretien des jardins d'agrément et des parcs", 70_000, "Fournitures courantes et services"),
    ("90511000", "Collecte des ordures ménagères", 600_000, "Fournitures courantes et services"),
    ("90610000", "Nettoyage et balayage des rues", 300_000, "Fournitures courantes et services"),
    ("34144511", "Bennes à ordures ménagères", 260_000, "Fournitures courantes et services"),
    ("44613800", "Conteneurs à déchets", 75_000, "Fournitures courantes et services"),
    ("30192000", "Fournitures de bureau", 55_000, "Fournitures courantes et services"),
    ("72260000", "Services relatifs aux logiciels", 95_000, "Techniques de l'information et de la communication"),
    ("55523100", "Restauration scolaire", 450_000, "Fournitures courantes et services"),
    ("71000000", "Maîtrise d'œuvre", 120_000, "Maitrise d'œuvre"),
    ("79952000", "Organisation d'événements", 65_000, "Fournitures courantes et services"),
    ("32323500", "Système de vidéoprotection", 150_000, "Fournitures courantes et services"),
]
CATEGORIES = ("PME", "ETI", "GE")
THRESHOLDS = (40_000, 90_000, 221_000, 5_538_000)   # the background keeps clear of "just under" them


def _siret(rng) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, 14)).replace("0", "3", 1)


def _suppliers(rng, n: int) -> list[dict]:
    out = []
    for i in range(n):
        siret = _siret(rng)
        cat = CATEGORIES[int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
        out.append({"siret": siret, "name": f"Entreprise {chr(65 + i % 26)}{i:02d} SAS", "category": cat,
                    "band": {"PME": "12", "ETI": "41", "GE": "52"}[cat]})
    return out


def _amount(rng, typical: float) -> float:
    """A background amount: at least 40 000 (the DECP obligation), never within 12 % under a threshold."""
    while True:
        a = round(float(typical * rng.lognormal(0, 0.5)), 2)
        if a >= 42_000 and not any(t * 0.88 <= a < t for t in THRESHOLDS):
            return a


def _procedure(amount: float) -> str:
    return "Appel d'offres ouvert" if amount >= 221_000 else "Procédure adaptée"


def _marche(uid: int, buyer: str, cpv: tuple, notified: date, amount: float, procedure: str, offers: int,
            holders: list[dict], publication_days: int, modifications: list[dict] | None = None) -> dict:
    m = {"id": f"{notified.year}C{uid:04d}", "acheteur": {"id": buyer}, "nature": "Marché",
         "objet": f"{cpv[1]} - lot {uid % 4 + 1}", "codeCPV": cpv[0],
         "techniques": {"technique": ["Sans objet"]}, "modalitesExecution": {"modaliteExecution": ["Sans objet"]},
         "marcheInnovant": False, "ccag": cpv[3], "offresRecues": offers, "attributionAvance": False,
         "typeGroupementOperateurs": "Conjoint" if len(holders) > 1 else "Pas de groupement",
         "procedure": procedure, "lieuExecution": {"code": "06029", "typeCode": "Code commune"},
         "dureeMois": 12, "dateNotification": notified.isoformat(),
         "datePublicationDonnees": (notified + timedelta(days=publication_days)).isoformat(),
         "montant": amount, "typesPrix": {"typePrix": ["Définitif ferme"]},
         "formePrix": "Forfaitaire" if cpv[3] == "Travaux" else "Unitaire", "sousTraitanceDeclaree": False,
         "titulaires": [{"titulaire": {"typeIdentifiant": h.get("type", "SIRET"), "id": h["siret"]}} for h in holders],
         "considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]},
         "considerationsEnvironnementales": {"considerationEnvironnementale": ["Pas de considération environnementale"]}}
    if modifications:
        m["modifications"] = [{"modification": md} for md in modifications]
    return m


def simulate_procurement(city: City, landing: Path, truth: Path) -> dict:
    rng = np.random.default_rng(sub_seed(city.seed, "procurement"))
    landing, truth = Path(landing), Path(truth)
    n_per_year = 18 if city.profile.name == "tiny" else 90
    years = (2024, 2025)
    sup = _suppliers(rng, 30 if city.profile.name == "tiny" else 70)
    foreign = {"siret": "IT01234567890", "type": "TVA", "name": "Impresa Italiana SRL", "category": None}
    by_year: dict[int, list[dict]] = {y: [] for y in years}
    last_award: dict[tuple, date] = {}
    uid = 0

    def pick_holder(cpv_code: str, day: date) -> dict:
        while True:   # no supplier gets two awards in one CPV division within 200 days (no accidental split)
            h = sup[int(rng.integers(len(sup)))]
            key = (h["siret"], cpv_code[:2])
            if key not in last_award or abs((day - last_award[key]).days) > 200:
                last_award[key] = day
                return h

    for y in years:
        for _ in range(n_per_year):
            uid += 1
            cpv = CPV[int(rng.integers(len(CPV)))]
            day = date(y, 1, 1) + timedelta(days=int(rng.integers(0, 360)))
            amount = _amount(rng, cpv[2])
            holders = [pick_holder(cpv[0], day)]
            if rng.random() < 0.08:
                holders.append(foreign if rng.random() < 0.5 else pick_holder(cpv[0], day))
            mods = None
            if rng.random() < 0.15:   # background amendments: duration, or an amount within +5 %
                mods = [{"id": 1, "dureeMois": 18, "montant": round(amount * float(rng.uniform(1.0, 1.05)), 2),
                         "dateNotificationModification": (day + timedelta(days=150)).isoformat(),
                         "datePublicationDonneesModification": (day + timedelta(days=160)).isoformat()}]
            buyer = list(BUYERS)[int(rng.choice(3, p=[0.7, 0.1, 0.2]))]
            by_year[y].append(_marche(uid, buyer, cpv, day, amount, _procedure(amount), int(rng.integers(2, 9)),
                                      holders, int(rng.integers(5, 45)), mods))

    # planted cases
    truth_cases: dict[str, list[str]] = {}
    road = CPV[0]
    splitter = {"siret": "81234567800025", "name": "Voirie Express SARL", "category": "PME", "band": "11"}
    own = _suppliers(rng, 4)   # the other planted cases' holders: no background award can join them
    d0 = date(2025, 3, 3)
    split = []
    for k, (days, amount) in enumerate([(0, 36_500.0), (34, 38_900.0), (70, 37_200.0)]):
        uid += 1
        m = _marche(uid, CITY, road, d0 + timedelta(days=days), amount,
                    "Marché passé sans publicité ni mise en concurrence préalable", 1, [splitter], 20)
        m["objet"] = f"Réfection de chaussée, rue {['d’Antibes', 'Meynadier', 'Hoche'][k]}"
        by_year[2025].append(m)
        split.append(f"{CITY}-{m['id']}")
    truth_cases["split"] = split
    uid += 1
    m = _marche(uid, CITY, CPV[3], date(2024, 6, 12), 480_000.0, "Appel d'offres ouvert", 1, [own[0]], 25)
    by_year[2024].append(m)
    truth_cases["single_bid"] = [f"{CITY}-{m['id']}"]
    uid += 1
    mods = [{"id": 1, "montant": 268_000.0, "dureeMois": 14, "dateNotificationModification": "2024-11-04",
             "datePublicationDonneesModification": "2024-11-10"},
            {"id": 2, "montant": 301_500.0, "dureeMois": 16, "dateNotificationModification": "2025-04-22",
             "datePublicationDonneesModification": "2025-04-30"}]
    m = _marche(uid, CITY, CPV[1], date(2024, 5, 6), 250_000.0, "Appel d'offres ouvert", 4, [own[1]], 15, mods)
    by_year[2024].append(m)
    truth_cases["amendment"] = [f"{CITY}-{m['id']}"]
    uid += 1
    m = _marche(uid, CITY, CPV[8], date(2025, 9, 15), 88_400.0, "Procédure adaptée", 3, [own[2]], 12)
    by_year[2025].append(m)
    truth_cases["just_under"] = [f"{CITY}-{m['id']}"]
    uid += 1
    m = _marche(uid, "20003878900017", CPV[6], date(2025, 2, 10), 64_000.0, "Procédure adaptée", 3, [own[3]], 75)
    by_year[2025].append(m)
    truth_cases["late_publication"] = [f"20003878900017-{m['id']}"]

    written = 0
    folder = landing / "admin" / "procurement"
    for y, ms in by_year.items():
        written += atomic_write_text(folder / f"decp_{y}.json",
                                     json.dumps({"marches": {"marche": ms}}, ensure_ascii=False, indent=1))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["siren", "denominationUniteLegale", "categorieEntreprise", "trancheEffectifsUniteLegale"])
    for s in sorted([*sup, *own, splitter], key=lambda s: s["siret"]):
        w.writerow([s["siret"][:9], s["name"], s["category"], s["band"]])
    written += atomic_write_text(folder / "sirene" / "sirene_titulaires.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["siret", "name", "commune"])
    for siret, name in BUYERS.items():
        w.writerow([siret, name, BUYER_COMMUNES[siret]])
    written += atomic_write_text(landing / "reference" / "procurement_buyers.csv", buf.getvalue())

    cats = {s["siret"]: s["category"] for s in [*sup, *own, splitter]}
    awards = [cats.get(t["titulaire"]["id"]) for ms in by_year.values() for m in ms for t in m["titulaires"]]
    known = [c for c in awards if c]
    truth_doc = {"cases": truth_cases, "n_contracts": sum(len(v) for v in by_year.values()),
                 "sme_share_awards_pct": round(100 * sum(c == "PME" for c in known) / len(known), 1),
                 "unknown_category_awards": len(awards) - len(known)}
    (truth / "admin").mkdir(parents=True, exist_ok=True)
    atomic_write_text(truth / "admin" / "procurement_truth.json", json.dumps(truth_doc, indent=1))
    return {"procurement_contracts": truth_doc["n_contracts"], "procurement_files_written": written}
