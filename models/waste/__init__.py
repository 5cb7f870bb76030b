"""Waste collection models (no Dagster): street-network travel times, the bin fill forecaster,
collection planning on top of models.routing, and the month simulation that compares fixed
rounds with the platform's plans."""
