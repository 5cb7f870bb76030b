"""Thin Dagster assets, one module per service, plus the shared lake and serving layers."""
