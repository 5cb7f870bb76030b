"""Row-level validation of raw records against a column spec.

A source's raw records arrive as text (CSV cells, JSON values). `validate_records` casts every
column to its declared type and checks the declared rules; a row that fails any rule is set
aside with every reason spelled out (column, value, what was expected), and the good rows come
back typed. Nothing is dropped silently: good + bad = input.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ROW = "_row_number"


@dataclass(frozen=True)
class Col:
    """One expected column: its type and the rules a value must follow."""

    name: str
    dtype: pl.DataType | type = pl.Utf8
    required: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None

    def describe(self) -> str:
        parts = [str(self.dtype)]
        if self.min is not None or self.max is not None:
            parts.append(f"in [{self.min}, {self.max}]")
        if self.allowed:
            parts.append("one of " + ", ".join(self.allowed))
        return " ".join(parts)


@dataclass
class Validated:
    good: pl.DataFrame   # typed columns in spec order + ROW
    bad: pl.DataFrame    # ROW, reason, raw (the row's cells joined, for the quarantine table)


def _cast(expr: pl.Expr, dtype) -> pl.Expr:
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return expr.str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    if dtype == pl.Date:
        return expr.str.to_date(strict=False)
    if dtype == pl.Boolean:
        low = expr.str.to_lowercase()
        return (pl.when(low.is_in(["1", "true", "yes", "oui"])).then(True)
                .when(low.is_in(["0", "false", "no", "non"])).then(False)
                .otherwise(None))
    if dtype == pl.Utf8:
        return expr
    return expr.cast(dtype, strict=False)


def validate_records(raw: pl.DataFrame, spec: list[Col], *, row_offset: int = 1) -> Validated:
    """Cast and check `raw` (all Utf8 columns) against `spec`.

    Rows are numbered from `row_offset` (e.g. 2 for a CSV whose line 1 is the header) unless
    `raw` already has a `_row_number` column. Extra columns are ignored; a missing required
    column makes every row bad (the caller usually rejects the whole file first).
    """
    if ROW not in raw.columns:
        raw = raw.with_row_index(ROW, offset=row_offset).with_columns(pl.col(ROW).cast(pl.Int64))
    for c in spec:
        if c.name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c.name))
    raw = raw.with_columns([pl.col(c.name).cast(pl.Utf8).str.strip_chars() for c in spec])
    raw = raw.with_columns([pl.when(pl.col(c.name) == "").then(None).otherwise(pl.col(c.name))
                            .alias(c.name) for c in spec])

    typed = [_cast(pl.col(c.name), c.dtype).alias(f"__t_{c.name}") for c in spec]
    df = raw.with_columns(typed)
    reasons: list[pl.Expr] = []
    for c in spec:
        v, t = pl.col(c.name), pl.col(f"__t_{c.name}")
        if c.required:
            reasons.append(pl.when(v.is_null()).then(pl.lit(f"{c.name}: missing (required)")))
        reasons.append(pl.when(v.is_not_null() & t.is_null()).then(
            pl.format("{}: '{}' is not a valid {}", pl.lit(c.name), v, pl.lit(str(c.dtype)))))
        if c.min is not None:
            reasons.append(pl.when(t < c.min).then(
                pl.format("{}: {} is below the minimum {}", pl.lit(c.name), v, pl.lit(str(c.min)))))
        if c.max is not None:
            reasons.append(pl.when(t > c.max).then(
                pl.format("{}: {} is above the maximum {}", pl.lit(c.name), v, pl.lit(str(c.max)))))
        if c.allowed is not None:
            reasons.append(pl.when(t.is_not_null() & ~t.is_in(list(c.allowed))).then(
                pl.format("{}: '{}' is not one of {}", pl.lit(c.name), v, pl.lit(", ".join(c.allowed)))))
    df = df.with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__reason"))
    df = df.with_columns(pl.when(pl.col("__reason") == "").then(None).otherwise(pl.col("__reason"))
                         .alias("__reason"))
    bad = df.filter(pl.col("__reason").is_not_null()).select(
        pl.col(ROW), pl.col("__reason").alias("reason"),
        pl.concat_str([pl.col(c.name).fill_null("") for c in spec], separator=",").alias("raw"))
    good = df.filter(pl.col("__reason").is_null()).select(
        [pl.col(f"__t_{c.name}").alias(c.name) for c in spec] + [pl.col(ROW)])
    # keep declared dtypes even when the frame is empty
    good = good.with_columns([pl.col(c.name).cast(_polars_dtype(c.dtype)) for c in spec])
    return Validated(good=good, bad=bad)


def _polars_dtype(dtype):
    if dtype == pl.Datetime:
        return pl.Datetime("us", "UTC")
    return dtype
