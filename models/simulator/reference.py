"""Writers for the reference data every service shares (see docs/LANDING.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .city import City, to_wgs84
from .common import atomic_write_text


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r[c] for c in columns})
    return buf.getvalue()


#: INSEE code of Cannes (Code officiel géographique)
CANNES_INSEE = "06029"


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def half(seq):
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return lower[:-1] + upper[:-1]


def communes_geojson(city: City) -> dict:
    """The simulated communes (Cannes, INSEE 06029, and the agglomeration's others the profile
    holds): each the outline around its quartiers, WGS84."""
    from .city import OTHER_COMMUNES

    feats = []
    for commune in dict.fromkeys(q.commune for q in city.quartiers):
        hull = _hull([(x, y) for q in city.quartiers if q.commune == commune for x, y in q.polygon])
        ring = [[round(v, 7) for v in to_wgs84(x, y)] for x, y in hull]
        ring.append(ring[0])
        insee = CANNES_INSEE if commune == "Cannes" else OTHER_COMMUNES[commune]["insee"]
        feats.append({"type": "Feature", "properties": {"insee": insee, "name": commune},
                      "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": feats}


def write_reference(city: City, landing: Path) -> dict:
    ref = Path(landing) / "reference"
    feats = []
    for q in city.quartiers:
        ring = [list(map(lambda v: round(v, 7), to_wgs84(x, y))) for x, y in q.polygon]
        ring.append(ring[0])
        feats.append({"type": "Feature",
                      "properties": {"code": q.code, "name": q.name, "commune": q.commune},
                      "geometry": {"type": "Polygon", "coordinates": [ring]}})
    atomic_write_text(ref / "quartiers.geojson",
                      json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False))

    atomic_write_text(ref / "communes.geojson", json.dumps(communes_geojson(city), ensure_ascii=False))

    rows = []
    for s in city.segments:
        (lon0, lon1), (lat0, lat1) = to_wgs84([s.x0, s.x1], [s.y0, s.y1])
        rows.append({
            "segment_id": s.segment_id, "street_name": s.street_name, "quartier": s.quartier,
            "road_class": s.road_class, "surface": s.surface, "length_m": f"{s.length_m:.2f}",
            "speed_kmh": s.speed_kmh,
            "wkt_2154": f"LINESTRING ({s.x0:.2f} {s.y0:.2f}, {s.x1:.2f} {s.y1:.2f})",
            "wkt_4326": f"LINESTRING ({lon0:.7f} {lat0:.7f}, {lon1:.7f} {lat1:.7f})",
        })
    atomic_write_text(ref / "street_segments.csv", _csv(rows, list(rows[0])))

    rows = []
    for b in city.bins:
        lon, lat = to_wgs84(b.x, b.y)
        rows.append({"bin_id": b.bin_id, "segment_id": b.segment_id, "quartier": b.quartier,
                     "x_2154": f"{b.x:.2f}", "y_2154": f"{b.y:.2f}", "lon": f"{lon:.7f}",
                     "lat": f"{lat:.7f}", "capacity_l": b.capacity_l, "waste_stream": b.waste_stream})
    atomic_write_text(ref / "collection_points.csv", _csv(rows, list(rows[0])))

    rows = []
    for p in city.places:
        lon, lat = to_wgs84(p.x, p.y)
        rows.append({"place_id": p.place_id, "kind": p.kind, "name": p.name, "quartier": p.quartier,
                     "x_2154": f"{p.x:.2f}", "y_2154": f"{p.y:.2f}", "lon": f"{lon:.7f}",
                     "lat": f"{lat:.7f}", "attributes": json.dumps(p.attributes, ensure_ascii=False)})
    atomic_write_text(ref / "places.csv", _csv(rows, list(rows[0])))

    atomic_write_text(ref / "fleet.json", json.dumps(
        {"depot_id": "DEPOT-LA-BOCCA", "disposal_id": "DISPOSAL-01", "trucks": city.trucks},
        ensure_ascii=False, indent=1))
    return {"communes": len({q.commune for q in city.quartiers}), "quartiers": len(city.quartiers), "street_segments": len(city.segments),
            "street_km": round(city.street_km, 1), "collection_points": len(city.bins),
            "places": len(city.places), "trucks": len(city.trucks)}
