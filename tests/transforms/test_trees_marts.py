"""The per-quartier tree marts name one main species even where several tie: the alphabetically
first, whatever the row order (Polars' mode() lists tied values in no fixed order, which made two
builds of the demo city differ in `trees_by_quartier` and `canopy_by_quartier`)."""

import random

import polars as pl

from transforms import trees as TT

QUARTIERS = pl.DataFrame({"name": ["Californie", "La Napoule"], "area_km2": [1.5, 2.0]})
# Californie: Washingtonia and Platanus tie (3 each, Olea 1); La Napoule: one clear winner
SPECIES = [("Californie", s) for s in ["Washingtonia robusta"] * 3 + ["Platanus x acerifolia"] * 3 + ["Olea europaea"]] \
    + [("La Napoule", s) for s in ["Pinus pinea"] * 2 + ["Olea europaea"]]


def _shuffled(seed: int) -> list[tuple[str, str]]:
    rows = list(SPECIES)
    random.Random(seed).shuffle(rows)
    return rows


def test_trees_by_quartier_breaks_a_species_tie_by_name_in_any_row_order():
    tiles = pl.DataFrame(schema={"epoch": pl.Utf8, "quartier": pl.Utf8, "point_count": pl.Int64})
    seen = set()
    for seed in range(25):
        rows = _shuffled(seed)
        reg = pl.DataFrame({"quartier": [q for q, _ in rows], "species": [s for _, s in rows],
                            "height_m": [10.0] * len(rows), "dbh_cm": [30.0] * len(rows)})
        out = TT.trees_by_quartier(reg, tiles, QUARTIERS)
        seen.add(tuple(out.sort("quartier")["main_species"].to_list()))
    assert seen == {("Platanus x acerifolia", "Pinus pinea")}


def test_canopy_by_quartier_breaks_a_species_tie_by_name_in_any_row_order():
    seen = set()
    for seed in range(25):
        rows = _shuffled(seed) + [("Californie", None)] * 4      # unknown species never win
        inv = pl.DataFrame({"quartier": [q for q, _ in rows], "species": [s for _, s in rows],
                            "status": ["present"] * len(rows), "crown_area_m2": [20.0] * len(rows),
                            "height_m": [10.0] * len(rows), "species_group": ["broadleaf"] * len(rows),
                            "risk_rating": ["Low"] * len(rows)})
        out = TT.canopy_by_quartier(inv, QUARTIERS)
        seen.add(tuple(out.sort("quartier")["main_register_species"].to_list()))
    assert seen == {("Platanus x acerifolia", "Pinus pinea")}
