"""Exports for QGIS (GeoJSON and GeoParquet, points in EPSG:2154) and a map picture.

GeoParquet is written with pyarrow alone: a ``geometry`` column of WKB points and the ``geo``
file metadata of the GeoParquet 1.0 specification (primary column, encoding, geometry types,
CRS as PROJJSON, bbox), which QGIS 3.28+ and GeoPandas read. The GeoJSON follows RFC 7946 except
for the CRS: it carries Lambert-93 coordinates and names the CRS in a ``crs`` member (QGIS reads
it), as French GIS data commonly does.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import polars as pl


def _wkb_points(x: np.ndarray, y: np.ndarray) -> list[bytes]:
    return [struct.pack("<BIdd", 1, 1, float(a), float(b)) for a, b in zip(x, y)]


def write_geoparquet(df: pl.DataFrame, path: Path, x: str = "x_2154", y: str = "y_2154", epsg: int = 2154) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyproj import CRS

    xs, ys = df[x].to_numpy(), df[y].to_numpy()
    t = df.to_arrow().append_column("geometry", pa.array(_wkb_points(xs, ys), type=pa.binary()))
    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"],
                                    "crs": json.loads(CRS.from_epsg(epsg).to_json()),
                                    "bbox": [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
                                    if len(xs) else []}}}
    t = t.replace_schema_metadata({**(t.schema.metadata or {}), b"geo": json.dumps(geo).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(t, tmp)
    tmp.replace(path)
    return path


def write_geojson(df: pl.DataFrame, path: Path, x: str = "x_2154", y: str = "y_2154", epsg: int = 2154) -> Path:
    props = [c for c in df.columns]
    feats = []
    for r in df.iter_rows(named=True):
        p = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items() if k in props}
        p = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in p.items()}
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(r[x], 2), round(r[y], 2)]},
                      "properties": p})
    fc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
          "features": feats}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(fc, ensure_ascii=False))
    tmp.replace(path)
    return path


RISK_COLOURS = {"Low": "#2e7d32", "Moderate": "#f9a825", "High": "#ef6c00", "Extreme": "#c62828"}


def risk_map_png(trees: pl.DataFrame, quartier_rings: list[np.ndarray], routes: list[np.ndarray] | None = None,
                 title: str = "") -> bytes:
    """A map of the trees (disc size ~ crown diameter, colour = TRAQ risk), quartier outlines and
    the inspection routes, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    for ring in quartier_rings:
        ax.plot(ring[:, 0], ring[:, 1], color="#9e9e9e", lw=0.6)
    for rating, colour in RISK_COLOURS.items():
        t = trees.filter(pl.col("risk_rating") == rating)
        if t.height:
            ax.scatter(t["x_2154"], t["y_2154"], s=np.clip(t["crown_diameter_m"].to_numpy(), 1, 20) * 1.2, c=colour,
                       label=f"{rating} ({t.height})", alpha=0.8, linewidths=0)
    for r in routes or []:
        ax.plot(r[:, 0], r[:, 1], lw=1.0, color="#1565c0", alpha=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, Lambert-93)")
    ax.set_ylabel("y (m, Lambert-93)")
    ax.legend(loc="upper right", fontsize=8, title="TRAQ risk")
    ax.set_title(title or "Trees by TRAQ risk, inspection routes in blue")
    ax.ticklabel_format(useOffset=False, style="plain")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
