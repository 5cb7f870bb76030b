"""The five communes in the demo (simulated): what joining their streets to the agglomeration's
network and giving them bins costs.

Prints, for the demo city as the previous session left it (commune grids not joined, no bins
there) and as it is now (joined by a road each, two bins per commune quartier): segments, street
km, bins, road-survey frames of the three campaigns (the roads chain's work scales with them),
and the collection day of one fleet across communes: the same 57 selected bins (a demo-day-sized
selection, seeded), plus, now, one bin of each other commune (what their residents' overflow
reports make due), planned by the platform's VRP with the demo's deterministic limit
(models/waste/planning.py plan_routes, solution_limit 1000). Ratios now / before in the same
process, with CPU time and the 1-minute load average.

    PYTHONPATH=. python bench/communes_bench.py
    PYTHONPATH=. python bench/communes_bench.py --published SERVING_PATH   # after `make run`

With `--published` it reads what a run published instead (the agglomeration DuckDB file and
`communes/*.duckdb` beside it): how many tables carry `commune`, how many stay agglomeration-wide,
the rows per commune value (agglomeration level and NULL included), and per commune file its
tables, its rows and any row of another commune (must be 0).
"""

from __future__ import annotations

import os
import time

import numpy as np


def _city(joined: bool):
    import models.simulator.city as C

    if joined:
        return C.build_city("demo", 42)
    orig, nb = C._connect, C.BINS_PER_COMMUNE_QUARTIER
    C._connect, C.BINS_PER_COMMUNE_QUARTIER = (lambda *a, **k: None), 0
    try:
        return C.build_city("demo", 42)
    finally:
        C._connect, C.BINS_PER_COMMUNE_QUARTIER = orig, nb


def _frames(city) -> int:
    from models.simulator.common import sub_seed
    from models.simulator.roads import CAMPAIGNS, _segment_states, plan_campaign

    rng = np.random.default_rng(sub_seed(city.seed, "roads"))
    states = _segment_states(city, rng)
    bonus = np.array([0.35 if s.road_class in ("primary", "secondary") else 0.0 for s in city.segments])
    return sum(len(plan_campaign(city, ci, states, rng, bonus)["frames"]) for ci in range(len(CAMPAIGNS)))


def _collection(city, extra: list[str]):
    from models.waste import network as N
    from models.waste import planning as P

    rng = np.random.default_rng(5)
    cannes = [b for b in city.bins if b.bin_id <= "BIN-00150"]
    chosen = [cannes[i] for i in sorted(rng.choice(len(cannes), 57, replace=False))]
    chosen += [b for b in city.bins if b.bin_id in extra]
    stops = [P.Stop(b.bin_id, b.waste_stream, b.x, b.y, None, kg=0.8 * b.capacity_l * P.DENSITY_KG_L[b.waste_stream],
                    litres_compacted=0.8 * b.capacity_l / P.COMPACTION[b.waste_stream]) for b in chosen]
    depot = next(p for p in city.places if p.kind == "depot")
    disp = next(p for p in city.places if p.kind == "disposal")
    s = city.segments
    net = N.build_network([g.segment_id for g in s], [g.x0 for g in s], [g.y0 for g in s], [g.x1 for g in s],
                          [g.y1 for g in s], [g.speed_kmh for g in s])
    D, T, info = N.travel_matrices(net, np.r_[depot.x, disp.x, [b.x for b in chosen]],
                                   np.r_[depot.y, disp.y, [b.y for b in chosen]])
    fleet = P.Fleet([t["truck_id"] for t in city.trucks], [t["capacity_kg"] for t in city.trucks],
                    [t["capacity_m3"] * 1000 for t in city.trucks], int(7 * 3600))
    w0 = time.perf_counter()   # the search runs in worker processes: wall time, with the load beside it
    plan = P.plan_routes(stops, fleet, D, T, 300.0, solution_limit=1000)
    return plan, time.perf_counter() - w0, info


def main() -> None:
    rows = {}
    for label, joined in (("before", False), ("now", True)):
        c0 = time.process_time()
        city = _city(joined)
        commune_of = {q.name: q.commune for q in city.quartiers}
        extra = []
        for commune in ("Le Cannet", "Mougins", "Mandelieu-la-Napoule", "Théoule-sur-Mer"):
            theirs = [b.bin_id for b in city.bins if commune_of[b.quartier] == commune]
            extra += theirs[:1]
        plan, solve_cpu, info = _collection(city, extra)
        km = plan.info.get("distance_m", 0) / 1000
        rows[label] = {"segments": len(city.segments), "street_km": round(city.street_km, 1), "bins": len(city.bins),
                       "survey_frames": _frames(city), "stops": len(plan.stops), "dropped": len(plan.dropped),
                       "vrp_status": plan.solution.status, "route_km": round(km, 1),
                       "bridge_links": info["bridge_links"], "vrp_wall_s": round(solve_cpu, 1),
                       "cpu_s": round(time.process_time() - c0, 1), "load": round(os.getloadavg()[0], 1),
                       "commune_bins_planned": sum(1 for r in plan.stops if r.get("bin_id") in extra)}
        print(label, rows[label], flush=True)
    for k in ("street_km", "bins", "survey_frames", "route_km", "vrp_wall_s"):
        b, n = rows["before"][k], rows["now"][k]
        print(f"{k}: now / before = {n / b:.3f}" if b else f"{k}: {b} -> {n}")


def published(path: str) -> None:
    """What a run published, per commune (see the module docstring)."""
    from pathlib import Path

    import duckdb

    t0 = time.process_time()
    with duckdb.connect(path, read_only=True) as con:
        tables = con.execute("SELECT schema_name, table_name FROM main.lakehouse_catalog ORDER BY 1, 2").fetchall()
        placed, wide, per = [], [], {}
        for schema, table in tables:
            cols = [r[0] for r in con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()]
            if "commune" not in cols:
                wide.append(f"{schema}.{table}")
                continue
            placed.append(f"{schema}.{table}")
            for commune, n in con.execute(f'SELECT commune, count(*) FROM "{schema}"."{table}" GROUP BY 1').fetchall():
                per.setdefault(commune or "(NULL)", {})[f"{schema}.{table}"] = n
    print(f"agglomeration file {path}: {len(tables)} tables, {len(placed)} carry commune, {len(wide)} agglomeration-wide")
    print("  agglomeration-wide:", ", ".join(wide))
    for commune, t in sorted(per.items()):
        print(f"  commune {commune}: {sum(t.values())} rows in {len(t)} tables")
    for f in sorted((Path(path).parent / "communes").glob("*.duckdb")):
        with duckdb.connect(str(f), read_only=True) as con:
            held = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                               "WHERE table_schema <> 'main'").fetchall()
            name = con.execute("SELECT DISTINCT commune FROM main.lakehouse_catalog").fetchone()[0]
            rows = other = nonempty = 0
            for schema, table in held:
                n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                rows, nonempty = rows + n, nonempty + (n > 0)
                other += con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE commune IS DISTINCT FROM ?',
                                     [name]).fetchone()[0]
        print(f"  file {f.name}: {len(held)} tables ({nonempty} non-empty), {rows} rows, rows of another commune: {other}")
    print(f"cpu {time.process_time() - t0:.1f} s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--published":
        published(sys.argv[2])
    else:
        main()
