"""A real S3-compatible server for the object-store tests: moto's server (HTTP, S3 API,
conditional writes) on a free port of 127.0.0.1, one bucket per test."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import service_available

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server in its own process (`python -m moto.server`), as a deployment would run
    a separate S3 service; stopped at the end of the session."""
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto S3 server did not start on 127.0.0.1:{port}: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_lake(s3_server):
    """(lake uri, delta-rs storage options) for a fresh bucket on the local S3 server."""
    import boto3

    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    opts = {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    return f"s3://{bucket}/lake", opts


@pytest.fixture
def pg_home(tmp_path):
    """DAGSTER_HOME with the Postgres instance profile on a fresh database of the local PostgreSQL,
    a workspace loading tests/scale/daemon_defs.py, and the environment for child processes."""
    service_available("127.0.0.1", 5432, "PostgreSQL")
    import psycopg2

    db = f"dagster_daemon_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db}")
    shutil.copy(ROOT / "orchestration" / "instance" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: tests.scale.daemon_defs\n"
        f"      working_directory: {ROOT}\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DAGSTER_PG_HOST": "127.0.0.1",
           "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db,
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    try:
        yield tmp_path, env, db
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.close()
