"""Find and replace personal data in French administrative text.

``redact(text)`` returns the text with each personal datum replaced by a token, and the list of
findings (kind, character offsets in the original and in the redacted text, a keyed hash of the
normalised value). The value itself is never kept in a finding, so findings may be stored.

Kinds and tokens
----------------
- ``email`` -> ``[EMAIL]``: any address, except functional mailboxes whose local part is a
  service word (``contact@``, ``mairie@``, ``marches-publics@`` ...: :data:`FUNCTIONAL_MAILBOXES`).
- ``phone`` -> ``[TELEPHONE]``: French numbers in every usual form (``06 12 34 56 78``,
  ``06.12.34.56.78``, ``0612345678``, ``+33 6 12 34 56 78``, ``+33 (0)6 ...``, ``0033 6 ...``,
  landlines ``04 93 ...``) and other international numbers written with a leading ``+``.
- ``iban`` -> ``[IBAN]``: IBANs of the countries in :data:`IBAN_LENGTHS`, with or without
  spaces, kept only when the ISO 13616 mod-97 checksum holds (random digit runs are not flagged);
  ``rib`` -> ``[IBAN]``: French RIBs (bank, branch, account, key) whose RIB key is valid.
- ``address`` -> ``[ADRESSE]``: a street number + street type + name followed by a postal code
  and a town, or an address line right under a person's name (the recipient block of a letter).
  Addresses of institutions (a tribunal, the town hall, a company's seat, a ``CS``/``Cedex``
  postal box) are kept.
- ``person`` -> ``[NOM]``: civility + name (``M.``, ``Mme``, ``Madame``, ``Monsieur``, ``Me``,
  ``Dr`` ...; the civility itself is kept so that ``Mme Dupont :`` becomes ``Mme [NOM] :``);
  a known first name + capitalised or upper-case surname (``Claire Dupont``, ``Jean DUPONT``,
  ``DUPONT Jean``); a capitalised first word + upper-case surname in a signature position; the
  name after a label (``Rédactrice :``, ``Rapporteur :``, ``Affaire suivie par`` ...); a
  ``Prénom Nom,`` line (signature block). Every surname found is then searched for again in the
  whole document, alone (``Dupont``), as the speaker turns and replies use it.

Trade-offs
----------
Names are found by rules, not by a statistical NER model: a name with no civility, no known
first name and no signature/label position is missed (recall is measured by the tests and by
``bench/search_bench.py``). Street, square and building names often carry a person's name
(``Rue Jean de Riouffe``, ``allée de la Liberté Charles de Gaulle``, ``Rue Félix Faure``): a
name preceded by a street or building word in the same phrase is *kept*, so that street names
stay searchable in general text, at the price of missing a real person whose name is written
right after such a word. Organisation names (``Mairie de Cannes``, ``Direction de la propreté``,
``Azur Stationnement SAS``) are not matched by any rule.

Hashes
------
``hash_value`` is an HMAC-SHA256 of the normalised value (spaces and separators removed,
lower case) truncated to 16 hex digits, keyed with ``key`` (the pipeline passes the setting
``CANNES_PII_HASH_KEY``, read in orchestration/settings.py). Without a key it falls back to a
fixed public salt, which does NOT protect short values (a phone number can be brute-forced):
deployments must set the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import asdict, dataclass

TOKENS = {
    "email": "[EMAIL]",
    "phone": "[TELEPHONE]",
    "iban": "[IBAN]",
    "rib": "[IBAN]",
    "address": "[ADRESSE]",
    "person": "[NOM]",
}
# Overlaps are resolved in this order (an IBAN wins over a phone number read inside its digits).
PRIORITY = {"email": 0, "iban": 1, "rib": 2, "phone": 3, "address": 4, "person": 5}

# ISO 13616 IBAN lengths (SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

FUNCTIONAL_MAILBOXES = {
    "contact", "accueil", "info", "infos", "information", "mairie", "courrier", "secretariat",
    "webmaster", "noreply", "no-reply", "ne-pas-repondre", "dpo", "rgpd", "cnil", "support",
    "marches-publics", "marchespublics", "commande-publique", "allo-mairie", "allomairie",
    "standard", "presse", "communication", "urbanisme", "etat-civil", "service-client",
    "reclamations", "reclamation", "administration", "direction", "dsi",
}

# Common French (and a few frequent foreign) first names, accents as usually written.
FIRST_NAMES = set("""
Adèle Adrien Agathe Agnès Aïcha Alain Alban Albert Alexandra Alexandre Alexis Alice Aline Alix
Amandine Amélie Anaïs André Andrée Anne Annie Antoine Antonin Arnaud Arthur Audrey Aurélie
Aurélien Axel Baptiste Benjamin Benoît Bernadette Bernard Bertrand Brigitte Bruno Camille
Carole Caroline Catherine Cécile Céline Chantal Charles Charlotte Chloé Christelle Christian
Christiane Christine Christophe Claire Clara Claude Claudine Clément Coralie Corinne Cyril
Damien Daniel Danielle Danièle David Delphine Denis Denise Didier Dominique Dylan Édith Édouard
Éléonore Éliane Élise Élodie Éloïse Emma Emmanuel Emmanuelle Émilie Éric Estelle Étienne Eugénie
Évelyne Fabien Fabienne Fabrice Fanny Fatima Florian Francine Franck François Françoise
Frédéric Frédérique Gabriel Gabrielle Gaëlle Gaëtan Geneviève Georges Gérald Gérard Ghislaine
Gilbert Gilles Ginette Grégory Guillaume Guy Hélène Henri Hervé Hugo Hugues Inès Isabelle Jacqueline
Jacques Jean Jeanne Jérémy Jérôme Joël Jordan Joseph Josiane Julie Julien Juliette Justine Karim
Karine Kévin Laetitia Laëtitia Laura Laure Laurence Laurent Léa Léo Léon Lionel Loïc Louis Louise
Luc Lucas Lucie Lucien Ludovic Lydie Madeleine Magali Manon Marc Marcel Margaux Marguerite
Maria Marie Marine Marion Martine Mathieu Mathilde Matthieu Maxime Maximilien Mélanie Michel
Michèle Micheline Mickaël Mireille Mohamed Monique Morgane Muriel Myriam Nadia Nadine Natacha
Nathalie Nathan Nicolas Nicole Noël Noémie Océane Odette Odile Olivia Olivier Pascal Pascale
Patrice Patricia Patrick Paul Paule Pauline Philippe Pierre Quentin Raphaël Raymond Régine Régis
Rémi Rémy Renée Richard Robert Roger Romain Rose Sabrina Sacha Samuel Sandrine Sarah Sébastien
Serge Simon Simone Solène Sophie Stéphane Stéphanie Suzanne Sylvain Sylvie Théo Thérèse Thibault
Thierry Thomas Timothée Tristan Valentin Valentine Valérie Véronique Victor Victoria Vincent
Virginie Xavier Yann Yannick Yasmine Yves Yvette Yvonne Zoé Jean-Pierre Jean-Paul Jean-Claude
Jean-Luc Jean-Marc Jean-François Jean-Michel Jean-Louis Jean-Marie Jean-Philippe Jean-Jacques
Marie-Claude Marie-Christine Marie-France Marie-Hélène Marie-Laure Marie-Pierre Anne-Marie
Anne-Sophie Pierre-Yves Paul-Henri Mehdi Rachid Samir Sofiane Youssef Leïla Malik Sonia Farid
Giovanni Giuseppe Marco Antonio Laura Lorenzo John James Michael David Peter
""".split())

CIVILITY = (r"(?:M\.|MM\.|Mme|Mmes|Mlle|Mlles|Madame|Monsieur|Mademoiselle|Me|Maître|Dr|Docteur|"
            r"Pr|Professeur)")
_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
# Capitalised word (with hyphen/apostrophe parts) or upper-case word.
_CAP = rf"[{_UP}][{_LO}]+(?:[-'’][{_UP}][{_LO}]+)*"
_ALLCAP = rf"[{_UP}]{{2,}}(?:[-'’][{_UP}]{{2,}})*"
_NAMEW = rf"(?:{_CAP}|{_ALLCAP})"
_PARTICLE = r"(?:de|du|des|d['’]|van|von|der|den|di|da|del|della|ben|el|al|le|la|mac|ter)"
# A name: name words separated by a space/hyphen, particles allowed between them.
_NAME = rf"{_NAMEW}(?:(?:[ ]{_PARTICLE}[ ]?|[ ]){_NAMEW}){{0,3}}"

# Capitalised words that start or continue a phrase but are not names.
NOT_NAMES = set("""
Le La Les L Un Une Des Du De Au Aux Ce Cet Cette Ces Je Tu Il Elle On Nous Vous Ils Elles Mon Ma
Mes Son Sa Ses Notre Nos Votre Vos Leur Leurs Pour Par Sur Sous Dans Avec Sans Chez Entre Vers
Et Ou Mais Donc Or Ni Car Si Que Qui Quoi Dont Où Oui Non Merci Bonjour Bonsoir Madame Monsieur
Mademoiselle Maire Adjoint Adjointe Président Présidente Directeur Directrice Préfet Préfète
Ministre Conseiller Conseillère Secrétaire Délégué Déléguée Chef Cheffe Responsable Ingénieur
Ingénieure Juriste Rapporteur Rapporteure Rédacteur Rédactrice Docteur Maître Professeur Ville
Mairie Commune Conseil Direction Service Services Département Région État Etat République
Préfecture Tribunal Cour Code Article Articles Objet Référence Vu Considérant Délibération Séance
Date Lieu Présents Absents Excusés Ordre Jour Fait Cannes Nice Antibes Grasse Paris France
Hôtel Palais Marché Marchés Avis Lot Lots Procédure Critères Allotissement Renseignements
Instance Pouvoir Contrat Contrats Rapport Comité Commission Réunion Compte Rendu Note Annexe
Cedex Madame Messieurs Mesdames Janvier Février Mars Avril Mai Juin Juillet Août Septembre
Octobre Novembre Décembre Lundi Mardi Mercredi Jeudi Vendredi Samedi Dimanche Entendu Accordé
Parfait Pas Accord Oui Non DSP DSI SIG CPV SEPA IBAN RIB BIC PMR TVA EUR HT TTC SA SAS SARL
SASU EURL SCI SEM SPL CS LED RGPD CNIL CGCT CCP PDF TXT DOCX ETP KPI PV CR AO MAPA DCE CCAP
CCTP BPU DQE AE OK NB PS II III IV VI VII VIII IX XI XII XIII XIV XV Ier Saint Sainte
""".split())

# A name right after one of these words (same phrase) is part of a street, square or building.
PLACE_WORDS = set("""
rue avenue av boulevard bd allée allées chemin impasse place placette quai square route
traverse montée descente cours passage promenade esplanade rond-point résidence lotissement
domaine parvis sentier pont port parc jardin jardins stade gymnase lycée collège école groupe
scolaire centre espace salle théâtre musée médiathèque bibliothèque hôpital clinique palais
fondation institut hôtel pôle maison villa quartier cité rond point tunnel gare aéroport plage
marché halle église chapelle cathédrale fort île ile pointe cap saint sainte st ste
""".split())

LABELS = (r"(?:Rédacteur|Rédactrice|Rapporteur|Rapporteure|Signataire|Interlocuteur|Interlocutrice|"
          r"Contact|Référent|Référente|Agent instructeur|Instructeur|Instructrice|Demandeur|Demanderesse|"
          r"Requérant|Requérante|Plaignant|Plaignante|Destinataire|Expéditeur|Expéditrice|"
          r"Affaire suivie par|Dossier suivi par|Suivi par|Signé|Signée|Pour le Maire,?|Le Maire,?|"
          r"Nom|Prénom et nom|Nom et prénom)")

STREET_TYPES = (r"(?:rue|avenue|av\.|boulevard|bd|bld|allée|allées|chemin|impasse|place|placette|quai|"
                r"square|route|traverse|montée|descente|cours|passage|promenade|esplanade|rond-point|"
                r"résidence|lotissement|domaine|parvis|sentier|villa|hameau|lieu-dit)")
INSTITUTION_CUES = re.compile(
    r"(tribunal|préfecture|mairie|hôtel de ville|siège|pouvoir adjudicateur|instance|greffe|"
    r"\bcs\s*\d|cedex|société|\bsas\b|\bsarl\b|\bsa\b|ministère|direction|agence|trésorerie|"
    r"centre des finances)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One personal datum found: where it was and a keyed hash of its normalised value."""

    kind: str
    start: int  # offsets in the original text
    end: int
    red_start: int  # offsets of the replacement token in the redacted text
    red_end: int
    digest: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Redaction:
    """Redacted text and what was removed from it."""

    text: str
    findings: list[Finding]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out


# ----------------------------------------------------------------------------- helpers


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


def normalise_value(kind: str, value: str) -> str:
    """Canonical form used for hashing: the same datum in two layouts hashes the same."""
    if kind in ("phone",):
        digits = re.sub(r"\D", "", value)
        if digits.startswith("0033"):
            digits = "0" + digits[4:]
        elif digits.startswith("33") and value.strip().startswith("+"):
            digits = "0" + digits[2:]
        if digits.startswith("00"):
            digits = digits[1:]
        return re.sub(r"^0+(?=0)", "", digits)
    if kind in ("iban", "rib"):
        return re.sub(r"\s", "", value).upper()
    return re.sub(r"\s+", " ", _fold(value)).strip()


PUBLIC_SALT = "cannes-lakehouse-pii-v1"   # the key when none is set: does NOT protect short values


def hash_value(kind: str, value: str, key: bytes | str | None = None) -> str:
    """HMAC-SHA256 (16 hex digits) of the normalised value, keyed with ``key`` or
    the fixed public salt when none is given (see the module docstring)."""
    if not key:
        key = PUBLIC_SALT
    if isinstance(key, str):
        key = key.encode()
    msg = f"{kind}:{normalise_value(kind, value)}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:16]


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: known country, its length, and the mod-97 checksum equal to 1."""
    s = re.sub(r"\s", "", iban).upper()
    if len(s) < 15 or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s):
        return False
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rearranged = s[4:] + s[:4]
    num = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(num) % 97 == 1


_RIB_LETTERS = {c: v for v, cs in enumerate(["", "AJ", "BKS", "CLT", "DMU", "ENV", "FOW", "GPX", "HQY", "IRZ"])
                for c in cs}


def rib_is_valid(bank: str, branch: str, account: str, key: str) -> bool:
    """French RIB key check: 97 - ((89 bank + 15 branch + 3 account) mod 97) == key."""
    acct = "".join(str(_RIB_LETTERS.get(c, c)) if not c.isdigit() else c for c in account.upper())
    if not acct.isdigit():
        return False
    return 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97) == int(key)


# ----------------------------------------------------------------------------- detectors

_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-%]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}(?![\w\-])")
_SEP = r"[ .\-\u00a0]?"
_NOT_AMOUNT = r"(?![ \u00a0]?(?:€|EUR\b|euros?\b|%|k€|M€|ha\b|m2|m²|km\b|t\b|kg\b))"
_PHONE_FR = re.compile(
    rf"(?<![\w+])(?:(?:\+|00)33{_SEP}(?:\(0\){_SEP})?|0)[1-9](?:{_SEP}\d{{2}}){{4}}(?!\d){_NOT_AMOUNT}")
_PHONE_INTL = re.compile(rf"(?<![\w+])\+(?!33)[1-9]\d{{0,2}}(?:[ .\-]?\(?\d{{1,4}}\)?){{2,6}}(?!\d){_NOT_AMOUNT}")
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})(?=[ \t]?[A-Za-z0-9])")
_RIB = re.compile(r"(?<![\w])(\d{5})[ ]?(\d{5})[ ]?([0-9A-Za-z]{11})[ ]?(\d{2})(?![\w])")
# number [bis|ter], street type, street name (no postal code inside), postal code, town
_ADDRESS = re.compile(
    rf"(?<![\w,])(\d{{1,4}}(?:[ ]?(?i:bis|ter|quater|[A-D]))?,?[ ]+(?i:{STREET_TYPES})\b"
    rf"(?:(?!\b\d{{5}}\b)[^\n;:()]){{2,80}}?"
    rf",?\s+\d{{5}}[ ]+[{_UP}][\w'’]+(?:[ \-][{_UP}][\w'’]+|[ \-](?:la|le|les|sur|en|de|du)[ \-][{_UP}][\w'’]+)*)"
)
_ADDRESS_LINE = re.compile(rf"^[ \t]*\d{{1,4}}(?:[ ]?(?:bis|ter|[A-D]))?,?[ ]+{STREET_TYPES}\b[^\n]{{2,80}}$",
                           re.IGNORECASE | re.MULTILINE)
_CIV_NAME = re.compile(rf"(?<![\w.])({CIVILITY})(\s+)((?:(?:de|du|d['’]|van|von|di|da|le|la)[ ]?)?{_NAME})")
_FIRST_LAST = re.compile(rf"(?<![\w\-])({_CAP}(?:-{_CAP})?)[ ]({_NAME})")
_LAST_FIRST = re.compile(rf"(?<![\w\-])({_ALLCAP})[ ]({_CAP}(?:-{_CAP})?)(?![\w])")
_LABEL_NAME = re.compile(rf"(?<![\w])({LABELS})[ \t]*:?[ \t]*(?:{CIVILITY}\s+)?({_NAME})")
_SIGNATURE = re.compile(rf"^[ \t]*({_CAP}(?:-{_CAP})?)[ ]({_NAME})[ \t]*(?:,|$)", re.MULTILINE)
# "Prénom Nom, Directrice de ..." : a name line followed by a job title (signature block).
ROLE_WORDS = (r"(?:Directeur|Directrice|Responsable|Chef|Cheffe|Adjoint|Adjointe|Maire|Chargé|Chargée|"
              r"Juriste|Ingénieur|Ingénieure|Technicien|Technicienne|Agent|Assistant|Assistante|Secrétaire|"
              r"Président|Présidente|Conseiller|Conseillère|Délégué|Déléguée|Gestionnaire|Coordinateur|"
              r"Coordinatrice|Inspecteur|Inspectrice|Contrôleur|Contrôleuse|Rédacteur|Rédactrice|Attaché|"
              r"Attachée|Administrateur|Administratrice|Géomaticien|Géomaticienne|Avocat|Avocate|Médecin)")
_SIGNATURE_ROLE = re.compile(rf"^[ \t]*({_CAP}(?:-{_CAP})?[ ]{_NAME})[ \t]*,[ \t]*(?i:{ROLE_WORDS})\b",
                             re.MULTILINE)


def _trim_name(name: str) -> str:
    """Cut a name at its first word that is not a name (``Dupont Le Suquet`` -> ``Dupont``)
    and drop trailing particles."""
    words: list[str] = []
    parts = name.split(" ")
    for i, w in enumerate(parts):
        after_particle = bool(words) and re.fullmatch(_PARTICLE, words[-1]) is not None
        # "Le Goff", "La Fontaine", "Gwendal Le Goff": an article starting a surname, only in
        # first or second position and followed by a name word.
        nxt = parts[i + 1] if i + 1 < len(parts) else ""
        article_surname = (w in {"Le", "La", "Du", "Des"} and i <= 1 and nxt and nxt not in NOT_NAMES
                           and re.fullmatch(_NAMEW, nxt) is not None)
        if w in NOT_NAMES and not (after_particle and w in {"La", "Le", "Du", "Des"}) and not article_surname:
            break
        words.append(w)
    while words and re.fullmatch(_PARTICLE, words[-1]):
        words.pop()
    return " ".join(words)


def _in_place_name(text: str, start: int) -> bool:
    """True when the words right before ``start`` (same phrase) hold a street/building word."""
    before = text[max(0, start - 60):start]
    if before.endswith("-"):
        return True  # Saint-Pierre, Jean-Jaurès street parts
    before = re.split(r"\n\s*\n|[.;:,()!?«»\"]", before)[-1]
    words = [w.lower() for w in re.findall(r"[\w'’\-]+", before)][-5:]
    for w in words:
        w = re.sub(r"^[ld]['’]", "", w)
        if w in PLACE_WORDS or w.split("-")[0] in PLACE_WORDS:
            return True
    return False


def _is_name_words(words: list[str]) -> bool:
    real = [w for w in words if not re.fullmatch(_PARTICLE, w) and w not in {"La", "Le", "Du", "Des"}]
    return bool(real) and not any(w in NOT_NAMES for w in real)  # e.g. "M. le Maire": no name


def _find_persons(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []

    def add(start: int, name: str, min_words: int = 1) -> None:
        name = _trim_name(name)
        words = [w for w in name.split(" ") if w and not re.fullmatch(_PARTICLE, w)]
        if len(words) < min_words or not _is_name_words(words):
            return
        spans.append((start, start + len(name)))

    for m in _CIV_NAME.finditer(text):
        add(m.start(3), m.group(3))
    for m in _LABEL_NAME.finditer(text):
        if m.group(2).split(" ")[0] not in NOT_NAMES:
            add(m.start(2), m.group(2))
    for m in _FIRST_LAST.finditer(text):
        first, rest = m.group(1), m.group(2)
        if first not in FIRST_NAMES or _in_place_name(text, m.start()):
            continue
        add(m.start(1), f"{first} {rest}", min_words=2)
    for m in _LAST_FIRST.finditer(text):
        last, first = m.group(1), m.group(2)
        if first in FIRST_NAMES and last not in NOT_NAMES and not _in_place_name(text, m.start()):
            spans.append((m.start(), m.end()))
    for m in _SIGNATURE.finditer(text):
        first, rest = m.group(1), m.group(2)
        words = rest.split(" ")
        # "Prénom Nom," at the start of a line, or "Prénom NOM": a signature / name line.
        upper_surname = any(re.fullmatch(_ALLCAP, w) for w in words)
        if first in NOT_NAMES or _in_place_name(text, m.start()):
            continue
        if first in FIRST_NAMES or upper_surname:
            add(m.start(1), f"{first} {rest}", min_words=2)
    for m in _SIGNATURE_ROLE.finditer(text):
        if m.group(1).split(" ")[0] not in NOT_NAMES and not _in_place_name(text, m.start()):
            add(m.start(1), m.group(1), min_words=2)
    # Upper-case surname after a capitalised word anywhere ("Jean DUPONT", "Cécile MARTIN-LEROY").
    for m in re.finditer(rf"(?<![\w\-])({_CAP})[ ]({_ALLCAP})(?![\w])", text):
        first, last = m.group(1), m.group(2)
        if first in FIRST_NAMES and last not in NOT_NAMES and len(last) >= 3 \
                and not _in_place_name(text, m.start()):
            spans.append((m.start(), m.end()))
    # Propagate: every surname found (and every full name) is searched for again in the document.
    found = {text[s:e] for s, e in spans}
    surnames: set[str] = set()
    for name in found:
        words = [w for w in name.split(" ") if not re.fullmatch(_PARTICLE, w)]
        surname_words = [w for w in words if w not in FIRST_NAMES] or words[-1:]
        if len(words) >= 2 and words[0] in FIRST_NAMES:
            surname_words = words[1:]
        surname = " ".join(surname_words)
        if len(surname) >= 3 and surname not in NOT_NAMES:
            surnames.add(surname)
            if surname.upper() != surname:
                surnames.add(surname.upper())
    for name in sorted(found | surnames, key=len, reverse=True):
        if len(name) < 3:
            continue
        for m in re.finditer(rf"(?<![\w\-@.]){re.escape(name)}(?![\w\-@])", text):
            if _in_place_name(text, m.start()):
                continue
            spans.append((m.start(), m.end()))
    return spans


def _find_ibans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _IBAN_START.finditer(text):
        country = m.group(1).upper()
        length = IBAN_LENGTHS.get(country)
        if length is None:
            continue
        # Read `length` alphanumerics from the start, allowing single spaces between groups.
        chars, i = [], m.start()
        last_sep = False
        while i < len(text) and len(chars) < length:
            ch = text[i]
            if ch.isalnum() and ch.isascii():
                chars.append(ch)
                last_sep = False
            elif ch in " \u00a0\t-" and not last_sep and chars:
                last_sep = True
            else:
                break
            i += 1
        if len(chars) != length:
            continue
        if i < len(text) and text[i].isascii() and text[i].isalnum():
            continue  # longer run: not this IBAN
        if iban_is_valid("".join(chars)):
            out.append((m.start(), i))
    return out


def _find_ribs(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _RIB.finditer(text)
            if rib_is_valid(m.group(1), m.group(2), m.group(3), m.group(4))]


def _find_addresses(text: str, person_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for m in _ADDRESS.finditer(text):
        before = text[max(0, m.start() - 80):m.start()]
        before = re.split(r"[.;\n]\s", before)[-1]
        if INSTITUTION_CUES.search(before) or INSTITUTION_CUES.search(m.group(0)):
            continue
        out.append((m.start(), m.end()))
    # An address line right under a line holding a person's name (recipient block of a letter).
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for m in _ADDRESS_LINE.finditer(text):
        prev_start = max((s for s in line_starts if s < m.start() - 1), default=None)
        if prev_start is None:
            continue
        if any(prev_start <= s < m.start() for s, _ in person_spans):
            out.append((m.start() + len(m.group(0)) - len(m.group(0).lstrip()), m.end()))
    return out


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """All personal data in ``text`` as ``(kind, start, end)``, overlaps resolved by priority
    (e-mail, IBAN, RIB, phone, address, person), sorted by position."""
    cands: list[tuple[str, int, int]] = []
    for m in _EMAIL.finditer(text):
        local = m.group(0).split("@")[0].lower()
        if local in FUNCTIONAL_MAILBOXES:
            continue
        cands.append(("email", m.start(), m.end()))
    cands += [("iban", s, e) for s, e in _find_ibans(text)]
    cands += [("rib", s, e) for s, e in _find_ribs(text)]
    cands += [("phone", m.start(), m.end()) for m in _PHONE_FR.finditer(text)]
    for m in _PHONE_INTL.finditer(text):
        if len(re.sub(r"\D", "", m.group(0))) >= 8:
            cands.append(("phone", m.start(), m.end()))
    persons = _find_persons(text)
    cands += [("address", s, e) for s, e in _find_addresses(text, persons)]
    cands += [("person", s, e) for s, e in persons]
    cands.sort(key=lambda c: (PRIORITY[c[0]], -(c[2] - c[1]), c[1]))
    taken: list[tuple[int, int]] = []
    kept: list[tuple[str, int, int]] = []
    for kind, s, e in cands:
        if s >= e or any(s < te and ts < e for ts, te in taken):
            continue
        taken.append((s, e))
        kept.append((kind, s, e))
    kept.sort(key=lambda c: c[1])
    return kept


def redact(text: str, key: bytes | str | None = None, kinds: set[str] | None = None) -> Redaction:
    """Replace personal data with tokens (see the module docstring).

    ``kinds`` restricts the kinds redacted (default: all). Returns the redacted text and the
    findings (kind, offsets in the original and redacted text, keyed hash of the value).
    """
    parts: list[str] = []
    findings: list[Finding] = []
    pos = 0
    out_len = 0
    for kind, s, e in find_pii(text):
        if kinds is not None and kind not in kinds:
            continue
        parts.append(text[pos:s])
        out_len += s - pos
        tok = TOKENS[kind]
        findings.append(Finding(kind, s, e, out_len, out_len + len(tok), hash_value(kind, text[s:e], key)))
        parts.append(tok)
        out_len += len(tok)
        pos = e
    parts.append(text[pos:])
    return Redaction("".join(parts), findings)
