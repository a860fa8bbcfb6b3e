"""Building footprints extruded into LoD1 prisms: rings, walls and roof triangles as flat arrays.

One :class:`Prisms` holds every building of a layer at once, so that the CityJSON and glTF writers
share one geometry and the glTF one never loops over buildings in Python (100,000 buildings in
seconds). A footprint is oriented (exterior counter-clockwise, holes clockwise seen from above), so
that walls built edge by edge face outwards for exteriors and holes alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

__all__ = ["Prisms", "prisms"]


@dataclass
class Prisms:
    """LoD1 solids of ``n`` buildings.

    Attributes
    ----------
    xy
        ``(V, 2)`` float64 footprint vertices in the twin's CRS, ring by ring (rings not closed).
    vertex_building
        ``(V,)`` the building of each vertex.
    bottom, top
        ``(n,)`` base and roof elevation [m] of each building.
    ring_start
        ``(R + 1,)`` offsets of the rings into ``xy``.
    ring_part
        ``(R,)`` the polygon part of each ring; a part's first ring is its exterior.
    part_building
        ``(P,)`` the building of each polygon part.
    roof
        ``(T, 3)`` roof triangles, indices into ``xy`` (counter-clockwise from above).
    roof_building
        ``(T,)`` the building of each roof triangle.
    """

    xy: np.ndarray
    vertex_building: np.ndarray
    bottom: np.ndarray
    top: np.ndarray
    ring_start: np.ndarray
    ring_part: np.ndarray
    part_building: np.ndarray
    roof: np.ndarray
    roof_building: np.ndarray
    _walls: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of buildings."""
        return len(self.bottom)

    def walls(self) -> np.ndarray:
        """``(E, 2)`` wall edges ``(a, b)`` as indices into ``xy``: one per ring edge, outward on its right."""
        if self._walls is None:
            starts, ends = self.ring_start[:-1], self.ring_start[1:]
            a = np.arange(self.ring_start[-1])
            b = a + 1
            b[ends - 1] = starts  # the closing edge of each ring
            self._walls = np.column_stack([a, b])
        return self._walls


def prisms(geoms: np.ndarray, base: np.ndarray, height: np.ndarray) -> Prisms:
    """LoD1 prisms of footprints: each extruded from ``base`` to ``base + height``.

    Parameters
    ----------
    geoms
        Polygons or MultiPolygons (shapely array), one per building.
    base, height
        Base elevation and height [m] per building.
    """
    geoms = shapely.orient_polygons(np.asarray(geoms, dtype=object), exterior_cw=False)
    base = np.asarray(base, dtype=np.float64)
    height = np.asarray(height, dtype=np.float64)
    parts, part_building = shapely.get_parts(geoms, return_index=True)
    # rings of each part, exterior first
    n_int = shapely.get_num_interior_rings(parts)
    ring_list = [shapely.get_exterior_ring(parts)]
    ring_part = [np.arange(len(parts))]
    order_key = [np.zeros(len(parts), dtype=np.int64)]
    for k in range(int(n_int.max()) if len(parts) else 0):
        has = np.flatnonzero(n_int > k)
        ring_list.append(shapely.get_interior_ring(parts[has], k))
        ring_part.append(has)
        order_key.append(np.full(len(has), k + 1))
    rings = np.concatenate(ring_list)
    rp = np.concatenate(ring_part)
    order = np.lexsort([np.concatenate(order_key), rp])
    rings, rp = rings[order], rp[order]
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of, minlength=len(rings))
    # drop each ring's closing vertex (a repeat of its first)
    closing = np.cumsum(counts) - 1
    keep = np.ones(len(coords), dtype=bool)
    keep[closing] = False
    xy = coords[keep]
    lengths = counts - 1
    ring_start = np.concatenate([[0], np.cumsum(lengths)])
    vertex_building = np.repeat(part_building[rp], lengths)
    roof, roof_building = _roof_triangles(parts, part_building, xy, vertex_building)
    return Prisms(
        xy=xy,
        vertex_building=vertex_building,
        bottom=base,
        top=base + height,
        ring_start=ring_start,
        ring_part=rp,
        part_building=part_building,
        roof=roof,
        roof_building=roof_building,
    )


def _roof_triangles(
    parts: np.ndarray, part_building: np.ndarray, xy: np.ndarray, vertex_building: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Constrained Delaunay triangles of each part, as indices into ``xy`` (the building's own vertices)."""
    tris = shapely.constrained_delaunay_triangles(parts)
    tri, tri_part = shapely.get_parts(tris, return_index=True)
    tri_building = part_building[tri_part]
    corners = shapely.get_coordinates(tri).reshape(-1, 4, 2)[:, :3]
    # each corner is a footprint vertex of the same building: look it up by (building, x, y)
    keys = np.lexsort([xy[:, 1], xy[:, 0], vertex_building])
    sb, sx, sy = vertex_building[keys], xy[keys, 0], xy[keys, 1]
    qb = np.repeat(tri_building, 3)
    qx, qy = corners[..., 0].ravel(), corners[..., 1].ravel()
    idx = _lookup(sb, sx, sy, qb, qx, qy)
    index = keys[idx].reshape(-1, 3)
    # counter-clockwise from above
    p = xy[index]
    area2 = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 2, 0] - p[:, 0, 0]) * (
        p[:, 1, 1] - p[:, 0, 1]
    )
    flip = area2 < 0
    index[flip] = index[flip][:, [0, 2, 1]]
    return index.astype(np.int64), tri_building


def _lookup(sb, sx, sy, qb, qx, qy) -> np.ndarray:
    """Positions in the (building, x, y)-sorted arrays of the queried points (each is present)."""
    lo = np.zeros(len(qb), dtype=np.int64)
    hi = np.full(len(qb), len(sb), dtype=np.int64)
    # binary search on the three keys at once
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        m = np.minimum(mid, len(sb) - 1)
        less = (sb[m] < qb) | ((sb[m] == qb) & ((sx[m] < qx) | ((sx[m] == qx) & (sy[m] < qy))))
        lo = np.where(active & less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)
    return np.minimum(lo, len(sb) - 1)
