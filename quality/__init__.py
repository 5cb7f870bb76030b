"""Data quality: Great Expectations 1.x suites and the Dagster asset checks that run them."""
