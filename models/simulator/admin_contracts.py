"""Simulated DSP contract documents with planted clauses (test fixture and demo only).

Each contract of ``admin.CONTRACTS`` is written as ``landing/admin/contracts/<contract_id>.(pdf|docx)``
(alternating), its articles worded from several variants (amounts in figures or in words with the
figures in brackets, dates "1er janvier 2019" or "01/01/2019", durations in years or months, ...)
so that the extraction rules are not matched trivially. Some clauses are left out on purpose: the
fourrière contract states no KPI penalty schedule (the control analysis then falls back to the
city's standard clause), the marché contract states no cap, and each contract may omit the
indexation formula, the investment obligation, the late-report penalty or the extension clause.

The planted truth, one line per (contract, field, qualifier) with its normalised value, goes to
``ground_truth/admin/contract_clauses.jsonl``; production never reads it.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path

from .common import atomic_write_bytes, atomic_write_text

MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
        "novembre", "décembre"]
NUM_WORDS = {3: "trois", 6: "six", 7: "sept", 12: "douze", 15: "quinze", 16: "seize", 25: "vingt-cinq"}
INDICES = ["ICHT-E", "TP01", "FSD2", "EBIQ", "BT01"]
CONTENTS = {"comptes": "les comptes retraçant la totalité des opérations afférentes à l'exécution de la délégation",
            "qualite": "une analyse de la qualité du service, appréciée au regard des indicateurs du contrat",
            "patrimoine": "l'inventaire des biens de retour et des biens de reprise",
            "investissements": "l'état des investissements réalisés au regard du programme contractuel",
            "tarifs": "l'évolution des tarifs pratiqués auprès des usagers"}
PENALTY_REPORT_DAY = {"DSP-PARK-2019": 500, "DSP-PORT-2015": 300, "DSP-FOUR-2020": 150}


def _fr_date(iso: str, style: int) -> str:
    d = date.fromisoformat(iso)
    if style == 1:
        return d.strftime("%d/%m/%Y")
    return f"{'1er' if d.day == 1 else d.day} {MOIS[d.month - 1]} {d.year}"


def _eur(v: float, style: int) -> str:
    s = f"{int(round(v)):,}".replace(",", " ")
    return [f"{s} €", f"{s} euros HT", f"{s},00 € HT", f"{s.replace(' ', '.')} euros"][style % 4]


def _months(start: str, end: str) -> int:
    a, b = date.fromisoformat(start), date.fromisoformat(end)
    return (b.year - a.year) * 12 + (b.month - a.month) + (1 if b.day >= a.day - 1 else 0)


def contract_document(c: dict, schedule: tuple, rng) -> tuple[dict, list[dict]]:
    """One contract's articles (title, [(heading, [paragraphs])]) and its planted truth."""
    cid = c["contract_id"]
    truth: list[dict] = []

    def plant(fld, value, qual=""):
        truth.append({"contract_id": cid, "field": fld, "qualifier": qual, "value": value})

    v = lambda n: int(rng.integers(0, n))  # noqa: E731
    authority = ["Ville de Cannes", "Commune de Cannes"][v(2)]
    arts: list[tuple[str, list[str]]] = []
    role_a = ["l'Autorité délégante", "la Ville", "l'Autorité concédante"][v(3)]
    role_d = ["le Délégataire", "le Concessionnaire", "le Fermier"][v(3) if c["contract_type"] == "affermage" else v(2)]
    arts.append(("Article 1 – Parties", [
        f"ENTRE : La {authority}, représentée par son Maire en exercice, dûment habilité par délibération du "
        f"conseil municipal, ci-après dénommée « {role_a} », d'une part,",
        f"ET : La société {c['delegate']}, dont le siège social est situé à Cannes, immatriculée au registre du "
        f"commerce, ci-après {['dénommée ', 'désignée ', ''][v(3)]}« {role_d} », d'autre part."]))
    plant("authority", authority)
    plant("delegate", c["delegate"])
    obj = c["name"][0].lower() + c["name"][1:]
    arts.append(("Article 2 – Objet du contrat", [
        [f"Le présent contrat a pour objet de confier au délégataire la gestion et l'exploitation du service "
         f"public suivant : {obj}, à ses risques et périls.",
         f"Objet du contrat : l'exploitation du service public « {obj} » par voie de {c['contract_type']}."][v(2)]]))
    plant("object", c["name"])
    months = _months(c["start_date"], c["end_date"])
    years = months // 12
    dur = [f"{NUM_WORDS.get(years, str(years))} ({years}) ans", f"{years} ans", f"{months} mois"][v(3)]
    ds, de = v(2), v(2)
    arts.append(("Article 3 – Durée du contrat", [
        [f"Le contrat est conclu pour une durée de {dur}.", f"La durée de la délégation est fixée à {dur}."][v(2)],
        [f"Il prend effet le {_fr_date(c['start_date'], ds)} et expire le {_fr_date(c['end_date'], de)}.",
         f"Le contrat entre en vigueur le {_fr_date(c['start_date'], ds)}. Il arrive à son terme le "
         f"{_fr_date(c['end_date'], de)} à minuit."][v(2)],
        ["Le contrat n'est pas renouvelable par tacite reconduction.",
         "Toute reconduction tacite est exclue."][v(2)]]
        + ([f"Il ne peut être prolongé que dans les conditions de l'article L. 3135-1 du code de la commande "
            f"publique, par avenant."] if v(3) else [])))
    plant("duration_months", str(months))
    plant("start_date", c["start_date"])
    plant("end_date", c["end_date"])
    plant("renewal", "no_tacit_renewal")
    if any("L. 3135-1" in p for p in arts[-1][1]):
        plant("extension", "L3135-1")
    fee = float(c["annual_fee_eur"])
    fee_p = [f"En contrepartie de l'occupation du domaine public, le délégataire verse à la Ville une redevance "
             f"annuelle de {_eur(fee, v(4))}.",
             f"La redevance due chaque année par le délégataire est fixée à {_eur(fee, v(4))}, payable en deux "
             f"échéances semestrielles."][v(2)]
    fee_art = [fee_p]
    plant("annual_fee_eur", f"{fee:.2f}".rstrip("0").rstrip("."))
    if v(4):
        a = [0.125, 0.15, 0.2][v(3)]
        idx = INDICES[v(len(INDICES))]
        b = f"{1 - a:.3f}".rstrip("0")
        av = f"{a:.3f}".rstrip("0")
        fee_art.append(f"La redevance est révisée chaque année par application de la formule d'indexation "
                       f"suivante : K = {av.replace('.', ',')} + {b.replace('.', ',')} × ({idx} / {idx}0), où {idx} "
                       f"est la dernière valeur connue de l'indice.")
        plant("fee_indexation", f"K={av}+{b}*({idx}/{idx}0)")
    arts.append(("Article 4 – Redevance", fee_art))
    inv = None
    if v(4):
        inv = round(fee * float(rng.uniform(2, 6)), -4)
        arts.append(("Article 5 – Investissements", [
            [f"Le délégataire s'engage à réaliser un programme d'investissements d'un montant total de "
             f"{_eur(inv, v(4))} sur la durée du contrat, détaillé en annexe.",
             f"Le programme de travaux et d'investissements à la charge du délégataire s'élève à "
             f"{_eur(inv, v(4))}."][v(2)]]))
        plant("investment_obligation_eur", f"{inv:.2f}".rstrip("0").rstrip("."))
    per_step, step, cap = schedule
    pen: list[str] = ["Les indicateurs de qualité du service et leurs seuils contractuels figurent à l'annexe 3."]
    if per_step != "":
        st = f"{step:g}".replace(".", ",")
        pen.append([f"Pour chaque indicateur dont le seuil n'est pas atteint, une pénalité de {_eur(per_step, v(4))} "
                    f"est appliquée par tranche entamée de {st} % d'écart à l'objectif.",
                    f"Tout manquement à un objectif de performance donne lieu à une pénalité forfaitaire de "
                    f"{_eur(per_step, v(4))} pour chaque tranche, même incomplète, de {st} points de pourcentage "
                    f"sous la cible."][v(2)])
        plant("penalty_eur_per_step", f"{float(per_step):.2f}".rstrip("0").rstrip("."), "*")
        plant("penalty_step_pct", f"{float(step):g}", "*")
        if cap != "":
            pen.append([f"Le montant des pénalités est plafonné à {_eur(cap, v(4))} par indicateur et par an.",
                        f"Ces pénalités ne peuvent excéder {_eur(cap, v(4))} par indicateur et par exercice."][v(2)])
            plant("penalty_cap_eur", f"{float(cap):.2f}".rstrip("0").rstrip("."), "*")
    if cid in PENALTY_REPORT_DAY:
        pen.append(f"Tout retard dans la remise du rapport annuel entraîne une pénalité de "
                   f"{_eur(PENALTY_REPORT_DAY[cid], v(4))} par jour calendaire de retard.")
        plant("penalty_eur_per_day", str(PENALTY_REPORT_DAY[cid]), "rapport_annuel")
    pen.append("Les pénalités sont appliquées après mise en demeure restée sans effet pendant quinze jours.")
    arts.append(("Article 6 – Pénalités", pen))
    keys = sorted(CONTENTS)
    chosen = sorted(set(keys[i] for i in rng.choice(len(keys), size=int(rng.integers(3, 6)), replace=False)))
    bullets = v(2)
    lead = ["Conformément aux articles L. 3131-5 et R. 3131-2 à R. 3131-4 du code de la commande publique, le "
            "délégataire produit chaque année un rapport avant le 1er juin.",
            "En application de l'article L3131-5 du code de la commande publique, le délégataire remet à "
            "l'autorité délégante, au plus tard le 1er juin de chaque année, un rapport annuel."][v(2)]
    plant("reporting_legal_refs", "L3131-5;R3131-2;R3131-3;R3131-4" if "R. 3131-2" in lead else "L3131-5")
    plant("annual_report_deadline", "--06-01")
    if bullets:
        rep = [lead, "Ce rapport comprend notamment :"] + [f"- {CONTENTS[k]} ;" for k in chosen]
    else:
        rep = [lead, "Le rapport comporte " + ", ".join(CONTENTS[k] for k in chosen) + "."]
    plant("annual_report_contents", ";".join(chosen))
    arts.append(("Article 7 – Rapport annuel et contrôle", rep))
    notice = [3, 6, 12][v(3)]
    nw = [f"{notice} mois", f"{NUM_WORDS[notice]} mois"][v(2)]
    arts.append(("Article 8 – Résiliation", [
        f"La Ville peut résilier le contrat pour un motif d'intérêt général, moyennant un préavis de {nw} "
        "notifié par lettre recommandée avec accusé de réception.",
        "En cas de faute d'une particulière gravité, la déchéance peut être prononcée après mise en demeure."]))
    plant("termination_notice_months", str(notice))
    title = f"Contrat de délégation de service public n° {cid}"
    return {"title": title, "articles": arts}, truth


def _docx(doc: dict, when: datetime) -> bytes:
    from docx import Document

    d = Document()
    d.add_heading(doc["title"], level=1)
    for h, paras in doc["articles"]:
        if h.split("–")[-1].strip().startswith(("Redevance", "Rapport")):  # a new page
            d.add_page_break()
        d.add_heading(h, level=2)
        for p in paras:
            d.add_paragraph(p)
    cp = d.core_properties
    cp.author = cp.last_modified_by = "Ville de Cannes"
    cp.created = cp.modified = cp.last_printed = when
    cp.revision = 1
    buf = io.BytesIO()
    d.save(buf)
    from .admin import _zip_normalise

    return _zip_normalise(buf.getvalue(), when)


def _pdf(doc: dict) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from .admin import _wrap

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(doc["title"]); c.setAuthor("Ville de Cannes"); c.setCreator("Ville de Cannes")
    W, H = A4
    margin, y = 56.0, A4[1] - 56.0

    def emit(text, font, size, gap):
        nonlocal y
        for line in _wrap(text, font, size, W - 2 * margin, []):
            if y < margin + 200:  # short pages: a contract runs over several
                c.showPage()
                y = H - margin
            c.setFont(font, size)
            c.drawString(margin, y, line)
            y -= size * 1.35
        y -= gap

    emit(doc["title"], "Helvetica-Bold", 13, 8)
    for h, paras in doc["articles"]:
        emit(h, "Helvetica-Bold", 11, 4)
        for p in paras:
            emit(p, "Helvetica", 10, 5)
    c.showPage()
    c.save()
    return buf.getvalue()


def write_contracts(contracts: list[dict], schedules: dict, landing: Path, truth: Path, rng, when: datetime) -> dict:
    """Write every contract document and the planted truth; returns counts."""
    lines, counts = [], {"contract_documents": 0, "planted_clauses": 0}
    for i, c in enumerate(contracts):
        doc, t = contract_document(c, schedules.get(c["contract_id"], ("", "", "")), rng)
        fmt = ["pdf", "docx"][i % 2]
        data = _pdf(doc) if fmt == "pdf" else _docx(doc, when)
        atomic_write_bytes(Path(landing) / "admin" / "contracts" / f"{c['contract_id']}.{fmt}", data)
        lines += [json.dumps({**x, "file": f"admin/contracts/{c['contract_id']}.{fmt}"}, ensure_ascii=False) for x in t]
        counts["contract_documents"] += 1
        counts["planted_clauses"] += len(t)
    atomic_write_text(Path(truth) / "admin" / "contract_clauses.jsonl", "\n".join(lines) + "\n")
    return counts
