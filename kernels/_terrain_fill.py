"""Priority-Flood depression filling (Barnes, Lehman & Mulla 2014) with a pit queue and a monotone
priority queue: a bucket queue where the DEM's values are quantized, else a 4-ary heap.

The queue holds the flood front keyed on elevation; cells the flood raises to a spill level skip it
(the pit queue, breadth-first from the spill point). So the queue only ever receives *original*
values of the DEM, and none below the level being drained. Where every valid value is one of a
bounded number of levels ``zlo + k q`` (whole metres, decimetres, ...; :func:`bucket_levels` checks in a
pass or two), one FIFO per level is an exact priority queue with O(1) pushes and pops. Each cell
enters it at most once, at its own level, so the FIFOs are segments of one array laid out by a
histogram of the levels, and the next cells to pop are known: their neighbourhoods are prefetched,
as a level's cells lie all over the grid. Other DEMs (arbitrary floats, breached DEMs) take a 4-ary
heap: half as deep as a binary one, and its four children share a cache line or two (10-30 % faster
on noisy DEMs). Indices are int32 where the grid allows (:func:`kernels._terrain_grid._index_dtype`)
and address a copy of the grid padded with one closed cell on every side.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels._terrain_grid import DC, DR, grid_index_dtype, is_outlet, prefetch

_ARITY = 4


@numba.njit(cache=True, inline="always")
def heap_push(key, idx, n, k, i):
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
def heap_pop(key, idx, n):
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


# Vertical resolutions tried for a bucket queue, coarsest first: whole units, halves, quarters, then
# decimal steps (a level count check stops at the first that would need too many buckets).
_QUANTA = (1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001)
_MIN_BUCKETS = 1 << 16  # small grids may still use this many (2 MB of counters; scanned in microseconds)
# How many pops ahead the bucket queue prefetches a cell's neighbourhood: a level's cells lie all
# over the grid, so without it most pops wait on memory (measured 8-12 best, 35 % off the fill)
_AHEAD = 8


@numba.njit(cache=True, inline="always")
def _level(zv, zlo, scale):
    # the same rounding wherever a level is computed: monotone in zv, so distinct values that get
    # distinct levels keep their order
    return np.int64(np.floor((zv - zlo) * scale + 0.5))


@numba.njit(cache=True, parallel=True)
def _valid_range(z, valid):
    ny, nx = z.shape
    lo = np.inf
    hi = -np.inf
    for r in numba.prange(ny):
        for c in range(nx):
            if valid[r, c]:
                lo = min(lo, z[r, c])
                hi = max(hi, z[r, c])
    return lo, hi


@numba.njit(cache=True)
def _level_counts(z, valid, zlo, scale, nlev):
    """Cells per level ``_level(z)``, or an empty array as soon as two different values share one.

    Sequential so that it stops at the first clash: on a DEM that is not quantized that is within the
    first few cells, so trying a quantum that does not fit costs next to nothing.
    """
    rep = np.full(nlev, np.nan)
    cnt = np.zeros(nlev + 1, dtype=np.int64)
    ny, nx = z.shape
    for r in range(ny):
        for c in range(nx):
            if not valid[r, c]:
                continue
            zv = z[r, c]
            k = _level(zv, zlo, scale)
            if k < 0 or k >= nlev:
                return np.empty(0, dtype=np.int64)
            if rep[k] != zv:
                if rep[k] == rep[k]:  # another value holds this level already
                    return np.empty(0, dtype=np.int64)
                rep[k] = zv
            cnt[k + 1] += 1
    return cnt


def bucket_levels(z: np.ndarray, valid: np.ndarray) -> tuple[float, float, np.ndarray | None]:
    """``(zlo, scale, start)`` for a bucket queue over the valid values of ``z``, if they are quantized.

    ``start[k]`` is where the FIFO of level ``k = _level(z, zlo, scale)`` begins in one array of
    ``start[-1]`` cells (a prefix sum of the level histogram). Exact: a quantum is accepted only when
    no two different values share a level, so the level order is the value order. ``start`` is None
    when no quantum of :data:`_QUANTA` fits with at most ``max(cells / 4, 2^16)`` levels (then the heap is used).
    """
    zlo, zhi = _valid_range(z, valid)
    if not (np.isfinite(zlo) and np.isfinite(zhi)):  # also when no cell is valid
        return 0.0, 1.0, None
    # 40 bytes of counters and positions per level: at most a quarter of the cells keeps them at 10 per cell
    max_levels = max(z.size // 4, _MIN_BUCKETS)
    for q in _QUANTA:
        span = (zhi - zlo) / q
        if not span < max_levels - 1:  # finer quanta only need more levels
            break
        cnt = _level_counts(z, valid, zlo, 1.0 / q, int(np.floor(span + 0.5)) + 1)
        if cnt.size:
            return float(zlo), 1.0 / q, np.cumsum(cnt)
    return 0.0, 1.0, None


@numba.njit(cache=True, inline="always")
def _push(key, idx, nq, queue, tail, zlo, scale, zv, j):
    # a bucket queue when there is one (``tail``: a write position per level), else the heap; the
    # test is on a None argument, so each variant is compiled without the other's code
    if tail is not None:
        k = _level(zv, zlo, scale)
        queue[tail[k]] = j
        tail[k] += 1
        return nq + 1
    return heap_push(key, idx, nq, zv, j)


@numba.njit(cache=True, inline="always")
def _prefetch_around(out, closed, p, w):
    # the three rows of cell p's neighbourhood in the padded grid, elevations and closed flags
    for a in (p - w, p, p + w):
        prefetch(out, a)
        prefetch(closed, a)


@numba.njit(cache=True, inline="always")
def _pop(key, idx, nq, queue, head, tail, cur, out, closed, w):
    # the lowest non-empty level; ``cur`` only moves up, as every push lies above the level popped
    if tail is not None:
        while head[cur] == tail[cur]:
            cur += 1
        i = queue[head[cur]]
        head[cur] += 1
        h = head[cur] + _AHEAD
        if h < tail[cur]:
            _prefetch_around(out, closed, np.int64(queue[h]), w)
        return i, nq - 1, cur
    i, nq = heap_pop(key, idx, nq)
    if nq > 0:
        # the new top is the next pop unless a neighbour of i is pushed below it (20 % off the heap fill)
        _prefetch_around(out, closed, np.int64(idx[0]), w)
    return i, nq, cur


@numba.njit(cache=True)
def _priority_flood(z, valid, epsilon, out, closed, pit, queue, zlo, scale, start):
    """Fill ``z`` into ``out``, the DEM padded by one cell on every side, flat.

    The ring of always-closed cells around the grid removes the bounds checks, and flat indices into
    the padded grid remove the division back to row and column (together 15 % faster on 16 M
    cells). ``closed`` (uint8) and ``pit`` (the index dtype, one per grid cell) are scratch of the
    padded and the plain grid's size; ``queue``, ``zlo``, ``scale`` and ``start`` describe the
    levels of a bucket queue (:func:`bucket_levels`), or ``queue = start = None`` selects the heap. The
    large arrays come from NumPy, which asks the kernel for huge pages: allocated here they would
    fault in 4 KiB at a time (0.1 s per 128 MB).
    """
    ny, nx = z.shape
    w = nx + 2
    n = (ny + 2) * w
    off = np.empty(8, dtype=np.int64)
    for k in range(8):
        off[k] = DR[k] * w + DC[k]
    out[:w] = np.nan
    out[n - w :] = np.nan
    closed[:w] = 1
    closed[n - w :] = 1
    for r in range(ny):
        base = (r + 1) * w + 1
        out[base - 1] = np.nan
        out[base + nx] = np.nan
        closed[base - 1] = 1
        closed[base + nx] = 1
        for c in range(nx):
            out[base + c] = z[r, c]
            closed[base + c] = 0 if valid[r, c] else 1
    if start is None:
        key = np.empty(ny * nx, dtype=np.float64)  # touched only as deep as the heap grows
        idx = np.empty(ny * nx, dtype=pit.dtype)
        head = tail = None
    else:
        key = idx = None
        head = start[:-1].copy()
        tail = start[:-1].copy()
    nq = 0
    cur = 0
    # only grids with nodata need the neighbour test for outlets
    holes = not np.all(valid)
    for r in range(ny):
        for c in range(nx):
            i = (r + 1) * w + c + 1
            if closed[i]:
                continue
            if r == 0 or c == 0 or r == ny - 1 or c == nx - 1 or (holes and is_outlet(valid, r, c, ny, nx)):
                nq = _push(key, idx, nq, queue, tail, zlo, scale, out[i], i)
                closed[i] = 1  # the outlet test reads valid, not closed
    phead = 0
    ptail = 0
    while nq > 0 or phead < ptail:
        if phead < ptail:
            i = np.int64(pit[phead])
            phead += 1
            if phead == ptail:  # empty: start again at the front, which stays in cache
                phead = 0
                ptail = 0
        else:
            i, nq, cur = _pop(key, idx, nq, queue, head, tail, cur, out, closed, w)
            i = np.int64(i)
        zc = out[i]
        zmin = zc
        if epsilon > 0.0:
            # strictly above the cell it is reached from, even where epsilon is below one ulp: a float
            # above zc is at least the next one, so this is max(zc + epsilon, nextafter(zc)) without
            # a libm call per cell (which took a third of the fill)
            zmin = zc + epsilon
            if zmin == zc:
                zmin = np.nextafter(zc, np.inf)
        for k in range(8):
            j = i + off[k]
            if closed[j]:
                continue
            closed[j] = 1
            if out[j] <= zmin:
                # raised cells skip the queue: a depression floods breadth-first from its spill point
                out[j] = zmin
                pit[ptail] = j
                ptail += 1
            else:
                nq = _push(key, idx, nq, queue, tail, zlo, scale, out[j], j)
    return out


def priority_flood(
    z: np.ndarray, valid: np.ndarray, epsilon: float, index_dtype=None, buckets: bool = True
) -> np.ndarray:
    """Run the fill on a float64 C-contiguous DEM.

    ``index_dtype`` overrides the int32/int64 choice; ``buckets=False`` takes the heap even where the
    values are quantized (for tests and benchmarks: both give the same lake-level fill).
    """
    ny, nx = z.shape
    n = (ny + 2) * (nx + 2)
    dt = grid_index_dtype(n) if index_dtype is None else index_dtype
    zlo, scale, start = bucket_levels(z, valid) if buckets else (0.0, 1.0, None)
    padded = np.empty((ny + 2, nx + 2))
    queue = None if start is None else np.empty(start[-1], dtype=dt)
    _priority_flood(
        z,
        valid,
        float(epsilon),
        padded.reshape(-1),
        np.empty(n, dtype=np.uint8),
        np.empty(ny * nx, dtype=dt),
        queue,
        zlo,
        scale,
        start,
    )
    out = padded[1:-1, 1:-1].copy()
    # nodata cells keep their input value (the padded copy holds it already; NaN stays NaN)
    return out
