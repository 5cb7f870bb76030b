"""Blocking Dagster asset checks that run the Great Expectations suites on the lake's tables.

`bronze_check` validates the delivery (partition) just ingested; `silver_check` validates the
whole silver table, including references to reference data. Both are blocking: a failure stops
downstream assets in the same run. The validation itself is a plain function (`check_table`),
testable without Dagster.
"""


from typing import Callable

import dagster as dg
import polars as pl

from .gx_runner import Outcome, validate
from .suites import TableSuite, bronze_suite, expectations, silver_suite


def read_matching(lk, layer: str, table: str, columns: list[str], column: str, values, *,
                  batch_size: int = 256):
    """Record batches of `columns` of the rows of `layer/table` whose string `column` is one of
    `values`, reading only the Delta files whose statistics (min/max of `column`) can hold one of
    them: a survey's frames without the other surveys' JPEGs. The filter casts the column to
    string: delta-rs 1.6 states the files' statistics as string_view while the schema says string,
    and pyarrow 26 has no kernel comparing the two (a plain `isin` filter fails on it)."""
    from urllib.parse import unquote

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    dt = lk.table(layer, table)
    wanted = sorted({str(v) for v in values})
    if dt is None or not wanted:
        return
    keep = set()
    for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist():
        lo, hi = a.get(f"min.{column}"), a.get(f"max.{column}")
        if lo is None or hi is None or any(lo <= v <= hi for v in wanted):   # no statistics: read it
            keep.add(unquote(a["path"]).rsplit("/", 1)[-1])
    ds = dt.to_pyarrow_dataset()
    frags = [f for f in ds.get_fragments() if unquote(f.path).rsplit("/", 1)[-1] in keep]
    sub = pds.FileSystemDataset(frags, ds.schema, ds.format, ds.filesystem)
    flt = pc.field(column).cast(pa.string()).isin(pa.array(wanted, type=pa.string()))
    yield from sub.to_batches(columns=columns, filter=flt, batch_size=batch_size)


def check_table(df: pl.DataFrame, suite: TableSuite, refs: dict[str, list] | None = None) -> Outcome:
    """Validate a frame against a suite (plus reference value sets)."""
    return validate(df, expectations(suite, refs), name=suite.table)


def to_result(outcome: Outcome, *, severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.success, severity=severity,
        description=outcome.summary()[:2000],
        metadata={"expectations": outcome.evaluated, "rows": outcome.rows,
                  "failed_expectations": len(outcome.failed),
                  "failures": dg.MetadataValue.json(outcome.failed[:20])})


def resolve_refs(lake, suite: TableSuite) -> dict[str, list]:
    refs = {}
    for col, (layer, table, rcol) in suite.references.items():
        if lake.exists(layer, table):
            refs[col] = lake.read(layer, table, columns=[rcol])[rcol].drop_nulls().unique().to_list()
        else:
            refs[col] = []  # referenced table missing: every value is an orphan
    return refs


def bronze_check(table: str, partitions_def, group: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(["bronze", table]), name="gx_bronze_suite", blocking=True, required_resource_keys={"lake"},
                    partitions_def=partitions_def,
                    description=f"Great Expectations: types, required fields, ranges, value sets and "
                                f"lineage of the delivery just ingested into bronze/{table}")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lake = context.resources.lake
        lk = lake.lake()
        if not lk.exists("bronze", table):
            return dg.AssetCheckResult(passed=True, description="no rows yet (every delivery quarantined)")
        # the run's deliveries: one, or a batch (a partition range, orchestration/sensors.py)
        df = lk.read("bronze", table, filters=[("_delivery", "in", list(context.partition_keys))])
        return to_result(check_table(df, bronze_suite(table)))

    return _check


def silver_check(table: str) -> dg.AssetChecksDefinition:
    suite = silver_suite(table)

    @dg.asset_check(asset=dg.AssetKey(["silver", table]), name="gx_silver_suite", blocking=True, required_resource_keys={"lake"},
                    description=f"Great Expectations: natural key {list(suite.key)} unique, types, "
                                f"not-null, ranges and references of silver/{table}")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lake = context.resources.lake
        lk = lake.lake()
        df = lk.read("silver", table)
        return to_result(check_table(df, suite, resolve_refs(lk, suite)))

    return _check


def table_check(layer: str, table: str, suite: TableSuite, *, description: str | None = None,
                extra: "Callable[[pl.DataFrame, object], list[str]] | None" = None,
                columns: list[str] | None = None) -> dg.AssetChecksDefinition:
    """A blocking GX check on any lake table (`layer/table`, asset key [layer, table]).

    `extra(df, lake)` may return further failure messages for rules a column expectation cannot
    say (for example "every selected bin is visited or dropped with a reason"); any message fails
    the check and is listed in its metadata. `columns`: read only these (the suite's columns;
    a large column such as stored JPEG bytes is then `extra`'s to check, on what it needs).
    """

    @dg.asset_check(asset=dg.AssetKey([layer, table]), name=f"gx_{layer}_suite", blocking=True,
                    required_resource_keys={"lake"},
                    description=description or f"Great Expectations: key {list(suite.key)} unique, types, "
                                               f"not-null, ranges and references of {layer}/{table}")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lk = context.resources.lake.lake()
        df = lk.read(layer, table, columns=columns)
        outcome = check_table(df, suite, resolve_refs(lk, suite))
        problems = extra(df, lk) if extra else []
        result = to_result(outcome)
        if not problems:
            return result
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.ERROR,
            description=("; ".join(problems) + " | " + (result.description or ""))[:2000],
            metadata={**(result.metadata or {}), "rule_failures": dg.MetadataValue.json(problems[:50])})

    return _check


def contract_check(layer: str, table: str, inputs: list[tuple[str, str]], *, may_be_empty: str = "",
                   description: str | None = None) -> dg.AssetChecksDefinition:
    """The blocking check every published table has (`contract`): the table was written, and
    it is not empty while every lake table it is computed from has rows (a failed or partial
    solve, a broken join, a filter gone wrong publish nothing). `may_be_empty` names why an empty
    table can be right (then it passes, saying so). Domain rules are separate checks
    (`table_check`)."""
    ins = ", ".join(f"{l}/{t}" for l, t in inputs) or "none"

    @dg.asset_check(asset=dg.AssetKey([layer, table]), name="contract", blocking=True,
                    required_resource_keys={"lake"},
                    description=description or f"{layer}/{table} written, and not empty while its inputs "
                                               f"({ins}) have rows" + (f"; may be empty: {may_be_empty}"
                                                                      if may_be_empty else ""))
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lk = context.resources.lake.lake()
        return contract_result(lk, layer, table, inputs, may_be_empty)

    return _check


def contract_result(lk, layer: str, table: str, inputs: list[tuple[str, str]],
                    may_be_empty: str = "") -> dg.AssetCheckResult:
    """`contract_check`'s verdict on the lake as it is (plain function, testable)."""
    if not lk.exists(layer, table):
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   description=f"{layer}/{table} was not written")
    rows = lk.count(layer, table)
    in_rows = {f"{l}/{t}": lk.count(l, t) for l, t in inputs}
    meta = {"rows": rows, "input_rows": dg.MetadataValue.json(in_rows)}
    if rows:
        return dg.AssetCheckResult(passed=True, metadata=meta, description=f"{rows} rows")
    if may_be_empty:
        return dg.AssetCheckResult(passed=True, metadata=meta, description=f"empty, allowed: {may_be_empty}")
    if in_rows and all(in_rows.values()):
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=meta,
                                   description=f"{layer}/{table} is empty although its inputs have rows: {in_rows}")
    return dg.AssetCheckResult(passed=True, metadata=meta,
                               description=f"empty, as an input is empty: {in_rows}")


def unknown_communes(df: pl.DataFrame, communes: list[str]) -> list[str]:
    """The rows of a reference table (DSP contracts, public buyers) whose `commune` is neither a
    commune of the reference data nor the agglomeration: their marts' rows reach no commune file."""
    from transforms.territory import AGGLOMERATION

    known = {*communes, AGGLOMERATION}
    key = df.columns[0]
    bad = df.filter(pl.col("commune").is_not_null() & ~pl.col("commune").is_in(sorted(known)))
    return [f"{k}: commune {c!r} is not a reference commune ({', '.join(sorted(communes))}) nor {AGGLOMERATION!r}"
            for k, c in bad.select(key, "commune").iter_rows()]


def commune_known_check(table: str) -> dg.AssetChecksDefinition:
    """A non-blocking (WARN) check on silver `table`: every `commune` it names is known
    (:func:`unknown_communes`, against silver/communes)."""

    @dg.asset_check(asset=dg.AssetKey(["silver", table]), name="commune_known", blocking=False,
                    required_resource_keys={"lake"},
                    description=f"silver/{table}: every commune named is a reference commune or the agglomeration "
                                "(else the rows stay in the agglomeration file only)")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        lk = context.resources.lake.lake()
        communes = lk.read("silver", "communes")["name"].to_list() if lk.exists("silver", "communes") else []
        problems = unknown_communes(lk.read("silver", table), communes)
        return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.WARN,
                                   description="; ".join(problems)[:2000] or "every commune known",
                                   metadata={"unknown": len(problems)})

    return _check
