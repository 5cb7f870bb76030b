"""One LiDAR tile from file to heights and rasters: read, ground, normalise, rasterise.

* :func:`read_las` reads a LAS/LAZ file (``lazrs`` with parallel decompression where available)
  into plain numpy arrays, without the per-attribute copies of ``laspy.LasData``;
* :func:`normalise_tile` finds the ground (class 2 when the delivery has it, else the progressive
  morphological filter of :mod:`models.lidar.ground`) and gives every point its height above the
  local-plane terrain model;
* :func:`tile_rasters` builds the per-tile layers the tree steps use, on a grid aligned on
  multiples of ``res`` so that neighbouring tiles mosaic without resampling:
  ``chm`` (canopy height model, highest return per cell with lidR's ``p2r(subcircle)`` widening,
  m), ``n_first`` (first returns per cell), ``n_first_low`` (first returns below 1 m: pulses that
  went through the canopy to the ground) and ``zlow`` (lowest return above 0.5 m per cell, m);
  plus the *understorey* points (above 0.3 m and at least 1 m under the canopy surface: stems and
  inner crown returns) used for crown base height and stem lean.

No Dagster, no lake: plain functions on arrays.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chm import SUBCIRCLE_OFFSETS
from .ground import GROUND_CLASS, classify_ground_pmf, ground_surface

NOISE_CLASSES = (7, 18)
#: Heights outside this band (m above ground) are noise (birds, multipath, pits).
HEIGHT_BAND = (-2.0, 60.0)


@dataclass
class TilePoints:
    """Points of one tile as arrays (file order). ``x, y, z`` in metres (float64)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    classification: np.ndarray
    return_number: np.ndarray
    number_of_returns: np.ndarray
    intensity: np.ndarray

    def __len__(self) -> int:
        return int(self.z.size)


def _backend():
    import laspy

    b = laspy.LazBackend
    return b.LazrsParallel if b.LazrsParallel.is_available() else b.Lazrs


def read_las(source: str | Path | bytes) -> TilePoints:
    """Read every point of a LAS/LAZ file (path or bytes). Scaled coordinates are computed once
    from the raw integers (one multiply-add each), not through laspy's lazy scaled views."""
    import laspy

    f = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with f, laspy.open(f, laz_backend=_backend()) as reader:
        h = reader.header
        pts = reader.read_points(h.point_count)
    arr = pts.array
    sx, sy, sz = h.scales
    ox, oy, oz = h.offsets
    x = arr["X"] * sx + ox
    y = arr["Y"] * sy + oy
    z = arr["Z"] * sz + oz
    fmt = h.point_format.id
    if fmt >= 6:
        cls = np.asarray(arr["classification"], dtype=np.uint8)
        rn = (arr["bit_fields"] & 0x0F).astype(np.uint8)
        nr = ((arr["bit_fields"] >> 4) & 0x0F).astype(np.uint8)
    else:
        cls = np.asarray(pts.classification, dtype=np.uint8)
        rn = np.asarray(pts.return_number, dtype=np.uint8)
        nr = np.asarray(pts.number_of_returns, dtype=np.uint8)
    return TilePoints(x=x, y=y, z=z, classification=cls, return_number=rn, number_of_returns=nr,
                      intensity=np.asarray(arr["intensity"], dtype=np.uint16))


def normalise_tile(tp: TilePoints, method: str = "plane") -> tuple[np.ndarray, np.ndarray, str]:
    """Heights above ground (m, float64), the ground mask, and where the ground came from
    (``"class 2"`` or ``"pmf"``). Noise classes are kept out of the ground filter."""
    ground = tp.classification == GROUND_CLASS
    source = "class 2"
    if not ground.any():
        ok = ~np.isin(tp.classification, NOISE_CLASSES)
        # low outliers (multipath under the ground) would be kept by a morphological filter
        zq = np.quantile(tp.z[ok], 0.001) if ok.any() else 0.0
        ok &= tp.z > zq - 1.0
        ground = np.zeros(len(tp), bool)
        idx = np.flatnonzero(ok)
        ground[idx] = classify_ground_pmf(tp.x[idx], tp.y[idx], tp.z[idx])
        source = "pmf"
    h = tp.z - ground_surface(tp.x, tp.y, tp.z, ground, method=method)
    return h, ground, source


@dataclass
class TileRasters:
    """North-up layers of one tile (row 0 = north) on a grid aligned on ``res``."""

    xmin: float
    ymax: float
    res: float
    chm: np.ndarray          # float32, m; NaN where nothing fell
    n_first: np.ndarray      # int32
    n_first_low: np.ndarray  # int32
    n_multi: np.ndarray      # int32, first returns of pulses with several returns
    zlow: np.ndarray         # float32, m; NaN where no return above 0.5 m
    under_x: np.ndarray      # float64, understorey points (m, EPSG of the tile)
    under_y: np.ndarray
    under_h: np.ndarray      # float32, m above ground

    def to_npz(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.array([self.xmin, self.ymax, self.res]), chm=self.chm,
                            n_first=self.n_first, n_first_low=self.n_first_low, n_multi=self.n_multi, zlow=self.zlow,
                            under_x=self.under_x, under_y=self.under_y, under_h=self.under_h)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, data: bytes | str | Path) -> "TileRasters":
        z = np.load(io.BytesIO(data) if isinstance(data, bytes) else data)
        xmin, ymax, res = (float(v) for v in z["meta"])
        return cls(xmin, ymax, res, z["chm"], z["n_first"], z["n_first_low"], z["n_multi"], z["zlow"], z["under_x"],
                   z["under_y"], z["under_h"])


def tile_grid(min_x: float, min_y: float, max_x: float, max_y: float, res: float) -> tuple[float, float, int, int]:
    """``(xmin, ymax, ncols, nrows)`` of the ``res``-aligned grid covering a bounding box."""
    x0 = math.floor(min_x / res) * res
    y0 = math.floor(min_y / res) * res
    x1 = math.ceil(max_x / res + 1e-9) * res
    y1 = math.ceil(max_y / res + 1e-9) * res
    return x0, y1, max(1, int(round((x1 - x0) / res))), max(1, int(round((y1 - y0) / res)))


def tile_rasters(x: np.ndarray, y: np.ndarray, h: np.ndarray, return_number: np.ndarray,
                 number_of_returns: np.ndarray, bounds: tuple[float, float, float, float], res: float = 0.5,
                 subcircle: float = 0.2, classification: np.ndarray | None = None) -> TileRasters:
    """Per-tile raster layers (see the module doc) over ``bounds = (min_x, min_y, max_x, max_y)``.
    Returns classified as noise (7, 18) and heights outside ``HEIGHT_BAND`` are left out."""
    xmin, ymax, nc, nr = tile_grid(*bounds, res)
    ok = (h > HEIGHT_BAND[0]) & (h < HEIGHT_BAND[1])
    if classification is not None:
        ok &= ~np.isin(classification, NOISE_CLASSES)
    x, y, h, rn, nret = x[ok], y[ok], h[ok], return_number[ok], number_of_returns[ok]
    hf = h.astype(np.float32)
    inv = 1.0 / res

    def cell_of(px, py):
        c = ((px - xmin) * inv).astype(np.int64)
        r = ((ymax - py) * inv).astype(np.int64)
        good = (c >= 0) & (c < nc) & (r >= 0) & (r < nr)
        return r * nc + c, good

    n = nr * nc
    chm = np.full(n, -np.inf, dtype=np.float32)
    if subcircle > 0:
        for cs, ss in zip(*SUBCIRCLE_OFFSETS):
            cell, good = cell_of(x + subcircle * cs, y + subcircle * ss)
            np.maximum.at(chm, cell[good], hf[good])
    cell, good = cell_of(x, y)
    np.maximum.at(chm, cell[good], hf[good])
    chm[np.isneginf(chm)] = np.nan
    first = good & (rn <= 1)
    n_first = np.bincount(cell[first], minlength=n).astype(np.int32)
    n_first_low = np.bincount(cell[first & (h < 1.0)], minlength=n).astype(np.int32)
    n_multi = np.bincount(cell[first & (nret > 1)], minlength=n).astype(np.int32)
    zlow = np.full(n, np.inf, dtype=np.float32)
    up = good & (h > 0.5)
    np.minimum.at(zlow, cell[up], hf[up])
    zlow[np.isinf(zlow)] = np.nan
    surf = chm[np.where(good, cell, 0)]
    under = good & (h > 0.3) & (h < surf - 1.0)
    return TileRasters(xmin, ymax, res, chm.reshape(nr, nc), n_first.reshape(nr, nc), n_first_low.reshape(nr, nc),
                       n_multi.reshape(nr, nc), zlow.reshape(nr, nc), x[under], y[under], hf[under])
