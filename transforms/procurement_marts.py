"""Procurement analytics marts over the DECP silver tables (transforms/procurement.py): spend per
supplier and CPV division, procedure mix, amendment growth, awards just under a threshold and
possible split purchases, yearly indicators (single-bid rate, SME share, publication delay) and
one row per flag with the figures behind it. Pure Polars: frames in, frames out.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import polars as pl

from .procurement import (AMENDMENT_LIMIT_PCT, EU_THRESHOLDS, JUST_UNDER, NATIONAL_THRESHOLDS, NO_COMPETITION,
                          PUBLICATION_LIMIT_DAYS, SPLIT_WINDOW_DAYS)

WORKS_DIVISION = "45"
SERVICES_AMENDMENT_LIMIT_PCT = 10.0

SUPPLIER_SPEND = {"holder_id": pl.Utf8, "cpv_division": pl.Utf8, "holder_name": pl.Utf8, "siren": pl.Utf8,
                  "category": pl.Utf8, "n_contracts": pl.Int64, "spend_eur": pl.Float64,
                  "share_of_division_pct": pl.Float64, "first_notified_on": pl.Date, "last_notified_on": pl.Date}
PROCEDURE_MIX = {"year": pl.Int64, "procedure": pl.Utf8, "n_contracts": pl.Int64, "amount_eur": pl.Float64,
                 "share_contracts_pct": pl.Float64, "share_amount_pct": pl.Float64}
AMENDMENTS = {"contract_uid": pl.Utf8, "buyer_siret": pl.Utf8, "objet": pl.Utf8, "cpv_division": pl.Utf8,
              "notified_on": pl.Date, "n_modifications": pl.Int64, "last_modification_on": pl.Date,
              "initial_amount_eur": pl.Float64, "final_amount_eur": pl.Float64, "growth_pct": pl.Float64,
              "limit_pct": pl.Float64, "over_limit": pl.Boolean}
THRESHOLD_AWARDS = {"contract_uid": pl.Utf8, "buyer_siret": pl.Utf8, "holder_id": pl.Utf8, "cpv_division": pl.Utf8,
                    "procedure": pl.Utf8, "notified_on": pl.Date, "amount_eur": pl.Float64,
                    "threshold_eur": pl.Float64, "gap_pct": pl.Float64, "just_under": pl.Boolean,
                    "split_group": pl.Utf8, "split_threshold_eur": pl.Float64, "split_n_awards": pl.Int64,
                    "split_total_eur": pl.Float64, "split_span_days": pl.Int64, "possible_split": pl.Boolean}
INDICATORS = {"year": pl.Int64, "n_contracts": pl.Int64, "amount_eur": pl.Float64,
              "n_competitive_known_offers": pl.Int64, "n_single_bid": pl.Int64, "single_bid_rate_pct": pl.Float64,
              "sme_share_awards_pct": pl.Float64, "sme_share_amount_pct": pl.Float64,
              "unknown_category_pct": pl.Float64, "median_publication_delay_days": pl.Float64,
              "n_late_publications": pl.Int64, "n_amended_over_limit": pl.Int64, "n_just_under_threshold": pl.Int64,
              "n_possible_split_awards": pl.Int64}
_FLAG = {"flag_id": pl.Utf8, "contract_uid": pl.Utf8, "flag_type": pl.Utf8, "severity": pl.Utf8,
         "figure": pl.Float64, "reference": pl.Float64, "message": pl.Utf8, "evidence": pl.Utf8}
FLAGS = {"flag_id": pl.Utf8, "contract_uid": pl.Utf8, "buyer_siret": pl.Utf8,
         **{k: v for k, v in _FLAG.items() if k not in ("flag_id", "contract_uid")}}
FLAG_TYPES = ("possible_split", "amendment_over_limit", "single_bid", "just_under_threshold", "late_publication")


def per_buyer_commune(fn, contracts: pl.DataFrame, *others: pl.DataFrame) -> pl.DataFrame:
    """`fn(contracts, *others)` computed for each buyer commune apart: `contracts` carries the
    buyer's `commune` (transforms/territory.py `buyer_communes`; null: a buyer missing from the
    buyers' reference), every frame of `others` with a `contract_uid` is cut to that commune's
    contracts, the others (the SIRENE extract) pass whole. The rows of every commune, with
    `commune` first; the contracts without commune column: `fn` unchanged."""
    if "commune" not in contracts.columns:
        return fn(contracts, *others)
    parts = []
    for commune in sorted(contracts["commune"].unique().to_list(), key=lambda c: (c is None, c or "")):
        sub = contracts.filter(pl.col("commune").eq_missing(commune))
        uids = sub["contract_uid"].implode()
        kids = [o.filter(pl.col("contract_uid").is_in(uids)) if "contract_uid" in o.columns else o for o in others]
        out = fn(sub.drop("commune"), *kids)
        parts.append(out.select(pl.lit(commune, pl.Utf8).alias("commune"), pl.all()))
    return pl.concat(parts) if parts else fn(contracts.drop("commune"), *others).with_columns(
        pl.lit(None, pl.Utf8).alias("commune"))


def _pct(a, b) -> pl.Expr:
    return pl.when(b > 0).then((a / b * 100).round(1)).otherwise(None)


def thresholds_for(notified_on: date | None, cpv_division: str | None) -> list[float]:
    """The thresholds (EUR HT, ascending) in force for a contract notified that day: 40 000,
    90 000 and the European threshold for works (CPV division 45) or supplies and services."""
    eu = EU_THRESHOLDS[0]
    for row in EU_THRESHOLDS:
        if notified_on is not None and notified_on >= row[0]:
            eu = row
    return [*NATIONAL_THRESHOLDS, eu[2] if cpv_division == WORKS_DIVISION else eu[1]]


def supplier_spend(contracts: pl.DataFrame, holders: pl.DataFrame, suppliers: pl.DataFrame) -> pl.DataFrame:
    """Per holder and CPV division: contracts, spend (final amounts, co-holders' equal shares), share
    of the division's spend, SIRENE category (null when the holder is not in the extract)."""
    if holders.is_empty():
        return pl.DataFrame(schema=SUPPLIER_SPEND)
    df = holders.join(contracts.select("contract_uid", "cpv_division", "notified_on"), on="contract_uid")
    df = df.join(suppliers.select("siren", pl.col("name").alias("_sname"), "category"), on="siren", how="left")
    out = df.group_by("holder_id", "cpv_division").agg(
        pl.coalesce(pl.col("_sname"), pl.col("holder_name")).drop_nulls().first().alias("holder_name"),
        pl.col("siren").first(), pl.col("category").first(), pl.col("contract_uid").n_unique().alias("n_contracts"),
        pl.col("amount_share_eur").sum().round(2).alias("spend_eur"), pl.col("notified_on").min().alias("first_notified_on"),
        pl.col("notified_on").max().alias("last_notified_on"))
    out = out.with_columns(_pct(pl.col("spend_eur"), pl.col("spend_eur").sum().over("cpv_division"))
                           .alias("share_of_division_pct"))
    return out.select(list(SUPPLIER_SPEND)).cast(SUPPLIER_SPEND).sort(
        ["cpv_division", "spend_eur", "holder_id"], descending=[False, True, False])


def procedure_mix(contracts: pl.DataFrame) -> pl.DataFrame:
    """Per year of notification and procedure: contracts and amount, and their shares of the year (%)."""
    if contracts.is_empty():
        return pl.DataFrame(schema=PROCEDURE_MIX)
    df = contracts.with_columns(pl.col("notified_on").dt.year().cast(pl.Int64).alias("year"))
    out = df.group_by("year", "procedure").agg(pl.len().cast(pl.Int64).alias("n_contracts"),
                                               pl.col("amount_eur").sum().round(2).alias("amount_eur"))
    out = out.with_columns(_pct(pl.col("n_contracts"), pl.col("n_contracts").sum().over("year")).alias("share_contracts_pct"),
                           _pct(pl.col("amount_eur"), pl.col("amount_eur").sum().over("year")).alias("share_amount_pct"))
    return out.select(list(PROCEDURE_MIX)).cast(PROCEDURE_MIX).sort("year", "procedure")


def amendments(contracts: pl.DataFrame, modifications: pl.DataFrame) -> pl.DataFrame:
    """Per amended contract: initial and final amount, growth (%), the de minimis limit (15 % works,
    10 % supplies and services, R2194-8 CCP) and whether the growth exceeds it."""
    if modifications.is_empty():
        return pl.DataFrame(schema=AMENDMENTS)
    last = modifications.group_by("contract_uid").agg(pl.col("notified_on").max().alias("last_modification_on"))
    df = contracts.filter(pl.col("n_modifications") > 0).join(last, on="contract_uid", how="left")
    df = df.with_columns(
        pl.col("amount_eur").alias("initial_amount_eur"),
        _pct(pl.col("final_amount_eur") - pl.col("amount_eur"), pl.col("amount_eur")).alias("growth_pct"),
        pl.when(pl.col("cpv_division") == WORKS_DIVISION).then(AMENDMENT_LIMIT_PCT)
        .otherwise(SERVICES_AMENDMENT_LIMIT_PCT).alias("limit_pct"))
    df = df.with_columns((pl.col("growth_pct") > pl.col("limit_pct")).fill_null(False).alias("over_limit"))
    return df.select(list(AMENDMENTS)).cast(AMENDMENTS).sort("contract_uid")


FORMAL = ("Appel d'offres ouvert", "Appel d'offres restreint", "Procédure avec négociation", "Dialogue compétitif",
          "Procédure concurrentielle avec négociation", "Procédure négociée avec mise en concurrence préalable",
          "Procédure négociée ouverte", "Procédure négociée restreinte", "Procédure non négociée ouverte")


def _below_required(procedure: str, threshold: float, eu: float) -> bool:
    """Whether an award's procedure is weaker than what a purchase of `threshold` or more requires:
    a formal procedure from the European threshold, some competition from 40 000 (the DECP does
    not say whether an adapted procedure was advertised, so 90 000 is judged like 40 000)."""
    if threshold >= eu:
        return procedure not in FORMAL
    return procedure in NO_COMPETITION


def _split_groups(awards: list[dict]) -> dict[str, dict]:
    """Possible split purchases: awards of one buyer to one lead holder in one CPV division,
    each under a threshold, notified within SPLIT_WINDOW_DAYS of the first, whose total reaches
    the threshold, at least one of them awarded by a procedure weaker than the total requires
    (lots of one properly run consultation are not a split). The highest threshold crossed names
    the group; an award joins one group."""
    out: dict[str, dict] = {}
    keyed: dict[tuple, list[dict]] = {}
    for a in awards:
        keyed.setdefault((a["buyer_siret"], a["holder_id"], a["cpv_division"]), []).append(a)
    for key, rows in keyed.items():
        rows = sorted(rows, key=lambda r: (r["notified_on"], r["contract_uid"]))
        for t in sorted({t for r in rows for t in thresholds_for(r["notified_on"], r["cpv_division"])}, reverse=True):
            free = [r for r in rows if r["contract_uid"] not in out and r["amount_eur"] < t]
            i = 0
            while i < len(free):
                grp = [r for r in free[i:] if (r["notified_on"] - free[i]["notified_on"]).days <= SPLIT_WINDOW_DAYS]
                total = sum(r["amount_eur"] for r in grp)
                eu = thresholds_for(grp[0]["notified_on"], grp[0]["cpv_division"])[-1]
                if len(grp) >= 2 and total >= t and any(_below_required(r["procedure"], t, eu) for r in grp):
                    gid = hashlib.sha256("|".join(r["contract_uid"] for r in grp).encode()).hexdigest()[:12]
                    info = {"split_group": gid, "split_threshold_eur": t, "split_n_awards": len(grp),
                            "split_total_eur": round(total, 2),
                            "split_span_days": (grp[-1]["notified_on"] - grp[0]["notified_on"]).days}
                    for r in grp:
                        out[r["contract_uid"]] = info
                    i += len(grp)
                else:
                    i += 1
    return out


def threshold_awards(contracts: pl.DataFrame, holders: pl.DataFrame) -> pl.DataFrame:
    """Awards within JUST_UNDER (10 %) below a threshold in force, and awards in a possible split
    purchase (see `_split_groups`); one row per such award with the threshold and the group."""
    if contracts.is_empty():
        return pl.DataFrame(schema=THRESHOLD_AWARDS)
    lead = holders.filter(pl.col("position") == 1).select("contract_uid", "holder_id")
    rows = contracts.join(lead, on="contract_uid", how="left").select(
        "contract_uid", "buyer_siret", "holder_id", "cpv_division", "procedure", "notified_on", "amount_eur").to_dicts()
    groups = _split_groups([r for r in rows if r["holder_id"] is not None])
    out = []
    for r in rows:
        above = [t for t in thresholds_for(r["notified_on"], r["cpv_division"]) if t > r["amount_eur"]]
        t = above[0] if above else None
        gap = round((t - r["amount_eur"]) / t * 100, 2) if t else None
        just = bool(t and r["amount_eur"] >= t * (1 - JUST_UNDER))
        g = groups.get(r["contract_uid"])
        if just or g:
            out.append({**r, "threshold_eur": t, "gap_pct": gap, "just_under": just,
                        **(g or {"split_group": None, "split_threshold_eur": None, "split_n_awards": None,
                                 "split_total_eur": None, "split_span_days": None}), "possible_split": g is not None})
    return pl.DataFrame(out, schema=THRESHOLD_AWARDS).sort("notified_on", "contract_uid")


def indicators(contracts: pl.DataFrame, holders: pl.DataFrame, suppliers: pl.DataFrame, amended: pl.DataFrame,
               thresholds: pl.DataFrame) -> pl.DataFrame:
    """Per year of notification: contracts, amount, single-bid rate (competitive procedures with a
    published offer count), SME share of awards and amount (SIRENE category PME among the holders
    whose category is known; unknown share given), median publication delay and late publications
    (over two months), amended contracts over the limit, awards just under a threshold, awards in
    a possible split purchase."""
    if contracts.is_empty():
        return pl.DataFrame(schema=INDICATORS)
    yr = pl.col("notified_on").dt.year().cast(pl.Int64).alias("year")
    c = contracts.with_columns(yr)
    base = c.group_by("year").agg(
        pl.len().cast(pl.Int64).alias("n_contracts"), pl.col("amount_eur").sum().round(2),
        (pl.col("competitive") & pl.col("offers_received").is_not_null()).sum().cast(pl.Int64)
        .alias("n_competitive_known_offers"),
        (pl.col("competitive") & (pl.col("offers_received") == 1)).sum().cast(pl.Int64).alias("n_single_bid"),
        pl.col("publication_delay_days").median().cast(pl.Float64).alias("median_publication_delay_days"),
        (pl.col("publication_delay_days") > PUBLICATION_LIMIT_DAYS).sum().cast(pl.Int64).alias("n_late_publications"))
    base = base.with_columns(_pct(pl.col("n_single_bid"), pl.col("n_competitive_known_offers")).alias("single_bid_rate_pct"))
    h = holders.join(c.select("contract_uid", "year"), on="contract_uid").join(
        suppliers.select("siren", "category"), on="siren", how="left")
    known = pl.col("category").is_not_null()
    sme = h.group_by("year").agg(
        _pct((pl.col("category") == "PME").sum(), known.sum()).alias("sme_share_awards_pct"),
        _pct(pl.col("amount_share_eur").filter(pl.col("category") == "PME").sum(),
             pl.col("amount_share_eur").filter(known).sum()).alias("sme_share_amount_pct"),
        _pct((~known).sum(), pl.len()).alias("unknown_category_pct"))

    def count(df: pl.DataFrame, cond: pl.Expr, name: str) -> pl.DataFrame:
        df = df.join(c.select("contract_uid", "year"), on="contract_uid").filter(cond)
        return df.group_by("year").agg(pl.len().cast(pl.Int64).alias(name))

    out = base.join(sme, on="year", how="left")
    for part in (count(amended, pl.col("over_limit"), "n_amended_over_limit"),
                 count(thresholds, pl.col("just_under"), "n_just_under_threshold"),
                 count(thresholds, pl.col("possible_split"), "n_possible_split_awards")):
        out = out.join(part, on="year", how="left")
    out = out.with_columns(pl.col("n_amended_over_limit", "n_just_under_threshold", "n_possible_split_awards").fill_null(0))
    return out.select(list(INDICATORS)).cast(INDICATORS).sort("year")


def _flag(uid: str, kind: str, severity: str, figure, reference, message: str, evidence: dict) -> dict:
    return {"flag_id": hashlib.sha256(f"{uid}|{kind}".encode()).hexdigest()[:16], "contract_uid": uid,
            "flag_type": kind, "severity": severity, "figure": figure, "reference": reference, "message": message,
            "evidence": json.dumps(evidence, ensure_ascii=False, default=str)}


def flags(contracts: pl.DataFrame, amended: pl.DataFrame, thresholds: pl.DataFrame) -> pl.DataFrame:
    """One row per contract and flag: possible split purchase (high), amendment over the limit
    (high), single bid in a competitive procedure (medium), award just under a threshold (low),
    data published more than two months after notification (low); figure, reference, message
    and the rows behind it (evidence, JSON)."""
    out = []
    for r in thresholds.filter(pl.col("possible_split")).iter_rows(named=True):
        out.append(_flag(r["contract_uid"], "possible_split", "high", r["split_total_eur"], r["split_threshold_eur"],
                         f"{r['split_n_awards']} awards to {r['holder_id']} for CPV division {r['cpv_division']} within "
                         f"{r['split_span_days']} days total {r['split_total_eur']:,.0f} EUR HT, each under the "
                         f"{r['split_threshold_eur']:,.0f} EUR threshold, at least one without the procedure the total "
                         "requires: possible split purchase (R2121-1 CCP)", r))
    for r in amended.filter(pl.col("over_limit")).iter_rows(named=True):
        out.append(_flag(r["contract_uid"], "amendment_over_limit", "high", r["growth_pct"], r["limit_pct"],
                         f"amount grew {r['growth_pct']} % by {r['n_modifications']} modification(s) "
                         f"({r['initial_amount_eur']:,.0f} to {r['final_amount_eur']:,.0f} EUR HT), over the "
                         f"{r['limit_pct']:.0f} % de minimis limit (R2194-8 CCP)", r))
    single = contracts.filter(pl.col("competitive") & (pl.col("offers_received") == 1))
    for r in single.iter_rows(named=True):
        out.append(_flag(r["contract_uid"], "single_bid", "medium", 1.0, None,
                         f"one offer received in a competitive procedure ({r['procedure']}), "
                         f"{r['amount_eur']:,.0f} EUR HT", {k: r[k] for k in ("procedure", "offers_received",
                                                                              "amount_eur", "cpv_code")}))
    for r in thresholds.filter(pl.col("just_under") & ~pl.col("possible_split")).iter_rows(named=True):
        out.append(_flag(r["contract_uid"], "just_under_threshold", "low", r["amount_eur"], r["threshold_eur"],
                         f"{r['amount_eur']:,.0f} EUR HT is {r['gap_pct']} % under the {r['threshold_eur']:,.0f} "
                         "EUR threshold", r))
    late = contracts.filter(pl.col("publication_delay_days") > PUBLICATION_LIMIT_DAYS)
    for r in late.iter_rows(named=True):
        out.append(_flag(r["contract_uid"], "late_publication", "low", float(r["publication_delay_days"]),
                         float(PUBLICATION_LIMIT_DAYS), f"data published {r['publication_delay_days']} days after "
                         "notification (due within two months, R2196-1 CCP)",
                         {k: r[k] for k in ("notified_on", "published_on")}))
    order = {"high": 0, "medium": 1, "low": 2}
    # the buyer (acheteur) of the flagged contract, by which the flag is placed in its commune
    buyer = contracts.select("contract_uid", "buyer_siret").sort(
        "contract_uid", "buyer_siret", nulls_last=True).unique("contract_uid", keep="first")
    df = pl.DataFrame(out, schema=_FLAG).join(buyer, on="contract_uid", how="left").select(list(FLAGS)).cast(FLAGS)
    return df.sort(pl.col("severity").replace_strict(order, return_dtype=pl.Int64), "flag_type", "contract_uid")
