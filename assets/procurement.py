"""Administration, procurement: the buyers' DECP exports (data.gouv.fr format) and the SIRENE
extract of their holders, split into silver tables (contracts, holders, modifications,
suppliers) and the procurement analytics marts published to DuckDB (schema administration)."""


import polars as pl

from quality import suites_procurement as QS
from quality.checks import table_check
from transforms import procurement as T
from transforms import procurement_marts as M
from transforms import reference as R
from transforms import territory as TT
from transforms.validation import ROW

from .lake import LINEAGE, Lake
from .layers import bronze, gold, gold_key, silver, silver_key

GROUP = "administration"
C, H, MD, S = (silver_key(t) for t in ("procurement_contracts", "procurement_holders",
                                       "procurement_modifications", "procurement_suppliers"))
BUYERS = silver_key("procurement_buyers")   # reference: the commune of each buyer


def _bronze(lake: Lake, table: str, spec) -> pl.DataFrame:
    """The bronze table, or its empty frame when nothing was delivered (a city publishing no DECP)."""
    schema = {c.name: (pl.Datetime("us", "UTC") if c.dtype == pl.Datetime else c.dtype) for c in spec}
    schema.update({ROW: pl.Int64, **{k: pl.Utf8 for k in LINEAGE}, "_ingested_at": pl.Datetime("us", "UTC")})
    return lake.read_or_empty("bronze", table, schema)


def _decp(lake: Lake) -> pl.DataFrame:
    return _bronze(lake, "procurement_contracts", T.SPEC)


def _s(lake: Lake, table: str, schema: dict) -> pl.DataFrame:
    return lake.read_or_empty("silver", table, schema)


def _contracts_by_commune(lake: Lake) -> pl.DataFrame:
    """The DECP contracts with their buyer's `commune` (the buyers' reference, silver/procurement_buyers):
    the per-year and per-supplier marts are computed for each buyer commune apart."""
    c = _s(lake, "procurement_contracts", T.CONTRACTS)
    by = TT.buyer_communes(c["buyer_siret"].to_list(), _s(lake, "procurement_buyers", R.PROCUREMENT_BUYERS))
    return c.with_columns(pl.col("buyer_siret").replace_strict(by, default=None, return_dtype=pl.Utf8).alias("commune"))


@silver("procurement_contracts", group=GROUP, deps=[bronze("procurement_contracts")], keys=["contract_uid"])
def procurement_contracts(lake: Lake):
    """One row per public contract published in the DECP (uid = buyer SIRET + contract id, latest
    delivery wins): buyer, object, CPV code and division, procedure, dates, publication delay,
    initial and final amount (EUR HT), modifications, offers received, holders."""
    return T.procurement_contracts(_decp(lake))


@silver("procurement_holders", group=GROUP, deps=[bronze("procurement_contracts")],
        keys=["contract_uid", "holder_id"])
def procurement_holders(lake: Lake):
    """One row per contract and holder (titulaire): id and its type (SIRET, TVA, ...), SIREN,
    position, equal share of the final amount (the DECP does not split it among co-holders)."""
    return T.procurement_holders(_decp(lake))


@silver("procurement_modifications", group=GROUP, deps=[bronze("procurement_contracts")],
        keys=["contract_uid", "modification_no"])
def procurement_modifications(lake: Lake):
    """One row per contract modification: notification and publication dates, the contract's new
    total amount (EUR HT) and duration, new holders."""
    return T.procurement_modifications(_decp(lake))


@silver("procurement_suppliers", group=GROUP, deps=[bronze("procurement_suppliers")], keys=["siren"])
def procurement_suppliers(lake: Lake):
    """Holders' company category (INSEE SIRENE categorieEntreprise: PME, ETI, GE) per SIREN."""
    return T.procurement_suppliers(_bronze(lake, "procurement_suppliers", T.SIRENE_SPEC))


@gold("procurement_supplier_spend", group=GROUP, deps=[C, H, S, BUYERS])
def procurement_supplier_spend(lake: Lake):
    """Spend per holder and CPV division (first two digits): contracts, spend (EUR HT, final
    amounts), share of the division (%), company category, first and last award."""
    return M.per_buyer_commune(M.supplier_spend, _contracts_by_commune(lake), _s(lake, "procurement_holders", T.HOLDERS),
                               _s(lake, "procurement_suppliers", T.SUPPLIERS))


@gold("procurement_procedure_mix", group=GROUP, deps=[C, BUYERS])
def procurement_procedure_mix(lake: Lake):
    """Procedure mix per year of notification: contracts, amount (EUR HT) and their shares (%)."""
    return M.per_buyer_commune(M.procedure_mix, _contracts_by_commune(lake))


@gold("procurement_amendments", group=GROUP, deps=[C, MD])
def procurement_amendments(lake: Lake):
    """Amended contracts: initial and final amount (EUR HT), growth (%), the de minimis limit (15 %
    works, 10 % supplies and services) and whether the growth exceeds it."""
    return M.amendments(_s(lake, "procurement_contracts", T.CONTRACTS),
                        _s(lake, "procurement_modifications", T.MODIFICATIONS))


@gold("procurement_threshold_awards", group=GROUP, deps=[C, H])
def procurement_threshold_awards(lake: Lake):
    """Awards within 10 % under a threshold in force (40 000, 90 000, European) and awards forming a
    possible split purchase (one buyer, one holder, one CPV division, within 120 days, each under a
    threshold their total reaches)."""
    return M.threshold_awards(_s(lake, "procurement_contracts", T.CONTRACTS), _s(lake, "procurement_holders", T.HOLDERS))


@gold("procurement_flags", group=GROUP, deps=[C, gold_key("procurement_amendments"),
                                              gold_key("procurement_threshold_awards")])
def procurement_flags(lake: Lake):
    """One row per contract and flag (possible split, amendment over the limit, single bid, just
    under a threshold, late publication): severity, figure, reference, message, evidence (JSON)."""
    return M.flags(_s(lake, "procurement_contracts", T.CONTRACTS), lake.read("gold", "procurement_amendments"),
                   lake.read("gold", "procurement_threshold_awards"))


@gold("procurement_indicators", group=GROUP, deps=[C, H, S, BUYERS, gold_key("procurement_amendments"),
                                                   gold_key("procurement_threshold_awards")])
def procurement_indicators(lake: Lake):
    """Per year: contracts, amount (EUR HT), single-bid rate (%), SME share of awards and amount (%),
    unknown category (%), median publication delay (days), late publications, amended contracts
    over the limit, awards just under a threshold, awards in a possible split purchase."""
    return M.per_buyer_commune(M.indicators, _contracts_by_commune(lake), _s(lake, "procurement_holders", T.HOLDERS),
                               _s(lake, "procurement_suppliers", T.SUPPLIERS), lake.read("gold", "procurement_amendments"),
                               lake.read("gold", "procurement_threshold_awards"))


ASSETS = [procurement_contracts, procurement_holders, procurement_modifications, procurement_suppliers,
          procurement_supplier_spend, procurement_procedure_mix, procurement_amendments, procurement_threshold_awards,
          procurement_flags, procurement_indicators]

SUITES = QS.SUITES
CHECKS = [
    table_check("silver", "procurement_contracts", SUITES["procurement_contracts"], extra=QS.children_known,
                description="Contracts: uid unique, SIRET/CPV/procedure/date/amount present, holders all present, "
                            "final amount = last modification's"),
    *[table_check("silver", t, SUITES[t]) for t in ("procurement_holders", "procurement_modifications",
                                                     "procurement_suppliers")],
    *[table_check("gold", t, SUITES[t]) for t in ("procurement_supplier_spend", "procurement_procedure_mix",
                                                   "procurement_amendments", "procurement_threshold_awards",
                                                   "procurement_flags")],
    table_check("gold", "procurement_indicators", SUITES["procurement_indicators"], extra=QS.flags_match_indicators,
                description="Indicators: one row per year, rates in [0, 100], counts equal the flags raised"),
]
