"""Procurement analytics on real DECP exports: parse rate, quarantine reasons, and the indicators.

    PYTHONPATH=$PWD python bench/procurement_real.py [FILE.json|FILE.zip ...]

Without arguments it runs on the real sample committed under tests/data/decp/ (the DGFiP PES
export of 5 April 2019 as republished by ColinMaudry/decp-json, Licence Ouverte 2.0; README
there). The parser's normalisations (xs:date offsets, 7-digit CPV codes, 2019 procedure
spellings) were written after reading that file and the AIFE export of 4 April 2019: figures on
those two are not independent; the e-marchespublics (3 April 2019) and marches-publics.info
(7 March 2019) exports of the same repository were held out and only run once, afterwards.
"""

from __future__ import annotations

import collections
import re
import sys
import time
import zipfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms import procurement as P  # noqa: E402
from transforms import procurement_marts as M  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "decp" / "data.gouv.fr_pes_2019-04-05.json.zip"


def read(path: Path) -> tuple[str, bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            name = z.namelist()[0]
            return name, z.read(name)
    return path.name, path.read_bytes()


def run(path: Path) -> dict:
    name, data = read(path)
    t = time.perf_counter()
    p = P.parse_decp(data, name)
    b = p.good.with_columns(pl.lit(name).alias("_source_file"), pl.lit(name).alias("_delivery"))
    c, h, md = P.procurement_contracts(b), P.procurement_holders(b), P.procurement_modifications(b)
    sup = pl.DataFrame(schema=P.SUPPLIERS)   # no SIRENE extract for real holders here: SME share unknown
    am, th = M.amendments(c, md), M.threshold_awards(c, h)
    ind, fl = M.indicators(c, h, sup, am, th), M.flags(c, am, th)
    secs = time.perf_counter() - t
    reasons = collections.Counter(re.sub(r"'[^']*'|\d+", "#", r.split(": ", 1)[-1])[:80] for r in p.bad["reason"])
    return {"file": name, "records": p.good.height + p.bad.height, "parsed": p.good.height, "quarantined": p.bad.height,
            "reasons": reasons.most_common(5), "contracts": c.height, "holders": h.height, "modifications": md.height,
            "flags": dict(fl.group_by("flag_type").len().iter_rows()), "seconds": round(secs, 2),
            "indicators": ind, "mix": M.procedure_mix(c)}


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or [SAMPLE]
    pl.Config.set_tbl_cols(14).set_tbl_width_chars(200).set_fmt_str_lengths(60)
    for path in paths:
        r = run(path)
        print(f"== {r['file']}: {r['records']} marchés, {r['parsed']} parsed ({100 * r['parsed'] / max(r['records'], 1):.1f} %),"
              f" {r['quarantined']} quarantined; {r['contracts']} contracts, {r['holders']} holder rows, "
              f"{r['modifications']} modifications; {r['seconds']} s")
        for reason, n in r["reasons"]:
            print(f"   quarantined {n:5d} x {reason}")
        print(f"   flags: {r['flags']}")
        print(r["indicators"].select("year", "n_contracts", "amount_eur", "n_competitive_known_offers", "single_bid_rate_pct",
                                     "median_publication_delay_days", "n_late_publications", "n_amended_over_limit",
                                     "n_just_under_threshold", "n_possible_split_awards"))


if __name__ == "__main__":
    main(sys.argv[1:])
