"""Scenes of a twin and its flood result: a pydeck ``Deck`` for notebooks, offline HTML pages.

:func:`city_scene` turns a :class:`twin.model.twin.Twin` (and optionally a flood result) into a
:class:`Scene`: extruded buildings coloured by the water depth they saw, IFC buildings
outlined, the flood depth and hazard as ground images with legends in metres, rivers and
lakes, shaded relief, and a time slider over the depth frames.

The HTML page (:meth:`Scene.to_html`) works with no network at all: it carries deck.gl from
the pydeck wheel (deflated), the buildings travel as a deflated binary payload (delta-coded
vertices quantised to 1e-7 degree, about 1 cm) and the rasters as palette PNGs, so a city
of 100,000 buildings on a 4-million-cell grid is a page of about 6 MB (pydeck's own
``to_html`` writes about 100 MB; see benchmarks/RESULTS.md). :attr:`Scene.deck` is a
regular pydeck ``Deck`` of the same layers for notebooks.
"""

from __future__ import annotations

import html as _html
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pydeck
import shapely
from pydeck.types import String
from pyproj import CRS, Transformer

from twin._grid_text import grid_text
from twin._io import atomic_file
from twin.errors import CRSError, InputDataError
from twin.scene.edits import EDIT_RGBA, edit_shapes
from twin.scene.page import render_page
from twin.scene.payload import b64, delta_encode, pack
from twin.scene.query import lonlat_fit, query_arrays, water_mask
from twin.scene.raster import (
    HAZARD_CLASSES,
    arrival_classes,
    block_reduce,
    classify,
    depth_classes,
    hillshade,
    png_classes,
    png_grey,
    speed_classes,
    stepped_classes,
)
from twin.scene.roads import CUT_RGBA, OPEN_RGBA, read_roads, road_records

__all__ = ["Scene", "add_drainage", "add_manholes", "city_scene", "image_data_uri", "network_scene", "overflow_radius"]

#: Degrees per unit of the quantised vertex offsets in the page payload (~1.1 cm of latitude).
QUANTUM_DEG = 1e-7
#: Longest side, in pixels, of each time frame image (block maximum); the maximum-depth
#: and hazard images keep the full grid. 48 full 2000 x 2000 frames would add tens of
#: megabytes to a page.
FRAME_MAX_PIXELS = 1024
#: Longest side, in pixels, of the shaded relief (from block-mean terrain): it is context
#: under the overlays, and at full resolution a 2 m DEM's noise alone costs ~1.5 MB of PNG.
RELIEF_MAX_PIXELS = 1024
#: Vertical exaggeration of the shaded relief: city terrain is so gentle that true-scale
#: shading varies by a few grey levels (4.5 on the sample city) and vanishes under overlays.
RELIEF_EXAGGERATION = 3.0

_WATER = (96, 158, 168, 255)  # teal-grey: permanent water, kept apart from the flood blues
_IFC_OUTLINE = (20, 210, 110)
_GIS_GREY = (205, 205, 205, 255)
_IFC_FILL = (196, 172, 236, 255)
_DRY_GREY = (222, 222, 218, 255)
# Building exposure: neutral greys, darker for deeper water against the walls, so that buildings
# never compete with the depth blues or the hazard colours; a wet building also gets a roof
# outline in one strong colour (reddish purple, Okabe-Ito) that reads on every layer.
_EXPOSURE_STEPS = (0.15, 0.3, 0.5, 1.0)
_EXPOSURE_RGBA = (
    (196, 192, 186, 255),
    (174, 168, 160, 255),
    (150, 143, 135, 255),
    (124, 117, 109, 255),
    (96, 90, 84, 255),
)
_EXPOSURE_OUTLINE = (204, 51, 153, 255)
_PITCH = 40.0
_NEVER = 0xFFFFFFFF  # arrival time (s) of buildings the water never reached
_FRAME_INTERVAL_MS = 450


@dataclass
class _Polygons:
    """Polygon features flattened to vertex arrays in WGS84 (rings closed, exteriors clockwise)."""

    lon: np.ndarray
    lat: np.ndarray
    parts: np.ndarray  # parts (polygons) per feature
    rings: np.ndarray  # rings per part, exterior first
    verts: np.ndarray  # vertices per ring
    rows: np.ndarray  # positions (0-based) of the features kept in the source frame


@dataclass
class _SceneData:
    """Everything a scene draws, in WGS84, ready for either renderer."""

    origin: tuple[float, float]
    quad: list[list[float]]  # grid corners: bottom-left, top-left, top-right, bottom-right
    terrain_quad: list[list[float]]  # corners of the (reduced, maybe padded) relief image
    extent: list[list[float]]  # [[west, south], [east, north]]
    subtitle: str
    default_title: str
    frame_quad: list[list[float]] | None = None  # corners of the (reduced) depth frames
    images: dict[str, bytes] = field(default_factory=dict)
    frames: list[bytes] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    frame_factor: int = 0  # grid cells per frame pixel along each axis (0: no frames)
    depth_legend: list = field(default_factory=list)
    depth_title: str = "Flood depth"  # what the depth layer shows (a comparison or forecast shows another quantity)
    max_label: str = "Maximum over the event"  # the slider's last position
    buildings: _Polygons | None = None
    building_attrs: dict[str, np.ndarray] = field(default_factory=dict)
    building_meta: dict[str, Any] = field(default_factory=dict)
    rivers: list[dict] = field(default_factory=list)  # path in lon/lat, width, name
    lakes: list[dict] = field(default_factory=list)  # rings in lon/lat, level, name
    network: list[dict] = field(default_factory=list)  # path in lon/lat, colour, name, value
    network_title: str = ""  # what the network's colours show, with the unit
    network_legend: list = field(default_factory=list)
    manholes: list[dict] = field(default_factory=list)  # lon, lat, radius (m), colour, name, text
    manholes_legend: list = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # layers drawn but off until toggled (the sewer pipes)
    basemap_url: str | None = None
    frame_indices: list[int] = field(default_factory=list)  # the result's frames the slider shows
    query: dict[str, np.ndarray] = field(default_factory=dict)  # grids a click reads (twin.scene.query)
    query_meta: dict[str, Any] = field(default_factory=dict)
    geo: dict[str, Any] = field(default_factory=dict)  # lon/lat -> twin CRS fit and grid affine
    crs_name: str = ""
    depth_min: float = 0.05
    scenario_name: str = ""
    legends: dict[str, list] = field(default_factory=dict)  # arrival, speed, roads, edits
    roads: list[dict] = field(default_factory=list)  # twin.scene.roads.road_records
    edits: list[dict] = field(default_factory=list)  # kind, lon/lat, label


class Scene:
    """A rendered view of a twin (and a flood result): notebook widget or offline page.

    Build one with :func:`city_scene`.

    Attributes
    ----------
    deck : pydeck.Deck
        The same layers as a regular pydeck ``Deck`` (built on first access), for
        notebooks and for further editing with pydeck. Buildings are plain JSON records
        there (about 1 kB each in pydeck's HTML), and pydeck's page links CDN stylesheets
        and scripts: for large cities and for offline use, display the scene itself
        (``_repr_html_``) or write it with :meth:`to_html`.
    """

    def __init__(self, data: _SceneData):
        self._data = data

    @property
    def data(self) -> _SceneData:
        """The scene's content (images, legends, buildings, frames, title), shared, not copied: a module
        that builds a scene on another (a comparison's diverging overlay) edits it before the page is made."""
        return self._data

    def __repr__(self) -> str:
        n = len(self._data.buildings.rows) if self._data.buildings is not None else 0
        return (
            f"<Scene {self._data.default_title!r}: {n} buildings, "
            f"layers {sorted(self._data.images)}, {len(self._data.frames)} frames>"
        )

    # -- offline page -------------------------------------------------------------------
    def html(self, *, title: str | None = None) -> str:
        """The standalone offline page as a string (see :meth:`to_html`)."""
        data = self._data
        arrays, meta = _payload(data)
        arrays.update(data.query)
        blobs = {"payload": b64(pack(arrays, meta))}
        for name, png in data.images.items():
            blobs[f"img-{name}"] = b64(png)
        for k, png in enumerate(data.frames):
            blobs[f"frame-{k}"] = b64(png)
        config = {
            "origin": list(data.origin),
            "quantum": QUANTUM_DEG,
            "bounds": data.quad,
            "terrain_bounds": data.terrain_quad,
            "frame_bounds": data.frame_quad or data.quad,
            "extent": data.extent,
            "images": list(data.images),
            "frames": data.frame_times,
            "frame_interval_ms": _FRAME_INTERVAL_MS,
            "depth_legend": data.depth_legend,
            "depth_title": data.depth_title,
            "max_label": data.max_label,
            "hazard_legend": [[list(c.rgba), c.label] for c in HAZARD_CLASSES],
            "water": list(_WATER),
            "ifc_outline": list(_IFC_OUTLINE),
            "pitch": _PITCH,
            "basemap": data.basemap_url,
            "subtitle": data.subtitle,
            "network_title": data.network_title,
            "network_legend": data.network_legend,
            "manholes_legend": data.manholes_legend,
            "hidden": data.hidden,
            "legends": data.legends,
            "query": data.query_meta,
            "geo": data.geo,
            "crs_name": data.crs_name,
            "scenario": data.scenario_name,
            "building_outline": list(_EXPOSURE_OUTLINE),
            "hazard_bounds": [c.upper if math.isfinite(c.upper) else 1e9 for c in HAZARD_CLASSES],
            "depth_min": data.depth_min,
            "debris_depth": _debris_depth(),  # the FD2320 debris factor's depth, for the hazard at a frame
            "roads_cut": list(CUT_RGBA),
            "roads_open": list(OPEN_RGBA),
            "edit_colour": list(EDIT_RGBA),
        }
        return render_page(config, blobs, title=title or data.default_title)

    def to_html(self, path: str | os.PathLike, *, title: str | None = None) -> Path:
        """Write the scene as one standalone HTML file that needs no network.

        Parameters
        ----------
        path : path-like
            Output file; written atomically (a temporary file in the same folder, then
            renamed), its folder created if needed.
        title : str, optional
            Page title and heading; defaults to a description of the scene.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = Path(path)
        page = self.html(title=title)
        with atomic_file(path) as tmp:
            tmp.write_text(page, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        """Inline offline view for Jupyter: the page in an ``<iframe srcdoc>``."""
        page = self.html()
        return (
            f'<iframe srcdoc="{_html.escape(page, quote=True)}" width="100%" height="620" '
            'style="border:none" sandbox="allow-scripts"></iframe>'
        )

    # -- notebook deck ------------------------------------------------------------------
    @cached_property
    def deck(self) -> pydeck.Deck:
        """The scene's layers as a pydeck ``Deck`` (see the class docstring)."""
        return _build_deck(self._data)


def image_data_uri(png: bytes) -> String:
    """A PNG as a ``data:image/png`` URI that pydeck passes to deck.gl as a string.

    pydeck 0.9 recognises inline images by the prefix ``"data/image"`` (sic) instead of
    ``"data:image"``, so a plain data URI given to a ``BitmapLayer`` is serialised as an
    expression (``"@@=data:image..."``) and the page draws nothing. A
    :class:`pydeck.types.String` is serialised verbatim.
    """
    return String("data:image/png;base64," + b64(png))


def city_scene(
    twin,
    result=None,
    *,
    depth_min: float = 0.05,
    basemap_url: str | None = None,
    max_frames: int = 48,
    roads=None,
    edits: list[dict] | None = None,
) -> Scene:
    """Build the scene of a twin and, optionally, a flood result.

    Parameters
    ----------
    twin : twin.model.twin.Twin
        Uses ``crs``, ``transform``, ``shape``, ``terrain``, ``buildings``, ``rivers`` and
        ``lakes``.
    result : flood result, optional
        Any object with ``max_depth`` and optionally ``hazard``, ``depth_frames`` with
        ``frame_times`` (s) and ``buildings`` (the twin's buildings plus ``max_depth`` (m)
        and ``arrival_time`` (s, NaN when never wet)).
    depth_min : float
        Depths below this (m) are drawn as dry, and buildings that saw less are "dry".
    basemap_url : str, optional
        Tile URL template (``{z}``, ``{x}``, ``{y}``) of a basemap under the scene. None
        (the default) keeps the page free of any external reference.
    max_frames : int
        At most this many depth frames (evenly spaced, the last one kept) go into the
        time slider.
    roads : GeoDataFrame or path-like, optional
        A flood result's roads (``roads.gpkg``, see :mod:`twin.scene.roads`), drawn cut or open
        at the slider's time; default ``result.roads`` when the result has them.
    edits : list of dict, optional
        The scenario's ``[[edit]]`` entries to draw; default ``result.scenario["edit"]``.

    Returns
    -------
    Scene

    Raises
    ------
    CRSError
        The twin has no CRS.
    InputDataError
        A result grid does not match the twin's grid, or an argument is out of range.
    """
    if not (depth_min > 0 and math.isfinite(depth_min)):
        raise InputDataError(
            f"depth_min must be a positive number of metres, got {depth_min!r}; use e.g. depth_min=0.05."
        )
    if max_frames < 1:
        raise InputDataError(f"max_frames must be at least 1, got {max_frames}.")
    if basemap_url is not None and not all(k in basemap_url for k in ("{z}", "{x}", "{y}")):
        raise InputDataError(
            f"basemap_url {basemap_url!r} is not a tile URL template; it needs "
            "{z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
    if twin.crs is None:
        raise CRSError(
            "the twin has no CRS, so the scene cannot be placed on the globe; "
            "build the twin with a projected CRS (e.g. EPSG:4547)."
        )
    crs = CRS.from_user_input(twin.crs)
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    terrain = np.asarray(twin.terrain)
    ny, nx = terrain.shape
    transform = twin.transform

    def quad(rows: int, cols: int) -> list[list[float]]:
        """Lon/lat corners of an image covering ``rows`` x ``cols`` cells from the grid origin."""
        corners = [transform @ (0, rows), transform @ (0, 0), transform @ (cols, 0), transform @ (cols, rows)]
        lon, lat = to_wgs84.transform(*zip(*corners))
        return [[float(a), float(b)] for a, b in zip(lon, lat)]

    grid_quad = quad(ny, nx)
    lons, lats = [c[0] for c in grid_quad], [c[1] for c in grid_quad]
    extent = [[min(lons), min(lats)], [max(lons), max(lats)]]
    origin = (round((extent[0][0] + extent[1][0]) / 2, 6), round((extent[0][1] + extent[1][1]) / 2, 6))

    relief, factor = block_reduce(terrain, RELIEF_MAX_PIXELS, "mean")
    data = _SceneData(
        origin=origin,
        quad=grid_quad,
        terrain_quad=quad(relief.shape[0] * factor, relief.shape[1] * factor),
        extent=extent,
        subtitle="",
        default_title="Flood scene" if result is not None else "City scene",
        basemap_url=basemap_url,
        depth_min=depth_min,
    )
    data.images["terrain"] = png_grey(
        hillshade(relief, abs(transform.a) * factor, abs(transform.e) * factor, exaggeration=RELIEF_EXAGGERATION)
    )
    data.geo = lonlat_fit(transform, (ny, nx), crs)
    if result is not None:
        water = water_mask(twin)
        _add_flood(data, result, (ny, nx), depth_min, max_frames, water)
        data.query, data.query_meta = query_arrays(result, terrain, water, data.frame_indices)
        if data.frame_factor:
            rows, cols = (-(-n // data.frame_factor) * data.frame_factor for n in (ny, nx))
            data.frame_quad = quad(rows, cols)
        data.scenario_name = str((getattr(result, "scenario", None) or {}).get("name") or "")

    buildings = _buildings_frame(twin, result)
    if buildings is not None and len(buildings):
        _add_buildings(data, buildings, crs, depth_min)
        if data.building_meta.get("exposure") and data.frame_indices:
            _add_building_frames(data, buildings, twin, result, depth_min)
    if roads is None and result is not None and hasattr(getattr(result, "roads", None), "columns"):
        roads = result.roads  # a result that carries its roads as a frame
    if roads is not None:
        _add_roads(data, read_roads(roads), crs)
    if edits is None and result is not None:
        edits = (getattr(result, "scenario", None) or {}).get("edit")
    if edits:
        _add_edits(data, edits, crs)
    _add_water(data, getattr(twin, "rivers", None), getattr(twin, "lakes", None), crs)
    if getattr(result, "drainage", None) is not None:
        _add_drainage(data, result.drainage, crs)

    n_buildings = len(data.buildings.rows) if data.buildings is not None else 0
    cell = math.hypot(transform.a, transform.d)
    epsg = crs.to_epsg()
    crs_name = f"EPSG:{epsg}" if epsg else crs.name
    data.subtitle = f"{crs_name} · {grid_text(nx, ny, cell)} · {n_buildings:,} buildings"
    data.crs_name = crs_name
    return Scene(data)


def network_scene(
    twin, lines, column: str, *, title: str, unit: str, whole: bool = False, name_column: str | None = None
) -> Scene:
    """The twin's scene (relief, buildings, rivers, lakes) with a line network coloured by a column.

    For a river result, its links by ``peak_discharge_m3s``; for a terrain result, its streams by
    Strahler ``order``.

    Parameters
    ----------
    twin : twin.model.twin.Twin
    lines : GeoDataFrame
        Line features (in any CRS; the twin's when the frame has none).
    column : str
        The numeric column the colours show.
    title : str
        What the colours show, for the legend and the tooltips (e.g. "Peak discharge").
    unit : str
        The column's unit (e.g. "m3/s"); with ``whole``, the word before each class number.
    whole : bool
        Whole-number values (one class per number, e.g. stream order).
    name_column : str, optional
        Column naming each line in the tooltip (default: "link <link_id>" when there is a ``link_id``).

    Returns
    -------
    Scene

    Raises
    ------
    InputDataError
        ``column`` is not a column of ``lines``.
    """
    from twin.scene.network import colours_of, network_classes

    if column not in lines.columns:
        raise InputDataError(
            f"the lines have no column {column!r} to colour by; they have "
            f"{[c for c in lines.columns if c != 'geometry']}."
        )
    scene = city_scene(twin)
    data = scene._data
    values = lines[column].to_numpy(dtype=np.float64)
    classes = network_classes(values, unit, whole=whole)
    colours = colours_of(values, classes)
    if name_column is None and "link_id" in lines.columns:
        names = [f"link {i}" for i in _text(lines["link_id"].to_numpy())]
    else:
        names = _text(_column(lines, name_column, None)) if name_column else [""] * len(lines)
    texts = [
        "no value" if not math.isfinite(v) else f"{unit} {v:.0f}" if whole else f"{title.lower()} {v:.3g} {unit}"
        for v in values
    ]
    _add_lines(data, lines, CRS.from_user_input(twin.crs), values, colours, names, texts)
    data.network_title = f"{title} ({unit})" if not whole else title
    data.network_legend = [[list(c.rgba), c.label] for c in classes]
    data.default_title = title
    return scene


# ---------------------------------------------------------------------------------------
# building the scene data
# ---------------------------------------------------------------------------------------
def _add_lines(data: _SceneData, lines, crs: CRS, values, colours, names, texts) -> None:
    """Append ``lines`` (one colour, name and tooltip text per row) to the scene's line network."""
    to_wgs84 = _to_wgs84(lines, crs)
    for row, line in _parts(lines, "LineString"):
        lon, lat = _lonlat(line, to_wgs84)
        data.network.append(
            {
                "lon": lon,
                "lat": lat,
                "color": colours[row],
                "name": names[row] or "line",
                "value": float(values[row]),
                "text": texts[row],
            }
        )


def add_drainage(scene: Scene, drainage, crs, *, newly_overflowing=None, no_longer_overflowing=()) -> None:
    """Add a sewer-coupled run's pipes and manholes to ``scene`` (page and deck), as a flood scene does.

    Parameters
    ----------
    scene : Scene
        Filled in place.
    drainage : twin.sims.flood.drainage.DrainageResult
        Its ``conduits`` and ``nodes``.
    crs
        The twin's CRS (for layers without one).
    newly_overflowing, no_longer_overflowing : collections of str, optional
        Manhole names (a comparison's): given, the manholes overflowing are told apart by whether they
        overflow newly (highlighted) or did already, and those no longer overflowing are marked.
    """
    _add_drainage(scene.data, drainage, CRS.from_user_input(crs), newly_overflowing, set(no_longer_overflowing))


def _add_drainage(data: _SceneData, drainage, crs: CRS, newly=None, no_longer: frozenset | set = frozenset()) -> None:
    """A sewer-coupled run's pipes by capacity ratio and its manholes, the overflowing ones highlighted
    and sized by the volume they put on the street (``newly``: a comparison's manholes newly overflowing,
    in their own highlight; ``no_longer``: those that overflowed in the other run only)."""
    from twin.scene.network import (
        DRY_MANHOLE_RGBA,
        NEWLY_OVERFLOWING_RGBA,
        NO_LONGER_OVERFLOWING_RGBA,
        OVERFLOW_RGBA,
        PIPE_CLASSES,
        colours_of,
    )

    pipes = drainage.conduits
    ratio = pipes["capacity_ratio"].to_numpy(dtype=np.float64)
    texts = [
        f"peak flow {q:.3g} m3/s, {r:.2f} of full-bore capacity" + (" (surcharged)" if r > 1 else "")
        for q, r in zip(pipes["peak_flow_m3s"].to_numpy(dtype=np.float64), ratio)
    ]
    names = [f"pipe {n}" for n in _text(pipes["name"].to_numpy())]
    _add_lines(data, pipes, crs, ratio, colours_of(ratio, PIPE_CLASSES), names, texts)
    data.network_title = "Sewer pipes: peak flow / capacity"
    data.network_legend = [[list(c.rgba), c.label] for c in PIPE_CLASSES]
    data.hidden.append("network")  # the pipes are there to look into, not what emergency staff see first
    nodes = drainage.nodes
    volume = nodes["overflow_volume_m3"].to_numpy(dtype=np.float64)
    newly = None if newly is None else set(newly)
    colours, radii, texts = [], [], []
    for row in range(len(nodes)):
        name = str(nodes["name"].iloc[row])
        over = volume[row] > 0
        colour, text = (
            (OVERFLOW_RGBA, f"overflowed {volume[row]:.3g} m3 onto the street")
            if over
            else (
                DRY_MANHOLE_RGBA,
                "no overflow",
            )
        )
        if over and newly is not None:
            colour, text = (NEWLY_OVERFLOWING_RGBA, text + " (newly)") if name in newly else (colour, text)
        elif name in no_longer:
            colour, text = NO_LONGER_OVERFLOWING_RGBA, "no overflow (overflowed in the other run)"
        colours.append(colour)
        radii.append(overflow_radius(volume[row]) if over else 1.5)
        texts.append(text)
    _add_manholes(data, nodes, crs, colours, radii, texts)
    if newly is None:
        data.manholes_legend = [
            [list(OVERFLOW_RGBA), "Overflowing (disc area ~ volume, up to 100 m3)"],
            [list(DRY_MANHOLE_RGBA), "No overflow"],
        ]
    else:
        data.manholes_legend = [
            [list(NEWLY_OVERFLOWING_RGBA), "Newly overflowing (disc area ~ volume)"],
            [list(OVERFLOW_RGBA), "Overflowing in both runs"],
            [list(NO_LONGER_OVERFLOWING_RGBA), "No longer overflowing"],
            [list(DRY_MANHOLE_RGBA), "No overflow"],
        ]


def overflow_radius(volume_m3: float) -> float:
    """A manhole's disc radius [m] for the volume it puts on the street: its area grows with the volume
    (2 m for 1 m3, 20 m for 100 m3 and more), at least 2 m so that a small overflow still shows, capped
    so that one manhole does not hide a district."""
    return float(min(20.0, max(2.0, 2.0 * math.sqrt(max(volume_m3, 0.0)))))


def add_manholes(scene: Scene, nodes, crs, colours, radii, texts, legend: list) -> None:
    """Draw the points of ``nodes`` (a GeoDataFrame with ``name``) as the scene's manholes: per row a
    colour (RGBA), a radius [m] and a tooltip text; ``legend`` as ``[[rgba, label], ...]``."""
    _add_manholes(scene.data, nodes, CRS.from_user_input(crs), colours, radii, texts)
    scene.data.manholes_legend = [[list(rgba), label] for rgba, label in legend]


def _add_manholes(data: _SceneData, nodes, crs: CRS, colours, radii, texts) -> None:
    to_wgs84 = _to_wgs84(nodes, crs)
    for row, point in _parts(nodes, "Point"):
        lon, lat = _lonlat(point, to_wgs84)
        data.manholes.append(
            {
                "lon": lon,
                "lat": lat,
                "radius": float(radii[row]),
                "color": list(colours[row]),
                "name": f"manhole {nodes['name'].iloc[row]}",
                "text": texts[row],
            }
        )


def _grid(result, name: str, shape: tuple[int, int]) -> np.ndarray | None:
    value = getattr(result, name, None)
    if value is None:
        return None
    # an array-like (a loaded result's frames, read from its file when indexed) is kept as it is: the
    # scene reads the few frames it draws
    array = value if hasattr(value, "shape") and hasattr(value, "__getitem__") else np.asarray(value)
    if array.shape[-2:] != shape:
        raise InputDataError(
            f"result.{name} has shape {array.shape}, but the twin's grid is "
            f"{shape}; pass the result computed on this twin."
        )
    return array


def _debris_depth() -> float:
    """The depth above which the run's FD2320 hazard rating adds the debris factor (kernels.flood)."""
    from kernels.flood import DEBRIS_DEPTH  # here: the scene module loads without Numba

    return float(DEBRIS_DEPTH)


def _add_flood(data: _SceneData, result, shape, depth_min: float, max_frames: int, water: np.ndarray) -> None:
    """Depth, hazard, arrival and speed images (permanent water left to the river and lake layers)
    and the depth frames of the slider."""
    depth = _grid(result, "max_depth", shape)
    if depth is None:
        raise InputDataError(
            "the result has no max_depth grid; pass a flood result (twin.run(...) of a flood scenario)."
        )
    classes = depth_classes(depth_min)
    data.depth_legend = [[list(c.rgba), c.label] for c in classes]
    data.images["depth"] = png_classes(classify(depth, classes, mask=water), classes)
    dry = ~(np.asarray(depth, dtype=np.float64) >= depth_min) | water
    hazard = _grid(result, "hazard", shape)
    if hazard is not None:
        data.images["hazard"] = png_classes(classify(hazard, HAZARD_CLASSES, mask=dry), HAZARD_CLASSES)
    for name, scale in (("arrival_time", arrival_classes()), ("max_speed", speed_classes())):
        values = _grid(result, name, shape)
        if values is not None:
            key = name.split("_")[0] if name == "arrival_time" else "speed"
            data.images[key] = png_classes(classify(values, scale, mask=dry), scale)
            data.legends[key] = [[list(c.rgba), c.label] for c in scale]
    frames = getattr(result, "depth_frames", None)
    if frames is None:
        return
    frames = _grid(result, "depth_frames", shape)
    times = np.asarray(getattr(result, "frame_times", np.arange(len(frames))), dtype=np.float64)
    if frames.ndim != 3 or len(times) != len(frames):
        raise InputDataError(
            f"result.depth_frames has shape {frames.shape} and frame_times "
            f"{len(times)} entries; they must be (nt, ny, nx) and (nt,)."
        )
    if len(frames) == 0:
        return
    pick = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int))
    small_water = block_reduce(water.astype(np.float32), FRAME_MAX_PIXELS, "mean")[0] > 0.5
    for k in pick:
        small, data.frame_factor = block_reduce(frames[k], FRAME_MAX_PIXELS, "max")
        data.frames.append(png_classes(classify(small, classes, mask=small_water), classes))
        data.frame_times.append(float(times[k]))
        data.frame_indices.append(int(k))


def _buildings_frame(twin, result):
    exposed = getattr(result, "buildings", None) if result is not None else None
    if exposed is not None and len(exposed) and "max_depth" in exposed.columns:
        return exposed
    return getattr(twin, "buildings", None)


def _flatten_polygons(geoms: np.ndarray, to_wgs84: Transformer) -> _Polygons:
    """Flatten polygonal geometries; non-polygonal or empty ones are left out."""
    type_ids = shapely.get_type_id(geoms)
    polygonal = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
    keep = np.flatnonzero(np.isin(type_ids, polygonal) & ~shapely.is_empty(geoms))
    oriented = shapely.orient_polygons(geoms[keep], exterior_cw=True)
    parts, part_of = shapely.get_parts(oriented, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
    return _Polygons(
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        parts=np.bincount(part_of, minlength=len(keep)),
        rings=np.bincount(ring_of, minlength=len(parts)),
        verts=np.bincount(vertex_of, minlength=len(rings)),
        rows=keep,
    )


def _column(frame, name: str, default) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy()
    return np.full(len(frame), default, dtype=object)


def _text(values: np.ndarray) -> list[str]:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        else:
            out.append(str(v))
    return out


def _add_buildings(data: _SceneData, frame, crs: CRS, depth_min: float) -> None:
    polygons = _flatten_polygons(np.asarray(frame.geometry.values), _to_wgs84(frame, crs))
    if len(polygons.rows) == 0:
        return
    rows = polygons.rows
    sub = frame.iloc[rows]

    def numbers(name: str) -> np.ndarray:
        if name not in sub.columns:
            return np.zeros(len(sub))
        return np.nan_to_num(sub[name].to_numpy(dtype=np.float64), nan=0.0)

    height = np.clip(numbers("height"), 0.0, 6553.0)
    base = numbers("base")
    source = (_column(sub, "source", "gis").astype(str) == "ifc").astype(np.uint8)
    ids = _text(sub["id"].to_numpy()) if "id" in sub.columns else [str(i) for i in sub.index]
    attrs = {
        "b_height": np.rint(height * 10).astype(np.uint16),
        "b_base": np.rint(base * 100).astype(np.int32),
        "b_source": source,
    }
    meta: dict[str, Any] = {"n": len(rows), "ids": ids}
    for column, key in (("name", "names"), ("file", "files")):
        if column in sub.columns:
            texts = _text(sub[column].to_numpy())
            if any(texts):
                meta[key] = texts

    exposure = "max_depth" in sub.columns
    if exposure:
        depth = sub["max_depth"].to_numpy(dtype=np.float64)
        arrival = (
            sub["arrival_time"].to_numpy(dtype=np.float64)
            if "arrival_time" in sub.columns
            else np.full(len(sub), np.nan)
        )
        classes = stepped_classes(depth_min, _EXPOSURE_STEPS, _EXPOSURE_RGBA)
        wet = classify(depth, classes)  # 0 dry (or unknown), k = class k
        attrs["b_class"] = wet
        attrs["b_depth"] = np.where(np.isfinite(depth), np.rint(np.clip(depth, 0, 655.0) * 100), 65535).astype(
            np.uint16
        )
        attrs["b_arrival"] = np.where(np.isfinite(arrival), np.rint(np.clip(arrival, 0, _NEVER - 1)), _NEVER).astype(
            np.uint32
        )
        colours = [list(_DRY_GREY)] + [list(c.rgba) for c in classes]
        legend = [[list(_DRY_GREY), f"Dry (< {depth_min:g} m)"]]
        legend += [[list(c.rgba), c.label, "outlined", list(_EXPOSURE_OUTLINE)] for c in classes]
    else:
        attrs["b_class"] = source.copy()
        colours = [list(_GIS_GREY), list(_IFC_FILL)]
        legend = [[list(_GIS_GREY), "GIS footprint"], [list(_IFC_FILL), "IFC model"]]
    if source.any():
        legend.append([list(_IFC_OUTLINE), "IFC model (outline)", "outline"])
    meta.update(exposure=exposure, colours=colours, legend=legend)

    data.buildings = polygons
    data.building_attrs = attrs
    data.building_meta = meta


def _add_building_frames(data: _SceneData, buildings, twin, result, depth_min: float) -> None:
    """Each building's exposure class at each slider frame (``b_frame_class``, frame after frame), by
    the same rule as its maximum (the water against its walls above its base)."""
    from twin.sims.flood.exposure import building_exposure

    # a building dry at the maximum is dry at every frame: only the wet ones are measured again
    # (one exposure per frame costs about 0.03 ms per building)
    wet = np.flatnonzero(data.building_attrs["b_class"] > 0)
    sub = buildings.iloc[data.buildings.rows[wet]]
    classes = stepped_classes(depth_min, _EXPOSURE_STEPS, _EXPOSURE_RGBA)
    nowhere = np.full(twin.shape, np.nan)
    per_frame = np.zeros((len(data.frame_indices), len(data.buildings.rows)), dtype=np.uint8)
    for n, k in enumerate(data.frame_indices):
        if not len(wet):
            break
        frame = np.asarray(result.depth_frames[k], dtype=np.float64)
        seen = building_exposure(
            sub, twin.transform, twin.shape, frame, nowhere, ground=np.asarray(twin.terrain), flooded_depth=depth_min
        )
        per_frame[n, wet] = classify(seen["max_depth"].to_numpy(dtype=np.float64), classes)
    data.building_attrs["b_frame_class"] = per_frame.ravel()


def _add_roads(data: _SceneData, roads, crs: CRS) -> None:
    to_wgs84 = _to_wgs84(roads, crs)
    data.roads = road_records(roads, lambda geom: _lonlat(geom, to_wgs84))
    data.legends["roads"] = [[list(CUT_RGBA), "Cut (deeper than its threshold)"], [list(OPEN_RGBA), "Open"]]


def _add_edits(data: _SceneData, edits: list[dict], crs: CRS) -> None:
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    for shape in edit_shapes(edits):
        xy = np.asarray(shape["xy"], dtype=np.float64)
        lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
        data.edits.append(
            {"kind": shape["kind"], "lon": np.asarray(lon), "lat": np.asarray(lat), "label": shape["label"]}
        )
    if data.edits:
        data.legends["edits"] = [[list(EDIT_RGBA), "Planners' edits (hover for each)", "outline"]]


def _to_wgs84(frame, crs: CRS) -> Transformer:
    """Transformer from a layer's CRS (the twin's when the layer has none) to lon/lat."""
    source = CRS.from_user_input(frame.crs) if getattr(frame, "crs", None) is not None else crs
    return Transformer.from_crs(source, "EPSG:4326", always_xy=True)


def _parts(frame, geom_type: str):
    """(row, single-part geometry) of every part of type ``geom_type`` in a layer."""
    for row, geom in enumerate(np.asarray(frame.geometry.values)):
        if geom is None or geom.is_empty:
            continue
        for part in shapely.get_parts(geom):
            if part.geom_type == geom_type:
                yield row, part


def _lonlat(geom, to_wgs84: Transformer) -> tuple[np.ndarray, np.ndarray]:
    xy = shapely.get_coordinates(geom)
    lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon), np.asarray(lat)


def _number(value, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _add_water(data: _SceneData, rivers, lakes, crs: CRS) -> None:
    if rivers is not None and len(rivers):
        to_wgs84 = _to_wgs84(rivers, crs)
        widths = _column(rivers, "width", None)
        names = _text(_column(rivers, "name", None))
        for row, line in _parts(rivers, "LineString"):
            lon, lat = _lonlat(line, to_wgs84)
            # A river without a width still shows, as a 5 m line.
            data.rivers.append({"lon": lon, "lat": lat, "width": _number(widths[row], 5.0), "name": names[row]})
    if lakes is not None and len(lakes):
        to_wgs84 = _to_wgs84(lakes, crs)
        levels = _column(lakes, "level", None)
        names = _text(_column(lakes, "name", None))
        for row, polygon in _parts(lakes, "Polygon"):
            rings = [_lonlat(ring, to_wgs84) for ring in shapely.get_rings(polygon)]
            data.lakes.append({"rings": rings, "level": _number(levels[row], math.nan), "name": names[row]})


# ---------------------------------------------------------------------------------------
# page payload
# ---------------------------------------------------------------------------------------
def _quantise(lon: np.ndarray, lat: np.ndarray, origin) -> tuple[np.ndarray, np.ndarray]:
    qx = np.rint((np.asarray(lon) - origin[0]) / QUANTUM_DEG).astype(np.int64)
    qy = np.rint((np.asarray(lat) - origin[1]) / QUANTUM_DEG).astype(np.int64)
    return qx, qy


def _smallest_uint(counts: np.ndarray) -> np.ndarray:
    top = int(counts.max()) if counts.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return counts.astype(dtype)
    raise OverflowError("count too large for the page payload")


def _finite_or_none(value: float):
    return value if math.isfinite(value) else None


def _payload(data: _SceneData) -> tuple[dict[str, np.ndarray], dict]:
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    polygons = data.buildings
    if polygons is not None:
        qx, qy = _quantise(polygons.lon, polygons.lat, data.origin)
        arrays.update(
            b_dx=delta_encode(qx),
            b_dy=delta_encode(qy),
            b_parts=_smallest_uint(polygons.parts),
            b_rings=_smallest_uint(polygons.rings),
            b_verts=_smallest_uint(polygons.verts),
        )
        arrays.update(data.building_attrs)
        meta["buildings"] = data.building_meta
    meta["rivers"] = []
    for river in data.rivers:
        qx, qy = _quantise(river["lon"], river["lat"], data.origin)
        meta["rivers"].append(
            {"path": np.column_stack([qx, qy]).tolist(), "width": river["width"], "name": river["name"]}
        )
    meta["lakes"] = []
    for lake in data.lakes:
        rings = [np.column_stack(_quantise(lon, lat, data.origin)).tolist() for lon, lat in lake["rings"]]
        meta["lakes"].append({"rings": rings, "level": _finite_or_none(lake["level"]), "name": lake["name"]})
    meta["network"] = []
    for line in data.network:
        qx, qy = _quantise(line["lon"], line["lat"], data.origin)
        meta["network"].append(
            {
                "path": np.column_stack([qx, qy]).tolist(),
                "color": line["color"],
                "name": line["name"],
                "value": _finite_or_none(line["value"]),
                "text": line["text"],
            }
        )
    meta["roads"] = []
    for road in data.roads:
        qx, qy = _quantise(road["lon"], road["lat"], data.origin)
        fields = {k: v for k, v in road.items() if k not in ("lon", "lat")}
        meta["roads"].append({"path": np.column_stack([qx, qy]).tolist(), **fields})
    meta["edits"] = []
    for edit in data.edits:
        qx, qy = _quantise(edit["lon"], edit["lat"], data.origin)
        meta["edits"].append({"kind": edit["kind"], "path": np.column_stack([qx, qy]).tolist(), "label": edit["label"]})
    meta["manholes"] = []
    for node in data.manholes:
        qx, qy = _quantise(node["lon"], node["lat"], data.origin)
        meta["manholes"].append(
            {
                "position": [int(qx[0]), int(qy[0])],
                "radius": node["radius"],
                "color": node["color"],
                "name": node["name"],
                "text": node["text"],
            }
        )
    return arrays, meta


# ---------------------------------------------------------------------------------------
# pydeck deck for notebooks
# ---------------------------------------------------------------------------------------
def _view_state(data: _SceneData, width: int = 900, height: int = 560) -> pydeck.ViewState:
    (west, south), (east, north) = data.extent

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zoom_x = math.log2(width * 360.0 / (512.0 * max(east - west, 1e-9)))
    zoom_y = math.log2(height * 2 * math.pi / (512.0 * max(merc(north) - merc(south), 1e-12)))
    return pydeck.ViewState(
        longitude=(west + east) / 2,
        latitude=(south + north) / 2,
        zoom=min(zoom_x, zoom_y) - 0.2,
        pitch=_PITCH,
        bearing=0,
    )


def _tooltip(title: str, *lines: str) -> str:
    """A deck record's tooltip: its title in bold, then its non-empty lines, HTML-escaped."""
    return "<br/>".join([f"<b>{_html.escape(str(title))}</b>"] + [_html.escape(t) for t in lines if t])


def _building_records(data: _SceneData) -> tuple[list[dict], list[dict]]:
    polygons, attrs, meta = data.buildings, data.building_attrs, data.building_meta
    n = meta["n"]
    lon = np.round(polygons.lon, 7).tolist()
    lat = np.round(polygons.lat, 7).tolist()
    parts, rings, verts = (a.tolist() for a in (polygons.parts, polygons.rings, polygons.verts))
    heights = (attrs["b_height"] / 10.0).round(1).tolist()
    bases = (attrs["b_base"] / 100.0).round(2).tolist()
    ifc = attrs["b_source"].astype(bool).tolist()
    classes = attrs["b_class"].tolist()
    files = meta.get("files") or [""] * n
    names = meta.get("names") or [""] * n
    if meta["exposure"]:
        depth = attrs["b_depth"]
        depth_text = np.where(depth == 65535, "n/a", np.char.mod("%.2f", depth / 100.0)).tolist()
        arrival = attrs["b_arrival"]
        arrival_text = np.where(arrival != _NEVER, np.char.mod("%.0f", arrival / 60.0), "never").tolist()
    colours = meta["colours"]
    records, ifc_roofs = [], []
    ring = vertex = part = 0
    for b in range(n):
        record = {
            "id": meta["ids"][b],
            "height": heights[b],
            "base": bases[b],
            "source": "ifc" if ifc[b] else "gis",
            "file": files[b],
            "name": names[b],
            "color": colours[classes[b]],
        }
        lines = [f"height {heights[b]} m, base {bases[b]} m", f"source {record['source']} {files[b]}".rstrip()]
        if meta["exposure"]:
            record["max_depth"] = depth_text[b]
            record["arrival_min"] = arrival_text[b]
            arrives = "never" if arrival_text[b] == "never" else f"after {arrival_text[b]} min"
            lines += [f"max depth {depth_text[b]} m", f"water arrives {arrives}"]
        record["tooltip"] = _tooltip(record["id"], names[b], *lines)
        # Multipolygon buildings become one record per part, sharing the attributes.
        for _ in range(parts[b]):
            part_rings = []
            for _ in range(rings[part]):
                end = vertex + verts[ring]
                part_rings.append([[x, y] for x, y in zip(lon[vertex:end], lat[vertex:end])])
                vertex = end
                ring += 1
            part += 1
            records.append({**record, "polygon": part_rings})
            if ifc[b]:
                ifc_roofs.append({"path": [[x, y, heights[b] + 0.2] for x, y in part_rings[0]]})
    return records, ifc_roofs


def _build_deck(data: _SceneData) -> pydeck.Deck:
    layers = []
    for name in ("terrain", "depth", "hazard"):
        if name in data.images:
            layers.append(
                pydeck.Layer(
                    "BitmapLayer",
                    data=None,
                    id=name,
                    image=image_data_uri(data.images[name]),
                    bounds=data.quad,
                    visible=name != "hazard",
                )
            )
            if name == "terrain" and data.lakes:
                layers.append(
                    pydeck.Layer(
                        "PolygonLayer",
                        id="lakes",
                        get_polygon="polygon",
                        get_fill_color=list(_WATER),
                        stroked=False,
                        pickable=True,
                        data=[
                            {
                                "polygon": [
                                    np.column_stack([np.round(lo, 7), np.round(la, 7)]).tolist()
                                    for lo, la in lake["rings"]
                                ],
                                "name": lake["name"] or "lake",
                                "level": _finite_or_none(lake["level"]),
                                "tooltip": _tooltip(
                                    lake["name"] or "lake",
                                    ""
                                    if _finite_or_none(lake["level"]) is None
                                    else f"level {float(lake['level']):.2f} m",
                                ),
                            }
                            for lake in data.lakes
                        ],
                    )
                )
            if name == "terrain" and data.rivers:
                layers.append(
                    pydeck.Layer(
                        "PathLayer",
                        id="rivers",
                        get_path="path",
                        get_width="width",
                        width_units=String("meters"),
                        width_min_pixels=1.5,
                        get_color=list(_WATER),
                        pickable=True,
                        data=[
                            {
                                "path": np.column_stack([np.round(r["lon"], 7), np.round(r["lat"], 7)]).tolist(),
                                "width": r["width"],
                                "name": r["name"] or "river",
                                "tooltip": _tooltip(r["name"] or "river"),
                            }
                            for r in data.rivers
                        ],
                    )
                )
    if data.network:
        layers.append(
            pydeck.Layer(
                "PathLayer",
                id="network",
                visible="network" not in data.hidden,
                get_path="path",
                get_color="color",
                get_width=4,
                width_units=String("pixels"),
                pickable=True,
                data=[
                    {
                        "path": np.column_stack([np.round(n["lon"], 7), np.round(n["lat"], 7)]).tolist(),
                        "color": n["color"],
                        "name": n["name"],
                        "text": n["text"],
                        "tooltip": _tooltip(n["name"], n["text"]),
                    }
                    for n in data.network
                ],
            )
        )
    if data.manholes:
        layers.append(
            pydeck.Layer(
                "ScatterplotLayer",
                id="manholes",
                get_position="position",
                get_radius="radius",
                radius_units=String("meters"),
                radius_min_pixels=2,
                get_fill_color="color",
                pickable=True,
                data=[
                    {
                        "position": [round(float(m["lon"][0]), 7), round(float(m["lat"][0]), 7)],
                        "radius": m["radius"],
                        "color": m["color"],
                        "name": m["name"],
                        "text": m["text"],
                        "tooltip": _tooltip(m["name"], m["text"]),
                    }
                    for m in data.manholes
                ],
            )
        )
    if data.buildings is not None:
        records, ifc_roofs = _building_records(data)
        layers.append(
            pydeck.Layer(
                "PolygonLayer",
                data=records,
                id="buildings",
                get_polygon="polygon",
                get_elevation="height",
                get_fill_color="color",
                extruded=True,
                stroked=False,
                pickable=True,
                auto_highlight=True,
            )
        )
        if ifc_roofs:
            layers.append(
                pydeck.Layer(
                    "PathLayer",
                    data=ifc_roofs,
                    id="ifc-outline",
                    get_path="path",
                    get_color=list(_IFC_OUTLINE),
                    get_width=3,
                    width_units=String("pixels"),
                )
            )
    map_provider, map_style = None, None
    if data.basemap_url:
        # A raster style needs no token; pydeck accepts a style dict only with "mapbox".
        map_provider = "mapbox"
        map_style = {
            "version": 8,
            "sources": {"basemap": {"type": "raster", "tiles": [data.basemap_url], "tileSize": 256}},
            "layers": [{"id": "basemap", "type": "raster", "source": "basemap"}],
        }
    return pydeck.Deck(
        layers=layers,
        initial_view_state=_view_state(data),
        map_provider=map_provider,
        map_style=map_style,
        # one template for every layer (pydeck has no per-layer tooltip): each pickable record carries
        # its own text, so a manhole shows its own fields, not a building's left unfilled
        tooltip={"html": "{tooltip}"},
    )
