"""The DECP parser and marts on a real export: the DGFiP PES file of 5 April 2019 (local
authorities' contracts, 2019 consolidated format) as republished by ColinMaudry/decp-json under
the Licence Ouverte 2.0 (tests/data/decp/README.md). The parser's normalisations were written
after reading this file, so the parse rate here is not an independent figure (docs/admin.md)."""

import zipfile
from pathlib import Path

import polars as pl

from transforms import procurement as P
from transforms import procurement_marts as M

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "decp" / "data.gouv.fr_pes_2019-04-05.json.zip"


def test_real_pes_export_parses_and_the_marts_hold():
    with zipfile.ZipFile(SAMPLE) as z:
        data = z.read(z.namelist()[0])
    p = P.parse_decp(data, "data.gouv.fr_pes.json")
    assert p.good.height == 1148 and p.bad.is_empty(), p.bad["reason"].head(5).to_list()
    assert set(p.good["schema_version"]) == {"2019"}
    b = p.good.with_columns(pl.lit("pes").alias("_source_file"), pl.lit("pes").alias("_delivery"))
    c, h, md = P.procurement_contracts(b), P.procurement_holders(b), P.procurement_modifications(b)
    assert c["contract_uid"].is_unique().all() and c.height == 1140       # 8 contracts published twice
    assert c["cpv_code"].str.len_chars().eq(8).all() and c["notified_on"].is_not_null().all()
    assert h.group_by("contract_uid").len().height == c.height and h["siren"].is_not_null().mean() > 0.95
    am, th = M.amendments(c, md), M.threshold_awards(c, h)
    ind = M.indicators(c, h, pl.DataFrame(schema=P.SUPPLIERS), am, th)
    assert ind["n_contracts"].sum() == c.height
    assert ind["n_competitive_known_offers"].sum() == 0          # the 2019 format has no offresRecues
    assert ind["sme_share_awards_pct"].is_null().all()           # no SIRENE extract: unknown, not 0
    fl = M.flags(c, am, th)
    assert fl["flag_id"].is_unique().all()
    split = th.filter(pl.col("possible_split"))
    # every flagged group has one award without the procedure its total requires
    for g in split.partition_by("split_group"):
        assert g["amount_eur"].sum() >= g["split_threshold_eur"][0] and (g["amount_eur"] < g["split_threshold_eur"]).all()
