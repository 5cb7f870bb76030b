"""Translation of letters (models/admin/translate.py): figures, names and references masked and
restored, glossary terms imposed, an answer that loses or invents a figure rejected; through a real
local OpenAI-compatible HTTP server, and 'unavailable' (never a fake translation) without one."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from models.admin import translate as TR
from models.admin.narrative import chat

LETTER = ("Objet : votre réclamation GRC-2025-00002 du 29/09/2025\n"
          "Le délégataire Azur Stationnement SAS a déclaré 112 réclamations en 2025 (136 l'année précédente) ; "
          "la pénalité de 6 000 € (16,0 % d'écart, article L3131-5) est due au titre du contrat DSP-PARK-2019.")
NAMES = ["Azur Stationnement SAS"]
PROTECTED = ["GRC-2025-00002", "29/09/2025", "Azur Stationnement SAS", "112", "2025", "136", "6 000 €", "16,0 %",
             "L3131-5", "DSP-PARK-2019"]


class _Server:
    """A real HTTP server speaking the chat-completions protocol; `answer(masked_text)` makes
    the reply (a deterministic 'translation' of the masked text)."""

    def __init__(self, answer):
        outer = self
        self.requests = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                text = answer(body["messages"][-1]["content"])
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return {"base_url": f"http://127.0.0.1:{self.httpd.server_port}/v1", "model": "echo-test",
                "api_key": "k", "timeout": 5}

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def english(masked: str) -> str:
    """A word-for-word 'translation' that keeps every placeholder (what a good model does)."""
    words = {"Objet": "Subject", "votre": "your", "du": "of", "Le": "The", "a déclaré": "declared",
             "réclamations": "complaints", "en": "in", "l'année précédente": "the year before", "la": "the",
             "de": "of", "d'écart": "shortfall", "article": "article", "est due au titre du contrat": "is due under "
             "contract"}
    for fr, en in sorted(words.items(), key=lambda kv: -len(kv[0])):
        masked = re.sub(r"(?<![\w\[])" + re.escape(fr) + r"(?![\w\]])", en, masked)
    return masked


def test_without_an_endpoint_the_feature_says_it_is_unavailable():
    t = TR.translate(LETTER, "fr", "en", None, NAMES)
    assert t.status == "unavailable" and t.text is None and "LLM_BASE_URL" in t.reason


def test_masking_hides_every_figure_name_and_reference_and_the_glossary_terms():
    masked, kept, terms = TR.mask(LETTER, NAMES, TR.load_glossary(), "fr", "en")
    assert not re.search(r"\d", TR.PLACEHOLDER.sub("", masked))
    assert set(PROTECTED) <= set(kept.values())
    assert {"delegate", "complaint", "penalty"} <= {t.lower() for t in terms.values()}
    it = TR.mask(LETTER, NAMES, TR.load_glossary(), "fr", "it")[2]
    assert {"concessionario", "reclamo", "penale"} <= {t.lower() for t in it.values()}


@pytest.mark.parametrize("target", ["en", "it"])
def test_round_trip_through_a_local_endpoint_keeps_every_number_name_and_reference(target):
    with _Server(english) as ep:
        t = TR.translate(LETTER, "fr", target, ep, NAMES)
    assert t.status == "translated", t.reason
    for item in PROTECTED:
        assert t.text.count(item) == LETTER.count(item), item
    assert ("delegate" if target == "en" else "concessionario") in t.text
    assert t.model == "echo-test" and t.prompt_version == TR.PROMPT_VERSION and len(t.inputs_hash) == 64


def test_a_model_that_changes_a_number_is_rejected():
    def corrupt(masked):  # writes the figure itself instead of keeping its placeholder, and changes it
        return english(masked).replace("[[P5]]", "113", 1)

    with _Server(corrupt) as ep:
        t = TR.translate(LETTER, "fr", "en", ep, NAMES)
    assert t.status == "rejected" and t.text is None and "[[P5]]" in t.reason and "113" in t.raw_output


def test_a_model_that_adds_a_figure_or_repeats_a_name_is_rejected():
    with _Server(lambda m: english(m) + " Penalty raised to 9 000 EUR.") as ep:
        t = TR.translate(LETTER, "fr", "en", ep, NAMES)
    assert t.status == "rejected" and "figures written by the model" in t.reason
    with _Server(lambda m: english(m) + " [[P1]]") as ep:
        assert "repeated" in TR.translate(LETTER, "fr", "en", ep, NAMES).reason


def test_english_back_to_french_and_unsupported_pairs():
    with _Server(lambda m: m) as ep:
        t = TR.translate("The delegate owes 6 000 € for contract DSP-PARK-2019.", "en", "fr", ep)
    assert t.status == "translated" and "délégataire" in t.text and "6 000 €" in t.text
    with pytest.raises(ValueError, match="supported pairs"):
        TR.translate("x", "en", "it", None)


def test_the_endpoint_is_called_with_the_openai_protocol():
    with _Server(lambda m: "ok") as ep:
        srv_reply = chat(ep, [{"role": "user", "content": "x"}])
    assert srv_reply == "ok"


def test_unreachable_endpoint_is_an_error_not_a_translation():
    t = TR.translate(LETTER, "fr", "en", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout": 0.5}, NAMES)
    assert t.status == "error" and t.text is None
