"""The control report's drafting on its own: French number formats, the optional language-model
narrative kept only when every number it writes is one of the report's figures."""

from models.admin import narrative as N
from models.admin.report import fmt_eur, fmt_number, fmt_pct


def test_french_formats():
    assert fmt_eur(1234567.0) == "1\u00a0234\u00a0567\u00a0€"
    assert fmt_eur(-266110.0) == "-266\u00a0110\u00a0€"
    assert fmt_pct(-26.34) == "-26,3\u00a0%" and fmt_pct(4.0, signed=True) == "+4,0\u00a0%"
    assert fmt_number(-0.01, 1) == "0,0"


FIGS = ["6\u00a0863\u00a0169\u00a0€", "-26,3\u00a0%", "7,3\u00a0%", "2025"]


def test_narrative_is_off_without_an_endpoint():
    assert N.endpoint_from_env({}) is None
    assert N.draft_narrative("faits", FIGS, endpoint=None).status == "off"
    assert N.endpoint_from_env({"LLM_BASE_URL": "http://x/v1"}) is None  # a model name is required too


def test_narrative_with_the_reports_figures_is_kept():
    ep = {"base_url": "http://llm.invalid/v1", "model": "m"}
    text = "En 2025, le chiffre d'affaires recule de 26,3 % à 6 863 169 € ; la marge d'EBE tombe à 7,3 %."
    n = N.draft_narrative("faits", FIGS, ep, call=lambda e, m: text)
    assert n.status == "accepted" and n.text == text


def test_narrative_with_a_changed_figure_is_dropped():
    ep = {"base_url": "http://llm.invalid/v1", "model": "m"}
    n = N.draft_narrative("faits", FIGS, ep, call=lambda e, m: "Le chiffre d'affaires recule de 26,5 %.")
    assert n.text is None and n.status.startswith("rejected") and "26,5" in n.status


def test_unreachable_endpoint_never_fails_the_report():
    n = N.draft_narrative("faits", FIGS, {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout": 0.5})
    assert n.text is None and n.status.startswith("error")


def test_report_drops_an_unverified_narrative(monkeypatch):
    import polars as pl

    from models.admin import report as R

    ep = N.endpoint_from_env({"LLM_BASE_URL": "http://llm.invalid/v1", "LLM_MODEL": "m"})
    monkeypatch.setattr(N, "chat", lambda e, m: "Le résultat net atteint 999 999 €.")
    fin = pl.DataFrame([{"contract_id": "C", "year": 2025, "contract_name": "n", "revenue_eur": 1.0}])
    empty = pl.DataFrame(schema={"contract_id": pl.Utf8, "year": pl.Int64})
    marts = {k: empty for k in ("dsp_kpi_compliance", "dsp_investment_plan", "dsp_asset_inventory",
                                "dsp_tariff_changes", "dsp_complaint_counts", "dsp_findings")}
    marts["dsp_financials"] = fin
    assert R.build_report("C", 2025, marts, charts=False).narrative_status == "off"  # no endpoint, no call
    rep = R.build_report("C", 2025, marts, charts=False, endpoint=ep)
    assert rep.narrative_status.startswith("rejected") and "999" in rep.narrative_raw and not any(b.kind == "narrative" for b in rep.blocks)
    monkeypatch.setattr(N, "chat", lambda e, m: "Le chiffre d'affaires de 2025 est de 1 €.")
    rep = R.build_report("C", 2025, marts, charts=False, endpoint=ep)
    assert rep.narrative_status == "accepted" and any(b.kind == "narrative" for b in rep.blocks)
    assert "narrative" in R.render_html(rep)
    assert R.build_report("C", 2025, marts, charts=False).narrative_status == "off"   # no endpoint: off
