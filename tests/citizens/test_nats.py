"""Residents' reports over NATS JetStream: each version ingested exactly once across a subscriber
killed mid-stream and restarted; bad messages quarantined; the NATS rows route like the files."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ROOT, service_available

pytestmark = pytest.mark.services
N = 3000


def _request(i: int, run: str) -> dict:
    return {"service_request_id": f"{run}-{i:05d}", "service_code": ["pothole", "litter", "tree_danger"][i % 3],
            "description": f"Signalement {i}, rappeler Mme Claire Dupont au 06 12 34 56 78",
            "lat": 43.55 + (i % 50) * 1e-4, "long": 7.0 + (i % 40) * 1e-4, "status": "open",
            "requested_datetime": "2026-10-20T08:00:00Z", "updated_datetime": "2026-10-20T08:00:00Z"}


def _subscriber(lake: Path, subject: str, durable: str, stream: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LAKE_URI": str(lake), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", "ingest-nats", "--subject", subject,
                             "--durable", durable, "--stream", stream, "--batch", "200", "--ack-wait", "4",
                             "--idle-exit", "12", "--max-seconds", "200"], cwd=ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def _wait_for(pred, timeout: float) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.2)
    return False


def _delete_stream(stream: str) -> None:
    import asyncio

    import nats

    async def go():
        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()
    try:
        asyncio.run(go())
    except Exception:   # noqa: BLE001 - cleanup only
        pass


def test_nats_exactly_once_across_restart(tmp_path):
    service_available("127.0.0.1", 4222, "NATS")
    from assets.lake import QUARANTINE_SCHEMA, Lake
    from orchestration.nats import publish

    run = uuid.uuid4().hex[:10]
    prefix, stream, durable = f"citizens-test.{run}", f"CITIZENS_TEST_{run}", f"lakehouse-test-{run}"
    subject = f"{prefix}.>"
    lake_dir = tmp_path / "lake"
    lake = Lake(str(lake_dir))
    log1, log2 = tmp_path / "sub1.log", tmp_path / "sub2.log"
    reqs = [_request(i, run) for i in range(N)]
    try:
        publish(reqs[:200], prefix=prefix, stream=stream)          # the stream exists before the subscriber
        sub = _subscriber(lake_dir, subject, durable, stream, log1)
        assert _wait_for(lambda: log1.exists() and "durable consumer" in log1.read_text(), 60), log1.read_text()
        for k in range(200, N // 2, 100):
            publish(reqs[k:k + 100], prefix=prefix, stream=stream)
        # kill hard once part of the stream is committed: what it fetched but did not acknowledge
        # comes back to its successor after ack_wait; what is published meanwhile waits in the stream
        assert _wait_for(lambda: lake.exists("bronze", "citizen_requests")
                         and lake.count("bronze", "citizen_requests") >= 400, 90), log1.read_text()
        sub.send_signal(signal.SIGKILL)
        sub.wait(10)
        killed_at = lake.count("bronze", "citizen_requests")
        publish(reqs[N // 2:], prefix=prefix, stream=stream)
        publish(reqs[:300], prefix=prefix, stream=stream)          # re-published: the stream drops them (Msg-Id)
        publish([b"{not json", json.dumps({**_request(0, run), "service_request_id": "bad-1", "lat": 48.85}).encode(),
                 json.dumps({**_request(1, run), "service_request_id": "bad-2", "service_code": "noise"}).encode()],
                prefix=prefix, stream=stream)
        sub2 = _subscriber(lake_dir, subject, durable, stream, log2)
        try:
            assert _wait_for(lambda: lake.count("bronze", "citizen_requests") >= N, 150), log2.read_text()[-2000:]
            sub2.wait(60)
        finally:
            if sub2.poll() is None:
                sub2.kill()
    finally:
        _delete_stream(stream)
    df = lake.read("bronze", "citizen_requests")
    assert 0 < killed_at < N
    assert df.height == N, f"{df.height} rows for {N} requests"
    assert df["service_request_id"].n_unique() == N
    assert set(df["service_request_id"].to_list()) == {r["service_request_id"] for r in reqs}
    assert df["_delivery"].str.starts_with("nats/").all() and df["_run_id"].n_unique() == 2
    assert not df["description"].str.contains("06 12 34 56 78").any()
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    reasons = " | ".join(q["reason"].to_list())
    assert q.height == 3, reasons
    assert "invalid JSON" in reasons and "outside the agglomeration" in reasons and "service_code 'noise'" in reasons
    assert not q["raw"].str.contains("06 12 34 56 78").any()      # the quarantine copy is redacted too


def test_planted_reports_from_nats_reach_their_plans(tiny_city, tmp_path):
    """The simulator's reports published on NATS and ingested live give the same routing as the files."""
    service_available("127.0.0.1", 4222, "NATS")
    from assets.lake import Lake
    from orchestration.nats import NatsIngestor, publish
    from tests.citizens.conftest import build_reference
    from transforms import citizens as T

    run = uuid.uuid4().hex[:10]
    prefix, stream = f"citizens-plan.{run}", f"CITIZENS_PLAN_{run}"
    lake = Lake(str(tmp_path / "lake"))
    build_reference(lake, tiny_city["landing"], tiny_city["city"])
    try:
        n = publish(tiny_city["versions"], prefix=prefix, stream=stream)
        st = NatsIngestor(lake, subject=f"{prefix}.>", durable=f"plan-{run}", stream=stream, batch=50).run(
            max_seconds=60, idle_exit_s=2, max_messages=n)
    finally:
        _delete_stream(stream)
    assert st.inserted == n == len(tiny_city["versions"]) and st.quarantined == 0
    routing = T.route(T.requests(lake.read("bronze", "citizen_requests")), lake.read("silver", "street_segments"),
                      lake.read("silver", "collection_points"), lake.read("silver", "tree_risk"))
    truth = tiny_city["truth_rows"]
    for code, (service, kind) in T.ROUTES.items():
        ids = truth.filter((pl.col("service_code") == code) & (pl.col("item_aimed_at") != ""))
        r = routing.join(ids.select("service_request_id"), on="service_request_id")
        assert r.height == ids.height > 0 and r["matched"].all() and (r["service"] == service).all()
        open_items = T.open_reports(routing, kind)
        for rid, item in r.filter(pl.col("status") == "open").select("service_request_id", "item_id").iter_rows():
            reason = open_items.filter(pl.col("item_id") == item)["report_reason"][0]
            assert f"resident report" in reason and rid in reason
