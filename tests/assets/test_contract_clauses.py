"""assets/contracts.py: the clause table is rebuilt idempotently from the contract documents; an
unreadable document is quarantined with its reason and its contract keeps the previous rows."""

from datetime import datetime

import numpy as np
import polars as pl

from assets.contracts import extract_contract_clauses
from assets.lake import Lake
from models.simulator.admin import CONTRACTS, PENALTY_SCHEDULES
from models.simulator.admin_contracts import write_contracts


def test_rerun_idempotent_and_unreadable_contract_quarantined(tmp_path):
    landing, q = tmp_path / "landing", tmp_path / "landing" / "_quarantine"
    write_contracts(CONTRACTS, PENALTY_SCHEDULES, landing, tmp_path / "truth", np.random.default_rng(0),
                    datetime(2026, 1, 1, 9))
    lk = Lake(str(tmp_path / "lake"))
    df, meta = extract_contract_clauses(lk, landing, q)
    lk.overwrite("silver", "contract_clauses", df)
    assert df["contract_id"].n_unique() == 5 and meta["quarantined"] == 0
    again, _ = extract_contract_clauses(lk, landing, q)
    assert again.equals(df)
    # a contract replaced by a broken file: quarantined with its reason, previous rows kept
    bad = landing / "admin" / "contracts" / "DSP-PARK-2019.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")
    df2, meta2 = extract_contract_clauses(lk, landing, q)
    assert meta2 == {"quarantined": 1, "kept_from_previous_run": 1, "conflicts_dropped": {}}
    assert df2.sort("contract_id", "field", "qualifier").equals(df.sort("contract_id", "field", "qualifier"))
    assert not bad.exists() and (q / "contracts" / "admin" / "contracts" / "DSP-PARK-2019.pdf").exists()
    qt = lk.read("", "quarantine")
    assert qt.filter(pl.col("item") == "admin/contracts/DSP-PARK-2019.pdf")["reason"][0].startswith("DSP-PARK-2019.pdf")
