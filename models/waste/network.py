"""Travel distances and times between collection points along the street network.

Shortest paths (Dijkstra, scipy.sparse.csgraph) over the silver street segments, not straight
lines. Segment endpoints are graph nodes (rounded to 0.1 m so that touching segments share a
node); every point of interest (bin, depot, disposal facility) is inserted on a segment at its
projection and linked to both ends of it with the partial lengths. Streets are two-way. Travel
time uses each segment's speed limit times a congestion factor for a loaded truck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

TRUCK_SPEED_FACTOR = 0.6     # a refuse truck averages ~60% of the limit between stops
FALLBACK_DETOUR = 1.35       # used only between disconnected components (logged as such)
FALLBACK_SPEED_MS = 20 / 3.6


@dataclass
class Network:
    """Street graph: node coordinates and undirected edges with length (m) and time (s)."""

    xy: np.ndarray            # (n, 2)
    edges: np.ndarray         # (m, 2) node ids
    length_m: np.ndarray      # (m,)
    time_s: np.ndarray        # (m,)
    seg_x0: np.ndarray
    seg_y0: np.ndarray
    seg_x1: np.ndarray
    seg_y1: np.ndarray
    seg_speed_ms: np.ndarray
    seg_ids: list[str]


def build_network(segment_id, x0, y0, x1, y1, speed_kmh) -> Network:
    """A graph from segment endpoints (arrays of equal length)."""
    x0, y0, x1, y1 = (np.asarray(a, float) for a in (x0, y0, x1, y1))
    ends = np.round(np.r_[np.c_[x0, y0], np.c_[x1, y1]] * 10).astype(np.int64)
    uniq, inv = np.unique(ends, axis=0, return_inverse=True)
    inv = inv.ravel()
    s = len(x0)
    edges = np.c_[inv[:s], inv[s:]]
    length = np.hypot(x1 - x0, y1 - y0)
    speed = np.asarray(speed_kmh, float) / 3.6 * TRUCK_SPEED_FACTOR
    return Network(uniq / 10.0, edges, length, length / np.maximum(speed, 0.5), x0, y0, x1, y1, speed,
                   list(segment_id))


def project(net: Network, px, py, segment_index=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point, the segment it sits on (given, or the nearest), the position along it
    (0-1) and the distance to it (m)."""
    px, py = np.asarray(px, float), np.asarray(py, float)
    dx, dy = net.seg_x1 - net.seg_x0, net.seg_y1 - net.seg_y0
    l2 = np.maximum(dx * dx + dy * dy, 1e-9)
    if segment_index is None:
        seg = np.empty(len(px), dtype=np.int64)
        for k0 in range(0, len(px), 256):   # chunks keep the points x segments block small
            sl = slice(k0, k0 + 256)
            t = np.clip(((px[sl, None] - net.seg_x0) * dx + (py[sl, None] - net.seg_y0) * dy) / l2, 0, 1)
            d = np.hypot(px[sl, None] - net.seg_x0 - t * dx, py[sl, None] - net.seg_y0 - t * dy)
            seg[sl] = np.argmin(d, axis=1)
    else:
        seg = np.asarray(segment_index, dtype=np.int64)
    t = np.clip(((px - net.seg_x0[seg]) * dx[seg] + (py - net.seg_y0[seg]) * dy[seg]) / l2[seg], 0, 1)
    dist = np.hypot(px - net.seg_x0[seg] - t * dx[seg], py - net.seg_y0[seg] - t * dy[seg])
    return seg, t, dist


def travel_matrices(net: Network, px, py, segment_index=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Shortest-path distance (m) and time (s) matrices between the points (px, py).

    Each point is attached to its segment (``segment_index`` when known, else the nearest);
    the walk from the kerb to the segment is ignored. Pairs in different components of the
    graph fall back to straight line x 1.35 (counted in the returned info)."""
    px, py = np.asarray(px, float), np.asarray(py, float)
    p = len(px)
    seg, t, off = project(net, px, py, segment_index)
    n0 = len(net.xy)
    a, b = net.edges[seg, 0], net.edges[seg, 1]
    L = net.length_m[seg]
    sp = net.seg_speed_ms[seg]
    pn = n0 + np.arange(p)
    rows = np.r_[net.edges[:, 0], pn, pn]
    cols = np.r_[net.edges[:, 1], a, b]
    dlen = np.r_[net.length_m, t * L, (1 - t) * L] + 1e-3
    dtim = np.r_[net.time_s, t * L / sp, (1 - t) * L / sp] + 1e-3
    # two points on the same segment: link them directly too
    same = {}
    for i, s in enumerate(seg):
        same.setdefault(int(s), []).append(i)
    extra_r, extra_c, extra_l, extra_t = [], [], [], []
    for s, members in same.items():
        for ii in range(len(members)):
            for jj in range(ii + 1, len(members)):
                i, j = members[ii], members[jj]
                d = abs(t[i] - t[j]) * L[i]
                extra_r.append(n0 + i); extra_c.append(n0 + j); extra_l.append(d + 1e-3)
                extra_t.append(d / sp[i] + 1e-3)
    rows = np.r_[rows, extra_r].astype(np.int64); cols = np.r_[cols, extra_c].astype(np.int64)
    dlen = np.r_[dlen, extra_l]; dtim = np.r_[dtim, extra_t]
    N = n0 + p
    G_len = coo_matrix((dlen, (rows, cols)), shape=(N, N)).tocsr()
    G_tim = coo_matrix((dtim, (rows, cols)), shape=(N, N)).tocsr()
    D = dijkstra(G_len, directed=False, indices=pn)[:, pn]
    T = dijkstra(G_tim, directed=False, indices=pn)[:, pn]
    bad = ~np.isfinite(D)
    if bad.any():
        eu = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :]) * FALLBACK_DETOUR
        D[bad] = eu[bad]
        T[bad] = eu[bad] / FALLBACK_SPEED_MS
    np.fill_diagonal(D, 0); np.fill_diagonal(T, 0)
    info = {"graph_nodes": int(n0), "graph_edges": int(len(net.edges)), "points": int(p),
            "disconnected_pairs": int(bad.sum()), "max_snap_m": float(off.max()) if p else 0.0}
    return D, T, info
