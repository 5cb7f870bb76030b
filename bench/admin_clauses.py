"""Clause extraction: precision and recall per field on the simulator's planted contracts, and what
the rules find on real legal texts (no ground truth there).

    PYTHONPATH=. python bench/admin_clauses.py [--seeds 40]

Simulated: the contract documents of `models/simulator/admin_contracts.py` for seeds 0..N-1 (5
contracts each, PDF and DOCX alternating, wording drawn per seed), compared with the planted truth
(`object`: the planted service name must appear in the extracted object; every other field: equal
normalised value). A row for a clause the contract does not state counts against precision.

Real: the two articles of the loi n° 93-122 (Sapin) in `tests/data/legal/` (Légifrance/LEGI via
Etalab, Licence Ouverte 2.0; see the README there). No ground truth exists: the rows are printed
for a reader to judge. No public DSP contract with a licence allowing reuse was found (copies on
document-sharing sites state no licence), so none is measured.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.admin.clauses import FIELDS, clause_rows  # noqa: E402
from models.simulator.admin import CONTRACTS, PENALTY_SCHEDULES  # noqa: E402
from models.simulator.admin_contracts import write_contracts  # noqa: E402

LEGAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "legal"


def simulated(seeds: int) -> dict:
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    docs, seconds = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            root = Path(tmp) / str(seed)
            write_contracts(CONTRACTS, PENALTY_SCHEDULES, root / "landing", root / "truth",
                            np.random.default_rng(seed), datetime(2026, 1, 1, 9))
            truth = [json.loads(x) for x in (root / "truth/admin/contract_clauses.jsonl").read_text().splitlines()]
            for f in sorted((root / "landing/admin/contracts").iterdir()):
                want = {(t["field"], t["qualifier"]): t["value"] for t in truth if t["contract_id"] == f.stem}
                t0 = time.perf_counter()
                rows, _ = clause_rows(f.read_bytes(), f.name, f.name, "")
                seconds += time.perf_counter() - t0
                docs += 1
                got = {(r["field"], r["qualifier"]): r["value"] for r in rows}
                for k, v in got.items():
                    ok = k in want and ((want[k].lower() in v.lower()) if k[0] == "object" else want[k] == v)
                    (tp if ok else fp)[k[0]] += 1
                    if k in want and not ok:
                        fn[k[0]] += 1
                for k in want.keys() - got.keys():
                    fn[k[0]] += 1
    return {"tp": tp, "fp": fp, "fn": fn, "docs": docs, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    a = ap.parse_args()
    print(f"load: {os.getloadavg()}")
    r = simulated(a.seeds)
    print(f"\nSIMULATED (planted truth): {r['docs']} contract documents, {a.seeds} seeds, "
          f"{1000 * r['seconds'] / r['docs']:.0f} ms per document")
    print(f"{'field':28s} {'planted':>7s} {'found':>6s} {'precision':>9s} {'recall':>7s}")
    allp = allr = 0
    for fld in FIELDS:
        tp, fp, fn = r["tp"][fld], r["fp"][fld], r["fn"][fld]
        p = tp / (tp + fp) if tp + fp else float("nan")
        rc = tp / (tp + fn) if tp + fn else float("nan")
        allp, allr = allp + tp + fp, allr + tp + fn
        print(f"{fld:28s} {tp + fn:7d} {tp + fp:6d} {p:9.3f} {rc:7.3f}")
    tp = sum(r["tp"].values())
    print(f"{'ALL':28s} {allr:7d} {allp:6d} {tp / allp:9.3f} {tp / allr:7.3f}")
    print("\nREAL legal texts (no ground truth: extracted rows printed for a reader to judge)")
    for f in sorted(LEGAL.glob("*.txt")):
        rows, conflicts = clause_rows(f.read_bytes(), f.name, f.name, "")
        print(f"- {f.name}: {len(rows)} rows{', conflicts ' + str(conflicts) if conflicts else ''}")
        for x in rows:
            print(f"    {x['field']} = {x['value']} (p. {x['page']}, § {x['paragraph']}, {x['confidence']}, "
                  f"{x['method']}): «{x['raw_text'][:100]}»")
    print("\nNo real DSP contract measured: none found under a licence allowing reuse.")


if __name__ == "__main__":
    main()
