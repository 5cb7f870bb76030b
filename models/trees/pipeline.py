"""The tree chain's steps as plain functions (arrays and Polars frames in and out), called by the
thin Dagster assets in assets/trees.py and by bench/trees_eval.py."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pyarrow as pa

from models.lidar.tiles import TilePoints, TileRasters, normalise_tile, tile_rasters
from transforms.geo import assign_quartier, l93_to_wgs84, point_segment_distance

from . import allometry
from . import risk as traq
from .detect import SCENE_COLUMNS, TREE_COLUMNS, detect_trees
from .detect_config import DetectConfig
from .health import CLASSES, FEATURES
from .matching import match_points
from .surface import mosaic
from .twin import follow_trees, match_register

TILE_SIZE_M = 250.0
#: bump when the points, heights or rasters a tile gives change: tiles made by another version are redone
RASTER_VERSION = "rasters-2"


# ---------------------------------------------------------------- tiles

def process_tile(tp: TilePoints, r: dict, res: float = 0.5) -> tuple[dict, pa.Table, TileRasters]:
    """Ground, heights and rasters of one tile. ``r`` is its registry row (tile_id, epoch,
    checksum, source_file, core_x0, core_y0). Returns the summary row, the points as an Arrow table
    (coordinates local to the tile origin, float32) and the rasters."""
    h, ground, source = normalise_tile(tp)
    x0, y0 = float(r["core_x0"]), float(r["core_y0"])
    bounds = (x0, y0, x0 + TILE_SIZE_M, y0 + TILE_SIZE_M)
    rasters = tile_rasters(tp.x, tp.y, h, tp.return_number, tp.number_of_returns, bounds, res=res,
                           classification=tp.classification)
    n = len(tp)
    table = pa.table({
        "epoch": pa.array(np.full(n, r["epoch"], dtype=object), pa.string()),
        "tile_id": pa.array(np.full(n, r["tile_id"], dtype=object), pa.string()),
        "x_local": (tp.x - x0).astype(np.float32), "y_local": (tp.y - y0).astype(np.float32),
        "z": tp.z.astype(np.float32), "height": h.astype(np.float32),
        # Delta has no unsigned integers: LAS's uint8/uint16 fields widen to the next signed type
        "classification": tp.classification.astype(np.int16), "ground": ground,
        "return_number": tp.return_number.astype(np.int8), "number_of_returns": tp.number_of_returns.astype(np.int8),
        "intensity": tp.intensity.astype(np.int32)})
    canopy = np.isfinite(rasters.chm) & (rasters.chm > 2.0)
    row = {"tile_id": r["tile_id"], "epoch": r["epoch"], "checksum": r.get("checksum"), "source_file": r["source_file"],
           "origin_x": x0, "origin_y": y0, "points": n, "ground_points": int(ground.sum()), "ground_source": source,
           "min_height_m": float(np.quantile(h, 0.001)), "max_height_m": float(np.quantile(h, 0.999)),
           "canopy_cells_share": float(canopy.mean()), "raster_version": RASTER_VERSION}
    return row, table, rasters


def detect_all(products: pl.DataFrame, cfg: DetectConfig = DetectConfig()) -> pl.DataFrame:
    """Trees of every processed tile, epoch by epoch, each tile on a mosaic with its neighbours,
    in one process: :func:`detection_jobs` with one job per epoch, each run by
    :func:`detect_job`, then :func:`gather_detections`. ``assets/tile_pool.py`` runs the same
    jobs, cut smaller, over several processes, with the same result."""
    return gather_detections([f for j in detection_jobs(products) for f in detect_job({**j, "cfg": cfg})])


def _tile_origins(p: pl.DataFrame) -> dict[tuple[int, int], tuple[str, str]]:
    return {(round(a), round(b)): (t, path) for a, b, t, path in
            p.select("origin_x", "origin_y", "tile_id", "rasters_path").iter_rows()}


def detection_jobs(products: pl.DataFrame, min_tiles: int | None = None) -> list[dict]:
    """The tiles of ``products`` in the order the detections are reported (epoch, then west to
    east, then south to north), cut into jobs of whole columns of tiles holding at least
    ``min_tiles`` tiles (None: one job per epoch). A job names its tiles and every raster their
    detection reads: the neighbours in the same scan within one tile (the mosaic) and the same
    places in the previous and the next scan (``canopy_prev_m``, ``canopy_next_m``). A tile's
    trees depend on those rasters only, so any cut gives the same detections."""
    step = round(TILE_SIZE_M)
    epochs = sorted(products["epoch"].unique().to_list())
    by_epoch = {ep: _tile_origins(products.filter(pl.col("epoch") == ep)) for ep in epochs}
    jobs = []
    for k, ep in enumerate(epochs):
        where = by_epoch[ep]
        columns: dict[int, list] = {}
        for key in sorted(where):
            columns.setdefault(key[0], []).append(key)
        groups, cur = [], []
        for ox in sorted(columns):
            cur += columns[ox]
            if min_tiles is not None and len(cur) >= min_tiles:
                groups.append(cur)
                cur = []
        if cur:
            groups.append(cur)
        for keys in groups:
            lo, hi = keys[0][0] - step, keys[-1][0] + step

            def near(w, lo=lo, hi=hi):   # the rasters of the columns lo..hi of one scan
                return {key: path for key, (_t, path) in w.items() if lo <= key[0] <= hi}
            jobs.append({"epoch": ep, "tiles": [(ox, oy, where[(ox, oy)][0]) for ox, oy in keys],
                         "rasters": near(where),
                         "prev": near(by_epoch[epochs[k - 1]]) if k > 0 else None,
                         "next": near(by_epoch[epochs[k + 1]]) if k + 1 < len(epochs) else None})
    return jobs


def detect_job(job: dict) -> list[pl.DataFrame]:
    """The trees of one job of :func:`detection_jobs` (``job["cfg"]``: a :class:`DetectConfig`,
    the default when absent): one frame per tile, in the job's order, with the trees' canopy
    height in the other scans. Tiles are visited west to east and only the rasters within one tile
    of the current column stay loaded, so memory stays at about three columns of tiles per scan."""
    cfg = job.get("cfg") or DetectConfig()
    ep, where = job["epoch"], job["rasters"]
    scans = {"this": where, "prev": job["prev"], "next": job["next"]}
    step = round(TILE_SIZE_M)
    cache: dict = {}

    def get(key, scan="this"):   # another scan's tile: only its canopy height model is read
        if (scan, key) not in cache:
            cache[(scan, key)] = TileRasters.from_npz(scans[scan][key]) if scan == "this" else _chm_only(scans[scan][key])
        return cache[(scan, key)]

    frames = []
    for ox, oy, tile_id in job["tiles"]:
        for k in [k for k in cache if k[1][0] < ox - step]:
            del cache[k]
        nbs = [get((ox + dx, oy + dy)) for dx in (-step, 0, step) for dy in (-step, 0, step)
               if (dx or dy) and (ox + dx, oy + dy) in where]
        m = mosaic(get((ox, oy)), nbs, cfg.buffer)
        d = detect_trees(m, (ox, oy, ox + step, oy + step), cfg)
        n = len(d["x"])
        x, y = np.asarray(d["x"], float), np.asarray(d["y"], float)
        frames.append(pl.DataFrame({"epoch": [ep] * n, "tile_id": [tile_id] * n,
                                    "detection_id": [f"{ep}:{tile_id}:{i + 1}" for i in range(n)],
                                    **{c: d[c] for c in TREE_COLUMNS + SCENE_COLUMNS}},
                                   schema_overrides={"position_source": pl.Utf8, "height_reading": pl.Utf8,
                                                     "detection_path": pl.Utf8}, strict=False)
                      .with_columns(pl.Series("canopy_prev_m", _canopy_in(job["prev"], lambda k: get(k, "prev"), x, y)),
                                    pl.Series("canopy_next_m", _canopy_in(job["next"], lambda k: get(k, "next"), x, y))))
    return frames


def gather_detections(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The tiles' frames of :func:`detect_job`, in job order, as ``silver/tree_detections``."""
    if not frames:
        return pl.DataFrame(schema={"epoch": pl.Utf8, "tile_id": pl.Utf8, "detection_id": pl.Utf8})
    out = pl.concat(frames, how="diagonal_relaxed")
    cast = [c for c in TREE_COLUMNS + SCENE_COLUMNS
            if c not in ("position_source", "occluded", "height_reading", "detection_path")]
    return out.with_columns(pl.col(c).cast(pl.Float64) for c in cast).select(
        pl.exclude("canopy_prev_m", "canopy_next_m"), "canopy_prev_m", "canopy_next_m")


def canopy_at(r: TileRasters, x: np.ndarray, y: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Median canopy height (m) of the raster cells within ``radius`` m of each point (empty
    cells count as 0 m: a felled tree leaves ground, which may hold no return in a cell)."""
    res = r.res
    nr, nc = r.chm.shape
    k = int(np.ceil(radius / res))
    dr, dc = np.mgrid[-k:k + 1, -k:k + 1]
    disk = np.hypot(dr, dc) * res <= radius
    dr, dc = dr[disk], dc[disk]
    col = np.floor((x - r.xmin) / res).astype(np.int64)
    row = np.floor((r.ymax - y) / res).astype(np.int64)
    rr, cc = row[:, None] + dr[None, :], col[:, None] + dc[None, :]
    ok = (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
    v = np.where(ok, np.nan_to_num(r.chm[np.clip(rr, 0, nr - 1), np.clip(cc, 0, nc - 1)], nan=0.0), np.nan)
    with np.errstate(all="ignore"):
        return np.nanmedian(v, axis=1)


def _chm_only(path: str) -> TileRasters:
    """A tile's rasters with only the canopy height model loaded (what :func:`canopy_at` reads)."""
    z = np.load(path)
    xmin, ymax, res = (float(v) for v in z["meta"])
    empty = np.zeros(0)
    return TileRasters(xmin, ymax, res, z["chm"], *([empty] * 7))


def _canopy_in(other: dict | None, get, x: np.ndarray, y: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """The median canopy height (m) within ``radius`` m of each tree's position (:func:`canopy_at`)
    in another scan (``other``: tile origin -> rasters path, loaded by ``get(origin)``; None: no
    such scan), read on that scan's tile holding the position; NaN where that scan has no tile
    there. The 4D step reads them before calling a tree felled (the canopy is still there: the
    detector missed it) or new (it was already there)."""
    out = np.full(len(x), np.nan)
    if other is None or not len(x):
        return out
    step = round(TILE_SIZE_M)
    ox = (np.floor(x / step) * step).astype(np.int64)
    oy = (np.floor(y / step) * step).astype(np.int64)
    for a, b in sorted(set(zip(ox.tolist(), oy.tolist()))):
        if (a, b) in other:
            sel = np.flatnonzero((ox == a) & (oy == b))
            out[sel] = canopy_at(get((a, b)), x[sel], y[sel], radius)
    return out


# ---------------------------------------------------------------- 4D twin

def build_twin(det: pl.DataFrame, tiles: pl.DataFrame, register: pl.DataFrame, quartiers: pl.DataFrame,
               gate_m: float = 3.0, register_gate_m: float = 4.0) -> tuple[pl.DataFrame, dict]:
    """Trees followed across epochs, matched to the register, with species group, DBH (allometry
    fitted on the register), quartier and WGS84 position."""
    tw = follow_trees(det, tiles, gate_m)
    reg = match_register(tw, register, register_gate_m)
    tw = tw.join(reg, on="tree_id", how="left")
    # species group: the register's where matched, else from the crown form (latest measure)
    form = allometry.group_from_form(tw["height_m"].to_numpy(), tw["crown_base_m"].to_numpy(),
                                     tw["crown_star_ratio"].to_numpy(),
                                     tw["crown_layer_depth_m"].to_numpy())
    # the crown-form rule was fitted on the simulator's scenes: outside the applicability domain
    # (models.trees.height_model.in_model_domain) a tree's group is "unknown" unless the register says it
    from .height_model import in_model_domain

    if "in_model_domain" not in tw.columns:
        tw = tw.with_columns(pl.Series("in_model_domain", in_model_domain(tw), pl.Boolean))
    form = np.where(tw["in_model_domain"].fill_null(True).to_numpy(), form, allometry.UNKNOWN)
    rg = np.array([allometry.species_group(s) for s in tw["register_species"].to_list()], dtype=object)
    group = np.where(rg != None, rg, form)  # noqa: E711
    reg_groups = [allometry.species_group(s) for s in register["species"].to_list()] if register.height else []
    coef = allometry.fit_allometry(reg_groups, register["height_m"].to_numpy() if register.height else [],
                                   register["dbh_cm"].to_numpy() if register.height else [])
    dbh = allometry.dbh_cm(group, tw["height_m"].to_numpy(), coef)
    x, y = tw["x"].to_numpy(), tw["y"].to_numpy()
    lon, lat = l93_to_wgs84(x, y)
    tw = tw.with_columns(
        pl.Series("species_group", group, pl.Utf8), pl.col("register_species").alias("species"),
        pl.Series("dbh_cm", np.round(dbh, 1)), pl.Series("quartier", assign_quartier(x, y, quartiers), pl.Utf8),
        pl.col("x").alias("x_2154"), pl.col("y").alias("y_2154"), pl.Series("lon", np.asarray(lon, float)),
        pl.Series("lat", np.asarray(lat, float)),
        (pl.col("crown_base_m") / pl.col("height_m")).alias("crown_base_ratio"))
    felled = pl.col("status") == "felled"
    tw = tw.with_columns(pl.when(felled).then(None).otherwise(pl.col("dbh_cm")).alias("dbh_cm"))
    return tw.drop("x", "y", "register_species").sort("tree_id", "epoch"), coef


def vitality_labels(twin: pl.DataFrame, truth: pl.DataFrame, gate_m: float = 3.0) -> pl.DataFrame:
    """Measured trees with the simulator's vitality class (0-3) of the true tree they match."""
    truth = truth.filter(pl.col("status") != "felled").with_columns(
        pl.col("x_2154").cast(pl.Float64), pl.col("y_2154").cast(pl.Float64))
    rows = []
    for ep in sorted(twin["epoch"].unique().to_list()):
        a = twin.filter((pl.col("epoch") == ep) & (pl.col("status") != "felled"))
        b = truth.filter(pl.col("epoch") == ep)
        i, j, _ = match_points(b["x_2154"].to_numpy(), b["y_2154"].to_numpy(), a["x_2154"].to_numpy(),
                               a["y_2154"].to_numpy(), gate_m)
        lab = np.array([CLASSES.index(v) if v in CLASSES else -1 for v in b["vitality"].to_numpy()[i]])
        rows.append(a[j].with_columns(pl.Series("label", lab, pl.Int64)).filter(pl.col("label") >= 0))
    out = pl.concat(rows) if rows else pl.DataFrame()
    return out.select("tree_id", "epoch", "label", *[pl.col(f).cast(pl.Float64) for f in FEATURES])


# ---------------------------------------------------------------- risk

def _targets(x: np.ndarray, y: np.ndarray, reach: np.ndarray, segments: pl.DataFrame,
             places: pl.DataFrame) -> list[list[tuple[str, float]]]:
    out: list[list[tuple[str, float]]] = [[] for _ in range(len(x))]
    if segments.height:
        s = segments.select("x0", "y0", "x1", "y1", "road_class").to_numpy()
        sx0, sy0, sx1, sy1 = (s[:, k].astype(float) for k in range(4))
        for a in range(0, len(x), 2000):
            b = min(len(x), a + 2000)
            d, _ = point_segment_distance(x[a:b, None], y[a:b, None], sx0[None], sy0[None], sx1[None], sy1[None])
            for i, j in zip(*np.nonzero(d <= reach[a:b, None])):
                out[a + i].append((str(s[j, 4]), float(d[i, j])))
    pk = places.filter(pl.col("kind").is_in(["school", "playground", "bus_stop"]))
    if pk.height:
        from scipy.spatial import cKDTree

        tree = cKDTree(np.c_[pk["x_2154"].to_numpy(), pk["y_2154"].to_numpy()])
        kinds = pk["kind"].to_list()
        for i, js in enumerate(tree.query_ball_point(np.c_[x, y], reach)):
            for j in js:
                out[i].append((kinds[j], float(np.hypot(x[i] - tree.data[j, 0], y[i] - tree.data[j, 1]))))
    return out


def tree_risk(twin: pl.DataFrame, health: pl.DataFrame, segments: pl.DataFrame, places: pl.DataFrame,
              fall_zone: float = 1.5) -> pl.DataFrame:
    """TRAQ rating of every living tree at its latest measure (see :mod:`models.trees.risk`)."""
    latest = twin.sort("epoch").group_by("tree_id", maintain_order=True).last().filter(pl.col("status") != "felled")
    latest = latest.join(health.select("tree_id", "epoch", "vitality"), on=["tree_id", "epoch"], how="left")
    x, y = latest["x_2154"].to_numpy(), latest["y_2154"].to_numpy()
    H = latest["height_m"].to_numpy()
    targets = _targets(x, y, fall_zone * H, segments, places)
    rows = []
    for k, r in enumerate(latest.iter_rows(named=True)):
        slender = r["height_m"] / (r["dbh_cm"] / 100) if r["dbh_cm"] else None
        f, fwhy = traq.failure_likelihood(r["vitality"], r["lean_deg"], r["new_lean_deg"], r["crown_loss_pct"], slender)
        i, iwhy = traq.impact_likelihood(targets[k])
        c = traq.consequence(r["height_m"], r["dbh_cm"] or 0.0)
        comb, rating = traq.rate(f, i, c)
        why = fwhy + iwhy + [f"consequence {c} (height {r['height_m']:.1f} m, DBH {r['dbh_cm'] or 0:.0f} cm)"]
        rows.append({"tree_id": r["tree_id"], "epoch": r["epoch"], "quartier": r["quartier"], "x_2154": r["x_2154"],
                     "y_2154": r["y_2154"], "height_m": r["height_m"], "dbh_cm": r["dbh_cm"],
                     "crown_diameter_m": r["crown_diameter_m"], "vitality": r["vitality"],
                     "failure_likelihood": f, "impact_likelihood": i, "consequence": c, "combined_likelihood": comb,
                     "vitality_known": r["vitality"] is not None,
                     "risk_rating": rating, "risk_score": traq.risk_score(rating, f, i, c),
                     "targets": "; ".join(sorted({f"{t[0]} {t[1]:.0f} m" for t in targets[k]})[:6]),
                     "risk_reasons": "; ".join(why)})
    schema = {"tree_id": pl.Utf8, "epoch": pl.Utf8, "quartier": pl.Utf8, "x_2154": pl.Float64, "y_2154": pl.Float64,
              "height_m": pl.Float64, "dbh_cm": pl.Float64, "crown_diameter_m": pl.Float64, "vitality": pl.Utf8,
              "vitality_known": pl.Boolean, "failure_likelihood": pl.Utf8, "impact_likelihood": pl.Utf8, "consequence": pl.Utf8,
              "combined_likelihood": pl.Utf8, "risk_rating": pl.Utf8, "risk_score": pl.Float64, "targets": pl.Utf8,
              "risk_reasons": pl.Utf8}
    return pl.DataFrame(rows, schema=schema).sort("tree_id")


# ---------------------------------------------------------------- inspections

PLAN_SCHEMA = {"plan_status": pl.Utf8, "team": pl.Int64, "stop": pl.Int64, "planned_start_min": pl.Float64,
               "tree_id": pl.Utf8, "risk_rating": pl.Utf8, "risk_score": pl.Float64, "inspection_priority": pl.Float64,
               "inspection_reason": pl.Utf8, "quartier": pl.Utf8, "x_2154": pl.Float64, "y_2154": pl.Float64,
               "lat": pl.Float64, "lon": pl.Float64, "risk_reasons": pl.Utf8,
               # the arborist's form (transforms.inspections.FORM_COLUMNS), empty: filled in on site, the
               # exported plan comes back as a delivery of landing/trees/inspections
               "inspection_date": pl.Date, "vitality": pl.Utf8, "defects": pl.Utf8, "likelihood_of_failure": pl.Utf8,
               "height_m": pl.Float64, "dbh_cm": pl.Float64, "inspector": pl.Utf8}
_CARRIED = ("tree_id", "risk_rating", "risk_score", "inspection_priority", "inspection_reason", "quartier",
            "x_2154", "y_2154", "risk_reasons")


def inspection_candidates(risk: pl.DataFrame, n: int) -> pl.DataFrame:
    """The ``n`` trees most worth a visit: by inspection priority = TRAQ risk score, plus
    :data:`models.trees.risk.UNKNOWN_VITALITY_PRIORITY` when the tree's vitality is unknown (ranked as
    if declining until an arborist has rated it), with the reason in words."""
    known = pl.col("vitality_known") if "vitality_known" in risk.columns else pl.col("vitality").is_not_null()
    # a resident's report (transforms.citizens.mark_reported_trees) adds its priority and names itself
    bonus = pl.col("report_priority").fill_null(0.0) if "report_priority" in risk.columns else pl.lit(0.0)
    report = pl.col("report_reason") if "report_reason" in risk.columns else pl.lit(None, pl.Utf8)
    return risk.with_columns(
        (pl.col("risk_score") + pl.when(known).then(0.0).otherwise(traq.UNKNOWN_VITALITY_PRIORITY) + bonus)
        .alias("inspection_priority"),
        pl.concat_str([report, pl.when(known).then(pl.format("TRAQ {} risk", pl.col("risk_rating")))
                       .otherwise(pl.format("vitality unknown: rate it (TRAQ {} risk without vitality)",
                                            pl.col("risk_rating")))], separator="; ", ignore_nulls=True)
        .alias("inspection_reason"),
    ).sort(["inspection_priority", "height_m", "tree_id"], descending=[True, True, False]).head(n)


def inspection_plan(risk: pl.DataFrame, places: pl.DataFrame, cfg, planner) -> tuple[pl.DataFrame, dict]:
    """Candidates = the ``cfg.max_candidates`` trees of highest inspection priority (see
    :func:`inspection_candidates`: Extreme, High, then Moderate, unknown vitality ranked as if
    declining, then the Low trees with the most risk factors: a quiet city still gets its routine
    rounds); ``planner`` is :func:`models.trees.inspection.plan_inspections`, whose drop penalty is
    the priority. The plan holds the arborist's form columns, empty."""
    cand = inspection_candidates(risk, cfg.max_candidates)
    depot = places.filter(pl.col("kind") == "depot")
    if depot.height:
        dxy = (float(depot["x_2154"][0]), float(depot["y_2154"][0]))
    elif cand.height:
        dxy = (float(cand["x_2154"].mean()), float(cand["y_2154"].mean()))
    else:
        dxy = (0.0, 0.0)
    t = time.perf_counter()
    res = planner(dxy, cand["x_2154"].to_numpy(), cand["y_2154"].to_numpy(), cand["inspection_priority"].to_numpy(), cfg)
    rows = []
    for r in res["routes"]:
        for k, (i, start) in enumerate(r["stops"], 1):
            c = cand.row(i, named=True)
            rows.append({"plan_status": "planned", "team": r["team"], "stop": k, "planned_start_min": round(start / 60, 1),
                         **{f: c[f] for f in _CARRIED}})
    for i in res["dropped"]:
        c = cand.row(i, named=True)
        rows.append({"plan_status": "deferred", "team": None, "stop": None, "planned_start_min": None,
                     **{f: c[f] for f in _CARRIED}})
    plan = pl.DataFrame(rows, schema={k: PLAN_SCHEMA[k] for k in ("plan_status", "team", "stop", "planned_start_min",
                                                                  *_CARRIED)})
    lon, lat = l93_to_wgs84(plan["x_2154"].to_numpy(), plan["y_2154"].to_numpy())
    plan = plan.with_columns(pl.Series("lat", np.round(np.asarray(lat, float), 7)),
                             pl.Series("lon", np.round(np.asarray(lon, float), 7)),
                             *[pl.lit(None, t).alias(c) for c, t in PLAN_SCHEMA.items() if c in
                               ("inspection_date", "vitality", "defects", "likelihood_of_failure", "height_m",
                                "dbh_cm", "inspector")]).select(list(PLAN_SCHEMA)).cast(PLAN_SCHEMA)
    planned = plan.filter(pl.col("plan_status") == "planned")
    total = float(cand["inspection_priority"].sum()) if cand.height else 0.0
    info = {"candidates": cand.height, "planned": planned.height, "deferred": len(res["dropped"]),
            "unknown_vitality_candidates": int((~cand["vitality_known"]).sum()) if "vitality_known" in cand.columns else 0,
            "teams_used": len(res["routes"]), "solver_status": res["status"],
            "priority_covered_pct": round(100 * float(planned["inspection_priority"].sum()) / total, 1) if total else 0.0,
            "depot_x": dxy[0], "depot_y": dxy[1], "solve_seconds": round(time.perf_counter() - t, 2)}
    return plan, info


def route_lines(plan: pl.DataFrame, places: pl.DataFrame) -> list[np.ndarray]:
    """Polyline (depot -> stops -> depot) per team, for the map."""
    depot = places.filter(pl.col("kind") == "depot")
    if not depot.height:
        return []
    d = np.array([[float(depot["x_2154"][0]), float(depot["y_2154"][0])]])
    out = []
    planned = plan.filter(pl.col("plan_status") == "planned")
    for team in sorted(planned["team"].unique().to_list()):
        s = planned.filter(pl.col("team") == team).sort("stop")
        out.append(np.vstack([d, s.select("x_2154", "y_2154").to_numpy(), d]))
    return out
