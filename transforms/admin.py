"""Administration: the delegates' annual report lines, the document registry, DSP revenue."""

from __future__ import annotations

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


def dsp_report_lines(bronze: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["contract_id", "year", "section", "code"]).with_columns(
        pl.col("_source_file").alias("source_file"))
    return conform(df, DSP_REPORT_LINES).sort("contract_id", "year", "section", "code")


def documents(bronze: pl.DataFrame) -> pl.DataFrame:
    df = latest_per_key(bronze, ["file"]).with_columns(
        pl.col("_checksum").alias("checksum"), pl.col("_ingested_at").alias("ingested_at"),
        pl.col("_source_file").alias("source_file"))
    return conform(df, DOCUMENTS).sort("file")


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
