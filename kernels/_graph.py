"""Graphs given as receiver arrays (each node drains to at most one other): shared by terrain and rivers."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def kahn_order(down, valid):
    """Kahn's topological order of a receiver graph: every placed node comes before its receiver.

    ``down[i]`` is the node receiving node i (-1: none); only nodes with ``valid[i]`` start the
    order. Returns ``(order, n_valid)``; fewer placed nodes than ``n_valid`` means a cycle.
    """
    n = down.size
    ndon = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if down[i] >= 0:
            ndon[down[i]] += 1
    order = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    nvalid = 0
    for i in range(n):
        if valid[i]:
            nvalid += 1
            if ndon[i] == 0:
                order[tail] = i
                tail += 1
    while head < tail:
        i = order[head]
        head += 1
        d = down[i]
        if d >= 0:
            ndon[d] -= 1
            if ndon[d] == 0:
                order[tail] = d
                tail += 1
    return order[:tail], nvalid
