"""Buildings out to CityJSON 2.0 (one file) or CityJSONSeq (one feature a line, for large cities).

Each building is a ``Building`` with an LoD1 ``Solid`` (when its footprint has several parts, each
part a ``BuildingPart`` child with its own ``Solid``): the footprint extruded from its base to its height, with semantic surfaces (the
bottom a ``GroundSurface``, the top a ``RoofSurface``, the sides ``WallSurface``). An IFC building
with a mesh in the twin also has an LoD2 ``MultiSurface`` beside it: its footprint at the base
(``GroundSurface``) and its shell's triangles (``WallSurface``, ``RoofSurface``, ``OuterCeilingSurface``;
see :mod:`._lod2`), each semantic surface naming its IFC element (``ifc_guid``, ``ifc_class``), on the
``Building`` itself when its LoD1 is in parts. Vertices are
integers on a millimetre grid (``transform``), in the twin's CRS (``metadata.referenceSystem``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj

from twin.errors import InputDataError
from twin.exchange import _json
from twin.exchange._attributes import columns, row_attributes
from twin.exchange._lod import Prisms, prisms
from twin.exchange._lod2 import SURFACES, Shells, shells

__all__ = ["write_cityjson", "write_cityjsonseq", "reference_system", "SCALE"]

#: Size of the vertex grid [m].
SCALE = 0.001

_SEMANTICS = [{"type": "GroundSurface"}, {"type": "RoofSurface"}, {"type": "WallSurface"}]


def reference_system(crs: pyproj.CRS) -> str:
    """The OGC URL of ``crs`` (CityJSON names a CRS by its EPSG code)."""
    code = crs.to_epsg()
    if code is None:
        raise InputDataError(
            f"The twin's CRS ({crs.name}) has no EPSG code, which CityJSON needs to name it; ingest the twin "
            "with --crs EPSG:XXXX."
        )
    return f"https://www.opengis.net/def/crs/EPSG/0/{code}"


def write_cityjson(
    buildings: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str = "cimtwin",
    meshes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``buildings`` (the twin's layer, or a flood result's) as one CityJSON 2.0 file.

    ``meshes`` (``twin.meshes``) gives the IFC buildings their LoD2 shells.

    Returns
    -------
    dict
        ``buildings``, ``lod2`` (buildings with an LoD2 shell), ``vertices``, ``bytes``.
    """
    city, objects, verts, n_lod2 = _city(buildings, title, meshes)
    city["CityObjects"] = {oid: obj for _, objs in objects for oid, obj in objs.items()}
    city["vertices"] = verts.tolist()
    path = Path(path)
    path.write_text(_json.dumps(city, separators=(",", ":")))
    return {"buildings": len(objects), "lod2": n_lod2, "vertices": len(verts), "bytes": path.stat().st_size}


def write_cityjsonseq(
    buildings: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str = "cimtwin",
    meshes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``buildings`` as CityJSONSeq (``.city.jsonl``): the header, then one ``CityJSONFeature`` a line."""
    city, objects, verts, n_lod2 = _city(buildings, title, meshes)
    path = Path(path)
    with path.open("w") as fh:
        fh.write(_json.dumps({**city, "CityObjects": {}, "vertices": []}, separators=(",", ":")) + "\n")
        for bid, objs in objects:
            shapes = [g["boundaries"] for obj in objs.values() for g in obj.get("geometry", [])]
            used = sorted(set(_indices(shapes)))
            local = {v: i for i, v in enumerate(used)}
            feature = {
                "type": "CityJSONFeature",
                "id": bid,
                "CityObjects": {
                    oid: {
                        **obj,
                        "geometry": [dict(g, boundaries=_remap(g["boundaries"], local)) for g in obj["geometry"]],
                    }
                    if "geometry" in obj
                    else obj
                    for oid, obj in objs.items()
                },
                "vertices": verts[used].tolist(),
            }
            fh.write(_json.dumps(feature, separators=(",", ":")) + "\n")
    return {"buildings": len(objects), "lod2": n_lod2, "vertices": len(verts), "bytes": path.stat().st_size}


def _city(
    buildings: gpd.GeoDataFrame, title: str, meshes: dict[str, Any] | None
) -> tuple[dict[str, Any], list[tuple[str, dict]], np.ndarray, int]:
    """The file's head, its city objects, its integer vertices and how many buildings have LoD2."""
    if buildings is None or len(buildings) == 0:
        raise InputDataError("The twin has no buildings to export; ingest them with --buildings or --ifc.")
    crs = pyproj.CRS(buildings.crs)
    pr = prisms(buildings.geometry.to_numpy(), buildings["base"].to_numpy(float), buildings["height"].to_numpy(float))
    nv = len(pr.xy)
    sh = shells(buildings, meshes)
    xyz = np.vstack(
        [
            np.column_stack([pr.xy, pr.bottom[pr.vertex_building]]),
            np.column_stack([pr.xy, pr.top[pr.vertex_building]]),
            sh.corners.reshape(-1, 3),  # from index 2 * nv: triangle t's corners are 3t, 3t + 1, 3t + 2
        ]
    )
    translate = np.floor(xyz.min(axis=0))
    ints = np.rint((xyz - translate) / SCALE).astype(np.int64)
    # buildings that share a corner share its vertex: CityJSON wants no duplicates
    verts, index = np.unique(ints, axis=0, return_inverse=True)
    index = index.ravel().tolist()  # plain ints: the JSON is built of lists
    cols = columns(buildings)
    # parts are ordered by building and rings by part: each one's are a slice
    part_start = np.searchsorted(pr.part_building, np.arange(pr.n + 1))
    ring_start = np.searchsorted(pr.ring_part, np.arange(len(pr.part_building) + 1))
    tri_start = np.searchsorted(sh.building, np.arange(pr.n + 1))
    objects = [
        (str(bid), _building(str(bid), pr, i, index, nv, cols, part_start, ring_start))
        for i, bid in enumerate(buildings["id"].astype(str))
    ]
    for i, (bid, objs) in enumerate(objects):
        if sh.has[i]:
            ground = [
                [[index[r] for r in ring[::-1]] for ring in face] for face in _bottoms(pr, i, part_start, ring_start)
            ]
            objs[bid].setdefault("geometry", []).append(
                _lod2(sh, tri_start[i], tri_start[i + 1], index, 2 * nv, ground)
            )
    hi = verts.max(axis=0) * SCALE + translate
    city = {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [SCALE] * 3, "translate": translate.tolist()},
        "metadata": {
            "title": title,
            "referenceSystem": reference_system(crs),
            "geographicalExtent": [*translate.tolist(), *np.round(hi, 3).tolist()],
        },
    }
    return city, objects, verts, int(sh.has.sum())


def _bottoms(pr: Prisms, i: int, part_start: np.ndarray, ring_start: np.ndarray) -> list[list[range]]:
    """The footprint of building ``i`` as faces (one per part) of rings of indices into ``pr.xy``."""
    rs = pr.ring_start
    return [
        [range(rs[r], rs[r + 1]) for r in range(ring_start[p], ring_start[p + 1])]
        for p in range(part_start[i], part_start[i + 1])
    ]


def _lod2(sh: Shells, t0: int, t1: int, index: list[int], offset: int, ground: list) -> dict[str, Any]:
    """The LoD2 ``MultiSurface`` of one building: its footprint faces (ground), then its shell's triangles."""
    faces = list(ground)
    keys: list[tuple[int, str, str]] = [(-1, "", "")] * len(ground)
    for t in range(t0, t1):
        tri = [index[offset + 3 * t + k] for k in range(3)]
        if len(set(tri)) == 3:  # corners closer than the 1 mm grid merge: such a sliver is dropped
            faces.append([tri])
            keys.append((int(sh.surface[t]), str(sh.guid[t]), str(sh.ifc_class[t])))
    # one semantic object per surface type and IFC element, which it names (a click on a wall finds it)
    used = sorted(set(keys))
    surfaces = [
        {"type": "GroundSurface"} if c < 0 else {"type": SURFACES[c], "ifc_guid": g, "ifc_class": k} for c, g, k in used
    ]
    position = {key: j for j, key in enumerate(used)}
    values = [position[key] for key in keys]
    return {
        "type": "MultiSurface",
        "lod": "2",
        "boundaries": faces,
        "semantics": {"surfaces": surfaces, "values": values},
    }


def _building(
    bid: str,
    pr: Prisms,
    i: int,
    index: list[int],
    nv: int,
    cols: dict,
    part_start: np.ndarray,
    ring_start: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """The city objects of one building: a ``Building`` with its LoD1 solid, or with ``BuildingPart`` children."""
    solids = []
    values = []
    rs = pr.ring_start
    for p in range(part_start[i], part_start[i + 1]):
        rings = range(ring_start[p], ring_start[p + 1])
        bottom = [index[rs[r] : rs[r + 1]] for r in rings]
        top = [index[nv + rs[r] : nv + rs[r + 1]] for r in rings]
        shell = [[b[::-1] for b in bottom], top]
        for b, t in zip(bottom, top):
            nb, nt = b[1:] + b[:1], t[1:] + t[:1]
            shell += [[[a0, b0, b1, a1]] for a0, b0, b1, a1 in zip(b, nb, nt, t)]
        solids.append([shell])
        values.append([[0, 1, *([2] * (len(shell) - 2))]])
    attrs = row_attributes(cols, i)
    attrs.pop("id", None)  # the city object's key
    if "height" in attrs:
        attrs["measuredHeight"] = attrs["height"]
    if "storeys" in attrs:
        attrs["storeysAboveGround"] = attrs["storeys"]
    geoms = [
        {"type": "Solid", "lod": "1", "boundaries": b, "semantics": {"surfaces": _SEMANTICS, "values": v}}
        for b, v in zip(solids, values)
    ]
    if len(geoms) == 1:
        return {bid: {"type": "Building", "attributes": attrs, "geometry": geoms}}
    # a footprint in several parts: CityJSON gives a Building no MultiSolid, so each part is a BuildingPart
    parts = [f"{bid}-part{k + 1}" for k in range(len(geoms))]
    objects = {bid: {"type": "Building", "attributes": attrs, "children": parts}}
    for part, geom in zip(parts, geoms):
        objects[part] = {"type": "BuildingPart", "parents": [bid], "geometry": [geom]}
    return objects


def _indices(nested: Any):
    """Every vertex index in nested boundaries."""
    for item in nested:
        if isinstance(item, list):
            yield from _indices(item)
        else:
            yield item


def _remap(nested: Any, local: dict[int, int]) -> Any:
    return [_remap(item, local) if isinstance(item, list) else local[item] for item in nested]
