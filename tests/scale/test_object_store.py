"""The lake on an object store (a real S3 server on 127.0.0.1, see conftest.py): files through the
storage layer, Delta tables with concurrent writers, DuckDB and `lakehouse delta-sql` on s3."""

import json
import multiprocessing as mp

import polars as pl
import pytest

from assets import ml
from assets.lake import Lake
from assets.storage import LakeFiles, object_store_config


def test_storage_options_translate_to_object_store_config():
    cfg, client = object_store_config({"AWS_ENDPOINT_URL": "http://h:1", "AWS_ALLOW_HTTP": "true",
                                       "AWS_S3_ALLOW_UNSAFE_RENAME": "true", "aws_region": "eu-west-3"})
    assert cfg == {"aws_endpoint": "http://h:1", "aws_region": "eu-west-3"}
    assert client == {"allow_http": True}


def test_files_round_trip_on_s3(s3_lake, tmp_path):
    root, opts = s3_lake
    f = LakeFiles(root, opts, cache_dir=tmp_path / "cache")
    uri = f.put_bytes("gold/_maps/m.png", b"\x89PNG-bytes")
    assert uri == f"{root}/gold/_maps/m.png"
    assert f.exists("gold/_maps/m.png") and not f.exists("gold/_maps/other.png")
    assert f.get_bytes("gold/_maps/m.png") == b"\x89PNG-bytes"
    assert f.fetch(uri).read_bytes() == b"\x89PNG-bytes"       # a uri from a table, opened by path
    with pytest.raises(FileNotFoundError, match="other.png"):
        f.get_bytes("gold/_maps/other.png")
    # a folder written locally reaches the store; a second machine (another cache) reads it back
    d = f.pull_dir("exports/trees")
    (d / "a.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (d / "sub").mkdir()
    (d / "sub" / "b.parquet").write_bytes(b"PAR1")
    assert f.push_dir("exports/trees") == ["exports/trees/a.geojson", "exports/trees/sub/b.parquet"]
    assert f.push_dir("exports/trees") == []                     # unchanged files are not re-sent
    import time

    time.sleep(1.1)
    new = '{"type": "FeatureCollection", "features": {}}'
    assert len(new) == (d / "a.geojson").stat().st_size
    (d / "a.geojson").write_text(new)                              # same size, new bytes
    assert f.push_dir("exports/trees") == ["exports/trees/a.geojson"]
    other = LakeFiles(root, opts, cache_dir=tmp_path / "cache2")
    assert other.list("exports") == ["exports/trees/a.geojson", "exports/trees/sub/b.parquet"]
    got = other.pull_dir("exports/trees")
    assert json.loads((got / "a.geojson").read_text())["type"] == "FeatureCollection"
    assert (got / "sub" / "b.parquet").read_bytes() == b"PAR1"


def test_model_artifacts_on_s3(s3_lake):
    root, opts = s3_lake
    lake = Lake(root, opts)
    folder = ml.artifact_dir(lake, "m", "v1")
    (folder / "model.pt").write_bytes(b"weights")
    (folder / "model_card.md").write_text("# m v1")
    row = ml.register(lake, "m", "v1", metrics={"mae": 0.5}, training_rows=3)
    assert row["artifact_path"] == f"{root}/ml/artifacts/m/v1"
    assert lake.files.list("ml/artifacts/m/v1") == ["ml/artifacts/m/v1/model.pt", "ml/artifacts/m/v1/model_card.md"]
    assert ml.promoted(lake, "m")["version"] == "v1"
    # a fresh process (empty cache) finds the weights through the registry row
    import shutil

    shutil.rmtree(lake.files.cache)
    assert (ml.artifact_dir(Lake(root, opts), "m", "v1") / "model.pt").read_bytes() == b"weights"


def _writer(root: str, opts: dict, who: int, n: int, q) -> None:
    """One process committing `n` times to the same table: appends and merges."""
    try:
        lake = Lake(root, opts)
        for i in range(n):
            df = pl.DataFrame({"k": [f"{who}-{i}"], "writer": [who], "i": [i]})
            if i % 2:
                lake.merge("silver", "shared", df, ["k"])
            else:
                lake.replace_where("silver", "shared", df, "k", f"{who}-{i}")
        q.put((who, "ok"))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        q.put((who, f"{type(exc).__name__}: {exc}"))


def test_two_concurrent_writers_never_corrupt_a_table(s3_lake):
    """Two processes commit to one Delta table on S3 at once. delta-rs writes each commit file
    with a conditional PUT (If-None-Match): the loser of a race gets a conflict and retries
    (Lake._retry) or delta-rs rebases it; every commit lands, each version is readable."""
    root, opts = s3_lake
    lake = Lake(root, opts)
    lake.overwrite("silver", "shared", pl.DataFrame({"k": ["seed"], "writer": [0], "i": [0]}))
    n = 6
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(root, opts, w, n, q)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = dict(q.get(timeout=5) for _ in procs)
    assert results == {1: "ok", 2: "ok"}, results
    df = lake.read("silver", "shared")
    assert sorted(df["k"].to_list()) == sorted(["seed"] + [f"{w}-{i}" for w in (1, 2) for i in range(n)])
    dt = lake.table("silver", "shared")
    assert dt.version() == 2 * n                     # version 0 + one commit per write, none lost
    from deltalake import DeltaTable

    counts = [DeltaTable(lake.uri("silver", "shared"), version=v, storage_options=opts).to_pyarrow_table().num_rows
              for v in range(dt.version() + 1)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 2 * n + 1
    ops = [h["operation"] for h in dt.history()]
    assert ops.count("MERGE") == n and len(ops) == 2 * n + 1


def test_server_refuses_a_second_conditional_put(s3_lake):
    """What makes the test above meaningful: the server enforces If-None-Match like AWS S3."""
    import obstore

    root, opts = s3_lake
    f = LakeFiles(root, opts)
    obstore.put(f.store, "_delta_log_probe/00000.json", b"{}", mode="create")
    with pytest.raises(Exception, match="(?i)already|exist|precondition"):
        obstore.put(f.store, "_delta_log_probe/00000.json", b"{}", mode="create")


def test_delta_sql_reads_the_lake_on_s3(s3_lake, monkeypatch, capsys):
    root, opts = s3_lake
    lake = Lake(root, opts)
    lake.overwrite("gold", "collection_routes", pl.DataFrame({"route_id": ["r1", "r2"], "km": [3.5, 4.0]}))
    lake.quarantine([{"source": "bins", "delivery": "d1", "item": "x.csv", "row_number": 3, "reason": "bad"}])
    lake.files.put_bytes("gold/_maps/collection_routes.png", b"png")   # a folder without a _delta_log
    from assets.serving import delta_connection

    con = delta_connection(root, storage_options=opts)
    assert con.sql("SELECT sum(km) FROM gold_collection_routes").fetchone()[0] == pytest.approx(7.5)
    assert con.sql("SELECT reason FROM quarantine").fetchall() == [("bad",)]
    names = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    assert names == {"gold_collection_routes", "quarantine"}
    from orchestration import cli

    monkeypatch.setenv("LAKE_URI", root)
    monkeypatch.setenv("LAKE_STORAGE_OPTIONS", json.dumps(opts))
    assert cli.main(["delta-sql", "SELECT count(*) AS n FROM gold_collection_routes"]) == 0
    assert "2" in capsys.readouterr().out.split("n")[-1]


def test_a_rewritten_file_of_the_same_size_is_fetched_again(s3_lake, tmp_path):
    root, opts = s3_lake
    writer, reader = LakeFiles(root, opts, cache_dir=tmp_path / "w"), LakeFiles(root, opts, cache_dir=tmp_path / "r")
    writer.put_bytes("silver/lidar_rasters/2025/t.npz", b"AAAA")
    assert reader.fetch("silver/lidar_rasters/2025/t.npz").read_bytes() == b"AAAA"
    import time

    time.sleep(1.1)   # S3 dates have one-second resolution
    writer.put_bytes("silver/lidar_rasters/2025/t.npz", b"BBBB")
    assert reader.fetch("silver/lidar_rasters/2025/t.npz").read_bytes() == b"BBBB"


def test_a_stale_writer_fails_cleanly_and_its_retry_lands(s3_lake):
    """The deterministic form of the race: a writer whose snapshot is older than the table's last
    commit touches the same rows; its commit is refused (CommitFailedError), nothing of it is
    visible, and the retry on a fresh snapshot (what Lake._retry does) lands as the next version."""
    from deltalake.exceptions import CommitFailedError

    root, opts = s3_lake
    lake = Lake(root, opts)
    lake.overwrite("silver", "bins", pl.DataFrame({"bin_id": ["a", "b"], "fill": [0.1, 0.2]}))
    stale = lake.table("silver", "bins")                                   # version 0
    lake.merge("silver", "bins", pl.DataFrame({"bin_id": ["a"], "fill": [0.5]}), ["bin_id"])   # version 1
    with pytest.raises(CommitFailedError, match="(?i)concurrent"):
        stale.update(updates={"fill": "0.9"}, predicate="bin_id = 'a'")
    assert lake.table("silver", "bins").version() == 1
    assert dict(lake.read("silver", "bins").iter_rows()) == {"a": 0.5, "b": 0.2}
    lake._retry(lambda: lake.table("silver", "bins").update(updates={"fill": "0.9"}, predicate="bin_id = 'a'"))
    assert lake.table("silver", "bins").version() == 2
    assert dict(lake.read("silver", "bins").iter_rows()) == {"a": 0.9, "b": 0.2}
