"""Reference data every service shares (group `reference`): silver tables from the reference
deliveries."""


import polars as pl

from quality.checks import commune_known_check
from transforms import reference as T
from transforms import territory as TT

from .lake import Lake
from .layers import bronze, silver


def _quartiers(lake: Lake) -> pl.DataFrame | None:
    """The quartiers (each quartier's commune) as silver/quartiers holds them, computed from their
    bronze deliveries by the same transform (so these reference tables depend on bronze only and
    stay in the first wave of a run, before the checks that reference them); None before the
    first quartiers delivery."""
    return T.quartiers(lake.read("bronze", "quartiers")) if lake.exists("bronze", "quartiers") else None


@silver("quartiers", group="reference", deps=[bronze("quartiers")], keys=["code"])
def quartiers(lake: Lake):
    """Quartiers of Cannes: code, official name, area (km²), polygons in EPSG:2154 and WGS84."""
    return T.quartiers(lake.read("bronze", "quartiers"))


@silver("street_segments", group="reference", deps=[bronze("street_segments"), bronze("quartiers")], keys=["segment_id"])
def street_segments(lake: Lake):
    """Street segments: name, quartier, commune, road class, surface, length (m), end points (EPSG:2154)."""
    return T.street_segments(lake.read("bronze", "street_segments"), _quartiers(lake))


@silver("collection_points", group="reference", deps=[bronze("collection_points"), bronze("quartiers")], keys=["bin_id"])
def collection_points(lake: Lake):
    """Collection points (bins): segment, quartier, commune, position, capacity (L), waste stream."""
    return T.collection_points(lake.read("bronze", "collection_points"), _quartiers(lake))


@silver("places", group="reference", deps=[bronze("places"), bronze("quartiers")], keys=["place_id"])
def places(lake: Lake):
    """Places: depot, disposal facility, schools, playgrounds, bus stops, markets (market days); quartier, commune."""
    return T.places(lake.read("bronze", "places"), _quartiers(lake))


@silver("trucks", group="reference", deps=[bronze("trucks")], keys=["truck_id"])
def trucks(lake: Lake):
    """Collection trucks: capacity (kg, m³), shift start and length (h), depot."""
    return T.trucks(lake.read("bronze", "trucks"))


@silver("fixed_rounds", group="reference", deps=[bronze("fixed_rounds")], keys=["round_id", "bin_id"])
def fixed_rounds(lake: Lake):
    """Today's fixed weekly rounds: which truck empties which bin on which ISO weekday, in order."""
    return T.fixed_rounds(lake.read("bronze", "fixed_rounds"))


@silver("dsp_contracts", group="reference", deps=[bronze("dsp_contracts")], keys=["contract_id"])
def dsp_contracts(lake: Lake):
    """Public-service delegation contracts: delegate, type, dates, overhead cap (%), fee (EUR), the
    delegating authority's commune (or the agglomeration)."""
    return T.dsp_contracts(lake.read("bronze", "dsp_contracts"))


@silver("procurement_buyers", group="reference", deps=[bronze("procurement_buyers")], keys=["siret"])
def procurement_buyers(lake: Lake):
    """The territory's public buyers (DECP acheteur SIRET, SIREN, name) and the commune each buys for,
    or the agglomeration: how a procurement row gets its commune."""
    if not lake.exists("bronze", "procurement_buyers"):   # no list delivered: no buyer is placed
        return pl.DataFrame(schema=T.PROCUREMENT_BUYERS)
    return T.procurement_buyers(lake.read("bronze", "procurement_buyers"))


@silver("communes", group="reference", deps=[bronze("communes")], keys=["insee"])
def communes(lake: Lake):
    """Communes of the territory: INSEE code, name, area (km²), bounds and polygon rings in
    EPSG:2154, geometry in WGS84; data from elsewhere (LiDAR tiles) is accepted within 500 m of them."""
    # none delivered yet: an empty table, which its blocking check stops (no territory, no tile)
    bronze_rows = lake.read_or_empty("bronze", "communes", {})
    return TT.communes(bronze_rows) if bronze_rows.height else pl.DataFrame(schema=TT.COMMUNES)


@silver("city_calendar", group="reference", deps=[bronze("city_calendar")], keys=["kind", "name", "first_day"])
def city_calendar(lake: Lake):
    """The city's calendar: school-holiday periods (zone B) and city events, first and last day
    (inclusive), length (days). Public holidays are not delivered: the forecaster takes them from
    the `holidays` package. Empty (not a failure) while the city has delivered no calendar."""
    return T.city_calendar(lake.read("bronze", "city_calendar") if lake.exists("bronze", "city_calendar") else None)


ASSETS = [communes, quartiers, street_segments, collection_points, places, trucks, fixed_rounds, dsp_contracts,
          procurement_buyers, city_calendar]
# a DSP contract's or a buyer's commune that no reference commune bears: warned (its rows stay in
# the agglomeration file only)
CHECKS = [commune_known_check("dsp_contracts"), commune_known_check("procurement_buyers")]
