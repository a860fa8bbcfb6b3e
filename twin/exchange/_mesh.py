"""Triangle meshes of LoD1 prisms and of grids (terrain, water surface), ready for :mod:`._glb`."""

from __future__ import annotations

import numpy as np

from twin.exchange._lod import Prisms

__all__ = ["prism_mesh", "grid_mesh"]


def prism_mesh(pr: Prisms, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices and triangles of the buildings ``chosen`` (sorted indices): walls and roofs.

    The ground faces are left out (nobody sees them from the globe: they cost bytes, not looks).

    Returns
    -------
    vertex, z, triangles, feature
        Footprint vertex index (into ``pr.xy``) and elevation of each mesh vertex (bottoms first,
        then tops), ``(M, 3)`` triangles into them, and each mesh vertex's feature (position in ``chosen``).
    """
    # a building's vertices and roof triangles are contiguous (both are ordered by building)
    vstart = np.searchsorted(pr.vertex_building, np.arange(pr.n + 1))
    tstart = np.searchsorted(pr.roof_building, np.arange(pr.n + 1))
    vertex = _ranges(vstart[chosen], vstart[chosen + 1])
    k = len(vertex)
    local = np.full(len(pr.xy), -1, dtype=np.int64)
    local[vertex] = np.arange(k)
    edges = pr.walls()[vertex]
    a, b = local[edges[:, 0]], local[edges[:, 1]]
    walls = np.empty((2 * len(a), 3), dtype=np.int64)
    walls[0::2] = np.column_stack([a, b, b + k])
    walls[1::2] = np.column_stack([a, b + k, a + k])
    roof = local[pr.roof[_ranges(tstart[chosen], tstart[chosen + 1])]] + k
    building = pr.vertex_building[vertex]
    z = np.concatenate([pr.bottom[building], pr.top[building]])
    feature = np.searchsorted(chosen, building)
    return np.concatenate([vertex, vertex]), z, np.vstack([walls, roof]), np.concatenate([feature, feature])


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, e) for s, e in zip(starts, ends)])`` without the loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def grid_mesh(z: np.ndarray, wet: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A heightfield over cell centres: vertices ``(row, col)`` and two triangles per square of four.

    With ``wet``, only squares whose four corners are wet are kept (and only their vertices).

    Returns
    -------
    rows, cols, triangles
        The vertices' cells and ``(M, 3)`` triangles, counter-clockwise from above (north-up grid).
    """
    ny, nx = z.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    a, b = idx[:-1, :-1], idx[:-1, 1:]  # top-left, top-right (row 0 is north)
    c, d = idx[1:, :-1], idx[1:, 1:]  # bottom-left, bottom-right
    keep = np.ones((ny - 1, nx - 1), dtype=bool)
    if wet is not None:
        keep = wet[:-1, :-1] & wet[:-1, 1:] & wet[1:, :-1] & wet[1:, 1:]
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    # counter-clockwise seen from above: bottom-left, bottom-right, top-right ...
    tri = np.vstack([np.column_stack([c, d, b]), np.column_stack([c, b, a])])
    used = np.unique(tri)
    local = np.full(ny * nx, -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    rows, cols = np.divmod(used, nx)
    return rows, cols, local[tri]
