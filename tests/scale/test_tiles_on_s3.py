"""The tree chain's per-tile steps on a lake on S3 (the local S3 server of conftest.py): the pool's
workers write the rasters through the storage layer with the lake's storage options, the step
writes the points; the tables and rasters equal those of one process on local disk."""

import polars as pl

from assets import trees_tiles as TP
from assets.lake import Lake
from tests.assets.test_trees_tiles import tiny_tiles  # noqa: F401  (the fixture)
from transforms import trees as T


def test_two_workers_on_s3_give_the_local_tables(tiny_tiles, s3_lake, tmp_path):  # noqa: F811
    landing, todo = tiny_tiles
    todo = todo.filter(pl.col("checksum") != "bad")
    uri, opts = s3_lake
    out = {}
    for name, lake, workers in (("local", Lake(str(tmp_path / "lake")), 1), ("s3", Lake(uri, opts), 2)):
        rows, bad = TP.tile_points(lake, landing, todo, workers)
        assert not bad
        products = T.merge_tile_products(pl.DataFrame(schema=T.TILE_PRODUCTS), rows)
        out[name] = {"points": lake.read("silver", "lidar_points"), "products": products,
                     "rasters": {p: lake.files.get_bytes(p) for p in lake.files.list("silver/lidar_rasters")},
                     "detections": TP.tree_detections(lake.files.localise(products, "rasters_path"), workers)}
    local, s3 = out["local"], out["s3"]
    assert s3["products"]["rasters_path"].str.starts_with(uri).all()
    assert local["points"].equals(s3["points"])
    assert len(s3["rasters"]) == 6 and local["rasters"] == s3["rasters"]
    assert local["products"].drop("seconds", "rasters_path").equals(s3["products"].drop("seconds", "rasters_path"))
    assert local["detections"].height > 100 and local["detections"].equals(s3["detections"])
