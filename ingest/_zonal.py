"""Which grid cells each polygon covers, for many polygons at once (vectorised scanline fill).

A cell belongs to a polygon when its centre lies inside it (even-odd rule, holes excluded), as GDAL's
rasterizer decides by default; unlike burning ids into one grid, a cell shared by overlapping polygons
counts for each of them. The work grows with the polygons' outlines (one crossing per edge and cell
row), not with their areas, and runs in NumPy without a Python loop per polygon.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import shapely
from affine import Affine

__all__ = ["cell_runs", "reduce_cells"]

# polygons handled per block, so the crossing arrays of a million footprints stay a few hundred MB
_BLOCK = 200_000


def cell_runs(geoms: np.ndarray, transform: Affine, shape: tuple[int, int]) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield blocks of runs ``(feature, row, col0, col1)``: cells ``row, col0..col1`` (inclusive) lie in ``feature``.

    Runs come sorted by feature, then row. ``transform`` must be north-up.
    """
    for start in range(0, len(geoms), _BLOCK):
        runs = _runs(geoms[start : start + _BLOCK], transform, shape)
        if runs is not None:
            runs[0] += start
            yield runs


def _runs(geoms: np.ndarray, transform: Affine, shape: tuple[int, int]) -> list[np.ndarray] | None:
    ny, nx = shape
    coords, vertex_ring, feature_of_ring = _rings(geoms)
    if not len(coords):
        return None
    col = (coords[:, 0] - transform.c) / transform.a
    row = (coords[:, 1] - transform.f) / transform.e
    edge = vertex_ring[:-1] == vertex_ring[1:]  # consecutive vertices of one ring (rings are closed)
    r0, r1 = row[:-1][edge], row[1:][edge]
    c0, c1 = col[:-1][edge], col[1:][edge]
    feature = feature_of_ring[vertex_ring[:-1][edge]]
    # the cell-centre rows k (centre at k + 0.5) an edge crosses, half-open so a vertex counts once
    lo, hi = np.minimum(r0, r1), np.maximum(r0, r1)
    kmin = np.maximum(np.ceil(lo - 0.5), 0).astype(np.int64)
    kmax = np.minimum(np.ceil(hi - 0.5) - 1, ny - 1).astype(np.int64)
    count = np.maximum(kmax - kmin + 1, 0)
    total = int(count.sum())
    if total == 0:
        return None
    which = np.repeat(np.arange(len(count)), count)
    k = kmin[which] + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    x = c0[which] + (k + 0.5 - r0[which]) * ((c1 - c0) / np.where(r1 != r0, r1 - r0, 1.0))[which]
    key = feature[which].astype(np.int64) * ny + k
    del which, k
    order = np.lexsort((x, key))
    x, key = x[order], key[order]
    # every closed ring crosses a row an even number of times, so sorted crossings pair up row by row
    xa, xb, key = x[0::2], x[1::2], key[0::2]
    j0 = np.maximum(np.ceil(xa - 0.5), 0).astype(np.int64)
    j1 = np.minimum(np.ceil(xb - 0.5) - 1, nx - 1).astype(np.int64)
    ok = j1 >= j0
    if not ok.any():
        # every crossing pair falls between two cell centres (a sliver or a kiosk-sized footprint)
        return None
    key = key[ok]
    return [key // ny, key % ny, j0[ok], j1[ok]]


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ring vertices ``(x, y)``, the ring of each vertex and the feature of each ring.

    Polygons without holes (most footprints) are one ring each, read with one ``get_coordinates``;
    only the others go through ``shapely.to_ragged_array``, whose ring extraction costs more.
    """
    simple = (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON) & (shapely.get_num_interior_rings(geoms) == 0)
    coords, vertex_ring = shapely.get_coordinates(geoms[simple], return_index=True)
    feature_of_ring = np.flatnonzero(simple)
    if simple.all():
        return coords, vertex_ring, feature_of_ring
    rest = np.flatnonzero(~simple)
    kind, more, offsets = shapely.to_ragged_array(geoms[rest])
    if kind == shapely.GeometryType.POLYGON:
        ring_offsets, geom_offsets = offsets
        ring_feature = np.repeat(np.arange(len(rest)), np.diff(geom_offsets))
    elif kind == shapely.GeometryType.MULTIPOLYGON:
        ring_offsets, part_offsets, geom_offsets = offsets
        part_feature = np.repeat(np.arange(len(rest)), np.diff(geom_offsets))
        ring_feature = part_feature[np.repeat(np.arange(len(part_offsets) - 1), np.diff(part_offsets))]
    else:
        raise ValueError(f"polygons expected, got {kind.name}")
    more_ring = np.repeat(np.arange(len(ring_offsets) - 1), np.diff(ring_offsets)) + len(feature_of_ring)
    return (
        np.concatenate([coords, more[:, :2]]),
        np.concatenate([vertex_ring, more_ring]),
        np.concatenate([feature_of_ring, rest[ring_feature]]),
    )


def reduce_cells(geoms: np.ndarray, grid: np.ndarray, transform: Affine, stat: str) -> np.ndarray:
    """Minimum or mean of ``grid`` over the cells each polygon covers (NaN for a polygon that covers none)."""
    n = len(geoms)
    ny, nx = grid.shape
    flat = grid.reshape(-1)
    acc = np.full(n, np.inf) if stat == "min" else np.zeros(n)
    cnt = np.zeros(n, dtype=np.int64)
    for feature, row, j0, j1 in cell_runs(geoms, transform, (ny, nx)):
        length = j1 - j0 + 1
        total = int(length.sum())
        if total == 0:
            continue
        start = row * nx + j0
        cells = np.repeat(start - (np.cumsum(length) - length), length) + np.arange(total)
        values = flat[cells]
        owner = np.repeat(feature, length)
        # runs come sorted by feature: reduce each feature's contiguous stretch of values
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ids = owner[first]
        if stat == "min":
            acc[ids] = np.minimum(acc[ids], np.minimum.reduceat(values, first))
        else:
            acc[ids] += np.add.reduceat(values, first)
        cnt[ids] += np.diff(np.r_[first, total])
    if stat == "min":
        return np.where(cnt > 0, acc, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
