"""Road-survey models (no Dagster here).

* `anonymise`: faces and number plates found and blurred in a frame before it is stored
  (`anonymise_jpeg(bytes) -> (jpeg bytes, boxes, blurred area share)`).
* `dataset`: survey frames and ground truth from the simulator, the cell grid and its labels.
* `damage_net`: the damage-grid CNN, its training, versioned artifacts (weights, config, model
  card) and batched inference (`DamageDetector`).

bench/roads_eval.py measures them on a survey simulated with a seed the model never saw.
"""
