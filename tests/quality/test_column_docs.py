"""Every column of the gold schemas declared in transforms/ has a description, and the
descriptions reach the Dagster column schema."""

import polars as pl


def test_declared_gold_schemas_are_described():
    from transforms import admin, waste
    from transforms.columns import describe

    schemas = {"collection_stops": waste.COLLECTION_STOPS, "collection_routes": waste.COLLECTION_ROUTES,
               "collection_kpis": waste.COLLECTION_KPIS, "cleanliness_index": waste.CLEANLINESS_INDEX,
               "priority_zones": waste.PRIORITY_ZONES, "sorting_quality": waste.SORTING_QUALITY,
               "bin_fill_forecast": waste.BIN_FILL_FORECAST, "dsp_findings": admin.FINDINGS,
               "meeting_actions": admin.MEETING_ACTIONS}
    missing = {t: [c for c in s if not describe(c)] for t, s in schemas.items()}
    assert not any(missing.values()), missing


def test_table_metadata_carries_the_descriptions():
    from assets.lake import table_metadata

    meta = table_metadata(pl.DataFrame({"segment_id": ["S1"], "pci": [80.0], "not_a_known_column": [1]}))
    cols = {c.name: c.description for c in meta["dagster/column_schema"].columns}
    assert cols["segment_id"] and "Pavement Condition Index" in cols["pci"]
    assert cols["not_a_known_column"] is None
