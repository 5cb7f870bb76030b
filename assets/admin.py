"""Administration: the delegates' annual report data split into DSP tables, the control analysis
and the control reports (HTML + PDF), the document index (redacted, chunked, embedded) with a
similarity search in DuckDB, and the minutes of meeting transcripts."""


import json
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from quality import suites_admin as QS
from quality.checks import table_check
from quality.suites_marts import MARTS
from transforms import admin as T

from . import contracts as CONTRACTS
from .lake import Lake, LakeResource, table_metadata
from .catalog import gold_asset_args
from .communes import placed
from .layers import OWNERS, bronze, gold, gold_key, silver, silver_key

GROUP = "administration"
# torch threads while embedding: fixed, not the machine's core count, so the stored embeddings are the same
# floats on any machine
EMBED_THREADS = 2
LINES = silver_key("dsp_report_lines")


@silver("dsp_report_lines", group=GROUP, deps=[bronze("dsp_report_lines")],
        keys=["contract_id", "year", "section", "code"])
def dsp_report_lines(lake: Lake):
    """The delegates' annual report data as long lines: section (pnl, kpis, investments, assets,
    tariffs, staff, complaints), code, value, previous year's value, target, unit."""
    return T.dsp_report_lines(lake.read("bronze", "dsp_report_lines"))


@silver("documents", group=GROUP, deps=[bronze("documents")], keys=["file"])
def documents(lake: Lake):
    """Administrative documents: format, pages, size of the extracted text, title line."""
    return T.documents(lake.read("bronze", "documents"))


# ---------------------------------------------------------------- DSP silver tables, one per section

def _lines(lake: Lake) -> pl.DataFrame:
    return lake.read("silver", "dsp_report_lines")


@silver("dsp_pnl", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_pnl(lake: Lake):
    """P&L lines per contract and year (EUR) with the previous year's amount; line_kind revenue,
    cost, total or result."""
    return T.dsp_pnl(_lines(lake))


@silver("dsp_kpis", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_kpis(lake: Lake):
    """Contractual quality indicators: value, previous year's, contractual target, direction
    (min: value must reach the target, max: must stay under it), in the KPI's unit."""
    return T.dsp_kpis(_lines(lake))


@silver("dsp_investments", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_investments(lake: Lake):
    """Investment and renewal programme lines: actual and planned spend (EUR), last year's actual."""
    return T.dsp_investments(_lines(lake))


@silver("dsp_assets", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_assets(lake: Lake):
    """Return (retour) and take-back (reprise) assets: condition, net book value (EUR) now and a year ago."""
    return T.dsp_assets(_lines(lake))


@silver("dsp_tariffs", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_tariffs(lake: Lake):
    """Public prices (in the tariff's unit) now and a year ago."""
    return T.dsp_tariffs(_lines(lake))


@silver("dsp_complaints", group=GROUP, deps=[LINES], keys=["contract_id", "year", "code"])
def dsp_complaints(lake: Lake):
    """Users' complaints per category (count) now and a year ago; CMP_TOTAL their sum."""
    return T.dsp_complaints(_lines(lake))


# ---------------------------------------------------------------- control analysis (gold)

@gold("dsp_revenue", group=GROUP, deps=[LINES, silver_key("dsp_contracts")])
def dsp_revenue(lake: Lake):
    """Per DSP contract and year: revenue, EBITDA and net result (EUR), previous year's revenue,
    year-on-year change (%), EBITDA margin (%)."""
    return T.dsp_revenue(_lines(lake), lake.read("silver", "dsp_contracts"))


@gold("dsp_kpi_compliance", group=GROUP, deps=[silver_key("dsp_kpis"), silver_key("dsp_contracts"),
                                             silver_key("contract_clauses")])
def dsp_kpi_compliance(lake: Lake):
    """Per contract, year and KPI: value against the contractual target, compliant, shortfall (KPI
    unit and % of target), penalty (EUR) under the standard clause."""
    return T.kpi_compliance(lake.read("silver", "dsp_kpis"), lake.read("silver", "dsp_contracts"),
                            lake.read("silver", "contract_clauses") if lake.exists("silver", "contract_clauses") else None)


@gold("dsp_investment_plan", group=GROUP, deps=[silver_key("dsp_investments")])
def dsp_investment_plan(lake: Lake):
    """Investments and renewals against plan: planned, actual, variance (EUR), realisation (%)."""
    return T.investment_plan(lake.read("silver", "dsp_investments"))


@gold("dsp_asset_inventory", group=GROUP, deps=[silver_key("dsp_assets")])
def dsp_asset_inventory(lake: Lake):
    """Inventory of return and take-back assets: regime, condition, net book value and change (EUR)."""
    return T.asset_inventory(lake.read("silver", "dsp_assets"))


@gold("dsp_tariff_changes", group=GROUP, deps=[silver_key("dsp_tariffs")])
def dsp_tariff_changes(lake: Lake):
    """Public prices: current, previous year's, change (%)."""
    return T.tariff_changes(lake.read("silver", "dsp_tariffs"))


@gold("dsp_complaint_counts", group=GROUP, deps=[silver_key("dsp_complaints")])
def dsp_complaint_counts(lake: Lake):
    """Complaints per category: count, previous year's, change (%), share of the total (%)."""
    return T.complaint_counts(lake.read("silver", "dsp_complaints"))


@gold("dsp_financials", group=GROUP,
      deps=[silver_key("dsp_pnl"), LINES, silver_key("dsp_contracts"), gold_key("dsp_kpi_compliance"),
            silver_key("dsp_investments")])
def dsp_financials(lake: Lake):
    """Per contract and year: contract terms, revenue, opex, EBITDA and margin, net result,
    overhead share against the cap, year-on-year changes (%), investments against plan, staff,
    complaints, KPIs missed and penalties (EUR)."""
    return T.financials(lake.read("silver", "dsp_pnl"), _lines(lake), lake.read("silver", "dsp_contracts"),
                        lake.read("gold", "dsp_kpi_compliance"), lake.read("silver", "dsp_investments"))


@gold("dsp_findings", group=GROUP,
      deps=[gold_key("dsp_financials"), gold_key("dsp_kpi_compliance"), gold_key("dsp_investment_plan"),
            gold_key("dsp_asset_inventory"), gold_key("dsp_tariff_changes"), LINES])
def dsp_findings(lake: Lake):
    """Control findings: type, severity (high/medium/low), figure and reference, message,
    recommendation, penalty (EUR) and the report rows behind it (evidence, JSON)."""
    return T.findings(lake.read("gold", "dsp_financials"), lake.read("gold", "dsp_kpi_compliance"),
                      lake.read("gold", "dsp_investment_plan"), lake.read("gold", "dsp_asset_inventory"),
                      lake.read("gold", "dsp_tariff_changes"), _lines(lake))


# ---------------------------------------------------------------- control reports

REPORT_MARTS = ["dsp_financials", "dsp_kpi_compliance", "dsp_investment_plan", "dsp_asset_inventory",
                "dsp_tariff_changes", "dsp_complaint_counts", "dsp_findings"]
DSP_REPORTS = {"contract_id": pl.Utf8, "year": pl.Int64, "html_path": pl.Utf8, "pdf_path": pl.Utf8,
               "status": pl.Utf8, "summary": pl.Utf8, "n_findings": pl.Int64, "n_findings_high": pl.Int64,
               "penalties_eur": pl.Float64, "n_figures": pl.Int64, "sections": pl.Utf8,
               "narrative_status": pl.Utf8, "seconds": pl.Float64, "generated_at": pl.Datetime("us", "UTC"),
               "narrative_output": pl.Utf8, "narrative_model": pl.Utf8, "narrative_prompt_version": pl.Utf8,
               "narrative_inputs_hash": pl.Utf8}


def reports_folder(serving_path: str) -> Path:
    """Reports live beside the DuckDB serving file: <dirname(SERVING_PATH)>/reports/."""
    return Path(serving_path).resolve().parent / "reports"


def generate_reports(lake: Lake, folder: Path, endpoint: dict | None = None) -> pl.DataFrame:
    """Draft, render and write every contract-year's report (with an LLM narrative when
    `endpoint` names one); the dsp_reports rows (the narrative answered, kept or not, for the audit log)."""
    from models.admin.narrative import PROMPT_VERSION
    from models.admin.report import build_report, write_report

    marts = {m: lake.read("gold", m) for m in REPORT_MARTS}
    rows = []
    now = datetime.now(timezone.utc)
    for cid, year in marts["dsp_financials"].select("contract_id", "year").sort("contract_id", "year").iter_rows():
        t = time.perf_counter()
        rep = build_report(cid, year, marts, endpoint=endpoint)
        html_path, pdf_path = write_report(rep, folder)
        fnd = marts["dsp_findings"].filter((pl.col("contract_id") == cid) & (pl.col("year") == year))
        fin = marts["dsp_financials"].filter((pl.col("contract_id") == cid) & (pl.col("year") == year)).row(0, named=True)
        rows.append({"contract_id": cid, "year": year, "html_path": str(html_path), "pdf_path": str(pdf_path),
                     "status": "draft", "summary": rep.summary, "n_findings": fnd.height,
                     "n_findings_high": int((fnd["severity"] == "high").sum()), "penalties_eur": fin["penalties_eur"],
                     "n_figures": len(rep.figures()), "sections": ",".join(rep.sections()),
                     "narrative_status": rep.narrative_status, "seconds": round(time.perf_counter() - t, 3),
                     "generated_at": now, "narrative_output": rep.narrative_raw,
                     "narrative_model": endpoint["model"] if rep.narrative_raw is not None else None,
                     "narrative_prompt_version": PROMPT_VERSION if rep.narrative_raw is not None else None,
                     "narrative_inputs_hash": rep.narrative_inputs_hash})
    return pl.DataFrame(rows, schema=DSP_REPORTS)


@dg.asset(**gold_asset_args(
    "dsp_reports", group=GROUP, kinds={"delta", "pdf", "html"}, deps=[gold_key(m) for m in REPORT_MARTS],
    description="One control report per DSP contract and year: HTML and PDF paths, status, one-line summary, "
                "findings, penalties (EUR)."), required_resource_keys={"lake", "serving"})
def dsp_reports(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # the lake, and the serving resource: where the DuckDB file is (reports go beside it) and the
    # reports' optional LLM endpoint
    lk = context.resources.lake.lake()
    folder = reports_folder(context.resources.serving.path)
    t = time.perf_counter()
    df = placed(lk, "dsp_reports", generate_reports(lk, folder, context.resources.serving.llm_endpoint()))
    lk.overwrite("gold", "dsp_reports", df)
    context.log.info(f"{df.height} control reports written under {folder}")
    return dg.MaterializeResult(metadata=table_metadata(df.drop("summary"), extra={
        "folder": dg.MetadataValue.path(str(folder)), "seconds": round(time.perf_counter() - t, 2),
        "seconds_per_report": round(float(df["seconds"].mean() or 0), 3),
        "summaries": dg.MetadataValue.md("\n".join(f"- {s}" for s in df["summary"].to_list()) or "_none_")}))


# ---------------------------------------------------------------- documents: index and minutes

CHUNKS = {"chunk_id": pl.Utf8, "doc_id": pl.Utf8, "doc_type": pl.Utf8, "doc_format": pl.Utf8, "title": pl.Utf8,
          "chunk_no": pl.Int64, "text": pl.Utf8, "n_words": pl.Int64, "redactions": pl.Utf8, "checksum": pl.Utf8,
          "model": pl.Utf8, "embedding": pl.List(pl.Float32)}
MINUTES = {"doc_id": pl.Utf8, "title": pl.Utf8, "meeting_date": pl.Date, "place": pl.Utf8, "attendees": pl.Utf8,
           "decisions": pl.Utf8, "actions": pl.Utf8, "checksum": pl.Utf8}


def _document_files(lk: Lake, landing: Path) -> list[tuple[str, Path, str]]:
    """(doc_id, path, checksum) of every registered document still in the landing zone."""
    if not lk.exists("silver", "documents"):
        return []
    docs = lk.read("silver", "documents").select("source_file", "checksum").sort("source_file")
    return [(src, landing / src, ck) for src, ck in docs.iter_rows() if (landing / src).is_file()]


def index_documents(lk: Lake, landing: Path, log=None, key: str | None = None) -> pl.DataFrame:
    """Redacted (PII hashes keyed with `key`), chunked, embedded documents; a document whose bytes
    did not change keeps its chunks and vectors from the previous run (no re-embedding)."""
    from models.documents import UnreadableDocument
    from models.documents.indexing import chunk_rows, embed_rows

    old = lk.read("silver", "document_chunks") if lk.exists("silver", "document_chunks") else pl.DataFrame(schema=CHUNKS)
    keep, fresh = [], []
    for doc_id, path, ck in _document_files(lk, landing):
        prev = old.filter((pl.col("doc_id") == doc_id) & (pl.col("checksum") == ck))
        if prev.height:
            keep.append(prev)
            continue
        try:
            fresh.extend(chunk_rows(path.read_bytes(), doc_id, ck, key))
        except UnreadableDocument as exc:  # bronze quarantines these; a file changed since is skipped
            if log:
                log.warning(f"{doc_id}: not indexed ({exc})")
    embed_rows(fresh)
    parts = [*keep, pl.DataFrame(fresh, schema=CHUNKS)] if fresh else keep
    return (pl.concat(parts) if parts else pl.DataFrame(schema=CHUNKS)).select(list(CHUNKS)).sort("doc_id", "chunk_no")


@dg.asset(key=silver_key("document_chunks"), deps=[silver_key("documents")], group_name=GROUP,
          owners=OWNERS[GROUP], kinds={"delta", "torch"}, pool="delta:silver/document_chunks",
          description="Documents redacted (e-mails, phones, IBANs, names, addresses), cut into chunks and "
                      "embedded (all-MiniLM-L6-v2 from its package, 384 floats); the raw text is never stored.",
          tags={"layer": "silver"},
          metadata={"delta_path": "silver/document_chunks"})
def document_chunks(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    import torch

    torch.set_num_threads(EMBED_THREADS)
    lk = lake.lake()
    t = time.perf_counter()
    df = index_documents(lk, lake.landing, context.log, lake.pii_hash_key)
    lk.overwrite("silver", "document_chunks", df)
    red: dict[str, int] = {}
    for doc_id, counts in df.select("doc_id", "redactions").unique().iter_rows():
        for k, v in json.loads(counts or "{}").items():
            red[k] = red.get(k, 0) + v
    return dg.MaterializeResult(metadata=table_metadata(df.drop("embedding"), extra={
        "documents": df["doc_id"].n_unique(), "redactions": dg.MetadataValue.json(red),
        "seconds": round(time.perf_counter() - t, 2)}))


@dg.asset(key=silver_key("meeting_minutes"), deps=[silver_key("documents")], group_name=GROUP,
          owners=OWNERS[GROUP], kinds={"delta", "python"}, pool="delta:silver/meeting_minutes",
          description="Structured minutes of meeting transcripts: title, date, place, attendees, decisions, "
                      "actions with owner and due date (JSON lists).",
          tags={"layer": "silver"},
          metadata={"delta_path": "silver/meeting_minutes"})
def meeting_minutes(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.documents import UnreadableDocument
    from models.documents.indexing import minutes_row

    lk = lake.lake()
    rows = []
    for doc_id, path, ck in _document_files(lk, lake.landing):
        try:
            m = minutes_row(path.read_bytes(), doc_id)
        except UnreadableDocument as exc:
            context.log.warning(f"{doc_id}: no minutes ({exc})")
            continue
        if m:
            m["meeting_date"] = datetime.fromisoformat(m["meeting_date"]).date() if m["meeting_date"] else None
            rows.append({**m, "checksum": ck})
    df = pl.DataFrame(rows, schema=MINUTES)
    lk.overwrite("silver", "meeting_minutes", df)
    return dg.MaterializeResult(metadata=table_metadata(df))


# The DuckDB side of the index: the column as a fixed-size FLOAT[384] array and a table macro
# ranking chunks by cosine similarity to a query vector (from `lakehouse search` or any client
# that embeds with the same model). The empty table keeps the macro valid in a file published
# without the administration marts. Declared on the document_index spec (`serving_sql`).
INDEX_SQL = (
    "CREATE TABLE IF NOT EXISTS administration.document_index (chunk_id VARCHAR, doc_id VARCHAR, "
    "doc_type VARCHAR, doc_format VARCHAR, title VARCHAR, chunk_no BIGINT, text VARCHAR, n_words BIGINT, "
    "model VARCHAR, embedding FLOAT[384])",
    "ALTER TABLE administration.document_index ALTER embedding TYPE FLOAT[384]",
    "CREATE OR REPLACE MACRO administration.search(query_vec, k) AS TABLE "
    "SELECT doc_id, chunk_no, title, text, "
    "array_cosine_similarity(embedding, CAST(query_vec AS FLOAT[384])) AS score "
    "FROM administration.document_index ORDER BY score DESC LIMIT k",
    "CREATE OR REPLACE MACRO administration.search_documents(query_vec, k) AS TABLE "
    "SELECT doc_id, max(array_cosine_similarity(embedding, CAST(query_vec AS FLOAT[384]))) AS score, "
    "arg_max(chunk_no, array_cosine_similarity(embedding, CAST(query_vec AS FLOAT[384]))) AS best_chunk "
    "FROM administration.document_index GROUP BY doc_id ORDER BY score DESC LIMIT k",
)


@gold("document_index", group=GROUP, deps=[silver_key("document_chunks")], kinds={"delta", "duckdb"},
      serving_sql=INDEX_SQL)
def document_index(lake: Lake):
    """Searchable chunks of the city's documents: document, type, title, chunk number, redacted
    text, embedding (FLOAT[384], all-MiniLM-L6-v2); search with administration.search(vec, k)."""
    return T.document_index(lake.read("silver", "document_chunks"))


@gold("meeting_actions", group=GROUP, deps=[silver_key("meeting_minutes")])
def meeting_actions(lake: Lake):
    """One row per action decided in a meeting: meeting, date, owner, action, due date, and the
    meeting's decisions and attendees (JSON)."""
    return T.meeting_actions(lake.read("silver", "meeting_minutes"))


ASSETS = [dsp_report_lines, documents, dsp_pnl, dsp_kpis, dsp_investments, dsp_assets, dsp_tariffs, dsp_complaints,
          dsp_revenue, dsp_kpi_compliance, dsp_investment_plan, dsp_asset_inventory, dsp_tariff_changes,
          dsp_complaint_counts, dsp_financials, dsp_findings, dsp_reports, document_chunks, meeting_minutes,
          document_index, meeting_actions, *CONTRACTS.ASSETS]

S = QS.SUITES
CHECKS = [
    table_check("silver", "dsp_pnl", S["dsp_pnl"], extra=QS.totals_and_previous("pnl"),
                description="P&L lines: key, types, contract known; totals add up (revenue, opex, EBITDA, EBIT, "
                            "net result) and the previous year's figures are present"),
    table_check("silver", "dsp_kpis", S["dsp_kpis"], extra=QS.kpi_targets,
                description="KPIs: key, types, contract known; every KPI has a target and a direction"),
    table_check("silver", "dsp_investments", S["dsp_investments"], extra=QS.investment_plan,
                description="Investments: planned amount on every line, INV_TOTAL adds up, previous year present"),
    table_check("silver", "dsp_assets", S["dsp_assets"], extra=QS.totals_and_previous("assets")),
    table_check("silver", "dsp_tariffs", S["dsp_tariffs"], extra=QS.totals_and_previous("tariffs")),
    table_check("silver", "dsp_complaints", S["dsp_complaints"], extra=QS.totals_and_previous("complaints"),
                description="Complaints: CMP_TOTAL adds up, previous year present"),
    table_check("gold", "dsp_financials", S["dsp_financials"]),
    table_check("gold", "dsp_kpi_compliance", S["dsp_kpi_compliance"]),
    table_check("gold", "dsp_findings", S["dsp_findings"]),
    table_check("gold", "dsp_reports", S["dsp_reports"], extra=QS.reports_complete,
                description="One report per contract and year, HTML and PDF files present"),
    table_check("silver", "document_chunks", S["document_chunks"], extra=QS.index_redacted,
                description="Chunks: key unique, every chunk of a registered document, 384-float embeddings, "
                            "no e-mail/phone/IBAN left in the redacted text"),
    table_check("silver", "meeting_minutes", S["meeting_minutes"],
                description="Minutes: one row per registered transcript, actions present"),
    table_check("gold", "document_index", S["document_index"], extra=QS.index_redacted,
                description="Index: chunk key unique, 384-float embeddings, no e-mail/phone/IBAN left"),
    *[table_check("gold", t, MARTS[t]) for t in ("dsp_revenue", "dsp_asset_inventory", "dsp_complaint_counts",
                                                  "dsp_investment_plan", "dsp_tariff_changes", "meeting_actions")],
    *CONTRACTS.CHECKS,
]
