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


def _float(env: dict, name: str, default: float) -> float:
    try:
        return float(env.get(name) or default)
    except ValueError as exc:
        raise ValueError(f"{name}={env.get(name)!r}: expected a number of seconds") from exc


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
    # optional OpenAI-compatible language-model endpoint (report narrative, translation); off when
    # LLM_BASE_URL or LLM_MODEL is unset
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0

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
            llm_base_url=env.get("LLM_BASE_URL", "").strip(),
            llm_model=env.get("LLM_MODEL", "").strip(),
            llm_api_key=env.get("LLM_API_KEY", ""),
            llm_timeout_s=_float(env, "LLM_TIMEOUT_S", 30.0),
        )

    @property
    def ground_truth_path(self) -> Path:
        """Ground truth sits beside the landing zone, never inside it."""
        return Path(self.landing_uri).parent / "ground_truth"

    @property
    def quarantine_path(self) -> Path:
        return Path(self.landing_uri) / "_quarantine"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
