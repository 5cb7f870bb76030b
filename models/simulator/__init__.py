"""The city simulator: a generative model of Cannes that writes, into the landing zone, what
each municipal service really receives (docs/LANDING.md), and the ground truth beside it.

Deterministic for a (profile, seed) pair: re-running writes byte-identical files (and skips
files that already hold those bytes), so the ingestion sensors see nothing new.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .city import PROFILES, City, Profile, build_city

__all__ = ["PROFILES", "City", "Profile", "build_city", "simulate", "simulated_marker"]

MARKER = ".simulated.json"


def simulate(profile: str = "demo", seed: int = 42, landing: Path | str = "data/landing",
             ground_truth: Path | str = "data/ground_truth", bad_inputs: bool = False,
             parts: tuple[str, ...] = ("roads", "trees", "waste", "admin", "citizens"),
             progress=None) -> dict:
    """Simulate the city and write every delivery. Returns counts per part and seconds taken."""
    from .reference import write_reference

    landing, ground_truth = Path(landing), Path(ground_truth)
    say = progress or (lambda msg: None)
    city = build_city(profile, seed)
    stats: dict = {}
    t = time.perf_counter()
    stats["reference"] = write_reference(city, landing)
    stats["reference"]["seconds"] = round(time.perf_counter() - t, 2)
    say(f"reference: {stats['reference']}")
    for part in parts:
        t = time.perf_counter()
        if part == "roads":
            from .roads import simulate_roads as fn
        elif part == "trees":
            from .trees import simulate_trees as fn
        elif part == "waste":
            from .waste import simulate_waste as fn
        elif part == "admin":
            from .admin import simulate_admin as fn
        elif part == "citizens":
            from .citizens import simulate_citizens as fn
        else:
            raise ValueError(f"unknown simulator part {part!r}; expected roads, trees, waste, admin or citizens")
        stats[part] = dict(fn(city, landing, ground_truth))
        if part == "admin":   # the buyers' DECP exports and the holders' SIRENE extract
            from .procurement import simulate_procurement
            stats[part].update(simulate_procurement(city, landing, ground_truth))
        stats[part]["seconds"] = round(time.perf_counter() - t, 2)
        say(f"{part}: {stats[part]}")
    if bad_inputs:
        from .bad_inputs import plant_bad_inputs
        stats["bad_inputs"] = plant_bad_inputs(city, landing)
        say(f"bad inputs: {stats['bad_inputs']}")
    marker = {"profile": city.profile.name, "seed": seed, "bad_inputs": bad_inputs, "parts": list(parts)}
    (landing / MARKER).write_text(json.dumps(marker))
    return stats


def simulated_marker(landing: Path | str) -> dict | None:
    """What was simulated into this landing zone, if anything."""
    p = Path(landing) / MARKER
    return json.loads(p.read_text()) if p.exists() else None
