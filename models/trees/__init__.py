"""The 4D tree twin on top of :mod:`models.lidar`: per-tree detection and metrics on tile mosaics
(:mod:`.detect`, the tile driver, over :mod:`.surface`, :mod:`.stems`, :mod:`.apex`,
:mod:`.canopy_tops`, :mod:`.stem_first`, :mod:`.leaning`, :mod:`.covered` and :mod:`.measure`;
settings in :mod:`.detect_config`), allometry (:mod:`.allometry`), matching across epochs and to
the register (:mod:`.matching`), the 4D step (:mod:`.twin`, height sources in
:mod:`.height_sources`) and its learned height correction (:mod:`.height_model`), the vitality
model (:mod:`.health`), TRAQ risk (:mod:`.risk`), the inspection routing (:mod:`.inspection`)
and QGIS exports (:mod:`.export`). No Dagster."""
