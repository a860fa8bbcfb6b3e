"""Rasters (DEMs and other grids) read onto a target grid in the twin's CRS.

Every raster GDAL reads (GeoTIFF, COG, ASCII grid, VRT, ...) in any CRS is warped straight onto the
target grid by GDAL, which reads the source block by block: a DEM larger than memory is never loaded
whole, only the twin's grid is allocated. Several tiles are mosaicked first through a GDAL VRT, so the
warp sees one seamless raster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pyproj
import rasterio
import rasterio.transform
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from ingest import _dem_repair, _sentinel
from ingest._notes import warn
from ingest._sentinel import PLAUSIBLE_ELEVATION_M
from ingest.crs import as_crs, auto_crs, crs_label, horizontal, require_projected, same_crs, vertical_unit_factor
from ingest.errors import CRSError, InputDataError

__all__ = [
    "Raster",
    "read_raster",
    "read_dem",
    "read_onto",
    "grid_for",
    "raster_crs",
    "default_resampling",
    "PLAUSIBLE_ELEVATION_M",
    "MAX_HOLE_CELLS",
    "COARSE_WARNING_FACTOR",
]

#: Holes (connected no-data cells inside the DEM) up to this many cells are filled by interpolation;
#: 2,500 cells is a 50 x 50 cell gap, e.g. 100 m x 100 m at 2 m, where an interpolated surface is still
#: a fair stand-in for the terrain. Larger holes are an error that asks for better data.
MAX_HOLE_CELLS = 2500

#: A DEM whose own cells are this many times larger than the twin's is warned about: the terrain on the
#: grid is then mostly interpolation, smoother than the real ground.
COARSE_WARNING_FACTOR = 10.0


@dataclass(frozen=True)
class Raster:
    """A single-band grid: ``array`` (float64, NaN where no data), its affine ``transform`` and ``crs``.

    ``report`` says what reading it assumed or changed (z-unit conversion, trimmed edges, filled holes).
    """

    array: np.ndarray
    transform: Affine
    crs: object  # pyproj.CRS
    report: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape

    @property
    def cell_size(self) -> float:
        return abs(self.transform.a)


@dataclass(frozen=True)
class _Tile:
    """What the mosaic needs to know of one source file (read once; the file is closed again)."""

    path: str
    crs: pyproj.CRS
    transform: Affine
    width: int
    height: int
    dtype: str
    nodata: float | None
    scale: float
    offset: float
    unit: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return rasterio.transform.array_bounds(self.height, self.width, self.transform)[:4]


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


def _declared_crs(src, path: Any, given: Any, *, option: str = "crs") -> pyproj.CRS:
    """The raster's CRS: the file's tag, or ``given`` for a file without one (never guessed)."""
    if src.crs is None and given is None:
        raise CRSError(
            f"Raster {path} has no CRS (no georeferencing tag). Tell cimtwin what it is, e.g. "
            f"{option}='EPSG:32650' (or --dem-crs EPSG:32650); it is never guessed."
        )
    if src.transform == Affine.identity() and not src.gcps[0]:
        raise InputDataError(
            f"Raster {path} has no geotransform (pixel coordinates only); georeference it first "
            "(e.g. gdal_translate -a_ullr ... -a_srs ...)."
        )
    if src.transform.b != 0 or src.transform.d != 0:
        raise InputDataError(f"Raster {path} has a rotated geotransform; warp it north-up first (gdalwarp).")
    declared = as_crs(given, what=f"the CRS given for {path}") if given is not None else None
    if src.crs is not None and declared is not None and not same_crs(src.crs, declared):
        raise CRSError(
            f"Raster {path} declares {as_crs(src.crs).to_string()} but {declared.to_string()} was given; "
            "drop the explicit CRS or fix the file's tag."
        )
    crs = declared or as_crs(src.crs)
    _refuse_degrees_as_metres(src, path, crs, option)
    return crs


def _refuse_degrees_as_metres(src, path: Any, crs: pyproj.CRS, option: str) -> None:
    """A file in longitude/latitude given a projected CRS in metres: its cells would be millimetres
    across and the whole DEM a few centimetres, which ended as "every cell is nodata"."""
    if not crs.is_projected:
        return
    left, bottom, right, top = src.bounds
    size = max(abs(src.transform.a), abs(src.transform.e))
    if size < 0.01 and -180 <= left < right <= 360 and -90 <= bottom < top <= 90:
        raise CRSError(
            f"Raster {path} is read as {crs_label(crs)}, in metres, but its cells are {size:.3g} units across and "
            f"its extent ({left:.5f}, {bottom:.5f} .. {right:.5f}, {top:.5f}) lies within longitude/latitude: "
            f"the file is most likely in degrees. Give its real CRS, e.g. {option}='EPSG:4326' "
            "(--dem-crs EPSG:4326), or fix the file's tag."
        )


def raster_crs(path: str | os.PathLike, *, crs: object | None = None) -> pyproj.CRS:
    """The CRS of a raster file (``crs`` for a file that declares none)."""
    with _open(path) as src:
        return _declared_crs(src, path, crs)


def default_resampling(path: str | os.PathLike, *, band: int = 1) -> str:
    """``"nearest"`` for an integer raster (class codes), ``"bilinear"`` for a floating-point one (measurements)."""
    with _open(path) as src:
        _check_band(src, band, path)
        return "nearest" if np.issubdtype(np.dtype(src.dtypes[band - 1]), np.integer) else "bilinear"


def read_raster(path: str | os.PathLike, *, crs: object | None = None, band: int = 1) -> Raster:
    """Read one band of a raster whole, as float64 with nodata as NaN, in the file's own CRS.

    For rasters that go onto the twin's grid use :func:`read_dem` or :func:`read_onto`, which read
    only what the grid needs.

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
        declared = _declared_crs(src, path, crs)
        _check_band(src, band, path)
        data = src.read(band, masked=True).astype(np.float64)
        array = np.ma.filled(data, np.nan)
        array[~np.isfinite(array)] = np.nan
        return Raster(array=array, transform=src.transform, crs=declared)


def _check_band(src, band: int, path: Any) -> None:
    if not 1 <= band <= src.count:
        raise InputDataError(f"Raster {path} has {src.count} band(s); band {band} does not exist.")


def _tiles(paths: Sequence[str | os.PathLike], crs: Any, band: int) -> list[_Tile]:
    tiles = []
    for path in paths:
        with _open(path) as src:
            declared = _declared_crs(src, path, crs)
            _check_band(src, band, path)
            try:
                src.read(band, window=Window(0, 0, 1, 1))  # a truncated file fails here, with its name
            except rasterio.errors.RasterioError as exc:
                raise InputDataError(
                    f"Raster file {path} cannot be read ({exc}); re-export or re-download it."
                ) from None
            tiles.append(
                _Tile(
                    str(Path(path).resolve()),
                    declared,
                    src.transform,
                    src.width,
                    src.height,
                    src.dtypes[band - 1],
                    src.nodata,
                    float(src.scales[band - 1] or 1.0),
                    float(src.offsets[band - 1] or 0.0),
                    src.units[band - 1] or "",
                )
            )
    return tiles


def _mosaic_xml(tiles: Sequence[_Tile], band: int) -> str:
    """A GDAL VRT mosaicking ``tiles`` (one CRS) at the finest tile's resolution; the first tile wins overlaps.

    Nodata becomes NaN and each tile's scale and offset are applied, so every source reads alike.
    """
    res_x = min(abs(t.transform.a) for t in tiles)
    res_y = min(abs(t.transform.e) for t in tiles)
    left = min(t.bounds[0] for t in tiles)
    right = max(t.bounds[2] for t in tiles)
    bottom = min(t.bounds[1] for t in tiles)
    top = max(t.bounds[3] for t in tiles)
    width = max(1, int(round((right - left) / res_x)))
    height = max(1, int(round((top - bottom) / res_y)))
    dtype = "Float64" if any(t.dtype == "float64" for t in tiles) else "Float32"
    sources = []
    # GDAL paints sources in order, so the first tile is listed last to win where tiles overlap
    for t in reversed(tiles):
        tl, tb, tr, tt = t.bounds
        nodata = f"<NODATA>{_gdal_number(t.nodata)}</NODATA>" if t.nodata is not None else ""
        sources.append(
            f'<ComplexSource><SourceFilename relativeToVRT="0">{escape(t.path)}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{t.width}" ySize="{t.height}"/>'
            f'<DstRect xOff="{(tl - left) / res_x!r}" yOff="{(top - tt) / res_y!r}" '
            f'xSize="{(tr - tl) / res_x!r}" ySize="{(tt - tb) / res_y!r}"/>'
            f"{nodata}<ScaleOffset>{t.offset!r}</ScaleOffset><ScaleRatio>{t.scale!r}</ScaleRatio>"
            "</ComplexSource>"
        )
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{escape(tiles[0].crs.to_wkt())}</SRS>"
        f"<GeoTransform>{left!r}, {res_x!r}, 0, {top!r}, 0, {-res_y!r}</GeoTransform>"
        f'<VRTRasterBand dataType="{dtype}" band="1"><NoDataValue>nan</NoDataValue>'
        f"{''.join(sources)}</VRTRasterBand></VRTDataset>"
    )


def _gdal_number(value: float) -> str:
    return "nan" if np.isnan(value) else repr(float(value))


def _groups(tiles: Sequence[_Tile]) -> list[list[_Tile]]:
    """Tiles grouped by CRS, in the order given (each group becomes one VRT mosaic)."""
    groups: list[list[_Tile]] = []
    for t in tiles:
        for g in groups:
            if same_crs(g[0].crs, t.crs):
                g.append(t)
                break
        else:
            groups.append([t])
    return groups


@contextlib.contextmanager
def _open_source(group: Sequence[_Tile], band: int) -> Iterator[tuple[Any, int, float | None]]:
    """``(dataset, band, nodata)`` reading the group: the file itself when one tile needs no scaling
    (so GDAL caches its blocks once), else a VRT mosaic (band 1, NaN nodata)."""
    t = group[0]
    if len(group) == 1 and t.scale == 1.0 and t.offset == 0.0:
        nodata = t.nodata if t.nodata is not None or not np.issubdtype(np.dtype(t.dtype), np.floating) else np.nan
        with rasterio.open(t.path) as ds:
            yield ds, band, nodata
        return
    with rasterio.open(_mosaic_xml(group, band)) as ds:
        yield ds, 1, np.nan


def _z_factor(tiles: Sequence[_Tile], z_unit: str | float | None, what: str) -> tuple[float, str]:
    """Metres per DEM unit and where that came from: ``z_unit``, the band unit tag or the vertical CRS."""
    if z_unit is not None:
        if isinstance(z_unit, (int, float)):
            return float(z_unit), f"{z_unit:g} m per unit (given)"
        return vertical_unit_factor(z_unit, what="z_unit"), f"{z_unit} (given)"
    declared = set()
    for t in tiles:
        if t.unit:
            declared.add(
                (vertical_unit_factor(t.unit, what=f"The band unit tag of {t.path}"), f"{t.unit} (band unit tag)")
            )
        elif t.crs.is_compound:
            vertical = [s for s in t.crs.sub_crs_list if s.is_vertical]
            if vertical:
                axis = vertical[0].axis_info[0]
                declared.add(
                    (float(axis.unit_conversion_factor), f"{axis.unit_name} (vertical CRS {vertical[0].name})")
                )
    factors = {round(f, 12) for f, _ in declared}
    if len(factors) > 1:
        raise InputDataError(
            f"The tiles of {what} declare different vertical units ({sorted(n for _, n in declared)}); "
            "convert them to one unit first or give z_unit= (--z-unit) if the tags are wrong."
        )
    if declared:
        return next(iter(declared))
    return 1.0, "m (the file declares no vertical unit; metres assumed)"


def _union_bounds(tiles: Sequence[_Tile], crs: pyproj.CRS) -> tuple[float, float, float, float]:
    boxes = [
        rasterio.warp.transform_bounds(t.crs, crs, *t.bounds, densify_pts=21) if not same_crs(t.crs, crs) else t.bounds
        for t in tiles
    ]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _centre(tiles: Sequence[_Tile]) -> tuple[float, float, pyproj.CRS]:
    """Longitude, latitude of the tiles' centre, on the datum of the first tile's geographic CRS."""
    geographic = horizontal(tiles[0].crs).geodetic_crs or pyproj.CRS("EPSG:4326")
    left, bottom, right, top = _union_bounds(tiles, geographic)
    return (left + right) / 2.0, (bottom + top) / 2.0, geographic


def _as_paths(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str | os.PathLike]:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    paths = list(paths)
    if not paths:
        raise InputDataError("No DEM was given; pass one file or a list of tiles.")
    return paths


def _native_resolution(tiles: Sequence[_Tile], crs: pyproj.CRS) -> float:
    """The finest tile's cell size carried into ``crs`` (metres) at the tile's centre."""
    sizes = []
    for t in tiles:
        if same_crs(t.crs, crs):
            sizes.append(abs(t.transform.a))
            continue
        transform, _, _ = rasterio.warp.calculate_default_transform(t.crs, crs, t.width, t.height, *t.bounds)
        sizes.append(abs(transform.a))
    return min(sizes)


def _snap(value: float, anchor: float, res: float, up: bool) -> float:
    n = (value - anchor) / res
    # a bound a hair off a cell edge (floating-point noise from the transform) stays on that edge
    n = np.ceil(n - 1e-6) if up else np.floor(n + 1e-6)
    return anchor + float(n) * res


def _target_grid(
    tiles: Sequence[_Tile], crs: pyproj.CRS, resolution: float | None, bounds: Sequence[float] | None
) -> tuple[Affine, tuple[int, int], float]:
    """North-up grid in ``crs`` over the DEM (or ``bounds``): transform, shape and the DEM's own cell size."""
    native = _native_resolution(tiles, crs)
    if resolution is None and not all(same_crs(t.crs, crs) for t in tiles):
        # the source's cells carried into another CRS have an arbitrary size: keep 3 significant digits
        resolution = float(f"{native:.3g}")
    res = float(native if resolution is None else resolution)
    if not res > 0 or not np.isfinite(res):
        raise InputDataError(f"Resolution must be a positive number of metres, got {resolution!r}.")
    covered = _union_bounds(tiles, crs)
    if bounds is not None:
        left, bottom, right, top = (float(v) for v in bounds)
        if not (left < right and bottom < top):
            raise InputDataError(
                f"bounds={tuple(bounds)} must be (xmin, ymin, xmax, ymax) with xmin < xmax and ymin < ymax."
            )
        if left >= covered[2] or right <= covered[0] or bottom >= covered[3] or top <= covered[1]:
            raise InputDataError(
                f"bounds={tuple(bounds)} (in {crs.to_string()}) do not overlap the DEM, which covers "
                f"{tuple(round(v, 1) for v in covered)} there; give bounds in the twin's CRS."
            )
    else:
        left, bottom, right, top = covered
    # the grid keeps the source's cell edges when it can (same CRS and cell size), else whole multiples
    single = (
        len(tiles) == 1
        and same_crs(tiles[0].crs, crs)
        and np.isclose(abs(tiles[0].transform.a), res)
        and np.isclose(abs(tiles[0].transform.e), res)
    )
    ax, ay = (tiles[0].transform.c, tiles[0].transform.f) if single else (0.0, 0.0)
    left, right = _snap(left, ax, res, False), _snap(right, ax, res, True)
    bottom, top = _snap(bottom, ay, res, False), _snap(top, ay, res, True)
    shape = (int(round((top - bottom) / res)), int(round((right - left) / res)))
    if shape[0] * shape[1] > 2**31:
        raise InputDataError(
            f"The grid would have {shape[0]} x {shape[1]} cells; choose a coarser resolution "
            "or a smaller extent with bounds=(xmin, ymin, xmax, ymax)."
        )
    return Affine(res, 0.0, left, 0.0, -res, top), shape, native


def grid_for(raster: Raster, crs: object, resolution: float | None = None) -> tuple[Affine, tuple[int, int]]:
    """The north-up grid in ``crs`` covering ``raster`` at ``resolution`` metres (default: the raster's own)."""
    dst = require_projected(crs)
    ny, nx = raster.shape
    tile = _Tile("", as_crs(raster.crs), raster.transform, nx, ny, "float64", None, 1.0, 0.0, "")
    if same_crs(tile.crs, dst) and resolution is None:
        return raster.transform, raster.shape
    transform, shape, _ = _target_grid([tile], dst, resolution, None)
    return transform, shape


def _warp(
    group: Sequence[_Tile],
    band: int,
    out: np.ndarray,
    transform: Affine,
    crs: pyproj.CRS,
    resampling: Resampling,
    *,
    gaps_only: bool = False,
) -> None:
    """Warp one same-CRS group of tiles onto ``out``'s grid (with ``gaps_only``, into its NaN cells only)."""
    try:
        _warp_group(group, band, out, transform, crs, resampling, gaps_only)
    except rasterio.errors.RasterioError as exc:
        names = ", ".join(t.path for t in group)
        raise InputDataError(
            f"Raster {names} cannot be read to the end ({exc}); the file is damaged or "
            "truncated. Re-export or re-download it."
        ) from None


def _warp_group(
    group: Sequence[_Tile],
    band: int,
    out: np.ndarray,
    transform: Affine,
    crs: pyproj.CRS,
    resampling: Resampling,
    gaps_only: bool,
) -> None:
    with _open_source(group, band) as (ds, b, nodata):
        if same_crs(group[0].crs, crs) and _aligned(ds.transform, transform):
            _read_aligned(ds, b, out, transform, nodata)
            return
        target = np.full(out.shape, np.nan) if gaps_only else out
        # GDAL reads the source block by block as the warp needs it; only ``target`` is allocated
        declared = None if ds.crs else group[0].crs.to_wkt()  # a CRS given for a file without one
        rasterio.warp.reproject(
            rasterio.band(ds, b),
            target,
            src_crs=declared,
            src_nodata=nodata,
            dst_transform=transform,
            dst_crs=crs.to_wkt(),
            dst_nodata=np.nan,
            resampling=resampling,
        )
        if target is not out:
            gap = np.isnan(out)
            out[gap] = target[gap]


def _aligned(src: Affine, dst: Affine) -> bool:
    """Same cell size and cell edges: the grid is a window of the source, read without resampling."""
    if not (np.isclose(src.a, dst.a, rtol=1e-9) and np.isclose(src.e, dst.e, rtol=1e-9)):
        return False
    col, row = ~src @ (dst.c, dst.f)
    return abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6


def _read_aligned(ds, band: int, out: np.ndarray, transform: Affine, nodata: float | None = None) -> None:
    col, row = (int(round(v)) for v in ~ds.transform @ (transform.c, transform.f))
    ny, nx = out.shape
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + ny, ds.height), min(col + nx, ds.width)
    if r1 <= r0 or c1 <= c0:
        return
    block = np.ma.filled(ds.read(band, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True).astype(np.float64), np.nan)
    block[~np.isfinite(block)] = np.nan
    if nodata is not None and not np.isnan(nodata):
        block[block == nodata] = np.nan  # a marker the file does not declare (see _undeclared_nodata)
    view = out[r0 - row : r1 - row, c0 - col : c1 - col]
    gap = np.isnan(view)
    view[gap] = block[gap]


def _resampling(name: str) -> Resampling:
    try:
        return Resampling[name]
    except KeyError:
        raise InputDataError(f"Unknown resampling {name!r}; use one of {[m.name for m in Resampling][:14]}.") from None


def _target_crs(crs: Any, tiles: Sequence[_Tile], what: str, report: dict[str, Any]) -> pyproj.CRS:
    """The grid's CRS: given, ``"auto"`` (national grid in China, else UTM), or the DEM's own."""
    if isinstance(crs, str) and crs.lower() == "auto":
        lon, lat, geographic = _centre(tiles)
        chosen, why = auto_crs(lon, lat, datum=geographic)
        report["crs"] = {"crs": crs_label(chosen), "name": chosen.name, "how": why}
        return chosen
    if crs is not None:
        return require_projected(horizontal(crs), what=f"the target CRS for {what}")
    return require_projected(horizontal(tiles[0].crs), what=f"the CRS of {what}")


def read_dem(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    crs: object | None = None,
    src_crs: object | None = None,
    resolution: float | None = None,
    resampling: str = "bilinear",
    bounds: Sequence[float] | None = None,
    z_unit: str | float | None = None,
    band: int = 1,
    trim: bool = True,
    fill: bool = True,
    max_hole_cells: int = MAX_HOLE_CELLS,
) -> Raster:
    """Read a DEM (one file or several tiles) onto a north-up grid in ``crs`` at ``resolution``.

    The DEM is warped by GDAL straight onto the target grid, reading the source block by block (a DEM
    larger than memory is fine; only the grid is allocated). Tiles are mosaicked through a GDAL VRT
    first (the first tile wins where tiles overlap; tiles in different CRSs are warped one CRS at a
    time). Elevations are converted to metres. No-data reaching in from the grid's edges (the corners
    a reprojected lon/lat box leaves) is trimmed off the grid; holes inside are filled by harmonic
    interpolation when small and are an error when large. ``report`` on the result records each of
    these steps.

    Parameters
    ----------
    path
        A raster GDAL reads (GeoTIFF, COG, ASCII grid, VRT), or a list of tiles.
    crs
        The grid's projected CRS in metres; ``"auto"`` picks China's CGCS2000 3-degree Gauss-Kruger
        zone inside China and the local UTM zone elsewhere; default: the DEM's own CRS.
    src_crs
        The DEM's CRS when its file declares none (never guessed).
    resolution
        Cell size in metres (default: the DEM's own, carried into ``crs``).
    resampling
        A ``rasterio.enums.Resampling`` name: ``"bilinear"`` (default) for elevations, ``"cubic"``,
        ``"average"`` when coarsening a lot, ``"nearest"`` to keep source values.
    bounds
        ``(xmin, ymin, xmax, ymax)`` in ``crs`` clipping the grid (snapped outward to whole cells).
    z_unit
        Unit of the elevations ("m", "ft", "US survey foot", "cm", or metres per unit as a number),
        overriding what the file declares (band unit tag, vertical CRS); default: the file's, else metres.
    band
        1-based band index.
    trim
        Trim edge no-data off the grid (default); with False the grid keeps it as NaN.
    fill
        Fill holes of at most ``max_hole_cells`` cells (default); with False holes stay NaN.
    max_hole_cells
        The largest hole filled; a larger one raises InputDataError.

    Raises
    ------
    CRSError
        The DEM has no CRS and ``src_crs`` was not given, or the target CRS is not projected in metres.
    InputDataError
        The file is missing or corrupt, holds no valid elevation within the grid, has a hole larger
        than ``max_hole_cells``, or ``bounds`` do not overlap it.
    """
    paths = _as_paths(path)
    what = f"DEM {paths[0]}" if len(paths) == 1 else f"the DEM tiles {[str(p) for p in paths]}"
    tiles = _tiles(paths, src_crs, band)
    report: dict[str, Any] = {"files": len(tiles), "source_crs": _names({crs_label(t.crs) for t in tiles})}
    target = _target_crs(crs, tiles, what, report)
    transform, shape, native = _target_grid(tiles, target, resolution, bounds)
    method = _resampling(resampling)
    res = abs(transform.a)
    report.update(cell_size_m=res, source_cell_size_m=round(native, 3))
    reprojected = not all(same_crs(t.crs, target) for t in tiles)
    if reprojected or not np.isclose(native, res):
        report["resampling"] = resampling
    if native / res >= COARSE_WARNING_FACTOR:
        warn(
            report,
            "coarse",
            f"{what} has cells of about {native:.4g} m, {native / res:.0f}x the twin's {res:g} m "
            "cells: the terrain between its cells is interpolated and smoother than the ground. "
            "Use a finer DEM or a coarser resolution=.",
        )
    factor, unit = _z_factor(tiles, z_unit, what)
    tiles, hint = _undeclared_nodata(tiles, band, transform, shape, target, factor, report)
    groups = _groups(tiles)
    if len(groups) > 1:
        report["tiles_in_several_crs"] = "warped one CRS at a time; seams may differ from one warp by a cell"
    out = np.full(shape, np.nan, dtype=np.float64)
    for i, group in enumerate(groups):
        _warp(group, band, out, transform, target, method, gaps_only=i > 0)
    if factor != 1.0:
        out *= factor
        unit = f"{unit} -> metres (x {factor:.10g})"
    report["z_unit"] = unit
    _refuse_implausible(out, transform, what)
    try:
        out, transform = _repair(out, transform, what, trim, fill, max_hole_cells, report)
    except InputDataError as exc:
        if not hint:
            raise
        raise InputDataError(f"{exc} {hint}") from None
    return Raster(out, transform, target, report)


def _repair(
    out: np.ndarray, transform: Affine, what: str, trim: bool, fill: bool, max_hole_cells: int, report: dict[str, Any]
) -> tuple[np.ndarray, Affine]:
    """Trim no-data edges off the grid and fill small holes (see :func:`read_dem`); the grid and its transform."""
    ny, nx = out.shape
    cut = _dem_repair.trim_rectangle(out) if trim else _dem_repair.EdgeTrim(0, ny, 0, nx, 0)
    if cut is None:
        raise InputDataError(
            f"{what} holds no valid elevations within the grid (every cell is nodata). "
            "Check the file, its CRS and bounds=."
        )
    if cut.shape != (ny, nx):
        if min(cut.shape) < 2:
            raise InputDataError(
                f"{what} leaves no rectangle of data on the grid once its no-data edges are "
                "trimmed; check the file and bounds=."
            )
        out = _crop_in_place(out, cut)
        transform = transform @ Affine.translation(cut.left, cut.top)
    labels, origin, n = _dem_repair.nodata_holes(out)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    if int(sizes.sum()) == out.size:
        raise InputDataError(
            f"{what} holds no valid elevations within the grid (every cell is nodata). "
            "Check the file, its CRS and bounds=."
        )
    if cut.shape != (ny, nx):
        _report_trim(cut, (ny, nx), out.size - int(sizes.sum()), what, report)
    if fill and n:
        _fill(out, transform, labels, origin, sizes, what, max_hole_cells, report)
    elif n:
        report["nodata_cells"] = int(sizes.sum())
    return out, transform


def _undeclared_nodata(
    tiles: Sequence[_Tile],
    band: int,
    transform: Affine,
    shape: tuple[int, int],
    crs: pyproj.CRS,
    factor: float,
    report: dict[str, Any],
) -> tuple[list[_Tile], str]:
    """The tiles, each file that declares no nodata but marks gaps with a conventional value (-9999,
    -32768, ...) given that value as its nodata; and a sentence for errors about no-data (empty if none).

    Only the part of each file under the grid is scanned; what was found is warned about and reported.
    """
    box = rasterio.transform.array_bounds(shape[0], shape[1], transform)
    kept, found = [], []
    for t in tiles:
        if t.nodata is not None:
            kept.append(t)
            continue
        own = box if same_crs(t.crs, crs) else rasterio.warp.transform_bounds(crs, t.crs, *box, densify_pts=21)
        window = _sentinel.scan_window(t.transform, (t.height, t.width), own)
        try:
            with rasterio.open(t.path) as ds:
                marker = _sentinel.find_sentinel(ds, band, window, (t.scale * factor, t.offset * factor))
        except rasterio.errors.RasterioError as exc:
            raise InputDataError(
                f"Raster file {t.path} cannot be read to the end ({exc}); the file is damaged or "
                "truncated. Re-export or re-download it."
            ) from None
        kept.append(t if marker is None else dataclasses.replace(t, nodata=marker.value))
        if marker is not None:
            found.append((Path(t.path).name, marker))
    if not found:
        return kept, ""
    report["undeclared_nodata"] = {name: f"{m.value:.9g} in {m.cells} cells" for name, m in found}
    notes = []
    for name, m in found:
        rest = f"the rest of it spans {m.rest_m[0]:.2f} .. {m.rest_m[1]:.2f} m" if m.rest_m else "it holds nothing else"
        notes.append(
            f"{name} declares no nodata value, but {m.cells:,} cells hold {m.value:.9g}, which is no "
            f"elevation (read as one: {m.as_elevation_m:.6g} m; {rest}). They are taken as no data: "
            f"trimmed at the edges and filled where small holes, as declared no data is. Declare it in "
            f"the file to be sure (gdal_edit.py -a_nodata {m.value:.9g} {name})."
        )
    warn(report, "undeclared_nodata", " ".join(notes), stacklevel=4)
    hint = "; ".join(
        f"{m.cells:,} cells of {m.value:.9g}, which {name} does not declare as nodata" for name, m in found
    )
    return kept, f"({hint}, were taken as no data.)"


def _refuse_implausible(out: np.ndarray, transform: Affine, what: str) -> None:
    """Raise for elevations no terrain has (an undeclared marker that was not recognised, a wrong unit)."""
    found = _sentinel.implausible(out)
    if found is None:
        return
    n, common, extreme, (row, col) = found
    x, y = transform @ (col + 0.5, row + 0.5)
    low, high = _sentinel.PLAUSIBLE_ELEVATION_M
    raise InputDataError(
        f"{what} has {n:,} cells with elevations no terrain has (outside {low:g} .. {high:,.0f} m): most often "
        f"{common:.9g} m, up to {extreme:.9g} m, e.g. at x={x:.1f}, y={y:.1f}. If that value marks missing data, "
        "declare it as the file's nodata (gdal_edit.py -a_nodata VALUE FILE); if the elevation unit is wrong, give "
        f"z_unit= (--z-unit); bathymetry deeper than {-low:g} m is no terrain for the twin: leave it out with "
        "bounds= (--bounds)."
    )


def _names(names: set[str]) -> str | list[str]:
    return next(iter(names)) if len(names) == 1 else sorted(names)


def _report_trim(
    cut: _dem_repair.EdgeTrim, shape: tuple[int, int], kept: int, what: str, report: dict[str, Any]
) -> None:
    ny, nx = shape
    share = cut.valid_dropped / (cut.valid_dropped + kept)
    report["edges_trimmed"] = {
        "rows_top": cut.top,
        "rows_bottom": ny - cut.bottom,
        "cols_left": cut.left,
        "cols_right": nx - cut.right,
        "valid_cells_dropped": cut.valid_dropped,
        "valid_share_dropped": round(share, 4),
    }
    if share > 0.1:
        warn(
            report,
            "trim",
            f"Trimming the no-data edges of {what} off the grid drops {share:.0%} of its valid "
            "cells (its data is not a rectangle on the twin's grid). Give bounds= to choose the "
            "extent, or a DEM that covers it.",
            stacklevel=5,
        )


def _crop_in_place(out: np.ndarray, cut: _dem_repair.EdgeTrim) -> np.ndarray:
    """``out[top:bottom, left:right]`` as a C-contiguous array in ``out``'s own buffer (no second grid in memory)."""
    ny, nx = out.shape
    h, w = cut.shape
    flat = out.reshape(-1)
    # rows move only towards the buffer's start, so a row is never overwritten before it is moved
    for i in range(h):
        start = (cut.top + i) * nx + cut.left
        flat[i * w : (i + 1) * w] = flat[start : start + w]
    return flat[: h * w].reshape(h, w)


def _fill(
    out: np.ndarray,
    transform: Affine,
    labels: np.ndarray,
    origin: tuple[int, int],
    sizes: np.ndarray,
    what: str,
    max_cells: int,
    report: dict[str, Any],
) -> None:
    n = len(sizes)
    large = np.flatnonzero(sizes > max_cells) + 1
    if len(large):
        rows, cols = np.nonzero(labels == large[np.argmax(sizes[large - 1])])
        x, y = transform @ (origin[1] + cols.mean() + 0.5, origin[0] + rows.mean() + 0.5)
        area = sizes.max() * abs(transform.a * transform.e)
        raise InputDataError(
            f"{what} has {len(large)} no-data hole(s) larger than {max_cells} cells inside the grid; the largest "
            f"has {sizes.max()} cells ({area:,.0f} m2) around x={x:.1f}, y={y:.1f}. Too large to interpolate: "
            "fill it from other data (e.g. another DEM tile), clip it away with bounds=, or raise "
            "max_hole_cells= (--max-hole-cells) to interpolate anyway."
        )
    _dem_repair.fill_holes(out, labels, origin, np.arange(1, n + 1))
    report["holes_filled"] = {
        "holes": int(n),
        "cells": int(sizes.sum()),
        "largest_cells": int(sizes.max()),
        "method": "harmonic interpolation of the hole's rim",
    }


def read_onto(
    path: str | os.PathLike,
    crs: object,
    transform: Affine,
    shape: tuple[int, int],
    *,
    src_crs: object | None = None,
    resampling: str = "bilinear",
    band: int = 1,
) -> np.ndarray:
    """Read a raster resampled onto a given grid (e.g. a rain frame onto the twin's grid); NaN = no data.

    Only the part of the source the grid needs is read. ``resampling``: ``"bilinear"`` for continuous
    values, ``"nearest"`` or ``"mode"`` for classes, ``"average"`` for a much finer source.

    Raises
    ------
    InputDataError
        The raster does not overlap the grid at all.
    """
    tiles = _tiles([path], src_crs, band)
    out = np.full(tuple(shape), np.nan, dtype=np.float64)
    _warp(tiles, band, out, Affine(*tuple(transform)[:6]), as_crs(crs), _resampling(resampling))
    if np.isnan(out).all():
        raise InputDataError(f"Raster {path} does not overlap the twin's extent; check its CRS and extent.")
    return out
