"""The wording of the city's letters, one function per kind, from one mart row (or one meeting's
rows) to paragraphs of spans. Every figure, date, name or text taken from the data is a
:class:`~models.admin.report.Fig` naming its mart cell (the same tagging as the control reports);
everything else is the fixed wording below, which an agent edits in the DOCX draft before signing.
"""

from __future__ import annotations

import json

from .report import Cite, Fig, Row, fmt_auto, fmt_date, fmt_eur

CLOSING = "Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées."
SIGNATURE = ["Pour le Maire et par délégation,", "[nom, qualité et signature de l'agent]"]
DATE_LINE = "Cannes, le [date de signature]"


def _unit(v: float, unit: str | None) -> str:
    u = (unit or "").strip()
    return fmt_auto(v) + ("\u00a0" + u if u else "")


def formal_notice(r: dict) -> dict:
    """Mise en demeure to the delegate for one finding (a row of ``formal_notices``)."""
    row = Row("formal_notices", r, r["finding_id"])
    f = lambda c, fmt=str: row.fig(c, fmt)  # noqa: E731
    paras = [
        ["Madame, Monsieur,"],
        ["L'examen du rapport annuel que vous avez remis pour l'exercice ", f("year"), " au titre du contrat « ",
         f("contract_name"), " » (", Cite(r["contract_id"]), ") fait apparaître le manquement suivant : ",
         f("message"), "."],
        ["Valeur constatée : ", row.fig("value", lambda v: _unit(v, r["unit"])), " ; valeur de référence : ",
         row.fig("reference", lambda v: _unit(v, r["unit"])), "."],
        ["Ce constat méconnaît la stipulation suivante : ", f("clause"), "."],
    ]
    if r.get("penalty_eur"):
        paras.append(["En application de cette stipulation, la pénalité encourue s'élève à ",
                      row.fig("penalty_eur", fmt_eur), "."])
    paras += [
        ["En conséquence, je vous mets en demeure de remédier à ce manquement et de me faire parvenir vos "
         "explications écrites, accompagnées des justificatifs, dans un délai de ", row.fig("reply_days", fmt_auto),
         " jours à compter de la réception du présent courrier. À défaut, la Ville se réserve d'appliquer les "
         "sanctions prévues au contrat."],
        [CLOSING],
    ]
    return {"letter_id": "MED_" + r["finding_id"].replace("/", "_"), "kind": "mise_en_demeure",
            "source_id": r["finding_id"], "contract_id": r["contract_id"],
            "subject": ["Objet : mise en demeure, contrat « ", f("contract_name"), " », exercice ", f("year")],
            "recipient": [[f("delegate")], ["Courrier recommandé avec demande d'avis de réception"]],
            "paragraphs": paras, "bullets": []}


def complaint_reply(r: dict) -> dict:
    """Reply to a citizen's complaint (a row of ``complaint_register``)."""
    row = Row("complaint_register", r, r["reference"])
    f = lambda c, fmt=str: row.fig(c, fmt)  # noqa: E731
    paras = [
        ["Madame, Monsieur,"],
        ["Vous nous avez fait part, par le canal « ", f("channel"), " », le ", row.date("received_on"),
         ", de votre réclamation « ", f("subject"), " » concernant le service « ", f("contract_name"),
         " », délégué à ", f("delegate"), "."],
    ]
    if r.get("category_count") is not None:
        p = ["Votre réclamation relève de la catégorie « ", f("category_label"), " », pour laquelle le délégataire a "
             "déclaré ", row.num("category_count"), " réclamations en ", f("year")]
        if r.get("category_previous_count") is not None:
            p += [" (", row.num("category_previous_count"), " l'année précédente)"]
        paras.append(p + [". Le traitement des réclamations fait partie des points contrôlés chaque année dans le "
                          "rapport de contrôle de la délégation."])
    paras += [
        ["Votre réclamation a été transmise au délégataire, qui est tenu d'y donner suite. Une réponse vous sera "
         "apportée au plus tard le ", row.date("reply_due_on"), ", dans le délai de ", row.num("reply_days"),
         " jours de la charte d'accueil de la Ville."],
        [CLOSING],
    ]
    return {"letter_id": "REP_" + r["reference"], "kind": "reponse_reclamation", "source_id": r["reference"],
            "contract_id": r["contract_id"],
            "subject": ["Objet : votre réclamation ", f("reference"), " du ", row.date("received_on")],
            "recipient": [["[destinataire : coordonnées de la réclamation ", f("reference"), "]"]],
            "paragraphs": paras, "bullets": []}


def meeting_followup(rows: list[dict]) -> dict:
    """Follow-up of one meeting to its participants: decisions and actions (rows of
    ``meeting_actions`` of one ``doc_id``)."""
    first = rows[0]
    key0 = f"{first['doc_id']}/{first['action_no']}"
    row0 = Row("meeting_actions", first, key0)
    people = [p["name"] if isinstance(p, dict) else p for p in json.loads(first["attendees"] or "[]")]
    decisions = json.loads(first["decisions"] or "[]")
    paras = [
        ["Madame, Monsieur,"],
        ["Pour faire suite à la réunion « ", row0.text("meeting_title"), " » du ", row0.date("meeting_date"),
         ", vous trouverez ci-dessous le relevé des décisions prises et des actions convenues, avec leur "
         "responsable et leur échéance."],
    ]
    bullets = [["Décision : ", Fig(d, d, "meeting_actions", "decisions", key0)] for d in decisions]
    for r in rows:
        rr = Row("meeting_actions", r, f"{r['doc_id']}/{r['action_no']}")
        bullets.append(["Action : ", rr.text("action"), " (responsable : ", rr.text("owner"), ", échéance : ",
                        rr.date("due_date") if r.get("due_date") else "à préciser", ")"])
    tail = [["Je vous remercie de me signaler toute observation sur ce relevé."], [CLOSING]]
    slug = first["doc_id"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return {"letter_id": "CR_" + slug, "kind": "suite_reunion", "source_id": first["doc_id"], "contract_id": None,
            "subject": ["Objet : suites de la réunion du ", row0.date("meeting_date")],
            "recipient": [["Aux participants : ",
                           *_join([Fig(p, p, "meeting_actions", "attendees", key0) for p in people])]],
            "paragraphs": paras, "bullets": bullets, "tail": tail}


def _join(figs: list) -> list:
    out = []
    for i, x in enumerate(figs):
        if i:
            out.append(", ")
        out.append(x)
    return out


__all__ = ["formal_notice", "complaint_reply", "meeting_followup", "DATE_LINE", "SIGNATURE", "fmt_date"]
