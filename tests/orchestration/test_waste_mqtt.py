"""Live bin sensors over MQTT: 10,000 readings published, the subscriber killed midway and
restarted, each reading found exactly once in bronze; malformed messages quarantined."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, service_available

N = 10_000


def _reading(i: int, run: str) -> dict:
    return {"message_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{i}")),
            "id": f"urn:ngsi-ld:WasteContainer:BIN-{i % 300:05d}", "type": "WasteContainer",
            "dateObserved": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "fillingLevel": round((i % 97) / 100, 3), "binCapacity": 660, "storedWasteKind": "ordures_menageres",
            "status": "ok", "temperature": 15.5, "cargoWeight": 12.0}


def _subscriber(lake: Path, topic: str, client_id: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LAKE_URI": str(lake), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", "ingest-mqtt", "--topic", topic,
                             "--client-id", client_id, "--batch", "500", "--flush-s", "0.5", "--idle-exit", "6",
                             "--max-seconds", "150"], cwd=ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def _wait_for(pred, timeout: float) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_mqtt_exactly_once_across_restart(tmp_path):
    service_available("127.0.0.1", 1883, "Mosquitto")
    import paho.mqtt.client as mqtt

    from assets.lake import QUARANTINE_SCHEMA, Lake

    run = uuid.uuid4().hex[:10]
    topic_root = f"cannes-test/{run}/bins"
    topic = f"{topic_root}/+/fill"
    client_id = f"lakehouse-test-{run}"
    lake_dir = tmp_path / "lake"
    lake = Lake(str(lake_dir))
    log1, log2 = tmp_path / "sub1.log", tmp_path / "sub2.log"

    sub = _subscriber(lake_dir, topic, client_id, log1)
    assert _wait_for(lambda: "connected to" in log1.read_text(), 30), log1.read_text()
    time.sleep(0.5)  # SUBACK

    pub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{run}",
                      protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(500)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    ids, infos = [], []
    for i in range(N):
        r = _reading(i, run)
        ids.append(r["message_id"])
        infos.append(pub.publish(f"{topic_root}/{r['id'].rsplit(':', 1)[-1]}/fill", json.dumps(r), qos=1))
        if i % 25 == 24:
            time.sleep(0.1)   # ~250 readings/s: a city's sensors, and within the broker's queue while down
        if i == N // 2:
            # kill the subscriber hard once part of the stream is committed: what it received but
            # did not commit is unacknowledged and comes back to its successor; what is published
            # while no subscriber runs is queued by the broker for the persistent session
            assert _wait_for(lambda: lake.count("bronze", "bin_readings") >= 1000, 60), log1.read_text()
            sub.send_signal(signal.SIGKILL)
            sub.wait(10)
            killed_at = lake.count("bronze", "bin_readings")
            sub2 = _subscriber(lake_dir, topic, client_id, log2)
    bad = [b"{not json", json.dumps({"message_id": "bad-1", "id": "urn:ngsi-ld:WasteContainer:BIN-1",
                                     "type": "WasteContainer", "dateObserved": "2026-10-01T00:00:00Z",
                                     "fillingLevel": 7.5}).encode(),
           json.dumps({"message_id": "bad-2", "id": "not-a-urn", "type": "WasteContainer",
                       "dateObserved": "2026-10-01T00:00:00Z", "fillingLevel": 0.5}).encode()]
    for b in bad:
        infos.append(pub.publish(f"{topic_root}/BAD/fill", b, qos=1))
    for inf in infos:
        inf.wait_for_publish(30)
    pub.disconnect()
    pub.loop_stop()

    try:
        assert _wait_for(lambda: lake.count("bronze", "bin_readings") >= N, 120), log2.read_text()[-2000:]
        sub2.wait(30)
    finally:
        if sub2.poll() is None:
            sub2.kill()
        # remove the persistent session from the broker
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", 1883, clean_start=True)
        c.disconnect()

    df = lake.read("bronze", "bin_readings")
    assert 0 < killed_at < N
    assert df.height == N, f"{df.height} rows for {N} readings"
    assert df["message_id"].n_unique() == N
    assert set(df["message_id"].to_list()) == set(ids)
    assert df["_source_file"].str.starts_with("mqtt://").all()
    assert df["_delivery"].str.starts_with("mqtt/").all()
    assert df["_run_id"].n_unique() == 2          # two subscriber sessions wrote
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    assert q.height == 3, q
    reasons = " | ".join(q["reason"].to_list())
    assert "invalid JSON" in reasons and "filling_level" in reasons and "WasteContainer" in reasons


def test_parse_batch_splits_good_and_bad():
    from orchestration.mqtt import parse_batch

    good, bad = parse_batch([json.dumps(_reading(1, "x")).encode(), b"\xff\xfe", b"[1, 2]"])
    assert good.height == 1 and good["bin_id"][0] == "BIN-00001"
    assert sorted(b["i"] for b in bad) == [1, 2]
