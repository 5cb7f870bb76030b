"""Airborne LiDAR tree detection for the green-spaces twin (plain numpy/scipy, no Dagster).

* :mod:`models.lidar.lmf`: local-maximum filter tree tops, faithful to lidR ``locate_trees(lmf(...))``
  on point clouds and on canopy height models (window diameter, inclusive circle, first-accepted-wins
  ties, variable windows);
* :mod:`models.lidar.chm`: canopy height model by points-to-raster with lidR's ``p2r(subcircle)``;
* :mod:`models.lidar.ground`: progressive morphological ground filter and height normalisation
  (TIN, DTM raster or IDW).

The reference counts of lidR/lasR's own tests on real files (``../shared/benchmarks/lidar``) are
reproduced exactly by ``tests/models/test_lidar.py``.
"""

from .chm import Raster, bilinear, canopy_height_model, raster_layout
from .ground import classify_ground_pmf, dtm_raster, ground_surface, knnidw, normalize_height
from .lmf import TreeTops, local_maximum_mask, locate_trees, locate_trees_raster

__all__ = [
    "Raster",
    "TreeTops",
    "bilinear",
    "canopy_height_model",
    "classify_ground_pmf",
    "dtm_raster",
    "ground_surface",
    "knnidw",
    "local_maximum_mask",
    "locate_trees",
    "locate_trees_raster",
    "normalize_height",
    "raster_layout",
]
