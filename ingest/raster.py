"""Rasters (DEMs and other grids) read into arrays on a target grid in the twin's CRS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling

from ingest.crs import as_crs, require_projected, same_crs
from twin.errors import CRSError, InputDataError

__all__ = ["Raster", "read_raster", "read_dem", "grid_for"]


@dataclass(frozen=True)
class Raster:
    """A single-band grid: ``array`` (float64, NaN where no data), its affine ``transform`` and ``crs``."""

    array: np.ndarray
    transform: Affine
    crs: object  # pyproj.CRS

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape

    @property
    def cell_size(self) -> float:
        return abs(self.transform.a)


def _open(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"Raster file {path} does not exist. Check the path.")
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"Raster file {path} cannot be read ({exc}). Is it a complete GeoTIFF/COG/ASCII grid? "
            "Re-export or re-download it."
        ) from None


def read_raster(path: str | os.PathLike, *, crs: object | None = None, band: int = 1) -> Raster:
    """Read one band of a raster as float64 with nodata as NaN, in the file's own CRS.

    Parameters
    ----------
    path
        Any raster GDAL reads (GeoTIFF, COG, ASCII grid, VRT).
    crs
        The file's CRS when the file does not declare one (never guessed).
    band
        1-based band index.

    Raises
    ------
    InputDataError
        Missing or corrupt file.
    CRSError
        The file has no CRS and none was given, or one was given that contradicts the file's.
    """
    with _open(path) as src:
        file_crs = src.crs
        if file_crs is None and crs is None:
            raise CRSError(
                f"Raster {path} has no CRS (no georeferencing tag). Tell cimtwin what it is, e.g. "
                "crs='EPSG:32650' (or --dem-crs EPSG:32650); it is never guessed."
            )
        if src.transform == Affine.identity() and not src.gcps[0]:
            raise InputDataError(
                f"Raster {path} has no geotransform (pixel coordinates only); georeference it first "
                "(e.g. gdal_translate -a_ullr ... -a_srs ...)."
            )
        given = as_crs(crs, what=f"the CRS given for {path}") if crs is not None else None
        if file_crs is not None and given is not None and not same_crs(file_crs, given):
            raise CRSError(
                f"Raster {path} declares {as_crs(file_crs).to_string()} but {given.to_string()} was given; "
                "drop the explicit CRS or fix the file's tag."
            )
        data = src.read(band, masked=True).astype(np.float64)
        array = np.ma.filled(data, np.nan)
        array[~np.isfinite(array)] = np.nan
        return Raster(array=array, transform=src.transform, crs=given or as_crs(file_crs))


def grid_for(raster: Raster, crs: object, resolution: float | None = None) -> tuple[Affine, tuple[int, int]]:
    """The north-up grid in ``crs`` covering ``raster`` at ``resolution`` metres (default: the raster's own)."""
    dst_crs = require_projected(crs)
    ny, nx = raster.shape
    if same_crs(raster.crs, dst_crs) and resolution is None:
        return raster.transform, raster.shape
    left, bottom, right, top = rasterio.transform.array_bounds(ny, nx, raster.transform)
    if not same_crs(raster.crs, dst_crs):
        left, bottom, right, top = rasterio.warp.transform_bounds(raster.crs, dst_crs, left, bottom, right, top, densify_pts=21)
    if resolution is None:
        # the source's cell size carried to metres at the centre of the extent
        transform, _, _ = rasterio.warp.calculate_default_transform(
            raster.crs, dst_crs, nx, ny, *rasterio.transform.array_bounds(ny, nx, raster.transform))
        resolution = abs(transform.a)
    res = float(resolution)
    if not res > 0:
        raise InputDataError(f"Resolution must be a positive number of metres, got {resolution!r}.")
    left = np.floor(left / res) * res
    top = np.ceil(top / res) * res
    width = int(np.ceil((right - left) / res - 1e-9))
    height = int(np.ceil((top - bottom) / res - 1e-9))
    return Affine(res, 0.0, left, 0.0, -res, top), (height, width)


def read_dem(path: str | os.PathLike, *, crs: object | None = None, src_crs: object | None = None,
             resolution: float | None = None, resampling: str = "bilinear") -> Raster:
    """Read a DEM onto a north-up grid in ``crs`` (default: the DEM's own CRS) at ``resolution``.

    NaN marks no data. Reprojection and resampling use ``rasterio.warp.reproject``.

    Raises
    ------
    CRSError
        The DEM has no CRS and ``src_crs`` was not given, or the target CRS is not projected in metres.
    InputDataError
        The file is missing or corrupt, or holds no valid elevation at all.
    """
    src = read_raster(path, crs=src_crs)
    if np.isnan(src.array).all():
        raise InputDataError(f"DEM {path} holds no valid elevations (every cell is nodata). Check the file.")
    target = require_projected(crs if crs is not None else src.crs,
                               what=f"the target CRS for DEM {path}" if crs is not None else f"the CRS of DEM {path}")
    transform, shape = grid_for(src, target, resolution)
    if transform == src.transform and shape == src.shape and same_crs(src.crs, target):
        return Raster(src.array, transform, target)
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InputDataError(f"Unknown resampling {resampling!r}; use one of {[m.name for m in Resampling][:12]}.") from None
    out = np.full(shape, np.nan, dtype=np.float64)
    rasterio.warp.reproject(src.array, out, src_transform=src.transform, src_crs=src.crs.to_wkt(),
                            src_nodata=np.nan, dst_transform=transform, dst_crs=target.to_wkt(),
                            dst_nodata=np.nan, resampling=method)
    return Raster(out, transform, target)


def read_onto(path: str | os.PathLike, crs: object, transform: Affine, shape: tuple[int, int], *,
              src_crs: object | None = None, resampling: str = "bilinear") -> np.ndarray:
    """Read a raster resampled onto a given grid (e.g. a rain frame onto the twin's grid); NaN = no data.

    Raises
    ------
    InputDataError
        The raster does not overlap the grid at all.
    """
    src = read_raster(path, crs=src_crs)
    out = np.full(shape, np.nan, dtype=np.float64)
    rasterio.warp.reproject(src.array, out, src_transform=src.transform, src_crs=src.crs.to_wkt(),
                            src_nodata=np.nan, dst_transform=transform, dst_crs=as_crs(crs).to_wkt(),
                            dst_nodata=np.nan, resampling=Resampling[resampling])
    if np.isnan(out).all():
        raise InputDataError(f"Raster {path} does not overlap the twin's extent; check its CRS and extent.")
    return out
