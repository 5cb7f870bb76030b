"""What the Dagster UI shows after `make run`, asked of its GraphQL API as the UI does.

The tiny city is materialised with the runner (tests/conftest.py tiny_city_run, shared with
tests/test_pipeline.py), then the webserver (`dagster-webserver`, what `dagster dev` serves) is
started on a free port against that instance and `/graphql` is queried for the latest
materialisation of every ml/* asset (version, metrics, model card path), of a gold table (column
descriptions) and of lake/quarantine (recorded by the run)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

QUERY = """
query Latest($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          __typename
          ... on TextMetadataEntry { text }
          ... on JsonMetadataEntry { jsonString }
          ... on FloatMetadataEntry { floatValue }
          ... on IntMetadataEntry { intValue }
          ... on PathMetadataEntry { path }
          ... on BoolMetadataEntry { boolValue }
          ... on TableSchemaMetadataEntry { schema { columns { name description } } }
        }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(tiny_city_run):
    """The webserver on the instance of the tiny city run by `make run`'s runner (the session
    fixture of tests/conftest.py, shared with tests/test_pipeline.py; read-only here)."""
    import httpx

    env = tiny_city_run["env"]
    mp = pytest.MonkeyPatch()
    for k, v in env.items():       # as `make run` left them, while this module runs
        mp.setenv(k, v)
    port = _free_port()
    web = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen([str(web), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("the Dagster webserver did not start")
            time.sleep(0.2)

        def latest(path: list[str]) -> dict[str, dict]:
            r = httpx.post(url, json={"query": QUERY, "variables": {"path": path}}, timeout=60)
            r.raise_for_status()
            node = r.json()["data"]["assetOrError"]
            assert node["__typename"] == "Asset", (path, node)
            mats = node["assetMaterializations"]
            assert mats, f"{'/'.join(path)} never materialised"
            return {e["label"]: e for e in mats[0]["metadataEntries"]}

        yield tiny_city_run["first"], latest
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        mp.undo()


@pytest.mark.parametrize("model", ["roads_damage_model", "tree_vitality_model", "bin_fill_forecaster"])
def test_every_model_materialisation_shows_version_metrics_and_card(ui, model):
    _, latest = ui
    meta = latest(["ml", model])
    assert meta["version"]["text"] and meta["version"]["text"] != "none"
    assert meta["metrics"]["jsonString"] not in ("{}", "null")
    assert any(k.startswith("metric/") for k in meta), sorted(meta)
    card = meta["model_card_path"].get("path")
    assert card and Path(card).exists() and Path(card).read_text().strip()
    assert "trained_now" in meta


def test_published_tables_have_column_descriptions_and_quarantine_is_recorded(ui):
    from orchestration.definitions import published

    GOLD_TABLES = published()

    _, latest = ui
    missing = {}
    for table in GOLD_TABLES:
        cols = latest(["gold", table])["dagster/column_schema"]["schema"]["columns"]
        assert cols, table
        missing.update({f"{table}.{c['name']}": 1 for c in cols if not c["description"]})
    assert not missing, sorted(missing)
    q = latest(["lake", "quarantine"])
    assert q["dagster/row_count"]["intValue"] > 0      # the tiny city plants bad inputs
    assert all(c["description"] for c in q["dagster/column_schema"]["schema"]["columns"])
