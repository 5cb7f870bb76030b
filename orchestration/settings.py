"""One settings object, read once from the environment, with defaults for a local checkout."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from models.admin.narrative import endpoint_from_env

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
    # the season's road repair budget in EUR (ROADS_REPAIR_BUDGET_EUR); None: a share of the
    # cost of resurfacing every graded segment (assets/roads.py BUDGET_SHARE)
    roads_repair_budget_eur: float | None = None
    # the day the road repair plan is made on, ISO date (ROADS_PLAN_DATE): crew day 1 is the first
    # working day after it; None: the build's UTC date (a build that crosses midnight, or a re-run
    # on another day, dates the crews from the later day)
    roads_plan_date: str | None = None
    # the optional chat endpoint of the DSP reports' narrative (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY,
    # LLM_TIMEOUT_S; models/admin/narrative.py); None: off. Not in repr: it may hold an API key.
    llm_endpoint: dict | None = field(default=None, repr=False)
    # the key of the PII hashes in redacted documents (CANNES_PII_HASH_KEY; models/documents/redact.py)
    pii_hash_key: str = field(default="", repr=False)
    dagster_profile: str = "sqlite"      # DAGSTER_PROFILE: sqlite (dagster.yaml) or postgres (docs/SCALE.md)
    # bronze at scale (docs/SCALE.md): parser processes per run, deliveries per run of a batched source
    ingest_workers: int = 2              # INGEST_WORKERS, default: the machine's cores (at most 8)
    ingest_batch_files: int = 100        # INGEST_BATCH_FILES

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

        budget = env.get("ROADS_REPAIR_BUDGET_EUR", "")
        try:
            repair_budget = float(budget) if budget else None
        except ValueError as exc:
            raise ValueError(f"ROADS_REPAIR_BUDGET_EUR={budget!r}: expected a number of euros") from exc
        plan_date = env.get("ROADS_PLAN_DATE", "").strip() or None
        if plan_date is not None:
            try:
                plan_date = date.fromisoformat(plan_date).isoformat()
            except ValueError as exc:
                raise ValueError(f"ROADS_PLAN_DATE={plan_date!r}: expected an ISO date (YYYY-MM-DD)") from exc

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
            roads_repair_budget_eur=repair_budget,
            roads_plan_date=plan_date,
            llm_endpoint=endpoint_from_env(env),
            pii_hash_key=env.get("CANNES_PII_HASH_KEY", ""),
            dagster_profile=_profile(env.get("DAGSTER_PROFILE", "sqlite")),
            ingest_workers=_positive(env, "INGEST_WORKERS", min(os.cpu_count() or 1, 8)),
            ingest_batch_files=_positive(env, "INGEST_BATCH_FILES", cls.ingest_batch_files),
        )

    @property
    def ground_truth_path(self) -> Path:
        """Ground truth sits beside the landing zone, never inside it."""
        return Path(self.landing_uri).parent / "ground_truth"

    @property
    def quarantine_path(self) -> Path:
        from assets.lake import quarantine_root

        return quarantine_root(self.landing_uri)


    def lake(self):
        """The lake these settings point at (the one factory: `assets.lake.open_lake`)."""
        from assets.lake import open_lake

        return open_lake(self.lake_uri, json.dumps(self.storage_options, sort_keys=True))

    def lake_resource(self):
        """The Dagster resource handing the lake, the landing zone and the run settings to assets."""
        from assets.lake import LakeResource

        import dagster as dg

        return LakeResource(lake_uri=self.lake_uri, landing_uri=self.landing_uri,
                            storage_options_json=json.dumps(self.storage_options),
                            city_profile=self.city_profile, roads_repair_budget_eur=self.roads_repair_budget_eur,
                            roads_plan_date=self.roads_plan_date,
                            # the secret by reference: Dagster resolves it in the run, the UI never shows it
                            pii_hash_key=dg.EnvVar("CANNES_PII_HASH_KEY") if self.pii_hash_key else "",
                            ingest_workers=self.ingest_workers, ingest_batch_files=self.ingest_batch_files)


def process_environment() -> dict[str, str]:
    """A copy of this process's environment, for child processes (the only other read of it)."""
    return dict(os.environ)


def set_dagster_home(path: str | Path) -> None:
    """Point Dagster's instance at `path` for this process and its children (DagsterInstance.get())."""
    os.environ["DAGSTER_HOME"] = str(path)


INSTANCE_PROFILES = {"sqlite": "dagster.yaml", "postgres": "orchestration/instance/dagster.postgres.yaml"}


def _positive(env: dict, name: str, default: int) -> int:
    raw = env.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected a positive integer")
    return value


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
