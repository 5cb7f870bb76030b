"""The territory the lake accepts data for: the communes of the reference data, with a margin.

The communes arrive as a reference delivery (``landing/reference/communes.geojson``, WGS84,
INSEE code and name; docs/LANDING.md). Their polygons are kept in Lambert-93 (EPSG:2154) as JSON
lists of rings. A LiDAR tile is inside the territory when its bounding box (Lambert-93) comes
within :data:`MARGIN_M` of a commune (distance 0 when they overlap): a tile straddling a commune
border, or flown a little beyond it, is kept; a tile of another region is set aside with the
area named. Pure functions (NumPy, pyproj); no GEOS needed for polygons this size.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from .cleaning import conform, latest_per_key

#: metres around the communes still accepted (a tile at the border, a flight strip overlapping it)
MARGIN_M = 500.0
L93 = 2154

COMMUNES = {"insee": pl.Utf8, "name": pl.Utf8, "area_km2": pl.Float64, "min_x": pl.Float64, "min_y": pl.Float64,
            "max_x": pl.Float64, "max_y": pl.Float64, "rings_2154": pl.Utf8, "geometry_4326": pl.Utf8}


def communes(bronze: pl.DataFrame) -> pl.DataFrame:
    """Silver communes: the latest delivery of each INSEE code."""
    return conform(latest_per_key(bronze, ["insee"]), COMMUNES).sort("insee")


def to_lambert93(x, y, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of CRS ``epsg`` in Lambert-93 (unchanged when already EPSG:2154)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if int(epsg) == L93:
        return x, y
    from .geo import _transformer

    tx, ty = _transformer(int(epsg), L93).transform(x, y)
    return np.asarray(tx, float), np.asarray(ty, float)


def _rings(communes: pl.DataFrame) -> list[tuple[str, list[np.ndarray]]]:
    out = []
    for insee, name, rings in communes.select("insee", "name", "rings_2154").iter_rows():
        out.append((f"{name} ({insee})", [np.asarray(r, float).reshape(-1, 2) for r in json.loads(rings)]))
    return out


def _inside(px: np.ndarray, py: np.ndarray, rings: list[np.ndarray]) -> np.ndarray:
    """Even-odd rule over all rings of a commune (holes count out)."""
    inside = np.zeros(len(px), bool)
    for r in rings:
        x0, y0 = r[:, 0], r[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        cross = ((y0[None] > py[:, None]) != (y1[None] > py[:, None])) & (
            px[:, None] < (x1 - x0)[None] * (py[:, None] - y0[None]) / np.where(y1 == y0, 1e-12, y1 - y0)[None] + x0[None])
        inside ^= (cross.sum(1) % 2).astype(bool)
    return inside


def _seg_dist(px, py, x0, y0, x1, y1) -> np.ndarray:
    """Distance of points (column vectors) to segments (row vectors)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def box_distance(box: tuple[float, float, float, float], rings: list[np.ndarray]) -> float:
    """Distance (m) between a rectangle ``(min_x, min_y, max_x, max_y)`` and a polygon given by
    its rings: 0 when they overlap."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    if _inside(corners[:, 0], corners[:, 1], rings).any():
        return 0.0
    verts = np.concatenate(rings)
    if ((verts[:, 0] >= x0) & (verts[:, 0] <= x1) & (verts[:, 1] >= y0) & (verts[:, 1] <= y1)).any():
        return 0.0
    # no corner inside and no vertex inside: the boundaries cross (distance 0) or the nearest pair
    # of points is a vertex of one and a point of an edge of the other
    bx0, by0 = corners[:, 0], corners[:, 1]
    bx1, by1 = np.roll(bx0, -1), np.roll(by0, -1)
    best = np.inf
    for r in rings:
        rx0, ry0 = r[:, 0], r[:, 1]
        rx1, ry1 = np.roll(rx0, -1), np.roll(ry0, -1)
        d1 = _seg_dist(bx0[:, None], by0[:, None], rx0[None], ry0[None], rx1[None], ry1[None]).min()
        d2 = _seg_dist(rx0[:, None], ry0[:, None], bx0[None], by0[None], bx1[None], by1[None]).min()
        best = min(best, d1, d2)
        # proper crossings of a box edge with a ring edge
        for k in range(4):
            ax, ay, bx, by = bx0[k], by0[k], bx1[k], by1[k]
            s1 = np.sign((bx - ax) * (ry0 - ay) - (by - ay) * (rx0 - ax))
            s2 = np.sign((bx - ax) * (ry1 - ay) - (by - ay) * (rx1 - ax))
            s3 = np.sign((rx1 - rx0) * (ay - ry0) - (ry1 - ry0) * (ax - rx0))
            s4 = np.sign((rx1 - rx0) * (by - ry0) - (ry1 - ry0) * (bx - rx0))
            if ((s1 * s2 < 0) & (s3 * s4 < 0)).any():
                return 0.0
    return float(best)


def describe(communes: pl.DataFrame, margin_m: float = MARGIN_M) -> str:
    """The accepted area in words, for quarantine reasons and metadata."""
    if communes.is_empty():
        return "no commune in the reference data (landing/reference/communes.geojson)"
    names = ", ".join(f"{n} ({c})" for c, n in communes.select("insee", "name").sort("insee").iter_rows())
    return (f"communes {names} + {margin_m:.0f} m, Lambert-93 x {communes['min_x'].min() - margin_m:.0f}-"
            f"{communes['max_x'].max() + margin_m:.0f}, y {communes['min_y'].min() - margin_m:.0f}-"
            f"{communes['max_y'].max() + margin_m:.0f}")


def split_tiles(tiles: pl.DataFrame, communes: pl.DataFrame,
                margin_m: float = MARGIN_M) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tiles inside the territory, tiles outside with a ``reason``). Tile bounds in Lambert-93."""
    area = _rings(communes)
    where = describe(communes, margin_m)
    keep, reasons = [], []
    for r in tiles.iter_rows(named=True):
        box = (r["min_x"], r["min_y"], r["max_x"], r["max_y"])
        d = min((box_distance(box, rings) for _, rings in area), default=np.inf)
        keep.append(bool(d <= margin_m))
        reasons.append(None if d <= margin_m else
                       f"{r.get('source_file') or r['tile_id']}: tile outside the reference territory "
                       f"(Lambert-93 x {box[0]:.0f}-{box[2]:.0f}, y {box[1]:.0f}-{box[3]:.0f}"
                       + (f", {d / 1000:.1f} km from the nearest commune" if np.isfinite(d) else "")
                       + f"); accepted area: {where}")
    mask = pl.Series(keep, dtype=pl.Boolean)
    out = tiles.with_columns(pl.Series("reason", reasons, pl.Utf8))
    return tiles.filter(mask), out.filter(~mask)


def tile_quarantine_rows(outside: pl.DataFrame, run_id: str | None = None) -> list[dict]:
    """Quarantine records (lake.quarantine) of tiles left out of silver for the territory. The
    file stays in the landing zone: the tile comes in once its commune is in the reference data."""
    return [{"source": "lidar_tiles", "item": r.get("source_file"),
             "delivery": "/".join((r.get("source_file") or f"{r['epoch']}/{r['tile_id']}").split("/")[-2:]),
             "row_number": None, "reason": r["reason"], "raw": None, "original_path": r.get("source_file"),
             "quarantined_path": None, "checksum": None, "run_id": run_id}
            for r in outside.iter_rows(named=True)]


def parse_communes(data: bytes, name: str):
    """``communes.geojson``: a FeatureCollection in WGS84, one Polygon or MultiPolygon per commune
    with its INSEE code (``insee``, ``code_insee`` or ``code``) and name (``name`` or ``nom``)."""
    from .parsing import ROW, BadDelivery, Parsed, _decode
    from .geo import _transformer

    try:
        doc = json.loads(_decode(data, name))
        feats = doc["features"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadDelivery(f"{name}: not a GeoJSON FeatureCollection ({exc})") from exc
    to93 = _transformer(4326, L93)
    rows, bad = [], []
    for i, f in enumerate(feats, start=1):
        try:
            props, geom = f["properties"], f["geometry"]
            insee = str(props.get("insee") or props.get("code_insee") or props.get("code") or "").strip()
            label = str(props.get("name") or props.get("nom") or "").strip()
            if not (len(insee) == 5 and insee[:2].isalnum() and insee[2:].isdigit()):
                raise ValueError(f"INSEE code {insee!r} is not a 5-character commune code (e.g. 06029)")
            if not label:
                raise ValueError("no commune name (property 'name' or 'nom')")
            if geom["type"] == "Polygon":
                polys = [geom["coordinates"]]
            elif geom["type"] == "MultiPolygon":
                polys = geom["coordinates"]
            else:
                raise ValueError(f"geometry type {geom['type']}, expected Polygon or MultiPolygon")
            rings, area = [], 0.0
            for poly in polys:
                for k, ring in enumerate(poly):
                    lon = np.array([p[0] for p in ring], float)
                    lat = np.array([p[1] for p in ring], float)
                    if len(lon) < 4 or np.abs(lon).max() > 180 or np.abs(lat).max() > 90:
                        raise ValueError("a ring needs 4 or more WGS84 positions (lon, lat in degrees)")
                    x, y = to93.transform(lon, lat)
                    x, y = np.asarray(x), np.asarray(y)
                    a = abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2
                    area += -a if k else a   # inner rings are holes
                    rings.append(np.round(np.c_[x, y], 2).tolist())
            allxy = np.concatenate([np.asarray(r) for r in rings])
            rows.append({"insee": insee, "name": label, "area_km2": area / 1e6,
                         "min_x": float(allxy[:, 0].min()), "min_y": float(allxy[:, 1].min()),
                         "max_x": float(allxy[:, 0].max()), "max_y": float(allxy[:, 1].max()),
                         "rings_2154": json.dumps(rings), "geometry_4326": json.dumps(geom), ROW: i})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            bad.append({ROW: i, "reason": f"feature {i}: {exc}", "raw": json.dumps(f)[:2000]})
    good = pl.DataFrame(rows, schema={**COMMUNES, ROW: pl.Int64})
    return Parsed(good, pl.DataFrame(bad, schema=Parsed.empty_bad().schema))


# ------------------------------------------------------------------ the commune of a gold row

#: columns that say where a row is, in the order they are trusted: its own `commune` (carried from
#: silver), its quartier, street segment, bin; `quartiers` (a zone's "A, B") gives a commune when
#: all of them are in one; a DECP row's buyer (`buyer_siret`, `contract_uid`); a DSP contract
#: (`contract_id`, its delegating authority)
PLACE_KEYS = ("commune", "quartier", "segment_id", "bin_id", "quartiers", "contract_uid", "buyer_siret", "contract_id")

#: the `commune` of an agglomeration-level row: the agglomeration as a DSP contract's delegating
#: authority or as a public buyer, and the whole territory's total row of a per-commune KPI table.
#: Such rows are in the agglomeration file only (no commune file is named after it).
AGGLOMERATION = "Agglomération Cannes Lérins"


def has_place(df: pl.DataFrame) -> bool:
    """Whether `df` has a column saying where its rows are (:data:`PLACE_KEYS`)."""
    return any(c in df.columns and df.schema[c] == pl.Utf8 for c in PLACE_KEYS)


def buyer_communes(sirets: list[str], buyers: pl.DataFrame | None) -> dict[str, str]:
    """{buyer SIRET: commune} through the buyers' reference table (`siret`, `commune`): the SIRET
    itself, else another establishment of the same SIREN (its first 9 digits: a town hall's
    services publish under several SIRETs of one SIREN). A buyer in neither is left out."""
    if buyers is None or buyers.is_empty() or not {"siret", "commune"} <= set(buyers.columns):
        return {}
    exact = dict(buyers.select("siret", "commune").drop_nulls().iter_rows())
    siren: dict[str, set] = {}
    for s, c in exact.items():
        siren.setdefault(s[:9], set()).add(c)
    out = {}
    for s in {x for x in sirets if x}:
        c = exact.get(s) or (next(iter(siren[s[:9]])) if len(siren.get(s[:9], ())) == 1 else None)
        if c:
            out[s] = c
    return out


def place_commune(df: pl.DataFrame, quartiers: pl.DataFrame | None, segments: pl.DataFrame | None,
                  bins: pl.DataFrame | None, *, dsp_contracts: pl.DataFrame | None = None,
                  procurement: pl.DataFrame | None = None, buyers: pl.DataFrame | None = None) -> pl.DataFrame:
    """`df` with a stored `commune` column: kept where the row carries one, else the commune the
    silver reference tables give its quartier, segment or bin (their `commune` was derived once,
    from the quartier polygons' communes), its public buyer (`buyer_siret`, or `contract_uid`
    through the DECP contracts, mapped by the buyers' reference table) or its DSP contract
    (`contract_id`: the contract's delegating authority, a commune or :data:`AGGLOMERATION`).
    Null for a row placed nowhere or across communes."""
    def lookup(ref: pl.DataFrame | None, key: str, byq: dict | None = None) -> dict[str, str]:
        if ref is None or key not in ref.columns:
            return {}
        if "commune" not in ref.columns:    # a table stored before it carried the commune: via its quartier
            if not byq or "quartier" not in ref.columns:
                return {}
            ref = ref.with_columns(pl.col("quartier").replace_strict(byq, default=None, return_dtype=pl.Utf8)
                                   .alias("commune"))
        return dict(ref.select(key, "commune").drop_nulls().sort(key, "commune").unique(key, keep="first").iter_rows())

    byq = lookup(quartiers.rename({"name": "quartier"}) if quartiers is not None and "name" in quartiers.columns
                 else None, "quartier")
    maps = {"quartier": byq, "segment_id": lookup(segments, "segment_id", byq), "bin_id": lookup(bins, "bin_id", byq)}
    if "buyer_siret" in df.columns or "contract_uid" in df.columns:     # a DECP row: placed by its buyer
        sirets = [*(df["buyer_siret"].to_list() if "buyer_siret" in df.columns else []),
                  *(procurement["buyer_siret"].to_list() if procurement is not None else [])]
        by_siret = buyer_communes(sirets, buyers)
        maps["buyer_siret"] = by_siret
        if procurement is not None and by_siret:
            maps["contract_uid"] = {u: by_siret[s] for u, s in procurement.select("contract_uid", "buyer_siret")
                                    .iter_rows() if s in by_siret}
    elif dsp_contracts is not None and "commune" in dsp_contracts.columns:   # a DSP contract's row
        maps["contract_id"] = lookup(dsp_contracts, "contract_id")
    parts = [pl.col("commune").cast(pl.Utf8)] if "commune" in df.columns else []
    for col, mapping in maps.items():
        if col in df.columns and df.schema[col] == pl.Utf8 and mapping:
            parts.append(pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.Utf8))
    if "quartiers" in df.columns and df.schema["quartiers"] == pl.Utf8 and byq:
        each = pl.col("quartiers").str.split(", ").list.eval(
            pl.element().replace_strict(byq, default=None, return_dtype=pl.Utf8)).list.unique()
        parts.append(pl.when(each.list.len() == 1).then(each.list.first()).otherwise(None))
    expr = pl.coalesce(parts) if parts else pl.lit(None, pl.Utf8)
    return df.with_columns(expr.alias("commune"))


def per_commune(fn, frames: tuple[pl.DataFrame, ...], agglomeration: str = AGGLOMERATION) -> pl.DataFrame:
    """`fn(*frames)` for the whole territory (`commune` = `agglomeration`) and for each commune
    the frames name (every frame cut to its rows of that commune: each carries `commune`), with
    `commune` as the first column. A row of no commune counts in the total only."""
    names = sorted({c for f in frames for c in f["commune"].drop_nulls().unique().to_list()} - {agglomeration})
    parts = [fn(*frames).select(pl.lit(agglomeration, pl.Utf8).alias("commune"), pl.all())]
    for name in names:
        out = fn(*(f.filter(pl.col("commune") == name) for f in frames))
        parts.append(out.select(pl.lit(name, pl.Utf8).alias("commune"), pl.all()))
    return pl.concat(parts)
