"""Live residents' reports: a NATS JetStream subscriber that writes Open311 service requests to
bronze, exactly once.

    lakehouse ingest-nats [--subject cannes.citizens.requests.>] [--batch 200]
    lakehouse replay-nats                      # the landing zone's requests onto the stream

Delivery guarantees (the MQTT path's design, orchestration/mqtt.py, on JetStream)
- From the server, at least once: a *durable* pull consumer (fixed name) with explicit
  acknowledgements on a file-backed stream. A message is acknowledged only after the Delta commit
  that holds it; one a subscriber received but did not acknowledge (it died) is redelivered to the
  consumer's next fetch once `ack_wait` has passed, and what is published while no subscriber runs
  waits in the stream.
- Publisher side, each version of a request is published with a `Nats-Msg-Id` header of
  `<service_request_id>:<content hash>`: the stream drops a re-published copy inside its duplicate
  window.
- In the lake, exactly once: each micro-batch is an insert-only MERGE on (service_request_id,
  content_hash) into `bronze/citizen_requests` (the file deliveries' table and columns, lineage
  `_delivery = nats/<batch id>`, `_source_file = nats://host:port/<subject>`), so a redelivered
  message, or one already delivered as a file, is not written twice.
- Bad requests (not JSON, unknown service code, position outside the agglomeration ...) go to the
  quarantine table with the reason and the payload, redacted; they are acknowledged too.
Free text is redacted before the row exists (models/citizens/open311.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from models.citizens.open311 import ROW, BadRequest, content_hash, parse_requests, raw_text

log = logging.getLogger("lakehouse.nats")

STREAM = "CITIZENS"
DEFAULT_SUBJECT = "cannes.citizens.requests.>"
DEFAULT_DURABLE = "lakehouse-citizen-requests"
SOURCE = "citizen_requests_nats"
TABLE = "citizen_requests"
KEYS = ["service_request_id", "content_hash"]


@dataclass
class NatsStats:
    received: int = 0
    inserted: int = 0
    quarantined: int = 0
    batches: int = 0
    acked: int = 0
    errors: list = field(default_factory=list)


def request_subject(service_code: str, prefix: str = "cannes.citizens.requests") -> str:
    return f"{prefix}.{service_code or 'unknown'}"


async def ensure_stream(js, stream: str, subjects: list[str]) -> None:
    """The file-backed stream that holds the reports (created if absent; its subjects kept)."""
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream)
        missing = [s for s in subjects if s not in info.config.subjects]
        if missing:
            info.config.subjects = [*info.config.subjects, *missing]
            await js.update_stream(info.config)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=subjects, duplicate_window=3600.0))


def decode_batch(payloads: list[bytes], key=None) -> tuple[pl.DataFrame, list[dict]]:
    """Typed, redacted rows (ROW = index in the batch) and bad messages ({i, reason, raw})."""
    objs, index, bad = [], [], []
    for i, p in enumerate(payloads):
        try:
            objs.append(json.loads(p.decode("utf-8")))
            index.append(i)
        except (UnicodeDecodeError, ValueError) as exc:
            bad.append({"i": i, "reason": f"invalid JSON ({str(exc)[:200]}); payload {len(p)} bytes",
                        "raw": raw_text(p[:4096].decode("utf-8", "backslashreplace"))})
    good, badrows = parse_requests(objs, key)
    for b in badrows:
        bad.append({"i": index[b[ROW] - 1], "reason": b["reason"], "raw": b["raw"]})
    good = good.with_columns(pl.col(ROW).map_elements(lambda k: index[k - 1] + 1, return_dtype=pl.Int64))
    return good, bad


class NatsIngestor:
    """Fetch from a durable JetStream consumer, commit micro-batches to bronze, then acknowledge."""

    def __init__(self, lake, url: str = "nats://127.0.0.1:4222", subject: str = DEFAULT_SUBJECT,
                 durable: str = DEFAULT_DURABLE, stream: str = STREAM, batch: int = 200, ack_wait_s: float = 30.0,
                 redaction_key: str | None = None):
        self.lake, self.url, self.subject, self.durable, self.stream = lake, url, subject, durable, stream
        self.batch, self.ack_wait_s, self.key = batch, ack_wait_s, redaction_key
        self.session = str(uuid.uuid4())
        self.stats = NatsStats()

    def commit(self, msgs: list) -> int:
        """One MERGE of the good requests and the quarantine rows of the bad ones (ack is the caller's)."""
        batch_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{self.session[:8]}"
        payloads = [bytes(m.data) for m in msgs]
        good, bad = decode_batch(payloads, self.key)
        now = datetime.now(timezone.utc)
        inserted = 0
        if good.height:
            good = good.unique(KEYS, keep="first", maintain_order=True).with_columns(
                pl.lit(f"nats/{batch_id}").alias("_delivery"),
                pl.lit(f"{self.url}/{self.subject}").alias("_source_file"),
                pl.lit(hashlib.sha256(b"\n".join(payloads)).hexdigest()).alias("_checksum"),
                pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"), pl.lit(self.session).alias("_run_id"))
            res = self.lake.merge("bronze", TABLE, good, KEYS, update=False)
            inserted = int(res.get("num_target_rows_inserted", 0) or 0)
        if bad:
            self.lake.quarantine([{"source": SOURCE, "delivery": f"nats/{batch_id}", "item": msgs[b["i"]].subject,
                                   "row_number": b["i"] + 1, "reason": b["reason"], "raw": b["raw"],
                                   "original_path": f"{self.url}/{msgs[b['i']].subject}",
                                   "checksum": hashlib.sha256(payloads[b["i"]]).hexdigest(), "run_id": self.session}
                                  for b in bad])
        self.stats.batches += 1
        self.stats.inserted += inserted
        self.stats.quarantined += len(bad)
        log.info("batch %s: %d messages, %d inserted, %d already in bronze, %d quarantined", batch_id, len(msgs),
                 inserted, good.height - inserted, len(bad))
        return inserted

    async def _run(self, max_seconds, idle_exit_s, max_messages) -> NatsStats:
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        nc = await nats.connect(self.url, name=f"lakehouse-{self.durable}")
        js = nc.jetstream()
        await ensure_stream(js, self.stream, [self.subject])
        cfg = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait_s,
                             deliver_policy=DeliverPolicy.ALL, max_ack_pending=10 * self.batch, filter_subject=self.subject)
        sub = await js.pull_subscribe(self.subject, durable=self.durable, stream=self.stream, config=cfg)
        log.info("connected to %s, stream %s, durable consumer %s", self.url, self.stream, self.durable)
        t0 = last_msg = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if max_seconds is not None and now - t0 > max_seconds:
                    break
                if idle_exit_s is not None and now - last_msg > idle_exit_s and self.stats.acked:
                    break
                if max_messages is not None and self.stats.acked >= max_messages:
                    break
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except NatsTimeout:
                    continue
                if not msgs:
                    continue
                last_msg = time.monotonic()
                self.stats.received += len(msgs)
                await asyncio.to_thread(self.commit, msgs)
                # only now, with the rows committed, does the server learn they arrived
                for m in msgs:
                    await m.ack_sync()
                self.stats.acked += len(msgs)
        finally:
            await nc.drain()
        return self.stats

    def run(self, max_seconds: float | None = None, idle_exit_s: float | None = None,
            max_messages: int | None = None) -> NatsStats:
        return asyncio.run(self._run(max_seconds, idle_exit_s, max_messages))


async def _publish(url: str, requests: list[dict], prefix: str, stream: str) -> int:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js, stream, [f"{prefix}.>"])
    n = 0
    for r in requests:
        payload = r if isinstance(r, (bytes, bytearray)) else json.dumps(r, ensure_ascii=False).encode()
        hdr = None
        if isinstance(r, dict):
            hdr = {"Nats-Msg-Id": f"{r.get('service_request_id')}:{content_hash(r)}"}
        code = r.get("service_code") if isinstance(r, dict) else "unknown"
        await js.publish(request_subject(str(code), prefix), bytes(payload), headers=hdr)
        n += 1
    await nc.close()
    return n


def publish(requests: list, url: str = "nats://127.0.0.1:4222", prefix: str = "cannes.citizens.requests",
            stream: str = STREAM) -> int:
    """Publish request objects (or raw bytes) onto the stream, one message per request version."""
    return asyncio.run(_publish(url, requests, prefix, stream))


def replay(landing: Path, url: str = "nats://127.0.0.1:4222", prefix: str = "cannes.citizens.requests") -> int:
    """Publish every request of landing/citizens/requests/*.json onto the stream."""
    from models.citizens.open311 import decode_requests

    reqs: list = []
    for f in sorted((Path(landing) / "citizens" / "requests").glob("*.json")):
        try:
            reqs += decode_requests(f.read_bytes(), f.name)
        except BadRequest as exc:
            log.warning("%s", exc)
    return publish(reqs, url, prefix)
