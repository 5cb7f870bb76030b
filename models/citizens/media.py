"""Residents' photos: through the roads anonymiser (faces and plates blurred) before storage.

A request's ``media_url`` names a photo; the export bundles the photos beside the requests
(``landing/citizens/media/<file name of the URL>``). Only the anonymised JPEG is stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

MAX_BYTES = 20 * 1024 * 1024


def media_file(media_url: str, media_dir: Path) -> Path:
    """Where the bundled photo of `media_url` lies (its URL path's last part; no folder walk-out)."""
    name = Path(urlparse(media_url).path).name
    if not name or name in (".", ".."):
        raise ValueError(f"media_url {media_url!r} names no file")
    return Path(media_dir) / name


def anonymise_photo(path: Path) -> dict:
    """The stored record of one photo: anonymised JPEG bytes, the source's sha256, what was blurred.
    Raises ValueError (the reason) for a missing, oversized or undecodable file."""
    from models.roads.anonymise import anonymise_jpeg, anonymiser_version

    if not path.is_file() or path.is_symlink():
        raise ValueError(f"photo {path.name} not in the landing zone (missing or a link)")
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise ValueError(f"photo {path.name}: {len(data)} bytes over the {MAX_BYTES} limit")
    try:
        jpeg, boxes, share = anonymise_jpeg(data)
    except ValueError as exc:
        raise ValueError(f"photo {path.name}: {exc}") from None
    return {"file": path.name, "source_sha256": hashlib.sha256(data).hexdigest(), "jpeg": jpeg,
            "blurred_boxes": len(boxes), "blurred_share": round(float(share), 4),
            "anonymiser_version": anonymiser_version()}
