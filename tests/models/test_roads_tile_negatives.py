"""bench/train_tile_negatives.py: the extra crack-free tiles are exported verbatim from a git
commit, never from a held-out photo, never twice, with their provenance and licence."""

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

from models.roads.real_cracks import load_tiles

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import train_tile_negatives  # noqa: E402


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_export_skips_held_out_photos_labelled_tiles_and_the_shared_set(tmp_path):
    repo = tmp_path / "up"
    folder = repo / "BOX" / "k1" / "all"
    folder.mkdir(parents=True)
    files = {"MAX_1631_0_0": b"", "MAX_1631_0_1": b"", "MAX_1641_2_3": b"", "MAX_1644_1_1": b"",
             "MAX_1647_0_5": b"", "MAX_1635_4_4": b"0 0.5 0.5 0.1 0.2\n"}
    for stem, label in files.items():
        (folder / f"{stem}.JPG").write_bytes(b"jpeg " + stem.encode())
        (folder / f"{stem}.txt").write_bytes(label)
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiles")
    commit = _git(repo, "rev-parse", "HEAD")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "images.csv").write_text("file,width,height,has_crack,n_boxes,site\n"
                                       "images/no_crack/k1_MAX_1631_0_1.jpg,256,256,0,0,k1\n")
    out = tmp_path / "out"
    res = train_tile_negatives.export(str(repo / ".git"), out, shared, commit)
    assert res["by_split"] == {"train": 1, "tune": 1}
    assert res["skipped"] == {"held_out_photo": 2, "in_shared_set": 1, "labelled": 1}
    tiles = load_tiles(out, ("train", "tune", "holdout"))
    assert [t.file for t in tiles] == ["images/no_crack/k1_MAX_1631_0_0.jpg", "images/no_crack/k1_MAX_1641_2_3.jpg"]
    assert not any(t.has_crack or t.boxes for t in tiles)
    assert tiles[0].jpeg == b"jpeg MAX_1631_0_0"                        # verbatim bytes
    with open(out / "provenance.csv", newline="") as f:
        prov = list(csv.DictReader(f))
    assert prov[0]["sha256"] == hashlib.sha256(b"jpeg MAX_1631_0_0").hexdigest()
    assert prov[0]["commit"] == commit and prov[0]["licence"] == "CC-BY-SA-4.0"
    assert "CC BY-SA 4.0" in (out / "README.md").read_text()
