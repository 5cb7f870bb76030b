"""Where a tree's height in the twin came from (``height_source``) and the 4D step's pooling
constants: read by the 4D step (:mod:`models.trees.twin`), the learned height correction
(:mod:`models.trees.height_model`) and the quality suites, so that neither of the first two
imports the other's module for them."""

MEASURED = "measured"
POOLED_LOWEST = "covered in every scan: lowest reading"
POOLED_MEAN = "covered in every scan: mean of readings"
POOLED_CANOPY_LOWEST = "covered in every scan: lowest canopy over it"
CARRIED = "carried from "          # + the epoch the height was carried from
HEIGHT_SOURCES = (MEASURED, POOLED_LOWEST, POOLED_MEAN, POOLED_CANOPY_LOWEST)
MIN_CROWN_M2 = 1.0                 # a crown segment smaller than this carries no height reading
CANOPY_SPREAD_M = 0.5              # m: readings of the canopy over a covered tree further apart: the lowest is kept
OWN_SPREAD_M = 2.5                 # m: readings off a covered tree's own crown further apart: the lowest is kept
