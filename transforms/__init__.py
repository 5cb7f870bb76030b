"""Pure transformations: Polars in, Polars out. No Dagster, no file or network I/O."""
