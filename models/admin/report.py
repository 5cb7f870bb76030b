"""The authority's control report on a public-service delegation, one per contract and year.

The report is drafted deterministically from the administration marts: :func:`build_report`
turns mart rows into a list of blocks (headings, paragraphs, tables, charts) whose every number
is a :class:`Fig` carrying the mart, column and row it comes from; :func:`render_html` writes
each figure as ``<data value=... data-src="table.column" data-key=...>`` (so any reader, and the
tests, can trace it back), :func:`render_pdf` lays the same blocks out with reportlab. Charts are
matplotlib PNGs of the same figures. Sections (ids): contract_summary, financial_analysis,
investments, assets, tariffs, quality_kpis, complaints, findings_penalties, recommendations.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

SECTIONS = [
    ("contract_summary", "Synthèse du contrat"),
    ("financial_analysis", "Analyse financière"),
    ("investments", "Investissements et renouvellements"),
    ("assets", "Patrimoine : biens de retour et de reprise"),
    ("tariffs", "Tarifs et indexation"),
    ("quality_kpis", "Qualité du service : indicateurs contractuels"),
    ("complaints", "Réclamations des usagers"),
    ("findings_penalties", "Constats et pénalités"),
    ("recommendations", "Recommandations"),
]
NBSP = "\u00a0"
SEVERITY_FR = {"high": "majeur", "medium": "significatif", "low": "mineur"}
DIRECTION_FR = {"min": "minimum", "max": "maximum"}
REGIME_FR = {"retour": "bien de retour", "reprise": "bien de reprise"}


# ----------------------------------------------------------------------------- formatting

def _group(int_text: str) -> str:
    neg = int_text.startswith("-")
    d = int_text.lstrip("-")
    parts = []
    while len(d) > 3:
        parts.insert(0, d[-3:])
        d = d[:-3]
    parts.insert(0, d)
    return ("-" if neg else "") + NBSP.join(parts)


def fmt_number(v: float, decimals: int = 0, signed: bool = False) -> str:
    """French number: thin grouping by no-break spaces, decimal comma ('1 234,5')."""
    s = f"{v:.{decimals}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    ip, _, dp = s.partition(".")
    out = _group(ip) + ("," + dp if dp else "")
    if signed and not out.startswith("-"):
        out = "+" + out
    return out


def fmt_auto(v: float) -> str:
    """As many decimals as the value has (0 to 2)."""
    for d in (0, 1, 2):
        if abs(round(v, d) - v) < 1e-9:
            return fmt_number(v, d)
    return fmt_number(v, 2)


def fmt_eur(v: float) -> str:
    return fmt_number(v, 0) + NBSP + "€"


def fmt_pct(v: float, decimals: int = 1, signed: bool = False) -> str:
    return fmt_number(v, decimals, signed) + NBSP + "%"


def fmt_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


@dataclass(frozen=True)
class Fig:
    """A figure printed in the report, with the mart row it comes from."""

    text: str
    value: object
    table: str
    column: str
    key: str  # the row: contract_id/year[/code or finding_id]


@dataclass(frozen=True)
class Cite:
    """A reference printed as is (legal article, contract or indicator code), never a figure."""

    text: str


Span = str | Fig | Cite


@dataclass
class Block:
    kind: str  # heading | para | table | chart | bullets | narrative
    spans: list = field(default_factory=list)        # para/heading: list[Span]; bullets: list[list[Span]]
    header: list[str] = field(default_factory=list)  # table
    rows: list = field(default_factory=list)         # table: list[list[list[Span]]]
    png: bytes = b""                                  # chart
    caption: str = ""
    section: str = ""


@dataclass
class Report:
    contract_id: str
    year: int
    title: str
    blocks: list[Block]
    summary: str
    narrative_status: str = "off"
    narrative_raw: str | None = None  # the model's answer (audit log), accepted or not
    narrative_inputs_hash: str | None = None  # sha256 of the facts and figures the model was given

    def figures(self) -> list[Fig]:
        out = []
        for b in self.blocks:
            seqs = [b.spans] if b.kind in ("para", "heading", "narrative") else (
                b.spans if b.kind == "bullets" else [c for r in b.rows for c in r])
            for seq in seqs:
                out.extend(s for s in seq if isinstance(s, Fig))
        return out

    def sections(self) -> list[str]:
        return [b.section for b in self.blocks if b.kind == "heading" and b.section]


class Row:
    """Figures of one mart row: ``row.eur('revenue_eur')`` gives a :class:`Fig` (or a dash)."""

    def __init__(self, table: str, row: dict, key: str):
        self.table, self.row, self.key = table, row, key

    def fig(self, column: str, fmt) -> Span:
        v = self.row.get(column)
        if v is None:
            return "–"
        return Fig(fmt(v), v, self.table, column, self.key)

    def eur(self, c: str) -> Span:
        return self.fig(c, fmt_eur)

    def pct(self, c: str, decimals: int = 1, signed: bool = False) -> Span:
        return self.fig(c, lambda v: fmt_pct(v, decimals, signed))

    def num(self, c: str) -> Span:
        return self.fig(c, fmt_auto)

    def text(self, c: str) -> Span:
        return self.fig(c, str)

    def date(self, c: str) -> Span:
        return self.fig(c, fmt_date)


# ----------------------------------------------------------------------------- charts

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def chart_financials(f: dict) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    labels = ["Chiffre d'affaires", "Charges d'exploitation", "EBE", "Résultat net"]
    cur = [f["revenue_eur"], f["opex_eur"], f["ebitda_eur"], f["net_result_eur"]]
    prev = [f["previous_revenue_eur"], f["previous_opex_eur"], f["previous_ebitda_eur"], f["previous_net_result_eur"]]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], [(v or 0) / 1e6 for v in prev], 0.4, label="N-1", color="#9bb7d4")
    ax.bar([i + 0.2 for i in x], [(v or 0) / 1e6 for v in cur], 0.4, label="N", color="#1f4e79")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("M€")
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=8)
    ax.set_title("Compte de résultat : N-1 et N", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def chart_investments(rows: list[dict]) -> bytes:
    plt = _plt()
    lines = [r for r in rows if not r["is_total"]]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(lines))))
    y = list(range(len(lines)))
    ax.barh([i + 0.2 for i in y], [(r["planned_eur"] or 0) / 1e3 for r in lines], 0.4, label="Prévu", color="#bfbfbf")
    ax.barh([i - 0.2 for i in y], [(r["actual_eur"] or 0) / 1e3 for r in lines], 0.4, label="Réalisé", color="#2e75b6")
    ax.set_yticks(y, [r["label"][:45] for r in lines], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("k€")
    ax.legend(fontsize=7)
    ax.set_title("Investissements : réalisé et prévu", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def chart_kpis(rows: list[dict]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(rows))))
    vals, colors = [], []
    for r in rows:
        t, v = r["target"], r["value"]
        ratio = (t / v if r["direction"] == "max" else v / t) * 100 if t and v else 0
        vals.append(ratio)
        colors.append("#2e7d32" if r["compliant"] else "#c62828")
    ax.barh(range(len(rows)), vals, color=colors)
    ax.axvline(100, color="black", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [r["label"][:45] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("niveau atteint, en % de la cible (100 = cible)")
    ax.set_title("Indicateurs contractuels", fontsize=9)
    fig.tight_layout()
    return _png(fig)


# ----------------------------------------------------------------------------- drafting

def _rows(df: pl.DataFrame, cid: str, year: int) -> list[dict]:
    return df.filter((pl.col("contract_id") == cid) & (pl.col("year") == year)).to_dicts()


def build_report(contract_id: str, year: int, marts: dict[str, pl.DataFrame], charts: bool = True,
                 narrative: bool = True, endpoint: dict | None = None) -> Report:
    """Draft the control report of ``contract_id`` for ``year`` from the marts (keys:
    dsp_financials, dsp_kpi_compliance, dsp_investment_plan, dsp_asset_inventory,
    dsp_tariff_changes, dsp_complaint_counts, dsp_findings)."""
    fins = _rows(marts["dsp_financials"], contract_id, year)
    if not fins:
        raise KeyError(f"dsp_financials has no row for {contract_id} {year}")
    f = fins[0]
    key = f"{contract_id}/{year}"
    F = Row("dsp_financials", f, key)
    B: list[Block] = []

    def head(sec: str):
        B.append(Block("heading", [dict(SECTIONS)[sec]], section=sec))

    def para(*spans: Span):
        B.append(Block("para", list(spans)))

    def table(header: list[str], rows: list[list]):
        B.append(Block("table", header=header, rows=[[c if isinstance(c, list) else [c] for c in r] for r in rows]))

    def sub(table_name: str, r: dict, code_col: str = "code") -> Row:
        return Row(table_name, r, f"{key}/{r[code_col]}")

    title = f"Rapport de contrôle de la délégation de service public : {f['contract_name']}"
    # 1 ---------------------------------------------------------------- contract summary
    head("contract_summary")
    para("Rapport de l'autorité délégante sur le rapport annuel du délégataire pour l'exercice ", F.text("year"),
         " (", Cite("articles L3131-5 et R3131-2 à R3131-4 du code de la commande publique"),
         "), présenté à l'assemblée délibérante qui en prend acte (", Cite("article L1411-3 du CGCT"), ").")
    rows = [["Contrat", [Cite(contract_id)]], ["Objet", F.text("contract_name")], ["Délégataire", F.text("delegate")],
            ["Service", F.text("service")], ["Type de contrat", F.text("contract_type")],
            ["Début", F.date("contract_start")], ["Échéance", F.date("contract_end")],
            ["Redevance annuelle contractuelle", F.eur("annual_fee_eur")],
            ["Plafond des frais de structure (% du CA)", F.pct("overhead_cap_pct")],
            ["Effectif en fin d'exercice (personnes)", F.num("staff_headcount")],
            ["Équivalents temps plein", F.num("staff_fte")]]
    if f.get("staff_seasonal") is not None:
        rows.append(["Saisonniers (pic d'été, personnes)", F.num("staff_seasonal")])
    table(["Rubrique", "Valeur"], rows)

    # 2 ---------------------------------------------------------------- financial analysis
    head("financial_analysis")
    para("Le chiffre d'affaires de l'exercice s'établit à ", F.eur("revenue_eur"), " contre ",
         F.eur("previous_revenue_eur"), " l'année précédente (", F.pct("revenue_change_pct", signed=True),
         "). L'excédent brut d'exploitation (EBE) atteint ", F.eur("ebitda_eur"), ", soit une marge de ",
         F.pct("ebitda_margin_pct"), " du chiffre d'affaires (", F.pct("previous_ebitda_margin_pct"),
         " l'année précédente). Le résultat net est de ", F.eur("net_result_eur"), " (", F.pct("net_margin_pct"),
         " du chiffre d'affaires).")
    para("Les frais de structure imputés par le siège s'élèvent à ", F.eur("overhead_eur"), ", soit ",
         F.pct("overhead_share_pct", 2), " du chiffre d'affaires pour un plafond contractuel de ",
         F.pct("overhead_cap_pct"), " (", F.pct("previous_overhead_share_pct", 2), " l'année précédente). Les charges de "
         "personnel représentent ", F.pct("staff_cost_share_pct"), " du chiffre d'affaires ; la redevance "
         "versée à la Ville est de ", F.eur("fee_paid_eur"), ".")
    table(["Poste", "Année précédente", "Exercice", "Variation"], [
        ["Chiffre d'affaires", F.eur("previous_revenue_eur"), F.eur("revenue_eur"), F.pct("revenue_change_pct", signed=True)],
        ["Charges d'exploitation", F.eur("previous_opex_eur"), F.eur("opex_eur"), F.pct("opex_change_pct", signed=True)],
        ["Excédent brut d'exploitation", F.eur("previous_ebitda_eur"), F.eur("ebitda_eur"), F.pct("ebitda_change_pct", signed=True)],
        ["Marge d'EBE (% du CA)", F.pct("previous_ebitda_margin_pct"), F.pct("ebitda_margin_pct"), "–"],
        ["Frais de structure (% du CA)", F.pct("previous_overhead_share_pct", 2), F.pct("overhead_share_pct", 2), "–"],
        ["Dotations aux amortissements", "–", F.eur("depreciation_eur"), "–"],
        ["Résultat d'exploitation", "–", F.eur("ebit_eur"), "–"],
        ["Résultat net", F.eur("previous_net_result_eur"), F.eur("net_result_eur"), F.pct("net_result_change_pct", signed=True)],
    ])
    if charts:
        B.append(Block("chart", png=chart_financials(f), caption="Compte de résultat, année précédente et exercice (M€)"))

    # 3 ---------------------------------------------------------------- investments
    head("investments")
    inv = _rows(marts["dsp_investment_plan"], contract_id, year)
    para("Le programme contractuel d'investissements et de renouvellement prévoyait ", F.eur("investment_planned_eur"),
         " pour l'exercice ; le délégataire déclare ", F.eur("investment_actual_eur"), " de dépenses réalisées, soit un taux "
         "de réalisation de ", F.pct("investment_realisation_pct"), ".")
    table(["Opération", "Prévu", "Réalisé", "Écart", "Réalisation"],
          [[("Total" if r["is_total"] else sub("dsp_investment_plan", r).text("label")), sub("dsp_investment_plan", r).eur("planned_eur"),
            sub("dsp_investment_plan", r).eur("actual_eur"), sub("dsp_investment_plan", r).eur("variance_eur"),
            sub("dsp_investment_plan", r).pct("realisation_pct")] for r in inv])
    if charts and inv:
        B.append(Block("chart", png=chart_investments(inv), caption="Investissements : réalisé et prévu (k€)"))

    # 4 ---------------------------------------------------------------- assets
    head("assets")
    para("Les biens de retour reviennent gratuitement à la Ville au terme du contrat et doivent lui être remis en bon "
         "état ; les biens de reprise peuvent être rachetés par la Ville. Valeurs nettes comptables en fin "
         "d'exercice déclarées par le délégataire :")
    assets = _rows(marts["dsp_asset_inventory"], contract_id, year)
    table(["Bien", "Régime", "État", "VNC année précédente", "VNC fin d'exercice", "Variation"],
          [[sub("dsp_asset_inventory", r).text("label"), REGIME_FR.get(r["regime"], r["regime"] or "–"), r["condition"] or "–",
            sub("dsp_asset_inventory", r).eur("previous_net_book_value_eur"),
            sub("dsp_asset_inventory", r).eur("net_book_value_eur"), sub("dsp_asset_inventory", r).eur("change_eur")]
           for r in assets])

    # 5 ---------------------------------------------------------------- tariffs
    head("tariffs")
    para("Tarifs publics pratiqués, comparés à ceux de l'exercice précédent ; leur évolution doit résulter de la "
         "formule d'indexation du contrat ou d'une délibération tarifaire.")
    tar = _rows(marts["dsp_tariff_changes"], contract_id, year)
    table(["Prestation", "Unité", "Tarif précédent", "Tarif actuel", "Évolution"],
          [[sub("dsp_tariff_changes", r).text("label"), sub("dsp_tariff_changes", r).text("unit"), sub("dsp_tariff_changes", r).num("previous_price"),
            sub("dsp_tariff_changes", r).num("price"), sub("dsp_tariff_changes", r).pct("change_pct", signed=True)]
           for r in tar])

    # 6 ---------------------------------------------------------------- KPIs
    head("quality_kpis")
    kpis = _rows(marts["dsp_kpi_compliance"], contract_id, year)
    para("Indicateurs contractuels non atteints : ", F.num("kpis_missed"), " sur ", F.num("kpis_total"),
         ". Pénalités applicables au titre de la qualité : ", F.eur("penalties_eur"), ".")
    table(["Indicateur", "Unité", "Cible", "Année précédente", "Exercice", "Conforme", "Écart", "Pénalité"],
          [[sub("dsp_kpi_compliance", r).text("label"), sub("dsp_kpi_compliance", r).text("unit"),
            [DIRECTION_FR.get(r["direction"], "") + " ", sub("dsp_kpi_compliance", r).num("target")],
            sub("dsp_kpi_compliance", r).num("previous_value"), sub("dsp_kpi_compliance", r).num("value"),
            "oui" if r["compliant"] else "non", sub("dsp_kpi_compliance", r).num("shortfall"),
            sub("dsp_kpi_compliance", r).eur("penalty_eur")] for r in kpis])
    missed = [r for r in kpis if not r["compliant"] and r.get("penalty_basis")]
    if missed:   # the contract's own penalty schedule, or the city's standard clause (flagged in the text)
        para("Base de calcul des pénalités : ", sub("dsp_kpi_compliance", missed[0]).text("penalty_basis"), ".")
    if charts and kpis:
        B.append(Block("chart", png=chart_kpis(kpis), caption="Niveau atteint par indicateur, rapporté à sa cible (trait vertical)"))

    # 7 ---------------------------------------------------------------- complaints
    head("complaints")
    para("Le délégataire a enregistré ", F.num("complaints_total"), " réclamations contre ",
         F.num("previous_complaints_total"), " l'année précédente (", F.pct("complaints_change_pct", signed=True), ").")
    cmp = _rows(marts["dsp_complaint_counts"], contract_id, year)
    table(["Motif", "Année précédente", "Exercice", "Évolution", "Part"],
          [[("Total" if r["is_total"] else sub("dsp_complaint_counts", r).text("label")), sub("dsp_complaint_counts", r).num("previous_count"),
            sub("dsp_complaint_counts", r).num("count"), sub("dsp_complaint_counts", r).pct("change_pct", signed=True),
            sub("dsp_complaint_counts", r).pct("share_pct")] for r in cmp])

    # 8 ---------------------------------------------------------------- findings and penalties
    head("findings_penalties")
    fnd = _rows(marts["dsp_findings"], contract_id, year)
    if fnd:
        para("Les contrôles appliqués aux données du délégataire (seuils documentés) relèvent les constats suivants. "
             "Total des pénalités applicables : ", F.eur("penalties_eur"), ".")

        def fval(r: dict, col: str) -> Span:
            fr = Row("dsp_findings", r, r["finding_id"])
            return fr.eur(col) if r["unit"] == "EUR" else fr.num(col)

        table(["Gravité", "Constat", "Code", "Valeur", "Référence", "Unité", "Pénalité"],
              [[SEVERITY_FR.get(r["severity"], r["severity"]), Row("dsp_findings", r, r["finding_id"]).text("message"),
                [Cite(r["code"])], fval(r, "value"), fval(r, "reference"), Row("dsp_findings", r, r["finding_id"]).text("unit"), Row("dsp_findings", r, r["finding_id"]).eur("penalty_eur")]
               for r in fnd])
    else:
        para("Aucun des contrôles appliqués aux données du délégataire ne relève d'anomalie pour cet exercice ; "
             "aucune pénalité n'est applicable.")

    # 9 ---------------------------------------------------------------- recommendations
    head("recommendations")
    recs, seen = [], set()
    for r in fnd:
        if r["recommendation"] not in seen:
            seen.add(r["recommendation"])
            recs.append([Row("dsp_findings", r, r["finding_id"]).text("recommendation")])
    recs.append(["Transmettre le présent rapport au délégataire et l'inscrire à l'ordre du jour de la prochaine "
                 "séance du conseil municipal."])
    B.append(Block("bullets", spans=recs))

    # summary line for the dsp_reports mart
    n_high = sum(r["severity"] == "high" for r in fnd)
    summary_spans = [Cite(contract_id), " ", F.text("year"), " : CA ", F.eur("revenue_eur"), " (",
                     F.pct("revenue_change_pct", signed=True), "), EBE ", F.eur("ebitda_eur"), " (",
                     F.pct("ebitda_margin_pct"), "), résultat net ", F.eur("net_result_eur"), "; ",
                     f"{len(fnd)} constat(s) dont {n_high} majeur(s)" if fnd else "aucun constat",
                     "; pénalités ", F.eur("penalties_eur"), "."]
    summary = "".join(s if isinstance(s, str) else s.text for s in summary_spans)
    rep = Report(contract_id, year, title, B, summary)
    if narrative:
        _add_narrative(rep, endpoint)
    return rep


def _plain(spans: list) -> str:
    return "".join(s if isinstance(s, str) else s.text for s in spans)


def _add_narrative(rep: Report, endpoint: dict | None) -> None:
    """Optional LLM synthesis from `endpoint` (None: off) placed after the contract summary
    heading; dropped unless every number in it is one of the report's figures
    (models.admin.narrative)."""
    from .narrative import draft_narrative

    if endpoint is None:
        rep.narrative_status = "off"
        return
    facts = "\n".join(_plain(b.spans) for b in rep.blocks if b.kind == "para")
    allowed = [fg.text for fg in rep.figures()] + [str(rep.year)]
    import hashlib

    rep.narrative_inputs_hash = hashlib.sha256("\x1e".join([facts, *allowed]).encode()).hexdigest()
    n = draft_narrative(facts, allowed, endpoint)
    rep.narrative_status, rep.narrative_raw = n.status, n.raw
    if n.text:
        pos = next(i for i, b in enumerate(rep.blocks) if b.section == "contract_summary") + 1
        rep.blocks.insert(pos, Block("narrative", [n.text]))


# ----------------------------------------------------------------------------- HTML

CSS = """body{font-family:Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;color:#222;font-size:14px}
h1{font-size:1.4rem;color:#1f4e79}h2{font-size:1.1rem;color:#1f4e79;border-bottom:1px solid #ccc;margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}
th{background:#eef3f8;text-align:left}td.n{text-align:right;white-space:nowrap}data{white-space:nowrap}
.narrative{background:#f6f6f6;border-left:3px solid #999;padding:.4rem .8rem}figure{margin:.6rem 0}
figcaption{font-size:11px;color:#555}cite{font-style:normal}"""


def _h(spans: list) -> str:
    out = []
    for s in spans:
        if isinstance(s, Fig):
            out.append(f'<data value="{html.escape(str(s.value))}" data-src="{s.table}.{s.column}" '
                       f'data-key="{html.escape(s.key)}">{html.escape(s.text)}</data>')
        elif isinstance(s, Cite):
            out.append(f"<cite>{html.escape(s.text)}</cite>")
        else:
            out.append(html.escape(s))
    return "".join(out)


def render_html(rep: Report) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="fr"><head><meta charset="utf-8">',
             f"<title>{html.escape(rep.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(rep.title)}</h1>",
             f'<p class="subtitle">{_h([Cite(rep.contract_id)])}</p>']
    open_section = False
    for b in rep.blocks:
        if b.kind == "heading":
            if open_section:
                parts.append("</section>")
            parts.append(f'<section id="{b.section}"><h2>{_h(b.spans)}</h2>')
            open_section = True
        elif b.kind == "para":
            parts.append(f"<p>{_h(b.spans)}</p>")
        elif b.kind == "narrative":
            parts.append(f'<div class="narrative"><p><em>Synthèse rédigée avec assistance (chiffres vérifiés) :</em> '
                         f"{_h(b.spans)}</p></div>")
        elif b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{_h(item)}</li>" for item in b.spans) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(
                f'<td{" class=n" if any(isinstance(s, Fig) for s in c) else ""}>{_h(c)}</td>' for c in r) + "</tr>"
                for r in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "chart":
            data = base64.b64encode(b.png).decode()
            parts.append(f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    if open_section:
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- PDF

def render_pdf(rep: Report) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    ss = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=ss["BodyText"], fontSize=9, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9)
    h1 = ParagraphStyle("h1", parent=ss["Heading1"], fontSize=14, textColor=colors.HexColor("#1f4e79"))
    h2 = ParagraphStyle("h2", parent=ss["Heading2"], fontSize=11.5, textColor=colors.HexColor("#1f4e79"))

    def esc(spans: list) -> str:
        return html.escape(_plain(spans), quote=False)

    story = [Paragraph(html.escape(rep.title, quote=False), h1), Paragraph(html.escape(rep.contract_id), body),
             Spacer(1, 0.3 * cm)]
    width = A4[0] - 3 * cm
    for b in rep.blocks:
        if b.kind == "heading":
            story.append(Paragraph(esc(b.spans), h2))
        elif b.kind == "para":
            story.append(Paragraph(esc(b.spans), body))
        elif b.kind == "narrative":
            story.append(Paragraph("<i>Synthèse rédigée avec assistance (chiffres vérifiés) :</i> " + esc(b.spans), body))
        elif b.kind == "bullets":
            story.append(ListFlowable([ListItem(Paragraph(esc(i), body)) for i in b.spans], bulletType="bullet"))
        elif b.kind == "table":
            data = [[Paragraph(f"<b>{html.escape(h, quote=False)}</b>", cell) for h in b.header]]
            data += [[Paragraph(esc(c), cell) for c in r] for r in b.rows]
            t = Table(data, repeatRows=1, colWidths=[width * 0.34] + [width * 0.66 / max(1, len(b.header) - 1)]
                      * (len(b.header) - 1))
            t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef3f8")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story += [t, Spacer(1, 0.2 * cm)]
        elif b.kind == "chart":
            img = Image(io.BytesIO(b.png))
            scale = min(1.0, width / img.drawWidth)
            img.drawWidth, img.drawHeight = img.drawWidth * scale, img.drawHeight * scale
            story += [img, Paragraph(f"<i>{html.escape(b.caption, quote=False)}</i>", cell), Spacer(1, 0.2 * cm)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title=rep.title, author="Ville de Cannes", invariant=1)
    doc.build(story)
    return buf.getvalue()


def write_report(rep: Report, folder: str | Path) -> tuple[Path, Path]:
    """Write ``<contract_id>_<year>.html`` and ``.pdf`` under ``folder`` (atomically: each file is
    written beside its final name, then renamed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, data in (("html", render_html(rep).encode("utf-8")), ("pdf", render_pdf(rep))):
        path = folder / f"{rep.contract_id}_{rep.year}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        out.append(path)
    return out[0], out[1]
