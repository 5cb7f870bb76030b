"""Export more REAL crack-free tiles for the tile decision: the empty-label tiles of site k1 from
the upstream crack set (omu-geolab/CrackImageDatasetForDeepLearning, CC BY-SA 4.0, the same
source and licence as ../shared/real/cracks), training and tuning photos only.

Why: the shared set holds 100 crack-free tiles (48 training, 16 tuning, 36 held-out), drawn at
random from the 1,614 empty-label tiles of `BOX/k1/all/` at commit 3516a74 (the folder was removed
later). All six false alarms of the previous head on the held-out split were k1 crack-free tiles,
and the threshold was set on 16 crack-free tuning tiles. This exports every other empty-label
tile of the TRAINING photos (MAX_1631, MAX_1635, MAX_1638) and of the TUNING photo (MAX_1641).
Tiles of the HELD-OUT photos (MAX_1644, MAX_1647) are never read (the hold-out rule of
models/roads/real_cracks.py decides it: `split_of`).

    .venv/bin/python bench/train_tile_negatives.py --git-dir <mirror of the upstream repo>
                                                   [--out data/real/cracks_k1_negatives]

The mirror: `git clone https://github.com/omu-geolab/CrackImageDatasetForDeepLearning` (or any
copy holding commit 3516a74a3d89b285592067ace2f9592061c97245). Output, in the layout of
../shared/real/cracks (so `real_cracks.load_tiles` reads it): images/no_crack/k1_<tile>.jpg
(verbatim bytes), images.csv, an empty annotations.csv, provenance.csv (source commit, path,
blob, SHA-256, licence) and README.md. Nothing of it goes into the repository (data/ is ignored;
the tiles are CC BY-SA 4.0 and are read at training time only).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.roads.real_cracks import split_of  # noqa: E402

EXTRA_NEGATIVES = ROOT / "data" / "real" / "cracks_k1_negatives"

REPO = "omu-geolab/CrackImageDatasetForDeepLearning"
COMMIT = "3516a74a3d89b285592067ace2f9592061c97245"
FOLDER = "BOX/k1/all"
LICENCE = "CC-BY-SA-4.0"
LICENCE_FILE = 'README.md at HEAD 9e9d93a (section "ライセンス / License: CC BY-SA 4.0"; no separate LICENSE file)'


def _git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True).stdout


def export(git_dir: str, out: Path, shared: Path, commit: str = COMMIT) -> dict:
    """Write the empty-label tiles of `commit`'s FOLDER that are not held out nor in `shared`."""
    listing = _git(git_dir, "ls-tree", "-l", commit, FOLDER + "/").decode().splitlines()
    entries = {}
    for line in listing:
        meta, path = line.split("\t")
        _, _, blob, size = meta.split()
        entries[Path(path).name] = (blob, size, path)
    have = set()
    with open(shared / "images.csv", newline="") as f:
        have = {Path(r["file"]).name for r in csv.DictReader(f)}
    out = Path(out)
    (out / "images" / "no_crack").mkdir(parents=True, exist_ok=True)
    rows, prov, skipped = [], [], {"held_out_photo": 0, "in_shared_set": 0, "labelled": 0}
    for name, (blob, size, path) in sorted(entries.items()):
        if not name.upper().endswith(".JPG"):
            continue
        label = entries.get(Path(name).stem + ".txt")
        if label is None or label[1] != "0":                  # a crack label (or none): not a negative
            skipped["labelled"] += 1
            continue
        file = f"images/no_crack/k1_{Path(name).stem}.jpg"
        if split_of(file) == "holdout":
            skipped["held_out_photo"] += 1
            continue
        if Path(file).name in have:
            skipped["in_shared_set"] += 1
            continue
        data = _git(git_dir, "cat-file", "blob", blob)
        (out / file).write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        rows.append({"file": file, "width": 256, "height": 256, "has_crack": 0, "n_boxes": 0, "site": "k1"})
        prov.append({"file": file, "source_repo": REPO, "commit": commit, "source_path": path, "git_blob": blob,
                     "licence": LICENCE, "licence_file": LICENCE_FILE, "sha256": sha, "modification": "verbatim (renamed)"})
    fields = {"images.csv": ["file", "width", "height", "has_crack", "n_boxes", "site"],
              "provenance.csv": ["file", "source_repo", "commit", "source_path", "git_blob", "licence", "licence_file",
                                 "sha256", "modification"]}
    for fname, data in (("images.csv", rows), ("provenance.csv", prov)):
        with open(out / fname, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields[fname])
            w.writeheader()
            w.writerows(data)
    (out / "annotations.csv").write_text("file,x1,y1,x2,y2,label\n")
    by_split: dict[str, int] = {}
    for r in rows:
        by_split[split_of(r["file"])] = by_split.get(split_of(r["file"]), 0) + 1
    (out / "README.md").write_text(
        f"# Extra crack-free tiles, site k1 (exported by bench/train_tile_negatives.py)\n\n"
        f"{len(rows)} empty-label 256x256 tiles of {REPO} at {commit}, `{FOLDER}/`, bytes verbatim; "
        f"licence CC BY-SA 4.0 ({LICENCE_FILE}); attribution: Daisuke Yoshida Laboratory, Osaka Metropolitan "
        f"University; Komi, Yoshida, Kameyama, Sensors 2025, 25, 4325. Per split (models/roads/real_cracks.py): "
        f"{by_split}. Tiles of the held-out photos and tiles already in ../shared/real/cracks are left out: {skipped}.\n")
    return {"exported": len(rows), "by_split": by_split, "skipped": skipped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--git-dir", required=True, help="a git directory holding the upstream commit")
    ap.add_argument("--out", default=str(EXTRA_NEGATIVES))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "real" / "cracks"))
    args = ap.parse_args()
    print(export(args.git_dir, Path(args.out), Path(args.shared)))


if __name__ == "__main__":
    main()
