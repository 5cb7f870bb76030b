"""The 4D tree twin on top of :mod:`models.lidar`: per-tree detection and metrics on tile mosaics
(:mod:`.detect`), allometry (:mod:`.allometry`), matching across epochs and to the register
(:mod:`.matching`), the vitality model (:mod:`.health`), TRAQ risk (:mod:`.risk`), the
inspection routing (:mod:`.inspection`) and QGIS exports (:mod:`.export`). No Dagster."""
