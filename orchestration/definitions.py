"""The Dagster Definitions: every asset, check, sensor, job, schedule and resource, built once.

`dagster dev -m orchestration.definitions` (or `make ui`) loads `defs` from here.
"""

import json
import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from assets import admin, direction, procurement, reference, roads, trees, waste  # noqa: E402
from assets.bronze import BRONZE_ASSETS, BRONZE_CHECKS, QUARANTINE  # noqa: E402
from assets.lake import LakeResource  # noqa: E402
from assets.serving import ServingResource, cannes_duckdb  # noqa: E402
from quality.checks import silver_check  # noqa: E402
from quality.suites import SILVER_SUITES  # noqa: E402

from .jobs import JOBS, SCHEDULES, automation_sensor  # noqa: E402
from .sensors import SENSORS  # noqa: E402
from .settings import Settings, get_settings  # noqa: E402

SERVICE_MODULES = [reference, roads, trees, waste, admin, procurement, direction]
SERVICE_ASSETS = [a for m in SERVICE_MODULES for a in m.ASSETS]
SILVER_CHECKS = [silver_check(t) for t in SILVER_SUITES]
# further checks a service module declares beside its assets (`CHECKS = [...]`)
SERVICE_CHECKS = [c for m in SERVICE_MODULES for c in getattr(m, "CHECKS", [])]


def resources_for(settings: Settings) -> dict:
    return {
        "lake": LakeResource(lake_uri=settings.lake_uri, landing_uri=settings.landing_uri,
                             storage_options_json=json.dumps(settings.storage_options)),
        "serving": ServingResource(path=settings.serving_path),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=[*BRONZE_ASSETS, QUARANTINE, *SERVICE_ASSETS, cannes_duckdb],
        asset_checks=[*BRONZE_CHECKS, *SILVER_CHECKS, *SERVICE_CHECKS],
        sensors=[*SENSORS, automation_sensor], jobs=JOBS, schedules=SCHEDULES,
        resources=resources_for(settings),
    )


defs = build_definitions()
