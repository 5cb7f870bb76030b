"""One-to-one matching of tree positions with distance gating (epochs, register, ground truth).

:func:`match_points` solves the assignment that minimises the summed distance among pairs closer
than ``gate`` metres, exactly (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``) on
each connected group of candidate pairs, so a city of 15,000 trees is thousands of tiny problems,
not one 15,000 x 15,000 matrix. Pairs beyond the gate are never matched.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["match_points"]


def match_points(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, gate: float | np.ndarray,
                 cost_extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i in a, j in b, distance)`` of a one-to-one, gated, minimum-total-distance matching.

    ``gate`` is a distance in metres, or one gate per point of ``a``. ``cost_extra`` (optional,
    one value per point of ``a`` and ``b`` concatenated is not supported) is reserved.
    """
    na, nb = len(ax), len(bx)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if na == 0 or nb == 0:
        return empty
    gates = np.broadcast_to(np.asarray(gate, float), (na,))
    ta = cKDTree(np.c_[ax, ay])
    tb = cKDTree(np.c_[bx, by])
    sp = ta.sparse_distance_matrix(tb, float(gates.max()), output_type="ndarray")
    if sp.size == 0:
        return empty
    i, j, d = sp["i"].astype(np.int64), sp["j"].astype(np.int64), sp["v"]
    ok = d <= gates[i]
    i, j, d = i[ok], j[ok], d[ok]
    if i.size == 0:
        return empty
    # connected groups of the bipartite candidate graph
    g = coo_matrix((np.ones(i.size), (i, na + j)), shape=(na + nb, na + nb))
    _, comp = connected_components(g, directed=False)
    gi = comp[i]
    order = np.argsort(gi, kind="stable")
    i, j, d, gi = i[order], j[order], d[order], gi[order]
    bounds = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1], True])
    out_i, out_j, out_d = [], [], []
    big = 1e9
    for s, e in zip(bounds[:-1], bounds[1:]):
        ii, jj, dd = i[s:e], j[s:e], d[s:e]
        if e - s == 1:
            out_i.append(ii); out_j.append(jj); out_d.append(dd)
            continue
        ua, ia = np.unique(ii, return_inverse=True)
        ub, ib = np.unique(jj, return_inverse=True)
        # a missing pair costs more than leaving both unmatched would ever save
        c = np.full((ua.size, ub.size), big)
        c[ia, ib] = dd
        r, q = linear_sum_assignment(c)
        keep = c[r, q] < big
        out_i.append(ua[r[keep]]); out_j.append(ub[q[keep]]); out_d.append(c[r, q][keep])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)
