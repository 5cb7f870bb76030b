"""The model registry: versions, promotion, idempotent re-registration, per-model isolation."""

import pytest

from assets import ml
from assets.lake import Lake


def test_register_promote_and_reregister(tmp_path):
    lk = Lake(str(tmp_path))
    ml.register(lk, "a", "v1", metrics={"f1": 0.9}, training_rows=10)
    ml.register(lk, "b", "v1", metrics={}, training_rows=1)
    first = ml.register(lk, "a", "v2", metrics={"f1": 0.95}, training_rows=10)
    again = ml.register(lk, "a", "v2", metrics={"f1": 0.95}, training_rows=10)
    reg = ml.registry(lk)
    assert reg.height == 3
    assert ml.promoted(lk, "a")["version"] == "v2"
    assert ml.promoted(lk, "b")["version"] == "v1"          # another model's promotion untouched
    assert again["trained_at"] == first["trained_at"]        # re-registering keeps the first date
    assert (tmp_path / "ml" / "artifacts" / "a" / "v2").is_dir()
    with pytest.raises(LookupError, match="no promoted version"):
        ml.promoted(lk, "c")


def test_fingerprints_are_stable():
    import polars as pl

    df = pl.DataFrame({"x": [1, 2, 3]})
    assert ml.frame_fingerprint(df) == ml.frame_fingerprint(df.reverse())
    assert ml.frame_fingerprint(df) != ml.frame_fingerprint(df.head(2))
    assert ml.fingerprint({"a": 1}, "x") == ml.fingerprint({"a": 1}, "x")
