"""Every expectation suite of quality/suites*.py, bronze ones included, passes on a frame that keeps
its promises and fails on one that breaks one of them (issue 23: a passing and a failing case per
suite). The frames are built from the suite's own declaration (types, required columns, key,
ranges, value sets, references), so a new suite is covered the day it is declared."""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from quality.checks import check_table
from quality.suites import TableSuite, bronze_suite
from transforms.parsing import SPECS

MODULES = ["quality.suites", "quality.suites_admin", "quality.suites_marts", "quality.suites_procurement",
           "quality.suites_roads", "quality.suites_trees", "quality.suites_waste"]
N = 3


def all_suites() -> dict[str, TableSuite]:
    found: dict[str, TableSuite] = {}
    for name in MODULES:
        for var, v in vars(importlib.import_module(name)).items():
            items = {var: v} if isinstance(v, TableSuite) else (
                {f"{var}[{k}]": s for k, s in v.items()} if isinstance(v, dict) and v
                and all(isinstance(s, TableSuite) for s in v.values()) else {})
            for label, suite in items.items():
                if all(suite is not s for s in found.values()):
                    found[f"{name.rsplit('.', 1)[1]}.{label}"] = suite
    for source in sorted(SPECS):
        found[f"bronze_suite({source})"] = bronze_suite(source)
    return found


SUITES = all_suites()


def _base(dtype, lo=None, hi=None):
    if dtype == pl.Boolean:
        return True
    if dtype == pl.Date:
        return lo if isinstance(lo, date) else date(2025, 6, 2)
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return lo if isinstance(lo, datetime) else datetime(2025, 6, 2, 8, tzinfo=timezone.utc)
    if dtype in (pl.Int64, pl.Int32, pl.Float64):
        v = lo if lo is not None else (min(hi, 1) if hi is not None else 1)
        return float(v) if dtype == pl.Float64 else int(v)
    return "x"


def _nth(dtype, suite: TableSuite, col: str, i: int):
    """The i-th distinct value of `col` within its range and value set (None when it cannot vary)."""
    if col in suite.in_set:
        allowed = list(suite.in_set[col])
        return allowed[i] if i < len(allowed) else None
    lo, hi = suite.ranges.get(col, (None, None))
    b = _base(dtype, lo, hi)
    if isinstance(b, bool):
        return None
    if isinstance(b, str):
        return f"k{i}"
    if isinstance(b, datetime) or isinstance(b, date):
        return b + timedelta(days=i)
    v = b + i
    return v if hi is None or v <= hi else None


def good_frame(suite: TableSuite) -> pl.DataFrame:
    cols = dict(suite.types)
    for c in suite.ranges:
        cols.setdefault(c, pl.Float64)
    for c in [*suite.not_null, *suite.key, *suite.in_set, *suite.references]:
        cols.setdefault(c, pl.Utf8)
    n = max(N, suite.min_rows)
    data = {}
    for c, t in cols.items():
        lo, hi = suite.ranges.get(c, (None, None))
        v = list(suite.in_set[c])[0] if c in suite.in_set else _base(t, lo, hi)
        data[c] = [v] * n
    if suite.key:   # one key column varies (the first that can), the others stay constant
        for c in suite.key:
            vals = [_nth(cols[c], suite, c, i) for i in range(n)]
            if all(v is not None for v in vals):
                data[c] = vals
                break
        else:
            raise AssertionError(f"{suite.table}: no key column can take {n} distinct values")
    return pl.DataFrame(data, schema=cols)


def broken_frames(suite: TableSuite, good: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """One frame per kind of promise the suite makes, each breaking it."""
    out = {}
    if suite.key:
        out["duplicate key"] = pl.concat([good, good.head(1)])
    if suite.not_null:
        c = suite.not_null[0]
        out[f"null {c}"] = good.with_columns(pl.lit(None, good.schema[c]).alias(c))
    for c, (lo, hi) in suite.ranges.items():
        if good.schema[c] in (pl.Int64, pl.Int32, pl.Float64):
            bad = (hi + 1) if hi is not None else (lo - 1)
            out[f"{c} out of range"] = good.with_columns(pl.lit(bad).cast(good.schema[c]).alias(c))
            break
    for c in suite.in_set:
        if good.schema[c] == pl.Utf8:
            out[f"{c} not in its set"] = good.with_columns(pl.lit("__not_allowed__").alias(c))
            break
    for c, t in suite.types.items():
        if t != pl.Utf8:
            out[f"{c} of the wrong type"] = good.with_columns(pl.col(c).cast(pl.Utf8))
            break
    return out


def refs_for(suite: TableSuite, df: pl.DataFrame) -> dict:
    return {c: df[c].unique().to_list() for c in suite.references}


def failing_cases(suite: TableSuite, good: pl.DataFrame) -> list[tuple[str, pl.DataFrame, dict]]:
    refs = refs_for(suite, good)
    cases = [(why, bad, refs) for why, bad in broken_frames(suite, good).items()]
    if suite.references:   # a value the referenced table does not hold
        c = next(iter(suite.references))
        cases.append((f"unknown {c}", good, {**refs, c: []}))
    return cases


def test_every_suite_is_found():
    assert len(SUITES) >= 90
    for module in MODULES[1:]:
        assert any(k.startswith(module.rsplit(".", 1)[1] + ".") for k in SUITES), module


@pytest.mark.parametrize("i,name", list(enumerate(sorted(SUITES))))
def test_suite_passes_on_a_good_frame_and_fails_on_a_broken_one(i, name):
    """Two GX validations per suite (they cost about a second each): the good frame, and one
    broken promise, a different kind from one suite to the next so that every kind is exercised."""
    suite = SUITES[name]
    good = good_frame(suite)
    ok = check_table(good, suite, refs_for(suite, good))
    assert ok.success, (name, ok.failed[:3])
    cases = failing_cases(suite, good)
    assert cases, f"{name} promises nothing a frame can break"
    why, bad, refs = cases[i % len(cases)]
    out = check_table(bad, suite, refs)
    assert not out.success, f"{name}: passed with {why}"


def test_every_kind_of_promise_is_broken_somewhere():
    kinds = set()
    for i, name in enumerate(sorted(SUITES)):
        suite = SUITES[name]
        cases = failing_cases(suite, good_frame(suite))
        kinds.add(cases[i % len(cases)][0].split(" ")[0] if cases[i % len(cases)][0].startswith(("duplicate", "null",
                                                                                                 "unknown"))
                  else cases[i % len(cases)][0].split(" ", 1)[1])
    assert {"duplicate", "null", "unknown", "out of range", "not in its set", "of the wrong type"} <= kinds, kinds
