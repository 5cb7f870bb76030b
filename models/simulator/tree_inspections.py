"""Arborists' inspection records of the simulated trees, as the field app exports them.

After each scan the teams visit some of the standing trees: about half the street trees, a third
of the park trees, and most declining ones (VS2-VS3). Each record: GPS position with about 1 m of
error (one team's app exports WGS84 degrees, the other's Lambert-93), inspection date two to five
months after the scan, Roloff class as rated (5 % one class off: two arborists do not always
agree), defects seen, TRAQ likelihood of failure, height (0.5 m steps) and DBH measured, inspector.
Written to ``trees/inspections/inspections_<epoch>.csv`` (docs/LANDING.md); the lake's vitality
model learns from these, never from the ground truth.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import numpy as np

from .city import to_wgs84
from .common import atomic_write_text, sub_seed
from .trees import EPOCHS, VITALITY

INSPECTORS = ("A. Rossi", "C. Bernard", "L. Giraud", "M. Nicolas")
INSPECTION_COLUMNS = ["tree_id", "x_2154", "y_2154", "lat", "lon", "inspection_date", "vitality", "defects",
                      "likelihood_of_failure", "height_m", "dbh_cm", "inspector"]


def write_inspections(city, pops: dict, alive: dict, landing: Path) -> int:
    """Arborists' records after each scan, a subset of the standing trees (own random stream, so
    every other delivery stays byte-identical)."""
    rng = np.random.default_rng(sub_seed(city.seed, "tree-inspections"))
    n = 0
    for epoch, day in EPOCHS:
        P, A = pops[epoch], alive[epoch]
        m = len(P["x"])
        p_visit = np.where(P["setting"] == "street", 0.5, 0.35) + 0.35 * (P["vitality"] >= 2)
        pick = np.flatnonzero(A & (rng.random(m) < p_visit))
        rows = []
        for i in pick:
            v = int(P["vitality"][i])
            if rng.random() < 0.05:   # two arborists do not always agree
                v = int(np.clip(v + rng.choice([-1, 1]), 0, 3))
            x, y = P["x"][i] + rng.normal(0, 1.0), P["y"][i] + rng.normal(0, 1.0)
            team = int(rng.integers(0, len(INSPECTORS)))
            defects = [d for d, on in (("lean", P["lean"][i] > 15), ("deadwood", v == 3),
                                       ("crown loss", P["loss_frac"][i] > 0)) if on]
            lof = "probable" if v == 3 or P["lean"][i] > 15 else "possible" if v == 2 else "improbable"
            when = day + timedelta(days=int(rng.integers(60, 170)))
            rec = {"tree_id": "", "x_2154": "", "y_2154": "", "lat": "", "lon": "",
                   "inspection_date": when.isoformat(), "vitality": VITALITY[v], "defects": "|".join(defects),
                   "likelihood_of_failure": lof, "height_m": f"{round(2 * (P['height'][i] + rng.normal(0, 0.5))) / 2:.1f}",
                   "dbh_cm": f"{max(3.0, P['dbh'][i] + rng.normal(0, 1.5)):.0f}", "inspector": INSPECTORS[team]}
            if team % 2:      # this team's app exports Lambert-93, the other's GPS degrees
                rec["x_2154"], rec["y_2154"] = f"{x:.2f}", f"{y:.2f}"
            else:
                lon, lat = to_wgs84(x, y)
                rec["lat"], rec["lon"] = f"{lat:.7f}", f"{lon:.7f}"
            rows.append(rec)
        rows.sort(key=lambda r: (r["inspection_date"], r["inspector"]))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=INSPECTION_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(landing / "trees" / "inspections" / f"inspections_{epoch}.csv", buf.getvalue())
        n += len(rows)
    return n
