"""Citizens' complaints about the delegated services, as the city's citizen-relations tool (GRC)
exports them, and the letters they ask to translate.

Writes into the landing zone (docs/LANDING.md):
- ``admin/complaints/reclamations_<year>.csv``: one row per complaint the city received about a
  DSP in the last report year (semicolon separated, UTF-8, French headers as a GRC export):
  ``reference;date_reception;canal;contrat;categorie;objet``. The category is one of the
  contract's complaint codes of its annual report (``CMP_*``), so a reply can quote the count the
  delegate declared. No name or address: the GRC merges the addressee when the letter is sent.
- ``admin/translation_requests/demandes_<year>.csv``: ``lettre;langue;demandeur``: two replies
  to translate (English, Italian), to exercise the translation path (unavailable without an LLM
  endpoint).
Ground truth: ``ground_truth/admin/complaints.json`` (the references planted).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from .common import atomic_write_text

CHANNELS = ["courrier", "courriel", "formulaire en ligne", "accueil"]
SUBJECTS = {
    "CMP_BILLING": "Double prélèvement constaté sur mon relevé",
    "CMP_EQUIPMENT": "Barrière de sortie bloquée pendant plus d'une heure",
    "CMP_CLEANLINESS": "Escaliers du niveau -2 sales et mal éclairés",
    "CMP_BERTH": "Refus d'attribution d'une place à l'année sans explication",
    "CMP_PRICES": "Prix affichés différents des prix pratiqués",
    "CMP_ACCESS": "Accès à la plage publique fermé par des transats",
    "CMP_DISPUTE": "Contestation de l'enlèvement de mon véhicule",
    "CMP_DAMAGE": "Rayure sur la carrosserie après l'enlèvement",
    "CMP_PLACEMENT": "Emplacement attribué sans tenir compte de l'ancienneté",
}
COLUMNS = ["reference", "date_reception", "canal", "contrat", "categorie", "objet"]


def write_complaints(contracts: list[dict], specs: dict, years: list[int], landing: Path, truth: Path,
                     rng) -> dict:
    """Two complaints per contract (three for the first), in the contract's first complaint
    categories, received in the last report year."""
    year = max(years)
    rows = []
    n = 0
    for ci, c in enumerate(contracts):
        cats = [code for code, _, _ in specs[c["contract_id"]]["complaints"] if code != "CMP_OTHER"]
        for k in range(3 if ci == 0 else 2):
            n += 1
            day = date(year, 1, 1) + timedelta(days=int(rng.integers(0, 360)))
            code = cats[k % len(cats)]
            rows.append({"reference": f"GRC-{year}-{n:05d}", "date_reception": day.strftime("%d/%m/%Y"),
                         "canal": CHANNELS[int(rng.integers(len(CHANNELS)))], "contrat": c["contract_id"],
                         "categorie": code, "objet": SUBJECTS.get(code, "Réclamation relative au service délégué")})
    text = ";".join(COLUMNS) + "\n" + "".join(";".join(r[k] for k in COLUMNS) + "\n" for r in rows)
    atomic_write_text(landing / "admin" / "complaints" / f"reclamations_{year}.csv", text)
    req = "lettre;langue;demandeur\n" + "".join(
        f"REP_{rows[i]['reference']};{lang};direction de la communication\n" for i, lang in ((0, "en"), (1, "it")))
    atomic_write_text(landing / "admin" / "translation_requests" / f"demandes_{year}.csv", req)
    atomic_write_text(truth / "admin" / "complaints.json", json.dumps(
        {"year": year, "complaints": [r["reference"] for r in rows],
         "by_contract": {c["contract_id"]: [r["reference"] for r in rows if r["contrat"] == c["contract_id"]]
                         for c in contracts}}, indent=1) + "\n")
    return {"complaints": len(rows), "translation_requests": 2}
