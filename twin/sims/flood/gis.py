"""A flood result's files as GIS software reads them best: Cloud Optimized GeoTIFFs with nodata where
the ground never got wet, a colour table on the hazard classes and a QGIS style (``.qml``) beside
every raster; CF time units from the scenario's start; the roads' cuts.

Nodata
    ``max_depth``, ``max_speed``, ``hazard``, ``duration`` and ``hazard_class`` hold **0** where a cell
    never got wet (its depth never exceeded ``output.wet_depth``, so ``arrival_time`` is NaN), and
    declare 0 their nodata value; ``arrival_time`` declares NaN. A program that ignores nodata reads
    0 there (dry), as does :class:`~twin.sims.flood.run.FloodResult` in memory (a depth below
    ``wet_depth`` is not kept); QGIS leaves those cells transparent. A wet cell's depth and hazard are
    always above 0; a wet cell of standing water (speed 0) shows as nodata on ``max_speed``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np

from twin import _io
from twin.errors import InputDataError

__all__ = [
    "NODATA",
    "HAZARD_COLOURS",
    "write_rasters",
    "write_cog",
    "qml",
    "time_attrs",
    "add_roads",
    "resolve_facilities",
]

#: The nodata value of each raster a flood result writes (module docstring).
NODATA: dict[str, float] = {
    "max_depth": 0.0,
    "max_speed": 0.0,
    "hazard": 0.0,
    "duration": 0.0,
    "hazard_class": 0,
    "arrival_time": float("nan"),
}

#: Defra/EA FD2320 hazard classes (class value: RGB, label), the scene's colours.
HAZARD_COLOURS: dict[int, tuple[tuple[int, int, int], str]] = {
    1: ((255, 236, 140), "Low: caution (HR < 0.75)"),
    2: ((253, 160, 60), "Moderate: danger for some (0.75-1.25)"),
    3: ((228, 52, 36), "Significant: danger for most (1.25-2.0)"),
    4: ((125, 0, 75), "Extreme: danger for all (HR > 2.0)"),
}

# Blues (ColorBrewer, sequential) for depth; the class bounds follow the scene's depth legend.
_DEPTH_RAMP = (
    (0.01, "#deebf7"),
    (0.15, "#c6dbef"),
    (0.3, "#9ecae1"),
    (0.5, "#6baed6"),
    (1.0, "#3182bd"),
    (2.0, "#08519c"),
)
_SPEED_RAMP = ((0.0, "#f2f0f7"), (0.5, "#cbc9e2"), (1.0, "#9e9ac8"), (2.0, "#756bb1"), (4.0, "#54278f"))
# arrival and duration in minutes of the run: early / long is dark
_TIME_RAMP = ((0.0, "#08306b"), (1800.0, "#2171b5"), (3600.0, "#6baed6"), (7200.0, "#c6dbef"), (14400.0, "#f7fbff"))
_DURATION_RAMP = ((0.0, "#f7fbff"), (1800.0, "#c6dbef"), (3600.0, "#6baed6"), (7200.0, "#2171b5"), (14400.0, "#08306b"))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def write_cog(
    path: Path, array: np.ndarray, transform: Any, crs: Any, nodata: float | None, *, colormap=None, categorical=False
) -> Path:
    """One band as a Cloud Optimized GeoTIFF (GDAL's COG driver: 256-pixel tiles, overviews, DEFLATE),
    optionally with a colour table (then the band's values are classes)."""
    import rasterio
    import rasterio.shutil

    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmpdir:
        plain = Path(tmpdir) / "plain.tif"
        _io.write_geotiff(plain, array, transform, crs, nodata=nodata)
        if colormap is not None:
            with rasterio.open(plain, "r+") as dst:
                dst.write_colormap(1, colormap)
        options = {
            "compress": "DEFLATE",
            "blocksize": 256,
            "overview_resampling": "NEAREST" if categorical else "AVERAGE",
            "overviews": "AUTO",
        }
        if np.issubdtype(array.dtype, np.floating):
            options["predictor"] = "YES"
        with _io.atomic_file(path, suffix=".tif") as tmp:
            rasterio.shutil.copy(plain, tmp, driver="COG", **options)
    return Path(path)


def write_rasters(result: Any, folder: Path) -> None:
    """The result's rasters as COGs into ``folder``, each with its ``.qml`` style (module docstring)."""
    never = np.isnan(result.arrival_time)
    for name in ("max_depth", "max_speed", "arrival_time", "duration", "hazard"):
        arr = np.asarray(getattr(result, name), dtype=np.float32)
        if name != "arrival_time":
            arr = np.where(never, np.float32(0), arr)
        write_cog(folder / f"{name}.tif", arr, result.transform, result.crs, NODATA[name])
        (folder / f"{name}.qml").write_text(qml(name))
    classes = np.where(never, 0, result.hazard_class).astype(np.uint8)
    cmap = {0: (0, 0, 0, 0), **{k: (*rgb, 255) for k, (rgb, _) in HAZARD_COLOURS.items()}}
    write_cog(folder / "hazard_class.tif", classes, result.transform, result.crs, 0, colormap=cmap, categorical=True)
    (folder / "hazard_class.qml").write_text(qml("hazard_class"))


def _ramp_items(ramp: tuple[tuple[float, str], ...], unit: str, scale: float = 1.0) -> str:
    return "\n".join(
        f'          <item alpha="255" value="{v:g}" label={quoteattr(f"{v / scale:g} {unit}")} color="{c}"/>'
        for v, c in ramp
    )


def qml(name: str) -> str:
    """The QGIS style of a result raster: blue depth, purple speed, FD2320 hazard, blue times."""
    if name == "hazard_class":
        entries = "\n".join(
            f'      <paletteEntry value="{k}" alpha="255" color="{_hex(rgb)}" label={quoteattr(label)}/>'
            for k, (rgb, label) in HAZARD_COLOURS.items()
        )
        renderer = (
            '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
            f"      <colorPalette>\n{entries}\n      </colorPalette>\n    </rasterrenderer>"
        )
    else:
        if name == "hazard":
            bounds = ((0.75, 1), (1.25, 2), (2.0, 3), (float("inf"), 4))
            items = "\n".join(
                f'          <item alpha="255" value="{"inf" if np.isinf(b) else f"{b:g}"}" '
                f'label={quoteattr(HAZARD_COLOURS[k][1])} color="{_hex(HAZARD_COLOURS[k][0])}"/>'
                for b, k in bounds
            )
            kind, lo, hi = "DISCRETE", 0.0, 3.0
        else:
            ramp, unit, scale = {
                "max_depth": (_DEPTH_RAMP, "m", 1.0),
                "max_speed": (_SPEED_RAMP, "m/s", 1.0),
                "arrival_time": (_TIME_RAMP, "min", 60.0),
                "duration": (_DURATION_RAMP, "min", 60.0),
            }[name]
            items, kind, lo, hi = _ramp_items(ramp, unit, scale), "INTERPOLATED", ramp[0][0], ramp[-1][0]
        renderer = (
            '    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
            f'classificationMin="{lo:g}" classificationMax="{hi:g}" nodataColor="">\n'
            "      <rastershader>\n"
            f'        <colorrampshader colorRampType="{kind}" classificationMode="1" clip="0">\n'
            f"{items}\n        </colorrampshader>\n      </rastershader>\n    </rasterrenderer>"
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology">\n'
        f"  <pipe>\n{renderer}\n  </pipe>\n  <blendMode>0</blendMode>\n</qgis>\n"
    )


def time_attrs(summary: dict[str, Any]) -> dict[str, Any]:
    """CF attributes of depth.nc's time axis: seconds since the scenario's start (``summary["start"]``)."""
    start = summary.get("start")
    attrs = {"standard_name": "time", "long_name": "time since the start of the run", "axis": "T"}
    if start:
        attrs["units"] = f"seconds since {str(start).replace('T', ' ')}"
        attrs["calendar"] = "proleptic_gregorian"
    else:  # a result loaded from before start times existed
        attrs["units"] = "s"
    return attrs


def add_roads(result: Any, roads: gpd.GeoDataFrame, scenario: Any) -> None:
    """Judge the twin's ``roads`` against the run's depths: ``result.roads`` and ``summary["roads"]``."""
    from twin.sims.flood.roads import cut_summary, road_cuts

    opts = scenario.roads
    result.roads = road_cuts(
        roads,
        result.max_depth,
        result.depth_frames,
        result.frame_times,
        result.transform,
        scenario.duration,
        thresholds=opts.thresholds,
        segment_m=opts.segment_length,
    )
    result.summary["roads"] = cut_summary(result.roads)
    if result.depth_frames is None:
        result.summary["roads"]["note"] = "no depth snapshots (output.snapshots = false): no cut times"


def resolve_facilities(facilities: Any, result: Any) -> gpd.GeoDataFrame:
    """Facilities as a GeoDataFrame in the result's CRS: a GeoDataFrame, a layer of the result's twin
    (by name), or a vector file (``file::layer``)."""
    from ingest.vector import read_vector, split_layer_path

    if isinstance(facilities, gpd.GeoDataFrame):
        return facilities.to_crs(result.crs) if facilities.crs is not None else facilities
    text = os.fspath(facilities)
    if split_layer_path(text)[0].exists():
        return read_vector(text, result.crs, name="facilities")
    tw = result.twin
    if tw is not None:
        layers = {
            **{k: getattr(tw, k) for k in ("buildings", "rivers", "lakes", "landuse", "spaces", "roads")},
            **tw.vectors,
        }
        if layers.get(text) is not None:
            return layers[text]
        known = sorted(k for k, v in layers.items() if v is not None)
        raise InputDataError(f"{text!r} is neither a file nor a layer of the twin (its layers: {known}).")
    raise InputDataError(
        f"{text!r} is not a file, and the result has no twin attached to look a layer up in; give a vector file "
        "of the facilities (points or polygons), or load the result with its twin."
    )
