"""LoD2 shells of IFC buildings from the envelope meshes the BIM ingest keeps (``twin.meshes``).

A shell is what is seen of the building from outside, with a semantic surface per triangle:

- **WallSurface**: the outer faces of walls, curtain walls and slab edges: faces within 30 degrees of
  vertical whose outside (10 cm along the face's normal) is outside the footprint (a courtyard is), or
  from which a horizontal ray along the normal leaves the building without meeting another of its
  faces (a wall behind a porch slab that the footprint includes); the inner faces of walls and interior
  walls are neither;
- **RoofSurface**: the upper faces (and edges) of roof elements (``IfcRoof``, slabs and coverings of type
  ROOF); a building without roof elements takes the upper faces of its top slabs (within 0.5 m of
  its top);
- **OuterCeilingSurface**: the underside of a roof where it overhangs the footprint (eaves), cut
  to the part outside the footprint;
- **GroundSurface**: the footprint at the base, as for LoD1 (written by the CityJSON writer).

The shell spans the building's base to its top (``base`` to ``base + height``) exactly as its LoD1
block does: what lies below the base (foundations, the ground slab's underside) or above the top
(parapets, gable walls through the roof; ``max_height`` records the tallest element) is cut off.
Doors and windows are not meshed and openings are not cut, so walls are closed over them; floors,
ceilings, columns, beams, stairs and railings are not part of the shell.

A building whose footprint no longer matches its mesh (edited after the import), or whose mesh is empty
(a bare frame has no walls, slabs or roofs), stays LoD1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from twin.exchange._lod import Prisms
from twin.exchange._mesh import prism_mesh

__all__ = ["Shells", "shells", "mixed_mesh", "SURFACES", "WALL", "ROOF", "OUTER_CEILING"]

#: Semantic surface types of shell triangles, by code.
SURFACES = ("WallSurface", "RoofSurface", "OuterCeilingSurface")
WALL, ROOF, OUTER_CEILING = 0, 1, 2

# |n_z| below this: a wall-like face (within 30 degrees of vertical); above it, facing up or down.
_VERTICAL_NZ = 0.5
# How far along a face's normal its outside is probed [m] (footprints are simplified by 5 mm).
_PROBE_M = 0.1
# Ray-triangle tests one building may cost (about 10 s of CPU); above it the footprint test alone decides.
_MAX_RAY_TESTS = 5e7
# Rays start this far off their face [m]: a face touching it (the next wall at a corner) does not hide it.
_RAY_START_M = 1e-3
_RAY_CHUNK = 128
# Top slabs of a building without roof elements: within this of its top [m].
_FLAT_ROOF_M = 0.5
# A mesh is the footprint's when the footprint lies within its plan bounds grown by this [m].
_MATCH_M = 0.05
_MIN_AREA_M2 = 1e-6


@dataclass
class Shells:
    """LoD2 shells of some of ``n`` buildings, as loose triangles.

    Attributes
    ----------
    has
        ``(n,)`` whether each building has a shell (else it stays LoD1).
    corners
        ``(T, 3, 3)`` triangle corners: x, y in the twin's CRS and elevation [m], counter-clockwise
        seen from outside.
    building
        ``(T,)`` the building of each triangle (sorted).
    surface
        ``(T,)`` the semantic surface of each triangle (:data:`SURFACES`).
    guid, ifc_class
        ``(T,)`` the GlobalId and IFC class of the element each triangle comes from.
    error
        ``(n,)`` how far the building's LoD1 block strays from its shell [m]: the larger of its roof's
        drop below the block's top and its overhang beyond the footprint (0 without a shell).
    """

    has: np.ndarray
    corners: np.ndarray
    building: np.ndarray
    surface: np.ndarray
    guid: np.ndarray
    ifc_class: np.ndarray
    error: np.ndarray


def shells(buildings: gpd.GeoDataFrame, meshes: dict[str, Any] | None) -> Shells:
    """The shells of the IFC buildings of ``buildings`` that have a mesh in ``meshes`` (``twin.meshes``)."""
    n = len(buildings)
    has = np.zeros(n, dtype=bool)
    error = np.zeros(n)
    parts: list[tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]] = []
    if meshes:
        ids = buildings["id"].astype(str).to_numpy()
        source = buildings["source"].astype(str).to_numpy() if "source" in buildings.columns else np.full(n, "")
        base = buildings["base"].to_numpy(float)
        top = base + buildings["height"].to_numpy(float)
        geoms = buildings.geometry.to_numpy()
        for i in np.flatnonzero(source == "ifc"):
            mesh = meshes.get(ids[i])
            if mesh is None or not mesh.triangles or not _matches(geoms[i], mesh.verts):
                continue
            corners, surface, element = _shell(mesh, geoms[i], base[i], top[i])
            if len(corners) == 0:
                continue
            has[i] = True
            error[i] = _error(corners, surface, geoms[i], top[i])
            parts.append((corners, surface, i, mesh.guid[element], mesh.ifc_class[element]))
    if parts:
        corners = np.concatenate([p[0] for p in parts])
        surface = np.concatenate([p[1] for p in parts])
        building = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int64) for p in parts])
        guid = np.concatenate([p[3] for p in parts]).astype(str)
        ifc_class = np.concatenate([p[4] for p in parts]).astype(str)
    else:
        corners, surface, building = np.zeros((0, 3, 3)), np.zeros(0, np.int8), np.zeros(0, np.int64)
        guid = ifc_class = np.zeros(0, dtype=str)
    return Shells(has, corners, building, surface, guid, ifc_class, error)


def mixed_mesh(pr: Prisms, sh: Shells, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One mesh of the buildings ``chosen`` (sorted): LoD2 shells where they have one, else LoD1 prisms.

    Returns
    -------
    xyz, triangles, building
        ``(M, 3)`` vertices (x, y in the twin's CRS, elevation), ``(K, 3)`` triangles into them and
        each vertex's building (an index into the layer, not into ``chosen``).
    """
    plain = chosen[~sh.has[chosen]]
    vertex, z, tri, feature = prism_mesh(pr, plain)
    xyz1 = np.column_stack([pr.xy[vertex], z])
    sel = np.isin(sh.building, chosen)
    k = int(sel.sum())
    xyz2 = sh.corners[sel].reshape(-1, 3)
    tri2 = np.arange(3 * k, dtype=np.int64).reshape(k, 3) + len(xyz1)
    building = np.concatenate([plain[feature], np.repeat(sh.building[sel], 3)])
    return np.vstack([xyz1, xyz2]), np.vstack([tri, tri2]), building


def _matches(footprint: shapely.Geometry, verts: np.ndarray) -> bool:
    """Whether the footprint lies within the mesh's plan bounds (a moved or edited footprint does not)."""
    if footprint is None or footprint.is_empty:
        return False
    x0, y0, x1, y1 = shapely.bounds(footprint)
    lo, hi = verts[:, :2].min(axis=0) - _MATCH_M, verts[:, :2].max(axis=0) + _MATCH_M
    return bool(lo[0] <= x0 and lo[1] <= y0 and x1 <= hi[0] and y1 <= hi[1])


def _shell(
    mesh: Any, footprint: shapely.Geometry, base: float, top: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The triangles of one building's shell, their surfaces and their elements (indices into ``mesh.guid``)."""
    p = mesh.verts[mesh.faces]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    size = np.linalg.norm(normal, axis=1)
    ok = size > 2 * _MIN_AREA_M2
    p, normal, size = p[ok], normal[ok] / size[ok, None], size[ok]
    role = mesh.face_role()[ok]
    group = np.repeat(np.arange(len(mesh.role)), np.diff(mesh.group_start))[ok]
    slab = np.char.startswith(mesh.face_class()[ok].astype(str), "IfcSlab")
    nz = normal[:, 2]
    up, down = nz >= _VERTICAL_NZ, nz <= -_VERTICAL_NZ
    side = ~up & ~down
    centre = p.mean(axis=1)
    horizontal = normal[:, :2] / np.maximum(np.linalg.norm(normal[:, :2], axis=1), 1e-12)[:, None]
    probe = centre[:, :2] + _PROBE_M * horizontal
    outward = ~shapely.contains_xy(footprint, probe[:, 0], probe[:, 1])
    ask = side & ~outward
    if ask.sum() * len(p) <= _MAX_RAY_TESTS:  # else (a huge model) the footprint alone decides
        ray = np.column_stack([horizontal, np.zeros(len(p))])
        outward[ask] = ~_blocked(centre[ask] + _RAY_START_M * ray[ask], ray[ask], p)
    roof = role == "roof"
    if not roof.any():  # a flat roof modelled as the top floor's slab
        roof = slab & (p[:, :, 2].max(axis=1) >= top - _FLAT_ROOF_M)
    eaves = roof & down & ~shapely.contains_xy(footprint, p[:, :, 0], p[:, :, 1]).all(axis=1)
    surface = np.full(len(p), -1, dtype=np.int8)
    surface[side & outward] = WALL
    surface[roof & (up | (side & outward))] = ROOF
    keep = surface >= 0
    under, src = _outside(p[eaves], normal[eaves], footprint)
    # a triangle's surface and element travel through the cuts as one label
    label = np.concatenate([group[keep] * 4 + surface[keep], group[eaves][src] * 4 + OUTER_CEILING])
    corners, label = _clip(np.concatenate([p[keep], under]), label, base, top)
    return corners, (label % 4).astype(np.int8), label // 4


def _blocked(origin: np.ndarray, direction: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Whether each ray meets one of the triangles ``p`` (Moller-Trumbore, rays in chunks)."""
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    out = np.zeros(len(origin), dtype=bool)
    for s in range(0, len(origin), _RAY_CHUNK):
        o, d = origin[s : s + _RAY_CHUNK, None, :], direction[s : s + _RAY_CHUNK, None, :]
        h = np.cross(d, e2[None])
        a = np.einsum("rfk,fk->rf", h, e1)
        ok = np.abs(a) > 1e-12
        f = 1.0 / np.where(ok, a, 1.0)
        sv = o - p[None, :, 0]
        u = f * np.einsum("rfk,rfk->rf", sv, h)
        q = np.cross(sv, e1[None])
        v = f * np.einsum("rfk,rfk->rf", np.broadcast_to(d, q.shape), q)
        t = f * np.einsum("rfk,fk->rf", q, e2)
        out[s : s + _RAY_CHUNK] = (ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)).any(axis=1)
    return out


def _outside(p: np.ndarray, normal: np.ndarray, footprint: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The parts of (non-vertical) triangles outside the footprint in plan, as triangles in their planes,
    and the triangle each comes from."""
    out, src = [], []
    for k, (tri, n) in enumerate(zip(p, normal)):
        rest = shapely.get_parts(shapely.difference(shapely.Polygon(tri[:, :2]), footprint))
        rest = shapely.MultiPolygon([g for g in rest if g.geom_type == "Polygon" and g.area > _MIN_AREA_M2])
        if rest.is_empty:
            continue
        pieces = shapely.get_parts(shapely.constrained_delaunay_triangles(rest))
        if not len(pieces):
            continue
        xy = shapely.get_coordinates(pieces).reshape(-1, 4, 2)[:, :3]
        z = tri[0, 2] - (n[0] * (xy[..., 0] - tri[0, 0]) + n[1] * (xy[..., 1] - tri[0, 1])) / n[2]
        pieces = np.concatenate([xy, z[..., None]], axis=2)
        # keep the original face's side facing out
        flip = np.cross(pieces[:, 1] - pieces[:, 0], pieces[:, 2] - pieces[:, 0]) @ n < 0
        pieces[flip] = pieces[flip][:, [0, 2, 1]]
        out.append(pieces)
        src.append(np.full(len(pieces), k, dtype=np.int64))
    if not out:
        return np.zeros((0, 3, 3)), np.zeros(0, dtype=np.int64)
    return np.concatenate(out), np.concatenate(src)


def _clip(p: np.ndarray, label: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangles cut to ``lo <= z <= hi`` (a cut triangle becomes a fan of triangles), with their labels."""
    z = p[:, :, 2]
    inside = (z.min(axis=1) >= lo) & (z.max(axis=1) <= hi)
    crossing = ~inside & (z.max(axis=1) > lo) & (z.min(axis=1) < hi)
    out_p, out_s = [p[inside]], [label[inside]]
    for tri, s in zip(p[crossing], label[crossing]):
        poly = _cut(_cut(list(tri), lo, above=True), hi, above=False)
        fan = [np.array([poly[0], poly[k], poly[k + 1]]) for k in range(1, len(poly) - 1)]
        if fan:
            out_p.append(np.array(fan))
            out_s.append(np.full(len(fan), s, dtype=np.int64))
    corners = np.concatenate(out_p)
    surf = np.concatenate(out_s)
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) / 2
    big = area > _MIN_AREA_M2
    return corners[big], surf[big]


def _cut(poly: list[np.ndarray], level: float, *, above: bool) -> list[np.ndarray]:
    """One Sutherland-Hodgman step: the part of a convex polygon above (or below) ``z = level``."""
    out = []
    for k, a in enumerate(poly):
        b = poly[(k + 1) % len(poly)]
        a_in = a[2] >= level if above else a[2] <= level
        b_in = b[2] >= level if above else b[2] <= level
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (level - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return out


def _error(corners: np.ndarray, surface: np.ndarray, footprint: shapely.Geometry, top: float) -> float:
    """How far the LoD1 block of a building strays from its shell [m] (see :class:`Shells`)."""
    pts = corners.reshape(-1, 3)
    overhang = float(shapely.distance(footprint, shapely.points(pts[:, :2])).max())
    roof = corners[surface == ROOF]
    drop = float(top - roof[:, :, 2].min()) if len(roof) else 0.0
    return max(overhang, drop, 0.0)
