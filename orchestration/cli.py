"""The `lakehouse` command.

    lakehouse simulate [--profile demo|city|tiny] [--seed N] [--bad-inputs]
    lakehouse run [--no-simulate] [--no-bad-inputs]     # what `make run` does
    lakehouse publish                                  # gold marts -> DuckDB file
    lakehouse delta-sql "SELECT ..."                   # query the Delta tables in place via DuckDB
    lakehouse quarantine                               # what was quarantined and why
"""

import argparse
import sys
import time

from rich.console import Console

from .settings import Settings


def _settings(args) -> Settings:
    import os

    env = dict(os.environ)
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
    from assets.lake import Lake
    from assets.serving import publish

    from . import definitions  # noqa: F401  (registers the gold tables)

    s = _settings(args)
    counts = publish(Lake(s.lake_uri, s.storage_options), s.serving_path)
    for k, v in counts.items():
        print(f"{k}\t{v}")
    return 0


def cmd_delta_sql(args) -> int:
    from assets.serving import delta_connection

    s = _settings(args)
    con = delta_connection(s.lake_uri)
    print(con.sql(args.query))
    return 0


def cmd_quarantine(args) -> int:
    from assets.lake import QUARANTINE_SCHEMA, Lake

    s = _settings(args)
    q = Lake(s.lake_uri, s.storage_options).read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    import polars as pl

    with pl.Config(tbl_rows=200, fmt_str_lengths=120, tbl_width_chars=200):
        print(q.select("source", "delivery", "item", "row_number", "reason").sort("source", "delivery"))
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
    rp.add_argument("--no-simulate", action="store_true")
    rp.add_argument("--no-bad-inputs", action="store_true")
    rp.set_defaults(fn=cmd_run)
    sub.add_parser("publish", help="publish the gold marts into the DuckDB file").set_defaults(fn=cmd_publish)
    dp = sub.add_parser("delta-sql", help="run SQL on the Delta tables in place (views lake.<layer>_<table>)")
    dp.add_argument("query")
    dp.set_defaults(fn=cmd_delta_sql)
    sub.add_parser("quarantine", help="list quarantined deliveries and rows").set_defaults(fn=cmd_quarantine)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
