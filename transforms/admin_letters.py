"""Pure tables behind the administration's letters: the citizens' complaints register, the facts
of each formal notice (one per DSP finding), the agents' review decisions, the letters' register
and the log of generated texts (AI Act transparency). Polars in, Polars out; no I/O.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, datetime, timedelta, timezone

import polars as pl

# The city's citizen-relations charter: a written answer within 30 days of receipt.
REPLY_DAYS = 30
# A delegate answers a formal notice within 30 days of its receipt (the notice says so).
NOTICE_REPLY_DAYS = 30
LETTER_KINDS = ("mise_en_demeure", "reponse_reclamation", "suite_reunion")
LETTER_STATUSES = ("draft", "reviewed", "sent")
DECISIONS = ("reviewed", "sent")

COMPLAINTS = {"reference": pl.Utf8, "received_on": pl.Date, "channel": pl.Utf8, "contract_id": pl.Utf8,
              "category_code": pl.Utf8, "subject": pl.Utf8, "source_file": pl.Utf8}
COMPLAINT_REGISTER = {"reference": pl.Utf8, "received_on": pl.Date, "channel": pl.Utf8, "contract_id": pl.Utf8,
                      "contract_name": pl.Utf8, "delegate": pl.Utf8, "year": pl.Int64, "category_code": pl.Utf8,
                      "category_label": pl.Utf8, "subject": pl.Utf8, "category_count": pl.Int64,
                      "category_previous_count": pl.Int64, "category_change_pct": pl.Float64,
                      "reply_days": pl.Int64, "reply_due_on": pl.Date}
FORMAL_NOTICES = {"finding_id": pl.Utf8, "contract_id": pl.Utf8, "year": pl.Int64, "contract_name": pl.Utf8,
                  "delegate": pl.Utf8, "finding_type": pl.Utf8, "severity": pl.Utf8, "code": pl.Utf8,
                  "value": pl.Float64, "reference": pl.Float64, "unit": pl.Utf8, "message": pl.Utf8,
                  "penalty_eur": pl.Float64, "clause": pl.Utf8, "clause_source": pl.Utf8, "reply_days": pl.Int64}
REVIEWS = {"document_id": pl.Utf8, "decision": pl.Utf8, "reviewer": pl.Utf8, "decided_at": pl.Datetime("us", "UTC"),
           "comment": pl.Utf8, "source_file": pl.Utf8}
LETTERS = {"letter_id": pl.Utf8, "kind": pl.Utf8, "source_id": pl.Utf8, "contract_id": pl.Utf8, "subject": pl.Utf8,
           "docx_path": pl.Utf8, "pdf_path": pl.Utf8, "checksum": pl.Utf8, "n_figures": pl.Int64,
           "figures": pl.Utf8, "generation": pl.Utf8, "status": pl.Utf8, "reviewer": pl.Utf8,
           "decided_at": pl.Datetime("us", "UTC"), "changed_since_review": pl.Boolean,
           "generated_at": pl.Datetime("us", "UTC")}
AUDIT = {"audit_id": pl.Utf8, "feature": pl.Utf8, "subject_id": pl.Utf8, "inputs_hash": pl.Utf8, "model": pl.Utf8,
         "endpoint": pl.Utf8, "prompt_version": pl.Utf8, "output": pl.Utf8, "check_status": pl.Utf8,
         "created_at": pl.Datetime("us", "UTC")}
AI_AUDIT = {**AUDIT, "reviewer_decision": pl.Utf8, "reviewer": pl.Utf8}
TRANSLATIONS = {"translation_id": pl.Utf8, "letter_id": pl.Utf8, "source_lang": pl.Utf8, "target_lang": pl.Utf8,
                "requested_by": pl.Utf8, "status": pl.Utf8, "text": pl.Utf8, "reason": pl.Utf8, "model": pl.Utf8,
                "endpoint": pl.Utf8, "prompt_version": pl.Utf8, "inputs_hash": pl.Utf8, "raw_output": pl.Utf8,
                "created_at": pl.Datetime("us", "UTC")}

# Which contractual obligation each finding type breaches (the notice quotes it); a KPI finding
# quotes the penalty clause applied (dsp_kpi_compliance.penalty_basis).
OBLIGATIONS = {
    "revenue_drop": "obligation d'information de l'autorité délégante sur l'évolution de l'exploitation "
                    "(article L3131-5 du code de la commande publique et rapport annuel du délégataire)",
    "overhead_above_cap": "plafond contractuel des frais de structure imputés à la délégation",
    "investment_below_plan": "programme d'investissements contractuel",
    "net_loss": "obligation de présenter des comptes de la délégation sincères (article R3131-3 du code de la "
                "commande publique)",
    "ebitda_margin_down": "analyse de la qualité et des conditions économiques de l'exploitation (article R3131-3)",
    "complaints_up": "obligation de qualité du service rendu aux usagers",
    "tariff_above_indexation": "formule d'indexation des tarifs fixée au contrat",
    "return_asset_degraded": "obligation d'entretien des biens de retour",
    "previous_year_mismatch": "obligation de sincérité du rapport annuel (articles L3131-5 et R3131-2 à R3131-4)",
}


def _parse_date(text: str) -> date:
    text = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"date {text!r}: expected JJ/MM/AAAA or AAAA-MM-JJ")


def parse_complaints(text: str, source_file: str) -> tuple[pl.DataFrame, list[dict]]:
    """A GRC export (``reference;date_reception;canal;contrat;categorie;objet``) as rows; a bad row
    comes back in the second list with its line number and reason (the rest is kept)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    need = {"reference", "date_reception", "canal", "contrat", "categorie", "objet"}
    missing = need - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{source_file}: columns missing: {', '.join(sorted(missing))}")
    rows, bad = [], []
    for i, r in enumerate(reader, start=2):
        try:
            ref = (r["reference"] or "").strip()
            if not ref:
                raise ValueError("reference empty")
            if not re.fullmatch(r"CMP_[A-Z_]+", (r["categorie"] or "").strip()):
                raise ValueError(f"categorie {r['categorie']!r}: expected a complaint code CMP_*")
            if not (r["contrat"] or "").strip():
                raise ValueError("contrat empty")
            rows.append({"reference": ref, "received_on": _parse_date(r["date_reception"] or ""),
                         "channel": (r["canal"] or "").strip(), "contract_id": r["contrat"].strip(),
                         "category_code": r["categorie"].strip(), "subject": (r["objet"] or "").strip(),
                         "source_file": source_file})
        except ValueError as exc:
            bad.append({"item": f"{source_file}:{i}", "reason": f"line {i}: {exc}"})
    return pl.DataFrame(rows, schema=COMPLAINTS), bad


def complaint_register(complaints: pl.DataFrame, contracts: pl.DataFrame, counts: pl.DataFrame) -> pl.DataFrame:
    """One row per complaint: its contract and delegate, the count of its category that the
    delegate declared for the year it was received (null when that year's report is not in), and
    the date the city's reply is due (received + REPLY_DAYS)."""
    c = contracts.select("contract_id", pl.col("name").alias("contract_name"), "delegate")
    k = counts.select("contract_id", "year", pl.col("code").alias("category_code"),
                      pl.col("label").alias("category_label"), pl.col("count").cast(pl.Int64).alias("category_count"),
                      pl.col("previous_count").cast(pl.Int64).alias("category_previous_count"),
                      pl.col("change_pct").alias("category_change_pct"))
    df = (complaints.with_columns(pl.col("received_on").dt.year().cast(pl.Int64).alias("year"))
          .join(c, on="contract_id", how="inner")
          .join(k, on=["contract_id", "year", "category_code"], how="left")
          .with_columns(pl.lit(REPLY_DAYS, pl.Int64).alias("reply_days"),
                        (pl.col("received_on") + pl.duration(days=REPLY_DAYS)).alias("reply_due_on")))
    return df.select(list(COMPLAINT_REGISTER)).sort("reference")


def formal_notices(findings: pl.DataFrame, financials: pl.DataFrame, compliance: pl.DataFrame) -> pl.DataFrame:
    """The facts of a formal notice for every finding: the finding's figure and reference, the
    obligation breached (for a missed KPI, the penalty clause applied and where it comes from),
    the penalty (EUR) and the delegate's reply period (days)."""
    names = financials.select("contract_id", "year", "contract_name", "delegate").sort(
        "contract_id", "year", "contract_name", "delegate", nulls_last=True).unique(["contract_id", "year"], keep="first")
    kpi = compliance.select("contract_id", "year", "code", pl.col("penalty_basis").alias("_basis"),
                            pl.col("penalty_schedule").alias("_schedule"))
    df = findings.join(names, on=["contract_id", "year"], how="left").join(kpi, on=["contract_id", "year", "code"],
                                                                          how="left")
    df = df.with_columns(
        pl.when(pl.col("_basis").is_not_null()).then(pl.col("_basis"))
        .otherwise(pl.col("finding_type").replace_strict(OBLIGATIONS, default="stipulations du contrat"))
        .alias("clause"),
        pl.when(pl.col("_schedule").is_not_null()).then(pl.lit("dsp_kpi_compliance.penalty_basis (")
                                                        + pl.col("_schedule") + pl.lit(")"))
        .otherwise(pl.lit("obligation du contrat")).alias("clause_source"),
        pl.lit(NOTICE_REPLY_DAYS, pl.Int64).alias("reply_days"))
    return df.select(list(FORMAL_NOTICES)).sort("finding_id")


def parse_reviews(text: str, source_file: str) -> tuple[pl.DataFrame, list[dict]]:
    """Agents' review decisions (``document;decision;reviewer;decided_at;comment``, decision
    reviewed or sent, decided_at ISO 8601); a bad row comes back with its reason."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    need = {"document", "decision", "reviewer", "decided_at"}
    missing = need - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{source_file}: columns missing: {', '.join(sorted(missing))}")
    rows, bad = [], []
    for i, r in enumerate(reader, start=2):
        try:
            if (r["decision"] or "").strip() not in DECISIONS:
                raise ValueError(f"decision {r['decision']!r}: expected one of {', '.join(DECISIONS)}")
            if not (r["reviewer"] or "").strip() or not (r["document"] or "").strip():
                raise ValueError("document or reviewer empty")
            try:
                at = datetime.fromisoformat((r["decided_at"] or "").strip())
            except ValueError:
                raise ValueError(f"decided_at {r['decided_at']!r}: expected ISO 8601") from None
            at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
            rows.append({"document_id": r["document"].strip(), "decision": r["decision"].strip(),
                         "reviewer": r["reviewer"].strip(), "decided_at": at,
                         "comment": (r.get("comment") or "").strip(), "source_file": source_file})
        except ValueError as exc:
            bad.append({"item": f"{source_file}:{i}", "reason": f"line {i}: {exc}"})
    return pl.DataFrame(rows, schema=REVIEWS), bad


def latest_decisions(reviews: pl.DataFrame) -> pl.DataFrame:
    """Per document, its latest decision; ``sent`` is final (a later ``reviewed`` does not undo it)."""
    if reviews.is_empty():
        return pl.DataFrame(schema={"document_id": pl.Utf8, "status": pl.Utf8, "reviewer": pl.Utf8,
                                    "decided_at": pl.Datetime("us", "UTC")})
    r = reviews.with_columns((pl.col("decision") == "sent").alias("_final")).sort("document_id", "_final",
                                                                                   "decided_at")
    return r.group_by("document_id").agg(pl.col("decision").last().alias("status"), pl.col("reviewer").last(),
                                         pl.col("decided_at").last()).sort("document_id")


def _audit_id(df: pl.DataFrame) -> pl.Expr:
    return pl.concat_str([pl.col(c).fill_null("") for c in ("feature", "subject_id", "inputs_hash", "model",
                                                            "prompt_version", "output")], separator="\x1f"
                         ).map_elements(lambda s: hashlib.sha256(s.encode()).hexdigest()[:24], return_dtype=pl.Utf8)


def translation_audit(translations: pl.DataFrame) -> pl.DataFrame:
    """Log rows of the translations the endpoint answered (accepted or rejected)."""
    t = translations.filter(pl.col("raw_output").is_not_null() | (pl.col("status") == "error"))
    df = t.select(pl.lit("translation").alias("feature"), pl.col("translation_id").alias("subject_id"),
                  "inputs_hash", "model", "endpoint", "prompt_version",
                  pl.coalesce("text", "raw_output", pl.lit("")).alias("output"),
                  pl.when(pl.col("status") == "translated").then(pl.lit("accepted"))
                  .otherwise(pl.col("status") + ": " + pl.col("reason")).alias("check_status"), "created_at")
    return df.with_columns(_audit_id(df).alias("audit_id")).select(list(AUDIT)).cast(AUDIT)


def ai_audit(previous: pl.DataFrame | None, generated: list[pl.DataFrame], reviews: pl.DataFrame) -> pl.DataFrame:
    """Every generated text ever logged (the previous audit's rows are kept, a generation seen
    again keeps its first timestamp) with the reviewer's decision on it: ``pending`` until an agent
    decides on the document it went into; ``not_used`` when the checks rejected it."""
    parts = [g.select(list(AUDIT)).cast(AUDIT) for g in generated if g.height]
    if previous is not None and previous.height:
        parts.insert(0, previous.select(list(AUDIT)).cast(AUDIT))
    log = (pl.concat(parts) if parts else pl.DataFrame(schema=AUDIT)).sort("created_at").unique(
        "audit_id", keep="first")
    dec = latest_decisions(reviews).rename({"document_id": "subject_id", "status": "_decision"})
    df = log.join(dec.select("subject_id", "_decision", "reviewer"), on="subject_id", how="left").with_columns(
        pl.when(pl.col("check_status") != "accepted").then(pl.lit("not_used"))
        .otherwise(pl.col("_decision").fill_null("pending")).alias("reviewer_decision"))
    return df.select(list(AI_AUDIT)).sort("created_at", "audit_id")


def figures_json(figs: list) -> str:
    """The figures of a letter as JSON (text printed, value, mart table, column, row key)."""
    return json.dumps([{"text": f.text, "value": str(f.value), "table": f.table, "column": f.column, "key": f.key}
                       for f in figs], ensure_ascii=False)


def due(d: date, days: int) -> date:
    return d + timedelta(days=days)


def parse_translation_requests(text: str, source_file: str) -> tuple[list[dict], list[dict]]:
    """Translation requests (``lettre;langue;demandeur``; langue en or it, from French); a bad row
    comes back with its reason."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")
    missing = {"lettre", "langue"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{source_file}: columns missing: {', '.join(sorted(missing))}")
    rows, bad = [], []
    for i, r in enumerate(reader, start=2):
        lang = (r["langue"] or "").strip().lower()
        if lang not in ("en", "it") or not (r["lettre"] or "").strip():
            bad.append({"item": f"{source_file}:{i}", "reason": f"line {i}: langue {r['langue']!r} (en or it) "
                                                                   f"or lettre {r['lettre']!r} empty"})
            continue
        rows.append({"letter_id": r["lettre"].strip(), "target_lang": lang,
                     "requested_by": (r.get("demandeur") or "").strip()})
    return rows, bad


def narrative_audit(reports: pl.DataFrame) -> pl.DataFrame:
    """Log rows of the control reports' narratives (one per report whose endpoint answered)."""
    cols = ("narrative_output", "narrative_model", "narrative_prompt_version", "narrative_inputs_hash")
    if reports.is_empty() or any(c not in reports.columns for c in cols):
        return pl.DataFrame(schema=AUDIT)
    r = reports.filter(pl.col("narrative_output").is_not_null())
    df = r.select(
        pl.lit("report_narrative").alias("feature"),
        (pl.col("contract_id") + "/" + pl.col("year").cast(pl.Utf8)).alias("subject_id"),
        pl.col("narrative_inputs_hash").alias("inputs_hash"), pl.col("narrative_model").alias("model"),
        pl.lit(None, pl.Utf8).alias("endpoint"), pl.col("narrative_prompt_version").alias("prompt_version"),
        pl.col("narrative_output").alias("output"),
        pl.when(pl.col("narrative_status") == "accepted").then(pl.lit("accepted"))
        .otherwise(pl.col("narrative_status")).alias("check_status"),
        pl.col("generated_at").alias("created_at"))
    return df.with_columns(_audit_id(df).alias("audit_id")).select(list(AUDIT)).cast(AUDIT)


# Descriptions of the columns these tables publish (merged into transforms/columns.py COLUMN_DOCS).
COLUMN_DOCS = {
    "audit_id": "Identifier of a generated text in the AI audit log (hash of feature, subject, inputs, model, prompt, "
                "output)",
    "category_change_pct": "Year-on-year change of the complaint category's count, %",
    "category_code": "Complaint category code of the delegate's annual report (CMP_*)",
    "category_count": "Complaints of that category the delegate declared for the year",
    "category_previous_count": "Complaints of that category the delegate declared for the year before",
    "category_label": "Complaint category as the delegate's report words it",
    "changed_since_review": "The marts now give a different letter than the one the agent reviewed",
    "channel": "How the complaint reached the city (courrier, courriel, formulaire en ligne, accueil)",
    "check_status": "Outcome of the automatic check of a generated text: accepted, or why rejected",
    "clause": "Contract clause or obligation the finding breaches (for a KPI, the penalty clause applied)",
    "clause_source": "Where the clause comes from (penalty schedule of the contract, its document, or the default)",
    "created_at": "When the text was generated (UTC)",
    "decided_at": "When the agent's review decision was taken (UTC)",
    "docx_path": "Path of the letter's DOCX draft",
    "endpoint": "Language-model endpoint called (base URL)",
    "feature": "Feature that generated the text: translation, report_narrative, letter_polish",
    "figures": "Figures the letter prints, each with its mart table, column and row (JSON)",
    "generation": "How the letter text was written: deterministic (templates) or llm_polished",
    "inputs_hash": "SHA-256 of what the model was given (text, languages, protected items, glossary, prompt)",
    "letter_id": "Letter identifier (MED_ formal notice, REP_ complaint reply, CR_ meeting follow-up)",
    "narrative_inputs_hash": "SHA-256 of the facts and figures given to the model for the narrative",
    "narrative_model": "Model that wrote the narrative (null when none was asked)",
    "narrative_output": "The model's narrative as received, kept or not (audit)",
    "narrative_prompt_version": "Version of the narrative prompt",
    "output": "The generated text (the restored translation, or the model's answer when rejected)",
    "prompt_version": "Version of the prompt used",
    "raw_output": "The model's answer as received, before placeholders were restored",
    "received_on": "Date the city received the complaint",
    "reply_days": "Days allowed for the reply",
    "reply_due_on": "Date the reply is due (received + reply days)",
    "requested_by": "Who asked for the translation",
    "reviewer": "Agent who took the latest review decision",
    "reviewer_decision": "Agent's decision on the generated text: pending, reviewed, sent, or not_used (rejected)",
    "source_id": "Row the letter answers (finding_id, complaint reference or meeting document)",
    "source_lang": "Language translated from (fr, en, it)",
    "subject": "Subject line (letter) or the citizen's subject (complaint)",
    "subject_id": "Document the generated text belongs to (translation_id or contract/year of a report)",
    "target_lang": "Language translated into (fr, en, it)",
    "translation_id": "Translation identifier (TR_<letter_id>_<language>)",
}
