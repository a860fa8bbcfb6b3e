"""Vector layers (buildings, rivers, lakes, land use) read into GeoDataFrames in the twin's CRS.

Any format OGR reads (GeoPackage, GeoJSON, Shapefile, FlatGeobuf, ...) through pyogrio's Arrow path,
and GeoParquet through pyarrow; reprojected with pyproj; optionally filtered to the twin's extent
while reading, checked for the geometry type the layer needs, repaired where invalid, and clipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import rasterio.warp
import shapely

from ingest import _zonal
from ingest.cityjson import is_cityjson, read_cityjson
from ingest.crs import as_crs, crs_label, same_crs
from ingest.errors import CRSError, InputDataError

__all__ = ["read_vector", "split_layer_path", "zonal_stat", "LAYER_KINDS"]

#: The geometry each named twin layer needs.
LAYER_KINDS = {"buildings": "polygon", "lakes": "polygon", "landuse": "polygon", "rivers": "line", "roads": "line"}

# shapely type ids: the single and multi type of each kind, and GeometryCollection
_TYPES = {"polygon": (3, 6), "line": (1, 5), "point": (0, 4)}
_COLLECTION = 7
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}

try:  # pyogrio reads several times faster through Arrow when pyarrow is installed
    import pyarrow  # noqa: F401

    _ARROW = True
except ImportError:  # pragma: no cover - pyarrow is a dependency, this only keeps reading possible without it
    _ARROW = False


def split_layer_path(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """Split ``"city.gpkg::buildings"`` into the file and the layer name (None when not given)."""
    text = str(spec)
    if "::" in text:
        file, layer = text.rsplit("::", 1)
        return Path(file), layer or None
    return Path(text), None


def read_vector(
    path: str | os.PathLike,
    crs: object,
    *,
    layer: str | None = None,
    src_crs: object | None = None,
    prefer_layer: str | None = None,
    bounds: Sequence[float] | None = None,
    kind: str | None = None,
    clip: bool = False,
    name: str | None = None,
    report: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer and return it in ``crs``.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet, CityJSON (buildings: see
        :mod:`ingest.cityjson`) ... ; ``"file.gpkg::layer"`` names a layer.
    crs
        The twin's CRS; the layer is reprojected into it.
    layer
        Layer name in a multi-layer file.
    src_crs
        The layer's CRS when the file declares none (e.g. a Shapefile without .prj); never guessed.
    prefer_layer
        In a multi-layer file with no ``layer`` given, the layer to take if it exists (e.g. "buildings").
    bounds
        ``(xmin, ymin, xmax, ymax)`` in ``crs``: only features intersecting it are kept (the file is
        filtered by the box while reading, so a national dataset costs little for one city).
    kind
        ``"polygon"``, ``"line"`` or ``"point"``: the geometry the layer must hold. Features of another
        type are dropped (all of them: an error); invalid geometries are repaired (shapely
        ``make_valid``); Z values are dropped; lines are merged where their parts connect and split
        into one feature per part otherwise.
    clip
        Cut geometries at ``bounds`` (else features crossing the edge are kept whole).
    name
        What the layer is (e.g. "rivers"), for messages: a missing CRS asks for ``layer_crs={name: ...}``.
    report
        A dict that receives counts of what was read, dropped, repaired and clipped.

    Raises
    ------
    InputDataError
        Missing or corrupt file, unknown or ambiguous layer, no features, no feature of the right
        type, or no feature within ``bounds``.
    CRSError
        The layer declares no CRS and ``src_crs`` was not given, or declares another than ``src_crs``.
    """
    report = {} if report is None else report
    file, spec_layer = split_layer_path(path)
    layer = layer or spec_layer
    if not file.exists():
        raise InputDataError(f"Vector file {file} does not exist. Check the path.")
    target = as_crs(crs)
    if file.suffix.lower() in (".parquet", ".geoparquet"):
        gdf, total = _read_parquet(file), None
        where = str(file)
    elif is_cityjson(file):
        gdf, total = read_cityjson(file), None
        where = str(file)
    else:
        layer = _pick_layer(file, layer, prefer_layer)
        where = f"{file}" + (f"::{layer}" if layer else "")
        gdf, total = _read_ogr(file, layer, where, target, src_crs, bounds, name)
    total = len(gdf) if total is None else total
    outside_box = total - len(gdf)  # left out by the box filter while reading
    report["read"] = int(total)
    if total == 0:
        raise InputDataError(f"Vector layer {where} holds no features; check the file (or the layer name).")
    gdf = gdf.set_crs(_layer_crs(gdf.crs, src_crs, where, name), allow_override=True)
    read_crs = gdf.crs
    report["crs"] = crs_label(gdf.crs)
    if not same_crs(gdf.crs, target):
        gdf = gdf.to_crs(target)
        report["reprojected"] = f"{report['crs']} -> {crs_label(target)}"
    gdf = gdf.set_crs(target, allow_override=True)
    if bounds is not None and len(gdf) == 0:
        # the layer's own CRS: its extent was shown untransformed, labelled "in the twin's CRS"
        raise _outside(where, total, bounds, _layer_bounds(file, layer, read_crs, target), report)
    if kind is not None:
        gdf = _fix_geometries(gdf, kind, where, name, report)
    if bounds is not None:
        gdf = _within(gdf, bounds, clip, kind, where, total, outside_box, report)
    return gdf.reset_index(drop=True)


def _layer_bounds(file: Path, layer: str | None, layer_crs: Any, target: pyproj.CRS) -> tuple[float, ...]:
    """The layer's extent in ``target`` (for messages about layers that miss the twin)."""
    try:
        box = pyogrio.read_info(file, layer=layer, force_total_bounds=True)["total_bounds"]
        if as_crs(layer_crs).is_geographic and not (-180 <= box[0] <= box[2] <= 360 and -90 <= box[1] <= box[3] <= 90):
            return ()  # not degrees at all: PROJ would hand the numbers back unchanged
        return tuple(rasterio.warp.transform_bounds(as_crs(layer_crs).to_wkt(), target.to_wkt(), *box, densify_pts=21))
    except Exception:  # the extent only decorates the message; any failure leaves it out
        return ()


def _outside(
    where: str, total: int, bounds: Sequence[float], have: Sequence[float], report: dict[str, Any]
) -> InputDataError:
    left, bottom, right, top = (float(v) for v in bounds)
    cover = (
        f", they cover ({have[0]:.1f}, {have[1]:.1f}, {have[2]:.1f}, {have[3]:.1f}) in the twin's CRS"
        if len(have) == 4 and np.all(np.isfinite(have))
        else ""
    )
    return InputDataError(
        f"None of the {total} features of {where} lies within the twin's extent "
        f"({left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}); read as {report.get('crs')}{cover}. Is the layer's CRS "
        "right (e.g. a .prj or --layer-crs that does not match its coordinates) and is it the right area?"
    )


def _pick_layer(file: Path, layer: str | None, prefer_layer: str | None) -> str | None:
    try:
        names = [row[0] for row in pyogrio.list_layers(file)]
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputDataError(
            f"Vector file {file} cannot be read ({exc}). Is it complete and a format OGR reads?"
        ) from None
    if layer is not None:
        if layer not in names:
            raise InputDataError(f"{file} has no layer {layer!r}; its layers are {names}.")
        return layer
    if len(names) > 1:
        if prefer_layer in names:
            return prefer_layer
        raise InputDataError(f"{file} holds several layers {names}; name one as '{file}::LAYER'.")
    return None


def _read_parquet(file: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(file)
    except ImportError as exc:
        raise InputDataError(f"Reading GeoParquet {file} needs pyarrow ({exc}); pip install pyarrow.") from None
    except Exception as exc:
        raise InputDataError(f"GeoParquet file {file} cannot be read ({exc}). Is it complete GeoParquet?") from None


def _read_ogr(
    file: Path,
    layer: str | None,
    where: str,
    target: pyproj.CRS,
    src_crs: Any,
    bounds: Sequence[float] | None,
    name: str | None,
) -> tuple[gpd.GeoDataFrame, int | None]:
    """Read through OGR, filtered to ``bounds`` when the layer's CRS is known; also the layer's feature count."""
    try:
        info = pyogrio.read_info(file, layer=layer)
        declared = info.get("crs")
        layer_crs = _layer_crs(declared, src_crs, where, name)
        bbox = None
        total = None
        if bounds is not None:
            bbox = _bbox_in(bounds, target, layer_crs)
            total = (
                int(info["features"])
                if info.get("features", -1) >= 0
                else int(pyogrio.read_info(file, layer=layer, force_feature_count=True)["features"])
            )
        gdf = pyogrio.read_dataframe(file, layer=layer, bbox=bbox, use_arrow=_ARROW)
    except (InputDataError, CRSError):
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputDataError(
            f"Vector file {where} cannot be read ({exc}). Is it complete and a format OGR reads?"
        ) from None
    if gdf.crs is None and declared is None:
        gdf = gdf.set_crs(layer_crs)
    return gdf, total


def _bbox_in(bounds: Sequence[float], target: pyproj.CRS, layer_crs: pyproj.CRS) -> tuple[float, float, float, float]:
    """``bounds`` (in ``target``) as a box in the layer's CRS, a little larger so no feature is missed."""
    left, bottom, right, top = (float(v) for v in bounds)
    pad = 0.01 * max(right - left, top - bottom)
    box = (left - pad, bottom - pad, right + pad, top + pad)
    if same_crs(target, layer_crs):
        return box
    return rasterio.warp.transform_bounds(target.to_wkt(), layer_crs.to_wkt(), *box, densify_pts=51)


def _layer_crs(declared: Any, src_crs: Any, where: str, name: str | None) -> pyproj.CRS:
    option = (
        f"layer_crs={{'{name}': 'EPSG:26910'}} (or --layer-crs {name}=EPSG:26910)" if name else "src_crs='EPSG:26910'"
    )
    if declared is None:
        if src_crs is None:
            raise CRSError(
                f"Vector layer {where} has no CRS (e.g. a Shapefile without its .prj). Say what it is, "
                f"e.g. {option}; it is never guessed."
            )
        return as_crs(src_crs, what=f"the CRS given for {where}")
    file_crs = as_crs(declared, what=f"the CRS of {where}")
    if src_crs is not None and not same_crs(file_crs, src_crs):
        raise CRSError(
            f"Vector layer {where} declares {file_crs.to_string()} but {as_crs(src_crs).to_string()} was "
            "given for it; drop the explicit CRS or fix the file."
        )
    return file_crs


def _fix_geometries(
    gdf: gpd.GeoDataFrame, kind: str, where: str, name: str | None, report: dict[str, Any]
) -> gpd.GeoDataFrame:
    """Keep the features of ``kind``: drop empty and other-type ones, drop Z, repair invalid ones."""
    if kind not in _TYPES:
        raise ValueError(f"kind must be one of {sorted(_TYPES)}, got {kind!r}")
    geoms = np.array(gdf.geometry.values, dtype=object)  # a copy: repairs must not touch the caller's frame
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        report["empty_dropped"] = int(empty.sum())
    if shapely.has_z(geoms[~empty]).any():
        geoms = shapely.force_2d(geoms)
        report["z_dropped"] = True
    types = shapely.get_type_id(geoms)
    wanted = np.isin(types, _TYPES[kind]) | (types == _COLLECTION)
    ok = wanted & ~empty
    if not ok.any():
        found = sorted({_TYPE_NAMES.get(int(t), str(t)) for t in types[~empty]})
        raise InputDataError(
            f"Vector layer {where} holds {found} geometries; {name or 'this layer'} needs "
            f"{kind}s. Check that the right file or layer was given."
        )
    if (~wanted & ~empty).any():
        report["wrong_type_dropped"] = int((~wanted & ~empty).sum())
    invalid = ok & ~shapely.is_valid(geoms)
    collections = ok & (types == _COLLECTION)
    if invalid.any():
        method = {"polygon": "structure"}.get(kind, "linework")
        geoms[invalid] = shapely.make_valid(geoms[invalid], method=method, keep_collapsed=False)
        report["invalid_repaired"] = int(invalid.sum())
    redo = invalid | collections
    if redo.any():
        geoms[redo] = _only_kind(geoms[redo], kind)
        lost = redo & shapely.is_empty(geoms)
        if lost.any():
            report["collapsed_dropped"] = int(lost.sum())
        ok &= ~lost
    out = gdf.loc[ok].copy() if not ok.all() else gdf
    out = out.set_geometry(gpd.GeoSeries(geoms[ok], index=out.index, crs=gdf.crs), crs=gdf.crs)
    if kind == "line":
        out = _single_lines(out, report)
    elif kind == "polygon":
        multi = int((shapely.get_num_geometries(out.geometry.values) > 1).sum())
        if multi:
            report["multipart_kept"] = multi
    return out


def _only_kind(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Each geometry reduced to its parts of ``kind`` (a collection of mixed parts keeps the wanted ones)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), _TYPES[kind])
    out = np.array([shapely.GeometryCollection()] * len(geoms), dtype=object)
    for i in np.unique(index[keep]):
        sel = parts[(index == i) & keep]
        out[i] = (
            sel[0]
            if len(sel) == 1
            else (
                shapely.multipolygons(sel)
                if kind == "polygon"
                else shapely.multilinestrings(sel)
                if kind == "line"
                else shapely.multipoints(sel)
            )
        )
    if kind == "polygon":
        # parts of one repaired polygon may touch or overlap; merging them gives one valid (multi)polygon
        multi = shapely.get_type_id(out) == 6
        out[multi] = shapely.make_valid(out[multi], method="structure", keep_collapsed=False)
    return out


def _single_lines(gdf: gpd.GeoDataFrame, report: dict[str, Any]) -> gpd.GeoDataFrame:
    """Multi-part lines merged where their parts connect, else one feature per part."""
    geoms = gdf.geometry.values
    multi = shapely.get_type_id(geoms) == 5
    if not multi.any():
        return gdf
    parts = shapely.get_num_geometries(np.asarray(geoms[multi]))
    merged = shapely.line_merge(np.asarray(geoms[multi]))
    still = shapely.get_type_id(merged) == 5
    # formats such as GeoPackage store every line of a mixed layer as multi; one part is no news
    if (~still & (parts > 1)).any():
        report["multipart_merged"] = int((~still & (parts > 1)).sum())
    gdf = gdf.copy()
    gdf.loc[multi, gdf.geometry.name] = merged
    if still.any():
        report["multipart_split"] = int(still.sum())
        gdf = gdf.explode(index_parts=False)
    return gdf


def _within(
    gdf: gpd.GeoDataFrame,
    bounds: Sequence[float],
    clip: bool,
    kind: str | None,
    where: str,
    total: int,
    outside_box: int,
    report: dict[str, Any],
) -> gpd.GeoDataFrame:
    """Features intersecting ``bounds`` (cut at its edge with ``clip``); none at all is an error."""
    left, bottom, right, top = (float(v) for v in bounds)
    geoms = np.asarray(gdf.geometry.values)
    b = shapely.bounds(geoms)
    inside = (b[:, 0] >= left) & (b[:, 1] >= bottom) & (b[:, 2] <= right) & (b[:, 3] <= top)
    maybe = ~inside & (b[:, 0] <= right) & (b[:, 2] >= left) & (b[:, 1] <= top) & (b[:, 3] >= bottom)
    box = shapely.box(left, bottom, right, top)
    keep = inside.copy()
    keep[maybe] = shapely.intersects(geoms[maybe], box)
    if clip and maybe[keep].any():
        # cut at the edge by position (exploded lines share index labels); a feature that only touches
        # the edge leaves nothing inside and counts as outside
        geoms = geoms.copy()
        edge = keep & maybe
        cut = shapely.clip_by_rect(geoms[edge], left, bottom, right, top)
        if kind is not None:
            cut = np.where(np.isin(shapely.get_type_id(cut), _TYPES[kind]), cut, _only_kind(cut, kind))
        geoms[edge] = cut
        keep &= ~shapely.is_empty(geoms)
        report["clipped_at_edge"] = int((edge & keep).sum())
    report["outside_extent_dropped"] = int(outside_box + len(gdf) - keep.sum())
    if not keep.any():
        raise _outside(where, total, bounds, tuple(gdf.total_bounds), report)
    if keep.all() and not clip:
        return gdf
    out = gdf.loc[keep].reset_index(drop=True)
    return out.set_geometry(gpd.GeoSeries(geoms[keep], crs=gdf.crs), crs=gdf.crs)


def zonal_stat(geoms: gpd.GeoSeries | np.ndarray, grid: np.ndarray, transform, *, stat: str = "min") -> np.ndarray:
    """Minimum (or mean) of ``grid`` over each polygon: the cells whose centres fall inside it, or, for a
    polygon that holds no cell centre (smaller than a cell), the cell under the centre of its bounding box.

    Vectorised over all polygons (a million footprints take seconds); a cell shared by overlapping
    polygons counts for each of them.
    """
    if stat not in ("min", "mean"):
        raise ValueError(f"stat must be 'min' or 'mean', got {stat!r}")
    geoms = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    if len(geoms) == 0:
        return np.full(0, np.nan)
    ny, nx = grid.shape
    present = np.isin(shapely.get_type_id(geoms), _TYPES["polygon"]) & ~shapely.is_empty(geoms)
    out = np.full(len(geoms), np.nan)
    out[present] = _zonal.reduce_cells(geoms[present], np.asarray(grid, dtype=np.float64), transform, stat)
    missing = np.isnan(out) & present
    if missing.any():
        box = shapely.bounds(geoms[missing])
        cols, rows = ~transform @ ((box[:, 0] + box[:, 2]) / 2.0, (box[:, 1] + box[:, 3]) / 2.0)
        r = np.clip(np.floor(rows).astype(int), 0, ny - 1)
        c = np.clip(np.floor(cols).astype(int), 0, nx - 1)
        out[missing] = grid[r, c]
    return out
