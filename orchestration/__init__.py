"""Orchestration: Definitions, resources, sensors, schedules, jobs, settings and the CLI."""
