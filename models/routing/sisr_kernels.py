"""Compiled kernels of the whole-plan ruin-and-recreate search (:mod:`models.routing.ruin_recreate`).

SISR (Christiaens and Vanden Berghe 2020, "Slack induction by string removals for vehicle routing
problems"): remove strings of consecutive stops from a few routes near a seed stop, put them back
one by one at their cheapest position (granular: only next to each stop's nearest stops, each
position skipped with a small "blink" probability), and accept the new plan by simulated
annealing with a geometric temperature over the iteration budget. Numba ``@njit(cache=True)`` on
flat integer arrays (plus a shift length on driving and service time): node 0 is the depot, nodes 1..n-1 the stops; route ``k`` is
``rt[k, :ln[k]]``. Plain capacitated problems only (kg and litre capacities, a fleet size, a shift length; no time
windows).

Deterministic: the only randomness is numba's generator, seeded by the caller; no clock.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def route_cost(D, rt, k, m):
    """Distance of route ``k`` (``m`` stops) from the depot and back."""
    if m == 0:
        return 0
    c = D[0, rt[k, 0]] + D[rt[k, m - 1], 0]
    for i in range(m - 1):
        c += D[rt[k, i], rt[k, i + 1]]
    return c


@njit(cache=True)
def route_duration(T, svc, rt, k, m):
    """Driving time of route ``k`` plus the service times of its stops (the shift it takes)."""
    if m == 0:
        return 0
    t = T[0, rt[k, 0]] + T[rt[k, m - 1], 0] + svc[rt[k, 0]]
    for i in range(m - 1):
        t += T[rt[k, i], rt[k, i + 1]] + svc[rt[k, i + 1]]
    return t


@njit(cache=True)
def seed_rng(seed):
    np.random.seed(seed)


@njit(cache=True)
def _reindex(rt, ln, rid, pos, k):
    for i in range(ln[k]):
        c = rt[k, i]
        rid[c] = k
        pos[c] = i


@njit(cache=True)
def _backup(k, it, stamp, touched, nt, rt, ln, load, vol, rcost, rdur, bk_rt, bk_ln, bk_load, bk_vol, bk_cost,
            bk_dur):
    if stamp[k] == it:
        return nt
    stamp[k] = it
    bk_dur[k] = rdur[k]
    for i in range(ln[k]):
        bk_rt[k, i] = rt[k, i]
    bk_ln[k] = ln[k]
    bk_load[k] = load[k]
    bk_vol[k] = vol[k]
    bk_cost[k] = rcost[k]
    touched[nt] = k
    return nt + 1


@njit(cache=True)
def _insert_at(D, T, svc, q, w, rt, ln, rid, pos, load, vol, rcost, rdur, k, p, c, delta):
    m = ln[k]
    prev = rt[k, p - 1] if p > 0 else 0
    nxt = rt[k, p] if p < m else 0
    rdur[k] += T[prev, c] + T[c, nxt] - T[prev, nxt] + svc[c]
    for i in range(m, p, -1):
        rt[k, i] = rt[k, i - 1]
        pos[rt[k, i]] = i
    rt[k, p] = c
    pos[c] = p
    rid[c] = k
    ln[k] = m + 1
    load[k] += q[c]
    vol[k] += w[c]
    rcost[k] += delta


@njit(cache=True)
def _best_position(D, T, svc, tmax, q, w, Q, W, gran, rt, ln, rid, pos, load, vol, rdur, c, blink, full):
    """Cheapest (delta, route, position) for stop ``c``: next to its granular neighbours, or in
    every route when ``full``; (big, -1, -1) when no route with room (kg, litres, shift) exists."""
    best = np.int64(1) << 60
    bk = -1
    bp = -1
    if not full:
        for j in range(gran.shape[1]):
            v = gran[c, j]
            k = rid[v]
            if k < 0:
                continue
            if load[k] + q[c] > Q or vol[k] + w[c] > W:
                continue
            p = pos[v]
            prev = rt[k, p - 1] if p > 0 else 0
            nxt = rt[k, p + 1] if p < ln[k] - 1 else 0
            if np.random.random() >= blink:
                d = D[prev, c] + D[c, v] - D[prev, v]
                if d < best and rdur[k] + T[prev, c] + T[c, v] - T[prev, v] + svc[c] <= tmax:
                    best, bk, bp = d, k, p
            if np.random.random() >= blink:
                d = D[v, c] + D[c, nxt] - D[v, nxt]
                if d < best and rdur[k] + T[v, c] + T[c, nxt] - T[v, nxt] + svc[c] <= tmax:
                    best, bk, bp = d, k, p + 1
    else:
        for k in range(rt.shape[0]):
            m = ln[k]
            if m == 0 or load[k] + q[c] > Q or vol[k] + w[c] > W:
                continue
            prev = 0
            for p in range(m + 1):
                nxt = rt[k, p] if p < m else 0
                d = D[prev, c] + D[c, nxt] - D[prev, nxt]
                if d < best and rdur[k] + T[prev, c] + T[c, nxt] - T[prev, nxt] + svc[c] <= tmax:
                    best, bk, bp = d, k, p
                prev = nxt
    return best, bk, bp


@njit(cache=True)
def sisr_chunk(D, T, svc, tmax, q, w, Q, W, adj, gran, rt, ln, rid, pos, load, vol, rcost, rdur, state, best_rt,
               best_ln, it0, it1, total, t0, tf, cbar, lmax, blink, beta):
    """Run iterations ``it0 .. it1-1`` of ``total`` on the plan (modified in place).

    ``T`` / ``svc`` / ``tmax``: travel times, service times and the shift length (route duration =
    driving plus service, no time windows); ``state`` (int64): [current cost, best cost, accepted, new bests, failed recreates]; the best
    plan is kept in ``best_rt`` / ``best_ln``. Temperature ``t0 * (tf / t0) ** (it / total)``.
    """
    K = rt.shape[0]
    n = D.shape[0]
    ncust = n - 1
    stamp = np.full(K, -1, np.int64)
    ruined = np.full(K, -1, np.int64)
    touched = np.zeros(K, np.int64)
    bk_rt = np.zeros_like(rt)
    bk_ln = np.zeros_like(ln)
    bk_load = np.zeros_like(load)
    bk_vol = np.zeros_like(vol)
    bk_cost = np.zeros_like(rcost)
    bk_dur = np.zeros_like(rdur)
    removed = np.zeros(n, np.int64)
    keys = np.zeros(n, np.float64)
    keep = np.zeros(rt.shape[1], np.int64)
    for it in range(it0, it1):
        cur0 = state[0]
        nt = 0
        nrem = 0
        # ---- ruin: strings from ks routes around a seed stop
        nroutes = 0
        for k in range(K):
            if ln[k] > 0:
                nroutes += 1
        avg_card = ncust / max(1, nroutes)
        ls_max = min(lmax, avg_card)
        ks_max = 4.0 * cbar / (1.0 + ls_max) - 1.0
        ks = int(np.random.random() * ks_max) + 1
        seed = 1 + np.random.randint(ncust)
        nruined = 0
        for j in range(adj.shape[1]):
            if nruined >= ks:
                break
            c = adj[seed, j]
            k = rid[c]
            if k < 0 or ruined[k] == it:
                continue
            m = ln[k]
            lmax_t = min(float(m), ls_max)
            ll = int(np.random.random() * lmax_t) + 1
            nt = _backup(k, it, stamp, touched, nt, rt, ln, load, vol, rcost, rdur, bk_rt, bk_ln, bk_load, bk_vol,
                         bk_cost, bk_dur)
            pc = pos[c]
            # keep[i] = 1: position i stays
            for i in range(m):
                keep[i] = 1
            if m - ll < 1 or np.random.random() < 0.5:
                lo = max(0, pc - ll + 1)
                hi = min(pc, m - ll)
                s = lo + np.random.randint(hi - lo + 1)
                for i in range(s, s + ll):
                    keep[i] = 0
            else:
                mm = 1
                while mm < m - ll and np.random.random() > beta:
                    mm += 1
                tot = ll + mm
                lo = max(0, pc - tot + 1)
                hi = min(pc, m - tot)
                s = lo + np.random.randint(hi - lo + 1)
                off = np.random.randint(ll + 1)
                for i in range(s, s + tot):
                    if i < s + off or i >= s + off + mm:
                        keep[i] = 0
            x = 0
            for i in range(m):
                cc = rt[k, i]
                if keep[i] == 1:
                    rt[k, x] = cc
                    pos[cc] = x
                    x += 1
                else:
                    removed[nrem] = cc
                    nrem += 1
                    rid[cc] = -1
                    load[k] -= q[cc]
                    vol[k] -= w[cc]
            ln[k] = x
            rdur[k] = route_duration(T, svc, rt, k, x)
            newc = route_cost(D, rt, k, x)
            state[0] += newc - rcost[k]
            rcost[k] = newc
            ruined[k] = it
            nruined += 1
        # ---- recreate: one of the four orders (random 4, demand 4, far 2, close 1)
        r = np.random.random() * 11.0
        for i in range(nrem):
            c = removed[i]
            if r < 4.0:
                keys[i] = np.random.random()
            elif r < 8.0:
                keys[i] = -q[c] - 0.5 * np.random.random()
            elif r < 10.0:
                keys[i] = -D[0, c] - 0.5 * np.random.random()
            else:
                keys[i] = D[0, c] + 0.5 * np.random.random()
        order = np.argsort(keys[:nrem])
        failed = False
        for oi in range(nrem):
            c = removed[order[oi]]
            best, bk, bp = _best_position(D, T, svc, tmax, q, w, Q, W, gran, rt, ln, rid, pos, load, vol, rdur, c,
                                          blink, False)
            # an empty vehicle, when the fleet has one
            for k in range(K):
                if ln[k] == 0:
                    d = D[0, c] + D[c, 0]
                    if d < best and q[c] <= Q and w[c] <= W and T[0, c] + T[c, 0] + svc[c] <= tmax:
                        best, bk, bp = d, k, 0
                    break
            if bk < 0:
                best, bk, bp = _best_position(D, T, svc, tmax, q, w, Q, W, gran, rt, ln, rid, pos, load, vol, rdur, c,
                                              blink, True)
            if bk < 0:
                failed = True
                break
            nt = _backup(bk, it, stamp, touched, nt, rt, ln, load, vol, rcost, rdur, bk_rt, bk_ln, bk_load, bk_vol,
                         bk_cost, bk_dur)
            _insert_at(D, T, svc, q, w, rt, ln, rid, pos, load, vol, rcost, rdur, bk, bp, c, best)
            state[0] += best
        # ---- accept (simulated annealing) or restore the touched routes
        temp = t0 * (tf / t0) ** (it / total)
        if not failed and state[0] < cur0 - temp * np.log(1.0 - np.random.random()):
            state[2] += 1
            if state[0] < state[1]:
                state[1] = state[0]
                state[3] += 1
                for k in range(K):
                    for i in range(ln[k]):
                        best_rt[k, i] = rt[k, i]
                    best_ln[k] = ln[k]
        else:
            if failed:
                state[4] += 1
            for t in range(nt):
                k = touched[t]
                # stops inserted here by this iteration lose their route: the restore re-sets
                for i in range(ln[k]):
                    rid[rt[k, i]] = -1
            for t in range(nt):
                k = touched[t]
                for i in range(bk_ln[k]):
                    rt[k, i] = bk_rt[k, i]
                ln[k] = bk_ln[k]
                load[k] = bk_load[k]
                vol[k] = bk_vol[k]
                rcost[k] = bk_cost[k]
                rdur[k] = bk_dur[k]
                _reindex(rt, ln, rid, pos, k)
            state[0] = cur0
    return state
