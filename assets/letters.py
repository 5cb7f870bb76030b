"""Administration letters: the citizens' complaints register, the facts of each formal notice, the
letters (DOCX + PDF drafts on the city's letterhead, every figure from a mart row) with their
review status, their translations through the optional language-model endpoint, and the audit
log of every generated text. Models: models/admin/letters.py, letter_templates.py, translate.py;
tables: transforms/admin_letters.py; checks: quality/suites_admin_letters.py.
"""

import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from quality import suites_admin_letters as QL
from quality.checks import table_check
from transforms import admin_letters as T

from .catalog import gold_asset_args
from .communes import placed
from .lake import Lake, LakeResource, move_to_quarantine, table_metadata
from .layers import OWNERS, gold, gold_key, silver_key

GROUP = "administration"
COMPLAINTS_DIR, REVIEWS_DIR, REQUESTS_DIR = "admin/complaints", "admin/letter_reviews", "admin/translation_requests"
# names, identifiers and references a translation must keep as they are (figures are kept anyway)
PROTECTED_COLUMNS = {"delegate", "contract_name", "owner", "attendees", "reference", "meeting_title"}


def _csv_files(landing: Path, folder: str) -> list[Path]:
    d = landing / folder
    return sorted(p for p in d.glob("*.csv") if p.is_file()) if d.is_dir() else []


def read_landing_csv(lk: Lake, landing: Path, quarantine_root: Path, folder: str, source: str, parse) -> list:
    """Parse every CSV of ``folder``; a bad row is quarantined with its reason (the rest is kept),
    an unreadable file is moved to quarantine."""
    out, bad = [], []
    for path in _csv_files(landing, folder):
        data, src = path.read_bytes(), f"{folder}/{path.name}"
        ck = hashlib.sha256(data).hexdigest()
        try:
            rows, wrong = parse(data.decode("utf-8"), src)
        except (ValueError, UnicodeDecodeError) as exc:
            dest = move_to_quarantine(path, landing, quarantine_root, source)
            bad.append({"source": source, "delivery": src, "item": src, "reason": str(exc)[:300],
                        "original_path": str(path), "quarantined_path": str(dest), "checksum": ck})
            continue
        out.append(rows)
        bad += [{**b, "source": source, "delivery": src, "checksum": ck} for b in wrong]
    lk.quarantine(bad)
    return out


@dg.asset(key=silver_key("citizen_complaints"), group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "polars"},
          pool="delta:silver/citizen_complaints", automation_condition=dg.AutomationCondition.eager(),
          tags={"layer": "silver"}, metadata={"delta_path": "silver/citizen_complaints", "natural_key": ["reference"]},
          description="Citizens' complaints about the delegated services, from the GRC exports in "
                      "landing/admin/complaints (merged on the reference; a bad row is quarantined).")
def citizen_complaints(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    parts = read_landing_csv(lk, lake.landing, lake.quarantine_root, COMPLAINTS_DIR, "complaints", T.parse_complaints)
    df = pl.concat(parts).unique("reference", keep="last") if parts else pl.DataFrame(schema=T.COMPLAINTS)
    lk.merge("silver", "citizen_complaints", df, ["reference"])
    total = lk.read_or_empty("silver", "citizen_complaints", T.COMPLAINTS)
    return dg.MaterializeResult(metadata=table_metadata(total, extra={"delivered_rows": df.height}))


@dg.asset(key=silver_key("letter_reviews"), group_name=GROUP, owners=OWNERS[GROUP], kinds={"delta", "polars"},
          pool="delta:silver/letter_reviews", automation_condition=dg.AutomationCondition.eager(),
          tags={"layer": "silver"}, metadata={"delta_path": "silver/letter_reviews",
                                              "natural_key": ["document_id", "decision", "decided_at"]},
          description="Agents' review decisions on letters and generated texts (landing/admin/letter_reviews/*.csv: "
                      "document;decision;reviewer;decided_at;comment), kept forever: a re-run never undoes one.")
def letter_reviews(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    lk = lake.lake()
    parts = read_landing_csv(lk, lake.landing, lake.quarantine_root, REVIEWS_DIR, "letter_reviews", T.parse_reviews)
    df = pl.concat(parts) if parts else pl.DataFrame(schema=T.REVIEWS)
    df = df.unique(["document_id", "decision", "decided_at"], keep="first")
    lk.merge("silver", "letter_reviews", df, ["document_id", "decision", "decided_at"], update=False)
    return dg.MaterializeResult(metadata=table_metadata(lk.read_or_empty("silver", "letter_reviews", T.REVIEWS)))


@gold("complaint_register", group=GROUP, deps=[silver_key("citizen_complaints"), silver_key("dsp_contracts"),
                                              gold_key("dsp_complaint_counts")],
      may_be_empty="no complaint delivered")
def complaint_register(lake: Lake):
    """One row per citizen complaint: contract, delegate, category and the count the delegate
    declared for it that year, reply due date (received + 30 days, the city's reception charter)."""
    return T.complaint_register(lake.read_or_empty("silver", "citizen_complaints", T.COMPLAINTS),
                                lake.read("silver", "dsp_contracts"), lake.read("gold", "dsp_complaint_counts"))


@gold("formal_notices", group=GROUP, deps=[gold_key("dsp_findings"), gold_key("dsp_financials"),
                                          gold_key("dsp_kpi_compliance")], may_be_empty="no finding")
def formal_notices(lake: Lake):
    """The facts of a formal notice per DSP finding: figure and reference, obligation or penalty
    clause breached, penalty (EUR), the delegate's reply period (days)."""
    return T.formal_notices(lake.read("gold", "dsp_findings"), lake.read("gold", "dsp_financials"),
                            lake.read("gold", "dsp_kpi_compliance"))


# ---------------------------------------------------------------- the letters

LETTER_INPUTS = ["formal_notices", "complaint_register", "meeting_actions"]


def letters_folder(serving_path: str) -> Path:
    """Letters live beside the DuckDB serving file: <dirname(SERVING_PATH)>/letters/."""
    return Path(serving_path).resolve().parent / "letters"


def draft_letters(lk: Lake, folder: Path) -> pl.DataFrame:
    """Build every letter; write its DOCX and PDF unless an agent already reviewed or sent it (its
    files are then kept as reviewed; ``changed_since_review`` says whether the data moved since)."""
    from models.admin import letters as L

    from transforms.admin import MEETING_ACTIONS

    schemas = {"formal_notices": T.FORMAL_NOTICES, "complaint_register": T.COMPLAINT_REGISTER,
               "meeting_actions": MEETING_ACTIONS}
    marts = {m: lk.read_or_empty("gold", m, schemas[m]) for m in LETTER_INPUTS}
    status = T.latest_decisions(lk.read_or_empty("silver", "letter_reviews", T.REVIEWS))
    status = {r["document_id"]: r for r in status.iter_rows(named=True)}
    old = lk.read_or_empty("gold", "letters", T.LETTERS)
    old = {r["letter_id"]: r for r in old.iter_rows(named=True)}
    now, rows = datetime.now(timezone.utc), []
    for letter in L.build_letters(marts):
        lid, ck, dec = letter["letter_id"], L.checksum(letter), status.get(letter["letter_id"])
        prev = old.get(lid)
        docx, pdf = folder / f"{lid}.docx", folder / f"{lid}.pdf"
        frozen = dec is not None and prev is not None and docx.is_file() and pdf.is_file()
        if not frozen:
            docx, pdf = L.write_letter(letter, folder)
        rows.append({"letter_id": lid, "kind": letter["kind"], "source_id": letter["source_id"],
                     "contract_id": letter["contract_id"], "subject": L._plain(letter["subject"]),
                     "docx_path": str(docx), "pdf_path": str(pdf), "checksum": prev["checksum"] if frozen else ck,
                     "n_figures": len(L.figures(letter)), "figures": T.figures_json(L.figures(letter)),
                     "generation": "deterministic", "status": dec["status"] if dec else "draft",
                     "reviewer": dec["reviewer"] if dec else None, "decided_at": dec["decided_at"] if dec else None,
                     "changed_since_review": bool(frozen and prev["checksum"] != ck),
                     "generated_at": prev["generated_at"] if frozen else now})
    return pl.DataFrame(rows, schema=T.LETTERS)


@dg.asset(**gold_asset_args(
    "letters", group=GROUP, kinds={"delta", "docx", "pdf"},
    deps=[*[gold_key(m) for m in LETTER_INPUTS], silver_key("letter_reviews")],
    description="The letters drafted for the agents to edit and sign (formal notices, complaint replies, meeting "
                "follow-ups; DOCX + PDF on the city's letterhead beside the serving file): figures, status "
                "draft/reviewed/sent from the review decisions, reviewer.",
    may_be_empty="no finding, complaint or meeting"), required_resource_keys={"lake", "serving"})
def letters(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    lk = context.resources.lake.lake()
    folder = letters_folder(context.resources.serving.path)
    t = time.perf_counter()
    df = placed(lk, "letters", draft_letters(lk, folder))   # a letter's DSP contract's commune, stored
    lk.overwrite("gold", "letters", df)
    return dg.MaterializeResult(metadata=table_metadata(df.drop("figures"), extra={
        "folder": dg.MetadataValue.path(str(folder)), "seconds": round(time.perf_counter() - t, 2),
        "by_kind": dg.MetadataValue.json({k: int(n) for k, n in df.group_by("kind").len().iter_rows()}),
        "by_status": dg.MetadataValue.json({k: int(n) for k, n in df.group_by("status").len().iter_rows()})}))


# ---------------------------------------------------------------- translation and the audit log

def translate_requests(lk: Lake, landing: Path, quarantine_root: Path, endpoint: dict | None) -> pl.DataFrame:
    """One row per requested translation; an accepted translation of the same input, model and
    prompt is reused (no new call), anything else is asked again."""
    from models.admin.translate import PROMPT_VERSION, inputs_hash, load_glossary, translate

    reqs = [r for part in read_landing_csv(lk, landing, quarantine_root, REQUESTS_DIR, "translation_requests",
                                           T.parse_translation_requests) for r in part]
    letters_ = {r["letter_id"]: r for r in lk.read_or_empty("gold", "letters", T.LETTERS).iter_rows(named=True)}
    old = {r["translation_id"]: r for r in lk.read_or_empty("gold", "letter_translations", T.TRANSLATIONS)
           .iter_rows(named=True)}
    glossary, now, rows = load_glossary(), datetime.now(timezone.utc), {}
    for q in reqs:
        tid = f"TR_{q['letter_id']}_{q['target_lang']}"
        base = {"translation_id": tid, "letter_id": q["letter_id"], "source_lang": "fr", "target_lang": q["target_lang"],
                "requested_by": q["requested_by"], "prompt_version": PROMPT_VERSION, "created_at": now}
        letter = letters_.get(q["letter_id"])
        if letter is None:
            rows[tid] = {**base, "status": "error", "reason": f"letter {q['letter_id']} not in gold/letters"}
            continue
        text, names = _letter_source(letter)
        ih = inputs_hash(text, "fr", q["target_lang"], names, glossary)
        prev = old.get(tid)
        if prev and prev["status"] == "translated" and prev["inputs_hash"] == ih and endpoint and \
                prev["model"] == endpoint["model"]:
            rows[tid] = prev
            continue
        tr = translate(text, "fr", q["target_lang"], endpoint, names, glossary)
        rows[tid] = {**base, "status": tr.status, "text": tr.text, "reason": tr.reason, "model": tr.model,
                     "endpoint": endpoint["base_url"] if endpoint else None, "inputs_hash": tr.inputs_hash,
                     "raw_output": tr.raw_output}
    return pl.DataFrame(list(rows.values()), schema=T.TRANSLATIONS).sort("translation_id")


def _letter_source(letter: dict) -> tuple[str, list[str]]:
    """The letter's text as drafted (from its DOCX) and the names and references it prints."""
    import json

    from models.admin.letters import docx_text

    figs = json.loads(letter["figures"] or "[]")
    names = sorted({f["text"] for f in figs if f["column"] in PROTECTED_COLUMNS})
    return docx_text(Path(letter["docx_path"]).read_bytes()), names


@dg.asset(**gold_asset_args(
    "letter_translations", group=GROUP, kinds={"delta", "python"}, deps=[gold_key("letters")],
    description="Requested translations of letters (FR -> EN, FR -> IT) through the optional OpenAI-compatible "
                "endpoint: translated, unavailable (no endpoint: no text), rejected (a figure, name or reference "
                "not kept) or error.",
    may_be_empty="no translation requested"), required_resource_keys={"lake", "serving"})
def letter_translations(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    res = context.resources.lake
    lk = res.lake()
    df = translate_requests(lk, res.landing, res.quarantine_root, context.resources.serving.llm_endpoint())
    lk.overwrite("gold", "letter_translations", df)
    return dg.MaterializeResult(metadata=table_metadata(df.drop("raw_output"), extra={
        "by_status": dg.MetadataValue.json({k: int(n) for k, n in df.group_by("status").len().iter_rows()})}))


@gold("ai_audit", group=GROUP, deps=[gold_key("letter_translations"), gold_key("dsp_reports"),
                                    silver_key("letter_reviews")], may_be_empty="no endpoint configured: nothing generated")
def ai_audit(lake: Lake):
    """Every text a language model generated (translations, report narratives): feature, inputs
    hash, model, prompt version, output, check, reviewer's decision (AI Act transparency log; rows
    are kept across runs)."""
    return T.ai_audit(lake.read_or_empty("gold", "ai_audit", T.AI_AUDIT),
                      [T.translation_audit(lake.read_or_empty("gold", "letter_translations", T.TRANSLATIONS)),
                       T.narrative_audit(lake.read_or_empty("gold", "dsp_reports", {}))],
                      lake.read_or_empty("silver", "letter_reviews", T.REVIEWS))


ASSETS = [citizen_complaints, letter_reviews, complaint_register, formal_notices, letters, letter_translations,
          ai_audit]
CHECKS = QL.checks(table_check)
