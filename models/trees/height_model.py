"""Heights of covered trees: a correction learned on simulated cities.

A tree whose top is covered by a taller neighbour's crown is not measured on its top: its height
is read on what shows of its own crown (a lower bound that errs high when a scrap of the
neighbour's crown is taken for its own), on the canopy over it (the neighbour's surface, an upper
bound), carried from a scan where its top showed, or pooled over scans (:mod:`models.trees.twin`).
Those readings are metres off on the 2-3 % of trees whose apex no scan shows, and which of them
errs, and how far, depends on the scene around the tree: how much higher the neighbours are and
how near, what kind of reading each scan gave and how far apart they lie, how much of the tree's
own crown was segmented, its crown's shape.

:func:`apply_height_model` shifts the height of every such tree (not those measured on their own
top) by ``height_correction_m``, the prediction of a gradient-boosted regression tree ensemble
(scikit-learn's ``HistGradientBoostingRegressor``, least squares) of *true height - height* from
the :data:`FEATURES` below, trained on the simulated development cities (never on the cities the
acceptance bench scores) by ``bench/trees_height_model.py``; the ensemble is stored as plain
arrays in ``height_model.npz`` and evaluated here with numpy (no pickles, no scikit-learn at run
time). See the model card in docs/trees.md: what it was trained on, its figures on validation
cities, and its limits (it knows the simulator's crowns, not Cannes'; a field campaign measuring
covered trees should replace its training set).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from .height_sources import (CANOPY_SPREAD_M, CARRIED, MEASURED, MIN_CROWN_M2, OWN_SPREAD_M, POOLED_CANOPY_LOWEST,
                             POOLED_MEAN)

MODEL_PATH = Path(__file__).with_name("height_model.npz")
KINDS = {"top": 0.0, "own_crown": 1.0, "canopy": 2.0}
NEIGHBOUR_RADII = (3.0, 5.0, 8.0)
FEATURES = (
    "height_m", "read_minus_height", "reading_kind", "other_reading_kind", "other_read_minus_height", "source_kind",
    "area_over_h2", "diameter_over_h", "crown_base_over_h", "gap_fraction", "top_gap_fraction", "stem_points",
    "crown_contact_share", "crown_star_ratio", "crown_layer_depth_m", "canopy_prev_minus_h", "canopy_next_minus_h",
    "lean_deg", "top_offset_m", "has_stem",
    *[f"{k}_{r:g}" for r in NEIGHBOUR_RADII for k in ("neighbour_rise_m", "neighbour_dist_m")],
)


def _source_kind(s: str | None) -> float:
    """``height_source`` as a number: measured 0, carried 1, pooled mean 2, pooled lowest canopy
    3, pooled lowest reading 4 (the sources of :mod:`models.trees.twin`)."""
    if s is None or s == MEASURED:
        return 0.0
    if s.startswith(CARRIED):
        return 1.0
    return {POOLED_MEAN: 2.0, POOLED_CANOPY_LOWEST: 3.0}.get(s, 4.0)


def _num(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(df.height, np.nan)
    return df[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _neighbours(x, y, h, tx, ty, th, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Per tree at (x, y) read at h: the largest rise of another top (tx, ty, th) within
    ``radius`` m over h (-5 where none) and its distance (``radius`` where none). A top within
    0.3 m is the tree's own."""
    rise = np.full(len(x), -5.0)
    dist = np.full(len(x), radius)
    if not len(tx) or not len(x):
        return rise, dist
    kd = cKDTree(np.c_[tx, ty])
    for i, js in enumerate(kd.query_ball_point(np.c_[x, y], radius)):
        if not js:
            continue
        js = np.asarray(js)
        d = np.hypot(tx[js] - x[i], ty[js] - y[i])
        ok = d > 0.3
        if not ok.any():
            continue
        r = th[js][ok] - h[i]
        k = int(np.argmax(r))
        if r[k] > -5.0:
            rise[i], dist[i] = r[k], d[ok][k]
    return rise, dist


def covered_features(tw: pl.DataFrame) -> np.ndarray:
    """The :data:`FEATURES` of every row of ``tw`` (the output of ``follow_trees`` before any
    correction: ``height_m`` after carrying and pooling, ``height_read_m`` the scan's reading)."""
    n = tw.height
    out = np.full((n, len(FEATURES)), np.nan)
    if n == 0:
        return out
    h = _num(tw, "height_m")
    read = _num(tw, "height_read_m") if "height_read_m" in tw.columns else h.copy()
    hh = np.maximum(h, 1.0)
    kind = np.array([KINDS.get(k, 3.0) for k in (tw["height_reading"].to_list() if "height_reading" in tw.columns
                                                  else [None] * n)])
    status = tw["status"].to_numpy() if "status" in tw.columns else np.full(n, "alive", dtype=object)
    alive = status != "felled"
    ids = tw["tree_id"].to_numpy()
    ep = tw["epoch"].to_numpy()
    # the same tree's reading in the other scan nearest in time (the earlier one on a tie)
    epochs = sorted(set(ep.tolist()))
    pos = {e: i for i, e in enumerate(epochs)}
    by_tree: dict = {}
    for k in np.flatnonzero(alive):
        by_tree.setdefault(ids[k], []).append(k)
    o_kind = np.full(n, 3.0)
    o_read = np.full(n, np.nan)
    for k in range(n):
        others = [q for q in by_tree.get(ids[k], []) if q != k]
        if others:
            q = min(others, key=lambda q: (abs(pos[ep[q]] - pos[ep[k]]), pos[ep[q]]))
            o_kind[k] = kind[q]
            o_read[k] = read[q]
    src = np.array([_source_kind(s) for s in (tw["height_source"].to_list() if "height_source" in tw.columns
                                               else [None] * n)])
    x, y = _num(tw, "x"), _num(tw, "y")
    tx, ty = _num(tw, "top_x"), _num(tw, "top_y")
    cols = {
        "height_m": h, "read_minus_height": read - h, "reading_kind": kind, "other_reading_kind": o_kind,
        "other_read_minus_height": o_read - h, "source_kind": src,
        "area_over_h2": _num(tw, "crown_area_m2") / hh ** 2, "diameter_over_h": _num(tw, "crown_diameter_m") / hh,
        "crown_base_over_h": _num(tw, "crown_base_m") / hh, "gap_fraction": _num(tw, "gap_fraction"),
        "top_gap_fraction": _num(tw, "top_gap_fraction"), "stem_points": np.nan_to_num(_num(tw, "stem_points")),
        "crown_contact_share": _num(tw, "crown_contact_share"), "crown_star_ratio": _num(tw, "crown_star_ratio"),
        "crown_layer_depth_m": _num(tw, "crown_layer_depth_m"), "canopy_prev_minus_h": _num(tw, "canopy_prev_m") - h,
        "canopy_next_minus_h": _num(tw, "canopy_next_m") - h, "lean_deg": _num(tw, "lean_deg"),
        "top_offset_m": np.hypot(tx - x, ty - y),
        "has_stem": (tw["position_source"] == "stem").fill_null(False).to_numpy().astype(float) if "position_source" in tw.columns
        else np.zeros(n),
    }
    # the neighbours in the same scan: tops of the living trees, at their scan's reading
    for e in epochs:
        m = ep == e
        nb = m & alive
        for r in NEIGHBOUR_RADII:
            rise, dist = _neighbours(x[m], y[m], read[m], tx[nb], ty[nb], read[nb], r)
            cols.setdefault(f"neighbour_rise_m_{r:g}", np.full(n, np.nan))[m] = rise
            cols.setdefault(f"neighbour_dist_m_{r:g}", np.full(n, np.nan))[m] = dist
    for j, f in enumerate(FEATURES):
        out[:, j] = cols[f]
    return out


def needs_correction(tw: pl.DataFrame) -> np.ndarray:
    """Rows whose height was not measured on the tree's own top in that scan (living trees)."""
    if tw.is_empty():
        return np.zeros(0, bool)
    reading = tw["height_reading"].to_numpy() if "height_reading" in tw.columns else np.full(tw.height, "top")
    src = tw["height_source"].fill_null(MEASURED).to_numpy() if "height_source" in tw.columns \
        else np.full(tw.height, MEASURED)
    status = tw["status"].to_numpy() if "status" in tw.columns else np.full(tw.height, "alive")
    h = _num(tw, "height_m")
    return (status != "felled") & np.isfinite(h) & ~((reading == "top") & (src == MEASURED))


#: where the learned height correction and the crown-form species were fitted: scenes detected
#: stem-first (stems resolved), at the simulated cities' point density (9 pts/m², point spacing
#: 0.33 m; at least 7 pts/m² accepted: spacing up to 0.38 m) and open urban canopy (tile canopy
#: cover 0.2-5 % on the demo cities; up to 35 % accepted). Outside it both are left off
#: (``in_model_domain`` false): a closed conifer stand at 5-7 pts/m² (NEON TEAK) is not what the
#: simulator trained them on, and the correction made real heights worse there (2.34 -> 2.54 m).
DOMAIN = {"detection_path": "stem-first", "min_point_density": 7.0, "max_canopy_cover": 0.35}


def in_model_domain(df: pl.DataFrame, domain: dict = DOMAIN) -> np.ndarray:
    """Rows whose scene lies in the applicability domain of the learned corrections (rows of
    detections made before the scene columns existed - all stem-first - count as inside when the
    columns are empty)."""
    if df.is_empty():
        return np.zeros(0, bool)
    ok = np.ones(df.height, bool)
    if "detection_path" in df.columns:
        p = df["detection_path"].to_numpy()
        ok &= (p == None) | (p == domain["detection_path"])  # noqa: E711
    if "scene_point_density" in df.columns:
        d = _num(df, "scene_point_density")
        ok &= ~(d < domain["min_point_density"])        # NaN (unknown) passes
    if "scene_canopy_cover" in df.columns:
        c = _num(df, "scene_canopy_cover")
        ok &= ~(c > domain["max_canopy_cover"])
    return ok


class TreeEnsemble:
    """A boosted ensemble of regression trees as flat arrays (from scikit-learn's
    ``HistGradientBoostingRegressor``): per node its feature, threshold, children, whether
    missing values go left, whether it is a leaf and its value; ``roots`` index each tree's
    first node; the prediction is ``baseline`` plus the leaf value of every tree."""

    def __init__(self, feature, threshold, left, right, missing_left, is_leaf, value, roots, baseline, features):
        self.feature, self.threshold = np.asarray(feature, np.int64), np.asarray(threshold, float)
        self.left, self.right = np.asarray(left, np.int64), np.asarray(right, np.int64)
        self.missing_left, self.is_leaf = np.asarray(missing_left, bool), np.asarray(is_leaf, bool)
        self.value, self.roots = np.asarray(value, float), np.asarray(roots, np.int64)
        self.baseline, self.features = float(baseline), tuple(features)

    @classmethod
    def from_sklearn(cls, model, features) -> "TreeEnsemble":
        feat, thr, left, right, ml, leaf, val, roots = [], [], [], [], [], [], [], []
        off = 0
        for (pred,) in model._predictors:
            nd = pred.nodes
            roots.append(off)
            feat.append(nd["feature_idx"]); thr.append(nd["num_threshold"])
            left.append(np.where(nd["is_leaf"], -1, nd["left"].astype(np.int64) + off))
            right.append(np.where(nd["is_leaf"], -1, nd["right"].astype(np.int64) + off))
            ml.append(nd["missing_go_to_left"]); leaf.append(nd["is_leaf"]); val.append(nd["value"])
            off += len(nd)
        c = np.concatenate
        return cls(c(feat), c(thr), c(left), c(right), c(ml), c(leaf), c(val), roots,
                   float(np.ravel(model._baseline_prediction)[0]), features)

    def save(self, path: Path, **meta) -> None:
        np.savez_compressed(path, feature=self.feature, threshold=self.threshold, left=self.left, right=self.right,
                            missing_left=self.missing_left, is_leaf=self.is_leaf, value=self.value, roots=self.roots,
                            baseline=np.array(self.baseline), features=np.array(self.features),
                            meta=np.array(repr(meta)))

    @classmethod
    def load(cls, path: Path) -> "TreeEnsemble":
        z = np.load(path, allow_pickle=False)
        return cls(z["feature"], z["threshold"], z["left"], z["right"], z["missing_left"], z["is_leaf"], z["value"],
                   z["roots"], float(z["baseline"]), [str(f) for f in z["features"]])

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, float)
        out = np.full(len(X), self.baseline)
        rows = np.arange(len(X))
        for root in self.roots:
            node = np.full(len(X), root)
            active = ~self.is_leaf[node]
            while active.any():
                a = np.flatnonzero(active)
                nd = node[a]
                v = X[rows[a], self.feature[nd]]
                go_left = np.where(np.isnan(v), self.missing_left[nd], v <= self.threshold[nd])
                node[a] = np.where(go_left, self.left[nd], self.right[nd])
                active[a] = ~self.is_leaf[node[a]]
            out += self.value[node]
        return out


def detection_fingerprint() -> str:
    """What the model's inputs depend on besides their code: the detection's settings and the 4D
    step's pooling constants. Recorded with the model when it is trained; a test compares it
    with the code's (a detection changed without training the model again fails there)."""
    from .detect_config import CANOPY_SETTINGS, DetectConfig

    # the settings of the path choice and of the canopy-first path are left out: the correction is
    # applied on stem-first scenes only (its applicability domain), whose detections they do not
    # change (identical detections on the demo cities 2718 and 1234 with and without the switch)
    detect = {k: v for k, v in DetectConfig().flat().items() if k not in CANOPY_SETTINGS}
    return repr({"detect": detect, "min_crown_m2": MIN_CROWN_M2,
                 "canopy_spread_m": CANOPY_SPREAD_M, "own_spread_m": OWN_SPREAD_M})


def same_detection(recorded: str, current: str | None = None) -> bool:
    """Whether a fingerprint recorded with the model (:func:`model_meta`'s ``detection``) names the
    same settings and constants as the code's (:func:`detection_fingerprint`). Compared as values,
    not as text: the settings are listed group by group since DetectConfig was grouped (issue 23),
    field by field before, in another order."""
    import ast

    return ast.literal_eval(recorded) == ast.literal_eval(current or detection_fingerprint())


def model_meta(path: Path = MODEL_PATH) -> dict:
    """What the model file says of its training (train and validation cities, parameters, rows,
    the detection fingerprint)."""
    import ast

    return ast.literal_eval(str(np.load(path, allow_pickle=False)["meta"]))


@lru_cache(maxsize=2)
def load_model(path: str = str(MODEL_PATH)) -> TreeEnsemble | None:
    p = Path(path)
    if not p.exists():
        return None
    m = TreeEnsemble.load(p)
    if m.features != FEATURES:
        raise ValueError(f"{p} was trained on features {m.features}, this code computes {FEATURES}: retrain it "
                         "(bench/trees_height_model.py)")
    return m


def apply_height_model(tw: pl.DataFrame, model: TreeEnsemble | None = None, max_shift_m: float = 6.0) -> pl.DataFrame:
    """``height_m`` of the trees not measured on their own top shifted by the model's
    correction (at most ``max_shift_m`` m either way, never under 1 m); the shift is kept in
    ``height_correction_m`` (0 elsewhere). Trees outside the applicability domain
    (:func:`in_model_domain`, flagged in ``in_model_domain``) are left as read. Without a model
    file the heights are left as read."""
    model = model or load_model()
    corr = np.zeros(tw.height)
    domain = in_model_domain(tw)
    if model is not None and tw.height:
        todo = needs_correction(tw) & domain
        if todo.any():
            X = covered_features(tw)[todo]
            corr[todo] = np.clip(model.predict(X), -max_shift_m, max_shift_m)
    h = _num(tw, "height_m")
    newh = np.where(corr != 0, np.maximum(h + corr, 1.0), h)
    shift = np.where(np.isfinite(h), newh - h, 0.0)
    return tw.with_columns(pl.Series("height_m", newh), pl.Series("height_correction_m", shift),
                           pl.Series("in_model_domain", domain, pl.Boolean))
