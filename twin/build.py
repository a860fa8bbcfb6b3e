"""Build a twin from files: the DEM fixes the grid, vector layers and rasters are brought onto it.

Everything ingest assumes (the CRS it chose, trimmed DEM edges, filled holes, converted units, default
heights, repaired geometries, features outside the extent) goes into ``twin.meta["ingest_report"]``,
which ``twin info`` prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ingest.crs import is_metric_projected, vertical_unit_factor
from ingest.raster import MAX_HOLE_CELLS, default_resampling, raster_crs, read_dem, read_onto
from ingest.vector import LAYER_KINDS, read_vector, zonal_stat
from twin.errors import InputDataError
from twin.landuse import read_table
from twin.model import Twin

__all__ = ["from_files", "BuildingOptions", "DEFAULTS", "HEIGHT_COLUMNS", "STOREY_COLUMNS", "CLASS_COLUMNS"]

#: Values ingest assumes when a layer lacks them; every use is recorded in the ingest report.
DEFAULTS = {"storey_height_m": 3.0, "building_height_m": 9.0, "river_width_m": 10.0, "river_depth_m": 2.0}

#: Column names recognised (case-insensitive, in this order) when none is named.
HEIGHT_COLUMNS = ("height", "height_m", "building_height", "bldg_height", "measuredheight", "hgt", "h")
STOREY_COLUMNS = ("storeys", "stories", "storey_count", "levels", "building:levels", "building_levels",
                  "floors", "num_floors", "nfloors", "floor_count")
CLASS_COLUMNS = ("class", "landuse", "land_use", "lu_class", "fclass", "category", "type")
WIDTH_COLUMNS = ("width", "width_m", "wid", "bankfull_width")
DEPTH_COLUMNS = ("depth", "depth_m", "bankfull_depth")

PathLike = str | os.PathLike


@dataclass(frozen=True)
class BuildingOptions:
    """How building heights and bases are found (see :func:`from_files`)."""

    height_column: str | None = None
    storeys_column: str | None = None
    storey_height: float = DEFAULTS["storey_height_m"]
    height_unit: str = "m"
    base_stat: str = "min"


def from_files(dem: PathLike | Sequence[PathLike], *, buildings: PathLike | None = None,
               rivers: PathLike | None = None, lakes: PathLike | None = None, landuse: PathLike | None = None,
               crs: Any = None, dem_crs: Any = None, layer_crs: Mapping[str, Any] | None = None,
               resolution: float | None = None, bounds: Sequence[float] | None = None,
               resampling: str = "bilinear", z_unit: str | float | None = None,
               max_hole_cells: int = MAX_HOLE_CELLS, landuse_table: pd.DataFrame | PathLike | None = None,
               height_column: str | None = None, storeys_column: str | None = None,
               storey_height: float = DEFAULTS["storey_height_m"], height_unit: str = "m", base_stat: str = "min",
               landuse_column: str | None = None, river_width_column: str | None = None,
               river_depth_column: str | None = None,
               rasters: Mapping[str, PathLike | tuple[PathLike, str]] | None = None) -> Twin:
    """Build a :class:`Twin` from a DEM (one file or tiles) and optional vector layers and rasters.

    Parameters
    ----------
    dem
        The terrain raster, or a list of tiles to mosaic; it fixes the grid.
    buildings, rivers, lakes, landuse
        Vector files (any format OGR reads, or GeoParquet); ``"file.gpkg::layer"`` names a layer; in a
        multi-layer file without a name the layer called like the argument is taken
        (``city.gpkg`` -> ``buildings``). Buildings, lakes and land use must be polygons, rivers lines.
    crs
        The twin's projected CRS in metres. Default: the DEM's when it is projected in metres, else
        chosen automatically: CGCS2000 3-degree Gauss-Kruger inside China, the local UTM zone elsewhere.
    dem_crs
        The DEM's CRS when its file declares none.
    layer_crs
        Per-layer CRS for files that declare none, e.g. ``{"rivers": "EPSG:26910"}`` (``"dem"`` works
        as ``dem_crs``; names of ``rasters`` work too).
    resolution
        Cell size in metres (default: the DEM's own).
    bounds
        ``(xmin, ymin, xmax, ymax)`` in the twin's CRS: the twin covers only this part of the DEM.
    resampling
        How the DEM is resampled onto the grid (a ``rasterio.enums.Resampling`` name; default bilinear).
    z_unit
        The DEM's elevation unit ("m", "ft", "US survey foot", ...) when its file does not say or says wrong.
    max_hole_cells
        No-data holes in the DEM up to this size are interpolated; larger ones are an error.
    landuse_table
        A land-use table (DataFrame, or a CSV path read with :func:`twin.landuse.read_table`):
        Manning's n, imperviousness, infiltration and default building height per class.
    height_column, storeys_column
        The buildings' height and storey-count columns (default: the first of :data:`HEIGHT_COLUMNS`
        and :data:`STOREY_COLUMNS` present). Heights may be numbers or texts with a unit ("12 m", "40 ft").
    storey_height
        Metres per storey for buildings with a storey count but no height.
    height_unit
        Unit of plain-number heights ("m", "ft", ...).
    base_stat
        The building's base elevation from the DEM where the layer has none: ``"min"`` (lowest ground
        under the footprint, the door where water gets in first) or ``"mean"``.
    landuse_column
        The land-use class column (default: the first of :data:`CLASS_COLUMNS` present).
    river_width_column, river_depth_column
        The rivers' width and bank-full depth columns in metres (default: "width" / "depth" and variants).
    rasters
        Further rasters put onto the grid as named layers, e.g. ``{"rain": "rain.tif"}``; a value
        ``(path, "mode")`` sets the resampling (default bilinear, nearest for integer rasters).

    Returns
    -------
    Twin
        With ``meta["ingest_report"]`` listing what was assumed.

    Raises
    ------
    CRSError
        A layer without CRS that ``layer_crs`` does not cover, or a CRS that is not projected in metres.
    InputDataError
        Unreadable files, layers of the wrong geometry, layers with no feature within the DEM, a DEM
        with large holes, unknown column names.
    """
    layer_crs = dict(layer_crs or {})
    rasters = dict(rasters or {})
    for name in rasters:  # before any file is read: a bad name fails at once
        Twin._check_name(name)
    given = {"buildings": buildings, "rivers": rivers, "lakes": lakes, "landuse": landuse}
    _check_layer_crs(layer_crs, given, rasters, dem_crs)
    dem_crs = layer_crs.pop("dem", dem_crs)
    dem_paths = [dem] if isinstance(dem, (str, os.PathLike)) else list(dem)
    report: dict[str, Any] = {"sources": {"dem": [str(p) for p in dem_paths] if len(dem_paths) > 1 else str(dem_paths[0])}}
    target, how = _twin_crs(crs, dem_paths, dem_crs)
    terrain = read_dem(dem_paths, crs=target, src_crs=dem_crs, resolution=resolution, bounds=bounds,
                       resampling=resampling, z_unit=z_unit, max_hole_cells=max_hole_cells)
    dem_report = dict(terrain.report)
    report["crs"] = dem_report.pop("crs", None) or {"crs": terrain.crs.to_string(), "name": terrain.crs.name, "how": how}
    report["dem"] = dem_report
    # the twin is built once and filled in, so the grid exists once beside the DEM read for it
    tw = Twin(terrain.crs, terrain.transform, terrain.array, landuse_table=_landuse_table(landuse_table),
              meta={"ingest_report": report})
    del terrain
    opts = BuildingOptions(height_column, storeys_column, float(storey_height), height_unit, base_stat)
    columns = {"landuse": landuse_column, "width": river_width_column, "depth": river_depth_column}
    # land use first: buildings without heights take a default by the class they stand in
    for name in ("landuse", "rivers", "lakes", "buildings"):
        path = given[name]
        if path is None:
            continue
        report["sources"][name] = str(path)
        entry: dict[str, Any] = {}
        gdf = read_vector(path, tw.crs, src_crs=layer_crs.get(name), prefer_layer=name, bounds=tw.bounds,
                          kind=LAYER_KINDS[name], clip=name != "buildings", name=name, report=entry)
        if name == "buildings":
            gdf = _prepare_buildings(gdf, tw, entry, opts, tw.landuse)
        elif name == "landuse":
            gdf = _prepare_landuse(gdf, tw, entry, columns["landuse"])
        elif name == "rivers":
            gdf = _prepare_rivers(gdf, entry, columns["width"], columns["depth"])
        else:
            gdf = _prepare_lakes(gdf, tw, entry)
        entry["kept"] = int(len(gdf))
        report[name] = entry
        tw.set_layer(name, gdf)
    for name, spec in rasters.items():
        path, method = spec if isinstance(spec, tuple) else (spec, None)
        grid, report[f"raster:{name}"] = _read_grid(path, method, tw, layer_crs.get(name))
        report["sources"][name] = str(path)
        tw.set_raster(name, grid)
    return tw


def _check_layer_crs(layer_crs: Mapping[str, Any], given: Mapping[str, Any], rasters: Mapping[str, Any],
                     dem_crs: Any) -> None:
    known = {"dem", *(k for k, v in given.items() if v is not None), *rasters}
    unknown = sorted(set(layer_crs) - known)
    if unknown:
        raise InputDataError(f"layer_crs names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not among the "
                             f"layers given ({sorted(known)}); check the spelling (e.g. --layer-crs rivers=EPSG:26910).")
    if "dem" in layer_crs and dem_crs is not None:
        raise InputDataError("The DEM's CRS was given twice (dem_crs and layer_crs['dem']); give it once.")


def _twin_crs(crs: Any, dem_paths: Sequence[PathLike], dem_crs: Any) -> tuple[Any, str]:
    """The CRS to ask ``read_dem`` for: the one given, the DEM's if usable, else ``"auto"``."""
    if crs is not None:
        return crs, "given"
    own = raster_crs(dem_paths[0], crs=dem_crs)
    if is_metric_projected(own):
        return own, "the DEM's own CRS"
    return "auto", "auto"


def _landuse_table(table: pd.DataFrame | PathLike | None) -> pd.DataFrame | None:
    if table is None or isinstance(table, pd.DataFrame):
        return table
    return read_table(table)


def _find_column(gdf: gpd.GeoDataFrame, named: str | None, candidates: Sequence[str], what: str) -> str | None:
    """The column named (an error if absent), else the first candidate present, matched without case."""
    lower = {str(c).lower(): c for c in gdf.columns if c != gdf.geometry.name}
    if named is not None:
        if named in gdf.columns:
            return named
        if named.lower() in lower:
            return lower[named.lower()]
        raise InputDataError(f"The {what} column {named!r} is not in the layer; its columns are "
                             f"{sorted(map(str, lower.values()))}.")
    return next((lower[c] for c in candidates if c in lower), None)


_LENGTH = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?)\s*(m|metres?|meters?|ft|feet|foot|')?\s*$", re.IGNORECASE)


def _lengths(values: pd.Series, unit: str, what: str) -> tuple[pd.Series, int]:
    """Lengths in metres from numbers in ``unit`` or texts such as "12", "12 m", "40 ft", "40'".

    Returns the metres (NaN where missing, unreadable or not positive) and how many were in feet by text.
    """
    factor = vertical_unit_factor(unit, what=f"The {what} unit")
    numeric = pd.to_numeric(values, errors="coerce")
    out = numeric * factor
    feet_text = 0
    text = values[numeric.isna() & values.notna()]
    if len(text):
        parsed = text.astype(str).str.extract(_LENGTH)
        number = pd.to_numeric(parsed[0].str.replace(",", ".", regex=False), errors="coerce")
        feet = parsed[1].fillna("").str.lower().isin(("ft", "feet", "foot", "'"))
        metres = parsed[1].fillna("").str.lower().str.startswith("m")
        scale = np.where(feet, 0.3048, np.where(metres, 1.0, factor))
        out.loc[text.index] = number * scale
        feet_text = int((feet & number.notna()).sum())
    return out.where(out > 0), feet_text


def _prepare_buildings(gdf: gpd.GeoDataFrame, tw: Twin, entry: dict[str, Any], opts: BuildingOptions,
                       landuse: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    ids = gdf["id"].astype("string") if "id" in gdf.columns else pd.Series(pd.NA, index=gdf.index, dtype="string")
    missing = (ids.isna() | (ids.str.strip() == "")).fillna(True).to_numpy(bool)
    if missing.any():
        ids[missing] = [f"B{i:06d}" for i in np.flatnonzero(missing)]
        entry["ids_generated"] = int(missing.sum())
    gdf["id"] = ids.astype(str)
    dup = gdf["id"].duplicated(keep=False)
    if dup.any():
        # a multi-part footprint split by the source, or ids reused across files: keep every part, unique
        gdf.loc[dup, "id"] = gdf.loc[dup, "id"] + "-" + gdf.loc[dup].groupby("id").cumcount().astype(str)
        entry["ids_made_unique"] = int(dup.sum())
    height = pd.Series(np.nan, index=gdf.index)
    source = pd.Series("default", index=gdf.index, dtype=object)
    column = _find_column(gdf, opts.height_column, HEIGHT_COLUMNS, "height")
    if column is not None:
        height, feet = _lengths(gdf[column], opts.height_unit, "height")
        source[height.notna()] = "height"
        entry["height_column"] = str(column)
        if opts.height_unit not in ("m", "metre", "meter") and height.notna().any():
            entry["height_unit"] = f"{opts.height_unit} -> metres"
        if feet:
            entry["heights_in_feet_converted"] = feet
        bad = int((gdf[column].notna() & height.isna()).sum())
        if bad:
            entry["heights_unusable"] = bad
    storeys_col = _find_column(gdf, opts.storeys_column, STOREY_COLUMNS, "storey count")
    if storeys_col is not None:
        storeys = pd.to_numeric(gdf[storeys_col], errors="coerce").where(lambda s: s > 0)
        use = height.isna() & storeys.notna()
        height[use] = storeys[use] * opts.storey_height
        source[use] = "storeys"
        entry["heights_from_storeys"] = int(use.sum())
        if use.any():
            entry["storeys_column"] = str(storeys_col)
            entry["storey_height_m"] = opts.storey_height
    table = tw.landuse_table
    missing = height.isna()
    if missing.any() and "building_height_m" in table:
        classes = _classes_under(gdf.geometry[missing], landuse)
        classes = classes[classes.isin(table.index)]
        if len(classes):
            height[classes.index] = table.loc[classes, "building_height_m"].to_numpy()
            source[classes.index] = "landuse"
            entry["heights_from_landuse"] = {str(k): int(v) for k, v in classes.value_counts().sort_index().items()}
    missing = height.isna()
    default_height = float(table.loc["default", "building_height_m"]) if "building_height_m" in table else \
        DEFAULTS["building_height_m"]
    height[missing] = default_height
    source[missing] = "default"
    entry["heights_defaulted"] = int(missing.sum())
    if missing.any():
        entry["default_height_m"] = default_height
    gdf["height"] = height.astype(float)
    gdf["height_source"] = source.astype(str)
    if opts.base_stat not in ("min", "mean"):
        raise InputDataError(f"base_stat must be 'min' or 'mean', got {opts.base_stat!r}.")
    base = pd.to_numeric(gdf["base"], errors="coerce") if "base" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    need = base.isna()
    if need.any():
        base[need] = zonal_stat(gdf.geometry[need], tw.terrain, tw.transform, stat=opts.base_stat)
        entry["base_from_dem"] = {"features": int(need.sum()),
                                  "stat": {"min": "minimum", "mean": "mean"}[opts.base_stat] + " terrain under the footprint"}
    gdf["base"] = base.astype(float)
    if "source" not in gdf.columns:
        gdf["source"] = "gis"
    return gdf


def _classes_under(footprints: gpd.GeoSeries, landuse: gpd.GeoDataFrame | None) -> pd.Series:
    """The land-use class under each footprint's representative point (absent where none)."""
    if landuse is None or not len(landuse) or not len(footprints):
        return pd.Series([], dtype=object)
    points = shapely.point_on_surface(np.asarray(footprints.values))
    tree = shapely.STRtree(np.asarray(landuse.geometry.values))
    which, poly = tree.query(points, predicate="within")
    # a point in several overlapping polygons takes the last one, as the land-use grid does when burned
    first = pd.Series(poly, index=which).groupby(level=0).max()
    return pd.Series(landuse["class"].to_numpy()[first.to_numpy()], index=footprints.index[first.index])


def _prepare_rivers(gdf: gpd.GeoDataFrame, entry: dict[str, Any], width_column: str | None,
                    depth_column: str | None) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    for col, named, candidates, key in (("width", width_column, WIDTH_COLUMNS, "river_width_m"),
                                        ("depth", depth_column, DEPTH_COLUMNS, "river_depth_m")):
        found = _find_column(gdf, named, candidates, f"river {col}")
        vals = pd.to_numeric(gdf[found], errors="coerce").where(lambda s: s > 0) if found is not None \
            else pd.Series(np.nan, index=gdf.index)
        if found is not None and found != col:
            entry[f"{col}_column"] = str(found)
        n = int(vals.isna().sum())
        if n:
            entry[f"{col}_defaulted"] = {"features": n, "value_m": DEFAULTS[key]}
        gdf[col] = vals.fillna(DEFAULTS[key]).astype(float)
    return gdf


def _prepare_lakes(gdf: gpd.GeoDataFrame, tw: Twin, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    level = pd.to_numeric(gdf["level"], errors="coerce") if "level" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    if level.isna().any():
        # a lake without a stated level is taken as filled to its lowest shore: the minimum DEM on its outline
        shore = zonal_stat(gdf.geometry.boundary.buffer(tw.cell_size), tw.terrain, tw.transform, stat="min")
        entry["level_from_shore"] = int(level.isna().sum())
        level = level.fillna(pd.Series(shore, index=gdf.index))
    gdf["level"] = level.astype(float)
    return gdf


def _prepare_landuse(gdf: gpd.GeoDataFrame, tw: Twin, entry: dict[str, Any], column: str | None) -> gpd.GeoDataFrame:
    found = _find_column(gdf, column, CLASS_COLUMNS, "land-use class")
    if found is None:
        raise InputDataError(f"The land-use layer needs a class column (one of {list(CLASS_COLUMNS)}, e.g. "
                             "residential, park, road, water) or its name: landuse_column= (--landuse-column).")
    gdf = gdf.copy()
    if found != "class":
        entry["class_column"] = str(found)
    raw = gdf[found]
    classes = raw.astype(str).str.strip().str.lower()
    blank = raw.isna() | (classes == "")
    if blank.any():
        classes[blank] = "default"
        entry["class_missing"] = int(blank.sum())
    gdf["class"] = classes
    known = set(tw.landuse_table.index)
    unknown = classes[~classes.isin(known)]
    if len(unknown):
        entry["unknown_classes"] = {str(k): int(v) for k, v in unknown.value_counts().sort_index().items()}
        entry["unknown_take"] = "the table's 'default' row; add them to the land-use table to set their values"
    return gdf


def _read_grid(path: PathLike, method: str | None, tw: Twin, src_crs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """A further raster onto the twin's grid: bilinear for measurements, nearest for integer classes."""
    method = method or default_resampling(path)
    grid = read_onto(path, tw.crs, tw.transform, tw.shape, src_crs=src_crs, resampling=method)
    entry: dict[str, Any] = {"resampling": method}
    gaps = int(np.isnan(grid).sum())
    if gaps:
        entry["cells_without_data"] = gaps
    return grid, entry

