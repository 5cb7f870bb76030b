"""Clause extraction from the DSP contract documents (``landing/admin/contracts/*.pdf|docx``) into
``silver/contract_clauses``: one row per contract, field and qualifier with the normalised value,
the raw span, page, paragraph, confidence and rule (models/admin/clauses.py). Registered through
assets/admin.py (ASSETS, CHECKS)."""


import hashlib
import time
from pathlib import Path

import dagster as dg
import polars as pl

from quality import suites_admin as QS
from quality.checks import table_check
from transforms import admin as T

from .lake import Lake, LakeResource, move_to_quarantine, table_metadata
from .layers import OWNERS, gold, silver_key

GROUP = "administration"
CONTRACTS_DIR = "admin/contracts"


def contract_files(landing: Path) -> list[Path]:
    d = landing / CONTRACTS_DIR
    return sorted(p for p in d.glob("*") if p.is_file() and p.suffix.lower() in (".pdf", ".docx")) if d.is_dir() else []


def extract_contract_clauses(lk: Lake, landing: Path, quarantine_root: Path, log=None) -> tuple[pl.DataFrame, dict]:
    """Every contract document's clauses. An unreadable document is moved to quarantine with its
    reason and its contract keeps the rows of the previous run (said in the metadata)."""
    from models.admin.clauses import clause_rows
    from models.documents import UnreadableDocument

    old = lk.read("silver", "contract_clauses") if lk.exists("silver", "contract_clauses") else None
    rows, bad, kept, conflicts = [], [], [], {}
    for path in contract_files(landing):
        data = path.read_bytes()
        ck = hashlib.sha256(data).hexdigest()
        src = f"{CONTRACTS_DIR}/{path.name}"
        try:
            r, conf = clause_rows(data, path.name, src, ck)
        except UnreadableDocument as exc:
            dest = move_to_quarantine(path, landing, quarantine_root, "contracts")
            bad.append({"source": "contracts", "delivery": src, "item": src, "reason": str(exc),
                        "original_path": str(path), "quarantined_path": str(dest), "checksum": ck})
            if old is not None and old.filter(pl.col("source_file") == src).height:
                kept.append(old.filter(pl.col("source_file") == src))
            if log:
                log.warning(f"{src}: quarantined ({exc})")
            continue
        rows.extend(r)
        if conf:
            conflicts[src] = conf
    lk.quarantine(bad)
    df = pl.DataFrame(rows, schema=T.CONTRACT_CLAUSES)
    if kept:
        df = pl.concat([df, *[k.select(list(T.CONTRACT_CLAUSES)) for k in kept]])
    return df.sort("contract_id", "field", "qualifier"), {"quarantined": len(bad), "kept_from_previous_run": len(kept),
                                                           "conflicts_dropped": conflicts}


@dg.asset(key=silver_key("contract_clauses"), group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "python"},
          pool="delta:silver/contract_clauses",
          tags={"layer": "silver"}, metadata={"delta_path": "silver/contract_clauses",
                                              "natural_key": ["contract_id", "field", "qualifier"]},
          description="Clauses of the DSP contract documents (parties, object, duration and dates, fee and its "
                      "indexation, KPI penalty schedule, investments, renewal, termination, annual report "
                      "L3131-5/R3131-2 to 4): normalised value, raw span, page, paragraph, confidence, rule.")
def contract_clauses(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    t = time.perf_counter()
    df, meta = extract_contract_clauses(lk, lake.landing, lake.quarantine_root, context.log)
    lk.overwrite("silver", "contract_clauses", df)
    return dg.MaterializeResult(metadata=table_metadata(df, extra={
        "contracts": df["contract_id"].n_unique(), "quarantined": meta["quarantined"],
        "kept_from_previous_run": meta["kept_from_previous_run"],
        "conflicts_dropped": dg.MetadataValue.json(meta["conflicts_dropped"]),
        "seconds": round(time.perf_counter() - t, 2)}))


@gold("dsp_reporting_obligations", group=GROUP, deps=[silver_key("dsp_report_lines"), silver_key("contract_clauses")])
def dsp_reporting_obligations(lake: Lake):
    """Per contract and report year: the annual report's required contents (the contract's clause,
    else the legal minimum of R3131-3/R3131-4), what was delivered, what is missing, due date (L3131-5)."""
    from transforms.admin_obligations import reporting_obligations

    return reporting_obligations(lake.read("silver", "dsp_report_lines"),
                                 lake.read("silver", "contract_clauses") if lake.exists("silver", "contract_clauses")
                                 else None)


ASSETS = [contract_clauses, dsp_reporting_obligations]
CHECKS = [table_check("gold", "dsp_reporting_obligations", QS.REPORTING_OBLIGATIONS,
                      description="Reporting obligations: one row per contract and year, contents listed, due date"),
          table_check("silver", "contract_clauses", QS.SUITES["contract_clauses"], extra=QS.clauses_valid,
                      description="Clauses: key (contract, field, qualifier) unique, known fields, confidence in "
                                  "[0, 1], page and paragraph >= 1, value and raw span present")]
