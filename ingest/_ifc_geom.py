"""Meshing an IFC model's elements and projecting each to a plan polygon (local metres).

Only the elements a footprint, a roof outline or a height needs are meshed: walls, slabs, columns,
roofs, beams and the like. Openings are not subtracted (a door or window leaves the wall above and
below it, so the plan outline is the same) and doors, windows, furniture, MEP and spaces (unless
asked for) are left out, which is where most of a model's meshing time goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

__all__ = ["ElementShape", "Meshing", "select", "mesh", "plan_polygon", "KERNELS", "DEFAULT_KERNEL", "FAST_KERNEL"]

#: Geometry kernels ``kernel=`` accepts; "auto" is the fast one with the default as a safety net.
KERNELS = ("auto", "manifold", "opencascade", "cgal", "cgal-simple")
DEFAULT_KERNEL = "opencascade"
FAST_KERNEL = "manifold"

# Element classes (and their subtypes) that are never meshed: they add nothing to an outline or a
# height, or (openings) are not solid.
_SKIPPED = (
    "IfcFeatureElement",
    "IfcDoor",
    "IfcWindow",
    "IfcFurnishingElement",
    "IfcDistributionElement",
    "IfcElementComponent",
    "IfcVirtualElement",
    "IfcTransportElement",
    "IfcGeographicElement",
    "IfcCivilElement",
)
# Representation identifiers the geometry iterator meshes as an element's body.
_BODY_IDS = ("Body", "Facetation", "Body-FallBack")

# Signed plan areas of a closed, consistently oriented mesh sum to zero (what goes up comes down);
# within this relative balance only its upward faces are projected, halving the union's work.
_CLOSED_BALANCE = 1e-6
_MIN_TRIANGLE_M2 = 1e-10


@dataclass(frozen=True)
class ElementShape:
    """One meshed element: its plan polygon in local metres, its vertical extent and its triangles.

    ``verts`` (``(n, 3)`` local metres) and ``faces`` (``(m, 3)`` indices) are the element's mesh as
    meshed (openings not subtracted), kept for the buildings' LoD2 shells.
    """

    id: int
    plan: shapely.Geometry
    zmin: float
    zmax: float
    verts: np.ndarray | None = field(default=None, repr=False, compare=False)
    faces: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class Meshing:
    """The meshing of one file."""

    shapes: dict[int, ElementShape]
    kernel: str
    #: Step ids of elements with a body representation that no kernel could mesh.
    failed: list[int] = field(default_factory=list)
    #: Elements the fast kernel lost and the default kernel meshed.
    rescued: int = 0
    seconds: float = 0.0


def select(f: Any, *, spaces: bool) -> list[Any]:
    """The elements (and optionally spaces) to mesh: those with a body representation, minus skipped classes."""
    skipped: dict[str, bool] = {}  # per class: a model has thousands of elements of a few dozen classes
    chosen = []
    for e in f.by_type("IfcElement"):
        cls = e.is_a()
        if cls not in skipped:
            skipped[cls] = any(e.is_a(c) for c in _SKIPPED)
        if not skipped[cls] and _has_body(e):
            chosen.append(e)
    if spaces:
        chosen += [s for s in f.by_type("IfcSpace") if _has_body(s)]
    return chosen


def mesh(f: Any, products: list[Any], *, kernel: str = "auto", threads: int = 1) -> Meshing:
    """Mesh ``products`` with ``kernel`` and project each to plan.

    With a kernel other than the default, elements it loses (fails on silently) are meshed again with
    the default kernel; elements no kernel meshes are listed in ``failed``. With ``"auto"``, elements
    whose body is a boolean result (a wall clipped under the roof) are meshed with the default kernel
    from the start: the fast one cuts some of them wrongly (ifcopenshell 0.9: FZK-Haus's upper walls
    and IfcOpenHouse's gables rise through the roof), which their LoD2 shells and ``max_height`` show.
    """
    t0 = time.perf_counter()
    first = FAST_KERNEL if kernel == "auto" else kernel
    clipped = [p for p in products if _has_boolean(p)] if kernel == "auto" and first != DEFAULT_KERNEL else []
    skip = {p.id() for p in clipped}
    plain = [p for p in products if p.id() not in skip]
    shapes = _iterate(f, plain, first, threads) if plain else {}
    used, rescued = first, 0
    if clipped:
        shapes.update(_iterate(f, clipped, DEFAULT_KERNEL, threads))
        used = f"{first}+{DEFAULT_KERNEL}"
    missing = [p for p in products if p.id() not in shapes]
    if missing and first != DEFAULT_KERNEL:
        more = _iterate(f, missing, DEFAULT_KERNEL, threads)
        shapes.update(more)
        rescued = len(more)
        if more:
            used = f"{first}+{DEFAULT_KERNEL}"
        missing = [p for p in missing if p.id() not in shapes]
    return Meshing(shapes, used, [p.id() for p in missing], rescued, time.perf_counter() - t0)


def plan_polygon(verts: np.ndarray, faces: np.ndarray) -> shapely.Geometry:
    """The plan projection (union of projected triangles) of a triangle mesh.

    Parameters
    ----------
    verts
        ``(n, 3)`` vertex coordinates.
    faces
        ``(m, 3)`` vertex indices of triangles.
    """
    if len(faces) == 0:
        return shapely.Polygon()
    tri = verts[faces][:, :, :2]
    d1 = tri[:, 1] - tri[:, 0]
    d2 = tri[:, 2] - tri[:, 0]
    twice_area = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    total = np.abs(twice_area).sum()
    if total <= 2 * _MIN_TRIANGLE_M2:
        return shapely.Polygon()
    if abs(twice_area.sum()) <= _CLOSED_BALANCE * total:
        keep = twice_area > 2 * _MIN_TRIANGLE_M2
    else:  # an open or inconsistently oriented mesh: every face counts
        keep = np.abs(twice_area) > 2 * _MIN_TRIANGLE_M2
    polys = shapely.polygons(tri[keep])
    try:
        return shapely.union_all(polys)
    except shapely.errors.GEOSException:
        # Nearly coincident edges can defeat the exact overlay; snapping to 0.1 mm never does.
        return shapely.union_all(polys, grid_size=1e-4)


def _has_body(e: Any) -> bool:
    shape = getattr(e, "Representation", None)
    if shape is None:
        return False
    for rep in shape.Representations or ():
        ident = rep.RepresentationIdentifier
        if ident in _BODY_IDS or (ident is None and rep.RepresentationType not in ("Curve2D", "GeometricCurveSet")):
            return True
    return False


def _has_boolean(e: Any) -> bool:
    """Whether an element's body holds a boolean result (a clipping or a difference), mapped items included."""
    stack = [
        item
        for rep in e.Representation.Representations or ()
        if rep.RepresentationIdentifier in _BODY_IDS or rep.RepresentationIdentifier is None
        for item in rep.Items or ()
    ]
    seen = set()
    while stack:
        item = stack.pop()
        if item.id() in seen:
            continue
        seen.add(item.id())
        if item.is_a("IfcBooleanResult"):
            return True
        if item.is_a("IfcMappedItem"):
            stack.extend(item.MappingSource.MappedRepresentation.Items or ())
    return False


def _settings() -> Any:
    import ifcopenshell.geom

    s = ifcopenshell.geom.settings()
    s.set("use-world-coords", True)
    s.set("disable-opening-subtractions", True)
    s.set("no-normals", True)
    return s


def _iterate(f: Any, products: list[Any], kernel: str, threads: int) -> dict[int, ElementShape]:
    import ifcopenshell.geom

    it = ifcopenshell.geom.iterator(_settings(), f, max(1, threads), include=products, geometry_library=kernel)
    out: dict[int, ElementShape] = {}
    if not it.initialize():
        return out
    while True:
        shape = it.get()
        geom = shape.geometry
        verts = np.frombuffer(geom.verts_buffer, dtype=np.float64).reshape(-1, 3)
        faces = np.frombuffer(geom.faces_buffer, dtype=np.int32).reshape(-1, 3)
        if len(verts):
            out[shape.id] = ElementShape(
                shape.id,
                plan_polygon(verts, faces),
                float(verts[:, 2].min()),
                float(verts[:, 2].max()),
                verts.copy(),
                faces.copy(),
            )
        if not it.next():
            break
    return out
