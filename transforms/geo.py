"""Geometry helpers on plain numbers: WKT parsing, Lambert-93 <-> WGS84, point in polygon,
point-to-segment distances. (No GEOS dependency: the shapes here are simple.)"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import polars as pl

_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@lru_cache(maxsize=2)
def _transformer(src: int, dst: int):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def wgs84_to_l93(lon, lat):
    x, y = _transformer(4326, 2154).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def l93_to_wgs84(x, y):
    lon, lat = _transformer(2154, 4326).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def wkt_coords(wkt: str) -> np.ndarray:
    """All coordinate pairs of a LINESTRING/POLYGON WKT (first ring only for polygons)."""
    body = wkt.split("((", 1)[1].split(")", 1)[0] if "((" in wkt else wkt.split("(", 1)[1].rsplit(")", 1)[0]
    nums = [float(v) for v in _NUM.findall(body)]
    return np.array(nums, dtype=float).reshape(-1, 2)


def point_in_polygon(x, y, ring: np.ndarray) -> np.ndarray:
    """Even-odd rule for many points against one ring."""
    x = np.asarray(x, float); y = np.asarray(y, float)
    inside = np.zeros(x.shape, bool)
    xs, ys = ring[:, 0], ring[:, 1]
    n = len(ring)
    for i in range(n):
        x1, y1, x2, y2 = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
        if y1 == y2:
            continue
        cond = (y1 > y) != (y2 > y)
        xin = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= cond & (x < xin)
    return inside


def assign_quartier(x, y, quartiers: pl.DataFrame) -> list[str | None]:
    """Name of the quartier containing each Lambert-93 point (None outside every quartier).
    `quartiers` has columns name and wkt_2154."""
    x = np.asarray(x, float); y = np.asarray(y, float)
    out = np.full(x.shape, None, dtype=object)
    for name, wkt in quartiers.select("name", "wkt_2154").iter_rows():
        hit = point_in_polygon(x, y, wkt_coords(wkt)) & (out == None)  # noqa: E711
        out[hit] = name
    return out.tolist()


def point_segment_distance(px, py, x0, y0, x1, y1):
    """Distance from points to segments (broadcasting), and the position t in [0, 1] along each."""
    dx, dy = x1 - x0, y1 - y0
    L2 = np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / L2, 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy)), t
