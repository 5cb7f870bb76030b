"""Residents' reports (Open311 GeoReport v2 service requests): parsing with redaction, routing to
the services' items, response-time KPIs. Plain Python and Polars; no Dagster."""
