"""Making a warped DEM whole: trimming no-data edges off the grid and filling small interior holes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["EdgeTrim", "trim_rectangle", "nodata_holes", "fill_holes"]

# rows processed at a time when scanning for NaN, so a DEM of 1e8 cells needs no full-size mask
_CHUNK_ROWS = 1024
# above this many rows the rectangle search samples its top rows, then refines around the best (the
# search costs rows x rows; sampling 1 row in 10 of a 10,000-row grid finds the best top within 10 rows,
# and the refinement then searches those exactly)
_EXACT_ROWS = 1024


@dataclass(frozen=True)
class EdgeTrim:
    """The part of a grid kept: rows ``top:bottom`` and columns ``left:right``, and the data left out."""

    top: int
    bottom: int
    left: int
    right: int
    valid_dropped: int  # cells with data outside the kept rectangle

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left


@dataclass
class _Extents:
    """Where each row's and each column's data begins and ends (``n, 0`` for a line without data)."""

    first: np.ndarray  # per row: first column with data
    last: np.ndarray  # per row: one past the last column with data
    top: np.ndarray  # per column: first row with data
    bottom: np.ndarray  # per column: one past the last row with data


def _first_valid(array: np.ndarray, *, along_rows: bool, reverse: bool) -> np.ndarray:
    """Per row (or column): how far in from its start (or end) the first cell with data lies; its
    length for a line without data. Reads strips of growing width in from the edge, so a grid whose
    data comes close to its edges is barely read (the corners of a warped box are a few percent)."""
    lines, length = array.shape if along_rows else array.shape[::-1]
    out = np.full(lines, length, dtype=np.int64)
    todo = np.arange(lines)
    start, width = 0, 64
    while todo.size and start < length:
        # strips of at most 16 M cells: the worst case (a grid mostly without data) never doubles memory
        stop = min(length, start + min(width, max(64, 16_000_000 // todo.size)))
        span = slice(length - stop, length - start) if reverse else slice(start, stop)
        block = array[todo, span] if along_rows else array[span][:, todo].T
        valid = ~np.isnan(block[:, ::-1] if reverse else block)
        hit = valid.any(axis=1)
        out[todo[hit]] = start + np.argmax(valid[hit], axis=1)
        todo = todo[~hit]
        start, width = stop, width * 2
    return out


def _extents(array: np.ndarray) -> _Extents:
    ny, nx = array.shape
    return _Extents(
        first=_first_valid(array, along_rows=True, reverse=False),
        last=nx - _first_valid(array, along_rows=True, reverse=True),
        top=_first_valid(array, along_rows=False, reverse=False),
        bottom=ny - _first_valid(array, along_rows=False, reverse=True),
    )


def _best_rectangle(first: np.ndarray, last: np.ndarray, tops: np.ndarray) -> tuple[int, int, int, int, int]:
    """Largest ``(area, top, bottom, left, right)`` whose rows all hold data on ``[left, right)``."""
    ny = len(first)
    best = (0, 0, 0, 0, 0)
    for t in tops:
        lmax = np.maximum.accumulate(first[t:])
        rmin = np.minimum.accumulate(last[t:])
        area = np.maximum(rmin - lmax, 0) * np.arange(1, ny - t + 1)
        k = int(area.argmax())
        if area[k] > best[0]:
            best = (int(area[k]), int(t), int(t + k + 1), int(lmax[k]), int(rmin[k]))
    return best


def _shrink(e: _Extents, t: int, b: int, lo: int, hi: int) -> tuple[int, int, int, int]:
    """Move the rectangle's sides inwards, worst first, until no side crosses no-data that runs in
    straight from the grid's edge along a row or a column (the notch a curved parallel leaves at the
    top of a reprojected lon/lat box, between data on its left and right)."""

    def row_bad(k: int) -> float:
        outside = (e.top[lo:hi] > k) | (e.bottom[lo:hi] <= k)
        return (outside.sum() + max(0, e.first[k] - lo) + max(0, hi - e.last[k])) / (hi - lo)

    def col_bad(c: int) -> float:
        outside = (e.first[t:b] > c) | (e.last[t:b] <= c)
        return (outside.sum() + max(0, e.top[c] - t) + max(0, b - e.bottom[c])) / (b - t)

    while b - t > 2 and hi - lo > 2:
        bad = (row_bad(t), row_bad(b - 1), col_bad(lo), col_bad(hi - 1))
        worst = int(np.argmax(bad))
        if bad[worst] == 0:
            break
        if worst == 0:
            t += 1
        elif worst == 1:
            b -= 1
        elif worst == 2:
            lo += 1
        else:
            hi -= 1
    return t, b, lo, hi


def trim_rectangle(array: np.ndarray) -> EdgeTrim | None:
    """A large rectangle of the grid without the no-data (NaN) that reaches in from its edges.

    First the largest rectangle whose rows all hold data between its sides (which cuts the corners a
    reprojected lon/lat box leaves, or a missing tile at an edge); then its sides move in while they
    cross no-data running straight in from the grid's edge along a column. No-data enclosed by data
    stays inside as a hole for :func:`fill_holes`. Only the grid's margins are read; None when the
    grid holds no data at all.
    """
    ny, nx = array.shape
    e = _extents(array)
    if not (e.first < nx).any():
        return None
    if not ((e.first > 0).any() or (e.last < nx).any() or (e.top > 0).any() or (e.bottom < ny).any()):
        return EdgeTrim(0, ny, 0, nx, 0)
    if ny <= _EXACT_ROWS:
        _, t, b, lo, hi = _best_rectangle(e.first, e.last, np.arange(ny))
    else:
        step = -(-ny // _EXACT_ROWS)
        _, t, _, _, _ = _best_rectangle(e.first, e.last, np.arange(0, ny, step))
        _, t, b, lo, hi = _best_rectangle(e.first, e.last, np.arange(max(0, t - step), min(ny, t + step + 1)))
    if b - t > 0 and hi - lo > 0:
        t, b, lo, hi = _shrink(e, t, b, lo, hi)
    dropped = sum(_valid_in(block) for block in (array[:t], array[b:], array[t:b, :lo], array[t:b, hi:]))
    return EdgeTrim(t, b, lo, hi, dropped)


def _valid_in(block: np.ndarray) -> int:
    """Cells with data in a block, counted a band of rows at a time."""
    return sum(
        int(part.size - np.count_nonzero(np.isnan(part)))
        for part in (block[r0 : r0 + _CHUNK_ROWS] for r0 in range(0, len(block), _CHUNK_ROWS))
    )


def nodata_holes(array: np.ndarray) -> tuple[np.ndarray, tuple[int, int], int]:
    """Label the NaN holes: ``(labels, (row0, col0), count)``, labels covering only the holes' bounding box."""
    ny, nx = array.shape
    rows = np.zeros(ny, dtype=bool)
    for r0 in range(0, ny, _CHUNK_ROWS):
        rows[r0 : r0 + _CHUNK_ROWS] = np.isnan(array[r0 : r0 + _CHUNK_ROWS]).any(axis=1)
    if not rows.any():
        return np.zeros((0, 0), np.int32), (0, 0), 0
    r = np.flatnonzero(rows)
    nan = np.isnan(array[r[0] : r[-1] + 1])
    c = np.flatnonzero(nan.any(axis=0))
    nan = nan[:, c[0] : c[-1] + 1]
    labels, n = ndi.label(nan)
    return labels, (int(r[0]), int(c[0])), int(n)


def fill_holes(array: np.ndarray, labels: np.ndarray, origin: tuple[int, int], which: np.ndarray) -> None:
    """Fill the holes numbered in ``which`` in place with the harmonic (Laplace) interpolation of their rims.

    The harmonic fill reproduces a plane exactly and never rises above the highest or falls below the
    lowest rim cell, so it creates no artificial pits or mounds for water to collect in or flow around.
    Cells on the grid's edge and next to other holes take a zero-gradient condition there.
    """
    r0, c0 = origin
    objects = ndi.find_objects(labels)
    ny, nx = array.shape
    for k in which:
        sl = objects[k - 1]
        a0, a1, b0, b1 = sl[0].start + r0, sl[0].stop + r0, sl[1].start + c0, sl[1].stop + c0
        rs, cs = slice(max(a0 - 1, 0), min(a1 + 1, ny)), slice(max(b0 - 1, 0), min(b1 + 1, nx))
        window = array[rs, cs]
        hole = np.zeros(window.shape, dtype=bool)
        hole[a0 - rs.start : a1 - rs.start, b0 - cs.start : b1 - cs.start] = labels[sl] == k
        window[hole] = _harmonic(window, hole)


def _harmonic(window: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Solve the 5-point Laplace equation on ``hole`` with the known cells of ``window`` as boundary."""
    n = int(hole.sum())
    index = np.full(window.shape, -1, dtype=np.int64)
    index[hole] = np.arange(n)
    known = ~np.isnan(window)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    rhs = np.zeros(n)
    hr, hc = np.nonzero(hole)
    me = index[hr, hc]
    has_rim = False
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nr, nc = hr + dr, hc + dc
        inside = (nr >= 0) & (nr < window.shape[0]) & (nc >= 0) & (nc < window.shape[1])
        i, nr, nc = me[inside], nr[inside], nc[inside]
        other = index[nr, nc]
        coupled = other >= 0
        rim = ~coupled & known[nr, nc]
        has_rim = has_rim or bool(rim.any())
        rows.append(i[coupled])
        cols.append(other[coupled])
        vals.append(np.full(int(coupled.sum()), -1.0))
        np.add.at(rhs, i[rim], window[nr[rim], nc[rim]])
        np.add.at(diag, i[coupled | rim], 1.0)
    if not has_rim:
        return np.full(n, np.nan)  # nothing around it to interpolate from
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    a = scipy.sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return scipy.sparse.linalg.spsolve(a, rhs)
