"""Live bin-sensor stream: an MQTT subscriber that writes micro-batches to bronze, exactly once.

    lakehouse ingest-mqtt [--topic cannes/bins/+/fill] [--batch 500] [--flush-s 1.0]
    lakehouse replay-mqtt [--day 2026-10-31]          # the simulator's sensor history onto the broker

Delivery guarantees
- From the broker, at least once: QoS 1 subscription on a *persistent session* (fixed client id,
  MQTT 5 ``clean_start=False`` with a session expiry, the v5 form of ``clean_session=False``), and
  manual acknowledgements: a message is acknowledged only after the Delta commit that holds it.
  A subscriber that dies before committing leaves its messages unacknowledged; the broker sends
  them again when the same client id reconnects, and queues what arrives while it is away.
- In the lake, exactly once: each micro-batch is an insert-only MERGE on ``message_id`` into
  ``bronze/bin_readings`` (the same table and columns as the file deliveries, with lineage:
  ``_delivery = mqtt/<batch id>``, ``_source_file = mqtt://host:port/<topic>``), so a redelivered
  message, or one already delivered as a file, is not written twice.
- Malformed messages (not JSON, not a WasteContainer, a field out of range) go to the quarantine
  table with the reason, the payload's size and the bytes received (cut at RAW_LIMIT = 4 KiB, the
  cut noted); they are acknowledged too (kept, not retried forever).

MQTT 5 also lets the subscriber announce a Receive Maximum: Mosquitto's default of 20 messages in
flight per client would otherwise cap a subscriber that holds its acknowledgements until the
commit at 20 messages per batch.
"""

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from transforms.parsing import parse_bin_readings
from transforms.validation import ROW

log = logging.getLogger("lakehouse.mqtt")

DEFAULT_TOPIC = "cannes/bins/+/fill"
DEFAULT_CLIENT_ID = "lakehouse-bin-readings"
SOURCE = "bin_readings_mqtt"


@dataclass
class MqttStats:
    received: int = 0
    committed_rows: int = 0
    inserted: int = 0
    quarantined: int = 0
    batches: int = 0
    acked: int = 0
    errors: list = field(default_factory=list)


RAW_LIMIT = 4096  # bytes of a malformed payload kept in the quarantine row (its size is recorded)


def raw_payload(p: bytes, limit: int = RAW_LIMIT) -> str:
    """The bytes received, as text (undecodable bytes as \\xNN), cut at `limit` bytes with a note
    of the full size: the quarantine row shows what arrived, never a rebuilt version of it."""
    text = p[:limit].decode("utf-8", "backslashreplace")
    return text if len(p) <= limit else f"{text}... [truncated: {limit} of {len(p)} bytes kept]"


def parse_batch(payloads: list[bytes]) -> tuple[pl.DataFrame, list[dict]]:
    """Typed bronze rows (the file parser's rules) and bad messages (index, reason, raw: the
    payload's own bytes, cut at RAW_LIMIT)."""
    lines, index, bad = [], [], []
    for i, p in enumerate(payloads):
        try:
            msg = json.loads(p.decode("utf-8"))
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as exc:
            bad.append({"i": i, "reason": f"invalid JSON ({str(exc)[:200]}); payload {len(p)} bytes",
                        "raw": raw_payload(p)})
            continue
        lines.append(json.dumps(msg, ensure_ascii=False))
        index.append(i)
    if not lines:
        return pl.DataFrame(), bad
    parsed = parse_bin_readings(("\n".join(lines) + "\n").encode(), "mqtt")
    for r in parsed.bad.iter_rows(named=True):
        i = index[r[ROW] - 1]
        reason = r["reason"].split(": ", 1)[-1] if r["reason"].startswith("line ") else r["reason"]
        bad.append({"i": i, "reason": f"{reason[:500]}; payload {len(payloads[i])} bytes",
                    "raw": raw_payload(payloads[i])})
    good = parsed.good.with_columns(pl.col(ROW).map_elements(lambda k: index[k - 1], return_dtype=pl.Int64).alias(ROW))
    return good, bad


class MqttIngestor:
    """Subscribe, buffer, commit micro-batches to bronze, then acknowledge."""

    def __init__(self, lake, host: str = "127.0.0.1", port: int = 1883, topic: str = DEFAULT_TOPIC,
                 client_id: str = DEFAULT_CLIENT_ID, batch: int = 500, flush_s: float = 1.0,
                 receive_maximum: int = 2000, session_expiry_s: int = 7 * 86400):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.lake, self.host, self.port, self.topic = lake, host, port, topic
        self.batch, self.flush_s = batch, flush_s
        self.session = str(uuid.uuid4())
        self.stats = MqttStats()
        self._buf: list = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        self._props = Properties(PacketTypes.CONNECT)
        self._props.SessionExpiryInterval = session_expiry_s
        self._props.ReceiveMaximum = receive_maximum
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        log.info("connected to %s:%s (%s), session present: %s", self.host, self.port, reason_code,
                 getattr(flags, "session_present", None))
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self._buf.append((msg.mid, msg.qos, msg.topic, bytes(msg.payload)))
            self.stats.received += 1

    def start(self, wait_s: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=self._props)
        self.client.loop_start()
        if not self._subscribed.wait(wait_s):
            raise TimeoutError(f"no SUBACK from {self.host}:{self.port} within {wait_s} s")

    def stop(self) -> None:
        self._stop.set()
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()

    def flush(self) -> int:
        """Commit what is buffered (one MERGE), quarantine the bad messages, then acknowledge."""
        with self._lock:
            items, self._buf = self._buf, []
        if not items:
            return 0
        batch_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{self.session[:8]}"
        payloads = [p for _, _, _, p in items]
        good, bad = parse_batch(payloads)
        now = datetime.now(timezone.utc)
        checksum = hashlib.sha256(b"\n".join(payloads)).hexdigest()
        inserted = 0
        if good.height:
            good = good.unique("message_id", keep="first", maintain_order=True).with_columns(
                pl.lit(f"mqtt/{batch_id}").alias("_delivery"),
                pl.lit(f"mqtt://{self.host}:{self.port}/{self.topic}").alias("_source_file"),
                pl.lit(checksum).alias("_checksum"), pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
                pl.lit(self.session).alias("_run_id"))
            res = self.lake.merge("bronze", "bin_readings", good, ["message_id"], update=False)
            inserted = int(res.get("num_target_rows_inserted", 0) or 0)
        if bad:
            self.lake.quarantine([{"source": SOURCE, "delivery": f"mqtt/{batch_id}",
                                   "item": items[b["i"]][2], "row_number": b["i"] + 1, "reason": b["reason"],
                                   "raw": b["raw"], "original_path": f"mqtt://{self.host}:{self.port}/{items[b['i']][2]}",
                                   "checksum": hashlib.sha256(payloads[b["i"]]).hexdigest(), "run_id": self.session}
                                  for b in bad])
        # only now, with the rows committed, does the broker learn they arrived
        for mid, qos, _, _ in items:
            if qos > 0:
                self.client.ack(mid, qos)
        self.stats.batches += 1
        self.stats.committed_rows += good.height
        self.stats.inserted += inserted
        self.stats.quarantined += len(bad)
        self.stats.acked += len(items)
        log.info("batch %s: %d messages, %d inserted, %d already in bronze, %d quarantined", batch_id, len(items),
                 inserted, good.height - inserted, len(bad))
        return len(items)

    def run(self, max_seconds: float | None = None, idle_exit_s: float | None = None,
            max_messages: int | None = None) -> MqttStats:
        """Loop until stopped (or a limit): flush every `flush_s` or `batch` messages."""
        self.start()
        t0 = last = last_msg = time.monotonic()
        seen = 0
        try:
            while not self._stop.is_set():
                time.sleep(0.05)
                with self._lock:
                    n = len(self._buf)
                now = time.monotonic()
                if n:
                    last_msg = now
                if n >= self.batch or (n and now - last >= self.flush_s):
                    seen += self.flush()
                    last = now
                if max_seconds is not None and now - t0 > max_seconds:
                    break
                if idle_exit_s is not None and now - last_msg > idle_exit_s and seen:
                    break
                if max_messages is not None and seen >= max_messages:
                    break
        finally:
            self.stop()
        return self.stats


def reading_topic(bin_id: str) -> str:
    return f"cannes/bins/{bin_id}/fill"


def replay(landing: Path, host: str = "127.0.0.1", port: int = 1883, days: list[str] | None = None,
           rate_per_s: float | None = None, client_id: str | None = None) -> int:
    """Publish the simulator's sensor history (landing/waste/bin_sensors/*.jsonl) onto the broker,
    one message per reading on cannes/bins/<bin>/fill, QoS 1; returns the count published."""
    import paho.mqtt.client as mqtt

    files = sorted((Path(landing) / "waste" / "bin_sensors").glob("capteurs_*.jsonl"))
    if days:
        files = [f for f in files if any(d in f.name for d in days)]
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                    client_id=client_id or f"lakehouse-replay-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(200)
    c.connect(host, port)
    c.loop_start()
    n = 0
    infos = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                bin_id = json.loads(line).get("id", "").rsplit(":", 1)[-1] or "unknown"
            except ValueError:
                bin_id = "unknown"
            infos.append(c.publish(reading_topic(bin_id), line.encode(), qos=1))
            n += 1
            if rate_per_s:
                time.sleep(1 / rate_per_s)
    for i in infos:
        i.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()
    return n
