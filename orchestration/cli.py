"""The `lakehouse` command.

    lakehouse simulate [--profile demo|city|tiny] [--seed N] [--bad-inputs]
    lakehouse run [--no-simulate] [--no-bad-inputs]     # what `make run` does (`make run-real`: --no-simulate)
    lakehouse publish                                  # gold marts -> DuckDB file
    lakehouse delta-sql "SELECT ..."                   # query the Delta tables in place via DuckDB
    lakehouse quarantine                               # what was quarantined and why
    lakehouse search "..." [-k 5]                      # semantic search over the indexed documents
"""

import argparse
import sys
import time

from rich.console import Console

from .settings import Settings, process_environment


def _settings(args) -> Settings:
    env = process_environment()
    if getattr(args, "profile", None):
        env["CITY_PROFILE"] = args.profile
    if getattr(args, "seed", None) is not None:
        env["SEED"] = str(args.seed)
    return Settings.from_env(env)


def cmd_simulate(args) -> int:
    from models.simulator import simulate

    s = _settings(args)
    console = Console()
    t = time.perf_counter()
    stats = simulate(s.city_profile, s.seed, args.landing or s.landing_uri, args.truth or s.ground_truth_path,
                     bad_inputs=args.bad_inputs, progress=lambda m: console.print(f"  {m}"))
    console.print(f"simulated profile {s.city_profile} seed {s.seed} into {args.landing or s.landing_uri} "
                  f"in {time.perf_counter() - t:.1f} s")
    return 0 if stats else 1


def cmd_run(args) -> int:
    from .runner import run_all

    s = _settings(args)
    summary = run_all(s, simulate=not args.no_simulate, bad_inputs=not args.no_bad_inputs)
    return 1 if summary.failures else 0


def cmd_publish(args) -> int:
    from assets.serving import publish

    from .definitions import build_definitions, published

    from assets.communes import communes_of, publish_communes

    s = _settings(args)
    lake = s.lake()
    counts = publish(lake, s.serving_path, published(build_definitions(s)))
    for k, v in counts.items():
        print(f"{k}\t{v}")
    for commune, info in publish_communes(s.serving_path, communes_of(lake)).items():
        print(f"{commune}\t{info['path']}\t{info['tables']} tables, {info['rows']} rows")
    return 0


def cmd_delta_sql(args) -> int:
    from assets.serving import delta_connection

    s = _settings(args)
    con = delta_connection(s.lake_uri, storage_options=s.storage_options)
    print(con.sql(args.query))
    return 0


def cmd_quarantine(args) -> int:
    from assets.lake import QUARANTINE_SCHEMA

    s = _settings(args)
    q = s.lake().read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    import polars as pl

    with pl.Config(tbl_rows=200, fmt_str_lengths=120, tbl_width_chars=200):
        print(q.select("source", "delivery", "item", "row_number", "reason").sort("source", "delivery"))
    return 0


def cmd_search(args) -> int:
    from models.documents.indexing import search_serving

    s = _settings(args)
    hits = search_serving(s.serving_path, args.query, k=args.k)
    if not hits:
        print(f"no indexed documents in {s.serving_path} (administration.document_index)")
        return 1
    for i, h in enumerate(hits, 1):
        print(f"{i}. {h['score']:.3f}  {h['doc_id']}  (chunk {h['chunk_no']})\n   {h['title']}\n   {h['excerpt']}")
    return 0


def cmd_ingest_mqtt(args) -> int:
    import logging


    from .mqtt import MqttIngestor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    s = _settings(args)
    ing = MqttIngestor(s.lake(), args.host, args.port, args.topic, args.client_id,
                       batch=args.batch, flush_s=args.flush_s)
    st = ing.run(max_seconds=args.max_seconds, idle_exit_s=args.idle_exit, max_messages=args.max_messages)
    print(f"received {st.received}, inserted {st.inserted}, quarantined {st.quarantined}, batches {st.batches}")
    return 0


def cmd_replay_mqtt(args) -> int:
    from .mqtt import replay

    s = _settings(args)
    n = replay(args.landing or s.landing_uri, args.host, args.port, days=args.day, rate_per_s=args.rate)
    print(f"published {n} readings to {args.host}:{args.port}")
    return 0


def cmd_ingest_nats(args) -> int:
    import logging

    from assets.lake import Lake

    from .nats import NatsIngestor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    s = _settings(args)
    ing = NatsIngestor(Lake(s.lake_uri, s.storage_options), args.url, args.subject, args.durable, args.stream,
                       batch=args.batch, ack_wait_s=args.ack_wait)
    st = ing.run(max_seconds=args.max_seconds, idle_exit_s=args.idle_exit, max_messages=args.max_messages)
    print(f"received {st.received}, inserted {st.inserted}, quarantined {st.quarantined}, batches {st.batches}")
    return 0


def cmd_replay_nats(args) -> int:
    from .nats import replay

    s = _settings(args)
    print(f"published {replay(args.landing or s.landing_uri, args.url)} service requests to {args.url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lakehouse", description="Cannes lakehouse command line")
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("simulate", help="write a simulated city into the landing zone")
    sp.add_argument("--profile", choices=["tiny", "demo", "city"])
    sp.add_argument("--seed", type=int)
    sp.add_argument("--bad-inputs", action="store_true", help="also plant a corrupt JPEG, a truncated LAZ, "
                    "a CSV with bad rows and a duplicate delivery")
    sp.add_argument("--landing", help="landing folder (default LANDING_URI)")
    sp.add_argument("--truth", help="ground-truth folder (default beside the landing zone)")
    sp.set_defaults(fn=cmd_simulate)
    rp = sub.add_parser("run", help="simulate, ingest, build silver and gold, publish DuckDB")
    rp.add_argument("--profile", choices=["tiny", "demo", "city"])
    rp.add_argument("--seed", type=int)
    rp.add_argument("--no-simulate", action="store_true",
                    help="a real city: ingest whatever is in LANDING_URI, simulate nothing, read no ground truth")
    rp.add_argument("--no-bad-inputs", action="store_true")
    rp.set_defaults(fn=cmd_run)
    sub.add_parser("publish", help="publish the gold marts into the DuckDB file").set_defaults(fn=cmd_publish)
    dp = sub.add_parser("delta-sql", help="run SQL on the Delta tables in place (views lake.<layer>_<table>)")
    dp.add_argument("query")
    dp.set_defaults(fn=cmd_delta_sql)
    sub.add_parser("quarantine", help="list quarantined deliveries and rows").set_defaults(fn=cmd_quarantine)
    qp = sub.add_parser("search", help="semantic search over the indexed documents in the DuckDB file")
    qp.add_argument("query")
    qp.add_argument("-k", type=int, default=5, help="documents to show")
    qp.set_defaults(fn=cmd_search)
    mp = sub.add_parser("ingest-mqtt", help="subscribe to the bin sensors' MQTT topic and write bronze, exactly once")
    mp.add_argument("--host", default="127.0.0.1")
    mp.add_argument("--port", type=int, default=1883)
    mp.add_argument("--topic", default="cannes/bins/+/fill")
    mp.add_argument("--client-id", default="lakehouse-bin-readings", help="fixed id: the broker keeps its session")
    mp.add_argument("--batch", type=int, default=500, help="messages per micro-batch (one Delta commit)")
    mp.add_argument("--flush-s", type=float, default=1.0, help="commit at least this often (s)")
    mp.add_argument("--max-seconds", type=float, help="stop after this long (default: run until killed)")
    mp.add_argument("--idle-exit", type=float, help="stop after this many seconds without messages")
    mp.add_argument("--max-messages", type=int, help="stop after committing this many messages")
    mp.set_defaults(fn=cmd_ingest_mqtt)
    rq = sub.add_parser("replay-mqtt", help="publish the simulated sensor history onto the MQTT broker")
    rq.add_argument("--host", default="127.0.0.1")
    rq.add_argument("--port", type=int, default=1883)
    rq.add_argument("--day", action="append", help="only this local day (repeatable)")
    rq.add_argument("--rate", type=float, help="messages per second (default: as fast as possible)")
    rq.add_argument("--landing", help="landing folder (default LANDING_URI)")
    rq.set_defaults(fn=cmd_replay_mqtt)
    np_ = sub.add_parser("ingest-nats", help="residents' reports (Open311) from NATS JetStream to bronze, exactly once")
    np_.add_argument("--url", default="nats://127.0.0.1:4222")
    np_.add_argument("--subject", default="cannes.citizens.requests.>")
    np_.add_argument("--durable", default="lakehouse-citizen-requests", help="durable consumer: the server keeps its place")
    np_.add_argument("--stream", default="CITIZENS", help="JetStream stream holding the reports (created if absent)")
    np_.add_argument("--batch", type=int, default=200, help="messages per micro-batch (one Delta commit)")
    np_.add_argument("--ack-wait", type=float, default=30.0, help="seconds before an unacknowledged message is redelivered")
    np_.add_argument("--max-seconds", type=float)
    np_.add_argument("--idle-exit", type=float)
    np_.add_argument("--max-messages", type=int)
    np_.set_defaults(fn=cmd_ingest_nats)
    rn = sub.add_parser("replay-nats", help="publish the landing zone's service requests onto NATS JetStream")
    rn.add_argument("--url", default="nats://127.0.0.1:4222")
    rn.add_argument("--landing", help="landing folder (default LANDING_URI)")
    rn.set_defaults(fn=cmd_replay_nats)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
