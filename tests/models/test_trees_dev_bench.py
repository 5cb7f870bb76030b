"""The tree twin's development loop (bench/trees_dev.py) on a tiny simulated city."""

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import trees_dev  # noqa: E402


def test_the_dev_loop_reads_heights_tree_by_tree_and_reuses_detections(tmp_path, capsys):
    assert trees_dev.main(["prep", "5", "--profile", "tiny", "--workdir", str(tmp_path), "--jobs", "1"]) == 0
    wd = tmp_path / "tiny_5"
    assert (wd / "products.parquet").exists() and (wd / "vis.parquet").exists()
    total = trees_dev.evaluate(tmp_path, "tiny", [5], "base", {}, None)
    rows = pl.read_parquet(tmp_path / "res" / "base_tiny_5.parquet")
    # the total is the squared height error of the matched trees, both epochs
    assert rows.height > 50 and sorted(rows["epoch"].unique().to_list()) == ["2025", "2026"]
    assert abs(total - float((rows["dh"] ** 2).sum())) < 1e-6
    assert (rows["height_m"] - rows["true_h"] - rows["dh"]).abs().max() < 1e-9
    # the 4D step alone on the same detections gives the same figures
    assert abs(trees_dev.evaluate(tmp_path, "tiny", [5], "again", {}, "base") - total) < 1e-9
    # a DetectConfig override is applied: with no tree top under 9 m, fewer trees are matched
    trees_dev.evaluate(tmp_path, "tiny", [5], "tall", {"hmin": 9.0}, None)
    tall = pl.read_parquet(tmp_path / "res" / "tall_tiny_5.parquet")
    assert 0 < tall.height < rows.height
    out = trees_dev.kinds(tmp_path, "tiny", [5], "base")
    assert out["tree_epochs"].sum() == rows.height
    cmp_ = trees_dev.compare(tmp_path, "tiny", [5], "base", "again")
    assert cmp_.height == 0          # identical runs: no tree moved
    assert "TOTAL sse" in capsys.readouterr().out
