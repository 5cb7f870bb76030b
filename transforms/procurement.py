"""Public procurement: the DECP (données essentielles de la commande publique) as published,
parsed into bronze, split into silver tables, and the buyer-side analytics marts.

Format followed (docs/LANDING.md): the regulatory JSON format of the arrêtés du 22 décembre 2022
(in force 1 January 2024), JSON schema ``schema_decp_v2.0.3.json`` of
github.com/139bercy/format-commande-publique: ``{"marches": {"marche": [...]}}``, holders as
``titulaires: [{"titulaire": {"id", "typeIdentifiant"}}]`` and amendments as
``modifications: [{"modification": {"id", "montant", "dureeMois", "titulaires",
"dateNotificationModification", ...}}]``. The consolidated 2019 format published by data.gouv.fr
(``{"marches": [...]}`` with holders ``{"id", "typeIdentifiant", "denominationSociale"}`` and
modifications without the wrapper) is read too. The DECP carries no company size: the SME share
comes from an INSEE SIRENE extract (``siren``, ``categorieEntreprise`` PME/ETI/GE).

Pure Polars and json: frames in, frames out; the marts are in transforms/procurement_marts.py. Amounts are EUR HT as published; a modification's
``montant`` is the contract's new total amount (the schema's definition).
"""

from __future__ import annotations

import json
import re
from datetime import date

import polars as pl

from .cleaning import conform, latest_per_key
from .validation import ROW, Col, validate_records

PROCEDURES = ("Procédure adaptée", "Appel d'offres ouvert", "Appel d'offres restreint",
              "Procédure avec négociation", "Marché passé sans publicité ni mise en concurrence préalable",
              "Dialogue compétitif",
              # 2019 consolidated format spellings
              "Procédure concurrentielle avec négociation", "Procédure négociée avec mise en concurrence préalable",
              "Marché négocié sans publicité ni mise en concurrence préalable",
              # spellings seen in the 2019 AIFE export (PLACE)
              "Marché public négocié sans publicité ni mise en concurrence préalable", "Procédure négociée ouverte",
              "Procédure négociée restreinte", "Procédure non négociée ouverte")
NO_COMPETITION = ("Marché passé sans publicité ni mise en concurrence préalable",
                  "Marché négocié sans publicité ni mise en concurrence préalable",
                  "Marché public négocié sans publicité ni mise en concurrence préalable")
ID_TYPES = ("SIRET", "TVA", "TAHITI", "RIDET", "FRWF", "IREP", "UE", "HORS-UE")
SME_CATEGORIES = ("PME", "ETI", "GE")

SPEC: list[Col] = [
    Col("contract_id"), Col("buyer_siret"), Col("buyer_name", required=False), Col("nature"), Col("objet"),
    Col("cpv_code"), Col("procedure", allowed=PROCEDURES), Col("place_code", required=False),
    Col("place_type", required=False), Col("duration_months", pl.Int64, required=False, min=0, max=1200),
    Col("notified_on", pl.Date), Col("published_on", pl.Date, required=False),
    Col("amount_eur", pl.Float64, min=0.0, max=1e10), Col("price_form", required=False),
    Col("offers_received", pl.Int64, required=False, min=0, max=10_000), Col("ccag", required=False),
    Col("framework_id", required=False), Col("group_type", required=False), Col("holders_json"),
    Col("modifications_json"), Col("schema_version", allowed=("2019", "2022")),
]
SIRENE_SPEC: list[Col] = [Col("siren"), Col("denominationUniteLegale", required=False),
                          Col("categorieEntreprise", required=False, allowed=SME_CATEGORIES),
                          Col("trancheEffectifsUniteLegale", required=False)]

CONTRACTS = {"contract_uid": pl.Utf8, "contract_id": pl.Utf8, "buyer_siret": pl.Utf8, "buyer_name": pl.Utf8,
             "nature": pl.Utf8, "objet": pl.Utf8, "cpv_code": pl.Utf8, "cpv_division": pl.Utf8,
             "procedure": pl.Utf8, "competitive": pl.Boolean, "place_code": pl.Utf8, "place_type": pl.Utf8,
             "duration_months": pl.Int64, "notified_on": pl.Date, "published_on": pl.Date,
             "publication_delay_days": pl.Int64, "amount_eur": pl.Float64, "final_amount_eur": pl.Float64,
             "n_modifications": pl.Int64, "offers_received": pl.Int64, "price_form": pl.Utf8,
             "framework_id": pl.Utf8, "n_holders": pl.Int64, "schema_version": pl.Utf8, "source_file": pl.Utf8}
HOLDERS = {"contract_uid": pl.Utf8, "holder_id": pl.Utf8, "id_type": pl.Utf8, "holder_name": pl.Utf8,
           "siren": pl.Utf8, "position": pl.Int64, "amount_share_eur": pl.Float64}
MODIFICATIONS = {"contract_uid": pl.Utf8, "modification_no": pl.Int64, "notified_on": pl.Date,
                 "published_on": pl.Date, "amount_eur": pl.Float64, "duration_months": pl.Int64,
                 "object": pl.Utf8, "new_holders": pl.Utf8}
SUPPLIERS = {"siren": pl.Utf8, "name": pl.Utf8, "category": pl.Utf8, "headcount_band": pl.Utf8,
             "source_file": pl.Utf8}

# Thresholds (EUR HT). 40 000: no procedure required (R2122-8 CCP, since 2020); 90 000: publicity in
# BOAMP or a legal gazette for an adapted procedure (R2131-12); European thresholds for local
# authorities, by period of notification (Commission delegated regulations, avis JORF).
NATIONAL_THRESHOLDS = (40_000.0, 90_000.0)
EU_THRESHOLDS = (  # (first day, supplies and services, works)
    (date(2016, 1, 1), 209_000.0, 5_225_000.0),
    (date(2018, 1, 1), 221_000.0, 5_548_000.0),
    (date(2020, 1, 1), 214_000.0, 5_350_000.0),
    (date(2022, 1, 1), 215_000.0, 5_382_000.0),
    (date(2024, 1, 1), 221_000.0, 5_538_000.0),
    (date(2026, 1, 1), 216_000.0, 5_404_000.0),
)
JUST_UNDER = 0.10              # an award within 10 % below a threshold is "just under" it
SPLIT_WINDOW_DAYS = 120        # awards to one supplier for one CPV division within this span
AMENDMENT_LIMIT_PCT = 15.0     # de minimis modification limit for works (R2194-8); 10 % for services
PUBLICATION_LIMIT_DAYS = 61    # data due within two months of notification (R2196-1)

_SIRET = re.compile(r"^[0-9]{14}$")
_CPV = re.compile(r"^([0-9]{7,8})(-[0-9])?$")
_DAY = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[+-][0-9]{2}:[0-9]{2}|Z)?$")


# ---------------------------------------------------------------- parser (landing -> bronze)

class _Bad(ValueError):
    pass


def _unwrap(items, key: str) -> list[dict]:
    """`[{"titulaire": {...}}]` (2022 format) or `[{...}]` (2019 format) -> `[{...}]`."""
    out = []
    for it in items or []:
        if isinstance(it, dict) and isinstance(it.get(key), dict):
            out.append(it[key])
        elif isinstance(it, dict) and key not in it:
            out.append(it)
        else:  # e.g. {"titulaire": "id"}: a broken holder the publisher's converter left
            raise _Bad(f"{key}: {json.dumps(it, ensure_ascii=False)[:80]} is not an object")
    return out


def _day(v):
    """``2018-12-17+01:00`` (xs:date with its offset, as the 2019 exports write it) -> ``2018-12-17``;
    anything else is kept as published (and fails the Date rule if it is not a date)."""
    match = _DAY.match(str(v).strip()) if v is not None else None
    return match.group(1) if match else v


def _record(m: dict, version: str) -> dict:
    if not isinstance(m, dict):
        raise _Bad("not a JSON object")
    buyer = m.get("acheteur") or {}
    siret = str(buyer.get("id") or "").strip()
    if not _SIRET.match(siret):
        raise _Bad(f"acheteur.id: {siret!r} is not a 14-digit SIRET")
    cpv = _CPV.match(str(m.get("codeCPV") or "").strip())
    if not cpv:
        raise _Bad(f"codeCPV: {m.get('codeCPV')!r} is not 8 digits (optional check digit)")
    cpv_code = cpv.group(1).zfill(8)   # a 7-digit code lost its leading zero (divisions 03, 09) in a spreadsheet
    holders = [{"id": str(h.get("id") or "").strip(), "typeIdentifiant": h.get("typeIdentifiant"),
                "denominationSociale": h.get("denominationSociale")} for h in _unwrap(m.get("titulaires"), "titulaire")]
    if not holders or any(not h["id"] for h in holders):
        raise _Bad("titulaires: no holder, or a holder without id")
    seen: dict[str, dict] = {}
    for h in holders:   # a holder listed twice counts once, at its first place
        seen.setdefault(h["id"], h)
    holders = list(seen.values())
    mods = []
    for i, md in enumerate(_unwrap(m.get("modifications"), "modification"), start=1):
        mods.append({"id": md.get("id", i), "montant": md.get("montant"), "dureeMois": md.get("dureeMois"),
                     "dateNotificationModification": _day(md.get("dateNotificationModification")),
                     "datePublicationDonneesModification": _day(md.get("datePublicationDonneesModification")),
                     "objetModification": md.get("objetModification"),
                     "titulaires": [{"id": h.get("id"), "typeIdentifiant": h.get("typeIdentifiant")}
                                    for h in _unwrap(md.get("titulaires"), "titulaire")]})
    place = m.get("lieuExecution") or {}
    return {"contract_id": m.get("id"), "buyer_siret": siret, "buyer_name": buyer.get("nom"),
            "nature": m.get("nature"), "objet": m.get("objet"), "cpv_code": cpv_code,
            "procedure": m.get("procedure"), "place_code": place.get("code"), "place_type": place.get("typeCode"),
            "duration_months": m.get("dureeMois"), "notified_on": _day(m.get("dateNotification")),
            "published_on": _day(m.get("datePublicationDonnees")), "amount_eur": m.get("montant"),
            "price_form": m.get("formePrix"), "offers_received": m.get("offresRecues"), "ccag": m.get("ccag"),
            "framework_id": m.get("idAccordCadre"), "group_type": m.get("typeGroupementOperateurs"),
            "holders_json": json.dumps(holders, ensure_ascii=False),
            "modifications_json": json.dumps(mods, ensure_ascii=False), "schema_version": version}


def parse_decp(data: bytes, name: str):
    """Parse one DECP JSON file (2022 or 2019 format) into one bronze row per contract (marché);
    concessions (``contrat-concession``) are not contracts of this table and are skipped. A
    contract whose buyer SIRET, CPV code, holders, dates or amount break the schema is a bad row."""
    from .parsing import BadDelivery, Parsed, _decode

    try:
        doc = json.loads(_decode(data, name))
    except ValueError as exc:
        raise BadDelivery(f"{name}: invalid JSON ({exc})") from exc
    top = doc.get("marches") if isinstance(doc, dict) else None
    if isinstance(top, dict):
        items, version = top.get("marche"), "2022"
    elif isinstance(top, list):
        items, version = top, "2019"
    else:
        raise BadDelivery(f"{name}: no 'marches' object or list: not a DECP file")
    if not isinstance(items, list):
        raise BadDelivery(f"{name}: 'marches.marche' is not a list")
    records, bad = [], []
    for i, m in enumerate(items, start=1):
        if version == "2019" and isinstance(m, dict) and m.get("_type") == "Contrat de concession":
            continue
        try:
            records.append((i, _record(m, version)))
        except _Bad as exc:
            ident = m.get("id") if isinstance(m, dict) else None
            bad.append({ROW: i, "reason": f"marché {i} (id {ident!r}): {exc}",
                        "raw": json.dumps(m, ensure_ascii=False)[:2000]})
    keys = [c.name for c in SPEC]
    cols = {ROW: [r[0] for r in records]}
    for k in keys:
        cols[k] = [None if r[1].get(k) is None else str(r[1][k]) for r in records]
    v = validate_records(pl.DataFrame(cols, schema={ROW: pl.Int64, **{k: pl.Utf8 for k in keys}}), SPEC)
    bad_df = pl.concat([pl.DataFrame(bad, schema=Parsed.empty_bad().schema), v.bad]).sort(ROW)
    return Parsed(v.good, bad_df)


def parse_sirene(data: bytes, name: str):
    """An INSEE SIRENE extract (StockUniteLegale columns, comma CSV) of the holders."""
    from .parsing import read_csv_rows

    return read_csv_rows(data, name, SIRENE_SPEC)


# ---------------------------------------------------------------- silver

def _loads(s: str | None) -> list[dict]:
    return json.loads(s) if s else []


def _date(s) -> date | None:
    try:
        return date.fromisoformat(str(s)[:10]) if s else None
    except ValueError:
        return None


def _num(v, cast=float):
    try:
        return cast(v) if v not in (None, "", "NC") else None
    except (TypeError, ValueError):
        return None


def _latest(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(pl.concat_str([pl.col("buyer_siret"), pl.col("contract_id")], separator="-")
                             .alias("contract_uid"))
    return latest_per_key(df, ["contract_uid"])


def procurement_contracts(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per contract (uid = buyer SIRET + id, as data.gouv.fr consolidates them; the latest
    delivery wins): CPV division, competitive or not, publication delay, initial and final amount
    (the last modification's amount, else the initial one), modifications, holders."""
    if bronze.is_empty():
        return pl.DataFrame(schema=CONTRACTS)
    df = _latest(bronze)
    finals, n_mods, n_holders = [], [], []
    for amount, mods, holders in df.select("amount_eur", "modifications_json", "holders_json").iter_rows():
        ms = sorted(_loads(mods), key=lambda m: (_date(m.get("dateNotificationModification")) or date.min,
                                                   _num(m.get("id"), int) or 0))
        amounts = [a for a in (_num(m.get("montant")) for m in ms) if a is not None]
        finals.append(amounts[-1] if amounts else amount)
        n_mods.append(len(ms))
        n_holders.append(len(_loads(holders)))
    df = df.with_columns(
        pl.Series("final_amount_eur", finals, pl.Float64), pl.Series("n_modifications", n_mods, pl.Int64),
        pl.Series("n_holders", n_holders, pl.Int64), pl.col("cpv_code").str.slice(0, 2).alias("cpv_division"),
        (~pl.col("procedure").is_in(list(NO_COMPETITION))).alias("competitive"),
        (pl.col("published_on") - pl.col("notified_on")).dt.total_days().alias("publication_delay_days"),
        pl.col("_source_file").alias("source_file"))
    return conform(df, CONTRACTS).sort("notified_on", "contract_uid")


def procurement_holders(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per contract and holder, in the published order; ``amount_share_eur`` is the final
    amount divided equally among co-holders (the DECP does not publish each member's share)."""
    if bronze.is_empty():
        return pl.DataFrame(schema=HOLDERS)
    c = procurement_contracts(bronze).select("contract_uid", "final_amount_eur")
    df = _latest(bronze).join(c, on="contract_uid")
    rows = []
    for uid, holders, final in df.select("contract_uid", "holders_json", "final_amount_eur").iter_rows():
        hs = _loads(holders)
        for pos, h in enumerate(hs, start=1):
            hid, kind = h["id"], h.get("typeIdentifiant") or ("SIRET" if _SIRET.match(h["id"]) else None)
            rows.append({"contract_uid": uid, "holder_id": hid, "id_type": kind,
                         "holder_name": h.get("denominationSociale"),
                         "siren": hid[:9] if kind == "SIRET" and _SIRET.match(hid) else None,
                         "position": pos, "amount_share_eur": final / len(hs)})
    return latest_per_key(pl.DataFrame(rows, schema=HOLDERS), ["contract_uid", "holder_id"]).sort(
        "contract_uid", "position")


def procurement_modifications(bronze: pl.DataFrame) -> pl.DataFrame:
    """One row per contract modification (amendment): date, new total amount, new duration,
    object (2019 format), new holders (JSON)."""
    if bronze.is_empty():
        return pl.DataFrame(schema=MODIFICATIONS)
    rows = []
    for uid, mods in _latest(bronze).select("contract_uid", "modifications_json").iter_rows():
        for i, m in enumerate(_loads(mods), start=1):
            rows.append({"contract_uid": uid, "modification_no": _num(m.get("id"), int) or i,
                         "notified_on": _date(m.get("dateNotificationModification")),
                         "published_on": _date(m.get("datePublicationDonneesModification")),
                         "amount_eur": _num(m.get("montant")), "duration_months": _num(m.get("dureeMois"), int),
                         "object": m.get("objetModification"),
                         "new_holders": json.dumps(m["titulaires"]) if m.get("titulaires") else None})
    df = pl.DataFrame(rows, schema=MODIFICATIONS)
    return df.unique(["contract_uid", "modification_no"], keep="last", maintain_order=True).sort(
        "contract_uid", "modification_no")


def procurement_suppliers(bronze: pl.DataFrame) -> pl.DataFrame:
    """Holders' company category from the SIRENE extract, one row per SIREN (latest delivery)."""
    if bronze.is_empty():
        return pl.DataFrame(schema=SUPPLIERS)
    df = latest_per_key(bronze, ["siren"]).select(
        pl.col("siren"), pl.col("denominationUniteLegale").alias("name"), pl.col("categorieEntreprise").alias("category"),
        pl.col("trancheEffectifsUniteLegale").alias("headcount_band"), pl.col("_source_file").alias("source_file"))
    return conform(df, SUPPLIERS).sort("siren")

