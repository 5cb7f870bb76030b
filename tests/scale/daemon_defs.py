"""A small code location for the daemon and executor tests: one asset, a sensor that asks for one
run (run key), a schedule every minute, and a job of two independent steps and a join for the Celery executor."""

import os

import dagster as dg
from dagster_celery import celery_executor


@dg.asset
def heartbeat_rows() -> int:
    return 3


heartbeat_job = dg.define_asset_job("heartbeat_job", selection=[heartbeat_rows])


@dg.sensor(job=heartbeat_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def heartbeat_sensor(context: dg.SensorEvaluationContext):
    yield dg.RunRequest(run_key="once")


@dg.schedule(job=heartbeat_job, cron_schedule="* * * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def heartbeat_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=None)


@dg.op
def where_a() -> dict:
    return {"pid": os.getpid(), "host": os.uname().nodename}


@dg.op
def where_b() -> dict:
    return {"pid": os.getpid(), "host": os.uname().nodename}


@dg.op
def both(a: dict, b: dict) -> list:
    return [a, b]


@dg.job(executor_def=celery_executor)
def fan_job():
    both(where_a(), where_b())


defs = dg.Definitions(assets=[heartbeat_rows], jobs=[heartbeat_job, fan_job], sensors=[heartbeat_sensor],
                      schedules=[heartbeat_schedule])
