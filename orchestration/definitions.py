"""The Dagster Definitions: every asset, check, sensor, job, schedule and resource, built once.

`dagster dev -m orchestration.definitions` (or `make ui`) loads `defs` from here.
"""

import json
import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from assets import admin, direction, letters, procurement, reference, roads, trees, waste  # noqa: E402
from assets.bronze import BRONZE_ASSETS, BRONZE_CHECKS, QUARANTINE  # noqa: E402
from assets.lake import LakeResource  # noqa: E402
from assets.llm import LlmResource  # noqa: E402
from assets.serving import ServingResource, cannes_duckdb  # noqa: E402
from assets.layers import GOLD_TABLES  # noqa: E402
from quality.checks import contract_check, silver_check  # noqa: E402
from quality.suites import SILVER_SUITES  # noqa: E402

from .jobs import JOBS, SCHEDULES, automation_sensor  # noqa: E402
from .sensors import SENSORS  # noqa: E402
from .settings import Settings, get_settings  # noqa: E402

SERVICE_MODULES = [reference, roads, trees, waste, admin, letters, procurement, direction]
SERVICE_ASSETS = [a for m in SERVICE_MODULES for a in m.ASSETS]
SILVER_CHECKS = [silver_check(t) for t in SILVER_SUITES]
# further checks a service module declares beside its assets (`CHECKS = [...]`)
SERVICE_CHECKS = [c for m in SERVICE_MODULES for c in getattr(m, "CHECKS", [])]
# plan tables kept in silver (their history) that must not come out empty either
PLAN_TABLES = [("silver", "collection_selection"), ("silver", "collection_stops"), ("silver", "tree_inspection_plan")]


def _lake_inputs(key: dg.AssetKey) -> list[tuple[str, str]]:
    """The silver/gold/ml lake tables an asset is computed from (bronze and the quarantine log
    are deliveries, not inputs that must carry rows)."""
    for a in SERVICE_ASSETS:
        if key in a.keys:
            return sorted({(d.path[0], d.path[1]) for d in a.asset_deps[key]
                           if len(d.path) == 2 and d.path[0] in ("silver", "gold")})
    return []


# every published (gold) and plan table: a blocking `contract` check (written, not empty while its
# inputs have rows), declared from the registry the tables are declared in
CONTRACT_CHECKS = [contract_check("gold", t, _lake_inputs(dg.AssetKey(["gold", t])), may_be_empty=g.may_be_empty)
                   for t, g in GOLD_TABLES.items()] + [
    contract_check(layer, t, _lake_inputs(dg.AssetKey([layer, t]))) for layer, t in PLAN_TABLES]


def resources_for(settings: Settings) -> dict:
    return {
        "lake": LakeResource(lake_uri=settings.lake_uri, landing_uri=settings.landing_uri,
                             storage_options_json=json.dumps(settings.storage_options)),
        "serving": ServingResource(path=settings.serving_path),
        "llm": LlmResource(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                           timeout_s=settings.llm_timeout_s),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=[*BRONZE_ASSETS, QUARANTINE, *SERVICE_ASSETS, cannes_duckdb],
        asset_checks=[*BRONZE_CHECKS, *SILVER_CHECKS, *SERVICE_CHECKS, *CONTRACT_CHECKS],
        sensors=[*SENSORS, automation_sensor], jobs=JOBS, schedules=SCHEDULES,
        resources=resources_for(settings),
    )


defs = build_definitions()
