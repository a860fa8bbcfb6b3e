"""The buildings as one glTF 2.0 binary (GLB) in the twin's CRS, for desktop 3D tools.

Vertices are east/north/up metres from ``origin`` (the buildings' south-west corner, rounded to a
metre), written in ``asset.extras`` with the CRS: ``x + origin`` gives the twin's coordinates back.
Each building is a feature with its attributes (``EXT_mesh_features``, ``EXT_structural_metadata``).
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
from twin.exchange._mesh import prism_mesh

__all__ = ["write_glb"]


def write_glb(
    buildings: gpd.GeoDataFrame, path: Path, *, quantize: bool = True, compress: bool = True
) -> dict[str, Any]:
    """Write ``buildings`` as LoD1 prisms into one GLB; returns ``buildings``, ``bytes`` and ``origin``.

    ``compress`` writes a Draco mesh (``KHR_draco_mesh_compression``), else ``quantize`` decides
    between 16-bit and float positions.
    """
    if buildings is None or len(buildings) == 0:
        raise InputDataError("The twin has no buildings to export; ingest them with --buildings or --ifc.")
    crs = pyproj.CRS(buildings.crs)
    pr = prisms(buildings.geometry.to_numpy(), buildings["base"].to_numpy(float), buildings["height"].to_numpy(float))
    chosen = np.arange(pr.n)
    vertex, z, tri, feature = prism_mesh(pr, chosen)
    origin = np.floor([pr.xy[:, 0].min(), pr.xy[:, 1].min(), float(z.min())])
    local = np.column_stack([pr.xy[vertex] - origin[:2], z - origin[2]])
    props = {
        name: Property(kind, values, desc, nd, STEPS.get(name))
        for name, (kind, values, desc, nd) in columns(buildings).items()
    }
    extras = {"crs": crs.to_string(), "crs_wkt": crs.to_wkt(), "origin": origin.tolist(), "axes": "east, north, up [m]"}
    data = glb_bytes(
        local, tri, feature_ids=feature, properties=props, quantize=quantize, compress=compress, extras=extras
    )
    path.write_bytes(data)
    return {"buildings": pr.n, "bytes": len(data), "origin": origin.tolist()}
