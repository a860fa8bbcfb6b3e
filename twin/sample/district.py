"""The built-in sample city: a synthetic district of central Guangzhou on the Pearl River delta.

:func:`city` writes a complete, self-consistent set of input files for a twin -- a DEM, a GeoPackage
with buildings, rivers, lakes and land use, two georeferenced IFC4 buildings, a flood, a river-lake and a water-supply
scenario (with 30 years of daily flows) --
all in EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E). Everything is drawn from one seed, so
the same seed always gives the same files (the DEM and the IFC files byte for byte).

The landscape, in the order it is built:

* a main river enters on the west edge and leaves on the east edge, meandering in a floodplain whose
  bank-full level falls gently downstream; its channel is carved into the DEM to the width and depth
  written in the ``rivers`` layer;
* hills of 40-60 m along the north edge (forest), cut by a creek that runs down into a lake at the
  foot of the hills, then on to the river;
* low ground of 2-8 m rising gently away from the river, with smooth undulations;
* two districts of street grids, one each side of the river and each rotated its own way, whose
  blocks hold the building footprints; streets lie a kerb lower than the blocks and hold a few closed
  dips where rain ponds.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.project
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid
import numpy as np
import pyogrio
import shapely
import shapely.geometry
import shapely.ops
from affine import Affine
from rasterio.features import rasterize, shapes
from scipy import ndimage
from scipy.interpolate import RectBivariateSpline

from ingest.vector import zonal_stat
from twin._io import atomic_dir, atomic_file, check_out, write_geotiff, write_json, write_marker
from twin.errors import InputDataError
from twin.sample.water import write_water

__all__ = ["SampleCity", "city", "CRS", "ORIGIN", "NODATA", "LANDUSE_CLASSES"]

CRS = "EPSG:4547"
#: Lower-left corner of the sample DEM (113.248 E, 23.120 N): central Guangzhou, where the real Pearl
#: River also runs west to east.
ORIGIN = (423000.0, 2558000.0)
#: The DEM's nodata tag. No cell holds it; it is set so that tools which add nodata agree on the value.
NODATA = -9999.0

# Every timestamp written (IFC header and owner history, GeoPackage contents) is this instant, so that
# the files depend on the seed alone: 2024-01-01T00:00:00Z.
_EPOCH = 1704067200
_EPOCH_ISO = "2024-01-01T00:00:00"

# Buildings per square kilometre by default: 2,200 on the 2 km x 2 km city, scaled with the area.
_BUILDINGS_PER_KM2 = 550.0

_FLOOD_TOML = """\
# Design storm on the sample city: 60 mm/h for one hour plus a river flood wave.
kind = "flood"
duration = "2h"
output_interval = "10min"

[rain]
hyetograph = [[0, 60.0], [3600, 60.0], [3601, 0.0]]   # seconds, mm/h

[[inflow]]
at = [{x:.1f}, {y:.1f}]
hydrograph = [[0, 20.0], [2400, 180.0], [7200, 40.0]]   # seconds, m3/s

[[boundary]]
edge = "{edge}"
type = "free"
slope = 0.001

[infiltration]
model = "green-ampt"                  # parameters per land-use class

[drainage]
capacity = 30.0                       # mm/h: the pipe network's design capacity on impervious ground

[[gauge]]
name = "river_inlet"
at = [{x:.1f}, {y:.1f}]

[[gauge]]
name = "river_outlet"
at = [{xo:.1f}, {yo:.1f}]
"""

_RIVER_TOML = """\
# River-lake scenario on the sample city: the same storm's runoff and river flood wave routed through
# the river, the creek and the lake for a day, and a diesel spill on the creek that mixes in the lake.
kind = "river"
duration = "1d"
dt = "10min"
output_interval = "30min"

[network]
source = "rivers"                     # the twin's river layer (the river and the creek)
reference_discharge = 60.0            # m3/s: Muskingum-Cunge celerity and diffusion are taken here

[runoff]                              # rain x coefficient over each link's catchment
hyetograph = [[0, 60.0], [3600, 60.0], [3601, 0.0]]   # seconds, mm/h
coefficient = 0.6

[[inflow]]
at = [{x:.1f}, {y:.1f}]
hydrograph = [[0, 20.0], [2400, 180.0], [7200, 40.0], [86400, 20.0]]   # seconds, m3/s

[[lake]]
name = "{lake}"
crest = {crest:.2f}                        # m: the outlet weir
weir_width = 6.0
target_level = {target:.2f}                 # m: the sluice releases towards it ...
release_max = 2.0                     # ... at most 2 m3/s
evaporation = 4.0                     # mm/day

[[spill]]
name = "diesel"
at = [{sx:.1f}, {sy:.1f}]
time = "2h"
mass = 200.0                          # kg
decay_rate = 0.2                      # 1/day
dispersion = 5.0                      # m2/s

[[gauge]]
name = "river_outlet"
at = [{xo:.1f}, {yo:.1f}]
"""

# The flat bottom of a channel spans this fraction of its half-width; the banks are a half cosine.
_FLAT = 0.3
LANDUSE_CLASSES = ("residential", "commercial", "industrial", "park", "forest", "water", "road", "agriculture")


@dataclass(frozen=True)
class SampleCity:
    """The files of a generated sample city (all in :data:`CRS`).

    Attributes
    ----------
    root
        The folder holding everything below.
    dem
        ``root / "dem.tif"``: float32 terrain in metres, deflate-compressed and tiled.
    layers
        ``root / "city.gpkg"`` with layers ``buildings``, ``rivers``, ``lakes`` and ``landuse``.
    ifc
        The IFC4 building models under ``root / "ifc"``; ``root / "ifc" / "placements.json"`` records
        where each one was placed.
    scenario
        ``root / "flood.toml"``: a design storm plus a river flood wave.
    river_scenario
        ``root / "river.toml"``: the same storm and wave routed through the river, creek and lake for
        a day, with a pollutant spill on the creek.
    water_scenario
        ``root / "water.toml"``: the city's water supply (a reservoir in the hills, a river intake, the
        city, industry and farms) over 30 years of days, with its series in ``root / "water_flows.csv"``
        (see :mod:`twin.sample.water`).
    crs
        ``"EPSG:4547"``.
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the DEM.
    """

    root: Path
    dem: Path
    layers: Path
    ifc: tuple[Path, ...]
    scenario: Path
    crs: str
    bounds: tuple[float, float, float, float]
    river_scenario: Path
    water_scenario: Path

    @property
    def placements(self) -> Path:
        """``root / "ifc" / "placements.json"``: file, eastings, northings, height, rotation and size per IFC."""
        return self.root / "ifc" / "placements.json"


def city(path: str | os.PathLike, seed: int = 0, *, size_m: float = 2000.0, cell: float = 2.0,
         n_buildings: int | None = None) -> SampleCity:
    """Write the sample city's files into ``path`` and return where they are.

    Parameters
    ----------
    path
        Output folder (created if missing): new, empty, or an earlier sample city, whose files are
        replaced (anything else is refused before any work, see :func:`twin._io.check_out`).
    seed
        Non-negative integer; the same seed gives the same files.
    size_m
        Side of the square domain in metres (at least 400).
    cell
        DEM cell size in metres; ``size_m / cell`` must be a whole number of at least 100 cells.
    n_buildings
        Number of building footprints; by default 550 per km2 (2,200 on the default 2 km city).

    Returns
    -------
    SampleCity
        The paths, CRS and bounds.

    Raises
    ------
    InputDataError
        A parameter is out of range, more buildings were asked for than the blocks can hold, or
        ``path`` is not a folder a sample city may be written to.

    Examples
    --------
    >>> sc = city("sample", seed=0)                     # doctest: +SKIP
    >>> sc.dem, sc.layers, sc.scenario                  # doctest: +SKIP
    """
    grid = _Grid.make(size_m, cell)
    seed = _check_seed(seed)
    n_target = _check_count(n_buildings, grid)
    check_out(path, "sample-city")

    river = _main_river(_rng(seed, "river"), grid)
    lake, creek = _lake_and_creek(_rng(seed, "lake"), grid, river)
    fields, creek_fields = _line_fields(grid, river), _line_fields(grid, creek)
    base, hills = _base_terrain(_rng(seed, "terrain"), grid, river, fields, creek, creek_fields)
    _water_levels(grid, base, river, lake, creek)
    z, water_dist = _carve(grid, base, river, fields, lake, creek, creek_fields)

    zones = _zones(grid, river, lake, creek, hills)
    blocks = _blocks(_rng(seed, "streets"), grid, river, lake, zones)
    buildings = _buildings(seed, grid, blocks, zones, n_target)
    landuse = _landuse(zones, blocks)
    z = _streets_and_ponds(_rng(seed, "ponds"), grid, z, landuse, water_dist)
    lake["bed"] = _lake_bed(grid, z, lake)

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    dem_path = write_geotiff(root / "dem.tif", z.astype(np.float32), grid.transform, CRS, nodata=NODATA)
    gpkg = _write_layers(root / "city.gpkg", buildings, river, creek, lake, landuse)
    ifc_paths = _write_ifc_folder(root / "ifc", seed, grid, z.astype(np.float32), buildings)
    scenario = _write_scenario(root / "flood.toml", grid, river)
    river_scenario = _write_river_scenario(root / "river.toml", grid, river, creek, lake)
    water_scenario = write_water(root, _rng(seed, "water"), _water_points(grid, river, creek))
    write_marker(root, "sample-city", [dem_path, gpkg, scenario, river_scenario, water_scenario,
                                       root / "water_flows.csv", *(root / "ifc").iterdir()])
    return SampleCity(root=root, dem=dem_path, layers=gpkg, ifc=ifc_paths, scenario=scenario, crs=CRS,
                      bounds=grid.bounds, river_scenario=river_scenario, water_scenario=water_scenario)


# ---------------------------------------------------------------------------------------------------
# Parameters and the grid


@dataclass(frozen=True)
class _Grid:
    x0: float
    y0: float
    size: float
    cell: float
    n: int

    @classmethod
    def make(cls, size_m: float, cell: float) -> _Grid:
        size_m, cell = float(size_m), float(cell)
        if not (math.isfinite(size_m) and size_m >= 400.0):
            raise InputDataError(f"size_m={size_m} is too small for the sample city; use at least 400 m "
                                 "(the river, lake and hills need room), e.g. size_m=600.")
        if not (math.isfinite(cell) and cell > 0):
            raise InputDataError(f"cell={cell} must be a positive cell size in metres, e.g. cell=2.0.")
        n = round(size_m / cell)
        if abs(n * cell - size_m) > 1e-6 * size_m or n < 100:
            raise InputDataError(
                f"size_m={size_m} / cell={cell} must be a whole number of at least 100 cells; "
                f"pick e.g. cell={size_m / max(100, round(size_m / cell)):g}.")
        return cls(ORIGIN[0], ORIGIN[1], size_m, cell, n)

    @property
    def transform(self) -> Affine:
        return Affine(self.cell, 0.0, self.x0, 0.0, -self.cell, self.y0 + self.size)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x0 + self.size, self.y0 + self.size)

    @property
    def xs(self) -> np.ndarray:
        """Cell-centre eastings, west to east."""
        return self.x0 + (np.arange(self.n) + 0.5) * self.cell

    @property
    def ys(self) -> np.ndarray:
        """Cell-centre northings, north to south (row order)."""
        return self.y0 + self.size - (np.arange(self.n) + 0.5) * self.cell

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        return np.meshgrid(self.xs, self.ys)

    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding points (clipped onto the grid)."""
        col = np.clip(np.floor((np.asarray(x) - self.x0) / self.cell).astype(np.int64), 0, self.n - 1)
        row = np.clip(np.floor((self.y0 + self.size - np.asarray(y)) / self.cell).astype(np.int64), 0, self.n - 1)
        return row, col

    def box(self) -> shapely.Polygon:
        return shapely.box(*self.bounds)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputDataError(f"seed={seed!r} must be a non-negative integer, e.g. seed=0.")
    return int(seed)


def _check_count(n_buildings: int | None, grid: _Grid) -> int:
    if n_buildings is None:
        return max(20, round(_BUILDINGS_PER_KM2 * (grid.size / 1000.0) ** 2))
    if isinstance(n_buildings, bool) or not isinstance(n_buildings, (int, np.integer)) or n_buildings < 2:
        raise InputDataError(f"n_buildings={n_buildings!r} must be an integer of at least 2 (the IFC "
                             "buildings need two footprints), or None for the default density.")
    return int(n_buildings)


def _rng(seed: int, part: str) -> np.random.Generator:
    # One independent stream per part of the city, so that changing how (say) buildings are drawn
    # does not move the river.
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ---------------------------------------------------------------------------------------------------
# Terrain


@dataclass
class _Channel:
    """A channel's centre line, densely sampled, with its bed elevation at every sample."""

    name: str
    xy: np.ndarray        # (m, 2) world coordinates, upstream to downstream
    chain: np.ndarray     # (m,) distance along the line from its upstream end
    bed: np.ndarray       # (m,) bed elevation
    width: float
    depth: float

    @property
    def line(self) -> shapely.LineString:
        """The centre line for the rivers layer, thinned to within 2 cm of the carved one."""
        return shapely.simplify(shapely.LineString(np.round(self.xy, 3)), 0.02)

    def bank(self) -> np.ndarray:
        return self.bed + self.depth

    def bed_at(self, chain: np.ndarray) -> np.ndarray:
        return np.interp(chain, self.chain, self.bed)


def _densify(xy: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    dense = shapely.get_coordinates(shapely.segmentize(shapely.LineString(xy), step))
    chain = np.r_[0.0, np.cumsum(np.hypot(*np.diff(dense, axis=0).T))]
    return dense, chain


def _main_river(rng: np.random.Generator, grid: _Grid) -> _Channel:
    """A meandering river from the west edge to the east edge, bank-full level falling downstream."""
    L = grid.size
    v_in, v_out = L * (0.42 + rng.uniform(-0.03, 0.03)), L * (0.30 + rng.uniform(-0.03, 0.03))
    a1, k1, p1 = L * rng.uniform(0.03, 0.045), rng.uniform(1.0, 1.5), rng.uniform(0, 2 * np.pi)
    a2, k2, p2 = L * rng.uniform(0.008, 0.015), rng.uniform(2.5, 3.5), rng.uniform(0, 2 * np.pi)
    u = np.linspace(0.0, L, max(200, int(L / 5.0)) + 1)
    v = (v_in + (v_out - v_in) * u / L + a1 * np.sin(2 * np.pi * k1 * u / L + p1)
         + a2 * np.sin(2 * np.pi * k2 * u / L + p2))
    xy, chain = _densify(np.c_[grid.x0 + u, grid.y0 + v], grid.cell / 3.0)
    width = min(rng.uniform(42.0, 55.0), 0.09 * L)
    depth = rng.uniform(3.0, 3.6)
    bank_in, bank_out = 3.6 + rng.uniform(-0.2, 0.2), 2.8 + rng.uniform(-0.2, 0.2)
    bank = bank_in + (bank_out - bank_in) * chain / chain[-1]
    return _Channel("Main River", xy, chain, bank - depth, width, depth)


@dataclass
class _Fields:
    dist: np.ndarray      # distance of every cell from a channel's centre line (m)
    chain: np.ndarray     # chainage of the nearest point on the centre line (m)


def _line_fields(grid: _Grid, channel: _Channel) -> _Fields:
    """Distance of every cell centre to a channel's centre line and the chainage of its nearest point."""
    xy = channel.xy
    row, col = grid.index(xy[:, 0], xy[:, 1])
    owner = np.full((grid.n, grid.n), -1, dtype=np.int64)
    owner[row, col] = np.arange(len(xy))
    # The Euclidean distance transform finds, for every cell, the nearest cell the line passes through.
    # Measuring across the line's local tangent there (rather than to that cell) keeps the carved banks
    # free of the line's staircase on the grid.
    _, (ii, jj) = ndimage.distance_transform_edt(owner < 0, return_indices=True)
    nearest = owner[ii, jj]
    del ii, jj
    tangent = np.gradient(xy, axis=0)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    X, Y = grid.mesh()
    dx, dy = X - xy[nearest, 0], Y - xy[nearest, 1]
    tx, ty = tangent[nearest, 0], tangent[nearest, 1]
    chain = channel.chain[nearest] + dx * tx + dy * ty
    across = np.abs(dx * ty - dy * tx)
    direct = np.hypot(dx, dy)
    # Far from a curved line its local tangent means nothing; there the distance to the nearest sample
    # is exact enough (the two agree to millimetres in between, so the blend leaves no seam).
    far = _smoothstep((direct - 60.0) / 60.0)
    dist = (1.0 - far) * across + far * direct
    beyond = (chain < 0.0) | (chain > channel.chain[-1])
    dist[beyond] = direct[beyond]
    return _Fields(dist, np.clip(chain, 0.0, channel.chain[-1]))


def _noise(rng: np.random.Generator, grid: _Grid, corr: float) -> np.ndarray:
    """Smooth noise of unit standard deviation with correlation length ``corr`` metres."""
    spacing = max(grid.cell, min(corr / 3.0, 10.0))
    m = int(np.ceil(grid.size / spacing)) + 1
    pad = int(np.ceil(3 * corr / spacing))
    white = rng.standard_normal((m + 2 * pad, m + 2 * pad))
    field = ndimage.gaussian_filter(white, corr / spacing)[pad:pad + m, pad:pad + m]
    field /= field.std()
    coarse = np.arange(m) * spacing
    spline = RectBivariateSpline(coarse, coarse, field)
    # Rows run north to south, so evaluate at the local northing of each row.
    return spline(grid.size - (grid.ys - grid.y0), grid.xs - grid.x0)[::-1]


def _base_terrain(rng: np.random.Generator, grid: _Grid, river: _Channel, fields: _Fields,
                  creek: _Channel, creek_fields: _Fields) -> tuple[np.ndarray, np.ndarray]:
    """Ground before any carving: floodplain rising away from the river, hills in the north, undulations.

    Returns the ground and the hills' share of it (the forest zone is drawn from the latter).
    """
    L = grid.size
    X, Y = grid.mesh()
    d = fields.dist
    # The bank-full level under the floodplain, taken along the valley (the river runs west to east) so
    # that it has no seams where the nearest stretch of a meander changes.
    bank = np.interp(X, river.xy[:, 0], river.bank())
    # Ground rises away from the river at a delta's gentle slope, levelling off a few metres up.
    slope, top = rng.uniform(0.003, 0.0045), rng.uniform(3.5, 4.5)
    rise = top * np.tanh(slope * d / top)
    # Hills: Gaussian mounds centred on or beyond the north edge; their height scales with the domain
    # so that slopes stay hill-like (about 10 %) whatever its size.
    hill_scale = min(1.0, L / 2000.0)
    hills = np.zeros_like(d)
    for centre in (0.12, 0.38, 0.88):
        cx = grid.x0 + L * (centre + rng.uniform(-0.04, 0.04))
        cy = grid.y0 + L * rng.uniform(0.97, 1.06)
        sy = L * rng.uniform(0.11, 0.15)
        sx = sy * rng.uniform(1.0, 1.4)
        hills += rng.uniform(0.7, 1.0) * np.exp(-0.5 * (((X - cx) / sx) ** 2 + ((Y - cy) / sy) ** 2))
    # Overlapping mounds add up; scale so that the highest summit is 40-50 m above the plain.
    hills *= rng.uniform(40.0, 50.0) * hill_scale / hills.max()
    hills *= _smoothstep((d - 0.5 * river.width - 50.0) / (0.2 * L))
    # Undulations fade out towards the river and the creek so that their beds fall steadily downstream.
    undulation = rng.uniform(0.6, 0.9) * _noise(rng, grid, 120.0) + 0.15 * _noise(rng, grid, 25.0)
    undulation *= _smoothstep((d - 0.5 * river.width) / 250.0)
    undulation *= _smoothstep((creek_fields.dist - 0.5 * creek.width) / 100.0)
    return bank + rise + hills + undulation, hills


def _lake_and_creek(rng: np.random.Generator, grid: _Grid, river: _Channel) -> tuple[dict, _Channel]:
    """A lake at the foot of the hills north of the river, and a creek from the hills through it to the river.

    Only their shapes: :func:`_water_levels` sets the lake level and the creek bed once the ground exists.
    """
    L = grid.size
    ul = L * rng.uniform(0.62, 0.70)
    radius = L * rng.uniform(0.07, 0.085)
    river_y = np.interp(grid.x0 + ul, river.xy[:, 0], river.xy[:, 1])
    centre = np.array([grid.x0 + ul, river_y + 0.5 * river.width + 0.10 * L + radius])
    theta = np.linspace(0.0, 2 * np.pi, 73)[:-1]
    a2, p2, a3, p3 = rng.uniform(0.12, 0.2), rng.uniform(0, np.pi), rng.uniform(0.04, 0.08), rng.uniform(0, np.pi)
    r = radius * (1.0 + a2 * np.cos(2 * theta + p2) + a3 * np.cos(3 * theta + p3))
    outline = np.c_[centre[0] + r * np.cos(theta), centre[1] + r * np.sin(theta)]
    lake = {"name": "Sample Lake", "polygon": shapely.Polygon(np.round(outline, 3)),
            "depth": rng.uniform(2.5, 3.5)}
    # The creek comes down from the north edge between two hills.
    start = np.array([grid.x0 + L * rng.uniform(0.60, 0.66), grid.y0 + L])
    mid = np.array([start[0] + L * rng.uniform(-0.03, 0.03), 0.5 * (start[1] + centre[1])])
    junction_x = centre[0] + L * rng.uniform(0.02, 0.05)
    junction = np.array([junction_x, np.interp(junction_x, river.xy[:, 0], river.xy[:, 1])])
    xy, chain = _densify(np.array([start, mid, centre, junction]), grid.cell / 3.0)
    width, depth = rng.uniform(10.0, 14.0), rng.uniform(1.5, 2.0)
    creek = _Channel("Lake Creek", xy, chain, np.full(len(xy), np.nan), width, depth)
    return lake, creek


def _water_levels(grid: _Grid, base: np.ndarray, river: _Channel, lake: dict, creek: _Channel) -> None:
    """Set the lake's normal level and the creek's bed from the ground they are cut into."""
    outline = shapely.get_coordinates(lake["polygon"].exterior)
    row, col = grid.index(outline[:, 0], outline[:, 1])
    rim = float(base[row, col].min())
    depth, xy, chain = creek.depth, creek.xy, creek.chain
    bank_junction = float(np.interp(xy[-1, 0], river.xy[:, 0], river.bank()))
    # The lake stands a little below the lowest point of its rim, and high enough that the creek can
    # drain it over a sill a metre below its level and still fall all the way to the river.
    level = round(max(rim - 0.3, bank_junction - depth + 1.2), 2)
    lake["level"] = level

    inside = shapely.contains_xy(lake["polygon"], xy[:, 0], xy[:, 1])
    first_in, last_in = np.argmax(inside), len(inside) - 1 - np.argmax(inside[::-1])
    row, col = grid.index(xy[:, 0], xy[:, 1])
    ground = base[row, col]
    # Upstream the bed follows the ground a creek-depth down, never rising, to just below the lake level.
    creek.bed[:first_in] = np.minimum.accumulate(np.maximum(ground[:first_in] - depth, level - 0.5))
    creek.bed[first_in:last_in + 1] = level - 1.0
    s = chain[last_in:]
    creek.bed[last_in:] = (level - 1.0) + (bank_junction - depth - (level - 1.0)) * (s - s[0]) / (s[-1] - s[0])


def _channel_surface(dist: np.ndarray, bed: np.ndarray, width: float, depth: float, wall: float) -> np.ndarray:
    """The surface a channel cuts: flat bed, half-cosine banks, then a valley wall rising at ``wall``."""
    r = dist / (0.5 * width)
    f = 0.5 * (1.0 + np.cos(np.pi * np.clip((r - _FLAT) / (1.0 - _FLAT), 0.0, 1.0)))
    return bed + depth * (1.0 - f) + wall * np.maximum(dist - 0.5 * width, 0.0)


def _inside(grid: _Grid, polygon: shapely.Polygon) -> np.ndarray:
    """Cells whose centres lie in a polygon."""
    return rasterize([(polygon, 1)], out_shape=(grid.n, grid.n), transform=grid.transform,
                     dtype=np.uint8).astype(bool)


def _signed_distance(grid: _Grid, polygon: shapely.Polygon, reach: float) -> np.ndarray:
    """Distance to a polygon's outline, negative inside, for cells within ``reach`` of it (inf beyond).

    Exact distances (not a distance transform of the rasterised polygon) keep a shore carved from it
    free of the grid's staircase.
    """
    sd = np.full((grid.n, grid.n), np.inf)
    xmin, ymin, xmax, ymax = polygon.bounds
    r0, c0 = grid.index(xmin - reach, ymax + reach)
    r1, c1 = grid.index(xmax + reach, ymin - reach)
    X, Y = np.meshgrid(grid.xs[c0:c1 + 1], grid.ys[r0:r1 + 1])
    d = shapely.distance(polygon.exterior, shapely.points(X, Y))
    window = np.where(_inside(grid, polygon)[r0:r1 + 1, c0:c1 + 1], -d, d)
    sd[r0:r1 + 1, c0:c1 + 1] = window
    return sd


def _carve(grid: _Grid, base: np.ndarray, river: _Channel, fields: _Fields, lake: dict,
           creek: _Channel, creek_fields: _Fields) -> tuple[np.ndarray, np.ndarray]:
    """Cut the river channel, the creek's valley and the lake basin into the ground.

    Returns the ground and every cell's distance from the nearest channel bank or lake shore.
    """
    z = np.minimum(base, _channel_surface(fields.dist, river.bed_at(fields.chain), river.width, river.depth, 0.15))
    # The creek's valley walls (12 %) let it cut down through the hills without cliffs.
    z = np.minimum(z, _channel_surface(creek_fields.dist, creek.bed_at(creek_fields.chain), creek.width,
                                       creek.depth, 0.12))
    # Beyond this reach the shore stands above the highest ground, so it need not be computed there.
    reach = 50.0 + (float(base.max()) - lake["level"]) / 0.1
    sd = _signed_distance(grid, lake["polygon"], reach)
    radius = math.sqrt(lake["polygon"].area / math.pi)
    ramp = min(40.0, 0.4 * radius)
    # Above the water the shore rises at 3 % for 40 m, then at 10 %, enough to meet any ground within
    # the distance field's reach.
    shore = np.where(sd < 0, lake["level"] - lake["depth"] * _smoothstep(-sd / ramp),
                     lake["level"] + 0.03 * sd + 0.1 * np.maximum(sd - 40.0, 0.0))
    water_dist = np.minimum.reduce([fields.dist - 0.5 * river.width, creek_fields.dist - 0.5 * creek.width, sd])
    return np.minimum(z, shore), water_dist


def _lake_bed(grid: _Grid, z: np.ndarray, lake: dict) -> float:
    return round(float(z[_inside(grid, lake["polygon"])].min()), 2)


def _streets_and_ponds(rng: np.random.Generator, grid: _Grid, z: np.ndarray, landuse: list[tuple],
                       water_dist: np.ndarray) -> np.ndarray:
    """Lower the streets a kerb below the blocks and press a few closed dips (ponding spots) into them."""
    roads = [geom for geom, cls in landuse if cls == "road"]
    if not roads:
        return z
    street = rasterize([(g, 1) for g in roads], out_shape=(grid.n, grid.n), transform=grid.transform,
                       dtype=np.uint8).astype(bool)
    # A 0.15 m kerb, softened over about a cell so that the DEM has no one-cell steps.
    z = z - 0.15 * ndimage.gaussian_filter(street.astype(np.float64), 0.75)
    # Ponds sit mid-street, well away from the water so that channels and shores keep their shape.
    middle = ndimage.binary_erosion(street, iterations=max(1, round(4.0 / grid.cell)))
    rows, cols = np.nonzero(middle & (water_dist > 60.0))
    X, Y = grid.mesh()
    n_ponds = max(5, round(12 * (grid.size / 2000.0) ** 2))
    spacing = max(60.0, 0.1 * grid.size)
    chosen: list[tuple[float, float]] = []
    for k in rng.permutation(len(rows)):
        x, y = X[rows[k], cols[k]], Y[rows[k], cols[k]]
        if all(math.hypot(x - a, y - b) > spacing for a, b in chosen):
            chosen.append((x, y))
            if len(chosen) == n_ponds:
                break
    for x, y in chosen:
        depth, sigma = rng.uniform(0.6, 1.2), rng.uniform(5.0, 9.0)
        z = z - depth * np.exp(-0.5 * ((X - x) ** 2 + (Y - y) ** 2) / sigma**2)
    return z


# ---------------------------------------------------------------------------------------------------
# Zones, street blocks and buildings


@dataclass
class _Zones:
    domain: shapely.Polygon
    water: shapely.Geometry
    forest: shapely.Geometry
    green: shapely.Geometry      # river and creek greenways, the park round the lake
    urban: shapely.Geometry      # what is left for street blocks
    north: shapely.Geometry      # the domain north of the river
    centre: tuple[float, float]  # the commercial centre, on the north bank


def _extended(xy: np.ndarray, by: float) -> shapely.LineString:
    """A line continued straight beyond both ends, so buffers and splits cover the domain edges."""
    head = xy[0] + by * (xy[0] - xy[1]) / np.hypot(*(xy[0] - xy[1]))
    tail = xy[-1] + by * (xy[-1] - xy[-2]) / np.hypot(*(xy[-1] - xy[-2]))
    return shapely.LineString(np.r_[[head], xy, [tail]])


def _zones(grid: _Grid, river: _Channel, lake: dict, creek: _Channel, hills: np.ndarray) -> _Zones:
    domain = grid.box()
    river_line = shapely.simplify(_extended(river.xy, 100.0), 0.05)
    creek_line = shapely.simplify(shapely.LineString(creek.xy), 0.05)
    water = shapely.union_all([
        river_line.buffer(0.5 * river.width, cap_style="flat"),
        creek_line.buffer(0.5 * creek.width),
        lake["polygon"],
    ]).intersection(domain)
    # Forest where the hills rise more than a few metres: polygonised on a coarse grid, then smoothed.
    step = max(1, round(10.0 / grid.cell))
    mask = (hills > 4.0 * min(1.0, grid.size / 2000.0))[::step, ::step]
    coarse = grid.transform @ Affine.scale(step)
    parts = [shapely.geometry.shape(geom) for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=coarse)]
    smooth = 2.0 * step * grid.cell
    forest = shapely.union_all(parts).buffer(smooth).buffer(-smooth).simplify(0.5 * smooth)
    forest = forest.intersection(domain).difference(water)
    # Greenways along the water, narrower in a small domain so that some city is left.
    margin = 30.0 * float(np.clip(grid.size / 2000.0, 0.4, 1.0))
    green = shapely.union_all([
        river_line.buffer(0.5 * river.width + margin, cap_style="flat"),
        creek_line.buffer(0.5 * creek.width + 0.5 * margin),
        lake["polygon"].buffer(1.5 * margin),
    ]).intersection(domain).difference(water).difference(forest)
    urban = domain.difference(shapely.union_all([water, forest, green]))
    halves = shapely.get_parts(shapely.ops.split(domain, river_line))
    north = next(h for h in halves if h.contains(shapely.Point(grid.x0 + 0.5 * grid.size, grid.y0 + grid.size - 1.0)))
    cx = grid.x0 + 0.35 * grid.size
    cy = float(np.interp(cx, river.xy[:, 0], river.xy[:, 1])) + 0.5 * river.width + 0.1 * grid.size
    return _Zones(domain, water, forest, green, urban, north, (cx, cy))


@dataclass
class _Blocks:
    """Street blocks: full rectangles in their district's rotated frame and their clipped polygons."""

    rect: np.ndarray        # (k, 4) a_lo, a_hi, b_lo, b_hi in the district frame
    district: np.ndarray    # (k,) 0 north, 1 south
    polygon: np.ndarray     # (k,) clipped shapely geometries
    cls: np.ndarray         # (k,) land-use class
    frames: list            # per district: (origin x, origin y, angle in radians)


def _street_cuts(rng: np.random.Generator, lo: float, hi: float, spacing: tuple[float, float]) -> np.ndarray:
    """Street centre positions and widths along one axis: 12-18 m streets, a 24-30 m avenue every fourth."""
    pos, k, cuts = lo - rng.uniform(0.0, spacing[1]), 0, []
    while pos < hi + spacing[1]:
        cuts.append((pos, rng.uniform(24.0, 30.0) if k % 4 == 0 else rng.uniform(12.0, 18.0)))
        pos += rng.uniform(*spacing)
        k += 1
    return np.array(cuts)


def _to_world(frame: tuple[float, float, float], a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ox, oy, angle = frame
    c, s = math.cos(angle), math.sin(angle)
    return ox + c * a - s * b, oy + s * a + c * b


def _blocks(rng: np.random.Generator, grid: _Grid, river: _Channel, lake: dict, zones: _Zones) -> _Blocks:
    """Two rotated street grids, one each side of the river, clipped to the urban zone and classed."""
    L = grid.size
    south = zones.domain.difference(zones.north)
    angles = [math.radians(rng.uniform(8.0, 22.0)), math.radians(-rng.uniform(6.0, 18.0))]
    rects, districts, polys, frames = [], [], [], []
    for k, (half, angle) in enumerate(zip((zones.north, south), angles)):
        frame = (grid.x0 + 0.5 * L, grid.y0 + 0.5 * L, angle)
        frames.append(frame)
        # Domain corners in the district frame bound the streets to draw.
        cx = np.array([0.0, L, L, 0.0]) - 0.5 * L
        cy = np.array([0.0, 0.0, L, L]) - 0.5 * L
        c, s = math.cos(angle), math.sin(angle)
        a, b = c * cx + s * cy, -s * cx + c * cy
        acuts = _street_cuts(rng, a.min(), a.max(), (110.0, 170.0))
        bcuts = _street_cuts(rng, b.min(), b.max(), (70.0, 110.0))
        a_lo, a_hi = acuts[:-1, 0] + 0.5 * acuts[:-1, 1], acuts[1:, 0] - 0.5 * acuts[1:, 1]
        b_lo, b_hi = bcuts[:-1, 0] + 0.5 * bcuts[:-1, 1], bcuts[1:, 0] - 0.5 * bcuts[1:, 1]
        A0, B0 = np.meshgrid(a_lo, b_lo, indexing="ij")
        A1, B1 = np.meshgrid(a_hi, b_hi, indexing="ij")
        r = np.c_[A0.ravel(), A1.ravel(), B0.ravel(), B1.ravel()]
        corners_a = r[:, [0, 1, 1, 0]]
        corners_b = r[:, [2, 2, 3, 3]]
        wx, wy = _to_world(frame, corners_a, corners_b)
        boxes = shapely.polygons(np.stack([wx, wy], axis=-1))
        zone = zones.urban.intersection(half)
        shapely.prepare(zone)
        hit = shapely.intersects(zone, boxes)
        clipped = shapely.intersection(boxes[hit], zone)
        rects.append(r[hit])
        polys.append(clipped)
        districts.append(np.full(hit.sum(), k))
    rect, polygon, district = np.concatenate(rects), np.concatenate(polys), np.concatenate(districts)
    # Keep polygonal parts only (an intersection can leave slivers of lines along shared edges).
    polygon = np.array([_polygonal(g) for g in polygon], dtype=object)
    ok = shapely.area(polygon) > 1.0
    rect, polygon, district = rect[ok], polygon[ok], district[ok]

    centroids = shapely.centroid(polygon)
    px, py = shapely.get_x(centroids), shapely.get_y(centroids)
    full_area = (rect[:, 1] - rect[:, 0]) * (rect[:, 3] - rect[:, 2])
    river_d = shapely.distance(shapely.LineString(river.xy), centroids)
    lake_d = shapely.distance(lake["polygon"], centroids)
    u = px - grid.x0
    draw = rng.uniform(size=len(polygon))
    cls = np.full(len(polygon), "residential", dtype=object)
    cls[(np.hypot(px - zones.centre[0], py - zones.centre[1]) < 0.18 * L) & (draw < 0.85)] = "commercial"
    cls[(district == 1) & (u > 0.62 * L) & (river_d < 0.25 * L) & (draw < 0.85)] = "industrial"
    cls[(district == 1) & (u < 0.35 * L) & (river_d > 0.22 * L) & (draw < 0.9)] = "agriculture"
    cls[(draw > 0.96) | (lake_d < 0.04 * L)] = "park"
    # Scraps of blocks cut by the river, lake or hills are too small to build on: pocket parks.
    area = shapely.area(polygon)
    cls[(area < 0.3 * full_area) & (area < 2500.0)] = "park"
    return _Blocks(rect, district, polygon, cls, frames)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# Per block class: parcel width range along the street (m), building depth range, parcel row depth
# and the chance of an L-shaped building.
_PARCELS = {
    "residential": ((12.0, 20.0), (10.0, 20.0), 32.0, 0.3),
    "commercial": ((24.0, 40.0), (16.0, 30.0), 40.0, 0.25),
    "industrial": ((40.0, 70.0), (22.0, 45.0), 55.0, 0.15),
}


@dataclass
class _Footprints:
    polygon: np.ndarray     # shapely polygons, world coordinates
    block: np.ndarray       # index into _Blocks
    rect: np.ndarray        # (n, 4) a_lo, a_hi, b_lo, b_hi of the enclosing rectangle in the district frame
    is_rect: np.ndarray     # True for rectangles, False for L shapes


def _parcels(rng: np.random.Generator, blocks: _Blocks, scale: float) -> _Footprints:
    """Cut every buildable block into parcels and put one footprint on each (set back from the edges)."""
    polys, owners, rects, is_rect = [], [], [], []
    for k, (a_lo, a_hi, b_lo, b_hi) in enumerate(blocks.rect):
        kind = _PARCELS.get(blocks.cls[k])
        if kind is None:
            continue
        (w_lo, w_hi), (d_lo, d_hi), row_depth, p_l = kind
        # Rows of parcels row_depth deep; rows in the block's lower half front its lower street, the
        # others its upper street.
        n_rows = max(1, round((b_hi - b_lo) / (row_depth * max(scale, 0.75))))
        n_cols = max(1, int((a_hi - a_lo) // max(9.0, rng.uniform(w_lo, w_hi) * scale)))
        pw, pd = (a_hi - a_lo) / n_cols, (b_hi - b_lo) / n_rows
        for row in range(n_rows):
            low_front = row < n_rows / 2
            front_edge, sign = (b_lo + row * pd, 1.0) if low_front else (b_lo + (row + 1) * pd, -1.0)
            for col in range(n_cols):
                # Setbacks shrink with the parcel, as on a dense plot.
                tight = min(1.0, pw / 20.0, pd / 30.0)
                front, side, back = (tight * rng.uniform(3.0, 6.0), tight * rng.uniform(1.5, 3.0),
                                     tight * rng.uniform(2.0, 4.0))
                fw = pw - 2.0 * side
                fd = min(pd - front - back, rng.uniform(d_lo, d_hi))
                if fw < 6.0 or fd < 6.0:
                    continue
                a0 = a_lo + col * pw + side
                b_near = front_edge + sign * front
                b0, b1 = sorted((b_near, b_near + sign * fd))
                ring = [(a0, b0), (a0 + fw, b0), (a0 + fw, b1), (a0, b1)]
                rect = True
                if rng.uniform() < p_l:
                    # Cut a corner away at the back: an L.
                    ca, cb = fw * rng.uniform(0.35, 0.6), fd * rng.uniform(0.35, 0.6)
                    left = rng.uniform() < 0.5
                    ring = _l_shape(a0, b0, fw, fd, ca, cb, back_high=sign > 0, left=left)
                    rect = False
                polys.append(ring)
                owners.append(k)
                rects.append((a0, a0 + fw, b0, b1))
                is_rect.append(rect)
    owners_a = np.array(owners, dtype=np.int64)
    rect_a = np.array(rects, dtype=np.float64).reshape(-1, 4)
    world = np.empty(len(polys), dtype=object)
    for k, ring in enumerate(polys):
        ring = np.asarray(ring)
        wx, wy = _to_world(blocks.frames[blocks.district[owners_a[k]]], ring[:, 0], ring[:, 1])
        world[k] = shapely.Polygon(np.round(np.c_[wx, wy], 3))
    return _Footprints(world, owners_a, rect_a, np.array(is_rect, dtype=bool))


def _l_shape(a0: float, b0: float, fw: float, fd: float, ca: float, cb: float, *, back_high: bool,
             left: bool) -> list[tuple[float, float]]:
    """A rectangle with one back corner (``ca`` by ``cb``) cut away, as a counter-clockwise ring."""
    a1, b1 = a0 + fw, b0 + fd
    na = (a0, a0 + ca) if left else (a1 - ca, a1)
    nb = (b1 - cb, b1) if back_high else (b0, b0 + cb)
    shape = shapely.box(a0, b0, a1, b1).difference(shapely.box(na[0], nb[0], na[1], nb[1]))
    return shapely.get_coordinates(shapely.geometry.polygon.orient(shape, 1.0).exterior)[:-1].tolist()


# Building use by block class, and per use: (storey ranges, their weights, storey height range).
_USES = {
    "residential": (("residential", "public", "commercial"), (0.90, 0.07, 0.03)),
    "commercial": (("commercial", "residential", "public"), (0.85, 0.10, 0.05)),
    "industrial": (("industrial", "commercial"), (0.93, 0.07)),
}
_STOREYS = {
    "residential": (((2, 4), (5, 9), (10, 18), (20, 32)), (0.35, 0.45, 0.15, 0.05), (2.95, 3.15)),
    "commercial": (((3, 8), (10, 20), (22, 28)), (0.45, 0.35, 0.20), (3.3, 3.6)),
    "industrial": (((1, 3),), (1.0,), (3.6, 4.5)),
    "public": (((2, 6),), (1.0,), (3.4, 3.9)),
}
# The two IFC buildings: (use, storeys, storey height in m, name).
_IFC_SPECS = (("commercial", 6, 3.6, "office"), ("public", 3, 3.9, "school"))


@dataclass
class _Buildings:
    footprints: _Footprints
    ids: np.ndarray
    use: np.ndarray
    storeys: np.ndarray
    height: np.ndarray
    ifc: list[int]          # rows of the IFC buildings, in _IFC_SPECS order
    placements: list[dict]  # their local origin (eastings, northings), x-axis angle, width and depth


def _buildings(seed: int, grid: _Grid, blocks: _Blocks, zones: _Zones, n_target: int) -> _Buildings:
    """Footprints on the blocks' parcels, thinned to ``n_target``, with use, storeys and height."""
    scale, best, most = 1.0, None, 0
    for attempt in range(6):
        fp = _parcels(_rng(seed, f"parcels-{attempt}"), blocks, scale)
        # Only parcels wholly on their block's buildable part: none in the river, lake or forest.
        ok = shapely.contains(blocks.polygon[fp.block], fp.polygon) if len(fp.block) else np.zeros(0, bool)
        count = int(ok.sum())
        most = max(most, count)
        if count >= n_target and (best is None or count < best[1].sum()):
            best = (fp, ok)
        if n_target <= count <= 1.6 * n_target or (count < n_target and scale <= 0.4):
            break
        # Parcel count goes inversely with parcel size: aim for a quarter more parcels than buildings
        # so that a few lots stay vacant, as in a real city.
        scale = float(np.clip(scale * max(count, 1) / (1.25 * n_target), 0.4, 8.0))
    if best is None:
        raise InputDataError(
            f"n_buildings={n_target} is more than the sample city's blocks hold at size_m={grid.size:g} "
            f"(at most about {most}); ask for fewer buildings or a larger size_m.")
    fp, ok = best
    fp = _Footprints(fp.polygon[ok], fp.block[ok], fp.rect[ok], fp.is_rect[ok])
    rng = _rng(seed, "buildings")
    district = blocks.district[fp.block]
    ifc = _pick_ifc(fp, district, zones, blocks.cls[fp.block])
    others = np.setdiff1d(np.arange(len(fp.block)), ifc)
    keep = np.sort(np.r_[ifc, rng.choice(others, n_target - len(ifc), replace=False)])
    fp = _Footprints(fp.polygon[keep], fp.block[keep], fp.rect[keep], fp.is_rect[keep])
    district = district[keep]
    ifc_rows = [int(np.searchsorted(keep, i)) for i in ifc]

    n = len(keep)
    block_cls = blocks.cls[fp.block]
    use = np.empty(n, dtype=object)
    for cls, (uses, weights) in _USES.items():
        sel = block_cls == cls
        use[sel] = rng.choice(uses, size=int(sel.sum()), p=weights)
    storeys = np.zeros(n, dtype=np.int64)
    storey_h = np.zeros(n)
    for kind, (ranges, weights, (h_lo, h_hi)) in _STOREYS.items():
        sel = np.nonzero(use == kind)[0]
        band = rng.choice(len(ranges), size=len(sel), p=weights)
        lo = np.array([r[0] for r in ranges])[band]
        hi = np.array([r[1] for r in ranges])[band]
        storeys[sel] = rng.integers(lo, hi + 1)
        storey_h[sel] = rng.uniform(h_lo, h_hi, size=len(sel))
    placements = []
    for row, (kind, floors, floor_h, _) in zip(ifc_rows, _IFC_SPECS):
        use[row], storeys[row], storey_h[row] = kind, floors, floor_h
        # The cadastre footprint is redrawn from the millimetre-rounded placement the IFC model gets,
        # so that the two agree to the millimetre.
        a0, a1, b0, b1 = fp.rect[row]
        frame = blocks.frames[district[row]]
        east, north = (round(float(v), 3) for v in _to_world(frame, a0, b0))
        width, depth = round(float(a1 - a0), 3), round(float(b1 - b0), 3)
        wx, wy = _to_world((east, north, frame[2]), np.array([0.0, width, width, 0.0]),
                           np.array([0.0, 0.0, depth, depth]))
        fp.polygon[row] = shapely.Polygon(np.round(np.c_[wx, wy], 3))
        placements.append({"eastings": east, "northings": north, "angle": frame[2], "width": width,
                           "depth": depth})
    height = np.clip(np.round(storeys * storey_h, 1), 3.0, 100.0)
    ids = np.array([f"B{k:06d}" for k in range(1, n + 1)], dtype=object)
    return _Buildings(fp, ids, use, storeys, height, ifc_rows, placements)


def _pick_ifc(fp: _Footprints, district: np.ndarray, zones: _Zones, block_cls: np.ndarray) -> list[int]:
    """Two plain rectangular footprints for the IFC models: an office near the centre, a school south."""
    size_a = fp.rect[:, 1] - fp.rect[:, 0]
    size_b = fp.rect[:, 3] - fp.rect[:, 2]
    good = fp.is_rect & (np.minimum(size_a, size_b) >= 10.0) & (np.maximum(size_a, size_b) <= 45.0)
    good &= np.isin(block_cls, ("residential", "commercial"))
    if fp.is_rect.sum() < 2:
        raise InputDataError("The sample city has too few rectangular footprints for its two IFC buildings; "
                             "use a larger size_m or the default n_buildings.")
    centres = shapely.centroid(fp.polygon)
    px, py = shapely.get_x(centres), shapely.get_y(centres)
    picks: list[int] = []
    for want, target in ((0, zones.centre), (1, None)):
        # Prefer a roomy footprint in the wanted district, then any rectangle there, then anywhere.
        for pool in (good & (district == want), fp.is_rect & (district == want), good, fp.is_rect):
            cand = np.setdiff1d(np.nonzero(pool)[0], picks)
            if len(cand):
                break
        if target is None:
            target = (float(np.median(px[cand])), float(np.median(py[cand])))
        picks.append(int(cand[np.argmin(np.hypot(px[cand] - target[0], py[cand] - target[1]))]))
    return picks


def _landuse(zones: _Zones, blocks: _Blocks) -> list[tuple[shapely.Geometry, str]]:
    """Land-use polygons tiling the domain without overlaps; the streets are what the blocks leave."""
    pieces: list[tuple[shapely.Geometry, str]] = []

    def add(geom: shapely.Geometry, cls: str) -> None:
        for part in shapely.get_parts(geom):
            if part.geom_type == "Polygon" and part.area > 0.0:
                pieces.append((part, cls))
            elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
                add(part, cls)

    add(zones.water, "water")
    add(zones.forest, "forest")
    add(zones.green, "park")
    for geom, cls in zip(blocks.polygon, blocks.cls):
        add(geom, cls)
    add(zones.urban.difference(shapely.union_all(blocks.polygon)), "road")
    return pieces


# ---------------------------------------------------------------------------------------------------
# Writing


def _write_layers(path: Path, buildings: _Buildings, river: _Channel, creek: _Channel, lake: dict,
                  landuse: list[tuple]) -> Path:
    layers = {
        "buildings": gpd.GeoDataFrame({
            "id": buildings.ids.astype(str),
            "height": buildings.height.astype(float),
            "storeys": buildings.storeys.astype(np.int32),
            "use": buildings.use.astype(str),
        }, geometry=list(buildings.footprints.polygon), crs=CRS),
        "rivers": gpd.GeoDataFrame({
            "name": [river.name, creek.name],
            "width": [round(river.width, 2), round(creek.width, 2)],
            "depth": [round(river.depth, 2), round(creek.depth, 2)],
        }, geometry=[river.line, creek.line], crs=CRS),
        "lakes": gpd.GeoDataFrame({
            "name": [lake["name"]], "bed": [lake["bed"]], "level": [lake["level"]],
        }, geometry=[lake["polygon"]], crs=CRS),
        "landuse": gpd.GeoDataFrame({"class": [cls for _, cls in landuse]},
                                    geometry=[geom for geom, _ in landuse], crs=CRS),
    }
    # GDAL stamps the GeoPackage's contents table with the current time unless told otherwise.
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _EPOCH_ISO + ".000Z"})
    try:
        with atomic_file(path) as tmp:
            tmp.unlink()  # GDAL creates the GeoPackage itself; an empty file is not one
            for name, frame in layers.items():
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    return path


def _river_ends(grid: _Grid, river: _Channel) -> dict[str, float]:
    """The inflow on the river's centre line 50 m in from the west edge, and the outlet 50 m from the east."""
    x, xo = grid.x0 + 50.0, grid.x0 + grid.size - 50.0
    return {"x": x, "y": float(np.interp(x, river.xy[:, 0], river.xy[:, 1])),
            "xo": xo, "yo": float(np.interp(xo, river.xy[:, 0], river.xy[:, 1]))}


def _write_scenario(path: Path, grid: _Grid, river: _Channel) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(_FLOOD_TOML.format(**_river_ends(grid, river), edge="east"), encoding="utf-8")
    return path


def _write_river_scenario(path: Path, grid: _Grid, river: _Channel, creek: _Channel, lake: dict) -> Path:
    # The spill a quarter of the way down the creek, upstream of the lake it drains through.
    sx, sy = creek.xy[len(creek.xy) // 4]
    text = _RIVER_TOML.format(**_river_ends(grid, river), lake=lake["name"], crest=lake["level"] + 0.05,
                              target=lake["level"] - 0.2, sx=float(sx), sy=float(sy))
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _water_points(grid: _Grid, river: _Channel, creek: _Channel) -> dict[str, tuple[float, float]]:
    """Where the water-supply nodes stand: the dam near the creek's head, the intake where the river
    enters, each environmental flow a little downstream of its source, the works, city, industry and
    farms at representative points inside the map."""
    def on(channel: _Channel, share: float) -> tuple[float, float]:
        x, y = channel.xy[int(share * (len(channel.xy) - 1))]
        return float(x), float(y)

    ends = _river_ends(grid, river)
    L = grid.size
    return {"r": on(creek, 0.05), "c": on(creek, 0.15), "i": (ends["x"], ends["y"]), "e": on(river, 0.12),
            "w": (grid.x0 + 0.3 * L, grid.y0 + 0.55 * L), "d": (grid.x0 + 0.5 * L, grid.y0 + 0.5 * L),
            "n": (grid.x0 + 0.8 * L, grid.y0 + 0.25 * L), "f": (grid.x0 + 0.2 * L, grid.y0 + 0.2 * L)}


def _write_ifc_folder(folder: Path, seed: int, grid: _Grid, z: np.ndarray,
                      buildings: _Buildings) -> tuple[Path, ...]:
    """Author the IFC buildings on their cadastre footprints and record where they were placed."""
    records, names = [], []
    with atomic_dir(folder, "sample-ifc") as tmp:
        for row, place, (_, floors, floor_h, label) in zip(buildings.ifc, buildings.placements, _IFC_SPECS):
            east, north, width, depth = place["eastings"], place["northings"], place["width"], place["depth"]
            # The ground the model stands on: the lowest DEM cell under its footprint, which is also
            # the base an ingest gives the cadastre footprint.
            ground = round(float(zonal_stat([buildings.footprints.polygon[row]], z, grid.transform)[0]), 2)
            bid = str(buildings.ids[row])
            name = f"{bid}-{label}.ifc"
            _ifc_building(tmp / name, seed=seed, building_id=bid, label=label, width=width, depth=depth,
                          storeys=floors, storey_height=floor_h, eastings=east, northings=north, height=ground,
                          angle=place["angle"])
            names.append(name)
            records.append({
                "file": name,
                "building_id": bid,
                "eastings": east,
                "northings": north,
                "height": ground,
                "rotation_deg": math.degrees(place["angle"]),
                "width": width,
                "depth": depth,
                "storeys": floors,
                "storey_height": floor_h,
                "total_height": round(floors * floor_h, 3),
                "footprint": np.round(shapely.get_coordinates(buildings.footprints.polygon[row].exterior)[:-1], 3),
            })
        write_json(tmp / "placements.json", {
            "crs": CRS,
            "note": ("Each IFC model's local origin is the footprint corner at (eastings, northings); its "
                     "local x axis points rotation_deg counter-clockwise from grid east; the building "
                     "spans [0, width] x [0, depth] in local x and y; height (the IfcMapConversion "
                     "OrthogonalHeight) is the lowest DEM cell under the footprint, to the centimetre."),
            "buildings": records,
        })
    return tuple(folder / name for name in names)


def _ifc_building(path: Path, *, seed: int, building_id: str, label: str, width: float, depth: float,
                  storeys: int, storey_height: float, eastings: float, northings: float, height: float,
                  angle: float) -> None:
    """An IFC4 box building: storeys with floor slabs and four walls each, a roof slab, georeferenced."""
    api = ifcopenshell.api
    f = api.project.create_file(version="IFC4")
    project = api.root.create_entity(f, ifc_class="IfcProject", name=f"cimtwin sample city: {label} {building_id}")
    # Units are assigned by hand: unit.assign_unit collects them through a set, whose order (and so the
    # file's bytes) would change from run to run.
    units = [api.unit.add_si_unit(f, unit_type=t) for t in ("LENGTHUNIT", "AREAUNIT", "VOLUMEUNIT", "PLANEANGLEUNIT")]
    project.UnitsInContext = f.createIfcUnitAssignment(units)
    model = api.context.add_context(f, context_type="Model")
    body = api.context.add_context(f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW",
                                   parent=model)
    site = api.root.create_entity(f, ifc_class="IfcSite", name="Sample city site")
    building = api.root.create_entity(f, ifc_class="IfcBuilding", name=building_id)
    building.LongName = f"Sample {label}"
    api.aggregate.assign_object(f, products=[site], relating_object=project)
    api.aggregate.assign_object(f, products=[building], relating_object=site)
    api.geometry.edit_object_placement(f, product=site, matrix=np.eye(4))
    api.geometry.edit_object_placement(f, product=building, matrix=np.eye(4))

    wall_t, slab_t = 0.25, 0.2
    outline = [(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth), (0.0, 0.0)]
    # Walls run counter-clockwise round the footprint; each profile lies left of its run, i.e. inside.
    runs = [((0.0, 0.0), 0.0, width), ((width, 0.0), 90.0, depth),
            ((width, depth), 180.0, width), ((0.0, depth), 270.0, depth)]
    for k in range(storeys):
        elevation = round(k * storey_height, 6)
        storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=f"Level {k}")
        storey.Elevation = elevation
        api.aggregate.assign_object(f, products=[storey], relating_object=building)
        api.geometry.edit_object_placement(f, product=storey, matrix=_placement(0.0, 0.0, elevation, 0.0))
        parts = []
        slab = api.root.create_entity(f, ifc_class="IfcSlab", predefined_type="FLOOR", name=f"Floor {k}")
        api.spatial.assign_container(f, products=[slab], relating_structure=storey)
        api.geometry.assign_representation(f, product=slab, representation=api.geometry.add_slab_representation(
            f, context=body, depth=slab_t, polyline=outline))
        parts.append((slab, _placement(0.0, 0.0, elevation, 0.0)))
        for j, ((x, y), turn, length) in enumerate(runs):
            wall = api.root.create_entity(f, ifc_class="IfcWall", predefined_type="SOLIDWALL", name=f"Wall {k}.{j}")
            api.spatial.assign_container(f, products=[wall], relating_structure=storey)
            api.geometry.assign_representation(f, product=wall, representation=api.geometry.add_wall_representation(
                f, context=body, length=length, height=storey_height, thickness=wall_t))
            parts.append((wall, _placement(x, y, elevation, turn)))
        if k == storeys - 1:
            roof = api.root.create_entity(f, ifc_class="IfcSlab", predefined_type="ROOF", name="Roof")
            api.spatial.assign_container(f, products=[roof], relating_structure=storey)
            api.geometry.assign_representation(f, product=roof, representation=api.geometry.add_slab_representation(
                f, context=body, depth=slab_t, polyline=outline))
            parts.append((roof, _placement(0.0, 0.0, storeys * storey_height - slab_t, 0.0)))
        for product, matrix in parts:
            api.geometry.edit_object_placement(f, product=product, matrix=matrix)

    api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name=CRS)
    api.georeference.edit_georeferencing(
        f,
        projected_crs={"Name": CRS, "Description": "CGCS2000 / 3-degree Gauss-Kruger CM 114E",
                       "GeodeticDatum": "CGCS2000", "MapProjection": "Gauss-Kruger", "MapZone": "CM 114E",
                       "MapUnit": units[0]},
        coordinate_operation={"Eastings": eastings, "Northings": northings, "OrthogonalHeight": height,
                              "XAxisAbscissa": math.cos(angle), "XAxisOrdinate": math.sin(angle), "Scale": 1.0},
    )
    _freeze(f, seed=seed, key=building_id, name=path.name)
    f.write(str(path))


def _placement(x: float, y: float, z: float, turn_deg: float) -> np.ndarray:
    """A 4x4 placement: a turn about the vertical, then a shift."""
    c, s = math.cos(math.radians(turn_deg)), math.sin(math.radians(turn_deg))
    m = np.eye(4)
    m[:2, :2] = np.round([[c, -s], [s, c]], 12)
    m[:3, 3] = (x, y, z)
    return m


def _freeze(f, *, seed: int, key: str, name: str) -> None:
    """Make an IFC file depend on the seed alone: GlobalIds, owner history, header and list order."""
    # One owner history with a fixed date for every rooted entity (the API would stamp "now").
    person = f.createIfcPerson(Identification="cimtwin", FamilyName="Sample", GivenName="City")
    org = f.createIfcOrganization(Identification="cimtwin", Name="cimtwin")
    user = f.createIfcPersonAndOrganization(person, org)
    app = f.createIfcApplication(org, "0.1", "cimtwin sample city generator", "cimtwin.sample")
    history = f.createIfcOwnerHistory(OwningUser=user, OwningApplication=app, State="READWRITE",
                                      ChangeAction="NOCHANGE", CreationDate=_EPOCH)
    for stale in f.by_type("IfcOwnerHistory"):
        if stale != history:
            for inverse in f.get_inverse(stale):
                inverse.OwnerHistory = history
            f.remove(stale)
    for k, entity in enumerate(sorted(f.by_type("IfcRoot"), key=lambda e: e.id())):
        digest = hashlib.sha256(f"cimtwin-sample:{seed}:{key}:{k}".encode()).hexdigest()[:32]
        entity.GlobalId = ifcopenshell.guid.compress(digest)
        entity.OwnerHistory = history
    # The API fills relationship lists from Python sets; order them by entity id.
    for rel in f.by_type("IfcRelAggregates"):
        rel.RelatedObjects = sorted(rel.RelatedObjects, key=lambda e: e.id())
    for rel in f.by_type("IfcRelContainedInSpatialStructure"):
        rel.RelatedElements = sorted(rel.RelatedElements, key=lambda e: e.id())
    f.header.file_name.name = name
    f.header.file_name.time_stamp = _EPOCH_ISO
    f.header.file_name.author = ("cimtwin",)
    f.header.file_name.organization = ("cimtwin",)
    f.header.file_name.authorization = "none"
