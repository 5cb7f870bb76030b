"""JPEG in, JPEG out for survey frames: OpenCV's codec (RGB arrays), with the input's APP1
(EXIF/XMP) segments carried over so a re-encoded frame stays geotagged."""

from __future__ import annotations

import struct

import cv2
import numpy as np


def _exif_segments(jpeg: bytes) -> list[bytes]:
    """The APP1 (EXIF/XMP) segments of a JPEG, raw, to carry them over to the re-encoded file."""
    out = []
    if jpeg[:2] != b"\xff\xd8":
        return out
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker in (0xDA, 0xD9):          # start of scan: no more metadata
            break
        (n,) = struct.unpack(">H", jpeg[i + 2:i + 4])
        if marker == 0xE1:
            out.append(jpeg[i:i + 2 + n])
        i += 2 + n
    return out


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """RGB array of a JPEG (OpenCV's decoder: faster than Pillow's for these frames)."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 90, exif_from: bytes | None = None) -> bytes:
    """JPEG bytes of an RGB array, with the APP1 segments of `exif_from` inserted after SOI."""
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    data = enc.tobytes()
    if exif_from:
        segs = _exif_segments(exif_from)
        if segs:
            data = data[:2] + b"".join(segs) + data[2:]
    return data
