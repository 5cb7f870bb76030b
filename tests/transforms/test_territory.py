"""The territory comes from the reference communes, not a constant: real LiDAR tiles from elsewhere
(../shared/real/lidar: an IGN LiDAR HD sample in Lambert-93, a NEON plot in UTM 11N) are set aside
with the area named, and come in once their area is in the reference data; a tile without a
declared CRS is quarantined with that reason. Real files are copied to a temporary folder only."""

import json
import os
from pathlib import Path

import dagster as dg
import laspy
import numpy as np
import polars as pl
import pytest

from assets.bronze import ingest_delivery
from assets.lake import Lake, LakeResource
from assets.sources import SOURCES_BY_NAME
from transforms import territory as TT
from transforms.parsing import BadDelivery, parse_laz_tile

REAL = Path(__file__).resolve().parents[3] / "shared" / "real" / "lidar"
IGN = REAL / "ign_lidarhd" / "870000_6618000.subset.50mx100m.las"
NEON = REAL / "neon_teak" / "TEAK_043.laz"


def _real(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is absent and CI=true requires the real data")
        pytest.skip(f"{path} is absent: the real LiDAR lives in ../shared/real/lidar beside the repository")
    return path


def _with_crs(src: Path, dest: Path, epsg: int) -> Path:
    """A copy of a real tile with its CRS declared (WKT VLR for LAS 1.4, GeoTIFF keys before)."""
    las = laspy.read(src)
    las.header.add_crs(__import__("pyproj").CRS.from_epsg(epsg))
    dest.parent.mkdir(parents=True, exist_ok=True)
    las.write(dest, do_compress=dest.suffix == ".laz")
    return dest


def _square(lon: float, lat: float, half_deg: float) -> list:
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return [ring]


def _communes(extra: list[dict]) -> str:
    from models.simulator.city import build_city
    from models.simulator.reference import communes_geojson

    doc = communes_geojson(build_city("tiny", 7))
    doc["features"] += extra
    return json.dumps(doc)


def test_box_distance_overlap_crossing_and_far():
    ring = [np.array([[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], float)]
    assert TT.box_distance((10, 10, 20, 20), ring) == 0.0            # inside
    assert TT.box_distance((-50, -50, 200, 200), ring) == 0.0        # polygon inside the box
    assert TT.box_distance((50, -10, 60, 300), ring) == 0.0          # crossing, no vertex inside
    assert TT.box_distance((300, 0, 400, 100), ring) == pytest.approx(200.0)
    assert TT.box_distance((103, 103, 110, 110), ring) == pytest.approx(np.hypot(3, 3))


def test_tiles_without_a_crs_are_refused_with_the_reason():
    for path in (_real(IGN), _real(NEON)):
        with pytest.raises(BadDelivery, match="no CRS declared"):
            parse_laz_tile(path.read_bytes(), path.name)


def test_real_tiles_from_elsewhere_wait_for_their_commune(tmp_path):
    from assets import reference as R
    from assets import trees as A

    landing, lake = tmp_path / "landing", Lake(str(tmp_path / "lake"))
    tiles = landing / "trees" / "tiles"
    ign = _with_crs(_real(IGN), tiles / "2021" / "870000_6618000.las", 2154)
    neon = _with_crs(_real(NEON), tiles / "2018" / "TEAK_043.laz", 32611)
    (tiles / "2021" / "bare.las").write_bytes(_real(IGN).read_bytes())        # same tile, no CRS
    qroot = landing / "_quarantine"
    src = SOURCES_BY_NAME["lidar_tiles"]
    reps = {k: ingest_delivery(src, k, lake, landing, qroot, run_id="t")
            for k in ("2021/870000_6618000.las", "2018/TEAK_043.laz", "2021/bare.las")}
    assert reps["2021/bare.las"].status == "quarantined" and "no CRS declared" in reps["2021/bare.las"].quarantined[0]["reason"]
    assert reps["2021/870000_6618000.las"].status == reps["2018/TEAK_043.laz"].status == "ingested"
    bronze = lake.read("bronze", "lidar_tiles").sort("tile_id")
    assert bronze["crs_epsg"].to_list() == [2154, 32611]
    # the UTM plot's bounds are stored in Lambert-93 (pyproj), its declared CRS kept
    teak = bronze.filter(pl.col("tile_id") == "TEAK_043").row(0, named=True)
    las = laspy.read(neon)
    x93, y93 = TT.to_lambert93(np.asarray(las.x), np.asarray(las.y), 32611)
    assert teak["min_x"] <= x93.min() + 1e-3 and teak["max_x"] >= x93.max() - 1e-3
    assert teak["min_y"] <= y93.min() + 1e-3 and teak["max_y"] >= y93.max() - 1e-3
    assert teak["max_x"] - teak["min_x"] < 60   # a 40 m plot stays about 40 m wide

    (landing / "reference").mkdir(parents=True)
    (landing / "reference" / "communes.geojson").write_text(_communes([]))
    ingest_delivery(SOURCES_BY_NAME["communes"], "communes.geojson", lake, landing, qroot, run_id="t")
    lake.overwrite("silver", "quartiers", pl.DataFrame(schema={"name": pl.Utf8, "wkt_2154": pl.Utf8}))
    res = {"lake": LakeResource(lake_uri=lake.root, landing_uri=str(landing))}
    assert dg.materialize([R.communes, A.lidar_tiles], resources=res).success
    assert not lake.exists("silver", "lidar_tiles") or lake.read("silver", "lidar_tiles").is_empty()
    q = lake.read("", "quarantine").filter(pl.col("reason").str.contains("outside the reference territory"))
    assert sorted(q["item"].to_list()) == ["trees/tiles/2018/TEAK_043.laz", "trees/tiles/2021/870000_6618000.las"]
    assert q["reason"].str.contains("Cannes \\(06029\\) \\+ 500 m").all()
    assert ign.exists() and neon.exists()   # left in the landing zone: they come in with their commune

    # their areas join the reference data (test polygons, fictitious INSEE codes): both tiles come in
    from transforms.geo import l93_to_wgs84

    lon, lat = (float(v) for v in l93_to_wgs84(870100, 6617110))
    tlon, tlat = (float(v) for v in l93_to_wgs84(*TT.to_lambert93(321054, 4096731, 32611)))
    extra = [{"type": "Feature", "properties": {"insee": "01999", "name": "IGN sample area (test)"},
              "geometry": {"type": "Polygon", "coordinates": _square(lon, lat, 0.01)}},
             {"type": "Feature", "properties": {"insee": "99611", "name": "NEON TEAK plot area (test)"},
              "geometry": {"type": "Polygon", "coordinates": _square(tlon, tlat, 0.005)}}]
    (landing / "reference" / "communes.geojson").write_text(_communes(extra))
    ingest_delivery(SOURCES_BY_NAME["communes"], "communes.geojson", lake, landing, qroot, run_id="t2")
    assert dg.materialize([R.communes, A.lidar_tiles], resources=res).success
    silver = lake.read("silver", "lidar_tiles").sort("tile_id")
    assert silver["tile_id"].to_list() == ["870000_6618000.las".removesuffix(".las"), "TEAK_043"]
    assert silver["crs_epsg"].to_list() == [2154, 32611]
    # the points step reads the UTM plot's points into Lambert-93, where its bounds are
    assert dg.materialize([A.lidar_points], resources=res).success
    products = lake.read("silver", "lidar_tile_products").sort("tile_id")
    assert products["tile_id"].to_list() == ["870000_6618000", "TEAK_043"]
    assert products["points"].to_list() == [len(laspy.read(ign).points), len(las.points)]
    pts = lake.read("silver", "lidar_points", columns=["x_local", "y_local"], filters=[("tile_id", "=", "TEAK_043")])
    p = products.filter(pl.col("tile_id") == "TEAK_043").row(0, named=True)
    x = pts["x_local"].to_numpy() + p["origin_x"]
    y = pts["y_local"].to_numpy() + p["origin_y"]
    assert teak["min_x"] - 0.05 <= x.min() and x.max() <= teak["max_x"] + 0.05
    assert teak["min_y"] - 0.05 <= y.min() and y.max() <= teak["max_y"] + 0.05


def test_a_real_commune_file_in_another_shape_is_read():
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code_insee": "06029", "nom": "Cannes"},
         "geometry": {"type": "MultiPolygon", "coordinates": [_square(7.0, 43.55, 0.03), _square(7.05, 43.51, 0.01)]}},
        {"type": "Feature", "properties": {"code_insee": "6029", "nom": "Cannes"},
         "geometry": {"type": "Polygon", "coordinates": _square(7.0, 43.55, 0.03)}}]}
    p = TT.parse_communes(json.dumps(doc).encode(), "communes.geojson")
    assert p.good["insee"].to_list() == ["06029"] and len(json.loads(p.good["rings_2154"][0])) == 2
    assert p.bad.height == 1 and "INSEE code '6029'" in p.bad["reason"][0]
    inside, outside = TT.split_tiles(pl.DataFrame({"tile_id": ["a", "b"], "min_x": [1_024_000.0, 900_000.0],
                                                   "min_y": [6_280_000.0, 6_280_000.0], "max_x": [1_024_250.0, 900_250.0],
                                                   "max_y": [6_280_250.0, 6_280_250.0]}), TT.communes(p.good))
    assert inside["tile_id"].to_list() == ["a"] and "Cannes (06029)" in outside["reason"][0]



def test_a_key_given_two_communes_resolves_the_same_whatever_the_row_order():
    # a quartier landed twice with different communes (a correction, a typo) must not make the
    # placement depend on the order Delta returns the rows in: the first commune by name wins
    from transforms.reference import with_commune

    quartiers = pl.DataFrame({"name": ["Q1", "Q1", "Q2"], "commune": ["Mougins", "Cannes", "Le Cannet"]})
    df = pl.DataFrame({"quartier": ["Q1", "Q2", "Q3"]})
    seen = {tuple(with_commune(df, quartiers.sample(fraction=1.0, shuffle=True, seed=s))["commune"].to_list())
            for s in range(20)}
    assert seen == {("Cannes", "Le Cannet", None)}
