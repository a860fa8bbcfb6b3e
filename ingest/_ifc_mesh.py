"""The element meshes of one IFC building, placed in the target CRS: what its LoD2 shell is made of.

Only the elements that bound the building are kept: walls, curtain walls (and their plates and
members), slabs, cladding and floor coverings, and roofs (``IfcRoof`` and its parts, slabs and
coverings of type ROOF). Doors and windows are never meshed and openings are not subtracted, so a wall
is closed over its doors and windows. Columns, beams, stairs, railings, footings and proxies are left
out: they are not part of the envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest._ifc_structure import ENVELOPE, ROOF

__all__ = ["BuildingMesh", "building_mesh", "ROLES"]

#: Roles an element of a shell has (as in :mod:`ingest._ifc_structure`): bounding elements and roofs.
ROLES = (ENVELOPE, ROOF)


@dataclass
class BuildingMesh:
    """The triangles of one building's envelope elements, grouped by element.

    Attributes
    ----------
    verts
        ``(V, 3)`` float64: x, y in the target CRS and elevation [m] (the twin's vertical datum).
    faces
        ``(F, 3)`` int32 vertex indices, element by element.
    group_start
        ``(G + 1,)`` offsets of each element's triangles into ``faces``.
    ifc_class, guid, role
        ``(G,)`` each element's IFC class, GlobalId and role (``"envelope"`` or ``"roof"``).
    """

    verts: np.ndarray
    faces: np.ndarray
    group_start: np.ndarray
    ifc_class: np.ndarray
    guid: np.ndarray
    role: np.ndarray

    @property
    def triangles(self) -> int:
        """Number of triangles."""
        return len(self.faces)

    def face_role(self) -> np.ndarray:
        """``(F,)`` the role of each triangle's element."""
        return np.repeat(self.role, np.diff(self.group_start))

    def face_class(self) -> np.ndarray:
        """``(F,)`` the IFC class of each triangle's element."""
        return np.repeat(self.ifc_class, np.diff(self.group_start))

    def to_dict(self) -> dict[str, Any]:
        """Plain arrays (for a worker's reply and the read cache)."""
        return {
            "verts": self.verts,
            "faces": self.faces,
            "group_start": self.group_start,
            "ifc_class": [str(v) for v in self.ifc_class],
            "guid": [str(v) for v in self.guid],
            "role": [str(v) for v in self.role],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildingMesh:
        """The inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(d["verts"], dtype=np.float64).reshape(-1, 3),
            np.asarray(d["faces"], dtype=np.int32).reshape(-1, 3),
            np.asarray(d["group_start"], dtype=np.int64),
            np.asarray(d["ifc_class"], dtype=str),
            np.asarray(d["guid"], dtype=str),
            np.asarray(d["role"], dtype=str),
        )


def building_mesh(
    shapes: dict[int, Any],
    ids: list[int],
    roles: dict[int, str],
    entities: dict[int, Any],
    to_crs: Callable[[np.ndarray], np.ndarray],
    height_of: Callable[[np.ndarray], np.ndarray],
) -> BuildingMesh:
    """The mesh of a building's envelope elements ``ids`` (others are skipped), in the target CRS.

    Parameters
    ----------
    shapes
        Element id to :class:`ingest._ifc_geom.ElementShape` (local metres, with its mesh).
    ids
        The building's elements.
    roles
        Element id to its role (:meth:`ingest._ifc_structure.Structure.role`).
    entities
        Element id to its IFC entity (for its class and GlobalId).
    to_crs, height_of
        Local metres ``(n, 2)`` to the target CRS; local z to elevation.
    """
    verts, faces, counts, classes, guids, kinds = [], [], [], [], [], []
    offset = 0
    for i in ids:
        s = shapes[i]
        if roles[i] not in ROLES or s.verts is None or not len(s.faces):
            continue
        xy = to_crs(s.verts[:, :2])
        z = np.asarray(height_of(s.verts[:, 2]), dtype=np.float64)
        verts.append(np.column_stack([xy, z]))
        faces.append(s.faces.astype(np.int32) + offset)
        offset += len(s.verts)
        counts.append(len(s.faces))
        e = entities[i]
        classes.append(e.is_a())
        guids.append(getattr(e, "GlobalId", "") or "")
        kinds.append(roles[i])
    return BuildingMesh(
        np.vstack(verts) if verts else np.zeros((0, 3)),
        np.vstack(faces) if faces else np.zeros((0, 3), dtype=np.int32),
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        np.asarray(classes, dtype=str),
        np.asarray(guids, dtype=str),
        np.asarray(kinds, dtype=str),
    )
