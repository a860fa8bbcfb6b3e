"""Depression breaching: carve a channel from each pit to lower ground instead of filling it.

A simplified least-cost breaching (after Lindsay 2016, "Efficient hybrid breaching-filling sink
removal methods for flow path enforcement in digital elevation models"): pits (cells the fill would
raise that have no lower neighbour, so not the drainable flats on top of a dam) are visited from the
lowest up; from each remaining pit a Dijkstra search over paths of at most ``max_length`` steps
finds the cheapest way to a cell that is lower than the pit, or to one that already drains (an
outlet or a channel carved before) at most as high. The cost of a path is the sum of how far its
cells stand above the pit, so the search prefers shallow cuts to short ones. The path is lowered
linearly from the pit to that cell (never raised) unless the cut would be deeper than
``max_depth``; what cannot be breached is left to the fill that follows.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels._terrain_fill import heap_pop, heap_push
from kernels._terrain_grid import DC, DR, is_outlet


@numba.njit(cache=True)
def _pits(z, filled, valid, proto):
    """Cells the fill would raise that have no lower valid neighbour (the bottoms of depressions;
    not the flats on top of a dam, which drain), lowest first."""
    ny, nx = z.shape
    pits = np.empty(z.size, dtype=proto.dtype)
    npit = 0
    for r in range(1, ny - 1):
        for c in range(1, nx - 1):
            if not valid[r, c] or filled[r, c] == z[r, c]:
                continue
            low = False
            for k in range(8):
                if z[r + DR[k], c + DC[k]] < z[r, c]:
                    low = True
                    break
            if not low and not is_outlet(valid, r, c, ny, nx):
                pits[npit] = r * nx + c
                npit += 1
    pits = pits[:npit]
    zp = np.empty(npit)
    for m in range(npit):
        zp[m] = z[pits[m] // nx, pits[m] % nx]
    return pits[np.argsort(zp, kind="mergesort")]


@numba.njit(cache=True)
def breach(z, filled, valid, max_depth, max_length, proto):
    ny, nx = z.shape
    n = z.size
    out = z.copy()
    pits = _pits(z, filled, valid, proto)
    cost = np.full(n, np.inf)
    steps = np.zeros(n, dtype=np.int32)
    parent = np.empty(n, dtype=proto.dtype)
    drains = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=proto.dtype)
    key = np.empty(n, dtype=np.float64)
    hidx = np.empty(n, dtype=proto.dtype)
    path = np.empty(max_length + 1, dtype=np.int64)
    nbreached = 0
    for m in range(pits.size):
        p = np.int64(pits[m])
        r0 = p // nx
        c0 = p - r0 * nx
        zp = out[r0, c0]
        if drains[p]:
            continue
        lower = False
        for k in range(8):
            if valid[r0 + DR[k], c0 + DC[k]] and out[r0 + DR[k], c0 + DC[k]] < zp:
                lower = True  # an earlier breach passed by
                break
        if lower:
            continue
        # Dijkstra from the pit; cost = sum of heights above the pit along the path
        cost[p] = 0.0
        steps[p] = 0
        ntouched = 1
        touched[0] = p
        nheap = heap_push(key, hidx, 0, 0.0, p)
        target = -1
        while nheap > 0:
            ku = key[0]
            u, nheap = heap_pop(key, hidx, nheap)
            u = np.int64(u)
            if ku > cost[u]:
                continue  # a stale entry
            ru = u // nx
            cu = u - ru * nx
            zu = out[ru, cu]
            if u != p and (zu < zp or ((drains[u] or is_outlet(valid, ru, cu, ny, nx)) and zu <= zp)):
                target = u
                break
            if steps[u] >= max_length:
                continue
            for k in range(8):
                rv = ru + DR[k]
                cv = cu + DC[k]
                if rv < 0 or rv >= ny or cv < 0 or cv >= nx or not valid[rv, cv]:
                    continue
                d = out[rv, cv] - zp
                if d > max_depth:
                    continue  # the cut would be deeper than allowed whatever the profile
                v = rv * nx + cv
                nc = cost[u] + max(d, 0.0)
                if nc < cost[v]:
                    if cost[v] == np.inf:
                        touched[ntouched] = v
                        ntouched += 1
                    cost[v] = nc
                    steps[v] = steps[u] + 1
                    parent[v] = u
                    nheap = heap_push(key, hidx, nheap, nc, v)
        for t in range(ntouched):
            cost[touched[t]] = np.inf
        if target < 0:
            continue
        nstep = steps[target]
        j = target
        for i in range(nstep, -1, -1):
            path[i] = j
            if i > 0:
                j = np.int64(parent[j])
        zt = out[target // nx, target % nx]
        delta = (zp - zt) / nstep
        ok = True
        for i in range(1, nstep):
            q = path[i]
            if out[q // nx, q % nx] - (zp - i * delta) > max_depth:
                ok = False
                break
        if not ok:
            continue
        drains[p] = True
        for i in range(1, nstep):
            q = path[i]
            rq = q // nx
            cq = q - rq * nx
            out[rq, cq] = min(out[rq, cq], zp - i * delta)
            drains[q] = True
        nbreached += 1
    return out, nbreached
