"""Build a twin from files: the DEM fixes the grid, vector layers are brought onto it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ingest.raster import read_dem
from ingest.vector import read_vector, zonal_stat
from twin.errors import InputDataError
from twin.model import Twin

__all__ = ["from_files", "DEFAULTS"]

#: Values ingest assumes when a layer lacks them; every use is recorded in the ingest report.
DEFAULTS = {"storey_height_m": 3.0, "building_height_m": 9.0, "river_width_m": 10.0, "river_depth_m": 2.0}

PathLike = str | os.PathLike


def from_files(dem: PathLike, *, buildings: PathLike | None = None, rivers: PathLike | None = None,
               lakes: PathLike | None = None, landuse: PathLike | None = None,
               crs: Any = None, dem_crs: Any = None, resolution: float | None = None,
               landuse_table: pd.DataFrame | None = None) -> Twin:
    """Build a :class:`Twin` from a DEM and optional vector layers.

    Parameters
    ----------
    dem
        The terrain raster; it fixes the grid (reprojected to ``crs`` at ``resolution`` if given).
    buildings, rivers, lakes, landuse
        Vector files; ``"file.gpkg::layer"`` names a layer; in a multi-layer file without a name the
        layer called like the argument is taken (``city.gpkg`` -> ``buildings``).
    crs
        The twin's projected CRS in metres (default: the DEM's).
    dem_crs
        The DEM's CRS when its file declares none.
    resolution
        Cell size in metres (default: the DEM's).

    Returns
    -------
    Twin
        With ``meta["ingest_report"]`` listing what was assumed (default heights, filled values,
        dropped features).
    """
    report: dict[str, Any] = {"sources": {"dem": str(dem)}}
    terrain = read_dem(dem, crs=crs, src_crs=dem_crs, resolution=resolution)
    holes = int(np.isnan(terrain.array).sum())
    if holes:
        raise InputDataError(
            f"DEM {dem} has {holes} nodata cells inside the twin's grid. Fill them first (e.g. "
            "gdal_fillnodata.py) or choose a DEM that covers the whole extent.")
    shell = Twin(terrain.crs, terrain.transform, terrain.array)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, path in (("buildings", buildings), ("rivers", rivers), ("lakes", lakes), ("landuse", landuse)):
        if path is None:
            continue
        report["sources"][name] = str(path)
        gdf = read_vector(path, shell.crs, prefer_layer=name)
        gdf, dropped = _clip_to(gdf, shell.bounds)
        entry: dict[str, Any] = {"read": int(len(gdf) + dropped), "outside_extent_dropped": dropped}
        gdf = _PREPARE[name](gdf, shell, entry)
        entry["kept"] = int(len(gdf))
        report[name] = entry
        layers[name] = gdf
    return Twin(shell.crs, shell.transform, terrain.array, landuse_table=landuse_table,
                meta={"ingest_report": report}, **layers)


def _clip_to(gdf: gpd.GeoDataFrame, bounds: Sequence[float]) -> tuple[gpd.GeoDataFrame, int]:
    inside = gdf.intersects(shapely.box(*bounds))
    return gdf[inside].reset_index(drop=True), int((~inside).sum())


def _prepare_buildings(gdf: gpd.GeoDataFrame, shell: Twin, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    if "id" not in gdf.columns:
        gdf["id"] = [f"B{i:06d}" for i in range(len(gdf))]
        entry["ids_generated"] = int(len(gdf))
    gdf["id"] = gdf["id"].astype(str)
    height = pd.to_numeric(gdf["height"], errors="coerce") if "height" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    source = pd.Series("height", index=gdf.index)
    if "storeys" in gdf.columns:
        from_storeys = pd.to_numeric(gdf["storeys"], errors="coerce") * DEFAULTS["storey_height_m"]
        use = height.isna() & from_storeys.notna()
        height[use] = from_storeys[use]
        source[use] = "storeys"
        entry["heights_from_storeys"] = int(use.sum())
    missing = height.isna()
    height[missing] = DEFAULTS["building_height_m"]
    source[missing] = "default"
    entry["heights_defaulted"] = int(missing.sum())
    gdf["height"] = height.astype(float)
    gdf["height_source"] = source.astype(str)
    if "base" not in gdf.columns or pd.to_numeric(gdf["base"], errors="coerce").isna().any():
        gdf["base"] = zonal_stat(gdf.geometry, shell.terrain, shell.transform, stat="min")
        entry["base_from_dem"] = "minimum terrain under the footprint"
    if "source" not in gdf.columns:
        gdf["source"] = "gis"
    return gdf


def _prepare_rivers(gdf: gpd.GeoDataFrame, shell: Twin, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    for col, key in (("width", "river_width_m"), ("depth", "river_depth_m")):
        vals = pd.to_numeric(gdf[col], errors="coerce") if col in gdf.columns else pd.Series(np.nan, index=gdf.index)
        n = int(vals.isna().sum())
        if n:
            entry[f"{col}_defaulted"] = {"features": n, "value_m": DEFAULTS[key]}
        gdf[col] = vals.fillna(DEFAULTS[key]).astype(float)
    return gdf


def _prepare_lakes(gdf: gpd.GeoDataFrame, shell: Twin, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    level = pd.to_numeric(gdf["level"], errors="coerce") if "level" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    if level.isna().any():
        # a lake without a stated level is taken as filled to its lowest shore: the minimum DEM on its outline
        shore = zonal_stat(gdf.geometry.boundary.buffer(shell.cell_size), shell.terrain, shell.transform, stat="min")
        entry["level_from_shore"] = int(level.isna().sum())
        level = level.fillna(pd.Series(shore, index=gdf.index))
    gdf["level"] = level.astype(float)
    return gdf


def _prepare_landuse(gdf: gpd.GeoDataFrame, shell: Twin, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    if "class" not in gdf.columns:
        raise InputDataError("The land-use layer needs a 'class' column (e.g. residential, park, road, water).")
    gdf = gdf.copy()
    gdf["class"] = gdf["class"].astype(str).str.strip().str.lower()
    known = set(shell.landuse_table.index)
    unknown = sorted(set(gdf["class"]) - known)
    if unknown:
        entry["unknown_classes"] = unknown
    return gdf


_PREPARE = {"buildings": _prepare_buildings, "rivers": _prepare_rivers, "lakes": _prepare_lakes,
            "landuse": _prepare_landuse}
