"""The simulated city of Cannes: quartiers, street network, collection points, fleet, places.

Everything is deterministic for a (profile, seed) pair. Coordinates are Lambert-93 (EPSG:2154);
WGS84 (EPSG:4326) is derived with pyproj. The geometry is schematic (a jittered street grid
inside each quartier) but placed where the real quartiers are, with their real names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pyproj import Transformer

_TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)
_TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)


def to_wgs84(x, y):
    """Lambert-93 metres -> (lon, lat) degrees; works on scalars and numpy arrays."""
    return _TO_WGS84.transform(x, y)


def to_lambert93(lon, lat):
    """(lon, lat) degrees -> Lambert-93 metres."""
    return _TO_L93.transform(lon, lat)


@dataclass(frozen=True)
class Profile:
    """Size of a simulated city. `demo` runs end to end in minutes; `city` is Cannes scale."""

    name: str
    street_spacing_m: float      # grid spacing of the street network (smaller = more km)
    quartiers: tuple[str, ...] | None  # None = all quartiers
    n_bins: int
    n_trucks: int
    n_days: int                  # days of collection logs / sensor readings / litter
    n_trees: int
    survey_spacing_m: float      # distance between two survey frames along a street
    survey_share: float          # share of street length driven per campaign
    frame_size: tuple[int, int] = (640, 360)
    lidar_density: float = 8.0   # points per m2
    dsp_years: tuple[int, ...] = (2023, 2024, 2025)
    end_date: date = date(2026, 10, 31)
    # the agglomeration's other communes simulated beside Cannes (None = all of OTHER_COMMUNES)
    other_communes: tuple[str, ...] | None = None


PROFILES: dict[str, Profile] = {
    # Tests: a few hundred metres of street, a handful of everything.
    "tiny": Profile("tiny", 300.0, ("Le Suquet", "Croisette"), 24, 2, 3, 60, 60.0, 0.5,
                    dsp_years=(2024, 2025), other_communes=()),
    "demo": Profile("demo", 260.0, None, 150, 3, 7, 600, 40.0, 0.25),
    "city": Profile("city", 130.0, None, 1500, 12, 30, 15000, 4.0, 0.5),
}

# Approximate centroids of the real quartiers, Lambert-93 metres.
QUARTIERS: dict[str, tuple[float, float]] = {
    "La Bocca": (1021300, 6280400),
    "La Frayère": (1021000, 6282300),
    "Ranguin": (1022400, 6283300),
    "Les Broussailles": (1023600, 6282700),
    "Petit Juas": (1024300, 6281900),
    "Montfleury": (1025800, 6281900),
    "Californie": (1026700, 6280900),
    "Pointe Croisette": (1027000, 6279850),
    "Croisette": (1025600, 6280250),
    "Prado-République": (1025200, 6281050),
    "Carnot": (1024100, 6281050),
    "Le Suquet": (1023500, 6280350),
}
QUARTIER_CODES = {name: f"Q{i + 1:02d}" for i, name in enumerate(QUARTIERS)}

# The other communes of the Agglomération Cannes Lérins: INSEE code, two real quartiers each with an
# approximate centroid (Lambert-93, schematic like Cannes's) and real street names; each quartier
# is a small block (QUARTIER_BLOCK_M) so the demo stays small: a few street segments per commune.
OTHER_COMMUNES: dict[str, dict] = {
    "Le Cannet": {"insee": "06030", "quartiers": {
        "Rocheville": ((1024400, 6284500), ["Avenue de Rocheville", "Avenue du Campon", "Rue de la Cigale"]),
        "Le Vieux Cannet": ((1025900, 6284300), ["Rue Saint-Sauveur", "Boulevard Sadi Carnot", "Avenue Victoria"])}},
    "Mougins": {"insee": "06085", "quartiers": {
        "Mougins Village": ((1023300, 6286700), ["Avenue Jean-Charles Mallet", "Boulevard Courteline",
                                                 "Chemin du Font de Currault"]),
        "Tournamy": ((1022000, 6285700), ["Avenue de Tournamy", "Chemin de la Chapelle", "Avenue du Maréchal Juin"])}},
    "Mandelieu-la-Napoule": {"insee": "06079", "quartiers": {
        "Capitou": ((1018600, 6281400), ["Avenue de Fréjus", "Avenue du Capitou", "Boulevard des Écureuils"]),
        "La Napoule": ((1018700, 6278100), ["Avenue Henry Clews", "Boulevard Henry Clews", "Rue de la Pinède"])}},
    "Théoule-sur-Mer": {"insee": "06138", "quartiers": {
        "Théoule Village": ((1018300, 6275900), ["Boulevard de l'Esquillon", "Avenue de Lérins", "Rue du Port"]),
        "Miramar": ((1017300, 6273300), ["Corniche d'Or", "Avenue de Miramar", "Chemin de la Galère"])}},
}
QUARTIER_BLOCK_M = (640.0, 520.0)

# City outline: the coast to the south, the hills to the north (schematic).
CITY_OUTLINE: list[tuple[float, float]] = [
    (1020300, 6279950), (1021800, 6280000), (1023300, 6280050), (1024400, 6280080),
    (1025400, 6279980), (1026300, 6279750), (1026900, 6279300), (1027500, 6279350),
    (1027900, 6279900), (1027800, 6281500), (1027000, 6282600), (1025600, 6283000),
    (1024200, 6283700), (1022800, 6283950), (1021200, 6283500), (1020300, 6282600),
]

STREET_NAMES: dict[str, list[str]] = {
    "La Bocca": ["Avenue Francis Tonner", "Boulevard du Midi Louise Moreau", "Rue Pierre Sémard",
                 "Avenue de la Roubine", "Rue des Mimosas", "Avenue Maurice Chevalier"],
    "La Frayère": ["Avenue de la Frayère", "Chemin de l'Aubarède", "Rue Louis Pastour",
                   "Avenue des Bellevue", "Chemin de la Frayère"],
    "Ranguin": ["Avenue de Ranguin", "Chemin des Collines", "Avenue du Docteur Raymond Picaud",
                "Rue de la Pinède", "Chemin de Ranguin"],
    "Les Broussailles": ["Avenue des Broussailles", "Avenue Isola Bella", "Chemin de la Colle",
                         "Avenue du Petit Juas", "Rue Léon Noël"],
    "Petit Juas": ["Avenue du Petit Juas", "Avenue Saint-Nicolas", "Rue de la Verrerie",
                   "Avenue de Vallauris", "Rue Jean de Riouffe"],
    "Montfleury": ["Avenue de Montfleury", "Boulevard Montfleury", "Avenue Isabelle",
                   "Chemin des Pins", "Avenue Beau Soleil"],
    "Californie": ["Avenue du Roi Albert Ier", "Boulevard de la Californie", "Avenue Fiesole",
                   "Chemin de Saint-Antoine", "Avenue Maurice Jeanpierre"],
    "Pointe Croisette": ["Boulevard Eugène Gazagnaire", "Rue du Canada", "Avenue Pierre Poési",
                         "Rue Esprit Violet", "Rue Frédéric Amouretti"],
    "Croisette": ["Boulevard de la Croisette", "Rue d'Antibes", "Rue des Belges",
                  "Rue Commandant André", "Rue du Commandant Vidal", "Rue Hoche"],
    "Prado-République": ["Boulevard de la République", "Rue du Prado", "Avenue du Prado",
                         "Rue Pasteur", "Rue de Mimont"],
    "Carnot": ["Boulevard Carnot", "Rue Mimont", "Avenue de Grasse", "Rue Jean Jaurès",
               "Boulevard d'Alsace", "Rue de la Bastide"],
    "Le Suquet": ["Rue Saint-Antoine", "Rue du Suquet", "Rue Meynadier", "Rue Louis Perrissol",
                  "Allée de la Liberté Charles de Gaulle", "Quai Saint-Pierre"],
}

WASTE_STREAMS = [("ordures_menageres", 0.55), ("emballages", 0.25), ("verre", 0.12),
                 ("biodechets", 0.08)]
BIN_CAPACITIES_L = [120, 240, 340, 660, 770]
ROAD_CLASSES = ["primary", "secondary", "tertiary", "residential", "pedestrian"]


def _clip(poly: list[tuple[float, float]], a: float, b: float, c: float) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: keep the part of `poly` where a*x + b*y <= c."""
    out: list[tuple[float, float]] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _convex_clip(subject: list[tuple[float, float]], clipper: list[tuple[float, float]]):
    """Clip `subject` by each edge of the counter-clockwise convex polygon `clipper`."""
    out = subject
    n = len(clipper)
    for i in range(n):
        (x1, y1), (x2, y2) = clipper[i], clipper[(i + 1) % n]
        # inside = left of the edge: (x2-x1)*(y-y1) - (y2-y1)*(x-x1) >= 0
        a, b = (y2 - y1), -(x2 - x1)
        out = _clip(out, a, b, a * x1 + b * y1)
        if not out:
            break
    return out


def polygon_area(poly) -> float:
    x = np.array([p[0] for p in poly]); y = np.array([p[1] for p in poly])
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def point_in_polygon(x: np.ndarray, y: np.ndarray, poly) -> np.ndarray:
    """Even-odd rule, vectorised over points."""
    x = np.asarray(x, dtype=float); y = np.asarray(y, dtype=float)
    inside = np.zeros(x.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]; x2, y2 = poly[(i + 1) % n]
        cond = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xin = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= cond & (x < xin)
    return inside


@dataclass
class Quartier:
    code: str
    name: str
    polygon: list[tuple[float, float]]   # Lambert-93, closed implicitly
    commune: str = "Cannes"

    @property
    def area_m2(self) -> float:
        return polygon_area(self.polygon)


@dataclass
class Segment:
    segment_id: str
    street_name: str
    quartier: str
    road_class: str
    surface: str            # asphalt | cobbles | concrete
    x0: float
    y0: float
    x1: float
    y1: float
    speed_kmh: float

    @property
    def length_m(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)

    @property
    def heading_deg(self) -> float:
        """Compass bearing from start to end (0 = north, clockwise)."""
        return math.degrees(math.atan2(self.x1 - self.x0, self.y1 - self.y0)) % 360


@dataclass
class CollectionPoint:
    bin_id: str
    segment_id: str
    quartier: str
    x: float
    y: float
    capacity_l: int
    waste_stream: str


@dataclass
class Place:
    """A point of interest: depot, disposal facility, school, playground, bus stop, market."""

    place_id: str
    kind: str
    name: str
    x: float
    y: float
    quartier: str
    attributes: dict = field(default_factory=dict)


@dataclass
class City:
    profile: Profile
    seed: int
    quartiers: list[Quartier]
    segments: list[Segment]
    bins: list[CollectionPoint]
    places: list[Place]
    trucks: list[dict]

    def quartier_of(self, x, y) -> np.ndarray:
        """Quartier name for each point (empty string outside the city)."""
        x = np.atleast_1d(np.asarray(x, float)); y = np.atleast_1d(np.asarray(y, float))
        out = np.full(x.shape, "", dtype=object)
        for q in self.quartiers:
            out[point_in_polygon(x, y, q.polygon)] = q.name
        return out

    @property
    def street_km(self) -> float:
        return sum(s.length_m for s in self.segments) / 1000


def _quartier_polygons() -> list[Quartier]:
    names = list(QUARTIERS)
    pts = np.array([QUARTIERS[n] for n in names], dtype=float)
    bbox = [(1019000.0, 6278000.0), (1029000.0, 6278000.0), (1029000.0, 6285000.0), (1019000.0, 6285000.0)]
    out = []
    for i, n in enumerate(names):
        cell = bbox
        for j in range(len(names)):
            if i == j:
                continue
            # closer to i than j: (pj - pi) . x <= (|pj|^2 - |pi|^2) / 2
            d = pts[j] - pts[i]
            c = (pts[j] @ pts[j] - pts[i] @ pts[i]) / 2
            cell = _clip(cell, d[0], d[1], c)
        # intersect with the (non-convex) outline: clip the outline by the convex cell
        poly = _convex_clip(CITY_OUTLINE, _ccw(cell))
        out.append(Quartier(QUARTIER_CODES[n], n, [(round(x, 1), round(y, 1)) for x, y in poly]))
    return out


def _ccw(poly):
    x = np.array([p[0] for p in poly]); y = np.array([p[1] for p in poly])
    signed = np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))
    return poly if signed > 0 else poly[::-1]


def build_city(profile: str | Profile = "demo", seed: int = 42) -> City:
    """Build the city's reference geography, deterministic for (profile, seed)."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    rng = np.random.default_rng([seed, 1])
    quartiers = _quartier_polygons()
    if prof.quartiers is not None:
        quartiers = [q for q in quartiers if q.name in prof.quartiers]

    segments: list[Segment] = []
    s = prof.street_spacing_m
    for q in quartiers:
        xs = [p[0] for p in q.polygon]; ys = [p[1] for p in q.polygon]
        gx = np.arange(min(xs) + s / 2, max(xs), s)
        gy = np.arange(min(ys) + s / 2, max(ys), s)
        if len(gx) == 0 or len(gy) == 0:
            continue
        X, Y = np.meshgrid(gx, gy)
        X = X + rng.normal(0, s * 0.08, X.shape)
        Y = Y + rng.normal(0, s * 0.08, Y.shape)
        inside = point_in_polygon(X.ravel(), Y.ravel(), q.polygon).reshape(X.shape)
        names = STREET_NAMES[q.name]
        for axis in (0, 1):  # 0: east-west streets along rows, 1: north-south along columns
            lines = range(X.shape[0]) if axis == 0 else range(X.shape[1])
            for li in lines:
                street = names[(li * 2 + axis) % len(names)]
                major = li % 4 == 0
                cls = ("primary" if li % 8 == 0 else "secondary") if major else (
                    "tertiary" if li % 3 == 0 else "residential")
                if q.name == "Le Suquet" and not major and rng.random() < 0.4:
                    cls = "pedestrian"
                steps = X.shape[1] - 1 if axis == 0 else X.shape[0] - 1
                for k in range(steps):
                    a = (li, k) if axis == 0 else (k, li)
                    b = (li, k + 1) if axis == 0 else (k + 1, li)
                    if not (inside[a] and inside[b]):
                        continue
                    if not major and rng.random() < 0.12:
                        continue  # missing links make the grid irregular
                    surface = "asphalt"
                    if q.name == "Le Suquet" and rng.random() < 0.35:
                        surface = "cobbles"
                    elif rng.random() < 0.04:
                        surface = "concrete"
                    speed = {"primary": 50, "secondary": 50, "tertiary": 40, "residential": 30,
                             "pedestrian": 10}[cls]
                    segments.append(Segment(
                        f"SEG-{len(segments) + 1:05d}", street, q.name, cls, surface,
                        round(float(X[a]), 2), round(float(Y[a]), 2),
                        round(float(X[b]), 2), round(float(Y[b]), 2), speed))

    # collection points: along non-pedestrian segments, weighted by length
    drivable = [sg for sg in segments if sg.road_class != "pedestrian"]
    lengths = np.array([sg.length_m for sg in drivable])
    pick = rng.choice(len(drivable), size=prof.n_bins, p=lengths / lengths.sum())
    streams, weights = zip(*WASTE_STREAMS)
    bins = []
    for i, si in enumerate(pick):
        sg = drivable[si]
        t = rng.uniform(0.1, 0.9)
        # offset 4 m to the right of the carriageway
        dx, dy = sg.x1 - sg.x0, sg.y1 - sg.y0
        L = math.hypot(dx, dy)
        ox, oy = dy / L * 4, -dx / L * 4
        stream = str(rng.choice(streams, p=weights))
        cap = int(rng.choice(BIN_CAPACITIES_L, p=[0.15, 0.3, 0.15, 0.25, 0.15]))
        if stream == "verre":
            cap = 3000
        bins.append(CollectionPoint(f"BIN-{i + 1:05d}", sg.segment_id, sg.quartier,
                                    round(sg.x0 + t * dx + ox, 2), round(sg.y0 + t * dy + oy, 2),
                                    cap, stream))

    places = _places(quartiers, segments, rng)
    _other_communes(prof, seed, quartiers, segments, bins)
    trucks = [
        {"truck_id": f"BOM-{i + 1:02d}", "capacity_kg": 9500 if i % 4 else 6000,
         "capacity_m3": 19.0 if i % 4 else 12.0, "shift_start": "05:00", "shift_hours": 7.0,
         "depot_id": "DEPOT-LA-BOCCA", "streams": "all" if i % 3 else "verre,emballages,ordures_menageres,biodechets"}
        for i in range(prof.n_trucks)
    ]
    return City(prof, seed, quartiers, segments, bins, places, trucks)


def _other_communes(prof: Profile, seed: int, quartiers: list, segments: list, bins: list) -> None:
    """Append the other communes' quartiers, street grids joined to the network by a road each,
    and two bins per quartier (their own random stream, after Cannes's: Cannes's reference data is
    the same with or without them)."""
    rng = np.random.default_rng([seed, 2])
    names = list(OTHER_COMMUNES) if prof.other_communes is None else list(prof.other_communes)
    s = prof.street_spacing_m
    k = 0
    for commune in names:
        for qname, ((cx, cy), streets) in OTHER_COMMUNES[commune]["quartiers"].items():
            k += 1
            w, h = QUARTIER_BLOCK_M
            poly = [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]
            quartiers.append(Quartier(f"Q{100 + k:03d}", qname, poly, commune))
            gx = np.arange(cx - w / 2 + s / 2, cx + w / 2, s)
            gy = np.arange(cy - h / 2 + s / 2, cy + h / 2, s)
            X, Y = np.meshgrid(gx, gy)
            X = X + rng.normal(0, s * 0.05, X.shape)
            Y = Y + rng.normal(0, s * 0.05, Y.shape)
            first = len(segments)
            for axis in (0, 1):
                lines = range(X.shape[0]) if axis == 0 else range(X.shape[1])
                for li in lines:
                    cls = "secondary" if li == 0 else "residential"
                    steps = X.shape[1] - 1 if axis == 0 else X.shape[0] - 1
                    for j in range(steps):
                        a = (li, j) if axis == 0 else (j, li)
                        b = (li, j + 1) if axis == 0 else (j + 1, li)
                        segments.append(Segment(f"SEG-{len(segments) + 1:05d}", streets[(li * 2 + axis) % len(streets)],
                                                qname, cls, "asphalt", round(float(X[a]), 2), round(float(Y[a]), 2),
                                                round(float(X[b]), 2), round(float(Y[b]), 2), 50 if cls == "secondary" else 30))
            # the road joining this quartier to the network built so far (Cannes, then the communes
            # before it): a chain of segments from the block's nearest node to the nearest node
            # outside it, in this quartier (its polygon gets the road's corridor, see _corridor)
            _connect(segments, first, qname, s, quartiers[-1])
            # bins on the quartier's streets: collected by the agglomeration's fleet (docs/direction.md)
            for i in range(BINS_PER_COMMUNE_QUARTIER):
                sg = segments[first + int(rng.integers(len(segments) - first))]
                t = rng.uniform(0.2, 0.8)
                dx, dy = sg.x1 - sg.x0, sg.y1 - sg.y0
                L = math.hypot(dx, dy)
                stream = ("ordures_menageres", "emballages")[i % 2]
                bins.append(CollectionPoint(f"BIN-{len(bins) + 1:05d}", sg.segment_id, qname,
                                            round(sg.x0 + t * dx + dy / L * 4, 2), round(sg.y0 + t * dy - dx / L * 4, 2),
                                            660, stream))


BINS_PER_COMMUNE_QUARTIER = 2
CORRIDOR_M = 60.0   # width of a connecting road's strip in its quartier's polygon


def _connect(segments: list, first: int, qname: str, spacing: float, quartier: "Quartier") -> None:
    """Join the grid segments[first:] to the segments before it: a straight road from the closest
    pair of nodes (one in the grid, one outside), cut into segments of about `spacing` m, named
    after the grid's first street, in `qname`; `quartier`'s polygon is widened to hold it."""
    if first == 0 or len(segments) == first:
        return
    inner = np.array([(p.x0, p.y0) for p in segments[first:]] + [(p.x1, p.y1) for p in segments[first:]])
    outer = np.array([(p.x0, p.y0) for p in segments[:first]] + [(p.x1, p.y1) for p in segments[:first]])
    d = np.hypot(inner[:, None, 0] - outer[None, :, 0], inner[:, None, 1] - outer[None, :, 1])
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    (ax, ay), (bx, by) = inner[i], outer[j]
    n = max(1, int(round(d[i, j] / spacing)))
    street = segments[first].street_name
    for k in range(n):
        x0, y0 = ax + (bx - ax) * k / n, ay + (by - ay) * k / n
        x1, y1 = ax + (bx - ax) * (k + 1) / n, ay + (by - ay) * (k + 1) / n
        segments.append(Segment(f"SEG-{len(segments) + 1:05d}", street, qname, "secondary", "asphalt",
                                round(float(x0), 2), round(float(y0), 2), round(float(x1), 2), round(float(y1), 2), 50))
    quartier.polygon = _corridor(quartier.polygon, (float(ax), float(ay)), (float(bx), float(by)))


def _corridor(poly: list, a: tuple, b: tuple, width: float = CORRIDOR_M) -> list:
    """`poly` (a rectangle, counter-clockwise) with a strip `width` wide from its edge towards `b`
    (stopping `width` short of it, so it does not reach into the quartier at `b`). `a` is the
    road's start, a node of the rectangle's grid."""
    ax, ay = a
    bx, by = b
    L = math.hypot(bx - ax, by - ay)
    if L <= 2 * width:
        return poly
    ux, uy = (bx - ax) / L, (by - ay) / L
    nx, ny = -uy, ux
    # where the road leaves the rectangle: the first edge it crosses
    best = None
    m = len(poly)
    for k in range(m):
        (px, py), (qx, qy) = poly[k], poly[(k + 1) % m]
        ex, ey = qx - px, qy - py
        den = ux * ey - uy * ex
        if abs(den) < 1e-9:
            continue
        t = ((px - ax) * ey - (py - ay) * ex) / den      # along the road
        s = ((px - ax) * uy - (py - ay) * ux) / den      # along the edge
        if t >= 0 and 0 <= s <= 1 and (best is None or t < best[0]):
            best = (t, k)
    if best is None:
        return poly
    t, k = best
    ex_, ey_ = ax + ux * t, ay + uy * t
    fx, fy = bx - ux * width, by - uy * width
    w = width / 2
    strip = [(ex_ - nx * w, ey_ - ny * w), (fx - nx * w, fy - ny * w), (fx + nx * w, fy + ny * w),
             (ex_ + nx * w, ey_ + ny * w)]
    # counter-clockwise rectangle: going out on the right of the road, back on its left
    if (poly[(k + 1) % m][0] - poly[k][0]) * -nx + (poly[(k + 1) % m][1] - poly[k][1]) * -ny > 0:
        strip = strip[::-1]
    out = list(poly[:k + 1]) + strip + list(poly[k + 1:])
    return [(round(x, 1), round(y, 1)) for x, y in out]


def _places(quartiers, segments, rng) -> list[Place]:
    names = {q.name for q in quartiers}
    out: list[Place] = []

    def near_segment(qname, k):
        segs = [s for s in segments if s.quartier == qname]
        if not segs:
            return None
        sg = segs[int(rng.integers(len(segs)))]
        t = rng.uniform(0.2, 0.8)
        return sg.x0 + t * (sg.x1 - sg.x0) + rng.normal(0, 6), sg.y0 + t * (sg.y1 - sg.y0) + rng.normal(0, 6)

    # depot and disposal facility: in La Bocca (western industrial area) or the first quartier
    home = "La Bocca" if "La Bocca" in names else sorted(names)[0]
    p = near_segment(home, 0)
    out.append(Place("DEPOT-LA-BOCCA", "depot", "Centre technique municipal", p[0], p[1], home))
    p = near_segment(home, 1)
    out.append(Place("DISPOSAL-01", "disposal", "Centre de transfert des déchets", p[0] + 30, p[1] + 30, home,
                     {"unload_minutes": 20}))
    markets = {"Le Suquet": ("Marché Forville", "Tue,Wed,Thu,Fri,Sat,Sun"),
               "Carnot": ("Marché Gambetta", "Tue,Wed,Thu,Fri,Sat,Sun"),
               "La Bocca": ("Marché de La Bocca", "Tue,Wed,Thu,Fri,Sat,Sun"),
               "Californie": ("Marché de la Californie", "Wed,Sat")}
    k = 0
    for q in sorted(names):
        for kind, n in (("school", 2), ("playground", 2), ("bus_stop", 4)):
            for i in range(n):
                p = near_segment(q, i)
                if p is None:
                    continue
                k += 1
                label = {"school": "École", "playground": "Aire de jeux", "bus_stop": "Arrêt Palm Bus"}[kind]
                out.append(Place(f"POI-{k:04d}", kind, f"{label} {q} {i + 1}", p[0], p[1], q))
        if q in markets:
            p = near_segment(q, 9)
            k += 1
            out.append(Place(f"POI-{k:04d}", "market", markets[q][0], p[0], p[1], q,
                             {"market_days": markets[q][1]}))
    return out
