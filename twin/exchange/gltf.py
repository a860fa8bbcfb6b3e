"""The buildings as one glTF 2.0 binary (GLB) in the twin's CRS, for desktop 3D tools.

Vertices are east/north/up metres from ``origin`` (the buildings' south-west corner, rounded to a
metre), written in ``asset.extras`` with the CRS: ``x + origin`` gives the twin's coordinates back.
Each building is a feature with its attributes (``EXT_mesh_features``, ``EXT_structural_metadata``):
an LoD1 block, or its LoD2 shell for an IFC building with a mesh in the twin (:mod:`._lod2`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj

from twin.errors import InputDataError
from twin.exchange._attributes import STEPS, columns
from twin.exchange._glb import Property, glb_bytes
from twin.exchange._lod import prisms
from twin.exchange._lod2 import mixed_mesh, shells

__all__ = ["write_glb"]


def write_glb(
    buildings: gpd.GeoDataFrame,
    path: Path,
    *,
    quantize: bool = True,
    compress: bool = True,
    meshes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``buildings`` as LoD1 prisms (LoD2 shells where ``meshes`` has them) into one GLB.

    ``compress`` writes a Draco mesh (``KHR_draco_mesh_compression``), else ``quantize`` decides
    between 16-bit and float positions. Returns ``buildings``, ``lod2`` (how many are shells),
    ``bytes`` and ``origin``.
    """
    if buildings is None or len(buildings) == 0:
        raise InputDataError("The twin has no buildings to export; ingest them with --buildings or --ifc.")
    crs = pyproj.CRS(buildings.crs)
    pr = prisms(buildings.geometry.to_numpy(), buildings["base"].to_numpy(float), buildings["height"].to_numpy(float))
    sh = shells(buildings, meshes)
    xyz, tri, feature = mixed_mesh(pr, sh, np.arange(pr.n))
    origin = np.floor(xyz.min(axis=0))
    local = xyz - origin
    props = {
        name: Property(kind, values, desc, nd, STEPS.get(name))
        for name, (kind, values, desc, nd) in columns(buildings).items()
    }
    extras = {"crs": crs.to_string(), "crs_wkt": crs.to_wkt(), "origin": origin.tolist(), "axes": "east, north, up [m]"}
    data = glb_bytes(
        local, tri, feature_ids=feature, properties=props, quantize=quantize, compress=compress, extras=extras
    )
    path.write_bytes(data)
    return {"buildings": pr.n, "lod2": int(sh.has.sum()), "bytes": len(data), "origin": origin.tolist()}
