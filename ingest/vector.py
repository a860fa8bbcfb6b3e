"""Vector layers (buildings, rivers, lakes, land use) read into GeoDataFrames in the twin's CRS."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ingest.crs import as_crs, same_crs
from twin.errors import CRSError, InputDataError

__all__ = ["read_vector", "split_layer_path", "zonal_stat"]


def split_layer_path(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """Split ``"city.gpkg::buildings"`` into the file and the layer name (None when not given)."""
    text = str(spec)
    if "::" in text:
        file, layer = text.rsplit("::", 1)
        return Path(file), layer or None
    return Path(text), None


def read_vector(path: str | os.PathLike, crs: object, *, layer: str | None = None,
                src_crs: object | None = None, prefer_layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer and return it in ``crs``.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet ... ; ``"file.gpkg::layer"`` names a layer.
    crs
        The twin's CRS; the layer is reprojected into it.
    layer
        Layer name in a multi-layer file.
    src_crs
        The layer's CRS when the file declares none (e.g. a Shapefile without .prj).
    prefer_layer
        In a multi-layer file with no ``layer`` given, the layer to take if it exists (e.g. "buildings").

    Raises
    ------
    InputDataError
        Missing or corrupt file, unknown or ambiguous layer.
    CRSError
        The layer declares no CRS and ``src_crs`` was not given.
    """
    file, spec_layer = split_layer_path(path)
    layer = layer or spec_layer
    if not file.exists():
        raise InputDataError(f"Vector file {file} does not exist. Check the path.")
    try:
        if file.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(file)
        else:
            if layer is None:
                names = [row[0] for row in pyogrio.list_layers(file)]
                if len(names) > 1:
                    if prefer_layer in names:
                        layer = prefer_layer
                    else:
                        raise InputDataError(
                            f"{file} holds several layers {names}; name one as '{file}::LAYER'.")
            gdf = gpd.read_file(file, layer=layer)
    except InputDataError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputDataError(f"Vector file {file} cannot be read ({exc}). Is it complete and a format OGR reads?") from None
    where = f"{file}" + (f"::{layer}" if layer else "")
    if gdf.crs is None:
        if src_crs is None:
            raise CRSError(
                f"Vector layer {where} has no CRS (e.g. a Shapefile without its .prj). Say what it is, "
                "e.g. src_crs='EPSG:26910' (or --crs for that layer); it is never guessed.")
        gdf = gdf.set_crs(as_crs(src_crs).to_wkt())
    target = as_crs(crs)
    if not same_crs(gdf.crs, target):
        gdf = gdf.to_crs(target.to_wkt())
    gdf = gdf.set_crs(target.to_wkt(), allow_override=True)
    return gdf.reset_index(drop=True)


def zonal_stat(geoms: gpd.GeoSeries | np.ndarray, grid: np.ndarray, transform, *, stat: str = "min") -> np.ndarray:
    """Minimum (or mean) of ``grid`` over each polygon; cells whose centres fall inside, or the
    cell under the polygon's representative point for polygons smaller than a cell."""
    import rasterio.features

    geoms = np.asarray(getattr(geoms, "values", geoms))
    out = np.full(len(geoms), np.nan)
    if len(geoms) == 0:
        return out
    ny, nx = grid.shape
    ids = rasterio.features.rasterize(((g, i + 1) for i, g in enumerate(geoms) if g is not None and not g.is_empty),
                                      out_shape=(ny, nx), transform=transform, fill=0, dtype="int32")
    flat_ids = ids.ravel()
    vals = grid.ravel()
    sel = flat_ids > 0
    idx = flat_ids[sel] - 1
    v = vals[sel]
    if stat == "min":
        out_min = np.full(len(geoms), np.inf)
        np.minimum.at(out_min, idx, v)
        out = np.where(np.isfinite(out_min), out_min, np.nan)
    elif stat == "mean":
        s = np.bincount(idx, weights=v, minlength=len(geoms))
        c = np.bincount(idx, minlength=len(geoms))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    else:
        raise ValueError(f"stat must be 'min' or 'mean', got {stat!r}")
    missing = np.isnan(out)
    if missing.any():
        pts = shapely.point_on_surface(geoms[missing])
        xs, ys = shapely.get_x(pts), shapely.get_y(pts)
        inv = ~transform
        cols, rows = inv @ (xs, ys)
        r = np.clip(np.floor(rows).astype(int), 0, ny - 1)
        c = np.clip(np.floor(cols).astype(int), 0, nx - 1)
        out[missing] = grid[r, c]
    return out
