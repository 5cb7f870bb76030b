import contextlib
import io
import os
import socket
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """Settings pointing at a fresh temporary lake, landing zone, serving file and DAGSTER_HOME."""
    from orchestration.settings import Settings

    env = {"LAKE_URI": str(tmp_path / "lake"), "LANDING_URI": str(tmp_path / "landing"),
           "SERVING_PATH": str(tmp_path / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "CITY_PROFILE": "tiny", "SEED": "7"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "landing").mkdir()
    return Settings.from_env(env)


def service_available(host: str, port: int, name: str) -> None:
    """Skip when a local server is absent, except under CI=true where it must be there."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not reachable on {host}:{port} and CI=true requires it")
        pytest.skip(f"{name} not reachable on {host}:{port}")


@contextlib.contextmanager
def tiny_city_env(base: Path, seed: str = "11"):
    """The settings' environment of a tiny simulated city under `base` (lake, landing zone, serving
    file, Dagster instance), set for the block and restored after it."""
    env = {"LAKE_URI": str(base / "lake"), "LANDING_URI": str(base / "landing"),
           "SERVING_PATH": str(base / "serving" / "cannes.duckdb"), "DAGSTER_HOME": str(base / "dagster"),
           "CITY_PROFILE": "tiny", "SEED": seed,
           # the road repair plan's date, fixed for the block: two runs either side of midnight
           # date the crews (and gold/works_coordination) alike
           "ROADS_PLAN_DATE": datetime.now(timezone.utc).date().isoformat()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def tiny_city_run(tmp_path_factory):
    """`make run` twice on the tiny city (seed 11, planted bad inputs), built once per session:
    tests/test_pipeline.py reads both summaries and the lake, tests/orchestration/test_ui_metadata.py
    serves its Dagster instance. Read-only for its users. The environment is set for the two runs
    only (DAGSTER_HOME et al.) and restored at once, so no later test sees it."""
    from rich.console import Console

    from orchestration.runner import run_all
    from orchestration.settings import Settings

    with tiny_city_env(tmp_path_factory.mktemp("tiny-city-run")) as env:
        settings = Settings.from_env(env)
        quiet = Console(file=io.StringIO())
        first = run_all(settings, console=quiet)
        second = run_all(settings, console=quiet)
    return {"settings": settings, "env": env, "first": first, "second": second}


# ---- parallel runs: `make test` runs pytest-xdist, -n 2 --dist loadscope --no-loadscope-reorder
# (docs/TESTING.md). A work unit is one test module, so its module fixtures are built once; the
# modules that share a session fixture are one unit (else each worker would build it); the units
# measured slowest are handed out first, so that the run does not end on one worker still busy
# with a long unit while the other is idle. Without xdist nothing here changes the run.
# (xdist's own `--dist loadgroup` marks do not work with pytest 9.2: it renames items through an
# attribute pytest no longer reads; hence a scheduler of our own.)
SHARED_FIXTURE_UNITS = {
    "tests/test_pipeline.py": "tiny_city_run",
    "tests/orchestration/test_ui_metadata.py": "tiny_city_run",
    "tests/assets/test_admin_letters.py": "admin_city",
    "tests/assets/test_admin_pipeline.py": "admin_city",
    "tests/citizens/test_assets.py": "citizens_tiny_city",
    "tests/citizens/test_nats.py": "citizens_tiny_city",
    "tests/citizens/test_plan_flow.py": "citizens_tiny_city",
    "tests/citizens/test_routing.py": "citizens_tiny_city",
}
SLOWEST_FIRST = [   # CPU seconds measured in one xdist run (docs/TESTING.md)
    "tiny_city_run",                            # ~355 s: `make run` twice
    "tests/test_no_ground_truth.py",            # ~275 s: `lakehouse run --no-simulate`
    "tests/models/test_roads_real_damage.py",   # ~85 s
    "tests/assets/test_roads_chain.py",         # ~60 s
    "admin_city",                               # ~45 s
    "tests/assets/test_trees_chain.py",         # ~35 s
    "tests/quality/test_every_suite.py",        # ~35 s
]


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SHARED_FIXTURE_UNITS.get(path, path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):      # not an xdist worker: collection order unchanged
        return
    rank = {unit: i for i, unit in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))   # stable: a unit keeps its order


class WorkUnits:
    """xdist's scheduler by scope, with our units as scopes (the controller's side)."""

    def pytest_xdist_make_scheduler(self, config, log):
        from xdist.scheduler import LoadScopeScheduling

        class ByWorkUnit(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return work_unit(nodeid)

        return ByWorkUnit(config, log)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(WorkUnits(), "lakehouse-work-units")
