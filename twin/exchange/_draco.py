"""A triangle mesh as a Draco bitstream for ``KHR_draco_mesh_compression`` (through DracoPy).

Draco quantizes positions on a cube grid (one step for the three axes) and predicts each vertex
from its neighbours across the mesh's edges: the walls of a prism are parallelograms, so most
vertices cost a few bits. The grid is chosen here, not left to Draco's default (which spreads
``2**bits`` steps over the extent): exactly ``step``, with the fewest bits that span the mesh. Vertex order and count may change (Draco
splits vertices at non-manifold edges and drops degenerate triangles), so the accessors' counts
and bounds are read from the decoded mesh, which also proves that the bitstream decodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import DracoPy
import numpy as np

from twin.errors import InputDataError

__all__ = ["DracoMesh", "encode"]

# Draco attribute types (draco::GeometryAttribute::Type) and data types (draco::DataType)
_POSITION, _GENERIC = 0, 4
_UINT16, _FLOAT32 = 4, 9
# the most compression: Draco's speed setting 0 (levels are 10 - speed)
_LEVEL = 10
_MAX_BITS = 30


@dataclass
class DracoMesh:
    """An encoded mesh and what its glTF accessors declare.

    Attributes
    ----------
    data
        The Draco bitstream (a buffer view of the GLB).
    attributes
        glTF attribute name -> Draco unique id (``KHR_draco_mesh_compression.attributes``).
    vertices, indices
        Decoded vertex and index counts.
    position_min, position_max
        Bounds of the decoded positions.
    step
        The quantization step of the positions [m]: each is within half of it on every axis.
    feature_type
        glTF component type of ``_FEATURE_ID_0`` (5123 unsigned short or 5126 float), if any.
    """

    data: bytes
    attributes: dict[str, int]
    vertices: int
    indices: int
    position_min: list[float]
    position_max: list[float]
    step: float
    feature_type: int | None


def encode(positions: np.ndarray, triangles: np.ndarray, feature_ids: np.ndarray | None, step: float) -> DracoMesh:
    """Encode ``(N, 3)`` positions, ``(M, 3)`` triangles and per-vertex feature ids.

    Parameters
    ----------
    positions
        Vertices in metres (small numbers: relative to the mesh's own corner).
    triangles
        Vertex indices, counter-clockwise from the front (Draco keeps the winding).
    feature_ids
        Non-negative integers per vertex, or None.
    step
        The quantization step [m]: positions land on a grid of it, each within half a step.

    Raises
    ------
    InputDataError
        A vertex that is not a number, or a mesh Draco cannot encode.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if not np.isfinite(pos).all():
        # Draco's encoder crashes the process on NaN: say which data is at fault instead
        bad = int((~np.isfinite(pos).all(axis=1)).sum())
        raise InputDataError(
            f"{bad} vertices of a mesh to export are not numbers (a building without a base or height?); "
            "give every building a base and a height (twin ingest fills them from the terrain) and export again."
        )
    lo = pos.min(axis=0)
    span = float((pos.max(axis=0) - lo).max())
    bits = min(_MAX_BITS, max(1, math.ceil(math.log2(span / step + 1)))) if span > 0 else 1
    generic = None
    feature_type = None
    if feature_ids is not None:
        fid = np.asarray(feature_ids)
        # a glTF vertex attribute may not be a 32-bit integer: unsigned short, else float (exact to 2**24)
        wide = len(fid) and int(fid.max()) > 65535
        feature_type = 5126 if wide else 5123
        generic = {1: fid.astype(np.float32 if wide else np.uint16)[:, None]}
    try:
        data = DracoPy.encode(
            pos.astype(np.float32),
            np.asarray(triangles, dtype=np.uint32),
            quantization_bits=bits,
            compression_level=_LEVEL,
            # a grid of exactly ``step`` rather than Draco's 2**bits steps over the extent: known error, fewer bits
            quantization_range=step * (2**bits - 1),
            quantization_origin=lo.astype(np.float32).tolist(),
            generic_attributes=generic,
        )
    except DracoPy.EncodingFailedException as exc:
        raise InputDataError(
            f"Draco could not compress a mesh of {len(pos)} vertices ({exc}); export with --no-compress."
        ) from exc
    mesh = DracoPy.decode(data)
    attributes = {}
    for att in mesh.attributes:
        if att["attribute_type"] == _POSITION:
            attributes["POSITION"] = int(att["unique_id"])
        elif att["attribute_type"] == _GENERIC:
            attributes["_FEATURE_ID_0"] = int(att["unique_id"])
    points = np.asarray(mesh.points, dtype=np.float32)
    return DracoMesh(
        data=data,
        attributes=attributes,
        vertices=len(points),
        indices=int(np.asarray(mesh.faces).size),
        position_min=points.min(axis=0).astype(float).tolist(),
        position_max=points.max(axis=0).astype(float).tolist(),
        step=step,
        feature_type=feature_type,
    )
