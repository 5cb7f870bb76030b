"""Residents' reports: what a GeoReport v2 (Open311) endpoint exports each day.

Plants reports of every category at the city's own items (a street segment's surface, a bin, a
large tree), a few where nothing matches (queued for an agent), repeat reports on one item, and
each request's life: requested, acknowledged by an agent's note, closed (the recent ones stay
open). Descriptions carry the personal data residents write (phone, e-mail, names) for the
redactor to remove; a share of the reports has a photo (landing/citizens/media/, a street scene
with a face-like blob and a plate-like box for the anonymiser). One JSON export per day of
updates: landing/citizens/requests/requests_<date>.json. The truth (category, the item aimed
at) goes to ground_truth/citizens/requests.csv.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np

from .city import City, to_wgs84
from .common import atomic_write_bytes, atomic_write_text, sub_seed

PER_CATEGORY = {"pothole": 6, "pavement": 4, "bin_overflow": 6, "fly_tipping": 3, "litter": 4,
                "tree_danger": 4, "tree_fallen": 2}
UNMATCHED = 3          # reports far from any item of their kind
DAYS = 28
PHONES = ["06 12 34 56 78", "07.81.22.33.44", "+33 6 98 76 54 32"]
NAMES = ["Mme Claire Dupont", "M. Jean Martin", "Sophie Bernard"]
TEXT = {
    "pothole": "Gros nid-de-poule devant le numéro {n}, dangereux pour les deux-roues.",
    "pavement": "Trottoir soulevé et fissuré sur plusieurs mètres, une poussette ne passe plus.",
    "bin_overflow": "Le conteneur déborde depuis deux jours, sacs posés à côté.",
    "fly_tipping": "Dépôt sauvage : matelas et gravats laissés au pied des conteneurs.",
    "litter": "Beaucoup de déchets et de canettes sur le trottoir près des bacs.",
    "tree_danger": "Grosse branche fendue au-dessus du trottoir, risque de chute.",
    "tree_fallen": "Arbre tombé après le coup de vent, il bloque une partie de la voie.",
}


def _photo(rng) -> bytes:
    """A street-like JPEG (asphalt, a pale skin-tone oval, a white plate box) for the anonymiser."""
    import cv2

    img = np.clip(rng.normal(95, 12, (360, 480, 3)), 0, 255).astype(np.uint8)
    cv2.ellipse(img, (int(rng.integers(80, 400)), 120), (22, 30), 0, 0, 360, (150, 180, 220), -1)
    x = int(rng.integers(60, 360))
    cv2.rectangle(img, (x, 280), (x + 90, 302), (235, 235, 235), -1)
    cv2.putText(img, "AB-123-CD", (x + 4, 297), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1)
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return enc.tobytes()


def _tree_positions(city: City) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The large trees of the 2025 population (the trees part's own first draw)."""
    from .trees import _place_population

    pop = _place_population(city, np.random.default_rng(sub_seed(city.seed, "trees")))
    big = np.nonzero(pop["height"] >= 10)[0]
    return pop["x"][big], pop["y"][big], pop["height"][big]


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plant_requests(city: City) -> tuple[list[dict], list[dict]]:
    """The request versions (every state each request went through) and the truth rows."""
    rng = np.random.default_rng(sub_seed(city.seed, "citizens"))
    end = datetime.combine(city.profile.end_date, time(18, 0), tzinfo=timezone.utc)
    segs = [s for s in city.segments if s.length_m > 20]
    tx, ty, _ = _tree_positions(city)
    targets = []
    for code, n in PER_CATEGORY.items():
        for k in range(n):
            if code in ("pothole", "pavement"):
                s = segs[int(rng.integers(len(segs)))]
                f = rng.uniform(0.2, 0.8)
                x, y, item = s.x0 + f * (s.x1 - s.x0), s.y0 + f * (s.y1 - s.y0), s.segment_id
            elif code in ("bin_overflow", "fly_tipping", "litter"):
                b = city.bins[int(rng.integers(len(city.bins)))]
                x, y, item = b.x, b.y, b.bin_id
            else:
                if not len(tx):
                    continue
                i = int(rng.integers(len(tx)))
                x, y, item = tx[i], ty[i], f"tree@{tx[i]:.1f},{ty[i]:.1f}"
            jitter = 3.0 if code.startswith("tree") else 6.0
            targets.append((code, x + rng.normal(0, jitter), y + rng.normal(0, jitter), item))
    # a repeat: a second report on the first pothole's segment, a second on the first bin
    for code in ("pothole", "bin_overflow"):
        first = next(t for t in targets if t[0] == code)
        targets.append((code, first[1] + rng.normal(0, 3), first[2] + rng.normal(0, 3), first[3]))
    # nothing to match: 150-250 m north of the city's northernmost segment (a hillside, no street)
    top = max(city.segments, key=lambda s: max(s.y0, s.y1))
    for k, code in enumerate(("pothole", "bin_overflow", "tree_danger")[:UNMATCHED]):
        targets.append((code, top.x0 + 60 * k, max(top.y0, top.y1) + rng.uniform(150, 250), ""))
    # one open overflow report per other commune, on one of its bins: each commune's bin is then due
    # in tomorrow's collection selection (the agglomeration's fleet plans across communes)
    commune_of = {q.name: q.commune for q in city.quartiers}
    keep_open = set()
    for commune in dict.fromkeys(q.commune for q in city.quartiers if q.commune != "Cannes"):
        theirs = [b for b in city.bins if commune_of.get(b.quartier) == commune]
        if theirs:
            b = theirs[int(rng.integers(len(theirs)))]
            keep_open.add(len(targets))
            targets.append(("bin_overflow", b.x + rng.normal(0, 6), b.y + rng.normal(0, 6), b.bin_id))
    versions, truth = [], []
    for i, (code, x, y, item) in enumerate(targets):
        rid = f"CNS-{city.seed:02d}-{i + 1:05d}"
        t0 = end - timedelta(days=float(rng.uniform(0, DAYS)))
        lon, lat = to_wgs84(x, y)
        desc = TEXT[code].format(n=int(rng.integers(1, 80)))
        if rng.random() < 0.5:
            desc += f" Contact : {NAMES[i % 3]}, {PHONES[i % 3]}."
        base = {"service_request_id": rid, "service_code": code, "service_name": None, "description": desc,
                "lat": round(float(lat), 7), "long": round(float(lon), 7),
                "address": None,
                "media_url": f"https://signalements.cannes.fr/media/{rid}.jpg" if rng.random() < 0.35 else None,
                "requested_datetime": _iso(t0), "status": "open", "status_notes": None}
        versions.append({**base, "updated_datetime": _iso(t0)})
        ack = t0 + timedelta(hours=float(rng.uniform(1, 60)))
        close = ack + timedelta(hours=float(rng.uniform(4, 300)))
        if ack < end:
            versions.append({**base, "updated_datetime": _iso(ack), "status_notes": "Pris en charge par le service."})
        # every other report of a category is still being handled (open): the plans act on those
        if (close < end - timedelta(days=2) and item and i not in keep_open
                and sum(t[0] == code for t in targets[:i]) % 2 == 0):
            versions.append({**base, "updated_datetime": _iso(close), "status": "closed",
                             "status_notes": "Intervention réalisée."})
        truth.append({"service_request_id": rid, "service_code": code, "x_2154": round(float(x), 2),
                      "y_2154": round(float(y), 2), "item_aimed_at": item, "has_media": base["media_url"] is not None})
    return versions, truth


def simulate_citizens(city: City, landing: Path, truth: Path) -> dict:
    """Write the daily Open311 exports, the photos and the truth. Returns counts."""
    landing, truth = Path(landing), Path(truth)
    versions, rows = plant_requests(city)
    rng = np.random.default_rng(sub_seed(city.seed, "citizens-media"))
    by_day: dict[str, list[dict]] = {}
    for v in versions:
        by_day.setdefault(v["updated_datetime"][:10], []).append(v)
    for day, vs in sorted(by_day.items()):
        atomic_write_text(landing / "citizens" / "requests" / f"requests_{day}.json",
                          json.dumps(vs, ensure_ascii=False, indent=1))
    photos = 0
    for r in rows:
        if r["has_media"]:
            atomic_write_bytes(landing / "citizens" / "media" / f"{r['service_request_id']}.jpg", _photo(rng))
            photos += 1
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(truth / "citizens" / "requests.csv", buf.getvalue())
    return {"requests": len(rows), "versions": len(versions), "files": len(by_day), "photos": photos}
