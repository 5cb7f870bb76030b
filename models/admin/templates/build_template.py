"""Rebuilds lettre_ville_cannes.docx, the letterhead template of the city's letters (header: the
city and the service; footer: where to write; a character style "Chiffre" for figures). The DOCX
is committed: an agent may restyle it in Word; the letters only need its header, footer and styles.

    python models/admin/templates/build_template.py
"""

from pathlib import Path

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.shared import Cm, Pt, RGBColor

HEADER = ["VILLE DE CANNES", "Direction du contrôle des délégations de service public et de la commande publique",
          "Hôtel de Ville, place Bernard Cornut-Gentille, 06400 Cannes"]
FOOTER = ["Toute correspondance doit être adressée à Monsieur le Maire, Hôtel de Ville, 06400 Cannes.",
          "Document de travail : projet à relire et signer par l'agent habilité."]


def build(path: Path) -> None:
    d = docx.Document()
    sec = d.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.left_margin = sec.right_margin = Cm(2)
    normal = d.styles["Normal"]
    normal.font.name, normal.font.size = "Arial", Pt(10)
    fig = d.styles.add_style("Chiffre", WD_STYLE_TYPE.CHARACTER)
    fig.font.bold = False
    fig.font.color.rgb = RGBColor(0x1F, 0x4E, 0x79)
    head = sec.header.paragraphs[0]
    for i, line in enumerate(HEADER):
        p = head if i == 0 else sec.header.add_paragraph()
        r = p.add_run(line)
        r.bold = i == 0
        r.font.size = Pt(14 if i == 0 else 8.5)
        r.font.color.rgb = RGBColor(0x1F, 0x4E, 0x79)
    foot = sec.footer.paragraphs[0]
    for i, line in enumerate(FOOTER):
        p = foot if i == 0 else sec.footer.add_paragraph()
        p.alignment = 1
        p.add_run(line).font.size = Pt(7.5)
    d.add_paragraph("[corps du courrier]")
    d.core_properties.author = "Ville de Cannes"
    d.save(str(path))


if __name__ == "__main__":
    build(Path(__file__).with_name("lettre_ville_cannes.docx"))
