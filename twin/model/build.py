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

from ingest._notes import warn
from ingest.crs import crs_label, is_metric_projected, vertical_unit_factor
from ingest.graph_json import clip_lines, is_graph_json, read_graph_lines
from ingest.raster import MAX_HOLE_CELLS, PLAUSIBLE_ELEVATION_M, default_resampling, raster_crs, read_dem, read_onto
from ingest.roads import read_roads
from ingest.vector import LAYER_KINDS, read_vector, zonal_stat
from twin.errors import InputDataError
from twin.model.culverts import drop_culverts
from twin.model.landuse import read_table
from twin.model.river_profile import check_river_profiles
from twin.model.twin import Twin

__all__ = ["from_files", "BuildingOptions", "DEFAULTS", "LIMITS", "HEIGHT_COLUMNS", "STOREY_COLUMNS", "CLASS_COLUMNS"]

#: Values ingest assumes when a layer lacks them; every use is recorded in the ingest report.
DEFAULTS = {"storey_height_m": 3.0, "building_height_m": 9.0, "river_width_m": 10.0, "river_depth_m": 2.0}

#: The largest values ingest believes (inclusive; anything larger, infinite or not a number is a data error).
#: The tallest building is 828 m with 163 storeys; the widest river channels are a few tens of km across
#: in flood and the deepest about 220 m. Elevations (building bases, lake levels) must lie within
#: :data:`ingest.raster.PLAUSIBLE_ELEVATION_M`.
LIMITS = {"building_height_m": 1000.0, "storeys": 200.0, "river_width_m": 50_000.0, "river_depth_m": 250.0}

#: Column names recognised (case-insensitive, in this order) when none is named.
HEIGHT_COLUMNS = ("height", "height_m", "building_height", "bldg_height", "measuredheight", "hgt", "h")
STOREY_COLUMNS = (
    "storeys",
    "stories",
    "storey_count",
    "levels",
    "building:levels",
    "building_levels",
    "floors",
    "num_floors",
    "nfloors",
    "floor_count",
)
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


def from_files(
    dem: PathLike | Sequence[PathLike],
    *,
    buildings: PathLike | None = None,
    rivers: PathLike | None = None,
    lakes: PathLike | None = None,
    landuse: PathLike | None = None,
    roads: PathLike | None = None,
    crs: Any = None,
    dem_crs: Any = None,
    layer_crs: Mapping[str, Any] | None = None,
    resolution: float | None = None,
    bounds: Sequence[float] | None = None,
    resampling: str = "bilinear",
    z_unit: str | float | None = None,
    max_hole_cells: int = MAX_HOLE_CELLS,
    landuse_table: pd.DataFrame | PathLike | None = None,
    height_column: str | None = None,
    storeys_column: str | None = None,
    storey_height: float = DEFAULTS["storey_height_m"],
    height_unit: str = "m",
    base_stat: str = "min",
    landuse_column: str | None = None,
    river_width_column: str | None = None,
    river_depth_column: str | None = None,
    rasters: Mapping[str, PathLike | tuple[PathLike, str]] | None = None,
) -> Twin:
    """Build a :class:`Twin` from a DEM (one file or tiles) and optional vector layers and rasters.

    Parameters
    ----------
    dem
        The terrain raster, or a list of tiles to mosaic; it fixes the grid.
    buildings, rivers, lakes, landuse
        Vector files (any format OGR reads, or GeoParquet); ``"file.gpkg::layer"`` names a layer; in a
        multi-layer file without a name the layer called like the argument is taken
        (``city.gpkg`` -> ``buildings``). Buildings, lakes and land use must be polygons, rivers lines.
    roads
        Road centre lines with a class (``class``, ``highway``, ``fclass``, ...) and a ``name``: a vector
        file, or an OSMnx street graph saved as node-link JSON (see :func:`ingest.roads.read_roads`).
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
        A land-use table (DataFrame, or a CSV path read with :func:`twin.model.landuse.read_table`):
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
        Twin.check_name(name)
    given = {"buildings": buildings, "rivers": rivers, "lakes": lakes, "landuse": landuse, "roads": roads}
    _check_layer_crs(layer_crs, given, rasters, dem_crs)
    dem_crs = layer_crs.pop("dem", dem_crs)
    dem_paths = [dem] if isinstance(dem, (str, os.PathLike)) else list(dem)
    report: dict[str, Any] = {
        "sources": {"dem": [str(p) for p in dem_paths] if len(dem_paths) > 1 else str(dem_paths[0])}
    }
    target, how = _twin_crs(crs, dem_paths, dem_crs)
    terrain = read_dem(
        dem_paths,
        crs=target,
        src_crs=dem_crs,
        resolution=resolution,
        bounds=bounds,
        resampling=resampling,
        z_unit=z_unit,
        max_hole_cells=max_hole_cells,
    )
    dem_report = dict(terrain.report)
    report["crs"] = dem_report.pop("crs", None) or {"crs": crs_label(terrain.crs), "name": terrain.crs.name, "how": how}
    report["dem"] = dem_report
    # the twin is built once and filled in, so the grid exists once beside the DEM read for it
    tw = Twin(
        terrain.crs,
        terrain.transform,
        terrain.array,
        landuse_table=_landuse_table(landuse_table),
        meta={"ingest_report": report},
    )
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
        if name == "rivers" and is_graph_json(path):  # an OSMnx waterway graph, as streets come
            gdf = read_graph_lines(path, tw.crs, src_crs=layer_crs.get(name), layer=name, report=entry)
            gdf = clip_lines(gdf, tw.bounds, str(path), entry, what="rivers")
        else:
            gdf = read_vector(
                path,
                tw.crs,
                src_crs=layer_crs.get(name),
                prefer_layer=name,
                bounds=tw.bounds,
                kind=LAYER_KINDS[name],
                clip=name != "buildings",
                name=name,
                report=entry,
            )
        if name == "buildings":
            gdf = _prepare_buildings(gdf, tw, entry, opts, tw.landuse, str(path))
        elif name == "landuse":
            gdf = _prepare_landuse(gdf, tw, entry, columns["landuse"])
        elif name == "rivers":
            gdf = _prepare_rivers(
                drop_culverts(gdf, entry, str(path)), entry, columns["width"], columns["depth"], str(path)
            )
            check_river_profiles(gdf, tw.terrain, tw.transform, entry)
        else:
            gdf = _prepare_lakes(gdf, tw, entry, str(path))
        entry["kept"] = int(len(gdf))
        report[name] = entry
        tw.set_layer(name, gdf)
    if roads is not None:
        report["sources"]["roads"] = str(roads)
        entry = {}
        tw.set_layer("roads", read_roads(roads, tw.crs, src_crs=layer_crs.get("roads"), bounds=tw.bounds, report=entry))
        report["roads"] = entry
    for name, spec in rasters.items():
        path, method = spec if isinstance(spec, tuple) else (spec, None)
        grid, report[f"raster:{name}"] = _read_grid(path, method, tw, layer_crs.get(name))
        report["sources"][name] = str(path)
        tw.set_raster(name, grid)
    return tw


def _check_layer_crs(
    layer_crs: Mapping[str, Any], given: Mapping[str, Any], rasters: Mapping[str, Any], dem_crs: Any
) -> None:
    known = {"dem", *(k for k, v in given.items() if v is not None), *rasters}
    unknown = sorted(set(layer_crs) - known)
    if unknown:
        raise InputDataError(
            f"layer_crs names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not among the "
            f"layers given ({sorted(known)}); check the spelling (e.g. --layer-crs rivers=EPSG:26910)."
        )
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
        raise InputDataError(
            f"The {what} column {named!r} is not in the layer; its columns are {sorted(map(str, lower.values()))}."
        )
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


def _prepare_buildings(
    gdf: gpd.GeoDataFrame,
    tw: Twin,
    entry: dict[str, Any],
    opts: BuildingOptions,
    landuse: gpd.GeoDataFrame | None,
    where: str,
) -> gpd.GeoDataFrame:
    """Ids, heights (column, storeys, land use, default) and bases (column, else the DEM) of footprints.

    A height, storey count or base no building has (infinite, 1e9, above :data:`LIMITS`) is dropped for
    the next source in that order, warned about and reported with the features' ids: a wrong height
    changes little in a flood (a building is an obstacle whatever its height above the water), and one
    typo in a city of 100,000 footprints should not stop the ingest. When most heights are too large,
    the column's unit is wrong and the ingest stops.
    """
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
        absurd = _absurd(height, LIMITS["building_height_m"])
        # heights in mm or cm read as metres: most too tall, yet within 1,000x of a real building
        unit = absurd & (height <= 1000 * LIMITS["building_height_m"])
        if unit.sum() > height.notna().sum() / 2:
            raise InputDataError(
                f"Building layer {where}: {int(unit.sum())} of {int(height.notna().sum())} heights in column "
                f"{column!r} are more than {LIMITS['building_height_m']:g} m (e.g. {_examples(gdf, unit, height)}); "
                "no building is that tall. Is the column in another unit? Give height_unit= (--height-unit), "
                "e.g. 'cm' or 'mm', or name another column with height_column= (--height-column)."
            )
        height = _drop_absurd(
            height,
            absurd,
            gdf,
            entry,
            "heights_implausible",
            where,
            column,
            "height",
            f"0 < height <= {LIMITS['building_height_m']:g} m",
            "storeys, land use or the default",
        )
    storeys_col = _find_column(gdf, opts.storeys_column, STOREY_COLUMNS, "storey count")
    if storeys_col is not None:
        storeys = pd.to_numeric(gdf[storeys_col], errors="coerce").where(lambda s: s > 0)
        storeys = _drop_absurd(
            storeys,
            _absurd(storeys, LIMITS["storeys"]),
            gdf,
            entry,
            "storeys_implausible",
            where,
            storeys_col,
            "storey count",
            f"1 to {LIMITS['storeys']:g}",
            "land use or the default",
        )
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
    default_height = (
        float(table.loc["default", "building_height_m"])
        if "building_height_m" in table
        else DEFAULTS["building_height_m"]
    )
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
    base = _drop_absurd(
        base,
        _absurd(base, PLAUSIBLE_ELEVATION_M[1], low=PLAUSIBLE_ELEVATION_M[0]),
        gdf,
        entry,
        "bases_implausible",
        where,
        "base",
        "base elevation",
        f"{PLAUSIBLE_ELEVATION_M[0]:g} .. {PLAUSIBLE_ELEVATION_M[1]:g} m",
        "the DEM under the footprint",
    )
    need = base.isna()
    if need.any():
        base[need] = zonal_stat(gdf.geometry[need], tw.terrain, tw.transform, stat=opts.base_stat)
        entry["base_from_dem"] = {
            "features": int(need.sum()),
            "stat": {"min": "minimum", "mean": "mean"}[opts.base_stat] + " terrain under the footprint",
        }
    gdf["base"] = base.astype(float)
    if "source" not in gdf.columns:
        gdf["source"] = "gis"
    return gdf


def _absurd(values: pd.Series, high: float, *, low: float | None = None) -> pd.Series:
    """Where a value is present but infinite or beyond ``high`` (or below ``low``)."""
    ok = np.isfinite(values) & (values <= high) & ((values >= low) if low is not None else True)
    return values.notna() & ~ok


def _examples(gdf: gpd.GeoDataFrame, mask: pd.Series, values: pd.Series, n: int = 5) -> str:
    """``"a = inf, b = 1e+09 (and 3 more)"``: the first features of ``mask`` by id (else name, else row)."""
    label = next((c for c in ("id", "name") if c in gdf.columns), None)
    rows = np.flatnonzero(mask.to_numpy())
    names = [f"{gdf[label].iloc[i] if label else f'row {i}'} = {values.iloc[i]:g}" for i in rows[:n]]
    more = f" (and {len(rows) - n} more)" if len(rows) > n else ""
    return ", ".join(names) + more


def _drop_absurd(
    values: pd.Series,
    absurd: pd.Series,
    gdf: gpd.GeoDataFrame,
    entry: dict[str, Any],
    key: str,
    where: str,
    column: Any,
    what: str,
    allowed: str,
    instead: str,
) -> pd.Series:
    """``values`` without the ``absurd`` ones (NaN, so the next source fills them), warned and reported."""
    if not absurd.any():
        return values
    examples = _examples(gdf, absurd, values)
    entry[key] = f"{int(absurd.sum())} in column {column!r}: {examples}"
    warn(
        entry,
        key,
        f"Building layer {where}: {int(absurd.sum())} {what}(s) in column {column!r} are no building's "
        f"({examples}; expected {allowed}); they are ignored and taken from {instead}. Fix them in "
        "the layer to use them.",
        stacklevel=5,
    )
    return values.mask(absurd)


def _refuse_absurd(
    gdf: gpd.GeoDataFrame,
    values: pd.Series,
    absurd: pd.Series,
    layer: str,
    where: str,
    column: Any,
    allowed: str,
    blank: str,
) -> None:
    """Raise for values no river or lake has: they decide where water flows, so none is guessed."""
    if absurd.any():
        raise InputDataError(
            f"{layer} layer {where}: column {column!r} holds values no {layer.lower()} has "
            f"({_examples(gdf, absurd, values)}; expected {allowed}). Fix them in the layer, or clear them "
            f"({blank})."
        )


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


def _prepare_rivers(
    gdf: gpd.GeoDataFrame, entry: dict[str, Any], width_column: str | None, depth_column: str | None, where: str
) -> gpd.GeoDataFrame:
    """Widths and depths from their columns; blank or non-positive ones take the defaults (reported),
    infinite or absurd ones (beyond :data:`LIMITS`) are refused."""
    gdf = gdf.copy()
    for col, named, candidates, key in (
        ("width", width_column, WIDTH_COLUMNS, "river_width_m"),
        ("depth", depth_column, DEPTH_COLUMNS, "river_depth_m"),
    ):
        found = _find_column(gdf, named, candidates, f"river {col}")
        vals = (
            pd.to_numeric(gdf[found], errors="coerce").where(lambda s: s > 0)
            if found is not None
            else pd.Series(np.nan, index=gdf.index)
        )
        if found is not None:
            _refuse_absurd(
                gdf,
                vals,
                _absurd(vals, LIMITS[key]),
                "River",
                where,
                found,
                f"0 < {col} <= {LIMITS[key]:,g} m",
                f"a blank {col} takes the default {DEFAULTS[key]:g} m",
            )
        if found is not None and found != col:
            entry[f"{col}_column"] = str(found)
        n = int(vals.isna().sum())
        if n:
            entry[f"{col}_defaulted"] = {"features": n, "value_m": DEFAULTS[key]}
        gdf[col] = vals.fillna(DEFAULTS[key]).astype(float)
    return gdf


def _prepare_lakes(gdf: gpd.GeoDataFrame, tw: Twin, entry: dict[str, Any], where: str) -> gpd.GeoDataFrame:
    """Water levels from the "level" column, else the lowest shore; infinite or impossible levels and
    beds (outside :data:`ingest.raster.PLAUSIBLE_ELEVATION_M`) are refused."""
    gdf = gdf.copy()
    low, high = PLAUSIBLE_ELEVATION_M
    for col in ("level", "bed"):
        if col in gdf.columns:
            vals = pd.to_numeric(gdf[col], errors="coerce")
            _refuse_absurd(
                gdf,
                vals,
                _absurd(vals, high, low=low),
                "Lake",
                where,
                col,
                f"{low:g} .. {high:g} m",
                "a blank level is taken from the lowest shore" if col == "level" else "a blank bed is fine",
            )
    level = (
        pd.to_numeric(gdf["level"], errors="coerce") if "level" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    )
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
        raise InputDataError(
            f"The land-use layer needs a class column (one of {list(CLASS_COLUMNS)}, e.g. "
            "residential, park, road, water) or its name: landuse_column= (--landuse-column)."
        )
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
