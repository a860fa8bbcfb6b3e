"""The scene of a forecast cycle: where water is expected and how likely, over the lead times, and the
buildings, facilities and roads warned for, coloured by their probability of flooding.

Built on :func:`twin.scene.city.city_scene` and :func:`twin.scene.city.network_scene` and filled in
place (as a comparison's scene is), so that the page, its slider and its legends are the flood scene's:

* the time slider steps over the lead times (its last position: the longest lead, the water's largest
  extent since now). Each picture classes every cell by the deepest of the cycle's depth thresholds
  (``p_depth_gt_<d>m_<lead>.tif``) that it exceeds with at least the warning probability, shaded by that
  probability: from the warning probability, from 50 % (there the *median* member's depth is above the
  threshold: the median depth map in classes), from 90 %;
* buildings coloured by their probability of flooding within the longest lead (``buildings.gpkg``);
* roads and facilities warned for (``<layer>.gpkg`` of kind road or facility, probability at least the
  warning probability) as lines: roads along themselves, facilities by their outline (a point: a circle
  of one cell), coloured by the same probability classes;
* with a sewer network, the manholes (``manholes.gpkg``): those expected to overflow within the longest
  lead coloured by that probability, their disc sized by the median volume, the others small and grey.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from twin.errors import InputDataError
from twin.scene.city import FRAME_MAX_PIXELS, Scene, add_manholes, city_scene, network_scene, overflow_radius
from twin.scene.network import DRY_MANHOLE_RGBA, colours_of
from twin.scene.raster import ColourClass, block_reduce, classify, png_classes

__all__ = ["forecast_scene", "probability_classes", "exceedance_codes"]

# per depth threshold a hue, lighter to darker with the probability (yellow, orange, red-violet)
_THRESHOLD_RGBA = (
    ((255, 240, 150, 150), (250, 205, 60, 190), (215, 160, 0, 225)),
    ((255, 200, 140, 160), (245, 140, 50, 200), (205, 85, 10, 230)),
    ((240, 160, 200, 170), (210, 60, 120, 210), (130, 0, 80, 240)),
)
_PROBABILITY_RGBA = ((255, 214, 80, 255), (245, 130, 40, 255), (200, 20, 40, 255))
_DRY_GREY = (200, 200, 200, 255)
_BANDS = (0.5, 0.9)


def probability_classes(warn_probability: float) -> tuple[ColourClass, ...]:
    """Probability classes [0-1] of the warnings: from ``warn_probability``, from 50 %, from 90 %."""
    edges = [warn_probability] + [b for b in _BANDS if b > warn_probability] + [math.inf]
    kept = _PROBABILITY_RGBA[len(_PROBABILITY_RGBA) - (len(edges) - 1) :]
    return tuple(
        ColourClass(lo, hi, rgba, f"≥ {lo:.0%}" if math.isinf(hi) else f"{lo:.0%} – {hi:.0%}")
        for lo, hi, rgba in zip(edges[:-1], edges[1:], kept)
    )


def _exceedance_classes(thresholds: list[float], warn_probability: float) -> tuple[ColourClass, ...]:
    """One class per threshold and probability band, in rising severity (the order :func:`exceedance_codes` codes)."""
    classes = []
    bands = probability_classes(warn_probability)
    for i, d in enumerate(thresholds):
        hues = _THRESHOLD_RGBA[min(i, len(_THRESHOLD_RGBA) - 1)]
        for k, band in enumerate(bands):
            rgba = hues[len(hues) - len(bands) + k]
            note = " (median)" if band.lower == 0.5 else ""
            classes.append(
                ColourClass(float(len(classes) + 1), float(len(classes) + 2), rgba, f"> {d:g} m: P {band.label}{note}")
            )
    return tuple(classes)


def exceedance_codes(p: list[np.ndarray], warn_probability: float) -> np.ndarray:
    """Class codes (see :func:`_exceedance_classes`): the deepest threshold reached with at least
    ``warn_probability``, its band; 0 where none is."""
    bands = [b.lower for b in probability_classes(warn_probability)]
    code = np.zeros(p[0].shape, np.uint8)
    for i, pi in enumerate(p):  # deeper thresholds last: they overwrite
        for k, lo in enumerate(bands):
            code[np.nan_to_num(pi) >= lo - 1e-9] = 1 + i * len(bands) + k
    return code


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _outlines(gdf: gpd.GeoDataFrame, cell: float) -> gpd.GeoSeries:
    """Lines to draw features by: a line itself, a polygon's outline, a point's circle of one cell."""
    geoms = gdf.geometry
    point = geoms.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    polygon = geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    out = geoms.copy()
    out[point] = geoms[point].buffer(max(cell, 4.0)).boundary
    out[polygon] = geoms[polygon].boundary
    return out


def forecast_scene(twin, folder: str | os.PathLike) -> Scene:
    """The scene of the forecast cycle in ``folder`` (``cycles/<time>/``) on ``twin`` (the forecast's twin,
    its base scenario's edits applied).

    Raises
    ------
    InputDataError
        ``folder`` is not a forecast cycle, or its maps are not on ``twin``'s grid.
    """
    folder = Path(folder)
    try:
        record = json.loads((folder / "cycle.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"{folder} is not a forecast cycle (cycle.json: {exc}); pass a cycles/<time>/ folder."
        ) from None
    leads = [float(v) for v in record["lead_times_min"]]
    tags = [f"{v:g}min" for v in leads]
    thresholds = [float(d) for d in record["thresholds_m"]]
    warn_p = float(record.get("warn_probability", 0.1))
    median = np.stack([_read(folder / f"depth_median_{t}.tif") for t in tags])
    if median.shape[1:] != tuple(twin.shape):
        raise InputDataError(
            f"{folder}'s maps are {median.shape[1:]} cells, the twin's grid {twin.shape}; pass its twin."
        )
    buildings = None
    if (folder / "buildings.gpkg").is_file():
        buildings = gpd.read_file(folder / "buildings.gpkg")
        buildings["max_depth"] = buildings[f"depth_median_{tags[-1]}"]
    # the median depth through the flood scene's builder: its frame grid, buildings and relief
    result = SimpleNamespace(
        max_depth=median[-1], depth_frames=median, frame_times=np.array(leads) * 60, buildings=buildings
    )
    scene = city_scene(twin, result, max_frames=len(leads))
    data = scene.data
    classes = _exceedance_classes(thresholds, warn_p)
    pictures = []
    for t in tags:
        code = exceedance_codes([_read(folder / f"p_depth_gt_{d:g}m_{t}.tif") for d in thresholds], warn_p)
        pictures.append(code)
    data.images["depth"] = png_classes(pictures[-1], classes)
    data.frames = [png_classes(block_reduce(c, FRAME_MAX_PIXELS, "max")[0], classes) for c in pictures]
    data.depth_legend = [[list(c.rgba), c.label] for c in classes]

    bands = probability_classes(warn_p)
    last = f"p_flooded_{tags[-1]}"
    within = f"within {leads[-1]:g} min"
    if buildings is not None and data.buildings is not None:
        p = buildings[last].to_numpy(float)[data.buildings.rows]
        data.building_attrs["b_class"] = classify(p, bands)
        data.building_meta["colours"] = [list(_DRY_GREY)] + [list(c.rgba) for c in bands]
        data.building_meta["legend"] = [[list(_DRY_GREY), f"P < {warn_p:.0%}"]] + [
            [list(c.rgba), f"P {c.label} {within}"] for c in bands
        ]
        data.building_meta["exposure"] = False
        own = data.building_meta.get("names") or [""] * len(p)
        data.building_meta["names"] = [f"{n + ': ' if n else ''}P flooded {v:.0%} {within}" for n, v in zip(own, p)]

    warned = []
    for name, info in record.get("features", {}).items():
        if info.get("kind") not in ("road", "facility") or not (folder / f"{name}.gpkg").is_file():
            continue
        gdf = gpd.read_file(folder / f"{name}.gpkg")
        gdf = gdf[gdf[last].to_numpy(float) >= warn_p]
        if len(gdf):
            ids = gdf["id"].astype(str) if "id" in gdf else gdf.index.astype(str)
            cls = gdf["class"].astype(str) if "class" in gdf else ""
            warned.append(
                gpd.GeoDataFrame(
                    {"probability_pct": gdf[last].to_numpy(float) * 100, "label": name + " " + ids + " " + cls},
                    geometry=_outlines(gdf, abs(twin.transform.a)).values,
                    crs=gdf.crs,
                )
            )
    if warned:
        lines = gpd.GeoDataFrame(pd.concat(warned, ignore_index=True), geometry="geometry", crs=warned[0].crs)
        net = network_scene(
            twin, lines, "probability_pct", title=f"Warned {within}: probability", unit="%", name_column="label"
        ).data
        pct = [ColourClass(c.lower * 100, c.upper * 100, c.rgba, c.label) for c in bands]
        colours = colours_of(np.array([e["value"] for e in net.network]), tuple(pct))
        for entry, colour in zip(net.network, colours):
            entry["color"] = colour
        data.network = net.network
        data.network_title = f"Roads and facilities warned {within}: probability"
        data.network_legend = [[list(c.rgba), c.label] for c in pct]
    if (folder / "manholes.gpkg").is_file():
        _add_manhole_forecast(scene, gpd.read_file(folder / "manholes.gpkg"), twin.crs, tags[-1], within, bands)
    data.depth_title = "Depth exceeded: chance"
    data.max_label = f"Lead {tags[-1]} (the longest)"
    data.default_title = f"Forecast {record['cycle']}"
    data.subtitle = (
        f"{record['members']} members · leads {', '.join(tags)} · warning from P {warn_p:.0%} · " + data.subtitle
    )
    return scene


def _add_manhole_forecast(scene: Scene, nodes: gpd.GeoDataFrame, crs, tag: str, within: str, bands) -> None:
    """The cycle's manholes: coloured by their probability of overflowing within the longest lead (from the
    warning probability), sized by the median volume of the members overflowing; the rest small and grey."""
    p = nodes[f"p_overflow_{tag}"].to_numpy(float)
    volume = np.nan_to_num(nodes[f"volume_median_{tag}"].to_numpy(float))
    minutes = (
        nodes[f"time_median_{tag}"].to_numpy(float) / 60 if f"time_median_{tag}" in nodes else np.full(len(p), np.nan)
    )
    warn = p >= bands[0].lower - 1e-9
    colours = [
        next((c.rgba for c in reversed(bands) if v >= c.lower - 1e-9), DRY_MANHOLE_RGBA) if w else DRY_MANHOLE_RGBA
        for v, w in zip(p, warn)
    ]
    radii = [overflow_radius(v) if w else 1.5 for v, w in zip(volume, warn)]
    texts = [
        f"P overflow {v:.0%} {within}"
        + (f", median {m3:.3g} m3 onto the street" if w else "")
        + (f", from about {t:.0f} min" if w and np.isfinite(t) else "")
        for v, w, m3, t in zip(p, warn, volume, minutes)
    ]
    legend = [(c.rgba, f"Overflow P {c.label} {within} (disc area ~ volume)") for c in bands]
    add_manholes(
        scene, nodes, crs, colours, radii, texts, [*legend, (DRY_MANHOLE_RGBA, f"Overflow P < {bands[0].lower:.0%}")]
    )
