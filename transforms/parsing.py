"""Parsers for every landing-zone format (docs/LANDING.md): bytes in, typed records out.

Each parser takes the delivered bytes and the file name and returns `Parsed` (good rows typed
by the source's column spec, bad rows with their reasons), or raises `BadDelivery` when the whole
file is unusable (corrupt, truncated, wrong structure). No file system access here: the assets
read the bytes and decide where things go.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import polars as pl

from .validation import ROW, Col, validate_records

WASTE_STREAMS = ("ordures_menageres", "emballages", "verre", "biodechets")
ROAD_CLASSES = ("primary", "secondary", "tertiary", "residential", "pedestrian")
SURFACES = ("asphalt", "cobbles", "concrete")
BIN_STATUS = ("ok", "lidOpen", "dropped", "moved", "vandalized", "burning")
LITTER_CATEGORIES = ("cigarette_butt", "can", "bottle", "paper", "plastic_bag", "food_packaging",
                     "leaves", "dog_waste", "bulky_item", "glass")
DSP_SECTIONS = ("pnl", "kpis", "investments", "assets", "tariffs", "staff", "complaints")
# Generous bounds around Cannes (and the agglomeration) in WGS84 and Lambert-93.
LON = (6.80, 7.20)
LAT = (43.40, 43.70)
X93 = (1000000.0, 1050000.0)
Y93 = (6260000.0, 6300000.0)


class BadDelivery(ValueError):
    """The whole delivery is unusable; the message says why, naming the file."""


@dataclass
class Parsed:
    good: pl.DataFrame
    bad: pl.DataFrame  # columns: _row_number, reason, raw
    notes: list[str] = field(default_factory=list)  # schema drift: warnings, the good rows still land

    @staticmethod
    def empty_bad() -> pl.DataFrame:
        return pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8})


SPECS: dict[str, list[Col]] = {
    "street_segments": [
        Col("segment_id"), Col("street_name"), Col("quartier"),
        Col("road_class", allowed=ROAD_CLASSES), Col("surface", allowed=SURFACES),
        Col("length_m", pl.Float64, min=0.5, max=5000), Col("speed_kmh", pl.Float64, min=5, max=110),
        Col("wkt_2154"), Col("wkt_4326"),
    ],
    "collection_points": [
        Col("bin_id"), Col("segment_id"), Col("quartier"),
        Col("x_2154", pl.Float64, min=X93[0], max=X93[1]), Col("y_2154", pl.Float64, min=Y93[0], max=Y93[1]),
        Col("lon", pl.Float64, min=LON[0], max=LON[1]), Col("lat", pl.Float64, min=LAT[0], max=LAT[1]),
        Col("capacity_l", pl.Int64, min=50, max=10000), Col("waste_stream", allowed=WASTE_STREAMS),
    ],
    "places": [
        Col("place_id"), Col("kind", allowed=("depot", "disposal", "school", "playground", "bus_stop", "market")),
        Col("name"), Col("quartier"),
        Col("x_2154", pl.Float64, min=X93[0], max=X93[1]), Col("y_2154", pl.Float64, min=Y93[0], max=Y93[1]),
        Col("lon", pl.Float64, min=LON[0], max=LON[1]), Col("lat", pl.Float64, min=LAT[0], max=LAT[1]),
        Col("attributes", required=False),
    ],
    "trucks": [
        Col("truck_id"), Col("capacity_kg", pl.Float64, min=500, max=40000),
        Col("capacity_m3", pl.Float64, min=1, max=60), Col("shift_start"),
        Col("shift_hours", pl.Float64, min=1, max=12), Col("depot_id"), Col("streams", required=False),
    ],
    "fixed_rounds": [
        Col("round_id"), Col("truck_id"), Col("weekday", pl.Int64, min=1, max=7), Col("bin_id"),
        Col("sequence", pl.Int64, min=0, max=100000),
    ],
    "dsp_contracts": [
        Col("contract_id"), Col("name"), Col("service"), Col("delegate"), Col("contract_type"),
        Col("start_date", pl.Date), Col("end_date", pl.Date),
        Col("overhead_cap_pct", pl.Float64, min=0, max=100), Col("annual_fee_eur", pl.Float64, min=0),
        # the contract's KPI penalty schedule (docs/admin.md); empty: the city's standard clause applies
        Col("penalty_eur_per_step", pl.Float64, min=0, required=False),
        Col("penalty_step_pct", pl.Float64, min=0.1, max=100, required=False),
        Col("penalty_cap_eur", pl.Float64, min=0, required=False),
        Col("commune", required=False),   # the delegating authority: a commune, or the agglomeration
    ],
    "procurement_buyers": [Col("siret"), Col("name"), Col("commune")],
    "tree_register": [
        Col("id_arbre"), Col("espece"), Col("nom_commun", required=False),
        Col("lat", pl.Float64, min=LAT[0], max=LAT[1]), Col("lon", pl.Float64, min=LON[0], max=LON[1]),
        Col("annee_plantation", pl.Int64, min=1800, max=2100, required=False),
        Col("hauteur_m", pl.Float64, min=0, max=60, required=False),
        Col("circonference_cm", pl.Float64, min=0, max=2000, required=False),
        Col("adresse", required=False),
    ],
    "collection_logs": [
        Col("truck_id"), Col("round_id", required=False), Col("bin_id"),
        Col("collected_at", pl.Datetime), Col("net_weight_kg", pl.Float64, min=0, max=5000),
        Col("fill_level_at_pickup", pl.Float64, min=0, max=1), Col("contamination", pl.Boolean),
    ],
    "bin_readings": [
        Col("message_id"), Col("bin_id"), Col("type", allowed=("WasteContainer",)),
        Col("date_observed", pl.Datetime), Col("filling_level", pl.Float64, min=0, max=1),
        Col("bin_capacity_l", pl.Float64, min=0, max=10000, required=False),
        Col("stored_waste_kind", required=False), Col("status", allowed=BIN_STATUS, required=False),
        Col("temperature_c", pl.Float64, min=-30, max=200, required=False),
        Col("cargo_weight_kg", pl.Float64, min=0, max=5000, required=False),
    ],
    "litter_detections": [
        Col("detection_id"), Col("detected_at", pl.Datetime), Col("vehicle_id"),
        Col("category", allowed=LITTER_CATEGORIES), Col("count", pl.Int64, min=1, max=10000),
        Col("lat", pl.Float64, min=LAT[0], max=LAT[1]), Col("lon", pl.Float64, min=LON[0], max=LON[1]),
        Col("confidence", pl.Float64, min=0, max=1, required=False),
    ],
    "dsp_report_lines": [
        Col("contract_id"), Col("year", pl.Int64, min=1990, max=2100),
        Col("section", allowed=DSP_SECTIONS), Col("code"), Col("label", required=False),
        Col("unit", required=False), Col("value", pl.Float64, required=False),
        Col("previous_value", pl.Float64, required=False), Col("target", pl.Float64, required=False),
        Col("comment", required=False),
    ],
}


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadDelivery(f"{name}: not UTF-8 text ({exc})") from exc


def read_csv_rows(data: bytes, name: str, spec: list[Col], *, delimiter: str = ",",
                  rename: dict[str, str] | None = None) -> Parsed:
    """Read a delimited text file strictly: a row with the wrong number of fields is a bad row,
    a missing required column makes the whole file bad."""
    text = _decode(data, name)
    if not text.strip():
        raise BadDelivery(f"{name}: empty file")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise BadDelivery(f"{name}: cannot read the CSV header ({exc})") from exc
    if rename:
        header = [rename.get(h, h) for h in header]
    required = [c.name for c in spec if c.required]
    missing = [c for c in required if c not in header]
    if missing:
        raise BadDelivery(f"{name}: missing column(s) {', '.join(missing)}; found {', '.join(header)}")
    rows, bad = [], []
    try:
        for i, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                bad.append({ROW: i, "reason": f"expected {len(header)} fields, found {len(row)}",
                            "raw": delimiter.join(row)})
                continue
            rows.append([i, *row])
    except csv.Error as exc:
        raise BadDelivery(f"{name}: malformed CSV near line {reader.line_num} ({exc})") from exc
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise BadDelivery(f"{name}: column(s) {', '.join(dup)} appear more than once in the header")
    raw = pl.DataFrame(rows, schema={ROW: pl.Int64, **{h: pl.Utf8 for h in header}}, orient="row")
    v = validate_records(raw, spec)
    bad_df = pl.concat([pl.DataFrame(bad, schema=Parsed.empty_bad().schema), v.bad]) if bad else v.bad
    return Parsed(v.good, bad_df.sort(ROW), schema_drift(header, spec))


def schema_drift(columns: list[str], spec: list[Col]) -> list[str]:
    """Columns a delivery brings that its spec does not know (dropped from bronze), and optional
    columns it no longer carries (a renamed column shows as both): one note each kind."""
    known = {c.name for c in spec}
    extra = [c for c in columns if c not in known and c != ROW]
    gone = [c.name for c in spec if not c.required and c.name not in columns]
    notes = []
    if extra:
        notes.append(f"unexpected column(s) {', '.join(extra)} not in the {len(known)}-column spec: "
                     "not stored (the other columns landed)")
    if extra and gone:
        notes.append(f"optional column(s) {', '.join(gone)} absent (renamed?): stored as NULL")
    return notes


def _records_to_raw(records: list[tuple[int, dict]], keys: list[str]) -> pl.DataFrame:
    cols: dict[str, list] = {ROW: [r[0] for r in records]}
    for k in keys:
        cols[k] = [None if r[1].get(k) is None else str(r[1].get(k)) for r in records]
    return pl.DataFrame(cols, schema={ROW: pl.Int64, **{k: pl.Utf8 for k in keys}})


# ---------------------------------------------------------------- reference

def parse_quartiers(data: bytes, name: str) -> Parsed:
    from pyproj import Transformer

    try:
        doc = json.loads(_decode(data, name))
        feats = doc["features"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadDelivery(f"{name}: not a GeoJSON FeatureCollection ({exc})") from exc
    to93 = Transformer.from_crs(4326, 2154, always_xy=True)
    rows, bad = [], []
    for i, f in enumerate(feats, start=1):
        try:
            props, geom = f["properties"], f["geometry"]
            if geom["type"] != "Polygon":
                raise ValueError(f"geometry type {geom['type']}, expected Polygon")
            ring = geom["coordinates"][0]
            xs, ys = to93.transform([p[0] for p in ring], [p[1] for p in ring])
            area = abs(sum(xs[k] * ys[k + 1] - xs[k + 1] * ys[k] for k in range(len(xs) - 1))) / 2
            rows.append({
                "code": str(props["code"]), "name": str(props["name"]),
                "commune": str(props.get("commune", "Cannes")),
                "wkt_4326": "POLYGON ((" + ", ".join(f"{p[0]} {p[1]}" for p in ring) + "))",
                "wkt_2154": "POLYGON ((" + ", ".join(f"{x:.2f} {y:.2f}" for x, y in zip(xs, ys)) + "))",
                "area_m2": float(area), ROW: i,
            })
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            bad.append({ROW: i, "reason": f"feature {i}: {exc}", "raw": json.dumps(f)[:2000]})
    good = pl.DataFrame(rows, schema={"code": pl.Utf8, "name": pl.Utf8, "commune": pl.Utf8,
                                      "wkt_4326": pl.Utf8, "wkt_2154": pl.Utf8, "area_m2": pl.Float64,
                                      ROW: pl.Int64})
    return Parsed(good, pl.DataFrame(bad, schema=Parsed.empty_bad().schema))


def parse_fleet(data: bytes, name: str) -> Parsed:
    try:
        doc = json.loads(_decode(data, name))
        trucks = doc["trucks"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadDelivery(f"{name}: expected a JSON object with a 'trucks' list ({exc})") from exc
    keys = [c.name for c in SPECS["trucks"]]
    v = validate_records(_records_to_raw(list(enumerate(trucks, start=1)), keys), SPECS["trucks"])
    return Parsed(v.good, v.bad)


# ---------------------------------------------------------------- waste

_URN = re.compile(r"^urn:ngsi-ld:WasteContainer:(.+)$")
_READING_KEYS = {"message_id": "message_id", "type": "type", "dateObserved": "date_observed",
                 "fillingLevel": "filling_level", "binCapacity": "bin_capacity_l",
                 "storedWasteKind": "stored_waste_kind", "status": "status",
                 "temperature": "temperature_c", "cargoWeight": "cargo_weight_kg"}


def reading_from_message(msg: dict) -> dict:
    """Flatten one FIWARE WasteContainer message to the bronze column names."""
    out = {dst: msg.get(src) for src, dst in _READING_KEYS.items()}
    m = _URN.match(str(msg.get("id", "")))
    out["bin_id"] = m.group(1) if m else None
    return out


def parse_bin_readings(data: bytes, name: str) -> Parsed:
    text = _decode(data, name)
    records, bad = [], []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            bad.append({ROW: i, "reason": f"line {i}: invalid JSON ({exc})", "raw": line[:2000]})
            continue
        rec = reading_from_message(msg)
        if rec["bin_id"] is None:
            bad.append({ROW: i, "reason": f"id: {msg.get('id')!r} is not urn:ngsi-ld:WasteContainer:<bin_id>",
                        "raw": line[:2000]})
            continue
        records.append((i, rec))
    keys = [c.name for c in SPECS["bin_readings"]]
    v = validate_records(_records_to_raw(records, keys), SPECS["bin_readings"])
    bad_df = pl.concat([pl.DataFrame(bad, schema=Parsed.empty_bad().schema), v.bad]).sort(ROW)
    return Parsed(v.good, bad_df)


def parse_litter_parquet(data: bytes, name: str) -> Parsed:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise BadDelivery(f"{name}: unreadable Parquet ({exc})") from exc
    spec = SPECS["litter_detections"]
    missing = [c.name for c in spec if c.required and c.name not in table.column_names]
    if missing:
        raise BadDelivery(f"{name}: missing column(s) {', '.join(missing)}")
    df = pl.from_arrow(table)
    if isinstance(df.schema.get("detected_at"), pl.Datetime):
        df = df.with_columns(pl.col("detected_at").dt.convert_time_zone("UTC")
                             .dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    raw = df.select([pl.col(c.name).cast(pl.Utf8) if c.name in df.columns else pl.lit(None, pl.Utf8).alias(c.name)
                     for c in spec])
    v = validate_records(raw, spec, row_offset=1)
    return Parsed(v.good, v.bad, schema_drift(df.columns, spec))


# ---------------------------------------------------------------- administration

def _dsp_name_parts(name: str) -> tuple[str, int]:
    m = re.match(r"^(.+)_(\d{4})\.(csv|xlsx|json)$", name.rsplit("/", 1)[-1])
    if not m:
        raise BadDelivery(f"{name}: expected <contract_id>_<year>.csv|xlsx|json")
    return m.group(1), int(m.group(2))


def parse_dsp_report(data: bytes, name: str) -> Parsed:
    """A delegate's annual report data, in any of its three delivery formats, as long rows."""
    contract_id, year = _dsp_name_parts(name)
    spec = SPECS["dsp_report_lines"]
    line_cols = ["section", "code", "label", "unit", "value", "previous_value", "target", "comment"]
    ext = name.rsplit(".", 1)[-1].lower()
    if ext == "csv":
        sub = [c for c in spec if c.name in line_cols]
        p = read_csv_rows(data, name, sub)
        good = p.good.with_columns(pl.lit(contract_id).alias("contract_id"), pl.lit(year, pl.Int64).alias("year"))
        return Parsed(good.select([c.name for c in spec] + [ROW]), p.bad)
    records: list[tuple[int, dict]] = []
    if ext == "json":
        try:
            doc = json.loads(_decode(data, name))
            sections = doc["sections"]
            if str(doc.get("contract_id", contract_id)) != contract_id or int(doc.get("year", year)) != year:
                raise BadDelivery(f"{name}: contract/year inside ({doc.get('contract_id')}, {doc.get('year')}) "
                                  f"differ from the file name ({contract_id}, {year})")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BadDelivery(f"{name}: expected {{contract_id, year, sections: {{...}}}} ({exc})") from exc
        n = 0
        for section, rows in sections.items():
            for r in rows:
                n += 1
                records.append((n, {**r, "section": section}))
    elif ext == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
            raise BadDelivery(f"{name}: unreadable XLSX ({exc})") from exc
        for needed in ("contrat", "pnl"):
            if needed not in wb.sheetnames:
                raise BadDelivery(f"{name}: missing sheet '{needed}' (sheets: {', '.join(wb.sheetnames)})")
        n = 0
        for section in wb.sheetnames:
            if section == "contrat":
                continue
            rows = list(wb[section].iter_rows(values_only=True))
            if not rows:
                continue
            header = [str(h).strip() if h is not None else "" for h in rows[0]]
            for r in rows[1:]:
                if r is None or all(v is None for v in r):
                    continue
                n += 1
                records.append((n, {**dict(zip(header, r)), "section": section}))
    else:
        raise BadDelivery(f"{name}: unsupported extension .{ext}")
    for _, r in records:
        r["contract_id"], r["year"] = contract_id, year
    v = validate_records(_records_to_raw(records, [c.name for c in spec]), spec)
    return Parsed(v.good, v.bad)


def parse_document(data: bytes, name: str) -> dict:
    """Registry facts about a document (type, pages, size of its text). Raises BadDelivery when
    the file cannot be read. The text itself is not kept here: it is redacted before indexing."""
    ext = name.rsplit(".", 1)[-1].lower()
    try:
        if ext == "pdf":
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            pages = len(reader.pages)
            text = "\n".join((p.extract_text() or "") for p in reader.pages)
        elif ext == "docx":
            import docx

            d = docx.Document(io.BytesIO(data))
            text = "\n".join(p.text for p in d.paragraphs)
            pages = None
        elif ext == "txt":
            text = _decode(data, name)
            pages = None
        else:
            raise BadDelivery(f"{name}: unsupported document type .{ext} (expected pdf, docx, txt)")
    except BadDelivery:
        raise
    except Exception as exc:
        raise BadDelivery(f"{name}: unreadable {ext.upper()} ({type(exc).__name__}: {exc})") from exc
    if not text.strip():
        raise BadDelivery(f"{name}: no extractable text (scanned image without OCR?)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return {"doc_format": ext, "pages": pages, "n_chars": len(text), "n_words": len(text.split()),
            "title": first[:120]}


# ---------------------------------------------------------------- roads

def _rational(v) -> float:
    try:
        return float(v)
    except TypeError:
        return float(v[0]) / float(v[1])


def _dms(values, ref: str) -> float:
    d, m, s = (_rational(v) for v in values)
    out = d + m / 60 + s / 3600
    return -out if ref in ("S", "W") else out


def _stable(exc: Exception) -> str:
    """An error's text without object addresses (`<_io.BytesIO object at 0x7f...>`), so the same
    bad file always gets the same quarantine reason (a retry then finds its first row)."""
    import re

    return re.sub(r"<([\w.]+) object at 0x[0-9a-f]+>", r"<\1>", str(exc))


def parse_survey_frame(data: bytes, name: str) -> dict:
    """Decode one survey JPEG fully and read its EXIF position, heading and time.

    Raises BadDelivery for an undecodable image or a frame without GPS."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            exif = im.getexif()
            im.load()  # decode all pixels: a truncated JPEG fails here
            width, height = im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadDelivery(f"{name}: cannot decode image ({_stable(exc)})") from exc
    if fmt != "JPEG":
        raise BadDelivery(f"{name}: expected a JPEG, found {fmt}")
    gps = exif.get_ifd(0x8825)
    if not gps or 2 not in gps or 4 not in gps:
        raise BadDelivery(f"{name}: no GPS position in EXIF")
    try:
        lat = _dms(gps[2], gps.get(1, "N"))
        lon = _dms(gps[4], gps.get(3, "E"))
        heading = _rational(gps[17]) if 17 in gps else None
    except (TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
        raise BadDelivery(f"{name}: unreadable GPS EXIF ({exc})") from exc
    ex = exif.get_ifd(0x8769)
    taken = ex.get(36867) or exif.get(306)
    offset = ex.get(36881)
    captured_at = None
    if taken:
        try:
            t = datetime.strptime(str(taken), "%Y:%m:%d %H:%M:%S")
            tz = timezone.utc
            if offset:
                sign = -1 if str(offset).startswith("-") else 1
                hh, mm = str(offset).lstrip("+-").split(":")
                tz = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
            captured_at = t.replace(tzinfo=tz).astimezone(timezone.utc)
        except ValueError as exc:
            raise BadDelivery(f"{name}: unreadable DateTimeOriginal {taken!r} ({exc})") from exc
    if not (LAT[0] <= lat <= LAT[1] and LON[0] <= lon <= LON[1]):
        raise BadDelivery(f"{name}: GPS position {lat:.6f}, {lon:.6f} is outside the Cannes area")
    return {"lat": lat, "lon": lon, "heading_deg": heading, "captured_at": captured_at,
            "width": width, "height": height, "make": exif.get(271), "model": exif.get(272)}


# ---------------------------------------------------------------- trees

def _declared_epsg(header, name: str) -> int:
    """The EPSG code of the tile's declared horizontal CRS (OGC WKT VLR or GeoTIFF GeoKey VLR);
    a compound CRS (e.g. Lambert-93 + NGF-IGN69 heights) gives its horizontal part."""
    try:
        crs = header.parse_crs()
    except Exception as exc:  # noqa: BLE001 - laspy raises several types for a broken VLR
        raise BadDelivery(f"{name}: unreadable CRS record ({type(exc).__name__}: {exc})") from exc
    if crs is None:
        raise BadDelivery(f"{name}: no CRS declared (neither an OGC WKT nor a GeoTIFF VLR); "
                          "the tile cannot be placed (expected e.g. EPSG:2154 Lambert-93)")
    if crs.is_compound and crs.sub_crs_list:
        crs = crs.sub_crs_list[0]
    epsg = crs.to_epsg()
    if epsg is None:
        raise BadDelivery(f"{name}: CRS declared but not identifiable to an EPSG code ({crs.name})")
    return int(epsg)


def _lambert93_bounds(x0: float, y0: float, x1: float, y1: float, epsg: int, name: str) -> tuple[float, ...]:
    """The tile's bounds in Lambert-93 (reprojected with pyproj when the tile is in another CRS),
    after checking the points lie in the declared CRS's area of use: coordinates that do not
    (degrees under a metric CRS, a wrong zone) mean the tile is mis-projected."""
    import numpy as np
    from pyproj import CRS, Transformer

    crs = CRS.from_epsg(epsg)
    aou = crs.area_of_use
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    tol = 1.0  # degrees: a tile at the edge of a zone is still well placed
    if aou is not None and not (np.isfinite(lon).all() and np.isfinite(lat).all()
                                and lon.min() >= aou.west - tol and lon.max() <= aou.east + tol
                                and lat.min() >= aou.south - tol and lat.max() <= aou.north + tol):
        raise BadDelivery(f"{name}: points (x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f}) lie outside the area of use "
                          f"of the declared EPSG:{epsg} ({crs.name}: {aou.name}): mis-projected?")
    if epsg == 2154:
        return x0, y0, x1, y1
    b = Transformer.from_crs(crs, 2154, always_xy=True).transform_bounds(x0, y0, x1, y1, densify_pts=21)
    return tuple(float(v) for v in b)


def parse_laz_tile(data: bytes, name: str) -> dict:
    """Describe a LAS/LAZ tile for the registry, decompressing only what the registry needs.
    The bounds are in Lambert-93 whatever the tile's declared CRS (``crs_epsg``); whether the tile
    lies in the city's territory is decided in silver against the reference communes.

    Checked before any point is decompressed: the public header against the file's size
    (check_las_header) and, for LAZ, the chunk table against the header's point count and the
    file's bytes (laszip_chunks: a truncated file fails here). Then only the x/y and
    classification layers are decompressed (LAZ 1.4 point formats 6-10 are layered; formats 0-5
    are decompressed whole): bounds, density and counts per class come from the points; the
    heights' range from the header once its x/y bounds agree with the points' (else z is read
    too). The silver points step (models/lidar/tiles.py) decompresses every field. Ingestion
    runs this under a time and memory budget (assets/guard.py, assets/parse_pool.py)."""
    from .las_header import check_las_header, header_xy_agrees, laszip_chunks, read_tile_fields

    check_las_header(data, name)
    import laspy
    import numpy as np

    ds = laspy.DecompressionSelection
    try:
        with laspy.open(io.BytesIO(data)) as probe:
            h = probe.header
        layered = h.point_format.id >= 6
        if h.are_points_compressed:
            laszip_chunks(data, h, name)
        cls, X, Y, Z = read_tile_fields(data, ds.XY_RETURNS_CHANNEL | ds.CLASSIFICATION if layered else ds.all())
        n = int(cls.size)
        if n and layered and not header_xy_agrees(h, X, Y):
            cls, X, Y, Z = read_tile_fields(data, ds.XY_RETURNS_CHANNEL | ds.Z | ds.CLASSIFICATION)
            layered = False
    except BadDelivery:
        raise
    except Exception as exc:  # laspy/lazrs raise LaspyException, ValueError, OSError...
        raise BadDelivery(f"{name}: unreadable LAS/LAZ ({type(exc).__name__}: {exc})") from exc
    if n == 0:
        raise BadDelivery(f"{name}: tile has no points")
    if h.point_count != n:
        raise BadDelivery(f"{name}: header announces {h.point_count} points, file holds {n}")
    epsg = _declared_epsg(h, name)
    (sx, sy, sz), (ox, oy, oz) = h.scales, h.offsets
    x0, x1 = float(X.min()) * sx + ox, float(X.max()) * sx + ox
    y0, y1 = float(Y.min()) * sy + oy, float(Y.max()) * sy + oy
    if layered:   # z not decompressed: the header's range (its x/y bounds were just verified)
        z0, z1 = float(h.mins[2]), float(h.maxs[2])
    else:
        z0, z1 = float(Z.min()) * sz + oz, float(Z.max()) * sz + oz
    bounds = _lambert93_bounds(x0, y0, x1, y1, epsg, name)
    counts = np.bincount(cls, minlength=32)
    area = max((x1 - x0) * (y1 - y0), 1.0)
    return {
        "point_count": int(n), "point_format": int(h.point_format.id),
        "las_version": f"{h.version.major}.{h.version.minor}", "crs_epsg": int(epsg),
        "min_x": bounds[0], "min_y": bounds[1], "max_x": bounds[2], "max_y": bounds[3],
        "min_z": z0, "max_z": z1,
        "density_pts_m2": float(n / area), "ground_points": int(counts[2]),
        "vegetation_points": int(counts[3] + counts[4] + counts[5]), "building_points": int(counts[6]),
        "noise_points": int(counts[7]), "has_ground_class": bool(counts[2] > 0),
    }


# ---------------------------------------------------------------- city calendar (reference)

CALENDAR_KINDS = ("school_holiday", "event")
SPECS["city_calendar"] = [
    Col("kind", allowed=CALENDAR_KINDS), Col("name"), Col("first_day", pl.Date), Col("last_day", pl.Date),
    Col("zone", required=False),
]


def parse_city_calendar(data: bytes, name: str) -> Parsed:
    """``reference/city_calendar.csv``: school-holiday and event periods (inclusive days). A period
    that ends before it starts, or longer than a year, is a bad row."""
    p = read_csv_rows(data, name, SPECS["city_calendar"])
    days = (pl.col("last_day") - pl.col("first_day")).dt.total_days()
    wrong = p.good.with_columns(
        pl.when(days < 0).then(pl.format("last_day {} is before first_day {}", pl.col("last_day"), pl.col("first_day")))
        .when(days > 366).then(pl.format("period {} to {} is longer than a year", pl.col("first_day"), pl.col("last_day")))
        .otherwise(None).alias("reason"))
    bad = wrong.filter(pl.col("reason").is_not_null()).select(
        pl.col(ROW), pl.col("reason"),
        pl.concat_str([pl.col(c.name).cast(pl.Utf8).fill_null("") for c in SPECS["city_calendar"]], separator=",")
        .alias("raw"))
    good = p.good.join(bad.select(ROW), on=ROW, how="anti")
    return Parsed(good, pl.concat([p.bad, bad]).sort(ROW))
