"""The twin and its flood out to 3D Tiles 1.1: buildings, terrain and the flood's water surface.

The folder holds one root ``tileset.json`` that refers to a tileset per layer (``buildings/``,
``terrain/``, ``water/``), each an explicit quadtree whose leaves are GLB files:

- **buildings**: LoD1 prisms, one feature each (``EXT_mesh_features``) with its attributes in a
  property table (``EXT_structural_metadata``), so a viewer can colour them by flood depth;
- **terrain**: the twin's grid as a heightfield mesh (every ``step``-th cell);
- **water**: the flood's maximum water surface (terrain + max depth where wet), coloured by depth.

Every leaf carries a ``transform``: the east-north-up frame at its centre, in float64 ECEF; its
vertices are in that frame (see :mod:`._globe`), quantized to at most 1 cm. Bounding volumes are
regions (radians and heights), which need no transform. Geometric errors: a leaf 0; a building
node the tallest building under it (what is missed when its leaves are not drawn), a terrain or
water node the ground distance between its vertices. A leaf holding IFC buildings with LoD2 shells
(:mod:`._lod2`) is drawn as LoD1 blocks from afar, with the error of those blocks (the largest roof
drop or overhang their shells have), and replaced (``REPLACE``) close up by one child, error 0, in
which the IFC buildings are their shells and the others their blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
from affine import Affine

from twin.errors import InputDataError
from twin.exchange import _globe, _json
from twin.exchange._attributes import STEPS, columns
from twin.exchange._glb import Property, glb_bytes
from twin.exchange._lod import Prisms, prisms
from twin.exchange._lod2 import mixed_mesh, shells
from twin.exchange._mesh import grid_mesh, prism_mesh

__all__ = ["write_buildings", "write_grid", "write_root", "MAX_PER_TILE"]

#: Buildings in one leaf tile at most (a leaf is split in four above this).
MAX_PER_TILE = 4000
# Leaves wider than this are split whatever their count: 16-bit quantization keeps 1 cm up to 655 m;
# Draco quantizes with as many bits as 1 cm needs, so its leaves are bounded by float32 in the viewer
# (a tenth of a millimetre at 2 km from the leaf's centre) and by what a viewer loads at once.
_MAX_LEAF_M = 500.0
_MAX_DRACO_LEAF_M = 2000.0
_MAX_LEVEL = 14
# Cells along a side of one terrain or water leaf (before striding).
_GRID_LEAF = 256


def write_buildings(
    buildings: gpd.GeoDataFrame,
    folder: Path,
    *,
    quantize: bool = True,
    compress: bool = True,
    max_per_tile: int = MAX_PER_TILE,
    meshes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``folder/tileset.json`` and its GLB leaves for ``buildings``.

    ``meshes`` (``twin.meshes``) gives the IFC buildings their LoD2 shells. ``compress`` writes Draco
    meshes (``KHR_draco_mesh_compression``), else ``quantize`` decides between 16-bit and float positions.

    Returns
    -------
    dict
        ``buildings``, ``lod2`` (buildings with a shell), ``tiles``, ``bytes`` (all GLB files),
        ``bytes_per_building``.
    """
    if buildings is None or len(buildings) == 0:
        raise InputDataError("The twin has no buildings to export; ingest them with --buildings or --ifc.")
    crs = pyproj.CRS(buildings.crs)
    pr = prisms(buildings.geometry.to_numpy(), buildings["base"].to_numpy(float), buildings["height"].to_numpy(float))
    lon, lat = _globe.to_lonlat(crs, pr.xy[:, 0], pr.xy[:, 1])
    b = pr.vertex_building
    ecef = np.vstack(
        [
            _globe.to_ecef(crs, pr.xy[:, 0], pr.xy[:, 1], pr.bottom[b]),
            _globe.to_ecef(crs, pr.xy[:, 0], pr.xy[:, 1], pr.top[b]),
        ]
    )
    counts = np.bincount(b, minlength=pr.n)
    cx = np.bincount(b, pr.xy[:, 0], minlength=pr.n) / np.maximum(counts, 1)
    cy = np.bincount(b, pr.xy[:, 1], minlength=pr.n) / np.maximum(counts, 1)
    cols = columns(buildings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiles").mkdir(exist_ok=True)
    stats = {"buildings": pr.n, "tiles": 0, "bytes": 0}
    sh = shells(buildings, meshes)
    stats["lod2"] = int(sh.has.sum())

    def leaf(chosen: np.ndarray, name: str) -> dict[str, Any]:
        vertex, z, tri, feature = prism_mesh(pr, chosen)
        nv = len(pr.xy)
        src = np.where(np.arange(len(vertex)) < len(vertex) // 2, vertex, vertex + nv)
        pts = ecef[src]
        lo_lon, hi_lon = lon[vertex].min(), lon[vertex].max()
        lo_lat, hi_lat = lat[vertex].min(), lat[vertex].max()
        frame = _globe.enu_frame((lo_lon + hi_lon) / 2, (lo_lat + hi_lat) / 2, float(z.min()))
        props = {
            name_: Property(kind, values[chosen], desc, nd, STEPS.get(name_))
            for name_, (kind, values, desc, nd) in cols.items()
        }
        local = _globe.to_local(pts, frame)
        data = glb_bytes(local, tri, feature_ids=feature, properties=props, quantize=quantize, compress=compress)
        (folder / "tiles" / f"{name}.glb").write_bytes(data)
        stats["tiles"] += 1
        stats["bytes"] += len(data)
        node = {
            "boundingVolume": {"region": _region(lo_lon, lo_lat, hi_lon, hi_lat, z.min(), z.max())},
            "geometricError": 0.0,
            "content": {"uri": f"tiles/{name}.glb"},
            "transform": frame.T.ravel().tolist(),
        }
        if not sh.has[chosen].any():
            return node
        child = lod2(chosen, f"{name}_lod2", props, frame)
        error = float(sh.error[chosen].max())
        region = _union([node["boundingVolume"]["region"], child["boundingVolume"]["region"]])
        return {
            **node,
            "boundingVolume": {"region": region},
            "geometricError": error,
            "refine": "REPLACE",
            "children": [child],
        }

    def lod2(chosen: np.ndarray, name: str, props: dict[str, Property], frame: np.ndarray) -> dict[str, Any]:
        """The leaf's buildings with their LoD2 shells where they have one, in the leaf's ``frame``.

        A child's ``transform`` would apply on top of its parent's: the child has none and shares its frame.
        """
        xyz, tri, building = mixed_mesh(pr, sh, chosen)
        lo, la = _globe.to_lonlat(crs, xyz[:, 0], xyz[:, 1])
        pts = _globe.to_local(_globe.to_ecef(crs, xyz[:, 0], xyz[:, 1], xyz[:, 2]), frame)
        feature = np.searchsorted(chosen, building)
        data = glb_bytes(pts, tri, feature_ids=feature, properties=props, quantize=quantize, compress=compress)
        (folder / "tiles" / f"{name}.glb").write_bytes(data)
        stats["tiles"] += 1
        stats["bytes"] += len(data)
        region = _region(lo.min(), la.min(), lo.max(), la.max(), xyz[:, 2].min(), xyz[:, 2].max())
        return {"boundingVolume": {"region": region}, "geometricError": 0.0, "content": {"uri": f"tiles/{name}.glb"}}

    root = _quadtree(
        np.arange(pr.n),
        cx,
        cy,
        (cx.min(), cy.min(), cx.max(), cy.max()),
        lambda idx: (
            len(idx) <= max_per_tile and _span(pr, idx, cx, cy) <= (_MAX_DRACO_LEAF_M if compress else _MAX_LEAF_M)
        ),
        leaf,
        # never below a leaf's LoD1 error (3D Tiles wants errors to fall from root to leaves)
        lambda idx: float(max(np.max(pr.top[idx] - pr.bottom[idx]), np.max(sh.error[idx]))),
    )
    _write_tileset(folder / "tileset.json", root, "buildings")
    stats["bytes_per_building"] = round(stats["bytes"] / max(pr.n, 1), 1)
    return stats


def write_grid(
    z: np.ndarray,
    transform: Affine,
    crs: pyproj.CRS,
    folder: Path,
    *,
    wet: np.ndarray | None = None,
    colors: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    step: int = 1,
    name: str = "terrain",
    color: tuple[float, float, float, float] = (0.55, 0.6, 0.5, 1.0),
    compress: bool = True,
) -> dict[str, Any]:
    """Write a heightfield tileset of grid ``z`` (every ``step``-th cell), only where ``wet`` if given.

    ``colors(rows, cols)`` gives RGBA uint8 vertex colours (cells of the full grid). ``compress``
    writes Draco meshes where there are no vertex colours (the terrain; the water keeps 16 bits).
    """
    z = np.asarray(z, dtype=np.float64)
    rows_all = np.arange(0, z.shape[0], step)
    cols_all = np.arange(0, z.shape[1], step)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiles").mkdir(exist_ok=True)
    stats = {"tiles": 0, "bytes": 0, "vertices": 0}
    children = []
    size = _GRID_LEAF
    for i0 in range(0, len(rows_all) - 1, size):
        for j0 in range(0, len(cols_all) - 1, size):
            r = rows_all[i0 : i0 + size + 1]
            c = cols_all[j0 : j0 + size + 1]
            sub = z[np.ix_(r, c)]
            mask = None if wet is None else wet[np.ix_(r, c)]
            if mask is not None and mask.sum() < 4:
                continue
            vr, vc, tri = grid_mesh(sub, mask)
            if len(tri) == 0:
                continue
            rr, cc = r[vr], c[vc]
            x, y = transform * (cc + 0.5, rr + 0.5)
            zz = z[rr, cc]
            lon, lat = _globe.to_lonlat(crs, x, y)
            frame = _globe.enu_frame(float(lon.mean()), float(lat.mean()), float(zz.min()))
            local = _globe.to_local(_globe.to_ecef(crs, x, y, zz), frame)
            vcol = colors(rr, cc) if colors is not None else None
            data = glb_bytes(local, tri, colors=vcol, color=color, compress=compress)
            uri = f"tiles/{i0 // size}_{j0 // size}.glb"
            (folder / uri).write_bytes(data)
            stats["tiles"] += 1
            stats["bytes"] += len(data)
            stats["vertices"] += len(rr)
            children.append(
                {
                    "boundingVolume": {
                        "region": _region(lon.min(), lat.min(), lon.max(), lat.max(), zz.min(), zz.max())
                    },
                    "geometricError": 0.0,
                    "content": {"uri": uri},
                    "transform": frame.T.ravel().tolist(),
                }
            )
    if not children:
        raise InputDataError(f"Nothing to write for the {name} layer (no wet cell).")
    error = float(abs(transform.a) * step * 4)
    root = {"boundingVolume": {"region": _union([c["boundingVolume"]["region"] for c in children])}}
    root.update({"geometricError": error, "refine": "ADD", "children": children})
    _write_tileset(folder / "tileset.json", root, name)
    return stats


def write_root(folder: Path, layers: list[str]) -> Path:
    """The root ``tileset.json`` referring to each layer's tileset (external tilesets)."""
    children = []
    for layer in layers:
        sub = json.loads((folder / layer / "tileset.json").read_text())
        children.append(
            {
                "boundingVolume": sub["root"]["boundingVolume"],
                "geometricError": sub["geometricError"],
                "content": {"uri": f"{layer}/tileset.json"},
            }
        )
    regions = [c["boundingVolume"]["region"] for c in children]
    error = max(c["geometricError"] for c in children) * 2 + 1.0
    root = {
        "boundingVolume": {"region": _union(regions)},
        "geometricError": error,
        "refine": "ADD",
        "children": children,
    }
    return _write_tileset(folder / "tileset.json", root, "cimtwin")


def _write_tileset(path: Path, root: dict[str, Any], title: str) -> Path:
    tileset = {
        "asset": {"version": "1.1", "generator": "cimtwin", "extras": {"layer": title}},
        "geometricError": float(root["geometricError"]) * 2 + 1.0,
        "root": root,
    }
    path.write_text(_json.dumps(tileset, indent=1))
    return path


def _quadtree(
    idx: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    box: tuple[float, float, float, float],
    small: Callable[[np.ndarray], bool],
    leaf: Callable[[np.ndarray, str], dict[str, Any]],
    error: Callable[[np.ndarray], float],
    level: int = 0,
    x: int = 0,
    y: int = 0,
) -> dict[str, Any]:
    """A quadtree node over buildings ``idx`` (by centre), split until ``small`` holds."""
    if level >= _MAX_LEVEL or small(idx):
        node = leaf(np.sort(idx), f"{level}_{x}_{y}")
        if level == 0:  # a one-tile tileset: its root needs an error above 0 to be drawn from afar
            node = {**node, "geometricError": error(idx), "refine": node.get("refine", "ADD")}
        return node
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    east, north = cx[idx] >= xm, cy[idx] >= ym
    children = []
    for dx, dy, sel, sub in (
        (0, 0, ~east & ~north, (x0, y0, xm, ym)),
        (1, 0, east & ~north, (xm, y0, x1, ym)),
        (0, 1, ~east & north, (x0, ym, xm, y1)),
        (1, 1, east & north, (xm, ym, x1, y1)),
    ):
        if sel.any():
            children.append(_quadtree(idx[sel], cx, cy, sub, small, leaf, error, level + 1, 2 * x + dx, 2 * y + dy))
    return {
        "boundingVolume": {"region": _union([c["boundingVolume"]["region"] for c in children])},
        "geometricError": error(idx),
        "refine": "ADD",
        "children": children,
    }


def _span(pr: Prisms, idx: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> float:
    """The side of the box around the buildings' centres, plus a margin for their size."""
    if len(idx) == 0:
        return 0.0
    return float(max(np.ptp(cx[idx]), np.ptp(cy[idx]))) + 100.0


def _region(lon0: float, lat0: float, lon1: float, lat1: float, h0: float, h1: float) -> list[float]:
    # a hair of margin: the float32 vertices must not poke out of their volume
    pad = 1e-8
    return [
        math.radians(float(lon0)) - pad,
        math.radians(float(lat0)) - pad,
        math.radians(float(lon1)) + pad,
        math.radians(float(lat1)) + pad,
        float(h0) - 0.05,
        float(h1) + 0.05,
    ]


def _union(regions: list[list[float]]) -> list[float]:
    r = np.asarray(regions, dtype=np.float64)
    return [*r[:, :2].min(axis=0).tolist(), *r[:, 2:4].max(axis=0).tolist(), float(r[:, 4].min()), float(r[:, 5].max())]
