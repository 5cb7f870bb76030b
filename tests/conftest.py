import os
import socket
import sys
import warnings
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
