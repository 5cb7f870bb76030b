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
    xy = uniq / 10.0
    bridges = _bridges(xy, edges)
    if len(bridges):
        bl = np.hypot(*(xy[bridges[:, 0]] - xy[bridges[:, 1]]).T)
        edges = np.r_[edges, bridges]
        length_all = np.r_[length, bl]
        time_all = np.r_[length / np.maximum(speed, 0.5), bl / (BRIDGE_SPEED_KMH / 3.6 * TRUCK_SPEED_FACTOR)]
    else:
        length_all, time_all = length, length / np.maximum(speed, 0.5)
    return Network(xy, edges, length_all, time_all, x0, y0, x1, y1, speed, list(segment_id))


BRIDGE_SPEED_KMH = 20.0   # links joining disconnected parts of the street data are driven slowly


def _bridges(xy: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Links that make the street graph connected (street data cut at quartier borders): while
    several components remain, each is joined to its nearest other component by the closest pair
    of nodes (the junction the data misses)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xy)
    out: list[tuple[int, int]] = []
    while True:
        e = np.r_[edges, np.array(out, np.int64).reshape(-1, 2)]
        g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        k, lab = connected_components(g, directed=False)
        if k <= 1:
            return np.array(out, np.int64).reshape(-1, 2)
        for c in range(k):
            inside = np.nonzero(lab == c)[0]
            outside = np.nonzero(lab != c)[0]
            d, j = cKDTree(xy[outside]).query(xy[inside], k=1)
            a = int(np.argmin(d))
            out.append((int(inside[a]), int(outside[j[a]])))


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

    Each point is attached to its segment (``segment_index`` when known, else the nearest) at
    its projection; the walk from the kerb to the segment is ignored. Pairs still unreachable
    (none once the graph is bridged) fall back to straight line x 1.35, counted in the info."""
    px, py = np.asarray(px, float), np.asarray(py, float)
    p = len(px)
    seg, t, off = project(net, px, py, segment_index)
    n0 = len(net.xy)
    s_edges = net.edges[:len(net.seg_x0)]
    a, b = s_edges[seg, 0], s_edges[seg, 1]
    L = net.length_m[seg]
    sp = net.seg_speed_ms[seg]
    pn = n0 + np.arange(p)
    rows = [net.edges[:, 0], pn, pn]
    cols = [net.edges[:, 1], a, b]
    dlen = [net.length_m, t * L, (1 - t) * L]
    dtim = [net.time_s, t * L / sp, (1 - t) * L / sp]
    # two points on the same segment: link them directly too
    order = np.argsort(seg, kind="stable")
    starts = np.unique(seg[order], return_index=True)[1]
    for lo, hi in zip(starts, np.r_[starts[1:], p]):
        members = order[lo:hi]
        if len(members) < 2:
            continue
        i, j = np.triu_indices(len(members), 1)
        mi, mj = members[i], members[j]
        d = np.abs(t[mi] - t[mj]) * L[mi]
        rows.append(n0 + mi); cols.append(n0 + mj); dlen.append(d); dtim.append(d / sp[mi])
    rows = np.concatenate(rows).astype(np.int64); cols = np.concatenate(cols).astype(np.int64)
    dlen = np.concatenate(dlen) + 1e-3; dtim = np.concatenate(dtim) + 1e-3
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
    info = {"graph_nodes": int(n0), "graph_edges": int(len(net.edges)),
            "bridge_links": int(len(net.edges) - len(net.seg_x0)), "points": int(p),
            "disconnected_pairs": int(bad.sum()), "max_snap_m": float(off.max()) if p else 0.0}
    return D, T, info
