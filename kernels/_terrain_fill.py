"""Priority-Flood depression filling (Barnes, Lehman & Mulla 2014) with a pit queue and a 4-ary heap.

The heap holds the flood front keyed on elevation; cells the flood raises to a spill level skip it
(the pit queue, breadth-first from the spill point). A 4-ary heap is half as deep as a binary one
and its four children share a cache line or two, which measured 10-30 % faster on noisy DEMs;
indices are int32 where the grid allows (:func:`kernels._terrain_grid._index_dtype`) and address a
copy of the grid padded with one closed cell on every side.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels._terrain_grid import _DC, _DR, _index_dtype, _is_outlet

_ARITY = 4


@numba.njit(cache=True, inline="always")
def _heap_push(key, idx, n, k, i):
    # sift the hole up, then write once
    j = n
    while j > 0:
        p = (j - 1) // _ARITY
        if key[p] <= k:
            break
        key[j] = key[p]
        idx[j] = idx[p]
        j = p
    key[j] = k
    idx[j] = i
    return n + 1


@numba.njit(cache=True, inline="always")
def _heap_pop(key, idx, n):
    top = idx[0]
    n -= 1
    k = key[n]
    i = idx[n]
    j = 0
    while True:
        a = _ARITY * j + 1
        if a >= n:
            break
        m = a
        km = key[a]
        for b in range(a + 1, min(a + _ARITY, n)):
            if key[b] < km:
                km = key[b]
                m = b
        if k <= km:
            break
        key[j] = km
        idx[j] = idx[m]
        j = m
    key[j] = k
    idx[j] = i
    return top, n


@numba.njit(cache=True)
def _priority_flood(z, valid, epsilon, proto):
    """Fill ``z``; returns the filled DEM padded by one cell on every side, flat.

    The ring of always-closed cells around the grid removes the bounds checks, and flat indices into
    the padded grid remove the division back to row and column (together 15 % faster on 16 M
    cells). ``proto`` is an empty array of the index dtype for the padded grid.
    """
    ny, nx = z.shape
    w = nx + 2
    n = (ny + 2) * w
    off = np.empty(8, dtype=np.int64)
    for k in range(8):
        off[k] = _DR[k] * w + _DC[k]
    out = np.empty(n, dtype=np.float64)
    closed = np.ones(n, dtype=np.uint8)
    out[:w] = np.nan
    out[n - w:] = np.nan
    for r in range(ny):
        base = (r + 1) * w + 1
        out[base - 1] = np.nan
        out[base + nx] = np.nan
        for c in range(nx):
            out[base + c] = z[r, c]
            closed[base + c] = 0 if valid[r, c] else 1
    key = np.empty(ny * nx, dtype=np.float64)
    idx = np.empty(ny * nx, dtype=proto.dtype)
    pit = np.empty(ny * nx, dtype=proto.dtype)  # FIFO of cells raised to a depression's spill level
    nheap = 0
    # only grids with nodata need the neighbour test for outlets
    holes = not np.all(valid)
    for r in range(ny):
        for c in range(nx):
            i = (r + 1) * w + c + 1
            if closed[i]:
                continue
            if r == 0 or c == 0 or r == ny - 1 or c == nx - 1 or (holes and _is_outlet(valid, r, c, ny, nx)):
                nheap = _heap_push(key, idx, nheap, out[i], i)
    for m in range(nheap):  # closed only now: the outlet test above reads valid, not closed
        closed[idx[m]] = 1
    phead = 0
    ptail = 0
    while nheap > 0 or phead < ptail:
        if phead < ptail:
            i = np.int64(pit[phead])
            phead += 1
        else:
            i, nheap = _heap_pop(key, idx, nheap)
            i = np.int64(i)
        zc = out[i]
        if epsilon > 0.0:
            # strictly above the cell it is reached from, even where epsilon is below one ulp
            zmin = max(zc + epsilon, np.nextafter(zc, np.inf))
        else:
            zmin = zc
        for k in range(8):
            j = i + off[k]
            if closed[j]:
                continue
            closed[j] = 1
            if out[j] <= zmin:
                # raised cells skip the heap: a depression floods breadth-first from its spill point
                out[j] = zmin
                pit[ptail] = j
                ptail += 1
            else:
                nheap = _heap_push(key, idx, nheap, out[j], j)
    return out


def priority_flood(z: np.ndarray, valid: np.ndarray, epsilon: float, index_dtype=None) -> np.ndarray:
    """Run the fill on a float64 C-contiguous DEM; ``index_dtype`` overrides the int32/int64 choice."""
    ny, nx = z.shape
    n = (ny + 2) * (nx + 2)
    dt = _index_dtype(n) if index_dtype is None else index_dtype
    padded = _priority_flood(z, valid, float(epsilon), np.empty(0, dtype=dt)).reshape(ny + 2, nx + 2)
    out = padded[1:-1, 1:-1].copy()
    # nodata cells keep their input value (the padded copy holds it already; NaN stays NaN)
    return out
