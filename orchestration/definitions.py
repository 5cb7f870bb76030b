"""The Dagster Definitions: every asset, check, sensor, job, schedule and resource, built lazily.

`dg dev -m orchestration.definitions` (or `make ui`) loads `defs`, a `@dg.definitions` function:
nothing is imported or built until Dagster (or a test, `defs()`) asks for it. The service modules
are listed once by name (`SERVICE_MODULES`); each contributes `ASSETS` and `CHECKS`
(`service_defs`), and the per-service Definitions are merged. Then, once over all specs:

- the published (gold) tables are read from the specs (`assets.catalog.published_tables`) and
  the serving asset is built over them;
- every published table and every spec marked `CONTRACT` gets its blocking `contract` check;
- every asset after bronze follows its inputs with `AutomationCondition.eager()`
  (`with_automation`), unless tagged `NIGHTLY_ONLY`.
"""

from __future__ import annotations

import importlib
import warnings
from functools import lru_cache

import dagster as dg

from .settings import Settings, get_settings

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

# the service modules, in the order their assets are listed; a new service adds its module here
SERVICE_MODULES = ("assets.reference", "assets.roads", "assets.trees", "assets.waste", "assets.admin",
                   "assets.letters", "assets.procurement", "assets.direction")
# layers the eager automation leaves alone: deliveries are run by the sensors, the quarantine log
# is an external asset
NOT_AUTOMATED_LAYERS = ("bronze", "lake")


def service_defs(module_name: str) -> dg.Definitions:
    """One service's assets and checks (its module's `ASSETS` and `CHECKS`)."""
    module = importlib.import_module(module_name)
    return dg.Definitions(assets=list(module.ASSETS), asset_checks=list(getattr(module, "CHECKS", [])))


def with_automation(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The one automation policy: eager after bronze, unless the asset says otherwise."""
    from assets.catalog import NIGHTLY_ONLY

    if (spec.key.path[0] in NOT_AUTOMATED_LAYERS or spec.automation_condition is not None
            or all(spec.tags.get(k) == v for k, v in NIGHTLY_ONLY.items())):
        return spec
    return spec.replace_attributes(automation_condition=dg.AutomationCondition.eager())


def _specs(assets) -> list[dg.AssetSpec]:
    return [s for a in assets for s in (a.specs if isinstance(a, dg.AssetsDefinition) else [a])]


def resources_for(settings: Settings) -> dict:
    from assets.serving import ServingResource

    llm = settings.llm_endpoint or {}
    serving = ServingResource(path=settings.serving_path, llm_base_url=llm.get("base_url", ""),
                              llm_model=llm.get("model", ""), llm_timeout_s=llm.get("timeout", 30.0),
                              # the key by reference: Dagster resolves it in the run, the UI never shows it
                              llm_api_key=dg.EnvVar("LLM_API_KEY") if llm.get("api_key") else "")
    return {"lake": settings.lake_resource(), "serving": serving}


def build_definitions(settings: Settings | None = None, service_modules: tuple[str, ...] = SERVICE_MODULES) -> dg.Definitions:
    from assets.bronze import BRONZE_ASSETS, BRONZE_CHECKS, QUARANTINE
    from assets.catalog import contract_tables, published_tables
    from assets.serving import serving_asset
    from quality.checks import contract_check, silver_check
    from quality.suites import SILVER_SUITES

    from .jobs import JOBS, SCHEDULES, automation_sensor
    from .sensors import SENSORS

    settings = settings or get_settings()
    services = dg.Definitions.merge(*(service_defs(m) for m in service_modules))
    service_assets = list(services.assets or [])
    specs = _specs(service_assets)
    contracts = [contract_check(layer, t, inputs, may_be_empty=why) for layer, t, why, inputs in contract_tables(specs)]
    automated = dg.map_asset_specs(with_automation, [*service_assets, serving_asset(published_tables(specs))])
    return dg.Definitions(
        assets=[*BRONZE_ASSETS, QUARANTINE, *automated],
        asset_checks=[*BRONZE_CHECKS, *(silver_check(t) for t in SILVER_SUITES), *(services.asset_checks or []),
                      *contracts],
        sensors=[*SENSORS, automation_sensor], jobs=JOBS, schedules=SCHEDULES,
        resources=resources_for(settings),
    )


@lru_cache(maxsize=1)
def default_definitions() -> dg.Definitions:
    """The Definitions for this process's settings, built on first use."""
    return build_definitions()


@dg.definitions
def defs() -> dg.Definitions:
    return default_definitions()


def published(d: dg.Definitions | None = None) -> dict:
    """The published tables of `d`'s asset graph (default: this process's Definitions)."""
    from assets.catalog import published_tables

    return published_tables((d or default_definitions()).resolve_all_asset_specs())
