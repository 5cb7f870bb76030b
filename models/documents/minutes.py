"""Structured minutes from a French meeting transcript, by deterministic rules.

Input: the text of a transcript made of a header (title, ``Date : 23 octobre 2026. Lieu : ...``,
``Présents : Mme Julie Giraud (Adjointe au maire) ; M. Olivier Dupont (...) ; ...``) and speaker
turns ``Mme Giraud : ...`` (one per line; PDF text may wrap a turn over several lines).

Output (:class:`Minutes`, ``as_dict()`` has the shape of the simulator's ``meetings.jsonl``):

- ``attendees``: from the ``Présents`` line (name, role in parentheses), else the speakers;
- ``decisions``: a proposal followed by an adoption marker (``Je propose de valider X. Pas
  d'objection ? C'est validé.`` -> ``Valider X``), an explicit grant (``Accordé : X``), a decision
  verb (``Le comité décide / valide X``, ``Il est décidé que X``), or an announcement of the chair
  in the first person plural future (``Nous installerons X``);
- ``actions``: sentences holding a due date, with an owner: the person addressed at the start of
  the sentence (``M. Dupont, pouvez-vous nous présenter X avant le 3 novembre ?``) or the speaker
  committing himself (``je m'en charge pour le 6 octobre``, ``Je peux X pour le ...``); the
  owner's reply confirming the same date is merged into the same action.

Due dates are French date expressions resolved against the meeting date (:func:`parse_due_date`):
``le 15 décembre [2026]``, ``1er mars``, ``30/11/2026``, ``30/11``, ``vendredi 4 décembre``,
``vendredi [prochain]``, ``fin novembre``, ``mi-janvier``, ``début février``, ``sous quinze
jours``, ``dans 3 semaines``, ``d'ici un mois``, ``la semaine prochaine``, ``fin de l'année``.
A day and month without a year fall on the first such date on or after the meeting.

The minutes name people: extract them from the unredacted transcript, and keep them with the
meeting's participants; index only the redacted text.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

MONTHS = {"janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
          "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
          "décembre": 12, "decembre": 12}
WEEKDAYS = {"lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6}
NUMBERS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
           "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "quinze": 15, "vingt": 20,
           "trente": 30, "quarante-cinq": 45, "soixante": 60}

_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_WD_RE = "|".join(WEEKDAYS)
_NUM_RE = r"\d{1,3}|" + "|".join(sorted(NUMBERS, key=len, reverse=True))
CIVILITY = r"(?:M\.|Mme|Mlle|Madame|Monsieur|Mademoiselle|Me|Dr|Pr)"
_UP = "A-ZÀ-ÖØ-Þ"
_NAME = rf"(?:\[NOM\]|[{_UP}][\w'’\-]+(?:[ ](?:de|du|d'|le|la|van|von|di|da)?[ ]?[{_UP}][\w'’\-]+){{0,3}})"
_SPEAKER = re.compile(rf"^[ \t]*({CIVILITY}[ \t]+{_NAME})[ \t]*:[ \t]+", re.MULTILINE)

# Date expressions, most specific first. Each returns (match, kind).
_DATE_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("dmy", re.compile(rf"\b(?:(?:{_WD_RE})\s+)?(1er|\d{{1,2}})\s+({_MONTH_RE})(?:\s+(\d{{4}}))?\b", re.I)),
    ("numeric", re.compile(r"(?<![\d/])(\d{1,2})[/.](\d{1,2})(?:[/.](\d{4}|\d{2}))?(?![\d/])")),
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    ("part_month", re.compile(rf"\b(fin|début|debut|mi)[\s\-](?:du mois de\s+|d['’]\s*)?({_MONTH_RE})"
                              rf"(?:\s+(\d{{4}}))?\b", re.I)),
    ("end_year", re.compile(r"\b(?:la\s+)?fin\s+(?:de\s+l['’]\s*année|d['’]\s*année|de l['’]exercice)\b", re.I)),
    ("end_month", re.compile(r"\b(?:la\s+)?fin\s+du\s+mois\b", re.I)),
    ("next_week", re.compile(r"\b(?:la\s+)?semaine\s+prochaine\b", re.I)),
    ("relative", re.compile(rf"\b(?:sous|dans|d['’]ici|d['’]\s*ici)\s+(?:(?:les|la)\s+)?({_NUM_RE})?\s*"
                            rf"(jours?|semaines?|mois|quinzaine)\b", re.I)),
    ("weekday", re.compile(rf"\b({_WD_RE})(\s+prochain)?\b", re.I)),
]


@dataclass
class Attendee:
    name: str
    role: str = ""
    civility: str = ""


@dataclass
class Action:
    owner: str | None
    action: str
    due_date: date | None
    due_text: str = ""
    turn: int = -1  # index of the turn that created it


@dataclass
class Minutes:
    title: str
    date: date | None
    place: str = ""
    attendees: list[Attendee] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The shape of ``meetings.jsonl`` (dates as ISO strings), plus ``place``."""
        return {
            "title": self.title,
            "date": self.date.isoformat() if self.date else None,
            "place": self.place,
            "attendees": [{"name": a.name, "role": a.role} for a in self.attendees],
            "decisions": list(self.decisions),
            "actions": [{"owner": a.owner, "action": a.action,
                         "due_date": a.due_date.isoformat() if a.due_date else None} for a in self.actions],
        }


# ----------------------------------------------------------------------------- dates


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


def _num(s: str | None, default: int = 1) -> int:
    if not s:
        return default
    s = s.lower()
    return int(s) if s.isdigit() else NUMBERS.get(s, default)


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _future(ref: date, month: int, day: int) -> date | None:
    """First ``day/month`` on or after ``ref``."""
    d = _safe_date(ref.year, month, day)
    if d is not None and d < ref:
        d = _safe_date(ref.year + 1, month, day)
    return d


def find_dates(text: str, ref: date) -> list[tuple[int, int, date]]:
    """Every date expression in ``text`` resolved against ``ref``: ``(start, end, date)``,
    sorted by position, overlapping expressions resolved in favour of the most specific."""
    found: list[tuple[int, int, date]] = []
    taken: list[tuple[int, int]] = []
    for kind, pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            d = _resolve(kind, m, ref)
            if d is None:
                continue
            found.append((m.start(), m.end(), d))
            taken.append((m.start(), m.end()))
    found.sort()
    return found


def _resolve(kind: str, m: re.Match, ref: date) -> date | None:
    if kind == "dmy":
        day = 1 if m.group(1).lower() == "1er" else int(m.group(1))
        month = MONTHS[m.group(2).lower()]
        if m.group(3):
            return _safe_date(int(m.group(3)), month, day)
        return _future(ref, month, day)
    if kind == "numeric":
        day, month = int(m.group(1)), int(m.group(2))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        if m.group(3):
            y = int(m.group(3))
            y = y + 2000 if y < 100 else y
            return _safe_date(y, month, day)
        return _future(ref, month, day)
    if kind == "iso":
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if kind == "part_month":
        month = MONTHS[m.group(2).lower()]
        y = int(m.group(3)) if m.group(3) else (ref.year if month >= ref.month else ref.year + 1)
        part = _fold(m.group(1))
        day = calendar.monthrange(y, month)[1] if part == "fin" else (15 if part == "mi" else 1)
        return _safe_date(y, month, day)
    if kind == "end_year":
        return date(ref.year, 12, 31)
    if kind == "end_month":
        return date(ref.year, ref.month, calendar.monthrange(ref.year, ref.month)[1])
    if kind == "next_week":
        return ref + timedelta(days=7 - ref.weekday())  # Monday of next week
    if kind == "relative":
        unit = m.group(2).lower()
        if unit.startswith("quinzaine"):
            return ref + timedelta(days=15)
        n = _num(m.group(1))
        if unit.startswith("jour"):
            return ref + timedelta(days=n)
        if unit.startswith("semaine"):
            return ref + timedelta(weeks=n)
        y, mth = divmod(ref.month - 1 + n, 12)
        y += ref.year
        return _safe_date(y, mth + 1, min(ref.day, calendar.monthrange(y, mth + 1)[1]))
    if kind == "weekday":
        wd = WEEKDAYS[m.group(1).lower()]
        delta = (wd - ref.weekday()) % 7 or 7
        return ref + timedelta(days=delta)
    return None


def parse_due_date(text: str, ref: date) -> date | None:
    """The first date expression of ``text`` resolved against the meeting date ``ref``
    (``avant le 15 décembre``, ``d'ici le 30/11/2026``, ``pour vendredi 4 décembre`` ...)."""
    found = find_dates(text, ref)
    return found[0][2] if found else None


# ----------------------------------------------------------------------------- transcript


def _civ_name(s: str) -> tuple[str, str]:
    m = re.match(rf"\s*({CIVILITY})\s+(.*)$", s.strip())
    return (m.group(1), m.group(2).strip()) if m else ("", s.strip())


def split_transcript(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``(header, turns)``: the text before the first speaker turn, and ``(speaker, text)`` per
    turn with wrapped lines joined. A closing line (``La séance est levée.``) stays in the
    last turn's text only if it is not on its own line."""
    text = text.replace("\r\n", "\n")
    starts = list(_SPEAKER.finditer(text))
    if not starts:
        return text, []
    header = text[:starts[0].start()]
    turns = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[m.end():end]
        if i + 1 == len(starts):
            # drop a closing paragraph ("La séance est levée.") on its own line
            body = re.split(r"\n\s*(?=La séance est (?:levée|close)|Fin de (?:la )?séance)", body)[0]
        turns.append((re.sub(r"\s+", " ", m.group(1)).strip(), re.sub(r"\s+", " ", body).strip()))
    return header, turns


def _header_field(header: str, label: str) -> str:
    flat = re.sub(r"\s+", " ", header)
    m = re.search(rf"\b{label}\s*:\s*(.+?)(?:\.\s+(?=[{_UP}][\w ]{{0,20}}:)|\.?\s*$)", flat)
    return m.group(1).strip() if m else ""


def _title(header: str) -> str:
    lines = [ln.strip() for ln in header.splitlines() if ln.strip()]
    pre: list[str] = []
    for ln in lines:
        if re.match(r"(Date|Lieu|Présents|Presents|Objet)\s*:", ln):
            break
        pre.append(ln)
    flat = " ".join(pre)
    # PDF and DOCX give the title twice (heading, then first paragraph).
    half = len(flat) // 2
    if len(flat) % 2 == 1 and flat[:half] == flat[half + 1:]:
        return flat[:half]
    return flat or (lines[0] if lines else "")


def parse_attendees(header: str) -> list[Attendee]:
    """Attendees of the ``Présents : ...`` line: ``Civ Prénom Nom (rôle)`` separated by ``;``."""
    flat = re.sub(r"\s+", " ", header)
    m = re.search(r"\bPr[ée]sents?\s*:\s*(.+?)(?:\.\s*$|\.\s+(?=[A-ZÀ-Þ][\w ]{0,20}:)|$)", flat)
    if not m:
        return []
    out = []
    for item in re.split(r"\s*;\s*", m.group(1)):
        item = item.strip().rstrip(".")
        if not item:
            continue
        role = ""
        if "(" in item and item.endswith(")"):
            i = item.index("(")
            role = item[i + 1:-1].strip()
            item = item[:i].strip()
        elif "," in item:
            item, role = (p.strip() for p in item.split(",", 1))
        civ, name = _civ_name(item)
        out.append(Attendee(name=name, role=role, civility=civ))
    return out


class _People:
    """Resolves ``Mme Dupont`` / ``Dupont`` / ``Claire Dupont`` to an attendee's full name."""

    def __init__(self, attendees: list[Attendee]):
        self.by_key: dict[str, str] = {}
        for a in attendees:
            words = a.name.split()
            keys = {a.name}
            for i in range(1, len(words)):
                keys.add(" ".join(words[i:]))  # surname (possibly compound)
            for k in keys:
                self.by_key.setdefault(_fold(k), a.name)
                if a.civility:
                    self.by_key.setdefault(_fold(f"{a.civility} {k}"), a.name)

    def resolve(self, ref: str) -> str:
        ref = re.sub(r"\s+", " ", ref).strip()
        hit = self.by_key.get(_fold(ref))
        if hit:
            return hit
        civ, name = _civ_name(ref)
        return self.by_key.get(_fold(name), name)


# ----------------------------------------------------------------------------- rules

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Þ\[«\"])")
_ADOPTION = re.compile(
    r"\b(?:c['’]est\s+(?:validé|adopté|acté|décidé|approuvé|entendu)|adopté(?:e)?\s+à\s+l['’]unanimité|"
    r"approuvé(?:e)?\s+à|pas\s+d['’](?:objection|opposition)\s*\?\s*(?:c['’]est|adopté|validé)|"
    r"(?:la proposition|la décision) est (?:adoptée|validée|retenue))", re.I)
_GRANT = re.compile(r"^\s*(?:Accordé|Accordée|Validé|Validée|Adopté|Adoptée|Décision|Décidé)\s*:\s*(.+)$", re.I)
_DECIDE = re.compile(r"\b(?:le comité|la commission|le conseil|l['’]assemblée|nous)\s+(?:décide|décidons|valide|"
                     r"validons|retient|retenons|approuve|approuvons)\s+(?:de\s+|d['’]|que\s+)?(.+)$", re.I)
_PROPOSE = re.compile(r"\b(?:je|nous)\s+(?:propose|proposons)\s+(?:de\s+|d['’]|que\s+)(.+)$", re.I)
_ANNOUNCE = re.compile(r"^\s*Nous\s+(\w+rons)\b(.+)$")
_SELF = re.compile(r"\b(?:je\s+m['’]en\s+charge|je\s+m['’]en\s+occupe|je\s+(?:peux|vais|pourrai|"
                   r"m['’]engage\s+à)|je\s+\w+(?:rai|erai)\b|ce\s+sera\s+fait|c['’]est\s+noté|j['’]\w+rai\b)", re.I)
_CONFIRM = re.compile(r"^\s*(?:oui|entendu|d['’]accord|très bien|c['’]est noté|parfait|bien sûr|ok)\b", re.I)
_VOCATIVE = re.compile(rf"^\s*({CIVILITY}\s+{_NAME})\s*,\s*")
_NAMED_SUBJECT = re.compile(rf"^\s*({CIVILITY}\s+{_NAME})\s+(?!:)(\w+(?:ra|era|ira|dra))\b")
_DUE_LEAD = re.compile(r"\s*,?\s*(?:au plus tard|d['’]ici|avant|pour|dès|sous|dans|le|la|d['’]ici à|jusqu['’]au)"
                       r"(?:\s+(?:le|la|au plus tard le|d['’]ici le|du))*\s*$", re.I)
_REQUEST = re.compile(r"^(?:pouvez-vous|pourriez-vous|pourrez-vous|merci de|je vous demande de|"
                      r"il faudra(?:it)?(?:\s+en revanche|\s+aussi|\s+donc)?|il faut|je peux|je vais|"
                      r"je pourrai|je m['’]engage à|vous pouvez|vous pourrez)\s+(?:nous\s+|me\s+)?", re.I)
_VOUS_VERB = re.compile(r"^vous\s+(?:nous\s+|me\s+)?(\w+)ez\b", re.I)


def _future_to_infinitive(verb: str) -> str:
    """``installerons`` -> ``installer``, ``choisirons`` -> ``choisir``, ``mettrons`` -> ``mettre``."""
    v = verb.lower()
    irregular = {"ferons": "faire", "serons": "être", "aurons": "avoir", "irons": "aller", "verrons": "voir",
                 "pourrons": "pouvoir", "devrons": "devoir", "enverrons": "envoyer", "viendrons": "venir",
                 "tiendrons": "tenir", "prendrons": "prendre", "mettrons": "mettre"}
    if v in irregular:
        return irregular[v]
    if v.endswith("erons"):
        return v[:-4] + "r"
    if v.endswith("irons"):
        return v[:-3]
    if v.endswith("rons"):
        return v[:-4] + "re"
    return v


def _capitalise(s: str) -> str:
    s = s.strip(" ,;:.?!")
    return s[:1].upper() + s[1:] if s else s


def _clean_action(text: str) -> str:
    t = text.strip()
    t = re.sub(r"^(?:Parfait|Bien|Alors|Donc|Enfin)\s*[.,]\s*", "", t)
    t = _REQUEST.sub("", t)
    m = _VOUS_VERB.match(t)
    if m:  # "vous préparez le projet" -> "préparer le projet"
        t = f"{m.group(1)}er" + t[m.end():]
    if re.match(r"^(?:je|nous)\s", t, re.I):  # "je la présenterai" -> "présenterai"
        t = re.sub(r"^(?:je|nous)\s+(?:(?:le|la|les)\s+|l['’]\s*)?", "", t, flags=re.I)
    t = re.sub(r",?\s*c['’]est possible\s*\??$", "", t, flags=re.I)
    return _capitalise(t)


def _action_text(sentence: str, d_start: int, d_end: int) -> str:
    """The action of a sentence: the clause before the due date (without its lead-in words),
    else the clause after it."""
    before = sentence[:d_start]
    before = _DUE_LEAD.sub("", before)
    before = _VOCATIVE.sub("", before)
    # "X ; je m'en charge" -> X
    before = re.split(r"\s*;\s*(?=je\s+m['’]en\s+(?:charge|occupe))", before)[0]
    before = re.sub(r"\s*;?\s*je\s+m['’]en\s+(?:charge|occupe)\s*$", "", before, flags=re.I)
    before = before.split(";")[-1]  # the clause nearest to the due date
    text = _clean_action(before)
    if len(text.split()) < 2:
        after = sentence[d_end:]
        after = re.sub(r"^\s*,?\s*", "", after)
        text = _clean_action(after) if len(_clean_action(after).split()) >= 2 else text
    return text


_ABBREV_END = re.compile(r"(?:\b(?:M|MM|Mme|Mmes|Mlle|Me|Dr|Pr|St|Ste|av|bd|art|réf|tél|cf|p|n|no|env|etc)"
                         r"|\b[A-ZÀ-Þ])\.$")


def _sentences(turn: str) -> list[str]:
    """Sentences of a turn; a dot after ``M``, ``Mme``, ``Dr``, an initial ... does not end one."""
    out: list[str] = []
    for piece in _SENT.split(turn):
        piece = piece.strip()
        if not piece:
            continue
        if out and _ABBREV_END.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def extract_minutes(text: str, meeting_date: date | None = None, title: str | None = None) -> Minutes:
    """Structured minutes of a transcript (see the module docstring). ``meeting_date`` defaults
    to the header's ``Date :``; relative due dates need one of the two."""
    header, turns = split_transcript(text)
    date_field = _header_field(header, "Date")
    if meeting_date is None and date_field:
        found = find_dates(date_field, date(2000, 1, 1))
        meeting_date = found[0][2] if found else None
    ref = meeting_date or date.today()
    attendees = parse_attendees(header)
    if not attendees:
        seen: dict[str, Attendee] = {}
        for sp, _ in turns:
            civ, name = _civ_name(sp)
            seen.setdefault(name, Attendee(name=name, civility=civ))
        attendees = list(seen.values())
    people = _People(attendees)
    minutes = Minutes(title=title or _title(header), date=meeting_date, place=_header_field(header, "Lieu"),
                      attendees=attendees)
    chair = people.resolve(turns[0][0]) if turns else None

    # Decisions -------------------------------------------------------------------------------
    decisions: list[str] = []
    for ti, (sp, body) in enumerate(turns):
        sents = _sentences(body)
        speaker = people.resolve(sp)
        for si, s in enumerate(sents):
            cand = None
            g = _GRANT.match(s)
            if g:
                cand = g.group(1)
            elif _ADOPTION.search(s):
                # the proposal is in this sentence, a previous one of the turn, or the previous turn
                prev_turn = _sentences(turns[ti - 1][1])[::-1] if ti > 0 else []
                for prev in [s] + sents[:si][::-1] + prev_turn:
                    p = _PROPOSE.search(prev)
                    if p:
                        cand = p.group(1)
                        break
                if cand is None:
                    head = _ADOPTION.split(s)[0]
                    head = re.sub(r"\bpas\s+d['’](?:objection|opposition)\s*\?\s*$", "", head, flags=re.I)
                    cand = head if len(head.split()) >= 4 else None
            else:
                dm = _DECIDE.search(s)
                if dm and not re.search(r"\?\s*$", s):
                    cand = s
                elif speaker == chair:
                    a = _ANNOUNCE.match(s)
                    if a:  # "Nous installerons X" -> "Installer X"
                        cand = _future_to_infinitive(a.group(1)) + a.group(2)
            if cand:
                cand = re.sub(r"\s+", " ", cand)
                cand = re.sub(r"\s*(?:Pas d['’](?:objection|opposition)\s*\?.*)$", "", cand, flags=re.I)
                cand = _capitalise(cand)
                cand = cand + ("" if cand.endswith((".", "!")) else ".")
                if len(cand) > 1 and cand not in decisions:
                    decisions.append(cand)
    minutes.decisions = decisions

    # Actions ---------------------------------------------------------------------------------
    actions: list[Action] = []
    for ti, (sp, body) in enumerate(turns):
        speaker = people.resolve(sp)
        for s in _sentences(body):
            dates = find_dates(s, ref)
            # a due date comes after the meeting (dates of past events are not deadlines)
            dates = [d for d in dates if d[2] > ref]
            if not dates:
                continue
            d_start, d_end, due = dates[0]
            owner = None
            voc = _VOCATIVE.match(s)
            named = _NAMED_SUBJECT.match(s)
            if voc:
                owner = people.resolve(voc.group(1))
            elif named:
                owner = people.resolve(named.group(1))
            elif _SELF.search(s) or _CONFIRM.match(s):
                owner = speaker
            if owner is None:
                continue
            same = [a for a in actions if a.owner == owner and a.due_date == due]
            if same:
                continue  # a reply confirming an action already recorded
            if _CONFIRM.match(s) and not _SELF.search(s.split(",", 1)[-1] if "," in s else ""):
                # bare confirmation of a pending, undated action of this owner
                pending = [a for a in actions if a.owner == owner and a.due_date is None]
                if pending:
                    pending[-1].due_date = due
                    continue
            text_ = _action_text(s, d_start, d_end)
            if _CONFIRM.match(s) and len(text_.split()) < 3:
                continue
            actions.append(Action(owner=owner, action=text_, due_date=due, due_text=s[d_start:d_end], turn=ti))
    minutes.actions = actions
    return minutes
