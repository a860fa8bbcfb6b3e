"""A building's footprint from its meshed elements: the outline of what bounds it in plan, closed and checked.

The rule (stated in the README's BIM section):

* the footprint is the union of the plan outlines of everything that bounds the building in plan:
  walls, curtain walls, floor slabs, floor and cladding coverings (the envelope), columns, beams,
  plates and members (the frame) and the spaces, so it always contains the spaces;
* gaps narrower than ``2 * CLOSING_M`` between them are closed (a morphological closing), so that a
  facade of separate panels, or a floor that stops short of a wall, still gives one outline;
* a hole is kept as a courtyard only where nothing is: a hole holding a space is filled, and the
  part of a hole under a roof or any other element;
* a building with no envelope and no spaces (a bare steel frame) gets its roof outline, or else the
  convex hull of its frame, and a warning says so;
* elements lying far outside the building's main cluster (more than ``MAX_SPAN_M / 2`` from the
  median of the elements) are dropped with a warning naming their GlobalIds;
* a footprint smaller than ``SMALL_FRACTION`` of its elements' convex hull gets a warning with both areas.

Roofs are kept apart (the roof outline): an overhang shelters the ground but does not stand on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import shapely

__all__ = ["CLOSING_M", "MAX_SPAN_M", "SMALL_FRACTION", "outliers", "closed_outline", "frame_outline"]

#: Closing radius [m]: gaps up to twice this wide between bounding elements are closed.
CLOSING_M = 0.5
#: No building is wider (or taller) than this [m]; elements further than half of it from the
#: building's median are strays (an element exported at 1e12 m, a survey point left in the model).
MAX_SPAN_M = 2000.0
#: A footprint smaller than this fraction of its elements' convex hull is reported.
SMALL_FRACTION = 0.5
# A hole that holds this much [m2] of a space is a room, not a courtyard.
_MIN_SPACE_M2 = 0.01


def outliers(bounds: np.ndarray) -> np.ndarray:
    """Which elements lie far outside the main cluster.

    Parameters
    ----------
    bounds
        ``(n, 6)`` per element: ``xmin, ymin, zmin, xmax, ymax, zmax`` [m].

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool: True where an element reaches further than ``MAX_SPAN_M / 2`` from the median
        of the elements' centres, in plan or in height.
    """
    if len(bounds) == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = bounds[:, :3], bounds[:, 3:]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # An element with an empty plan has NaN plan bounds: it is judged by its height alone.
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmedian((lo + hi) / 2.0, axis=0)
        reach = np.maximum(np.abs(lo - centre), np.abs(hi - centre))
        return (reach > MAX_SPAN_M / 2.0).any(axis=1)


def closed_outline(
    bounding: Sequence[shapely.Geometry], spaces: Sequence[shapely.Geometry], covers: Sequence[shapely.Geometry]
) -> shapely.Geometry:
    """The closed outline of the bounding elements and spaces; holes kept only where nothing is.

    Parameters
    ----------
    bounding
        Plan polygons of the envelope and the frame.
    spaces
        Plan polygons of the building's spaces: part of the outline, and a hole holding one is filled whole.
    covers
        Plan polygons of everything else above the ground (roofs, stairs): the part of a hole under
        any of them is filled.
    """
    union = shapely.union_all([g for g in [*bounding, *spaces] if not g.is_empty])
    # Mitred buffers out and back in: right-angled corners come back exactly; gaps up to 2 r close.
    closed = shapely.buffer(
        shapely.buffer(union, CLOSING_M, join_style="mitre", mitre_limit=2.0),
        -CLOSING_M,
        join_style="mitre",
        mitre_limit=2.0,
    )
    closed = shapely.union_all([union, closed])  # a bevelled acute corner never loses what an element covers
    shells = shapely.union_all(
        [shapely.Polygon(p.exterior) for p in shapely.get_parts(closed) if p.geom_type == "Polygon"]
    )
    inside = shapely.difference(shells, closed)
    if inside.is_empty:
        return closed
    rooms = shapely.union_all([g for g in spaces if not g.is_empty])
    over = shapely.union_all([g for g in covers if not g.is_empty])
    fill = [
        hole if shapely.area(shapely.intersection(hole, rooms)) > _MIN_SPACE_M2 else shapely.intersection(hole, over)
        for hole in shapely.get_parts(inside)
    ]
    return shapely.union_all([closed, *fill])


def frame_outline(frame: Sequence[shapely.Geometry], roofs: Sequence[shapely.Geometry]) -> tuple[shapely.Geometry, str]:
    """A bare frame's footprint: its roof outline where it has a roof, else its convex hull.

    Returns
    -------
    tuple
        The outline and what it is (``"roof outline"`` or ``"convex hull of the frame"``).
    """
    roof = shapely.union_all([g for g in roofs if not g.is_empty])
    if not roof.is_empty and roof.area > 0:
        return shapely.union_all(
            [shapely.Polygon(p.exterior) for p in shapely.get_parts(roof) if p.geom_type == "Polygon"]
        ), "roof outline"
    return shapely.convex_hull(shapely.union_all(list(frame))), "convex hull of the frame"
