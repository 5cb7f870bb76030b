"""The LAZ chunk table checked against the header and the bytes before any decompression, and the
registry record read from the x/y and classification layers only (issue 25, item 4)."""

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from transforms import parsing as P
from transforms.las_header import laszip_chunks

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "lidar"


def _laz(n=120_000, seed=3) -> bytes:
    import laspy
    import pyproj

    rng = np.random.default_rng(seed)
    h = laspy.LasHeader(point_format=6, version="1.4")
    h.scales, h.offsets = [0.01, 0.01, 0.01], [1024000.0, 6280000.0, 0]
    h.add_crs(pyproj.CRS.from_epsg(2154))
    las = laspy.LasData(h)
    las.x, las.y = 1024000.0 + rng.random(n) * 250, 6280000.0 + rng.random(n) * 250
    las.z = rng.random(n) * 30
    las.classification = rng.choice(np.array([2, 5, 6, 7], np.uint8), n)
    las.gps_time = rng.random(n) * 1e5
    las.intensity = rng.integers(0, 60000, n).astype(np.uint16)
    buf = io.BytesIO()
    las.write(buf, do_compress=True)
    return buf.getvalue()


def _header(data: bytes):
    import laspy

    with laspy.open(io.BytesIO(data)) as r:
        return r.header


def _full(data: bytes) -> dict:
    import laspy

    las = laspy.read(io.BytesIO(data))
    c = np.bincount(np.asarray(las.classification), minlength=32)
    return {"n": len(las.points), "min_x": float(las.x.min()), "max_y": float(las.y.max()),
            "min_z": float(las.z.min()), "max_z": float(las.z.max()), "ground": int(c[2]),
            "vegetation": int(c[3] + c[4] + c[5]), "building": int(c[6]), "noise": int(c[7])}


def test_chunk_table_matches_header_and_bytes():
    data = _laz()
    table = laszip_chunks(data, _header(data), "t.laz")
    assert len(table) == 3 and all(c[0] == 50_000 for c in table)   # 120 000 points, chunks of 50 000
    laszip_chunks(data + b"\0" * 64, _header(data), "padded.laz")   # bytes after the table: fine


def test_a_header_announcing_fewer_points_than_the_chunks_hold_is_refused():
    forged = bytearray(_laz())
    struct.pack_into("<Q", forged, 247, 60_000)                     # LAS 1.4 64-bit point count
    with pytest.raises(P.BadDelivery, match="chunk table check: header announces 60000 points, 3 chunks"):
        P.parse_laz_tile(bytes(forged), "forged.laz")


def test_a_truncated_or_cut_file_fails_at_the_chunk_table():
    data = _laz()
    for cut in (len(data) // 2, len(data) - 30):
        with pytest.raises(P.BadDelivery, match="chunk table check"):
            P.parse_laz_tile(data[:cut], "cut.laz")


def test_registry_record_from_xy_and_class_layers_equals_the_full_read():
    data = _laz()
    rec, full = P.parse_laz_tile(data, "t.laz"), _full(data)
    assert rec["point_count"] == full["n"] == 120_000
    assert rec["min_x"] == pytest.approx(full["min_x"], abs=1e-6) and rec["max_y"] == pytest.approx(full["max_y"], abs=1e-6)
    assert (rec["min_z"], rec["max_z"]) == pytest.approx((full["min_z"], full["max_z"]), abs=1e-6)
    assert (rec["ground_points"], rec["vegetation_points"], rec["building_points"], rec["noise_points"]) == \
        (full["ground"], full["vegetation"], full["building"], full["noise"])


def test_a_header_with_wrong_bounds_gets_z_from_the_points():
    data = bytearray(_laz())
    struct.pack_into("<d", data, 179 + 8 * 4, -500.0)    # header max_z wrong...
    struct.pack_into("<d", data, 179 + 8 * 1, 1024999.0)  # ...and min_x: the header is not trusted
    rec, full = P.parse_laz_tile(bytes(data), "t.laz"), _full(bytes(data))
    assert rec["min_z"] == pytest.approx(full["min_z"], abs=1e-6)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/benchmarks/lidar absent")
def test_real_files_give_the_full_reads_counts():
    for f in sorted(SHARED.glob("*.laz")):
        data = f.read_bytes()
        rec, full = P.parse_laz_tile(data, f.name), _full(data)
        assert rec["point_count"] == full["n"]
        assert (rec["min_z"], rec["max_z"]) == pytest.approx((full["min_z"], full["max_z"]), abs=1e-6)
        assert rec["ground_points"] == full["ground"] and rec["noise_points"] == full["noise"]
