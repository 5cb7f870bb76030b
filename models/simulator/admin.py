"""Administration: public-service delegation (DSP) contracts, the delegates' annual reports, and
the city's documents (letters, deliberations, procurement notices, meeting transcripts).

Writes into the landing zone (docs/LANDING.md):

- ``reference/dsp_contracts.csv``: ``contract_id,name,service,delegate,contract_type,start_date,
  end_date,overhead_cap_pct,annual_fee_eur,penalty_eur_per_step,penalty_step_pct,penalty_cap_eur,commune``
  (5 fictional delegates of plausible Cannes DSPs; one states no penalty schedule).
- ``admin/dsp_reports/<contract_id>_<year>.(csv|xlsx|json)``: one annual report per contract and
  year of ``profile.dsp_years``, format rotating with ``(contract index + year index) % 3`` over
  csv, xlsx, json. Long rows ``section,code,label,unit,value,previous_value,target,comment``.
  XLSX: sheet ``contrat`` (``contract_id, year, delegate``) then one sheet per section with the
  same columns; JSON: ``{contract_id, year, delegate, sections: {section: [rows]}}`` (numbers as
  numbers, empty cells as null).
- ``admin/documents/<type>-NN-<slug>.(pdf|docx|txt)``: 12 documents (6 for ``tiny``), types
  ``courrier``, ``deliberation`` (deliberations and legal analyses), ``avis-marche`` and
  ``compte-rendu`` (speaker-turn meeting transcripts), every type and format present.

and the ground truth (``truth/admin/``):

- ``dsp_truth.json``: per contract-year, the planted anomalies and the metrics they were
  planted on (``thresholds`` gives the rules; the listed anomalies are exactly those the rules
  find in the data).
- ``pii.jsonl``: ``{file, kind, value}`` for every personal datum in every document; ``kind`` is
  ``person`` (full name "Claire Dupont", and the bare surname "Dupont" when the document also
  uses it alone, as in "Mme Dupont :"), ``email``, ``phone`` (06/07 mobiles, +33 6 ..., 04 9x
  landlines), ``iban`` (FR76, valid mod-97 checksum and RIB key, printed in groups of four) or
  ``address`` (a resident's postal address). ``value`` is the exact text of the document.
- ``search_queries.jsonl``: ``{query, lang, file}``: about 20 queries (French, then English),
  each with the one relevant document.
- ``meetings.jsonl``: ``{file, title, date, attendees: [{name, role}], decisions: [..],
  actions: [{owner, action, due_date}]}`` per transcript.

Report codes
------------
``pnl`` (unit EUR, whole euros; costs are positive amounts):

- ``REV_*``: revenue lines (per service); ``TOTAL_REVENUE`` = sum of ``REV_*``.
- ``COST_STAFF``, ``COST_PURCHASES`` (purchases and external charges), ``COST_TAXES``,
  ``COST_FEE`` (fee paid to the city = the contract's ``annual_fee_eur``), ``COST_OVERHEAD``
  (frais de structure; the comment states the allocation key as a share of revenue);
  ``TOTAL_OPEX`` = sum of ``COST_*``.
- ``EBITDA`` = ``TOTAL_REVENUE - TOTAL_OPEX``; ``DEPRECIATION``; ``EBIT`` = ``EBITDA -
  DEPRECIATION``; ``FINANCIAL_RESULT`` (signed); ``CORPORATE_TAX`` = max(0, 25% of ``EBIT +
  FINANCIAL_RESULT``); ``NET_RESULT`` = ``EBIT + FINANCIAL_RESULT - CORPORATE_TAX``.

``kpis``: ``KPI_*`` with unit (``%``, ``/10``, ``jours``, ``min``), ``target`` the contractual
threshold; ``comment`` is ``seuil minimal contractuel`` (higher is better: value >= target) or
``seuil maximal contractuel`` (lower is better: ``KPI_COMPLAINT_DAYS``, ``KPI_RESPONSE_MIN``).

``investments``: ``INV_*`` lines, ``value`` = actual spend, ``target`` = planned, ``previous_value``
= last year's actual; ``INV_TOTAL`` sums value, target and previous_value.

``assets``: ``ASSET_*``, ``value`` = net book value at 31/12, ``previous_value`` = last year's,
``comment`` = ``bien de retour — état : <bon|moyen|dégradé>`` or ``bien de reprise — état : ...``.

``tariffs``: ``TAR_*``, ``value`` = current public price, ``previous_value`` = last year's.

``staff``: ``STAFF_HEADCOUNT`` (personnes, 31/12), ``STAFF_FTE`` (ETP), ``STAFF_SEASONAL``
(beach concession only).

``complaints``: ``CMP_*`` counts per category, ``CMP_TOTAL`` = their sum.

In every section ``previous_value`` of year Y equals ``value`` of year Y-1 (the reports of the
first year quote an unpublished Y-1 report, generated the same way).

Planted anomalies (``dsp_truth.json``): ``revenue_drop`` (TOTAL_REVENUE down more than 15% on
the previous year), ``overhead_above_cap`` (COST_OVERHEAD / TOTAL_REVENUE above the contract's
``overhead_cap_pct``), ``kpi_below_target`` (a KPI on the wrong side of its target) and
``investment_below_plan`` (INV_TOTAL actual below 80% of plan). Each type is planted at least
once; ordinary years stay clear of every rule (revenue -4%..+9%, overhead 1-3.5 points under the
cap, KPIs on the right side of the target, investments >= 92% of plan).
"""

from __future__ import annotations

import io
import json
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from .city import City
from .common import atomic_write_bytes, atomic_write_text, sub_seed
from .reference import _csv

REPORT_COLUMNS = ["section", "code", "label", "unit", "value", "previous_value", "target", "comment"]
SECTIONS = ["pnl", "kpis", "investments", "assets", "tariffs", "staff", "complaints"]
FORMATS = ["csv", "xlsx", "json"]
CONTRACT_COLUMNS = ["contract_id", "name", "service", "delegate", "contract_type", "start_date",
                    "end_date", "overhead_cap_pct", "annual_fee_eur", "penalty_eur_per_step", "penalty_step_pct",
                    "penalty_cap_eur", "commune"]
# KPI penalty schedules of the contracts (EUR per started step of shortfall, step in % of the
# target, cap in EUR per KPI and year; "" = not stated). DSP-FOUR-2020 states none: the analysis
# falls back to the city's standard clause and says so.
PENALTY_SCHEDULES = {
    "DSP-PARK-2019": (10000, 5.0, 60000), "DSP-PORT-2015": (7500, 5.0, 45000),
    "DSP-PLAGE-2021": (2500, 2.0, 20000), "DSP-MARCHE-2018": (1500, 5.0, ""),
}
REVENUE_DROP_PCT = -15.0
INVESTMENT_RATIO_MIN = 0.8
ANOMALY_TYPES = ["revenue_drop", "overhead_above_cap", "kpi_below_target", "investment_below_plan"]
LOWER_IS_BETTER = {"KPI_COMPLAINT_DAYS", "KPI_RESPONSE_MIN"}

CONTRACTS = [
    {"contract_id": "DSP-PARK-2019", "name": "Parcs de stationnement souterrains du centre-ville",
     "service": "stationnement", "delegate": "Azur Stationnement SAS", "contract_type": "concession",
     "start_date": "2019-01-01", "end_date": "2034-12-31", "overhead_cap_pct": 8.0,
     "annual_fee_eur": 2400000},
    {"contract_id": "DSP-PORT-2015", "name": "Vieux Port et Port Pierre Canto",
     "service": "ports de plaisance", "delegate": "Riviera Marinas Exploitation SA",
     "contract_type": "concession", "start_date": "2015-07-01", "end_date": "2040-06-30",
     "overhead_cap_pct": 10.0, "annual_fee_eur": 1850000},
    {"contract_id": "DSP-PLAGE-2021", "name": "Sous-concessions des plages naturelles de la Croisette",
     "service": "plages", "delegate": "Sable d'Or Croisette SARL", "contract_type": "concession",
     "start_date": "2021-01-01", "end_date": "2032-12-31", "overhead_cap_pct": 12.0,
     "annual_fee_eur": 640000},
    {"contract_id": "DSP-FOUR-2020", "name": "Fourrière automobile municipale",
     "service": "fourrière", "delegate": "Dépannage Côte d'Azur Services SAS",
     "contract_type": "affermage", "start_date": "2020-04-01", "end_date": "2027-03-31",
     "overhead_cap_pct": 7.0, "annual_fee_eur": 95000},
    {"contract_id": "DSP-MARCHE-2018", "name": "Marché Forville : halle et marchés de plein air",
     "service": "marchés", "delegate": "Halles et Marchés du Sud SAS", "contract_type": "affermage",
     "start_date": "2018-01-01", "end_date": "2029-12-31", "overhead_cap_pct": 9.0,
     "annual_fee_eur": 310000},
]

_SAT = ("KPI_SATISFACTION", "Satisfaction des usagers (enquête annuelle)", "/10", 7.5)
_CPL = ("KPI_COMPLAINT_DAYS", "Délai moyen de réponse aux réclamations", "jours", 15.0)

# Per-contract economics. revenue: (code, label, amount of the year before the first report).
SPECS = {
    "DSP-PARK-2019": {
        "revenue": [("REV_HOURLY", "Recettes horaires", 7.8e6), ("REV_SUBSCRIPTIONS", "Abonnements", 3.1e6),
                    ("REV_OTHER", "Recettes annexes (publicité, lavage, recharge)", 0.4e6)],
        "purchases": 0.22, "fte": 62, "avg_cost": 48000, "dep": 0.11,
        "drop_reason": "fermeture du parc Forville pour travaux d'étanchéité (4 mois)",
        "kpis": [("KPI_AVAILABILITY", "Disponibilité des équipements de péage", "%", 98.0),
                 ("KPI_OCCUPANCY", "Taux d'occupation moyen", "%", 60.0), _SAT, _CPL],
        "investments": [("INV_LED", "Relamping LED des parcs", 380000),
                        ("INV_ACCESS", "Renouvellement du contrôle d'accès et du péage", 650000),
                        ("INV_EV", "Bornes de recharge pour véhicules électriques", 240000),
                        ("INV_SEAL", "Étanchéité et reprise des bétons", 900000)],
        "assets": [("ASSET_P_FORVILLE", "Parc Forville (ouvrage et équipements)", 18e6, 2019, 30, "retour"),
                   ("ASSET_P_PALAIS", "Parc du Palais (ouvrage)", 24e6, 2019, 30, "retour"),
                   ("ASSET_PEAGE", "Système de péage et de contrôle d'accès", 1.6e6, 2020, 8, "reprise"),
                   ("ASSET_VEH", "Véhicules de service", 0.18e6, 2021, 6, "reprise")],
        "tariffs": [("TAR_HOUR", "Tarif horaire (première heure)", "EUR/h", 3.0),
                    ("TAR_NIGHT", "Forfait nuit (20 h - 8 h)", "EUR", 8.0),
                    ("TAR_SUB_RES", "Abonnement résident mensuel", "EUR/mois", 95.0),
                    ("TAR_SUB_FULL", "Abonnement permanent mensuel", "EUR/mois", 160.0)],
        "complaints": [("CMP_BILLING", "Facturation et paiement", 150), ("CMP_EQUIPMENT", "Pannes d'équipements", 120),
                       ("CMP_CLEANLINESS", "Propreté et sécurité", 70), ("CMP_RECEPTION", "Accueil", 40),
                       ("CMP_OTHER", "Autres", 30)],
    },
    "DSP-PORT-2015": {
        "revenue": [("REV_ANNUAL", "Contrats annuels d'amarrage", 5.4e6), ("REV_VISITORS", "Escales", 2.6e6),
                    ("REV_SERVICES", "Services (carburant, manutention, eau, électricité)", 1.1e6)],
        "purchases": 0.25, "fte": 38, "avg_cost": 50000, "dep": 0.11,
        "drop_reason": "dragage du bassin : 120 anneaux indisponibles pendant la saison",
        "kpis": [("KPI_OCCUPANCY", "Taux d'occupation des anneaux", "%", 85.0),
                 ("KPI_AVAILABILITY", "Disponibilité des bornes eau et électricité", "%", 97.0), _SAT, _CPL],
        "investments": [("INV_PONTOONS", "Remplacement de pontons", 700000), ("INV_DREDGING", "Dragage du bassin", 450000),
                        ("INV_BORNES", "Bornes eau et électricité", 220000),
                        ("INV_BLACKWATER", "Station de récupération des eaux noires", 160000)],
        "assets": [("ASSET_QUAYS", "Quais et digues", 21e6, 2015, 40, "retour"),
                   ("ASSET_PONTOONS", "Pontons flottants", 4.2e6, 2016, 20, "retour"),
                   ("ASSET_CRANE", "Grue de manutention 30 t", 0.9e6, 2018, 15, "reprise"),
                   ("ASSET_BOATS", "Vedettes de service", 0.35e6, 2020, 10, "reprise")],
        "tariffs": [("TAR_BERTH_12", "Amarrage annuel, bateau de 12 m", "EUR/an", 7800.0),
                    ("TAR_VISIT_12", "Escale journalière haute saison, 12 m", "EUR/jour", 98.0),
                    ("TAR_WATER", "Eau", "EUR/m3", 5.2), ("TAR_ELEC", "Électricité", "EUR/kWh", 0.36)],
        "complaints": [("CMP_BERTH", "Attribution des places", 45), ("CMP_BILLING", "Facturation", 35),
                       ("CMP_EQUIPMENT", "Équipements et bornes", 30), ("CMP_NOISE", "Nuisances", 25),
                       ("CMP_OTHER", "Autres", 15)],
    },
    "DSP-PLAGE-2021": {
        "revenue": [("REV_MATTRESS", "Locations de matelas et parasols", 1.9e6),
                    ("REV_RESTAURANT", "Restauration de plage", 1.4e6),
                    ("REV_EVENTS", "Privatisations et événements", 0.35e6)],
        "purchases": 0.33, "fte": 22, "avg_cost": 42000, "dep": 0.06, "seasonal": 46,
        "drop_reason": "saison écourtée après les tempêtes de printemps et l'érosion de la plage",
        "kpis": [("KPI_CLEANLINESS", "Conformité des contrôles de propreté", "%", 95.0),
                 ("KPI_FREE_SHARE", "Part du linéaire laissée en accès libre", "%", 80.0), _SAT, _CPL],
        "investments": [("INV_SEASONAL", "Démontage et remontage saisonniers", 210000),
                        ("INV_ACCESS", "Accessibilité PMR (tiralos, cheminements)", 60000),
                        ("INV_FURNITURE", "Renouvellement du mobilier de plage", 90000)],
        "assets": [("ASSET_DECK", "Platelages et pontons de plage", 0.9e6, 2021, 10, "retour"),
                   ("ASSET_KIOSK", "Kiosques et locaux techniques", 0.6e6, 2021, 12, "retour"),
                   ("ASSET_FURN", "Mobilier de plage", 0.25e6, 2022, 5, "reprise"),
                   ("ASSET_KITCHEN", "Équipements de cuisine", 0.3e6, 2021, 8, "reprise")],
        "tariffs": [("TAR_MATTRESS", "Matelas, journée", "EUR/jour", 35.0),
                    ("TAR_HALF", "Matelas, demi-journée", "EUR", 22.0),
                    ("TAR_PARASOL", "Parasol, journée", "EUR/jour", 12.0)],
        "complaints": [("CMP_PRICES", "Prix et affichage", 40), ("CMP_ACCESS", "Accès à la plage libre", 30),
                       ("CMP_NOISE", "Nuisances sonores", 35), ("CMP_CLEANLINESS", "Propreté", 15),
                       ("CMP_OTHER", "Autres", 10)],
    },
    "DSP-FOUR-2020": {
        "revenue": [("REV_REMOVAL", "Frais d'enlèvement", 1.3e6), ("REV_STORAGE", "Frais de garde", 0.6e6),
                    ("REV_SALES", "Ventes et destructions de véhicules", 0.15e6)],
        "purchases": 0.28, "fte": 19, "avg_cost": 44000, "dep": 0.09,
        "drop_reason": "baisse des enlèvements après la réorganisation du stationnement payant",
        "kpis": [("KPI_RESPONSE_MIN", "Délai moyen d'intervention", "min", 30.0),
                 ("KPI_AVAILABILITY", "Ouverture du guichet aux horaires contractuels", "%", 99.0), _SAT, _CPL],
        "investments": [("INV_TRUCKS", "Renouvellement des dépanneuses", 260000),
                        ("INV_SITE", "Aménagement du parc de stockage", 120000),
                        ("INV_IT", "Logiciel de gestion et paiement en ligne", 45000)],
        "assets": [("ASSET_YARD", "Parc de stockage de La Bocca", 1.4e6, 2020, 25, "retour"),
                   ("ASSET_OFFICE", "Bâtiment d'accueil", 0.5e6, 2020, 25, "retour"),
                   ("ASSET_TRUCKS", "Dépanneuses plateau", 0.72e6, 2021, 7, "reprise"),
                   ("ASSET_IT", "Système informatique", 0.09e6, 2022, 5, "reprise")],
        "tariffs": [("TAR_REMOVAL", "Enlèvement d'un véhicule léger", "EUR", 150.0),
                    ("TAR_STORAGE", "Garde journalière, véhicule léger", "EUR/jour", 6.5),
                    ("TAR_EXPERTISE", "Expertise", "EUR", 61.0)],
        "complaints": [("CMP_DISPUTE", "Contestation de l'enlèvement", 160), ("CMP_DAMAGE", "Dommages aux véhicules", 70),
                       ("CMP_WAIT", "Attente au guichet", 80), ("CMP_BILLING", "Facturation", 45),
                       ("CMP_OTHER", "Autres", 25)],
    },
    "DSP-MARCHE-2018": {
        "revenue": [("REV_STALLS", "Droits de place", 0.78e6), ("REV_SUBS", "Abonnements des commerçants", 0.52e6),
                    ("REV_OTHER", "Recettes annexes (parkings, animations)", 0.09e6)],
        "purchases": 0.30, "fte": 9, "avg_cost": 42000, "dep": 0.06,
        "drop_reason": "travaux de toiture : halle partiellement fermée pendant cinq mois",
        "kpis": [("KPI_OCCUPANCY", "Taux d'occupation des étals", "%", 90.0),
                 ("KPI_HYGIENE", "Conformité des contrôles d'hygiène", "%", 95.0), _SAT, _CPL],
        "investments": [("INV_COLD", "Chambres froides", 90000), ("INV_ROOF", "Réfection de la toiture de la halle", 180000),
                        ("INV_SORTING", "Local de tri des déchets", 40000)],
        "assets": [("ASSET_HALL", "Halle Forville (aménagements intérieurs)", 2.1e6, 2018, 25, "retour"),
                   ("ASSET_COLD", "Chambres froides", 0.35e6, 2019, 12, "retour"),
                   ("ASSET_CLEANING", "Matériel de nettoyage", 0.08e6, 2022, 5, "reprise")],
        "tariffs": [("TAR_STALL", "Droit de place, mètre linéaire par jour", "EUR/ml", 2.1),
                    ("TAR_SUB", "Abonnement mensuel, étal de 4 m", "EUR/mois", 180.0),
                    ("TAR_ELEC", "Forfait électricité journalier", "EUR/jour", 3.5)],
        "complaints": [("CMP_CLEANLINESS", "Propreté", 20), ("CMP_PLACEMENT", "Attribution des emplacements", 18),
                       ("CMP_PARKING", "Stationnement", 14), ("CMP_OTHER", "Autres", 8)],
    },
}


# =============================================================================== DSP reports

def _r2(v: float) -> float:
    return float(round(v, 2))


def _simulate_contract(c: dict, spec: dict, years: list[int], planted: dict[int, set[str]], rng) -> dict:
    """Series of report rows for years[0]-1 .. years[-1]; returns {year: {section: [rows]}}."""
    cap = c["overhead_cap_pct"]
    all_years = [years[0] - 1] + years
    rev = {code: amt for code, _, amt in spec["revenue"]}
    fte = float(spec["fte"])
    kpi_prev: dict[str, float] = {}
    price = {code: p for code, _, _, p in spec["tariffs"]}
    cmp_base = {code: n for code, _, n in spec["complaints"]}
    out: dict[int, dict[str, list[dict]]] = {}
    prev_vals: dict[tuple[str, str], float] = {}
    state = {"since_drop": 99}
    for y in all_years:
        anomalies = planted.get(y, set())
        # ---- revenue
        if "revenue_drop" in anomalies:
            f = rng.uniform(0.72, 0.80)
            rev = {k: v * f * rng.uniform(0.98, 1.02) for k, v in rev.items()}
            state["since_drop"] = 0
        else:
            g = rng.uniform(-0.02, 0.06) + (0.08 if state["since_drop"] == 0 else 0.0)
            rev = {k: v * (1 + g + rng.normal(0, 0.01)) for k, v in rev.items()}
            state["since_drop"] += 1
        rev_i = {k: int(round(v)) for k, v in rev.items()}
        R = sum(rev_i.values())
        prevR = prev_vals.get(("pnl", "TOTAL_REVENUE"))
        if prevR is not None and "revenue_drop" not in anomalies:
            # keep ordinary years inside -4%..+9% whatever the noise did
            ch = R / prevR - 1
            if ch < -0.04 or ch > 0.09:
                f = (1 + float(np.clip(ch, -0.04, 0.09))) * prevR / R
                rev_i = {k: int(round(v * f)) for k, v in rev_i.items()}
                rev = {k: float(v) for k, v in rev_i.items()}
                R = sum(rev_i.values())
        # ---- costs
        fte = max(3.0, fte * (1 + rng.normal(0.005, 0.02)))
        fte_r = round(fte, 1)
        staff = int(round(fte_r * spec["avg_cost"] * 1.025 ** (y - 2020)))
        purchases = int(round(R * spec["purchases"] * rng.uniform(0.96, 1.04)))
        taxes = int(round(R * 0.03 * rng.uniform(0.95, 1.05)))
        fee = int(c["annual_fee_eur"])
        if "overhead_above_cap" in anomalies:
            share = cap + rng.uniform(1.5, 4.0)
        else:
            share = max(1.5, cap - rng.uniform(1.0, 3.5))
        overhead = int(round(R * share / 100))
        opex = staff + purchases + taxes + fee + overhead
        ebitda = R - opex
        dep = int(round(R * spec["dep"] * rng.uniform(0.95, 1.05)))
        ebit = ebitda - dep
        fin = -int(round(R * rng.uniform(0.004, 0.012)))
        tax = int(round(max(0.0, 0.25 * (ebit + fin))))
        net = ebit + fin - tax
        share_txt = f"{overhead / R * 100:.1f}".replace(".", ",")
        pnl = [("pnl", k, lbl, "EUR", rev_i[k], None, None) for k, lbl, _ in spec["revenue"]]
        pnl += [("pnl", "TOTAL_REVENUE", "Chiffre d'affaires total", "EUR", R, None,
                 spec["drop_reason"] if "revenue_drop" in anomalies else None),
                ("pnl", "COST_STAFF", "Charges de personnel", "EUR", staff, None, None),
                ("pnl", "COST_PURCHASES", "Achats et charges externes", "EUR", purchases, None, None),
                ("pnl", "COST_TAXES", "Impôts et taxes", "EUR", taxes, None, None),
                ("pnl", "COST_FEE", "Redevance versée à la Ville", "EUR", fee, None, "redevance contractuelle"),
                ("pnl", "COST_OVERHEAD", "Frais de structure (siège)", "EUR", overhead, None,
                 f"clé de répartition : {share_txt} % du chiffre d'affaires"),
                ("pnl", "TOTAL_OPEX", "Total des charges d'exploitation", "EUR", opex, None, None),
                ("pnl", "EBITDA", "Excédent brut d'exploitation (EBE)", "EUR", ebitda, None, None),
                ("pnl", "DEPRECIATION", "Dotations aux amortissements", "EUR", dep, None, None),
                ("pnl", "EBIT", "Résultat d'exploitation", "EUR", ebit, None, None),
                ("pnl", "FINANCIAL_RESULT", "Résultat financier", "EUR", fin, None, None),
                ("pnl", "CORPORATE_TAX", "Impôt sur les sociétés", "EUR", tax, None, None),
                ("pnl", "NET_RESULT", "Résultat net", "EUR", net, None, None)]
        # ---- KPIs
        kpis = []
        miss = None
        if "kpi_below_target" in anomalies:
            miss = spec["kpis"][int(rng.integers(len(spec["kpis"])))][0]
        for code, lbl, unit, target in spec["kpis"]:
            lower = code in LOWER_IS_BETTER
            if code == miss:
                if lower:
                    v = target * rng.uniform(1.3, 1.8)
                elif unit == "/10":
                    v = target - rng.uniform(0.6, 1.5)
                else:
                    v = target - rng.uniform(3.0, 10.0)
            else:
                if lower:
                    v = target * rng.uniform(0.55, 0.9)
                elif unit == "/10":
                    v = min(9.6, target + rng.uniform(0.2, 1.3))
                else:
                    v = min(100.0, target + rng.uniform(0.3, min(8.0, 100 - target)))
            v = round(v, 1)
            if code != miss:  # rounding must not cross the threshold
                v = max(v, target) if not lower else min(v, target)
            kpis.append(("kpis", code, lbl, unit, v, target,
                         "seuil maximal contractuel" if lower else "seuil minimal contractuel"))
        # ---- investments
        inv = []
        tot_a = tot_p = 0
        low = "investment_below_plan" in anomalies
        for code, lbl, base in spec["investments"]:
            planned = int(round(base * rng.uniform(0.6, 1.4) / 1000) * 1000)
            ratio = rng.uniform(0.3, 0.65) if low else rng.uniform(0.93, 1.08)
            actual = int(round(planned * ratio))
            comment = (f"réalisé à {actual / planned * 100:.0f} %"
                       + (" ; opération reportée à l'exercice suivant" if low and ratio < 0.5 else ""))
            inv.append(("investments", code, lbl, "EUR", actual, planned, comment))
            tot_a += actual; tot_p += planned
        inv.append(("investments", "INV_TOTAL", "Total des investissements et renouvellements", "EUR",
                    tot_a, tot_p, f"réalisé à {tot_a / tot_p * 100:.0f} %"))
        # ---- assets
        assets = []
        for code, lbl, gross, acq, life, kind in spec["assets"]:
            age = y - acq + 1
            nbv = int(round(gross * max(0.0, 1 - age / life)))
            frac = age / life
            etat = "bon" if frac < 0.5 else "moyen" if frac < 0.85 else "dégradé"
            assets.append(("assets", code, lbl, "EUR", nbv, None, f"bien de {kind} — état : {etat}"))
        # ---- tariffs
        tariffs = []
        for code, lbl, unit, _ in spec["tariffs"]:
            p = price[code] * (1 + rng.uniform(0.01, 0.035))
            step = 1.0 if p >= 100 else 0.1 if p >= 2 else 0.01
            price[code] = round(round(p / step) * step, 2)
            tariffs.append(("tariffs", code, lbl, unit, price[code], None, "indexation contractuelle"))
        # ---- staff
        staff_rows = [("staff", "STAFF_HEADCOUNT", "Effectif au 31 décembre", "personnes",
                       int(math.ceil(fte_r * rng.uniform(1.04, 1.14))), None, None),
                      ("staff", "STAFF_FTE", "Équivalents temps plein", "ETP", fte_r, None, None)]
        if "seasonal" in spec:
            staff_rows.append(("staff", "STAFF_SEASONAL", "Saisonniers (pic d'été)", "personnes",
                               int(round(spec["seasonal"] * rng.uniform(0.9, 1.1))), None, None))
        # ---- complaints
        cmp_rows = []
        tot = 0
        bump = 1.3 if ("kpi_below_target" in anomalies) else 1.0
        for code, lbl, _ in spec["complaints"]:
            k = int(rng.poisson(cmp_base[code] * bump))
            cmp_rows.append(("complaints", code, lbl, "nombre", k, None, None))
            tot += k
        cmp_rows.append(("complaints", "CMP_TOTAL", "Total des réclamations", "nombre", tot, None, None))

        sections: dict[str, list[dict]] = {s: [] for s in SECTIONS}
        for sec, code, lbl, unit, value, target, comment in pnl + kpis + inv + assets + tariffs + staff_rows + cmp_rows:
            sections[sec].append({"section": sec, "code": code, "label": lbl, "unit": unit, "value": value,
                                  "previous_value": prev_vals.get((sec, code)), "target": target,
                                  "comment": comment})
        for sec, rows in sections.items():
            for r in rows:
                prev_vals[(sec, r["code"])] = r["value"]
        out[y] = sections
    return out


def _detect(c: dict, sections: dict[str, list[dict]]) -> tuple[list[dict], dict]:
    """The truth rules applied to one report."""
    pnl = {r["code"]: r for r in sections["pnl"]}
    rev, prev = pnl["TOTAL_REVENUE"]["value"], pnl["TOTAL_REVENUE"]["previous_value"]
    change = (rev / prev - 1) * 100 if prev else None
    share = pnl["COST_OVERHEAD"]["value"] / rev * 100
    inv = {r["code"]: r for r in sections["investments"]}["INV_TOTAL"]
    ratio = inv["value"] / inv["target"]
    found = []
    if change is not None and change < REVENUE_DROP_PCT:
        found.append({"type": "revenue_drop", "code": "TOTAL_REVENUE", "value": rev, "reference": prev,
                      "change_pct": round(change, 2)})
    if share > c["overhead_cap_pct"]:
        found.append({"type": "overhead_above_cap", "code": "COST_OVERHEAD", "value": round(share, 2),
                      "reference": c["overhead_cap_pct"], "unit": "% of TOTAL_REVENUE"})
    missed = []
    for r in sections["kpis"]:
        bad = r["value"] > r["target"] if r["code"] in LOWER_IS_BETTER else r["value"] < r["target"]
        if bad:
            missed.append(r["code"])
            found.append({"type": "kpi_below_target", "code": r["code"], "value": r["value"],
                          "reference": r["target"],
                          "direction": "max" if r["code"] in LOWER_IS_BETTER else "min"})
    if ratio < INVESTMENT_RATIO_MIN:
        found.append({"type": "investment_below_plan", "code": "INV_TOTAL", "value": inv["value"],
                      "reference": inv["target"], "ratio": round(ratio, 3)})
    metrics = {"total_revenue": rev, "revenue_change_pct": None if change is None else round(change, 2),
               "overhead_share_pct": round(share, 2), "overhead_cap_pct": c["overhead_cap_pct"],
               "ebitda": pnl["EBITDA"]["value"], "net_result": pnl["NET_RESULT"]["value"],
               "investment_ratio": round(ratio, 3), "kpis_missed": missed}
    return found, metrics


def _fmt_csv(v) -> str:
    if v is None:
        return ""
    return str(v)


def _zip_normalise(data: bytes, when: datetime) -> bytes:
    """Rewrite an OOXML package with fixed entry dates and fixed core-property timestamps."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)",
                                 lambda m: m.group(1) + stamp + m.group(3), content)
            zi = zipfile.ZipInfo(info.filename, date_time=(when.year, when.month, when.day, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, content)
    return out.getvalue()


def _report_bytes(fmt: str, c: dict, year: int, sections: dict[str, list[dict]]) -> bytes:
    if fmt == "csv":
        rows = [{k: _fmt_csv(r[k]) for k in REPORT_COLUMNS} for s in SECTIONS for r in sections[s]]
        return _csv(rows, REPORT_COLUMNS).encode("utf-8")
    if fmt == "json":
        obj = {"contract_id": c["contract_id"], "year": year, "delegate": c["delegate"],
               "sections": {s: [{k: r[k] for k in REPORT_COLUMNS} for r in sections[s]] for s in SECTIONS}}
        return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    from openpyxl import Workbook
    when = datetime(year + 1, 5, 15, 9, 0, 0)
    wb = Workbook()
    ws = wb.active
    ws.title = "contrat"
    ws.append(["contract_id", "year", "delegate"])
    ws.append([c["contract_id"], year, c["delegate"]])
    for s in SECTIONS:
        sh = wb.create_sheet(s)
        sh.append(REPORT_COLUMNS)
        for r in sections[s]:
            sh.append([r[k] for k in REPORT_COLUMNS])
    wb.properties.creator = c["delegate"]
    wb.properties.lastModifiedBy = c["delegate"]
    wb.properties.title = f"Rapport annuel du délégataire {c['contract_id']} {year}"
    wb.properties.created = when
    wb.properties.modified = when
    buf = io.BytesIO()
    wb.save(buf)
    return _zip_normalise(buf.getvalue(), when)


def _plant(rng, keys: list[tuple[int, int]]) -> dict[tuple[int, int], set[str]]:
    """Which anomalies go where: each type at least once, a few more at random."""
    order = [keys[i] for i in rng.permutation(len(keys))]
    planted: dict[tuple[int, int], set[str]] = {k: set() for k in keys}
    for t, k in zip(ANOMALY_TYPES, order):
        planted[k].add(t)
    for k in order[len(ANOMALY_TYPES):]:
        if rng.random() < 0.2:
            planted[k].add(ANOMALY_TYPES[int(rng.integers(len(ANOMALY_TYPES)))])
    return planted


def _write_dsp(city: City, landing: Path, truth: Path, rng) -> tuple[dict, dict]:
    years = sorted(city.profile.dsp_years)
    sched = ("penalty_eur_per_step", "penalty_step_pct", "penalty_cap_eur")
    # every contract of the demo is delegated by the Ville de Cannes (its car parks, port, beaches,
    # pound and market): commune Cannes
    rows = [{**{k: (f"{c[k]:.1f}" if k == "overhead_cap_pct" else c[k]) for k in CONTRACT_COLUMNS
                if k not in (*sched, "commune")}, "commune": c.get("commune", "Cannes"),
             **dict(zip(sched, PENALTY_SCHEDULES.get(c["contract_id"], ("", "", ""))))} for c in CONTRACTS]
    atomic_write_text(landing / "reference" / "dsp_contracts.csv", _csv(rows, CONTRACT_COLUMNS))
    keys = [(ci, yi) for ci in range(len(CONTRACTS)) for yi in range(len(years))]
    planted = _plant(rng, keys)
    reports = []
    fmt_count = {f: 0 for f in FORMATS}
    generated = {}
    for ci, c in enumerate(CONTRACTS):
        by_year = {years[yi]: planted[(ci, yi)] for yi in range(len(years))}
        generated[c["contract_id"]] = _simulate_contract(c, SPECS[c["contract_id"]], years, by_year, rng)
        for yi, y in enumerate(years):
            fmt = FORMATS[(ci + yi) % 3]
            name = f"{c['contract_id']}_{y}.{fmt}"
            sections = generated[c["contract_id"]][y]
            atomic_write_bytes(landing / "admin" / "dsp_reports" / name, _report_bytes(fmt, c, y, sections))
            fmt_count[fmt] += 1
            found, metrics = _detect(c, sections)
            types = sorted({a["type"] for a in found})
            if types != sorted(planted[(ci, yi)]):
                raise AssertionError(f"{name}: planted {sorted(planted[(ci, yi)])}, rules find {types}")
            reports.append({"contract_id": c["contract_id"], "year": y, "file": f"admin/dsp_reports/{name}",
                            "format": fmt, "planted": types, "anomalies": found, "metrics": metrics})
    obj = {"thresholds": {"revenue_drop_pct": REVENUE_DROP_PCT, "overhead_share": "COST_OVERHEAD / TOTAL_REVENUE * 100 > overhead_cap_pct",
                          "kpi": "value < target (seuil minimal) or value > target (seuil maximal)",
                          "investment_ratio_min": INVESTMENT_RATIO_MIN},
           "reports": reports}
    atomic_write_text(truth / "admin" / "dsp_truth.json", json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
    counts = {"contracts": len(CONTRACTS), "reports": len(reports), **{f"reports_{f}": n for f, n in fmt_count.items()},
              "anomalies": sum(len(r["anomalies"]) for r in reports),
              "reports_with_anomalies": sum(1 for r in reports if r["anomalies"])}
    return counts, generated


# =============================================================================== documents

MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
        "novembre", "décembre"]
FIRST_F = ["Claire", "Sophie", "Nathalie", "Camille", "Julie", "Hélène", "Céline", "Élodie", "Laure",
           "Mireille", "Agnès", "Valérie"]
FIRST_M = ["Marc", "Laurent", "Olivier", "Thomas", "Nicolas", "Philippe", "François", "Stéphane", "Yves",
           "Bruno", "Christophe", "Frédéric"]
SURNAMES = ["Dupont", "Lefèvre", "Garnier", "Rossi", "Bertrand", "Giraud", "Mercier", "Fabre", "Bonnet",
            "Faure", "Rousseau", "Morel", "Girard", "Fontaine", "Lemoine", "Barbier", "Arnaud", "Marchetti",
            "Castellani", "Orsini", "Baudin", "Renaud", "Perrin", "Leclerc", "Gauthier", "Masson", "Aubert",
            "Ferrand"]
MAIL_DOMAINS = ["orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr", "wanadoo.fr"]


def fr_date(d: date) -> str:
    return f"{'1er' if d.day == 1 else d.day} {MOIS[d.month - 1]} {d.year}"


def fr_eur(v: float) -> str:
    s = f"{int(round(v)):,}".replace(",", " ")
    return f"{s} €"


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower().replace(" ", "-")


@dataclass
class Person:
    civ: str
    first: str
    last: str
    role: str = ""

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def ref(self) -> str:
        return f"{self.civ} {self.last}"

    @property
    def titled(self) -> str:
        return f"{self.civ} {self.full}"


class _Ctx:
    """Draws the personal data of one document and remembers what it planted."""

    def __init__(self, rng, city: City):
        self.rng = rng
        self.city = city
        self.people: list[Person] = []
        self.items: list[tuple[str, str]] = []

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def person(self, role: str = "", gender: str | None = None) -> Person:
        used = {p.last for p in self.people}
        last = self.pick([s for s in SURNAMES if s not in used])
        g = gender or ("F" if self.rng.random() < 0.5 else "M")
        first = self.pick(FIRST_F if g == "F" else FIRST_M)
        p = Person("Mme" if g == "F" else "M.", first, last, role)
        self.people.append(p)
        return p

    def email(self, p: Person, domain: str | None = None) -> str:
        dom = domain or self.pick(MAIL_DOMAINS)
        v = f"{_ascii(p.first)}.{_ascii(p.last)}@{dom}"
        self.items.append(("email", v))
        return v

    def phone(self, style: str) -> str:
        d = [int(self.rng.integers(0, 100)) for _ in range(4)]
        if style == "mobile":
            v = f"0{self.pick([6, 7])} " + " ".join(f"{x:02d}" for x in d)
        elif style == "intl":
            v = "+33 6 " + " ".join(f"{x:02d}" for x in d)
        else:
            v = f"04 {self.pick([92, 93, 97])} " + " ".join(f"{x:02d}" for x in d[:3])
        self.items.append(("phone", v))
        return v

    def iban(self) -> str:
        while True:
            bank = int(self.rng.integers(10000, 100000))
            branch = int(self.rng.integers(0, 100000))
            acct = int(self.rng.integers(0, 10**11))
            key = 97 - ((89 * bank + 15 * branch + 3 * acct) % 97)
            bban = f"{bank:05d}{branch:05d}{acct:011d}{key:02d}"
            if 98 - int(bban + "152700") % 97 == 76:
                break
        s = "FR76" + bban
        v = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        self.items.append(("iban", v))
        return v

    def address(self, street: str) -> str:
        v = f"{int(self.rng.integers(1, 80))} {street[0].lower() + street[1:]}, 06400 Cannes"
        self.items.append(("address", v))
        return v

    def street(self, quartier: str | None = None) -> tuple[str, str]:
        segs = [s for s in self.city.segments if quartier is None or s.quartier == quartier]
        s = self.pick(segs or self.city.segments)
        return s.street_name, s.quartier

    def days(self, d: date, lo: int, hi: int) -> date:
        return d + timedelta(int(self.rng.integers(lo, hi)))


def _doc_courrier_voirie(x: _Ctx, d: date, dsp) -> dict:
    street, q = x.street()
    res = x.person()
    agent = x.person("Directeur de la voirie", "M")
    mail = x.email(res)
    tel = x.phone("landline")
    iban = x.iban()
    amount = f"{x.rng.uniform(180, 650):.2f}".replace(".", ",")
    paras = [
        "Ville de Cannes — Direction de la voirie et des déplacements",
        f"Cannes, le {fr_date(d)}",
        f"{res.titled}\n{x.address(street)}",
        f"Objet : réponse à votre demande d'indemnisation — dommage causé par un nid-de-poule, {street}",
        f"{'Madame' if res.civ == 'Mme' else 'Monsieur'},",
        f"Par votre courriel du {fr_date(x.days(d, -40, -10))} envoyé depuis l'adresse {mail}, vous avez "
        f"sollicité l'indemnisation des dommages subis par votre véhicule (jante et pneumatique avant droit) "
        f"à la suite du passage dans un nid-de-poule situé {street}, quartier {q}.",
        "Après examen de votre dossier et du rapport d'inspection de la chaussée, la Ville reconnaît un défaut "
        "d'entretien normal de l'ouvrage public. Le nid-de-poule a été signalé par les caméras embarquées et "
        "rebouché à titre provisoire ; une réfection définitive de la couche de roulement est programmée.",
        f"Une indemnité de {amount} € vous sera versée par virement sur le compte bancaire que vous nous avez "
        f"communiqué (IBAN {iban}) dans un délai de trente jours.",
        f"Pour toute question, vous pouvez joindre le service au {tel}.",
        f"Je vous prie d'agréer, {'Madame' if res.civ == 'Mme' else 'Monsieur'}, l'expression de mes "
        "salutations distinguées.",
        f"{agent.full}, {agent.role}",
    ]
    return {"title": f"Réponse à une demande d'indemnisation (nid-de-poule, {street})", "paragraphs": paras,
            "slug": "indemnisation-nid-de-poule",
            "queries": [("fr", f"indemnisation dommage véhicule nid-de-poule {street}"),
                        ("en", "reply to a compensation claim for car damage caused by a pothole")]}


def _doc_courrier_elagage(x: _Ctx, d: date, dsp) -> dict:
    street, q = x.street()
    res = x.person()
    agent = x.person("Responsable du service des espaces verts")
    tel = x.phone("mobile")
    mail = x.email(agent, "ville-cannes.fr")
    start = x.days(d, 10, 30)
    paras = [
        "Ville de Cannes — Direction des espaces verts",
        f"Cannes, le {fr_date(d)}",
        f"{res.titled}\n{x.address(street)}",
        f"Objet : élagage et abattage de platanes, {street}",
        f"{'Madame' if res.civ == 'Mme' else 'Monsieur'},",
        f"Vous nous avez signalé par téléphone, depuis le {tel}, l'état préoccupant des platanes situés devant "
        f"votre domicile, {street}. Le diagnostic phytosanitaire réalisé par nos agents confirme la présence "
        "de chancre coloré sur deux sujets, qui devront être abattus ; les autres arbres de l'alignement "
        "feront l'objet d'un élagage de sécurité.",
        f"Les travaux débuteront le {fr_date(start)} et dureront environ trois jours. Le stationnement sera "
        "interdit au droit du chantier de 7 h 30 à 17 h. Deux arbres d'essences adaptées (micocouliers) seront "
        "replantés lors de la prochaine saison de plantation.",
        f"Pour toute information complémentaire, vous pouvez écrire à {agent.ref} à l'adresse {mail}.",
        "Nous vous prions d'agréer l'expression de nos salutations distinguées.",
        f"{agent.full}, {agent.role}",
    ]
    return {"title": f"Information des riverains : élagage et abattage de platanes, {street}", "paragraphs": paras,
            "slug": "elagage-platanes",
            "queries": [("fr", f"abattage et élagage des platanes {street} information des riverains"),
                        ("en", "letter informing residents that plane trees will be pruned and felled")]}


def _doc_courrier_dechets(x: _Ctx, d: date, dsp) -> dict:
    street, q = x.street()
    res = x.person()
    agent = x.person("Directrice de la propreté urbaine", "F")
    mail = x.email(res)
    tel = x.phone("intl")
    iban = x.iban()
    paras = [
        "Ville de Cannes — Direction de la propreté urbaine",
        f"Cannes, le {fr_date(d)}",
        f"{res.titled}\n{x.address(street)}",
        f"Objet : conteneurs débordants et dépôts sauvages, {street}",
        f"{'Madame' if res.civ == 'Mme' else 'Monsieur'},",
        f"Nous avons bien reçu votre réclamation du {fr_date(x.days(d, -30, -5))} (courriel {mail}, "
        f"téléphone {tel}) concernant les conteneurs qui débordent le week-end et les dépôts d'encombrants "
        f"{street}, dans le quartier {q}.",
        "Les capteurs de remplissage installés sur ces points de collecte confirment un taux de remplissage "
        "supérieur à 100 % le dimanche. Nous étudions l'ajout d'un passage supplémentaire et un redécoupage de "
        "la tournée. Les encombrants sont enlevés gratuitement sur rendez-vous pris auprès d'Allô Mairie.",
        "Vous nous avez par ailleurs indiqué souhaiter adhérer à la redevance spéciale pour votre commerce. Le "
        f"prélèvement mensuel sera effectué sur le compte IBAN {iban}, conformément au mandat SEPA joint.",
        "Nous vous prions d'agréer l'expression de nos salutations distinguées.",
        f"{agent.full}, {agent.role}",
    ]
    return {"title": f"Réponse à une réclamation : conteneurs débordants, {street}", "paragraphs": paras,
            "slug": "conteneurs-debordants",
            "queries": [("fr", f"réclamation conteneurs qui débordent et dépôts sauvages {street}"),
                        ("en", "complaint about overflowing bins and illegal dumping, special waste fee direct debit")]}


def _doc_delib_dsp(x: _Ctx, d: date, dsp) -> dict:
    c = CONTRACTS[0]
    y = max(dsp[c["contract_id"]])
    pnl = {r["code"]: r["value"] for r in dsp[c["contract_id"]][y]["pnl"]}
    rap = x.person("Adjoint au maire délégué aux finances", "M")
    maire = x.person("Maire")
    num = f"{d.year}-{int(x.rng.integers(100, 400))}"
    paras = [
        "Ville de Cannes — Conseil municipal",
        f"Séance du {fr_date(d)} — Délibération n° {num}",
        f"Objet : prise d'acte du rapport annuel du délégataire — {c['name']} ({c['delegate']}), exercice {y}",
        f"Rapporteur : {rap.titled}, {rap.role.lower()}.",
        "Vu le code général des collectivités territoriales, notamment son article L1411-3 ; vu le code de la "
        "commande publique, notamment ses articles L3131-5 et R3131-2 à R3131-4 ;",
        f"Vu le contrat de concession {c['contract_id']} conclu avec la société {c['delegate']} pour la période "
        f"du {fr_date(date.fromisoformat(c['start_date']))} au {fr_date(date.fromisoformat(c['end_date']))} ;",
        f"Considérant que le délégataire a produit avant le 1er juin son rapport annuel, qui fait apparaître un "
        f"chiffre d'affaires de {fr_eur(pnl['TOTAL_REVENUE'])}, un excédent brut d'exploitation de "
        f"{fr_eur(pnl['EBITDA'])} et un résultat net de {fr_eur(pnl['NET_RESULT'])} ;",
        "Considérant le rapport de contrôle établi par les services de la Ville, qui analyse les comptes, la "
        "part des frais de structure, les investissements réalisés au regard du programme contractuel et les "
        "indicateurs de qualité ;",
        "Le conseil municipal, après en avoir délibéré, PREND ACTE du rapport annuel du délégataire pour "
        f"l'exercice {y} et DEMANDE au délégataire de présenter, avant la fin de l'année, un plan de rattrapage "
        "des investissements différés.",
        f"Fait à Cannes, le {fr_date(d)}. Pour le Maire, {maire.titled}.",
    ]
    return {"title": f"Délibération n° {num} : rapport annuel du délégataire des parcs de stationnement", "paragraphs": paras,
            "slug": "prise-acte-rapport-dsp-parkings",
            "queries": [("fr", "délibération prise d'acte du rapport annuel du délégataire des parcs de stationnement"),
                        ("en", "council resolution taking note of the car park concession annual report")]}


def _doc_legal_fourriere(x: _Ctx, d: date, dsp) -> dict:
    c = CONTRACTS[3]
    jur = x.person("Juriste, direction des affaires juridiques")
    dg = x.person("Directeur général des services", "M")
    mail = x.email(jur, "ville-cannes.fr")
    tel = x.phone("landline")
    paras = [
        "Ville de Cannes — Direction des affaires juridiques",
        f"Note d'analyse juridique du {fr_date(d)}, à l'attention de {dg.titled}, {dg.role.lower()}",
        f"Objet : prolongation par avenant de la délégation de service public de la fourrière ({c['contract_id']})",
        f"1. Contexte. Le contrat d'affermage conclu avec {c['delegate']} arrive à échéance le "
        f"{fr_date(date.fromisoformat(c['end_date']))}. La procédure de renouvellement ne pourra aboutir avant "
        "cette date ; une prolongation de douze mois est envisagée.",
        "2. Cadre juridique. Un contrat de concession peut être modifié sans nouvelle procédure de publicité et "
        "de mise en concurrence dans les cas prévus aux articles L3135-1 et R3135-1 à R3135-9 du code de la "
        "commande publique, notamment lorsque le montant de la modification est inférieur au seuil européen et "
        "à 10 % du montant du contrat initial (article R3135-8), ou lorsque la modification n'est pas "
        "substantielle (article R3135-7).",
        "3. Analyse. Une prolongation de douze mois représente environ 8 % de la valeur initiale du contrat ; "
        "elle reste sous le seuil de 10 %. Elle doit être justifiée par un motif d'intérêt général (continuité "
        "du service public) et ne pas modifier l'équilibre économique du contrat en faveur du délégataire.",
        "4. Recommandation. Conclure un avenant n° 3 limité à la durée, sans modification des tarifs ni de la "
        "redevance, et lancer sans délai la procédure de renouvellement.",
        f"{'Rédactrice' if jur.civ == 'Mme' else 'Rédacteur'} : {jur.full} ({mail}, {tel}).",
    ]
    return {"title": "Note juridique : prolongation par avenant de la DSP fourrière", "paragraphs": paras,
            "slug": "analyse-avenant-fourriere",
            "queries": [("fr", "analyse juridique avenant de prolongation de la délégation de la fourrière"),
                        ("en", "legal opinion on extending the car pound concession by amendment")]}


def _doc_delib_plages(x: _Ctx, d: date, dsp) -> dict:
    rap = x.person("Adjointe au maire déléguée au littoral", "F")
    contact = x.person("Service du domaine public")
    mail = x.email(contact, "ville-cannes.fr")
    num = f"{d.year}-{int(x.rng.integers(400, 700))}"
    y = d.year + 1
    paras = [
        "Ville de Cannes — Conseil municipal",
        f"Séance du {fr_date(d)} — Délibération n° {num}",
        f"Objet : tarifs {y} des redevances d'occupation du domaine public — terrasses et plages",
        f"Rapporteure : {rap.titled}, {rap.role.lower()}.",
        "Vu le code général de la propriété des personnes publiques, notamment ses articles L2125-1 et "
        "suivants ; vu le décret n° 2006-608 relatif aux concessions de plage ;",
        f"Considérant que les redevances doivent tenir compte des avantages de toute nature procurés à "
        f"l'occupant, le conseil municipal FIXE à compter du 1er janvier {y} les tarifs suivants : terrasse "
        "ouverte sur la Croisette, 185 € par mètre carré et par an ; terrasse en zone 2, 92 € ; emplacement de "
        "plage concédée, part fixe de 48 € par mètre carré et part variable de 6 % du chiffre d'affaires.",
        "Les tarifs sont indexés chaque année sur l'indice des loyers commerciaux.",
        f"Renseignements : {contact.titled}, {mail}.",
        f"Adopté à la majorité. Fait à Cannes, le {fr_date(d)}.",
    ]
    return {"title": f"Délibération n° {num} : redevances d'occupation du domaine public {y}", "paragraphs": paras,
            "slug": "tarifs-domaine-public-plages",
            "queries": [("fr", f"délibération tarifs des redevances d'occupation du domaine public terrasses et plages {y}"),
                        ("en", "resolution setting public domain fees for terraces and beaches")]}


def _avis(x: _Ctx, d: date, obj: str, cpv: str, kind: str, lots: list[str], crit: str, slug: str,
          queries) -> dict:
    contact = x.person("Direction de la commande publique")
    mail = x.email(contact, "ville-cannes.fr")
    tel = x.phone("landline")
    limit = x.days(d, 25, 45)
    ref = f"{d.year}-{slug[:4].upper()}-{int(x.rng.integers(10, 99))}"
    paras = [
        "AVIS D'APPEL PUBLIC À LA CONCURRENCE",
        "Pouvoir adjudicateur : Ville de Cannes, Hôtel de Ville, CS 30140, 06414 Cannes Cedex.",
        f"Référence : {ref}. Objet du marché : {obj}. Code CPV principal : {cpv}.",
        f"Procédure : {kind}. Publié le {fr_date(d)}.",
        "Allotissement : " + " ; ".join(f"lot {i + 1} : {l}" for i, l in enumerate(lots)) + ".",
        f"Critères d'attribution : {crit}.",
        f"Date limite de réception des offres : {fr_date(limit)} à 12 h 00, exclusivement par voie "
        "électronique sur le profil d'acheteur de la Ville.",
        f"Renseignements administratifs et techniques : {contact.titled}, {mail}, tél. {tel}.",
        "Instance chargée des procédures de recours : tribunal administratif de Nice, 18 avenue des Fleurs, "
        "06000 Nice.",
    ]
    return {"title": f"Avis de marché {ref} : {obj}", "paragraphs": paras, "slug": slug, "queries": queries}


def _doc_avis_capteurs(x, d, dsp):
    return _avis(x, d, "fourniture, pose et maintenance de capteurs de remplissage pour les conteneurs de "
                 "déchets et d'une plateforme de pilotage des collectes", "34970000-2",
                 "appel d'offres ouvert (articles R2124-2 et R2161-2 du code de la commande publique)",
                 ["capteurs de remplissage et maintenance", "plateforme logicielle et optimisation des tournées"],
                 "valeur technique 60 %, prix 40 %", "capteurs-remplissage",
                 [("fr", "appel d'offres capteurs de remplissage des conteneurs de déchets"),
                  ("en", "tender for waste bin fill-level sensors and collection routing platform")])


def _doc_avis_elagage(x, d, dsp):
    return _avis(x, d, "entretien, élagage et abattage des arbres d'alignement", "77211400-6",
                 "accord-cadre à bons de commande de quatre ans, appel d'offres ouvert",
                 ["secteur ouest (La Bocca, Ranguin, La Frayère)", "secteur centre", "secteur est (Californie, Croisette)"],
                 "valeur technique 55 %, prix 35 %, performance environnementale 10 %", "elagage-arbres",
                 [("fr", "marché accord-cadre élagage et abattage des arbres d'alignement"),
                  ("en", "framework contract tender for street tree pruning and felling")])


def _doc_avis_voirie(x, d, dsp):
    return _avis(x, d, "travaux de réfection des chaussées et des trottoirs (enrobés)", "45233142-6",
                 "procédure adaptée (article R2123-1 du code de la commande publique)",
                 ["réfection de chaussées en enrobés", "reprise de trottoirs et bordures"],
                 "prix 50 %, valeur technique 40 %, délais 10 %", "refection-chaussees",
                 [("fr", "marché de travaux de réfection des chaussées en enrobés"),
                  ("en", "procurement notice for road resurfacing works")])


def _transcript(x: _Ctx, d: date, title: str, place: str, people: list[Person], turns: list[tuple[Person, str]],
                decisions: list[str], actions: list[tuple[Person, str, date]], slug: str, queries) -> dict:
    header = [title, f"Date : {fr_date(d)}. Lieu : {place}.",
              "Présents : " + " ; ".join(f"{p.titled} ({p.role})" for p in people) + "."]
    return {"title": title, "paragraphs": header, "turns": [(p.ref, t) for p, t in turns],
            "closing": "La séance est levée.", "slug": slug, "queries": queries,
            "meeting": {"title": title, "date": d.isoformat(),
                        "attendees": [{"name": p.full, "role": p.role} for p in people],
                        "decisions": decisions,
                        "actions": [{"owner": p.full, "action": a, "due_date": dd.isoformat()} for p, a, dd in actions]}}


def _doc_cr_port(x: _Ctx, d: date, dsp) -> dict:
    c = CONTRACTS[1]
    chair = x.person("Adjoint au maire délégué à la mer et aux ports", "M")
    ctrl = x.person("Contrôleuse de gestion des délégations", "F")
    deleg = x.person(f"Directeur d'exploitation, {c['delegate']}", "M")
    tech = x.person("Ingénieure, direction des ports", "F")
    tel = x.phone("mobile")
    mail = x.email(deleg, "riviera-marinas.fr")
    due1, due2, due3 = x.days(d, 14, 30), x.days(d, 30, 60), x.days(d, 20, 45)
    y = max(dsp[c["contract_id"]])
    kp = {r["code"]: r for r in dsp[c["contract_id"]][y]["kpis"]}
    occ = kp["KPI_OCCUPANCY"]["value"]
    dec = ["Le comité valide le calendrier de dragage du bassin hors saison (novembre à mars).",
           "Le délégataire transmettra désormais un tableau trimestriel des indicateurs contractuels."]
    act = [(deleg, "Transmettre le planning détaillé du dragage", due1),
           (ctrl, "Rédiger le projet de rapport de contrôle de l'exercice " + str(y), due2),
           (tech, "Vérifier l'état des pontons de la panne C", due3)]
    turns = [
        (chair, f"Bonjour à tous. Ce comité de suivi porte sur le contrat {c['contract_id']}, le rapport de "
                f"l'exercice {y} et les travaux de l'hiver."),
        (ctrl, f"Le taux d'occupation des anneaux s'établit à {str(occ).replace('.', ',')} % pour un seuil "
               f"contractuel de {str(kp['KPI_OCCUPANCY']['target']).replace('.', ',')} %. Nous avons aussi "
               "relevé des écarts sur le programme d'investissement."),
        (deleg, "Le dragage a dû être décalé : les autorisations environnementales sont arrivées tardivement. "
                "Nous proposons de le réaliser hors saison, de novembre à mars."),
        (tech, "C'est compatible avec nos contraintes. Il faudra en revanche vérifier l'état des pontons de la "
               f"panne C ; je m'en charge pour le {fr_date(due3)}."),
        (chair, "Je propose de valider le calendrier de dragage hors saison. Pas d'objection ? C'est validé."),
        (chair, f"{deleg.ref}, pouvez-vous nous transmettre le planning détaillé d'ici le {fr_date(due1)} ?"),
        (deleg, f"Oui, ce sera fait pour le {fr_date(due1)}. Vous pouvez me joindre directement au {tel} ou "
                f"à l'adresse {mail}."),
        (ctrl, "Nous souhaiterions aussi un tableau trimestriel des indicateurs, plutôt qu'annuel."),
        (chair, "Accordé : le délégataire transmettra désormais un tableau trimestriel des indicateurs. "
                f"{ctrl.ref}, vous préparez le projet de rapport de contrôle pour le {fr_date(due2)}."),
        (ctrl, f"Entendu, pour le {fr_date(due2)}."),
    ]
    return _transcript(x, d, f"Compte rendu du comité de suivi de la DSP des ports ({c['contract_id']})",
                       "Hôtel de Ville, salle du conseil", [chair, ctrl, deleg, tech], turns, dec, act,
                       "comite-suivi-dsp-ports",
                       [("fr", "compte rendu comité de suivi délégation des ports dragage du bassin"),
                        ("en", "minutes of the marina concession monitoring committee on dredging")])


def _doc_cr_proprete(x: _Ctx, d: date, dsp) -> dict:
    q = "Le Suquet" if any(s.quartier == "Le Suquet" for s in x.city.segments) else x.city.segments[0].quartier
    street, _ = x.street(q)
    chair = x.person("Adjointe au maire déléguée à la propreté", "F")
    resp = x.person("Responsable du service collecte", "M")
    pres = x.person(f"Présidente du comité de quartier {q}", "F")
    shop = x.person("Commerçant, marché Forville", "M")
    data = x.person("Chargée de mission données, DSI", "F")
    tel = x.phone("mobile")
    mail = x.email(data, "ville-cannes.fr")
    due1, due2 = x.days(d, 10, 25), x.days(d, 20, 40)
    dec = [f"Ajout à titre expérimental d'une collecte le dimanche matin en saison touristique dans le quartier {q}.",
           "Installation de deux bacs emballages supplémentaires à proximité du marché Forville."]
    act = [(resp, "Présenter la tournée modifiée avec la collecte du dimanche", due1),
           (data, "Produire une carte hebdomadaire des débordements à partir des capteurs", due2)]
    turns = [
        (chair, f"Bonsoir et merci d'être venus. L'ordre du jour porte sur la propreté du quartier {q} : les "
                "conteneurs qui débordent le week-end, les dépôts autour du marché et les capteurs de remplissage."),
        (pres, f"Le samedi et le dimanche, les bacs de la {street[0].lower() + street[1:]} débordent dès le matin. "
               f"Les riverains peuvent me joindre au {tel}, je centralise les photos."),
        (resp, "Les tournées actuelles passent trois fois par semaine. Les capteurs confirment un remplissage "
               "supérieur à 100 % le dimanche sur plusieurs points de collecte."),
        (data, "Les relevés sont disponibles dans la plateforme de données ; nous pouvons produire une carte "
               "hebdomadaire des débordements."),
        (chair, "Je propose d'ajouter, à titre expérimental, une collecte le dimanche matin en saison "
                "touristique. Pas d'opposition ? C'est adopté."),
        (chair, f"{resp.ref}, pouvez-vous nous présenter la tournée modifiée avant le {fr_date(due1)} ?"),
        (resp, f"Oui, je la présenterai au plus tard le {fr_date(due1)}."),
        (shop, "Au marché, il faudrait des bacs supplémentaires pour les emballages en fin de matinée."),
        (chair, "Nous installerons deux bacs emballages supplémentaires à proximité du marché Forville."),
        (chair, f"{data.ref}, la carte des débordements pour le {fr_date(due2)}, c'est possible ?"),
        (data, f"Entendu, vous l'aurez pour le {fr_date(due2)}. Pour toute question : {mail}."),
    ]
    return _transcript(x, d, f"Réunion publique de quartier : propreté, {q}", f"Maison des associations, {q}",
                       [chair, resp, pres, shop, data], turns, dec, act, "reunion-quartier-proprete",
                       [("fr", f"réunion de quartier propreté {q} collecte du dimanche conteneurs qui débordent"),
                        ("en", "neighbourhood meeting on overflowing bins and a Sunday collection")])


def _doc_cr_voirie(x: _Ctx, d: date, dsp) -> dict:
    chair = x.person("Adjoint au maire délégué aux travaux", "M")
    voirie = x.person("Directrice de la voirie", "F")
    verts = x.person("Responsable des espaces verts", "M")
    sig = x.person("Géomaticien, SIG", "M")
    tel = x.phone("landline")
    street, q = x.street()
    due1, due2 = x.days(d, 15, 35), x.days(d, 30, 60)
    dec = ["Les chantiers de réfection de chaussée seront coordonnés avec le calendrier d'élagage.",
           f"La réfection de la {street[0].lower() + street[1:]} est priorisée pour le premier trimestre."]
    act = [(sig, "Croiser l'indice d'état des chaussées et l'inventaire des arbres", due1),
           (voirie, "Proposer un programme de réfection priorisé", due2)]
    turns = [
        (chair, "Cette commission doit coordonner les chantiers de voirie et les interventions sur les arbres."),
        (voirie, f"Les relevés d'images montrent une forte dégradation de la {street[0].lower() + street[1:]}, "
                 f"quartier {q} : faïençage et nids-de-poule."),
        (verts, "Nous devons élaguer les platanes de cette rue cet hiver ; autant éviter d'ouvrir la chaussée "
                "deux fois."),
        (chair, "Je propose que tous les chantiers de réfection soient coordonnés avec le calendrier d'élagage. "
                "C'est acté."),
        (sig, f"Je peux croiser l'indice d'état des chaussées avec l'inventaire des arbres pour le {fr_date(due1)}. "
              f"Mon poste direct est le {tel}."),
        (chair, f"Parfait. {voirie.ref}, vous nous proposez un programme priorisé pour le {fr_date(due2)}, en "
                f"commençant par la {street[0].lower() + street[1:]} au premier trimestre."),
        (voirie, f"D'accord, pour le {fr_date(due2)}."),
    ]
    return _transcript(x, d, "Commission de coordination voirie et patrimoine arboré", "Centre technique municipal",
                       [chair, voirie, verts, sig], turns, dec, act, "commission-voirie-arbres",
                       [("fr", "commission coordination travaux de voirie et élagage des arbres"),
                        ("en", "meeting coordinating road resurfacing with tree pruning")])


DOC_TYPES = [
    ("courrier", [_doc_courrier_voirie, _doc_courrier_elagage, _doc_courrier_dechets]),
    ("deliberation", [_doc_delib_dsp, _doc_legal_fourriere, _doc_delib_plages]),
    ("avis-marche", [_doc_avis_capteurs, _doc_avis_elagage, _doc_avis_voirie]),
    ("compte-rendu", [_doc_cr_proprete, _doc_cr_port, _doc_cr_voirie]),
]


def _all_text(doc: dict) -> str:
    parts = [doc["title"], *doc["paragraphs"]]
    parts += [f"{s} : {t}" for s, t in doc.get("turns", [])]
    if doc.get("closing"):
        parts.append(doc["closing"])
    return "\n".join(parts)


def _txt_bytes(doc: dict) -> bytes:
    return (_all_text(doc).replace("\n", "\n\n") + "\n").encode("utf-8")


def _docx_bytes(doc: dict, when: datetime) -> bytes:
    from docx import Document
    d = Document()
    d.add_heading(doc["title"], level=1)
    for p in doc["paragraphs"]:
        d.add_paragraph(p)
    for s, t in doc.get("turns", []):
        para = d.add_paragraph()
        para.add_run(s).bold = True
        para.add_run(f" : {t}")
    if doc.get("closing"):
        d.add_paragraph(doc["closing"])
    cp = d.core_properties
    cp.author = "Ville de Cannes"
    cp.last_modified_by = "Ville de Cannes"
    cp.title = doc["title"]
    cp.comments = ""
    cp.revision = 1
    cp.created = when
    cp.modified = when
    cp.last_printed = when
    buf = io.BytesIO()
    d.save(buf)
    return _zip_normalise(buf.getvalue(), when)


def _wrap(text: str, font: str, size: float, width: float, protect: list[str]) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth
    for v in protect:
        if " " in v:
            text = text.replace(v, v.replace(" ", "\x00"))
    lines = []
    for raw in text.split("\n"):
        cur = ""
        for w in raw.split(" "):
            cand = w if not cur else f"{cur} {w}"
            if not cur or stringWidth(cand.replace("\x00", " "), font, size) <= width:
                cur = cand
            else:
                lines.append(cur)
                cur = w
        lines.append(cur)
    return [line.replace("\x00", " ") for line in lines]


def _pdf_bytes(doc: dict, protect: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(doc["title"]); c.setAuthor("Ville de Cannes"); c.setCreator("Ville de Cannes")
    W, Hh = A4
    margin = 56.0
    width = W - 2 * margin
    y = Hh - margin

    def emit(text, font, size, gap):
        nonlocal y
        for line in _wrap(text, font, size, width, protect):
            if y < margin:
                c.showPage()
                y = Hh - margin
            c.setFont(font, size)
            c.drawString(margin, y, line)
            y -= size * 1.35
        y -= gap

    emit(doc["title"], "Helvetica-Bold", 13, 8)
    for p in doc["paragraphs"]:
        emit(p, "Helvetica", 10, 5)
    for s, t in doc.get("turns", []):
        emit(f"{s} : {t}", "Helvetica", 10, 5)
    if doc.get("closing"):
        emit(doc["closing"], "Helvetica", 10, 5)
    c.showPage()
    c.save()
    return buf.getvalue()


def _write_documents(city: City, landing: Path, truth: Path, rng, dsp) -> dict:
    small = city.profile.name == "tiny"
    per_type = [2, 2, 1, 1] if small else [3, 3, 3, 3]
    end = city.profile.end_date
    pii_lines, meetings, queries_fr, queries_en = [], [], [], []
    counts = {"documents": 0, "pdf": 0, "docx": 0, "txt": 0}
    ddir = landing / "admin" / "documents"
    for t, (tname, makers) in enumerate(DOC_TYPES):
        for i in range(per_type[t]):
            fmt = ["pdf", "docx", "txt"][(t + i) % 3]
            x = _Ctx(rng, city)
            d = end - timedelta(int(rng.integers(5, 70)))
            doc = makers[i](x, d, dsp)
            name = f"{tname}-{i + 1:02d}-{doc['slug']}.{fmt}"
            text = _all_text(doc)
            items = list(dict.fromkeys(x.items))
            for p in x.people:
                if p.full in text:
                    items.append(("person", p.full))
                if p.last in text.replace(p.full, ""):
                    items.append(("person", p.last))
            for kind, v in items:
                if v not in text:
                    raise AssertionError(f"{name}: planted {kind} {v!r} missing from the text")
            when = datetime(d.year, d.month, d.day, 9, 0, 0)
            if fmt == "pdf":
                data = _pdf_bytes(doc, [v for _, v in items])
            elif fmt == "docx":
                data = _docx_bytes(doc, when)
            else:
                data = _txt_bytes(doc)
            atomic_write_bytes(ddir / name, data)
            counts["documents"] += 1
            counts[fmt] += 1
            for kind, v in items:
                pii_lines.append(json.dumps({"file": f"admin/documents/{name}", "kind": kind, "value": v},
                                            ensure_ascii=False))
            for lang, q in doc["queries"]:
                (queries_fr if lang == "fr" else queries_en).append(
                    json.dumps({"query": q, "lang": lang, "file": f"admin/documents/{name}"}, ensure_ascii=False))
            if "meeting" in doc:
                meetings.append(json.dumps({"file": f"admin/documents/{name}", **doc["meeting"]}, ensure_ascii=False))
    queries = (queries_fr + queries_en)[:20]
    tdir = truth / "admin"
    atomic_write_text(tdir / "pii.jsonl", "\n".join(pii_lines) + "\n")
    atomic_write_text(tdir / "search_queries.jsonl", "\n".join(queries) + "\n")
    atomic_write_text(tdir / "meetings.jsonl", "\n".join(meetings) + "\n")
    counts.update({"pii_items": len(pii_lines), "search_queries": len(queries), "meetings": len(meetings)})
    return counts


def simulate_admin(city: City, landing: Path, truth: Path) -> dict:
    rng = np.random.default_rng(sub_seed(city.seed, "admin"))
    landing, truth = Path(landing), Path(truth)
    counts, dsp = _write_dsp(city, landing, truth, rng)
    counts.update(_write_documents(city, landing, truth, rng, dsp))
    from .admin_contracts import write_contracts

    when = datetime(city.profile.end_date.year, city.profile.end_date.month, city.profile.end_date.day, 9)
    counts.update(write_contracts(CONTRACTS, PENALTY_SCHEDULES, landing, truth,
                                  np.random.default_rng(sub_seed(city.seed, "admin_contracts")), when))
    from .admin_complaints import write_complaints

    counts.update(write_complaints(CONTRACTS, SPECS, sorted(city.profile.dsp_years), landing, truth,
                                   np.random.default_rng(sub_seed(city.seed, "admin_complaints"))))
    return counts
