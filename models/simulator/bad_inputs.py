"""Bad deliveries, planted on purpose so the demo (and the tests) show quarantine at work:

- a corrupt JPEG in a survey folder (the camera wrote half a file; the manifest lists it),
- a survey frame without GPS (the receiver had no fix) and a frame whose GPS puts it 250 m out
  at sea, far from any street (a multipath jump),
- a truncated LAZ tile (the transfer stopped at 60 %) and a mis-projected one (WGS84 degrees
  written under a Lambert-93 header),
- a collection-log CSV with three bad rows among good ones (unparseable time, negative weight,
  a missing field),
- a duplicate delivery (yesterday's log sent again under another name).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .city import City
from .common import atomic_write_bytes, atomic_write_text


def plant_bad_inputs(city: City, landing: Path) -> dict:
    landing = Path(landing)
    planted: dict[str, str] = {}

    surveys = sorted((landing / "roads" / "surveys").glob("*/manifest.json"))
    if surveys:
        manifest_path = surveys[0]
        manifest = json.loads(manifest_path.read_text())
        frames = manifest["frames"]
        good = (manifest_path.parent / frames[0]["file"]).read_bytes()
        broken = good[: len(good) // 3]  # a JPEG cut after its first third: headers fine, scan data missing
        name = "frame_999001.jpg"
        atomic_write_bytes(manifest_path.parent / name, broken)
        if not any(f["file"] == name for f in frames):
            frames.append({"file": name, "sha256": hashlib.sha256(broken).hexdigest()})
            manifest["frame_count"] = len(frames)
            atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
        planted["corrupt_jpeg"] = f"{manifest_path.parent.name}/{name}"
        for name, gps in (("frame_999002.jpg", None), ("frame_999003.jpg", (43.5445, 7.0185))):
            data = _with_gps(good, gps)
            atomic_write_bytes(manifest_path.parent / name, data)
            if not any(f["file"] == name for f in frames):
                frames.append({"file": name, "sha256": hashlib.sha256(data).hexdigest()})
        manifest["frame_count"] = len(frames)
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
        planted["frame_without_gps"] = f"{manifest_path.parent.name}/frame_999002.jpg"
        planted["frame_far_from_streets"] = f"{manifest_path.parent.name}/frame_999003.jpg"

    tiles = sorted((landing / "trees" / "tiles").glob("*/*.laz"))
    if tiles:
        src = tiles[0]
        data = src.read_bytes()
        x, y = 1019000, 6278000  # a tile id no real tile uses
        dest = src.parent / f"L93_{x}_{y}.laz"
        atomic_write_bytes(dest, data[: int(len(data) * 0.6)])
        planted["truncated_laz"] = f"{src.parent.name}/{dest.name}"
        mis = src.parent / f"L93_{x + 250}_{y}.laz"
        if not mis.exists():
            _write_misprojected(src, mis)
        planted["misprojected_laz"] = f"{src.parent.name}/{mis.name}"

    logs = sorted((landing / "waste" / "collection_logs").glob("collecte_????-??-??.csv"))
    if logs:
        last = logs[-1]
        day = last.stem.removeprefix("collecte_")
        tz = ZoneInfo("Europe/Paris")
        rows = list(csv.DictReader(io.StringIO(last.read_text())))
        header = ["truck_id", "round_id", "bin_id", "collected_at", "net_weight_kg", "fill_level_at_pickup",
                  "contamination"]
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        start = datetime.fromisoformat(day).replace(hour=14, tzinfo=tz)
        for i, r in enumerate(rows[:10]):
            t = start + timedelta(minutes=3 * i)
            w.writerow([r["truck_id"], "R-RATTRAPAGE", r["bin_id"], t.isoformat(), "18.5", "0.35", "0"])
        b = rows[0] if rows else {"truck_id": "BOM-01", "bin_id": city.bins[0].bin_id}
        w.writerow([b["truck_id"], "R-RATTRAPAGE", b["bin_id"], "31/10/2026 25h61", "20.0", "0.4", "0"])
        w.writerow([b["truck_id"], "R-RATTRAPAGE", b["bin_id"], (start + timedelta(hours=1)).isoformat(),
                    "-12.0", "0.4", "0"])
        w.writerow([b["truck_id"], "R-RATTRAPAGE", b["bin_id"], (start + timedelta(hours=2)).isoformat(), "20.0"])
        atomic_write_text(last.with_name(f"collecte_{day}_rattrapage.csv"), out.getvalue())
        planted["csv_with_bad_rows"] = f"collecte_{day}_rattrapage.csv"
        dup = last.with_name(f"collecte_{day}_copie.csv")
        atomic_write_bytes(dup, last.read_bytes())
        planted["duplicate_delivery"] = dup.name
    return planted


def _with_gps(jpeg: bytes, latlon: tuple[float, float] | None) -> bytes:
    """The same frame with its GPS block removed (None) or moved to (lat, lon)."""
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg))
    exif = img.getexif()
    if latlon is None:
        exif.pop(0x8825, None)
    else:
        from .roads import _dms

        gps = exif.get_ifd(0x8825)
        gps[0x0002] = _dms(latlon[0])
        gps[0x0004] = _dms(latlon[1])
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _write_misprojected(good: Path, dest: Path) -> None:
    """A tile whose coordinates are WGS84 degrees written under a Lambert-93 (EPSG:2154) header."""
    import laspy
    import numpy as np
    from pyproj import CRS

    las = laspy.read(good)
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.offsets = [0.0, 0.0, 0.0]
    header.scales = [1e-7, 1e-7, 0.01]
    header.add_crs(CRS.from_epsg(2154))
    bad = laspy.LasData(header)
    n = min(1000, len(las.points))
    bad.x = np.full(n, 7.01) + np.linspace(0, 0.001, n)
    bad.y = np.full(n, 43.55) + np.linspace(0, 0.001, n)
    bad.z = np.asarray(las.z[:n])
    tmp = dest.with_name(f".{dest.name}.tmp")
    bad.write(str(tmp), do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    tmp.rename(dest)
