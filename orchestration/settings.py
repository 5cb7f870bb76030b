"""One settings object, read once from the environment, with defaults for a local checkout."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROFILES = ("tiny", "demo", "city")


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@dataclass(frozen=True)
class Settings:
    """Where the lake, the landing zone and the serving file live, and which city to simulate.

    LAKE_URI may be an object-store URI (s3://bucket/lake); LAKE_STORAGE_OPTIONS then carries the
    delta-rs storage options as JSON (for example {"AWS_REGION": "eu-west-3"}). Local paths are
    made absolute so Dagster runs started from another directory find the same lake.
    """

    lake_uri: str = "./data/lake"
    landing_uri: str = "./data/landing"
    serving_path: str = "./data/serving/cannes.duckdb"
    dagster_home: str = "./.dagster"
    city_profile: str = "demo"
    seed: int = 42
    storage_options: dict = field(default_factory=dict)
    dagster_profile: str = "sqlite"      # DAGSTER_PROFILE: sqlite (dagster.yaml) or postgres (docs/SCALE.md)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        profile = env.get("CITY_PROFILE", "demo")
        if profile not in PROFILES:
            raise ValueError(f"CITY_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
        try:
            seed = int(env.get("SEED", "42"))
        except ValueError as exc:
            raise ValueError(f"SEED={env.get('SEED')!r}: expected an integer") from exc
        opts = env.get("LAKE_STORAGE_OPTIONS", "")
        try:
            storage_options = json.loads(opts) if opts else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"LAKE_STORAGE_OPTIONS is not valid JSON: {exc}") from exc

        def local(uri: str) -> str:
            return uri if _is_remote(uri) else str(Path(uri.removeprefix("file://")).resolve())

        return cls(
            lake_uri=local(env.get("LAKE_URI", cls.lake_uri)),
            landing_uri=local(env.get("LANDING_URI", cls.landing_uri)),
            serving_path=local(env.get("SERVING_PATH", cls.serving_path)),
            dagster_home=local(env.get("DAGSTER_HOME", cls.dagster_home)),
            city_profile=profile,
            seed=seed,
            storage_options=storage_options,
            dagster_profile=_profile(env.get("DAGSTER_PROFILE", "sqlite")),
        )

    @property
    def ground_truth_path(self) -> Path:
        """Ground truth sits beside the landing zone, never inside it."""
        return Path(self.landing_uri).parent / "ground_truth"

    @property
    def quarantine_path(self) -> Path:
        return Path(self.landing_uri) / "_quarantine"


INSTANCE_PROFILES = {"sqlite": "dagster.yaml", "postgres": "orchestration/instance/dagster.postgres.yaml"}


def _profile(name: str) -> str:
    if name not in INSTANCE_PROFILES:
        raise ValueError(f"DAGSTER_PROFILE={name!r}: expected one of {', '.join(INSTANCE_PROFILES)}")
    return name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def postgres_settings(env: dict | None = None) -> dict:
    """The Dagster instance's PostgreSQL (DAGSTER_PG_*, as orchestration/instance/dagster.postgres.yaml
    reads them)."""
    env = dict(os.environ if env is None else env)
    return {"host": env.get("DAGSTER_PG_HOST", "127.0.0.1"), "user": env.get("DAGSTER_PG_USER", "postgres"),
            "password": env.get("DAGSTER_PG_PASSWORD", ""), "db": env.get("DAGSTER_PG_DB", "dagster"),
            "port": int(env.get("DAGSTER_PG_PORT", "5432"))}
