"""Domain suites of the marts that had only their `contract` check: keys unique, ranges and
value sets that must hold whatever the city (checked on the tiny and demo simulated cities).
Each service module declares the checks (`table_check("gold", name, MARTS[name])`) in its
`CHECKS` list beside its assets."""

from __future__ import annotations

from .suites import TableSuite

STREAMS = ("ordures_menageres", "emballages", "verre", "biodechets")
RATINGS = ("Low", "Moderate", "High", "Extreme")
SEG = ("silver", "street_segments", "segment_id")
CONTRACT = {"contract_id": ("silver", "dsp_contracts", "contract_id")}


def _m(table: str, key: tuple = (), **kw) -> TableSuite:
    return TableSuite(table=table, key=key, not_null=tuple(dict.fromkeys(key + kw.pop("not_null", ()))), **kw)


MARTS: dict[str, TableSuite] = {s.table: s for s in [
    # direction
    _m("city_daily_kpis", ("date", "commune"), ranges={
        "frames_surveyed": (0, None), "km_surveyed": (0, None), "pickups": (0, None), "tonnes_collected": (0, None),
        "mean_fill_at_pickup": (0, 1), "contamination_rate_pct": (0, 100), "sensor_readings": (0, None),
        "near_full_alerts": (0, None), "litter_items": (0, None)}),
    _m("data_quarantine", not_null=("source", "reason", "quarantined_at")),
    # waste
    _m("cleanliness_index", ("segment_id",), ranges={"clean_city_index": (0, 5), "items": (0, None),
                                                     "passes": (1, None), "items_per_100m": (0, None)},
       references={"segment_id": SEG}),
    _m("priority_zones", ("zone_id",), not_null=("segments", "mean_cci"),
       ranges={"segments": (1, None), "mean_cci": (0, 2.5), "min_cci": (0, 2.5), "street_km": (0, None)}),
    _m("sorting_quality", ("quartier", "waste_stream"), ranges={"pickups": (1, None), "contaminated": (0, None),
                                                                "contamination_rate_pct": (0, 100)},
       in_set={"waste_stream": (*STREAMS, "all")}),
    _m("tonnage_daily", ("collection_date", "quartier", "waste_stream"),
       ranges={"pickups": (1, None), "tonnes": (0, None), "mean_fill_at_pickup": (0, 1),
               "contamination_rate_pct": (0, 100)}, in_set={"waste_stream": STREAMS}),
    _m("collection_kpis", ("plan_date", "policy"), in_set={"policy": ("platform", "fixed_rounds")},
       ranges={"trips": (0, None), "bins_emptied": (0, None), "distance_km": (0, None), "truck_hours": (0, None)}),
    # roads
    _m("road_network_summary", not_null=("commune", "survey_id", "segments", "km"),
       ranges={"share_of_graded_length_pct": (0, 100), "length_weighted_pci": (0, 100), "km": (0, None),
               "segments": (0, None)}),
    _m("survey_coverage", not_null=("survey_id", "frames"), ranges={"coverage_pct": (0, 100), "frames": (0, None),
                                                                   "km_surveyed": (0, None)}),
    _m("road_damage_hotspots", ("rank",), not_null=("survey_id", "segment_id", "pci"),
       ranges={"pci": (0, 100), "grade": (1, 5), "rank": (1, 50)}, references={"segment_id": SEG}),
    # trees
    _m("tree_inventory", ("tree_id",), not_null=("x_2154", "y_2154", "status"),
       ranges={"height_m": (0, 60), "crown_area_m2": (0, None), "dbh_cm": (0, 700), "lean_deg": (0, 90)},
       in_set={"risk_rating": RATINGS}),
    _m("tree_changes", ("tree_id", "epoch"), not_null=("status",)),
    _m("canopy_by_quartier", ("quartier",), ranges={"canopy_cover_pct": (0, 100), "trees": (0, None)}),
    _m("trees_by_quartier", ("quartier",), ranges={"register_trees": (0, None)}),
    _m("tree_risk_register", ("tree_id",), not_null=("risk_rating", "risk_score", "rank"),
       in_set={"risk_rating": RATINGS}, ranges={"rank": (1, None)}),
    # administration
    _m("dsp_revenue", ("contract_id", "year"), not_null=("revenue_eur",), ranges={"revenue_eur": (0, None)},
       references=CONTRACT),
    _m("dsp_asset_inventory", ("contract_id", "year", "code"), references=CONTRACT),
    _m("dsp_complaint_counts", ("contract_id", "year", "code"), ranges={"count": (0, None)}, references=CONTRACT),
    _m("dsp_investment_plan", ("contract_id", "year", "code"), references=CONTRACT),
    _m("dsp_tariff_changes", ("contract_id", "year", "code"), ranges={"price": (0, None)}, references=CONTRACT),
    _m("meeting_actions", ("doc_id", "action_no"), not_null=("action",)),
]}
