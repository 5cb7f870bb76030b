"""Procurement suites: the DECP silver tables and the analytics marts. Column rules run in Great
Expectations (`TableSuite`); the rules GX cannot say (every holder and modification belongs to a
known contract, the final amount is the last modification's, the indicator counts match the
flags) are `extra(df, lake)` functions that return failure messages. A city that publishes no
DECP has empty tables: `min_rows` is 0 everywhere (docs/admin.md, empty states).
"""

from __future__ import annotations

import polars as pl

from transforms import procurement as T
from transforms import procurement_marts as M

from .suites import TableSuite

CONTRACT_REF = {"contract_uid": ("silver", "procurement_contracts", "contract_uid")}


def _suite(table: str, schema: dict, key: tuple, not_null: tuple = (), **kw) -> TableSuite:
    # `commune` (the buyer's, per-commune marts) is part of the key but may be null: a buyer missing
    # from the buyers' reference
    return TableSuite(table=table, key=key, not_null=tuple(c for c in dict.fromkeys((*key, *not_null)) if c != "commune"),
                      types=dict(schema),
                      min_rows=0, **kw)


SUITES = {
    "procurement_contracts": _suite(
        "procurement_contracts", T.CONTRACTS, ("contract_uid",),
        not_null=("contract_id", "buyer_siret", "cpv_code", "cpv_division", "procedure", "notified_on", "amount_eur",
                  "final_amount_eur", "n_holders"),
        ranges={"amount_eur": (0, None), "final_amount_eur": (0, None), "n_holders": (1, None),
                "offers_received": (0, None), "n_modifications": (0, None)},
        in_set={"procedure": T.PROCEDURES}),
    "procurement_holders": _suite("procurement_holders", T.HOLDERS, ("contract_uid", "holder_id"),
                                  not_null=("position", "amount_share_eur"), ranges={"amount_share_eur": (0, None)},
                                  references=CONTRACT_REF),
    "procurement_modifications": _suite("procurement_modifications", T.MODIFICATIONS,
                                        ("contract_uid", "modification_no"), ranges={"amount_eur": (0, None)},
                                        references=CONTRACT_REF),
    "procurement_suppliers": _suite("procurement_suppliers", T.SUPPLIERS, ("siren",),
                                    in_set={"category": T.SME_CATEGORIES}),
    "procurement_supplier_spend": _suite("procurement_supplier_spend", M.SUPPLIER_SPEND, ("commune", "holder_id", "cpv_division"),
                                         not_null=("n_contracts", "spend_eur"),
                                         ranges={"spend_eur": (0, None), "share_of_division_pct": (0, 100)}),
    "procurement_procedure_mix": _suite("procurement_procedure_mix", M.PROCEDURE_MIX, ("commune", "year", "procedure"),
                                        not_null=("n_contracts", "amount_eur"),
                                        ranges={"share_contracts_pct": (0, 100), "share_amount_pct": (0, 100)}),
    "procurement_amendments": _suite("procurement_amendments", M.AMENDMENTS, ("contract_uid",),
                                     not_null=("initial_amount_eur", "final_amount_eur", "limit_pct", "over_limit"),
                                     references=CONTRACT_REF),
    "procurement_threshold_awards": _suite("procurement_threshold_awards", M.THRESHOLD_AWARDS, ("contract_uid",),
                                           not_null=("amount_eur", "just_under", "possible_split"),
                                           ranges={"gap_pct": (0, 100)}, references=CONTRACT_REF),
    "procurement_indicators": _suite("procurement_indicators", M.INDICATORS, ("commune", "year"),
                                     not_null=("n_contracts", "amount_eur", "n_single_bid"),
                                     ranges={"single_bid_rate_pct": (0, 100), "sme_share_awards_pct": (0, 100),
                                             "sme_share_amount_pct": (0, 100), "unknown_category_pct": (0, 100)}),
    "procurement_flags": _suite("procurement_flags", M.FLAGS, ("flag_id",),
                                not_null=("contract_uid", "flag_type", "severity", "message", "evidence"),
                                in_set={"flag_type": M.FLAG_TYPES, "severity": ("high", "medium", "low")},
                                references=CONTRACT_REF),
}


def children_known(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule (contracts): every contract has its holders; the final amount is the last
    modification's amount when a modification gives one."""
    out = []
    holders = lake.read_or_empty("silver", "procurement_holders", T.HOLDERS)
    n = holders.group_by("contract_uid").len()
    bad = df.join(n, on="contract_uid", how="left").filter(pl.col("len").fill_null(0) != pl.col("n_holders"))
    out += [f"{u}: {k} holders declared, {v or 0} in procurement_holders"
            for u, k, v in bad.select("contract_uid", "n_holders", "len").head(20).iter_rows()]
    mods = lake.read_or_empty("silver", "procurement_modifications", T.MODIFICATIONS).drop_nulls("amount_eur")
    last = mods.sort("notified_on", "modification_no").group_by("contract_uid").agg(pl.col("amount_eur").last())
    wrong = df.join(last, on="contract_uid").filter((pl.col("final_amount_eur") - pl.col("amount_eur_right")).abs() > 0.01)
    out += [f"{u}: final amount {f} differs from the last modification's {m}"
            for u, f, m in wrong.select("contract_uid", "final_amount_eur", "amount_eur_right").head(20).iter_rows()]
    return out


def flags_match_indicators(df: pl.DataFrame, lake) -> list[str]:
    """Extra rule (indicators): single bids, amendments over the limit and possible splits counted
    per year (and buyer commune: both tables store the buyer's) equal the flags raised for them."""
    flags = lake.read_or_empty("gold", "procurement_flags", M.FLAGS)
    c = lake.read_or_empty("silver", "procurement_contracts", T.CONTRACTS).select(
        "contract_uid", pl.col("notified_on").dt.year().cast(pl.Int64).alias("year"))
    if "commune" not in flags.columns:
        flags = flags.with_columns(pl.lit(None, pl.Utf8).alias("commune"))
    if "commune" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Utf8).alias("commune"))
    per = flags.join(c, on="contract_uid").group_by("year", "commune", "flag_type").len()
    out = []
    for col, kind in (("n_single_bid", "single_bid"), ("n_amended_over_limit", "amendment_over_limit"),
                      ("n_possible_split_awards", "possible_split")):
        for year, commune, n in df.select("year", "commune", col).iter_rows():
            got = per.filter((pl.col("year") == year) & pl.col("commune").eq_missing(commune)
                             & (pl.col("flag_type") == kind))["len"].sum()
            if int(got or 0) != int(n or 0):
                out.append(f"{year} {commune or '(buyer not in the reference)'}: {col} = {n} but {got} {kind} flags")
    return out
