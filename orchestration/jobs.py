"""Jobs and the nightly schedule."""

import dagster as dg

from assets.bronze import partitions_for
from assets.sources import SOURCES

from .sensors import ingest_job_name

INGEST_JOBS = [
    dg.define_asset_job(ingest_job_name(s), selection=dg.AssetSelection.assets(["bronze", s.bronze_table]),
                        partitions_def=partitions_for(s),
                        description=f"Ingest one {s.name} delivery into bronze/{s.bronze_table} and check it",
                        tags={"lakehouse/layer": "bronze"})
    for s in SOURCES
]

SILVER_SELECTION = dg.AssetSelection.key_prefixes(["silver"])
# everything after bronze: silver tables, models and scored tables, plans, gold marts, DuckDB
MARTS_SELECTION = (dg.AssetSelection.all() - dg.AssetSelection.key_prefixes(["bronze"])
                   - dg.AssetSelection.assets(["lake", "quarantine"]))

silver_job = dg.define_asset_job("silver_tables", selection=SILVER_SELECTION,
                                 description="Rebuild every silver table (MERGE, idempotent) and run its checks")
marts_job = dg.define_asset_job("nightly_marts", selection=MARTS_SELECTION,
                                description="Refresh everything after bronze in dependency order: silver "
                                            "MERGEs, model training (cached per version) and scoring, plans, "
                                            "gold marts, and publish the DuckDB file")
publish_job = dg.define_asset_job("publish_duckdb", selection=dg.AssetSelection.assets(["serving", "cannes_duckdb"]),
                                  description="Publish the gold marts into the DuckDB serving file")

nightly_schedule = dg.ScheduleDefinition(
    name="nightly_marts_0200_paris", job=marts_job, cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 Paris time: refresh silver, models, plans and marts, republish DuckDB")

automation_sensor = dg.AutomationConditionSensorDefinition(
    "lakehouse_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Declarative automation: rebuilds silver, gold and the DuckDB file when their inputs change "
                "(AutomationCondition.eager, mapped once over the specs in orchestration/definitions.py)")

JOBS = [*INGEST_JOBS, silver_job, marts_job, publish_job]
SCHEDULES = [nightly_schedule]
