"""Administration: the delegates' annual report lines split into typed silver tables, the DSP
control analysis (financial ratios, KPI compliance with penalties, investments against plan,
findings with the rows behind them), and the document registry.

Pure Polars: frames in, frames out. Units: EUR (whole euros as the delegate reported them), %
(percent, rounded to one decimal, overhead share to two), KPI values in the KPI's own unit.
"""

from __future__ import annotations

import json

import polars as pl

from .cleaning import conform, latest_per_key

UTC = pl.Datetime("us", "UTC")
DSP_REPORT_LINES = {"contract_id": pl.Utf8, "year": pl.Int64, "section": pl.Utf8, "code": pl.Utf8,
                    "label": pl.Utf8, "unit": pl.Utf8, "value": pl.Float64, "previous_value": pl.Float64,
                    "target": pl.Float64, "comment": pl.Utf8, "source_file": pl.Utf8}
DOCUMENTS = {"file": pl.Utf8, "doc_format": pl.Utf8, "pages": pl.Int64, "n_chars": pl.Int64,
             "n_words": pl.Int64, "title": pl.Utf8, "checksum": pl.Utf8, "ingested_at": UTC,
             "source_file": pl.Utf8}

REVENUE_CODE = "TOTAL_REVENUE"
EBITDA_CODE = "EBITDA"
NET_RESULT_CODE = "NET_RESULT"
KEY = ["contract_id", "year"]

# ------------------------------------------------------------------ silver schemas (one per section)
DSP_PNL = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8, "line_kind": pl.Utf8,
           "amount_eur": pl.Float64, "previous_amount_eur": pl.Float64, "comment": pl.Utf8, "source_file": pl.Utf8}
DSP_KPIS = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8, "unit": pl.Utf8,
            "value": pl.Float64, "previous_value": pl.Float64, "target": pl.Float64, "direction": pl.Utf8,
            "source_file": pl.Utf8}
DSP_INVESTMENTS = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8,
                   "actual_eur": pl.Float64, "planned_eur": pl.Float64, "previous_actual_eur": pl.Float64,
                   "comment": pl.Utf8, "source_file": pl.Utf8}
DSP_ASSETS = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8, "regime": pl.Utf8,
              "condition": pl.Utf8, "net_book_value_eur": pl.Float64, "previous_net_book_value_eur": pl.Float64,
              "comment": pl.Utf8, "source_file": pl.Utf8}
DSP_TARIFFS = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8, "unit": pl.Utf8,
               "price": pl.Float64, "previous_price": pl.Float64, "comment": pl.Utf8, "source_file": pl.Utf8}
DSP_COMPLAINTS = {"contract_id": pl.Utf8, "year": pl.Int64, "code": pl.Utf8, "label": pl.Utf8,
                  "count": pl.Int64, "previous_count": pl.Int64, "source_file": pl.Utf8}

# ------------------------------------------------------------------ control rules (docs/admin.md)
REVENUE_DROP_PCT = -15.0          # revenue change below this: finding
REVENUE_DROP_HIGH_PCT = -25.0
INVESTMENT_RATIO_MIN_PCT = 80.0   # actual / plan below this: finding
INVESTMENT_RATIO_HIGH_PCT = 60.0
EBITDA_MARGIN_DROP_PTS = 5.0
TARIFF_INCREASE_PCT = 5.0         # above a usual contractual indexation
COMPLAINTS_UP_PCT = 20.0
KPI_HIGH_SHORTFALL_PCT = 10.0
OVERHEAD_HIGH_EXCESS_PTS = 2.0
# The city's standard DSP penalty clause for a missed quality indicator, applied only to a contract
# whose delivery carries no schedule of its own (dsp_contracts: penalty_eur_per_step,
# penalty_step_pct, penalty_cap_eur): 0.5 % of the annual fee per started 5 % of shortfall against
# the target, at most 3 % of the fee per indicator and year. Flagged: penalty_schedule = "default_clause".
PENALTY_RATE_PCT_OF_FEE = 0.5
PENALTY_STEP_PCT = 5.0
PENALTY_CAP_PCT_OF_FEE = 3.0
PENALTY_CLAUSE = (f"clause type de la Ville, le contrat ne fixant pas d'échéancier : {PENALTY_RATE_PCT_OF_FEE} % de "
                  f"la redevance annuelle par tranche entamée de {PENALTY_STEP_PCT:g} % d'écart à la cible, "
                  f"plafonné à {PENALTY_CAP_PCT_OF_FEE:g} % par indicateur")
PENALTY_SCHEDULE_COLUMNS = ("penalty_eur_per_step", "penalty_step_pct", "penalty_cap_eur")
# silver/contract_clauses: clauses extracted from the contract documents (models/admin/clauses.py)
CONTRACT_CLAUSES = {"contract_id": pl.Utf8, "field": pl.Utf8, "qualifier": pl.Utf8, "value": pl.Utf8, "unit": pl.Utf8,
                    "raw_text": pl.Utf8, "page": pl.Int64, "paragraph": pl.Int64, "confidence": pl.Float64,
                    "method": pl.Utf8, "source_file": pl.Utf8, "checksum": pl.Utf8}
PENALTY_SCHEDULES = ("contract", "contract_clause", "default_clause")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def dsp_report_lines(bronze: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["contract_id", "year", "section", "code"]).with_columns(
        pl.col("_source_file").alias("source_file"))
    return conform(df, DSP_REPORT_LINES).sort("contract_id", "year", "section", "code")


def documents(bronze: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["file"]).with_columns(
        pl.col("_checksum").alias("checksum"), pl.col("_ingested_at").alias("ingested_at"),
        pl.col("_source_file").alias("source_file"))
    return conform(df, DOCUMENTS).sort("file")


# ================================================================== silver: one table per section

def _section(lines: pl.DataFrame, section: str) -> pl.DataFrame:
    return lines.filter(pl.col("section") == section)


def dsp_pnl(lines: pl.DataFrame) -> pl.DataFrame:
    """P&L lines (EUR) with the previous year's amount; line_kind: revenue (REV_*), cost (COST_*),
    total (TOTAL_*), result (EBITDA, DEPRECIATION, EBIT, FINANCIAL_RESULT, CORPORATE_TAX, NET_RESULT)."""
    df = _section(lines, "pnl").with_columns(
        pl.when(pl.col("code").str.starts_with("REV_")).then(pl.lit("revenue"))
        .when(pl.col("code").str.starts_with("COST_")).then(pl.lit("cost"))
        .when(pl.col("code").str.starts_with("TOTAL_")).then(pl.lit("total"))
        .otherwise(pl.lit("result")).alias("line_kind"),
        pl.col("value").alias("amount_eur"), pl.col("previous_value").alias("previous_amount_eur"))
    return conform(df, DSP_PNL).sort("contract_id", "year", "code")


def kpi_direction(code: pl.Expr, comment: pl.Expr) -> pl.Expr:
    """'max' for a contractual maximum (lower is better), 'min' for a minimum, from the comment."""
    c = comment.fill_null("").str.to_lowercase()
    return (pl.when(c.str.contains("maxim")).then(pl.lit("max"))
            .when(c.str.contains("minim")).then(pl.lit("min"))
            .otherwise(pl.lit(None, pl.Utf8)))


def dsp_kpis(lines: pl.DataFrame) -> pl.DataFrame:
    df = _section(lines, "kpis").with_columns(kpi_direction(pl.col("code"), pl.col("comment")).alias("direction"))
    return conform(df, DSP_KPIS).sort("contract_id", "year", "code")


def dsp_investments(lines: pl.DataFrame) -> pl.DataFrame:
    df = _section(lines, "investments").with_columns(
        pl.col("value").alias("actual_eur"), pl.col("target").alias("planned_eur"),
        pl.col("previous_value").alias("previous_actual_eur"))
    return conform(df, DSP_INVESTMENTS).sort("contract_id", "year", "code")


def dsp_assets(lines: pl.DataFrame) -> pl.DataFrame:
    c = pl.col("comment").fill_null("")
    df = _section(lines, "assets").with_columns(
        c.str.extract(r"bien de (retour|reprise)", 1).alias("regime"),
        c.str.extract(r"état\s*:\s*(\S+)", 1).alias("condition"),
        pl.col("value").alias("net_book_value_eur"), pl.col("previous_value").alias("previous_net_book_value_eur"))
    return conform(df, DSP_ASSETS).sort("contract_id", "year", "code")


def dsp_tariffs(lines: pl.DataFrame) -> pl.DataFrame:
    df = _section(lines, "tariffs").with_columns(pl.col("value").alias("price"),
                                                 pl.col("previous_value").alias("previous_price"))
    return conform(df, DSP_TARIFFS).sort("contract_id", "year", "code")


def dsp_complaints(lines: pl.DataFrame) -> pl.DataFrame:
    df = _section(lines, "complaints").with_columns(pl.col("value").round(0).alias("count"),
                                                    pl.col("previous_value").round(0).alias("previous_count"))
    return conform(df, DSP_COMPLAINTS).sort("contract_id", "year", "code")


# ================================================================== quality rules (for the suites)

TOTAL_RULES = [  # (section, total code, expression of parts) checked on value and previous value
    ("pnl", "TOTAL_REVENUE", "sum of REV_*"), ("pnl", "TOTAL_OPEX", "sum of COST_*"),
    ("pnl", "EBITDA", "TOTAL_REVENUE - TOTAL_OPEX"), ("pnl", "EBIT", "EBITDA - DEPRECIATION"),
    ("pnl", "NET_RESULT", "EBIT + FINANCIAL_RESULT - CORPORATE_TAX"),
    ("investments", "INV_TOTAL", "sum of INV_* (actual and plan)"), ("complaints", "CMP_TOTAL", "sum of CMP_*"),
]


def totals_problems(lines: pl.DataFrame, tolerance_eur: float = 0.5) -> list[str]:
    """Every report whose totals do not add up (value and previous value), as messages naming the
    contract, year, total and the gap."""
    out = []
    for (cid, year), g in lines.group_by(KEY, maintain_order=True):
        by = {(r["section"], r["code"]): r for r in g.iter_rows(named=True)}
        for col in ("value", "previous_value", "target"):
            def v(sec, code):
                r = by.get((sec, code))
                return None if r is None else r[col]

            def parts(sec, prefix, total):
                vals = [r[col] for (s, c), r in by.items() if s == sec and c.startswith(prefix) and c != total]
                return None if not vals or any(x is None for x in vals) else sum(vals)

            checks = []
            if col != "target":
                checks += [("TOTAL_REVENUE", v("pnl", "TOTAL_REVENUE"), parts("pnl", "REV_", "TOTAL_REVENUE")),
                           ("TOTAL_OPEX", v("pnl", "TOTAL_OPEX"), parts("pnl", "COST_", "TOTAL_OPEX"))]
                for code, a, b, sign in (("EBITDA", "TOTAL_REVENUE", "TOTAL_OPEX", -1), ("EBIT", "EBITDA", "DEPRECIATION", -1)):
                    if None not in (v("pnl", a), v("pnl", b)):
                        checks.append((code, v("pnl", code), v("pnl", a) + sign * v("pnl", b)))
                if None not in (v("pnl", "EBIT"), v("pnl", "FINANCIAL_RESULT"), v("pnl", "CORPORATE_TAX")):
                    checks.append(("NET_RESULT", v("pnl", "NET_RESULT"),
                                   v("pnl", "EBIT") + v("pnl", "FINANCIAL_RESULT") - v("pnl", "CORPORATE_TAX")))
                checks.append(("CMP_TOTAL", v("complaints", "CMP_TOTAL"), parts("complaints", "CMP_", "CMP_TOTAL")))
            checks.append(("INV_TOTAL", v("investments", "INV_TOTAL"), parts("investments", "INV_", "INV_TOTAL")))
            for code, reported, computed in checks:
                if reported is None or computed is None:
                    if reported is None and computed is not None and col == "value":
                        out.append(f"{cid} {year}: {code} missing while its parts are reported")
                    continue
                if abs(reported - computed) > tolerance_eur:
                    out.append(f"{cid} {year}: {code} {col} {reported:.0f} differs from its parts "
                               f"({computed:.0f}, gap {reported - computed:+.0f})")
    return out


def missing_previous_year(lines: pl.DataFrame) -> list[str]:
    """Report lines without the previous year's figure (the law asks for it in the P&L; we ask for
    it in every section with a value)."""
    bad = lines.filter(pl.col("value").is_not_null() & pl.col("previous_value").is_null())
    return [f"{r['contract_id']} {r['year']}: {r['section']}/{r['code']} has no previous-year value"
            for r in bad.head(50).iter_rows(named=True)]


def missing_targets(kpis: pl.DataFrame, investments: pl.DataFrame) -> list[str]:
    """KPIs without a contractual target or direction, investment lines without a plan."""
    out = [f"{r['contract_id']} {r['year']}: KPI {r['code']} has no target or no direction (minimum/maximum)"
           for r in kpis.filter(pl.col("target").is_null() | pl.col("direction").is_null()).iter_rows(named=True)]
    out += [f"{r['contract_id']} {r['year']}: investment {r['code']} has no planned amount"
            for r in investments.filter(pl.col("planned_eur").is_null()).iter_rows(named=True)]
    return out


# ================================================================== gold: control analysis

def _pct_change(cur: str, prev: str) -> pl.Expr:
    return (pl.when(pl.col(prev).is_not_null() & (pl.col(prev) != 0))
            .then(100 * (pl.col(cur) - pl.col(prev)) / pl.col(prev).abs()).otherwise(None)).round(1)


def dsp_revenue(lines: pl.DataFrame, contracts: pl.DataFrame) -> pl.DataFrame:
    """Per contract and year: revenue, EBITDA and net result (EUR) as the delegate reported
    them, the previous year's revenue and the year-on-year change."""
    pnl = lines.filter(pl.col("section") == "pnl")

    def pick(code: str, name: str, col: str = "value") -> pl.DataFrame:
        return pnl.filter(pl.col("code") == code).select("contract_id", "year", pl.col(col).alias(name))

    out = (pick(REVENUE_CODE, "revenue_eur")
           .join(pick(REVENUE_CODE, "previous_revenue_eur", "previous_value"), on=["contract_id", "year"], how="left")
           .join(pick(EBITDA_CODE, "ebitda_eur"), on=["contract_id", "year"], how="left")
           .join(pick(NET_RESULT_CODE, "net_result_eur"), on=["contract_id", "year"], how="left")
           .join(contracts.select("contract_id", pl.col("name").alias("contract_name"), "delegate", "service"),
                 on="contract_id", how="left"))
    return out.with_columns(
        (100 * (pl.col("revenue_eur") / pl.col("previous_revenue_eur") - 1)).round(2).alias("revenue_change_pct"),
        (100 * pl.col("ebitda_eur") / pl.col("revenue_eur")).round(2).alias("ebitda_margin_pct"),
    ).select("contract_id", "contract_name", "delegate", "service", "year", "revenue_eur",
             "previous_revenue_eur", "revenue_change_pct", "ebitda_eur", "ebitda_margin_pct",
             "net_result_eur").sort("contract_id", "year")


def clause_schedules(clauses: pl.DataFrame | None) -> pl.DataFrame:
    """Per contract, the KPI penalty schedule extracted from its document (silver/contract_clauses,
    qualifier "*" = every indicator): EUR per step, step %, cap EUR (null = the document states
    none) and where the step clause is (page, paragraph)."""
    schema = {"contract_id": pl.Utf8, "_c_per_step": pl.Float64, "_c_step": pl.Float64, "_c_cap": pl.Float64,
              "_c_where": pl.Utf8}
    if clauses is None or clauses.height == 0:
        return pl.DataFrame(schema=schema)
    c = clauses.filter((pl.col("qualifier") == "*") & pl.col("field").is_in(list(PENALTY_SCHEDULE_COLUMNS)))

    def one(fld: str, name: str) -> pl.DataFrame:
        return c.filter(pl.col("field") == fld).select("contract_id", pl.col("value").cast(pl.Float64).alias(name),
                                                       pl.format("p. {}, § {}", "page", "paragraph").alias(f"{name}_w"))
    out = one("penalty_eur_per_step", "_c_per_step").rename({"_c_per_step_w": "_c_where"})
    out = out.join(one("penalty_step_pct", "_c_step").drop("_c_step_w"), on="contract_id", how="full", coalesce=True)
    out = out.join(one("penalty_cap_eur", "_c_cap").drop("_c_cap_w"), on="contract_id", how="full", coalesce=True)
    return out.select(list(schema))


def _schedules(contracts: pl.DataFrame, clauses: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per contract: the penalty schedule in force (EUR per started step, step in % of the target,
    cap in EUR per KPI and year, null = uncapped), `penalty_schedule` and the clause's wording.
    Precedence: the delivery's columns (`contract`, when it states both the amount per step and the
    step) > the schedule extracted from the contract document (`contract_clause`, amount and step
    found) > the city's standard clause (`default_clause`, from the annual fee)."""
    c = contracts.with_columns([pl.lit(None, pl.Float64).alias(k) for k in PENALTY_SCHEDULE_COLUMNS
                                if k not in contracts.columns])
    c = c.join(clause_schedules(clauses), on="contract_id", how="left")
    own = pl.col("penalty_eur_per_step").is_not_null() & pl.col("penalty_step_pct").is_not_null()
    doc = ~own & pl.col("_c_per_step").is_not_null() & pl.col("_c_step").is_not_null()
    fee = pl.col("annual_fee_eur")

    def wording(prefix, per_step, step, cap) -> pl.Expr:
        return pl.format(prefix + "{} EUR par tranche entamée de {} % d'écart à la cible{}",
                         per_step.round(0).cast(pl.Int64), step,
                         pl.when(cap.is_not_null()).then(pl.format(", plafonné à {} EUR par indicateur",
                                                                   cap.round(0).cast(pl.Int64)))
                         .otherwise(pl.lit(", sans plafond")))
    return c.select(
        "contract_id", "annual_fee_eur",
        pl.when(own).then(pl.lit("contract")).when(doc).then(pl.lit("contract_clause"))
        .otherwise(pl.lit("default_clause")).alias("penalty_schedule"),
        pl.when(own).then(pl.col("penalty_eur_per_step")).when(doc).then(pl.col("_c_per_step"))
        .otherwise(fee * PENALTY_RATE_PCT_OF_FEE / 100).alias("_per_step"),
        pl.when(own).then(pl.col("penalty_step_pct")).when(doc).then(pl.col("_c_step"))
        .otherwise(pl.lit(PENALTY_STEP_PCT)).alias("_step"),
        pl.when(own).then(pl.col("penalty_cap_eur")).when(doc).then(pl.col("_c_cap"))
        .otherwise(fee * PENALTY_CAP_PCT_OF_FEE / 100).alias("_cap"),
        pl.when(own).then(wording("clause du contrat : ", pl.col("penalty_eur_per_step"), pl.col("penalty_step_pct"),
                                  pl.col("penalty_cap_eur")))
        .when(doc).then(pl.format("clause extraite du document contractuel ({}) : {}", pl.col("_c_where"),
                                  wording("", pl.col("_c_per_step"), pl.col("_c_step"), pl.col("_c_cap"))))
        .otherwise(pl.lit(PENALTY_CLAUSE)).alias("_clause"))


def kpi_compliance(kpis: pl.DataFrame, contracts: pl.DataFrame, clauses: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per contract, year and KPI: value against the contractual target, compliant or not, the
    shortfall (in the KPI's unit and in % of the target) and the penalty under the contract's own
    schedule (delivery columns, else the clause extracted from its document), or the city's
    standard clause when neither states one (`penalty_schedule`, see `_schedules`)."""
    df = kpis.join(_schedules(contracts, clauses), on="contract_id", how="left").with_columns(
        pl.when(pl.col("direction") == "max").then(pl.col("value") <= pl.col("target"))
        .otherwise(pl.col("value") >= pl.col("target")).alias("compliant"))
    df = df.with_columns(
        pl.when(pl.col("compliant")).then(0.0)
        .when(pl.col("direction") == "max").then(pl.col("value") - pl.col("target"))
        .otherwise(pl.col("target") - pl.col("value")).round(2).alias("shortfall"))
    df = df.with_columns(
        pl.when(pl.col("target") != 0).then(100 * pl.col("shortfall") / pl.col("target").abs())
        .otherwise(None).round(1).alias("shortfall_pct"))
    steps = (pl.col("shortfall_pct") / pl.col("_step")).ceil().clip(lower_bound=1)
    raw = pl.col("_per_step") * steps
    penalty = pl.when(pl.col("_cap").is_not_null()).then(pl.min_horizontal(raw, pl.col("_cap"))).otherwise(raw)
    df = df.with_columns(pl.when(pl.col("compliant")).then(0.0).otherwise(penalty.round(0)).alias("penalty_eur"),
                         pl.when(pl.col("compliant")).then(pl.lit(None, pl.Utf8)).otherwise(pl.col("_clause"))
                         .alias("penalty_basis"))
    return df.select("contract_id", "year", "code", "label", "unit", "direction", "value", "previous_value",
                     "target", "compliant", "shortfall", "shortfall_pct", "penalty_eur", "penalty_basis",
                     "penalty_schedule", "source_file").sort("contract_id", "year", "code")


def investment_plan(inv: pl.DataFrame) -> pl.DataFrame:
    """Per contract, year and investment line: actual against planned (EUR), variance, realisation (%)."""
    return inv.with_columns(
        (pl.col("actual_eur") - pl.col("planned_eur")).alias("variance_eur"),
        pl.when(pl.col("planned_eur") > 0).then(100 * pl.col("actual_eur") / pl.col("planned_eur"))
        .otherwise(None).round(1).alias("realisation_pct"),
        (pl.col("code") == "INV_TOTAL").alias("is_total"),
    ).select("contract_id", "year", "code", "label", "planned_eur", "actual_eur", "variance_eur", "realisation_pct",
             "previous_actual_eur", "is_total", "comment").sort("contract_id", "year", "is_total", "code")


def asset_inventory(assets: pl.DataFrame) -> pl.DataFrame:
    """Return (retour) and take-back (reprise) assets: condition, net book value and its change (EUR)."""
    return assets.with_columns(
        (pl.col("net_book_value_eur") - pl.col("previous_net_book_value_eur")).alias("change_eur"),
    ).select("contract_id", "year", "code", "label", "regime", "condition", "net_book_value_eur",
             "previous_net_book_value_eur", "change_eur").sort("contract_id", "year", "regime", "code")


def tariff_changes(tariffs: pl.DataFrame) -> pl.DataFrame:
    """Public prices: current, previous year's, change (%)."""
    return tariffs.with_columns(_pct_change("price", "previous_price").alias("change_pct")).select(
        "contract_id", "year", "code", "label", "unit", "price", "previous_price", "change_pct", "comment"
    ).sort("contract_id", "year", "code")


def complaint_counts(cmp: pl.DataFrame) -> pl.DataFrame:
    """Complaints per category: count, previous year's, change (%), share of the total (%)."""
    tot = cmp.filter(pl.col("code") == "CMP_TOTAL").select(*KEY, pl.col("count").alias("_total"))
    return cmp.join(tot, on=KEY, how="left").with_columns(
        _pct_change("count", "previous_count").alias("change_pct"),
        pl.when(pl.col("_total") > 0).then(100 * pl.col("count") / pl.col("_total")).otherwise(None)
        .round(1).alias("share_pct"),
        (pl.col("code") == "CMP_TOTAL").alias("is_total"),
    ).select("contract_id", "year", "code", "label", "count", "previous_count", "change_pct", "share_pct",
             "is_total").sort("contract_id", "year", "is_total", "code")


def financials(pnl: pl.DataFrame, lines: pl.DataFrame, contracts: pl.DataFrame, compliance: pl.DataFrame,
               inv: pl.DataFrame) -> pl.DataFrame:
    """One row per contract and year: the contract's terms and every ratio of the financial
    analysis (EUR, %, year-on-year changes), investments against plan, staff, complaints, KPIs
    missed and penalties."""
    def pick(code: str, name: str, prev: str | None = None) -> pl.DataFrame:
        sel = [*KEY, pl.col("amount_eur").alias(name)]
        if prev:
            sel.append(pl.col("previous_amount_eur").alias(prev))
        return pnl.filter(pl.col("code") == code).select(sel)

    def line(section: str, code: str, name: str, prev: str | None = None) -> pl.DataFrame:
        sel = [*KEY, pl.col("value").alias(name)]
        if prev:
            sel.append(pl.col("previous_value").alias(prev))
        return lines.filter((pl.col("section") == section) & (pl.col("code") == code)).select(sel)

    keys = pnl.select(KEY).unique()
    parts = [pick("TOTAL_REVENUE", "revenue_eur", "previous_revenue_eur"),
             pick("TOTAL_OPEX", "opex_eur", "previous_opex_eur"), pick("COST_STAFF", "staff_cost_eur"),
             pick("COST_FEE", "fee_paid_eur"), pick("COST_OVERHEAD", "overhead_eur", "previous_overhead_eur"),
             pick("EBITDA", "ebitda_eur", "previous_ebitda_eur"), pick("DEPRECIATION", "depreciation_eur"),
             pick("EBIT", "ebit_eur"), pick("NET_RESULT", "net_result_eur", "previous_net_result_eur"),
             line("staff", "STAFF_HEADCOUNT", "staff_headcount"), line("staff", "STAFF_FTE", "staff_fte"),
             line("staff", "STAFF_SEASONAL", "staff_seasonal"),
             line("complaints", "CMP_TOTAL", "complaints_total", "previous_complaints_total"),
             inv.filter(pl.col("code") == "INV_TOTAL").select(*KEY, pl.col("actual_eur").alias("investment_actual_eur"),
                                                              pl.col("planned_eur").alias("investment_planned_eur")),
             compliance.group_by(KEY).agg(pl.len().cast(pl.Int64).alias("kpis_total"),
                                          (~pl.col("compliant")).sum().cast(pl.Int64).alias("kpis_missed"),
                                          pl.col("penalty_eur").sum().alias("penalties_eur"))]
    out = keys
    for p in parts:
        out = out.join(p, on=KEY, how="left")
    c = contracts.select("contract_id", pl.col("name").alias("contract_name"), "delegate", "service",
                         "contract_type", pl.col("start_date").alias("contract_start"),
                         pl.col("end_date").alias("contract_end"), "annual_fee_eur", "overhead_cap_pct")
    out = out.join(c, on="contract_id", how="left").with_columns(
        _pct_change("revenue_eur", "previous_revenue_eur").alias("revenue_change_pct"),
        _pct_change("opex_eur", "previous_opex_eur").alias("opex_change_pct"),
        _pct_change("ebitda_eur", "previous_ebitda_eur").alias("ebitda_change_pct"),
        _pct_change("net_result_eur", "previous_net_result_eur").alias("net_result_change_pct"),
        _pct_change("complaints_total", "previous_complaints_total").alias("complaints_change_pct"),
        (100 * pl.col("overhead_eur") / pl.col("revenue_eur")).round(2).alias("overhead_share_pct"),
        (100 * pl.col("previous_overhead_eur") / pl.col("previous_revenue_eur")).round(2)
        .alias("previous_overhead_share_pct"),
        (100 * pl.col("ebitda_eur") / pl.col("revenue_eur")).round(1).alias("ebitda_margin_pct"),
        (100 * pl.col("previous_ebitda_eur") / pl.col("previous_revenue_eur")).round(1)
        .alias("previous_ebitda_margin_pct"),
        (100 * pl.col("net_result_eur") / pl.col("revenue_eur")).round(1).alias("net_margin_pct"),
        (100 * pl.col("staff_cost_eur") / pl.col("revenue_eur")).round(1).alias("staff_cost_share_pct"),
        pl.when(pl.col("investment_planned_eur") > 0)
        .then(100 * pl.col("investment_actual_eur") / pl.col("investment_planned_eur")).otherwise(None)
        .round(1).alias("investment_realisation_pct"),
        pl.col("penalties_eur").fill_null(0.0), pl.col("kpis_missed").fill_null(0), pl.col("kpis_total").fill_null(0),
    )
    cols = ["contract_id", "year", "contract_name", "delegate", "service", "contract_type", "contract_start",
            "contract_end", "annual_fee_eur", "overhead_cap_pct",
            "revenue_eur", "previous_revenue_eur", "revenue_change_pct", "opex_eur", "previous_opex_eur",
            "opex_change_pct", "staff_cost_eur", "staff_cost_share_pct", "fee_paid_eur", "overhead_eur",
            "overhead_share_pct", "previous_overhead_share_pct", "ebitda_eur", "previous_ebitda_eur",
            "ebitda_change_pct", "ebitda_margin_pct", "previous_ebitda_margin_pct", "depreciation_eur", "ebit_eur",
            "net_result_eur", "previous_net_result_eur", "net_result_change_pct", "net_margin_pct",
            "investment_planned_eur", "investment_actual_eur", "investment_realisation_pct",
            "staff_headcount", "staff_fte", "staff_seasonal", "complaints_total", "previous_complaints_total",
            "complaints_change_pct", "kpis_total", "kpis_missed", "penalties_eur"]
    return out.select(cols).sort(KEY)


# ------------------------------------------------------------------ findings

FINDINGS = {"finding_id": pl.Utf8, "contract_id": pl.Utf8, "year": pl.Int64, "finding_type": pl.Utf8,
            "severity": pl.Utf8, "code": pl.Utf8, "value": pl.Float64, "reference": pl.Float64, "unit": pl.Utf8,
            "message": pl.Utf8, "recommendation": pl.Utf8, "penalty_eur": pl.Float64, "evidence": pl.Utf8}

RECOMMENDATIONS = {
    "revenue_drop": "Demander au délégataire une analyse écrite de la baisse du chiffre d'affaires et un plan "
                    "de retour à l'équilibre ; vérifier l'incidence sur la redevance.",
    "overhead_above_cap": "Contester la part des frais de structure au-delà du plafond contractuel ; exiger la "
                          "justification de la clé de répartition et la réintégration de l'excédent au compte "
                          "de la délégation.",
    "kpi_below_target": "Notifier le manquement et appliquer la pénalité prévue ; demander un plan d'action "
                        "corrective avec échéances.",
    "investment_below_plan": "Exiger le calendrier de rattrapage des investissements reportés et vérifier que "
                             "les sommes non dépensées restent affectées au programme.",
    "net_loss": "Examiner la soutenabilité économique du contrat et les hypothèses du compte prévisionnel.",
    "ebitda_margin_down": "Demander le détail de l'évolution des charges d'exploitation.",
    "previous_year_mismatch": "Demander la correction des chiffres de l'exercice précédent ou la justification "
                              "du retraitement.",
    "tariff_above_indexation": "Vérifier l'application de la formule d'indexation et la délibération "
                               "tarifaire correspondante.",
    "return_asset_degraded": "Programmer une visite contradictoire du bien de retour et exiger sa remise en "
                             "état avant le terme du contrat.",
    "complaints_up": "Demander l'analyse des réclamations par motif et les mesures prises.",
}

FINDING_TITLES = {
    "revenue_drop": "Baisse du chiffre d'affaires", "overhead_above_cap": "Frais de structure au-delà du plafond",
    "kpi_below_target": "Indicateur contractuel non atteint", "investment_below_plan": "Investissements en retard sur le plan",
    "net_loss": "Résultat net négatif", "ebitda_margin_down": "Recul de la marge d'EBE",
    "previous_year_mismatch": "Chiffres N-1 différents du rapport précédent",
    "tariff_above_indexation": "Hausse tarifaire supérieure à l'indexation usuelle",
    "return_asset_degraded": "Bien de retour en état dégradé", "complaints_up": "Hausse des réclamations",
}


def _evidence(rows: list[dict]) -> str:
    keep = ("section", "code", "value", "previous_value", "target", "source_file")
    return json.dumps([{k: r.get(k) for k in keep if k in r} for r in rows], ensure_ascii=False)


def findings(fin: pl.DataFrame, compliance: pl.DataFrame, inv_plan: pl.DataFrame, assets: pl.DataFrame,
             tariffs: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Every anomaly of the control rules (docs/admin.md) as a finding: type, severity
    (high|medium|low), the figure and its reference, a message, the recommendation, the penalty
    (EUR) and the report rows behind it (JSON)."""
    idx = {(r["contract_id"], r["year"], r["section"], r["code"]): r for r in lines.iter_rows(named=True)}

    def rows(cid, year, *refs):
        return [dict(section=s, **{k: v for k, v in idx[(cid, year, s, c)].items() if k != "section"})
                for s, c in refs if (cid, year, s, c) in idx]

    out: list[dict] = []

    def add(cid, year, ftype, sev, code, value, ref, unit, msg, ev, penalty=0.0):
        out.append({"finding_id": f"{cid}/{year}/{ftype}/{code}", "contract_id": cid, "year": year,
                    "finding_type": ftype, "severity": sev, "code": code,
                    "value": None if value is None else float(value),
                    "reference": None if ref is None else float(ref), "unit": unit, "message": msg,
                    "recommendation": RECOMMENDATIONS[ftype], "penalty_eur": float(penalty), "evidence": _evidence(ev)})

    for f in fin.iter_rows(named=True):
        cid, y = f["contract_id"], f["year"]
        ch = f["revenue_change_pct"]
        if ch is not None and f["revenue_eur"] < f["previous_revenue_eur"] * (1 + REVENUE_DROP_PCT / 100):
            add(cid, y, "revenue_drop", "high" if ch < REVENUE_DROP_HIGH_PCT else "medium", "TOTAL_REVENUE", ch,
                REVENUE_DROP_PCT, "%", "Chiffre d'affaires en baisse au-delà du seuil d'alerte",
                rows(cid, y, ("pnl", "TOTAL_REVENUE")))
        cap = f["overhead_cap_pct"]
        if cap is not None and f["overhead_eur"] is not None and 100 * f["overhead_eur"] / f["revenue_eur"] > cap:
            share = f["overhead_share_pct"]
            add(cid, y, "overhead_above_cap", "high" if share - cap > OVERHEAD_HIGH_EXCESS_PTS else "medium",
                "COST_OVERHEAD", share, cap, "% du CA", "Frais de structure au-delà du plafond contractuel",
                rows(cid, y, ("pnl", "COST_OVERHEAD"), ("pnl", "TOTAL_REVENUE")))
        if f["net_result_eur"] is not None and f["net_result_eur"] < 0:
            add(cid, y, "net_loss", "medium", "NET_RESULT", f["net_result_eur"], 0.0, "EUR",
                "Résultat net négatif", rows(cid, y, ("pnl", "NET_RESULT")))
        m, pm = f["ebitda_margin_pct"], f["previous_ebitda_margin_pct"]
        if m is not None and pm is not None and pm - m > EBITDA_MARGIN_DROP_PTS:
            add(cid, y, "ebitda_margin_down", "low", "EBITDA", m, pm, "% du CA", "Recul de la marge d'EBE",
                rows(cid, y, ("pnl", "EBITDA"), ("pnl", "TOTAL_REVENUE")))
        cc = f["complaints_change_pct"]
        if cc is not None and cc > COMPLAINTS_UP_PCT:
            add(cid, y, "complaints_up", "low", "CMP_TOTAL", cc, COMPLAINTS_UP_PCT, "%",
                "Hausse des réclamations", rows(cid, y, ("complaints", "CMP_TOTAL")))
    for k in compliance.filter(~pl.col("compliant")).iter_rows(named=True):
        sev = "high" if (k["shortfall_pct"] or 0) > KPI_HIGH_SHORTFALL_PCT else "medium"
        add(k["contract_id"], k["year"], "kpi_below_target", sev, k["code"], k["value"], k["target"], k["unit"],
            f"{k['label']} : seuil {'maximal' if k['direction'] == 'max' else 'minimal'} non respecté"
            + (" (pénalité selon la clause type de la Ville : le contrat ne fixe pas d'échéancier)"
               if k.get("penalty_schedule") == "default_clause" else
               " (pénalité selon la clause extraite du document contractuel, la livraison ne fixant pas d'échéancier)"
               if k.get("penalty_schedule") == "contract_clause" else ""),
            rows(k["contract_id"], k["year"], ("kpis", k["code"])), k["penalty_eur"])
    for r in inv_plan.filter(pl.col("is_total")).iter_rows(named=True):
        if r["planned_eur"] and 100 * r["actual_eur"] / r["planned_eur"] < INVESTMENT_RATIO_MIN_PCT:
            rp = r["realisation_pct"]
            add(r["contract_id"], r["year"], "investment_below_plan",
                "high" if rp < INVESTMENT_RATIO_HIGH_PCT else "medium", "INV_TOTAL", rp, INVESTMENT_RATIO_MIN_PCT,
                "% du plan", "Investissements réalisés en deçà du programme contractuel",
                rows(r["contract_id"], r["year"], *[("investments", c) for c in
                     inv_plan.filter((pl.col("contract_id") == r["contract_id"]) & (pl.col("year") == r["year"]))["code"]]))
    for a in assets.filter((pl.col("regime") == "retour") & (pl.col("condition") == "dégradé")).iter_rows(named=True):
        add(a["contract_id"], a["year"], "return_asset_degraded", "medium", a["code"], a["net_book_value_eur"], None,
            "EUR", f"{a['label']} : bien de retour en état dégradé", rows(a["contract_id"], a["year"], ("assets", a["code"])))
    for t in tariffs.filter(pl.col("change_pct") > TARIFF_INCREASE_PCT).iter_rows(named=True):
        add(t["contract_id"], t["year"], "tariff_above_indexation", "low", t["code"], t["change_pct"],
            TARIFF_INCREASE_PCT, "%", f"{t['label']} : hausse supérieure à l'indexation usuelle",
            rows(t["contract_id"], t["year"], ("tariffs", t["code"])))
    # previous year's figures quoted in report Y against report Y-1's own figures
    prev = lines.select("contract_id", (pl.col("year") + 1).alias("year"), "section", "code",
                        pl.col("value").alias("_reported_then"))
    mism = lines.join(prev, on=["contract_id", "year", "section", "code"], how="inner").filter(
        pl.col("previous_value").is_not_null() & pl.col("_reported_then").is_not_null()
        & ((pl.col("previous_value") - pl.col("_reported_then")).abs() > 0.5))
    for r in mism.iter_rows(named=True):
        add(r["contract_id"], r["year"], "previous_year_mismatch", "medium", f"{r['section']}/{r['code']}",
            r["previous_value"], r["_reported_then"], r["unit"],
            f"{r['label']} : chiffre N-1 différent du rapport de l'exercice précédent",
            rows(r["contract_id"], r["year"], (r["section"], r["code"]))
            + rows(r["contract_id"], r["year"] - 1, (r["section"], r["code"])))
    df = pl.DataFrame(out, schema=FINDINGS)
    return df.with_columns(pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int64).alias("_s")).sort(
        "contract_id", "year", "_s", "finding_type", "code").drop("_s")


# ================================================================== meetings

MEETING_ACTIONS = {"doc_id": pl.Utf8, "meeting_title": pl.Utf8, "meeting_date": pl.Date, "action_no": pl.Int64,
                   "owner": pl.Utf8, "action": pl.Utf8, "due_date": pl.Date, "days_to_due": pl.Int64,
                   "decisions": pl.Utf8, "attendees": pl.Utf8}


def meeting_actions(minutes: pl.DataFrame) -> pl.DataFrame:
    """One row per action of each meeting's minutes: owner, action, due date, days from the
    meeting to the due date, with the meeting's decisions and attendees (JSON lists)."""
    rows = []
    for m in minutes.iter_rows(named=True):
        for i, a in enumerate(json.loads(m["actions"] or "[]"), start=1):
            due = None
            if a.get("due_date"):
                from datetime import date

                due = date.fromisoformat(a["due_date"])
            rows.append({"doc_id": m["doc_id"], "meeting_title": m["title"], "meeting_date": m["meeting_date"],
                         "action_no": i, "owner": a.get("owner"), "action": a.get("action"), "due_date": due,
                         "days_to_due": (due - m["meeting_date"]).days if due and m["meeting_date"] else None,
                         "decisions": m["decisions"], "attendees": m["attendees"]})
    return pl.DataFrame(rows, schema=MEETING_ACTIONS).sort("meeting_date", "doc_id", "action_no")


# ================================================================== documents

DOCUMENT_INDEX_COLUMNS = ["chunk_id", "doc_id", "doc_type", "doc_format", "title", "chunk_no", "text", "n_words",
                          "model", "embedding"]


def document_index(chunks: pl.DataFrame) -> pl.DataFrame:
    """The published index: redacted chunks and their embeddings, one row per chunk."""
    return chunks.select(DOCUMENT_INDEX_COLUMNS).sort("doc_id", "chunk_no")
