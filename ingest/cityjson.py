"""CityJSON buildings in: footprints, bases and heights from LoD1/LoD2 solids, in the file's own CRS.

Reads CityJSON 1.x/2.0 files (``.city.json``) and CityJSONSeq (``.city.jsonl``). Each ``Building``
(with its ``BuildingPart`` children) becomes one footprint: the ground projection of its highest-LoD
solid or surface geometry -- its ``GroundSurface`` faces where the semantics name them, else the
union of every non-vertical face seen from above. Its ``base`` is the geometry's lowest vertex and
its ``height`` the highest above that. The result goes through the ordinary building-layer path
(reprojected, validated, ids made unique) like any other footprint file.

>>> gdf = read_cityjson("city.city.json")   # doctest: +SKIP
>>> gdf[["id", "base", "height"]]            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ingest.errors import CRSError, InputDataError

__all__ = ["is_cityjson", "read_cityjson"]

_BUILDING = {"Building", "BuildingPart"}
# Attributes carried over as columns: CityJSON name -> column.
_ATTRIBUTES = {
    "name": "name",
    "storeysAboveGround": "storeys",
    "storeys": "storeys",
    "ifc_guid": "ifc_guid",
    "ifc_file": "file",
}


def is_cityjson(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a CityJSON or CityJSONSeq file (by name, else by its first bytes)."""
    name = Path(path).name.lower()
    if name.endswith((".city.json", ".city.jsonl")):
        return True
    if not name.endswith((".json", ".jsonl")):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return re.search(rb'"type"\s*:\s*"CityJSON', head) is not None


def read_cityjson(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """The buildings of a CityJSON file: ``id``, ``base``, ``height``, footprint polygons (and
    ``name``, ``storeys``, ``ifc_guid``, ``file`` where the file has them), in the file's CRS.

    Raises
    ------
    InputDataError
        The file is not CityJSON, or holds no building with a geometry.
    CRSError
        ``metadata.referenceSystem`` names no CRS pyproj knows.
    """
    path = Path(path)
    head, features = _documents(path)
    crs = _crs(head, path)
    rows: list[dict[str, Any]] = []
    for doc in features:
        verts = _vertices(doc, head, path)
        objects = doc.get("CityObjects") or {}
        for oid, obj in objects.items():
            if obj.get("type") != "Building":
                continue
            row = _building(oid, obj, objects, verts)
            if row is not None:
                rows.append(row)
    if not rows:
        raise InputDataError(
            f"CityJSON file {path} holds no Building with a geometry (LoD1/LoD2 solids or surfaces); check "
            "the file in a CityJSON viewer (e.g. ninja.cityjson.org)."
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _documents(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The file's head (transform, metadata) and its documents holding city objects."""
    try:
        if path.name.lower().endswith(".jsonl"):
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            head = lines[0] if lines else {}
            docs = lines
        else:
            head = json.loads(path.read_text())
            docs = [head]
    except (OSError, ValueError) as exc:
        raise InputDataError(f"CityJSON file {path} cannot be read ({exc}); is it complete JSON?") from None
    if head.get("type") != "CityJSON":
        raise InputDataError(
            f"{path} is not CityJSON (its type is {head.get('type')!r}, not 'CityJSON'); give a .city.json or "
            ".city.jsonl file."
        )
    return head, iter(docs)


def _crs(head: dict[str, Any], path: Path) -> pyproj.CRS | None:
    ref = (head.get("metadata") or {}).get("referenceSystem")
    if not ref:
        return None  # the building-layer path asks for --layer-crs buildings=...
    m = re.search(r"(?:EPSG|epsg)[/:]+(?:[\d.]+[/:]+)?(\d+)\s*$", str(ref))
    try:
        crs = pyproj.CRS.from_epsg(int(m.group(1))) if m else pyproj.CRS(str(ref))
    except (pyproj.exceptions.CRSError, ValueError):
        raise CRSError(
            f"CityJSON file {path} names its CRS {ref!r}, which is not an EPSG CRS pyproj knows; fix "
            "metadata.referenceSystem (e.g. https://www.opengis.net/def/crs/EPSG/0/7415)."
        ) from None
    if crs.is_compound:  # e.g. EPSG:7415 (RD New + NAP height): the footprints are in its horizontal part
        crs = crs.sub_crs_list[0]
    return crs


def _vertices(doc: dict[str, Any], head: dict[str, Any], path: Path) -> np.ndarray:
    verts = np.asarray(doc.get("vertices") or [], dtype=np.float64).reshape(-1, 3)
    tr = doc.get("transform") or head.get("transform")
    if tr:
        verts = verts * np.asarray(tr["scale"], dtype=np.float64) + np.asarray(tr["translate"], dtype=np.float64)
    return verts


def _building(oid: str, obj: dict[str, Any], objects: dict[str, Any], verts: np.ndarray) -> dict[str, Any] | None:
    """One footprint row from a building and its parts (None when none of them has a geometry)."""
    geoms = [g for o in [obj, *(objects.get(c, {}) for c in obj.get("children") or [])] for g in _best(o)]
    if not geoms:
        return None
    footprints = []
    zs = []
    for g in geoms:
        faces, ground = _faces(g)
        idx = np.fromiter((i for face in faces for ring in face for i in ring), dtype=np.int64)
        zs.append(verts[idx, 2])
        chosen = [f for f, is_ground in zip(faces, ground) if is_ground] or faces
        polys = [_plan(face, verts) for face in chosen]
        polys = [p for p in polys if p is not None]
        if polys:
            footprints.append(shapely.union_all(polys))
    if not footprints:
        return None
    z = np.concatenate(zs)
    footprint = shapely.union_all(footprints)
    row: dict[str, Any] = {"id": str(oid), "base": float(z.min()), "height": float(z.max() - z.min())}
    attrs = obj.get("attributes") or {}
    for key, col in _ATTRIBUTES.items():
        if key in attrs and col not in row:
            row[col] = attrs[key]
    row["geometry"] = footprint
    return row


def _best(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The object's geometries of its highest LoD (solids and surfaces only)."""
    geoms = [
        g
        for g in obj.get("geometry") or []
        if g.get("type") in ("Solid", "MultiSolid", "CompositeSolid", "MultiSurface", "CompositeSurface")
    ]
    if not geoms:
        return []
    top = max(str(g.get("lod", "0")) for g in geoms)
    return [g for g in geoms if str(g.get("lod", "0")) == top]


def _faces(geom: dict[str, Any]) -> tuple[list[list[list[int]]], list[bool]]:
    """Every face (rings of vertex indices) of a geometry, and whether each is a GroundSurface."""
    kind, b = geom["type"], geom["boundaries"]
    sem = geom.get("semantics") or {}
    surfaces = sem.get("surfaces") or []
    values = sem.get("values")
    if kind in ("MultiSurface", "CompositeSurface"):
        faces, vals = b, values or [None] * len(b)
    elif kind == "Solid":
        faces = [f for shell in b for f in shell]
        vals = [v for shell in values for v in shell] if values else [None] * len(faces)
    else:  # MultiSolid, CompositeSolid
        faces = [f for solid in b for shell in solid for f in shell]
        vals = [v for solid in values for shell in solid for v in shell] if values else [None] * len(faces)
    ground = [v is not None and surfaces[v].get("type") == "GroundSurface" for v in vals]
    return faces, ground


def _plan(face: list[list[int]], verts: np.ndarray) -> shapely.Geometry | None:
    """The plan view of one face (None for a vertical face)."""
    rings = [verts[np.asarray(r, dtype=np.int64), :2] for r in face if len(r) >= 3]
    if not rings:
        return None
    poly = shapely.make_valid(shapely.Polygon(rings[0], rings[1:]))
    return poly if poly.area > 1e-6 else None
