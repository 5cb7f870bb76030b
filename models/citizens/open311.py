"""Open311 GeoReport v2 service requests -> typed, redacted bronze rows.

A delivery is what a GeoReport v2 endpoint returns for ``GET /requests.json`` (a JSON array of
service requests), or one request object (one NATS message). Each request version (same
``service_request_id``, a new ``updated_datetime`` or ``status``) is one row; its
``content_hash`` (sha256 of the canonical JSON of the request as received) lets file and NATS
deliveries of the same version be stored once.

Free text (``description``, ``status_notes``) is redacted with the documents' redactor
(models/documents/redact.py) *before* anything is stored: names, phone numbers, e-mail
addresses, IBANs and the residents' own postal addresses become tokens. The ``address`` field
(where the problem is) is kept. Photos (``media_url``) are only referenced here; they are
anonymised before storage by the silver step (models/citizens/media.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import polars as pl

from models.documents.redact import redact

ROW = "_row_number"

# service_code -> (service, item kind the report is matched to, human name)
SERVICE_CODES: dict[str, tuple[str, str, str]] = {
    "pothole": ("voirie", "segment", "Nid-de-poule"),
    "pavement": ("voirie", "segment", "Chaussée ou trottoir dégradé"),
    "bin_overflow": ("proprete", "bin", "Conteneur débordant"),
    "fly_tipping": ("proprete", "bin", "Dépôt sauvage"),
    "litter": ("proprete", "bin", "Déchets sur la voie publique"),
    "tree_danger": ("espaces_verts", "tree", "Arbre dangereux"),
    "tree_fallen": ("espaces_verts", "tree", "Arbre tombé"),
}
STATUSES = ("open", "closed")
# the agglomeration's extent in WGS84 (Théoule to Mougins, with a margin)
LAT_RANGE = (43.40, 43.65)
LON_RANGE = (6.80, 7.10)

SCHEMA: dict[str, pl.DataType] = {
    "service_request_id": pl.Utf8, "service_code": pl.Utf8, "service_name": pl.Utf8,
    "description": pl.Utf8, "status_notes": pl.Utf8, "lat": pl.Float64, "lon": pl.Float64,
    "address": pl.Utf8, "media_url": pl.Utf8, "requested_datetime": pl.Datetime("us", "UTC"),
    "updated_datetime": pl.Datetime("us", "UTC"), "status": pl.Utf8, "redactions": pl.Int64,
    "content_hash": pl.Utf8,
}


class BadRequest(ValueError):
    """A service request that cannot be stored, with the reason in words."""


def content_hash(req: dict) -> str:
    return hashlib.sha256(json.dumps(req, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _time(v, field: str) -> datetime:
    if not isinstance(v, str) or not v:
        raise BadRequest(f"{field}: missing or not a string (ISO 8601 expected), got {v!r}")
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field}: {v!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise BadRequest(f"{field}: {v!r} has no time zone (GeoReport v2 requires W3C date-times with offset)")
    return t.astimezone(timezone.utc)


def _float(v, field: str, lo: float, hi: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise BadRequest(f"{field}: {v!r} is not a number") from None
    if not lo <= f <= hi:
        raise BadRequest(f"{field}: {f} outside the agglomeration [{lo}, {hi}]")
    return f


def parse_request(req, key: bytes | str | None = None) -> dict:
    """One GeoReport v2 request object -> one typed row, free text redacted; BadRequest says why not."""
    if not isinstance(req, dict):
        raise BadRequest(f"not a JSON object (got {type(req).__name__})")
    rid = req.get("service_request_id")
    if rid in (None, "") or not isinstance(rid, (str, int)):
        raise BadRequest("service_request_id missing")
    code = req.get("service_code")
    if code not in SERVICE_CODES:
        raise BadRequest(f"service_code {code!r} unknown (expected one of {', '.join(SERVICE_CODES)})")
    status = req.get("status")
    if status not in STATUSES:
        raise BadRequest(f"status {status!r} (GeoReport v2: open or closed)")
    requested = _time(req.get("requested_datetime"), "requested_datetime")
    updated = _time(req.get("updated_datetime") or req.get("requested_datetime"), "updated_datetime")
    if updated < requested:
        raise BadRequest(f"updated_datetime {updated.isoformat()} before requested_datetime {requested.isoformat()}")
    lat = _float(req.get("lat"), "lat", *LAT_RANGE)
    lon = _float(req.get("long"), "long", *LON_RANGE)
    n = 0
    text = {}
    for f in ("description", "status_notes"):
        v = req.get(f)
        if v is not None and not isinstance(v, str):
            raise BadRequest(f"{f}: not a string")
        if v:
            r = redact(v, key)
            text[f], n = r.text, n + len(r.findings)
        else:
            text[f] = v or None
    return {"service_request_id": str(rid), "service_code": code,
            "service_name": req.get("service_name") or SERVICE_CODES[code][2],
            "description": text["description"], "status_notes": text["status_notes"], "lat": lat, "lon": lon,
            "address": req.get("address") or None, "media_url": req.get("media_url") or None,
            "requested_datetime": requested, "updated_datetime": updated, "status": status, "redactions": n,
            "content_hash": content_hash(req)}


def raw_text(obj, limit: int = 4096) -> str:
    """What arrived (for the quarantine row), redacted too: a bad request may still carry a phone number."""
    s = json.dumps(obj, ensure_ascii=False, default=str) if not isinstance(obj, str) else obj
    s = redact(s).text
    return s if len(s) <= limit else s[:limit] + f"... [truncated: {limit} of {len(s)} characters kept]"


def parse_requests(items: list, key: bytes | str | None = None) -> tuple[pl.DataFrame, list[dict]]:
    """Rows of the good requests (with their 1-based position in ROW) and the bad ones
    ({ROW, reason, raw})."""
    good, bad = [], []
    for i, req in enumerate(items, start=1):
        try:
            row = parse_request(req, key)
        except BadRequest as exc:
            rid = req.get("service_request_id") if isinstance(req, dict) else None
            bad.append({ROW: i, "reason": f"request {rid or '?'}: {exc}", "raw": raw_text(req)})
            continue
        row[ROW] = i
        good.append(row)
    df = pl.DataFrame(good, schema={**SCHEMA, ROW: pl.Int64})
    return df, bad


def decode_requests(data: bytes, name: str) -> list:
    """The request objects of a GeoReport v2 JSON delivery (an array, or one object)."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"{name}: not UTF-8 JSON ({str(exc)[:200]})") from None
    if isinstance(obj, dict) and "service_requests" in obj:   # the XML-to-JSON wrapper some exports use
        obj = obj["service_requests"]
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list):
        raise BadRequest(f"{name}: a GeoReport v2 delivery is a JSON array of service requests")
    return obj
