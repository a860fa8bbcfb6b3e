"""Buildings out to CityJSON 2.0 (one file) or CityJSONSeq (one feature a line, for large cities).

Each building is a ``Building`` with an LoD1 ``Solid`` (when its footprint has several parts, each
part a ``BuildingPart`` child with its own ``Solid``): the footprint extruded from its base to its height, with semantic surfaces (the
bottom a ``GroundSurface``, the top a ``RoofSurface``, the sides ``WallSurface``). Vertices are
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


def write_cityjson(buildings: gpd.GeoDataFrame, path: str | os.PathLike, *, title: str = "cimtwin") -> dict[str, Any]:
    """Write ``buildings`` (the twin's layer, or a flood result's) as one CityJSON 2.0 file.

    Returns
    -------
    dict
        ``buildings``, ``vertices``, ``bytes``.
    """
    city, objects, verts = _city(buildings, title)
    city["CityObjects"] = {oid: obj for _, objs in objects for oid, obj in objs.items()}
    city["vertices"] = verts.tolist()
    path = Path(path)
    path.write_text(_json.dumps(city, separators=(",", ":")))
    return {"buildings": len(objects), "vertices": len(verts), "bytes": path.stat().st_size}


def write_cityjsonseq(
    buildings: gpd.GeoDataFrame, path: str | os.PathLike, *, title: str = "cimtwin"
) -> dict[str, Any]:
    """Write ``buildings`` as CityJSONSeq (``.city.jsonl``): the header, then one ``CityJSONFeature`` a line."""
    city, objects, verts = _city(buildings, title)
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
    return {"buildings": len(objects), "vertices": len(verts), "bytes": path.stat().st_size}


def _city(buildings: gpd.GeoDataFrame, title: str) -> tuple[dict[str, Any], list[tuple[str, dict]], np.ndarray]:
    """The file's head, its city objects and its integer vertices."""
    if buildings is None or len(buildings) == 0:
        raise InputDataError("The twin has no buildings to export; ingest them with --buildings or --ifc.")
    crs = pyproj.CRS(buildings.crs)
    pr = prisms(buildings.geometry.to_numpy(), buildings["base"].to_numpy(float), buildings["height"].to_numpy(float))
    nv = len(pr.xy)
    xyz = np.vstack(
        [
            np.column_stack([pr.xy, pr.bottom[pr.vertex_building]]),
            np.column_stack([pr.xy, pr.top[pr.vertex_building]]),
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
    objects = [
        (str(bid), _building(str(bid), pr, i, index, nv, cols, part_start, ring_start))
        for i, bid in enumerate(buildings["id"].astype(str))
    ]
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
    return city, objects, verts


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
