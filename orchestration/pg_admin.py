"""Create the Dagster instance's PostgreSQL database if it is missing (`make ui-postgres`).
Reads DAGSTER_PG_* as dagster.postgres.yaml does."""

from __future__ import annotations

import sys

from .settings import postgres_settings


def ensure_database() -> str:
    import psycopg2
    from psycopg2 import sql

    pg = postgres_settings()
    con = psycopg2.connect(host=pg["host"], user=pg["user"], password=pg["password"] or None, dbname="postgres",
                           port=pg["port"])
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [pg["db"]])
            if not cur.fetchone():
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg["db"])))
                return f"created database {pg['db']} on {pg['host']}"
        return f"database {pg['db']} on {pg['host']} exists"
    finally:
        con.close()


if __name__ == "__main__":
    print(ensure_database())
    sys.exit(0)
