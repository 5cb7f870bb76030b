"""Letters end to end on the tiny city (the administration built once, tests/assets/conftest.py):
a formal notice for every DSP finding and a reply for every planted complaint, each figure read
back from the DOCX and the PDF and checked against its mart cell; review decisions arriving as data
and surviving re-runs; translations unavailable without an endpoint, checked and logged with one."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from models.admin import letters as L

pytestmark = pytest.mark.slow


def _marts(lake) -> dict[str, pl.DataFrame]:
    return {m: lake.read("gold", m) for m in L.LETTER_MARTS}


def _run(admin_city, assets, llm=None):
    from assets import letters
    from assets.serving import ServingResource

    res = dict(admin_city["resources"])
    if llm:  # the endpoint as orchestration/settings.py hands it over: on the serving resource
        res["serving"] = ServingResource(path=admin_city["settings"].serving_path, llm_base_url=llm[0],
                                         llm_model=llm[1])
    r = dg.materialize([*assets, *letters.CHECKS], resources=res, raise_on_error=False,
                       selection=[a.key for a in assets])
    bad = [e.event_specific_data.asset_check_key.to_user_string() for e in r.all_events
           if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]
    assert r.success and not bad, bad
    return r


def test_a_letter_for_every_finding_and_every_planted_complaint_with_every_figure_from_its_mart(admin_city):
    lake, truth = admin_city["lake"], admin_city["truth"]
    reg = lake.read("gold", "letters")
    findings = lake.read("gold", "dsp_findings")["finding_id"].to_list()
    planted = json.loads((truth / "complaints.json").read_text())["complaints"]
    assert findings and planted
    assert sorted(reg.filter(pl.col("kind") == "mise_en_demeure")["source_id"].to_list()) == sorted(findings)
    assert sorted(reg.filter(pl.col("kind") == "reponse_reclamation")["source_id"].to_list()) == sorted(planted)
    assert reg.filter(pl.col("kind") == "suite_reunion").height == lake.read("gold", "meeting_actions")["doc_id"].n_unique()
    marts = _marts(lake)
    letters = {x["letter_id"]: x for x in L.build_letters(marts)}
    checked = 0
    for r in reg.iter_rows(named=True):
        figs = json.loads(r["figures"])
        assert figs, r["letter_id"]
        fixed = L.fixed_texts(letters[r["letter_id"]])
        for text in (L.docx_text(Path(r["docx_path"]).read_bytes()), L.pdf_text(Path(r["pdf_path"]).read_bytes())):
            assert L.check_letter(text, figs, marts, r["letter_id"], fixed) == []
            checked += len(figs)
    assert checked > 200
    # the amounts of the notices are the findings' penalties, printed in French format
    kpi = reg.filter(pl.col("source_id").str.contains("kpi_below_target")).row(0, named=True)
    pen = lake.read("gold", "dsp_findings").filter(pl.col("finding_id") == kpi["source_id"])["penalty_eur"][0]
    assert pen > 0 and L.fmt_eur(pen).replace("\u00a0", " ") in L.pdf_text(Path(kpi["pdf_path"]).read_bytes()).replace(
        "\u00a0", " ")


def test_the_check_fails_when_a_figure_differs_from_its_mart_or_a_number_is_added(admin_city):
    lake = admin_city["lake"]
    marts = _marts(lake)
    r = lake.read("gold", "letters").filter(pl.col("kind") == "reponse_reclamation").row(0, named=True)
    figs, text = json.loads(r["figures"]), L.docx_text(Path(r["docx_path"]).read_bytes())
    letter = next(x for x in L.build_letters(marts) if x["letter_id"] == r["letter_id"])
    changed = marts["complaint_register"].with_columns(pl.col("category_count") + 1)
    assert any("category_count" in p for p in L.check_letter(text, figs, {**marts, "complaint_register": changed},
                                                            r["letter_id"], L.fixed_texts(letter)))
    assert any("outside figures" in p for p in L.check_letter(text + " soit 42 jours.", figs, marts, r["letter_id"],
                                                            L.fixed_texts(letter)))


def test_review_decisions_arrive_as_data_and_a_rerun_never_overwrites_them(admin_city):
    from assets import letters

    lake, landing = admin_city["lake"], Path(admin_city["settings"].landing_uri)
    reg = lake.read("gold", "letters").sort("letter_id")
    a, b = reg["letter_id"][0], reg["letter_id"][1]
    d = landing / "admin" / "letter_reviews"
    d.mkdir(parents=True, exist_ok=True)
    (d / "decisions_1.csv").write_text("document;decision;reviewer;decided_at;comment\n"
                                       f"{a};reviewed;C. Marchetti;2026-11-02T10:00:00;relu\n"
                                       f"{b};reviewed;P. Baudin;2026-11-02T10:05:00;\n"
                                       f"{b};sent;P. Baudin;2026-11-03T09:00:00;envoyé en LRAR\n"
                                       f"{a};approuvé;X;2026-11-02;\n", encoding="utf-8")
    pdf_before = Path(reg["pdf_path"][1]).read_bytes()
    steps = [letters.letter_reviews, letters.letters]
    _run(admin_city, steps)
    _run(admin_city, steps)  # a re-run changes nothing
    (d / "decisions_1.csv").unlink()  # even with the decision file gone from the landing zone
    _run(admin_city, steps)
    now = lake.read("gold", "letters").sort("letter_id")
    st = {r["letter_id"]: (r["status"], r["reviewer"]) for r in now.iter_rows(named=True)}
    assert st[a] == ("reviewed", "C. Marchetti") and st[b] == ("sent", "P. Baudin")
    assert Path(now["pdf_path"][1]).read_bytes() == pdf_before
    assert (now["status"] == "draft").sum() == reg.height - 2
    q = lake.read("", "quarantine").filter(pl.col("source") == "letter_reviews")
    assert q.height == 1 and "approuvé" in q["reason"][0]


def test_translation_unavailable_without_endpoint_then_checked_and_logged_through_one(admin_city):
    from assets import letters
    from tests.models.test_admin_translate import _Server, english

    lake = admin_city["lake"]
    tr = lake.read("gold", "letter_translations")
    assert tr.height == 2 and set(tr["status"]) == {"unavailable"} and tr["text"].null_count() == 2
    assert lake.read("gold", "ai_audit").height == 0  # nothing generated, nothing logged
    steps = [letters.letter_translations, letters.ai_audit]
    with _Server(english) as ep:
        _run(admin_city, steps, (ep["base_url"], "echo-test"))
    tr = lake.read("gold", "letter_translations").sort("translation_id")
    assert set(tr["status"]) == {"translated"}, tr["reason"].to_list()
    letters_ = {r["letter_id"]: r for r in lake.read("gold", "letters").iter_rows(named=True)}
    for r in tr.iter_rows(named=True):
        src = L.docx_text(Path(letters_[r["letter_id"]]["docx_path"]).read_bytes())
        for f in json.loads(letters_[r["letter_id"]]["figures"]):
            if any(ch.isdigit() for ch in f["text"]) and f["column"] not in ("subject",):
                assert r["text"].count(f["text"]) >= 1, (r["translation_id"], f["text"])
        assert src.count("2025") == r["text"].count("2025")
    audit = lake.read("gold", "ai_audit")
    assert audit.height == 2 and set(audit["reviewer_decision"]) == {"pending"}
    assert set(audit["model"]) == {"echo-test"} and set(audit["feature"]) == {"translation"}

    def corrupt(m):
        return english(m).replace("[[P3]]", "99", 1)

    with _Server(corrupt) as ep:  # a cached accepted translation is not asked again ...
        _run(admin_city, steps, (ep["base_url"], "echo-test"))
    assert lake.read("gold", "ai_audit").height == 2
    with _Server(corrupt) as ep:  # ... a new model is, and its figure-changing answers are rejected and logged
        _run(admin_city, steps, (ep["base_url"], "corrupt-test"))
    tr = lake.read("gold", "letter_translations")
    assert set(tr["status"]) == {"rejected"} and tr["text"].null_count() == 2
    audit = lake.read("gold", "ai_audit")
    assert audit.height == 4  # the earlier generations stay in the log
    assert set(audit.filter(pl.col("model") == "corrupt-test")["reviewer_decision"]) == {"not_used"}
