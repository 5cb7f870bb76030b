"""Route-pair improvement of a whole plan: the local search of hybrid genetic search in Python.

The sector searches (:mod:`models.routing.decompose`) only ever move a stop between routes of
one sector. This descent works on the whole plan between and after the sector passes, with the
moves of HGS (Vidal 2022, "Hybrid genetic search for the CVRP: open-source implementation and
SWAP* neighborhood"): for each stop ``u`` and each of its ``neighbours`` nearest stops ``v``,
relocate ``u`` (or ``u`` and its successor) next to ``v``, swap ``u`` and ``v``, exchange the
route tails after ``u`` and ``v`` (2-opt*), and, on a symmetric matrix, reverse the path between
``u`` and ``v`` (2-opt); then SWAP* on every pair of routes whose polar sectors overlap: ``u``
and ``v`` change routes, each inserted at its best position in the other route (not
necessarily where the other was). First improvement, until no move improves: deterministic (the
order of the stops comes from a fixed seed) and bounded by the plan, not the clock.

Only improving moves that keep both routes feasible are applied: capacities in kg and litres are
checked in O(1); with time windows or a shift length each candidate route is also checked by
:func:`models.routing.construction.route_feasible`. Plain problems only (one vehicle type, no
reloads or trip chains), as :func:`models.routing.decompose.decomposable` says.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np

from models.routing.construction import route_feasible
from models.routing.problem import VRPProblem

__all__ = ["improve_routes"]


class _Plan:
    """Routes as ``[depot, c1, ..., ck, depot]`` with each stop's route and position, the load
    (kg, litres) of each route and its prefix loads."""

    def __init__(self, problem: VRPProblem, routes: Sequence[Sequence[int]]):
        self.p = problem
        self.dep = problem.depot
        self.D = np.asarray(problem.distance, dtype=np.int64).tolist()
        n = problem.num_nodes
        self.q = [int(x) for x in problem.demands] if problem.demands is not None else [0] * n
        self.w = [int(x) for x in problem.volumes] if problem.volumes is not None else None
        self.Q = int(problem.vehicle_capacities[0])
        self.W = int(problem.vehicle_volume_capacities[0]) if self.w is not None else 0
        self.timed = problem.needs_time_dimension
        self.mismatches = 0
        self.routes = [[self.dep, *r, self.dep] for r in routes if r]
        self.route_of = [-1] * n
        self.pos = [0] * n
        self.load = [0] * len(self.routes)
        self.vol = [0] * len(self.routes)
        self.pre = [[] for _ in self.routes]
        self.prew = [[] for _ in self.routes]
        for k in range(len(self.routes)):
            self.refresh(k)

    def refresh(self, k: int) -> None:
        r = self.routes[k]
        acc = accw = 0
        pre, prew = [], []
        for i, c in enumerate(r):
            if i and i < len(r) - 1:
                self.route_of[c] = k
                self.pos[c] = i
                acc += self.q[c]
                if self.w is not None:
                    accw += self.w[c]
            pre.append(acc)
            prew.append(accw)
        self.pre[k], self.prew[k] = pre, prew
        self.load[k], self.vol[k] = acc, accw

    def cost(self, r: Sequence[int]) -> int:
        D = self.D
        return sum(D[a][b] for a, b in zip(r, r[1:]))

    def fits(self, kg: int, litres: int) -> bool:
        return kg <= self.Q and (self.w is None or litres <= self.W)

    def pred(self, u: int) -> int:
        return self.routes[self.route_of[u]][self.pos[u] - 1]

    def succ(self, u: int) -> int:
        return self.routes[self.route_of[u]][self.pos[u] + 1]

    def commit(self, changes: dict[int, list[int]], delta: int) -> bool:
        """Replace routes ``changes`` (index -> full route) when the recomputed gain is the
        predicted ``delta`` < 0 and each new route is feasible; returns whether applied."""
        before = sum(self.cost(self.routes[k]) for k in changes)
        after = sum(self.cost(r) for r in changes.values())
        if after - before != delta or delta >= 0:
            self.mismatches += after - before != delta
            return False
        if self.timed and not all(route_feasible(self.p, r[1:-1]) for r in changes.values() if len(r) > 2):
            return False
        for k, r in changes.items():
            self.routes[k] = r
            self.refresh(k)
        return True

    def plain_routes(self) -> list[list[int]]:
        return [r[1:-1] for r in self.routes if len(r) > 2]


def _neighbours(problem: VRPProblem, k: int) -> list[list[int]]:
    d = np.asarray(problem.distance, dtype=float)
    d = (d + d.T) / 2
    cust = np.asarray(problem.customers())
    sub = d[np.ix_(cust, cust)]
    np.fill_diagonal(sub, np.inf)
    near = np.argsort(sub, axis=1, kind="stable")[:, :min(k, len(cust) - 1)]
    out: list[list[int]] = [[] for _ in range(problem.num_nodes)]
    for a, row in enumerate(near):
        out[int(cust[a])] = [int(cust[b]) for b in row]
    return out


def _node_moves(pl: _Plan, u: int, v: int, symmetric: bool) -> bool:
    """Try the HGS moves of stop ``u`` around its neighbour ``v``; apply the first improving
    feasible one."""
    D, dep = pl.D, pl.dep
    ru, rv = pl.route_of[u], pl.route_of[v]
    R1, R2 = pl.routes[ru], pl.routes[rv]
    iu, iv = pl.pos[u], pl.pos[v]
    pu, su, pv, sv = R1[iu - 1], R1[iu + 1], R2[iv - 1], R2[iv + 1]
    same = ru == rv
    qu = pl.q[u]
    wu = pl.w[u] if pl.w is not None else 0
    remove_u = D[pu][su] - D[pu][u] - D[u][su]
    # relocate u after v, then u before v (after pv)
    for a, b, ia in ((v, sv, iv), (pv, v, iv - 1)):
        if a == u or b == u:
            continue
        if not same and not pl.fits(pl.load[rv] + qu, pl.vol[rv] + wu):
            break
        delta = remove_u + D[a][u] + D[u][b] - D[a][b]
        if delta < 0:
            if same:
                r = R1[:iu] + R1[iu + 1:]
                j = r.index(a)
                changes = {ru: r[:j + 1] + [u] + r[j + 1:]}
            else:
                changes = {ru: R1[:iu] + R1[iu + 1:], rv: R2[:ia + 1] + [u] + R2[ia + 1:]}
            if pl.commit(changes, delta):
                return True
    # relocate (u, su) after v
    if su != dep and v != su and sv != u and v != pu:
        x = R1[iu + 2]
        qq = qu + pl.q[su]
        ww = wu + (pl.w[su] if pl.w is not None else 0)
        if same or pl.fits(pl.load[rv] + qq, pl.vol[rv] + ww):
            delta = D[pu][x] - D[pu][u] - D[su][x] + D[v][u] + D[su][sv] - D[v][sv]
            if delta < 0:
                if same:
                    r = R1[:iu] + R1[iu + 2:]
                    j = r.index(v)
                    changes = {ru: r[:j + 1] + [u, su] + r[j + 1:]}
                else:
                    changes = {ru: R1[:iu] + R1[iu + 2:], rv: R2[:iv + 1] + [u, su] + R2[iv + 1:]}
                if pl.commit(changes, delta):
                    return True
    # swap u and v
    if not same:
        qv = pl.q[v]
        wv = pl.w[v] if pl.w is not None else 0
        if pl.fits(pl.load[ru] - qu + qv, pl.vol[ru] - wu + wv) and pl.fits(pl.load[rv] - qv + qu, pl.vol[rv] - wv + wu):
            delta = (D[pu][v] + D[v][su] - D[pu][u] - D[u][su]) + (D[pv][u] + D[u][sv] - D[pv][v] - D[v][sv])
            if delta < 0:
                a = list(R1)
                b = list(R2)
                a[iu], b[iv] = v, u
                if pl.commit({ru: a, rv: b}, delta):
                    return True
        # 2-opt*: tails after u and after v exchanged
        k1 = pl.pre[ru][iu] + pl.load[rv] - pl.pre[rv][iv]
        k2 = pl.pre[rv][iv] + pl.load[ru] - pl.pre[ru][iu]
        w1 = pl.prew[ru][iu] + pl.vol[rv] - pl.prew[rv][iv]
        w2 = pl.prew[rv][iv] + pl.vol[ru] - pl.prew[ru][iu]
        if pl.fits(k1, w1) and pl.fits(k2, w2):
            delta = D[u][sv] + D[v][su] - D[u][su] - D[v][sv]
            if delta < 0 and pl.commit({ru: R1[:iu + 1] + R2[iv + 1:], rv: R2[:iv + 1] + R1[iu + 1:]}, delta):
                return True
        if symmetric:
            # 2-opt* with reversal: u then v and the head of v's route backwards; su's tail
            # then the reversed ... : r1 = head(u) + reversed(head(v)), r2 = reversed(tail(u)) + tail(v)
            k1 = pl.pre[ru][iu] + pl.pre[rv][iv]
            w1 = pl.prew[ru][iu] + pl.prew[rv][iv]
            k2 = pl.load[ru] + pl.load[rv] - k1
            w2 = pl.vol[ru] + pl.vol[rv] - w1
            if pl.fits(k1, w1) and pl.fits(k2, w2):
                delta = D[u][v] + D[su][sv] - D[u][su] - D[v][sv]
                if delta < 0:
                    n1 = R1[:iu + 1] + R2[iv::-1]
                    n2 = R1[:iu:-1] + R2[iv + 1:]
                    if pl.commit({ru: n1, rv: n2}, delta):
                        return True
    elif symmetric:
        # 2-opt inside the route: reverse the path between su and v (u before v)
        if iu < iv and v != su:
            delta = D[u][v] + D[su][sv] - D[u][su] - D[v][sv]
            if delta < 0 and pl.commit({ru: R1[:iu + 1] + R1[iu + 1:iv + 1][::-1] + R1[iv + 1:]}, delta):
                return True
    return False


def _sector(pl: _Plan, k: int, angle: list[int]) -> tuple[int, int]:
    """Smallest circular sector (angles 0..65535) holding the stops of route ``k`` (as HGS's
    CircleSector: extended stop by stop)."""
    r = pl.routes[k][1:-1]
    start = end = angle[r[0]]
    for c in r[1:]:
        a = angle[c]
        if (a - start) % 65536 > (end - start) % 65536:
            if (start - a) % 65536 < (a - end) % 65536:
                start = a
            else:
                end = a
    return start, end


def _overlap(s1: tuple[int, int], s2: tuple[int, int]) -> bool:
    return ((s2[0] - s1[0]) % 65536 <= (s1[1] - s1[0]) % 65536
            or (s1[0] - s2[0]) % 65536 <= (s2[1] - s2[0]) % 65536)


def _top3(pl: _Plan, u: int, route: list[int]) -> list[tuple[int, int]]:
    """The three cheapest (cost, position after which) insertions of ``u`` in ``route``."""
    D = pl.D
    best = sorted((D[a][u] + D[u][b] - D[a][b], i) for i, (a, b) in enumerate(zip(route, route[1:])))
    return best[:3]


def _swap_star(pl: _Plan, ra: int, rb: int) -> bool:
    """SWAP* between routes ``ra`` and ``rb``: the best exchange of one stop each, each inserted
    at its cheapest position in the other route; applied when it improves and is feasible."""
    D = pl.D
    A, B = pl.routes[ra], pl.routes[rb]
    if len(A) < 3 or len(B) < 3:
        return False
    rem_a = {u: D[A[i - 1]][A[i + 1]] - D[A[i - 1]][u] - D[u][A[i + 1]] for i, u in enumerate(A) if 0 < i < len(A) - 1}
    rem_b = {v: D[B[i - 1]][B[i + 1]] - D[B[i - 1]][v] - D[v][B[i + 1]] for i, v in enumerate(B) if 0 < i < len(B) - 1}
    top_a = {u: _top3(pl, u, B) for u in rem_a}
    top_b = {v: _top3(pl, v, A) for v in rem_b}
    la, lb, wa, wb = pl.load[ra], pl.load[rb], pl.vol[ra], pl.vol[rb]
    w = pl.w
    best = (0, None)
    for u, du in rem_a.items():
        iu = pl.pos[u]
        for v, dv in rem_b.items():
            wu = w[u] if w is not None else 0
            wv = w[v] if w is not None else 0
            if not (pl.fits(la - pl.q[u] + pl.q[v], wa - wu + wv) and pl.fits(lb - pl.q[v] + pl.q[u], wb - wv + wu)):
                continue
            iv = pl.pos[v]
            # u into B without v: in v's place, or a top-3 position not next to v
            ins_u, at_u = D[B[iv - 1]][u] + D[u][B[iv + 1]] - D[B[iv - 1]][B[iv + 1]], iv - 1
            for c, i in top_a[u]:
                if i != iv - 1 and i != iv and c < ins_u:
                    ins_u, at_u = c, i
                    break
            ins_v, at_v = D[A[iu - 1]][v] + D[v][A[iu + 1]] - D[A[iu - 1]][A[iu + 1]], iu - 1
            for c, i in top_b[v]:
                if i != iu - 1 and i != iu and c < ins_v:
                    ins_v, at_v = c, i
                    break
            delta = du + dv + ins_u + ins_v
            if delta < best[0]:
                best = (delta, (u, v, at_u, at_v))
    if best[1] is None:
        return False
    u, v, at_u, at_v = best[1]
    iu, iv = pl.pos[u], pl.pos[v]
    # insert after the node at position at_* of the original route, then drop the removed stop
    na = A[:at_v + 1] + [v] + A[at_v + 1:]
    na.remove(u)
    nb = B[:at_u + 1] + [u] + B[at_u + 1:]
    nb.remove(v)
    return pl.commit({ra: na, rb: nb}, best[0])


def improve_routes(problem: VRPProblem, routes: Sequence[Sequence[int]], neighbours: int = 20,
                   seed: int = 0, coords: np.ndarray | None = None, max_loops: int = 50) -> tuple[list[list[int]], dict]:
    """Descend from depot-less ``routes`` with the moves above until none improves (or
    ``max_loops`` loops over the stops); returns the routes and a summary (distance before and
    after, loops, moves applied)."""
    pl = _Plan(problem, routes)
    before = sum(pl.cost(r) for r in pl.routes)
    D = np.asarray(problem.distance)
    symmetric = bool(np.array_equal(D, D.T))
    near = _neighbours(problem, neighbours)
    order = list(problem.customers())
    rng = random.Random(seed)
    angle = None
    if coords is not None:
        xy = np.asarray(coords, dtype=float)
        rel = xy - xy[problem.depot]
        angle = [int((math.atan2(y, x) % (2 * math.pi)) / (2 * math.pi) * 65536) % 65536 for x, y in rel]
    moves = swaps = loops = 0
    improved = True
    while improved and loops < max_loops:
        improved = False
        loops += 1
        rng.shuffle(order)
        for u in order:
            for v in near[u]:
                if _node_moves(pl, u, v, symmetric):
                    moves += 1
                    improved = True
        if angle is not None:
            secs = [_sector(pl, k, angle) if len(pl.routes[k]) > 2 else None for k in range(len(pl.routes))]
            for a in range(len(pl.routes)):
                for b in range(a + 1, len(pl.routes)):
                    if secs[a] is None or secs[b] is None or not _overlap(secs[a], secs[b]):
                        continue
                    if _swap_star(pl, a, b):
                        swaps += 1
                        improved = True
                        secs[a], secs[b] = _sector(pl, a, angle), _sector(pl, b, angle)
    out = pl.plain_routes()
    after = sum(pl.cost(r) for r in pl.routes)
    return out, {"before": before, "after": after, "loops": loops, "moves": moves, "swap_star": swaps,
                 "mismatches": pl.mismatches}
