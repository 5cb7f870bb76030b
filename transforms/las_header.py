"""LAS/LAZ public header block checked against the file's size before any point is read, so a
poison file ("LASF" then random bytes, or a header announcing billions of points) costs
microseconds instead of gigabytes; the LAZ chunk table checked against the header; and the
selective read of only the point fields the tile registry needs. Pure: bytes in, a point count,
arrays or BadDelivery out."""

import io
import math
import struct

from .parsing import BadDelivery

# point data record length (bytes) of each LAS point format 0-10, the minimum a record can have
_LAS_MIN_RECORD = (20, 28, 26, 34, 57, 63, 30, 36, 38, 59, 67)
LAZ_MAX_RATIO = 50          # a LAZ chunk compresses points ~5-10x: 50x is no real file
LAS_MAX_POINTS = 2_000_000_000


def check_las_header(data: bytes, name: str) -> int:
    """Check a LAS/LAZ public header block against the file's size before any point is read:
    signature, version, header and VLR sizes, point format and record length, and a point count
    the bytes can hold (uncompressed: exactly; LAZ: at most LAZ_MAX_RATIO times the compressed
    bytes). Returns the announced point count; raises BadDelivery otherwise, so that a poison
    file ("LASF" then random bytes) costs microseconds, not gigabytes."""
    def bad(why: str):
        return BadDelivery(f"{name}: unreadable LAS/LAZ (header check: {why})")

    size = len(data)
    if size < 227 or data[:4] != b"LASF":
        raise bad(f"{size} bytes, signature {data[:4]!r}: not a LAS 1.x public header block")
    major, minor = data[24], data[25]
    if major != 1 or minor > 4:
        raise bad(f"version {major}.{minor} (expected 1.0-1.4)")
    header_size, offset, n_vlr = struct.unpack_from("<HII", data, 94)
    fmt_raw, rec_len, legacy = struct.unpack_from("<BHI", data, 104)
    if not 227 <= header_size <= size or not header_size <= offset <= size:
        raise bad(f"header size {header_size} / point offset {offset} outside the {size}-byte file")
    if n_vlr * 54 > offset - header_size:
        raise bad(f"{n_vlr} VLRs cannot fit in the {offset - header_size} bytes before the points")
    fmt, compressed = fmt_raw & 0x3F, bool(fmt_raw & 0xC0)
    if fmt > 10 or not _LAS_MIN_RECORD[fmt] <= rec_len <= _LAS_MIN_RECORD[fmt] + 1024:
        raise bad(f"point format {fmt_raw} with {rec_len}-byte records")
    n = legacy
    if minor >= 4 and header_size >= 375 and legacy == 0:
        (n,) = struct.unpack_from("<Q", data, 247)
    scale = struct.unpack_from("<3d", data, 131)
    bounds = struct.unpack_from("<6d", data, 179)
    if not all(math.isfinite(v) and v > 0 for v in scale) or not all(math.isfinite(v) for v in bounds):
        raise bad(f"scale {scale} / bounds {bounds} not finite and positive")
    body = size - offset
    room = body * LAZ_MAX_RATIO // rec_len if compressed else body // rec_len
    if n > min(room, LAS_MAX_POINTS):
        raise bad(f"announces {n} points of {rec_len} bytes but {body} bytes of point data can hold at "
                  f"most {room}{' compressed' if compressed else ''}")
    return int(n)


def laszip_chunks(data: bytes, header, name: str) -> list[tuple[int, int]]:
    """Check a LAZ file's chunk table against its header without decompressing a point: the
    table is readable, its chunks can hold exactly the header's point count (variable-size chunks:
    their counts sum to it; fixed-size chunks: ceil(count / chunk size) of them) and their
    compressed sizes fill the point data up to the table (a truncated or padded file fails).
    `header` is laspy's header of the file. Returns the table [(points, bytes)] or raises
    BadDelivery."""
    import io

    import lazrs

    def bad(why: str):
        return BadDelivery(f"{name}: unreadable LAS/LAZ (chunk table check: {why})")

    vlr = next((v for v in header.vlrs if getattr(v, "record_id", None) == 22204), None)
    if vlr is None:
        raise bad("compressed points but no LASzip VLR (22204)")
    try:
        laz_vlr = lazrs.LazVlr(vlr.record_data)
        start = header.offset_to_point_data
        (table_offset,) = struct.unpack_from("<q", data, start)
        src = io.BytesIO(data)
        src.seek(start)
        table = lazrs.read_chunk_table(src, laz_vlr)
    except Exception as exc:  # noqa: BLE001 - lazrs raises its own error type and OSError
        raise bad(f"no readable chunk table ({type(exc).__name__}: {exc})") from exc
    if not table:
        raise bad("empty chunk table")
    n, size = int(header.point_count), int(laz_vlr.chunk_size())
    if laz_vlr.uses_variable_size_chunks():
        held = sum(c[0] for c in table)
        if held != n:
            raise bad(f"header announces {n} points, chunk table holds {held}")
    elif len(table) != max(1, -(-n // size)):
        raise bad(f"header announces {n} points, {len(table)} chunks of {size} hold "
                  f"{(len(table) - 1) * size + 1}-{len(table) * size}")
    body = sum(c[1] for c in table)
    if start + 8 + body != table_offset:
        raise bad(f"chunks total {body} bytes but the point data runs {table_offset - start - 8} bytes "
                  f"(offset {start} to the table at {table_offset}): truncated or damaged")
    return table


def read_tile_fields(data: bytes, selection):
    """(classification, X, Y, Z) raw arrays of every point, decompressing the `selection` layers
    (Z is None when not selected)."""
    import laspy
    import numpy as np

    with laspy.open(io.BytesIO(data), decompression_selection=selection) as reader:
        fmt = reader.header.point_format.id
        arr = reader.read_points(reader.header.point_count).array
    if fmt >= 6:
        cls = np.asarray(arr["classification"], dtype=np.uint8)
    else:   # formats 0-5: 5 class bits, 3 flag bits in one byte
        cls = (np.asarray(arr["raw_classification"], dtype=np.uint8) & 0x1F)
    z = arr["Z"] if selection & laspy.DecompressionSelection.Z else None
    return cls, arr["X"], arr["Y"], z


def header_xy_agrees(h, X, Y) -> bool:
    """The header's x/y bounds are the points' (to one scale step): then its z range is trusted."""
    (sx, sy, _), (ox, oy, _) = h.scales, h.offsets
    got = (X.min() * sx + ox, Y.min() * sy + oy, X.max() * sx + ox, Y.max() * sy + oy)
    want = (h.mins[0], h.mins[1], h.maxs[0], h.maxs[1])
    return all(abs(float(a) - float(b)) <= 1.001 * s for a, b, s in zip(got, want, (sx, sy, sx, sy)))
