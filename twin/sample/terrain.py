"""The sample city's ground: a river, a lake and a creek carved into hills, streets and ponds cut in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from rasterio.features import rasterize
from scipy import ndimage
from scipy.interpolate import RectBivariateSpline

from twin.sample.grid import FLAT, Grid, smoothstep

# ---------------------------------------------------------------------------------------------------
# Terrain


@dataclass
class Channel:
    """A channel's centre line, densely sampled, with its bed elevation at every sample."""

    name: str
    xy: np.ndarray  # (m, 2) world coordinates, upstream to downstream
    chain: np.ndarray  # (m,) distance along the line from its upstream end
    bed: np.ndarray  # (m,) bed elevation
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


def main_river(rng: np.random.Generator, grid: Grid) -> Channel:
    """A meandering river from the west edge to the east edge, bank-full level falling downstream."""
    L = grid.size
    v_in, v_out = L * (0.42 + rng.uniform(-0.03, 0.03)), L * (0.30 + rng.uniform(-0.03, 0.03))
    a1, k1, p1 = L * rng.uniform(0.03, 0.045), rng.uniform(1.0, 1.5), rng.uniform(0, 2 * np.pi)
    a2, k2, p2 = L * rng.uniform(0.008, 0.015), rng.uniform(2.5, 3.5), rng.uniform(0, 2 * np.pi)
    u = np.linspace(0.0, L, max(200, int(L / 5.0)) + 1)
    v = (
        v_in
        + (v_out - v_in) * u / L
        + a1 * np.sin(2 * np.pi * k1 * u / L + p1)
        + a2 * np.sin(2 * np.pi * k2 * u / L + p2)
    )
    xy, chain = _densify(np.c_[grid.x0 + u, grid.y0 + v], grid.cell / 3.0)
    width = min(rng.uniform(42.0, 55.0), 0.09 * L)
    depth = rng.uniform(3.0, 3.6)
    bank_in, bank_out = 3.6 + rng.uniform(-0.2, 0.2), 2.8 + rng.uniform(-0.2, 0.2)
    bank = bank_in + (bank_out - bank_in) * chain / chain[-1]
    return Channel("Main River", xy, chain, bank - depth, width, depth)


@dataclass
class _Fields:
    dist: np.ndarray  # distance of every cell from a channel's centre line (m)
    chain: np.ndarray  # chainage of the nearest point on the centre line (m)


def line_fields(grid: Grid, channel: Channel) -> _Fields:
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
    far = smoothstep((direct - 60.0) / 60.0)
    dist = (1.0 - far) * across + far * direct
    beyond = (chain < 0.0) | (chain > channel.chain[-1])
    dist[beyond] = direct[beyond]
    return _Fields(dist, np.clip(chain, 0.0, channel.chain[-1]))


def _noise(rng: np.random.Generator, grid: Grid, corr: float) -> np.ndarray:
    """Smooth noise of unit standard deviation with correlation length ``corr`` metres."""
    spacing = max(grid.cell, min(corr / 3.0, 10.0))
    m = int(np.ceil(grid.size / spacing)) + 1
    pad = int(np.ceil(3 * corr / spacing))
    white = rng.standard_normal((m + 2 * pad, m + 2 * pad))
    field = ndimage.gaussian_filter(white, corr / spacing)[pad : pad + m, pad : pad + m]
    field /= field.std()
    coarse = np.arange(m) * spacing
    spline = RectBivariateSpline(coarse, coarse, field)
    # Rows run north to south, so evaluate at the local northing of each row.
    return spline(grid.size - (grid.ys - grid.y0), grid.xs - grid.x0)[::-1]


def base_terrain(
    rng: np.random.Generator, grid: Grid, river: Channel, fields: _Fields, creek: Channel, creek_fields: _Fields
) -> tuple[np.ndarray, np.ndarray]:
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
    hills *= smoothstep((d - 0.5 * river.width - 50.0) / (0.2 * L))
    # Undulations fade out towards the river and the creek so that their beds fall steadily downstream.
    undulation = rng.uniform(0.6, 0.9) * _noise(rng, grid, 120.0) + 0.15 * _noise(rng, grid, 25.0)
    undulation *= smoothstep((d - 0.5 * river.width) / 250.0)
    undulation *= smoothstep((creek_fields.dist - 0.5 * creek.width) / 100.0)
    return bank + rise + hills + undulation, hills


def lake_and_creek(rng: np.random.Generator, grid: Grid, river: Channel) -> tuple[dict, Channel]:
    """A lake at the foot of the hills north of the river, and a creek from the hills through it to the river.

    Only their shapes: :func:`water_levels` sets the lake level and the creek bed once the ground exists.
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
    lake = {"name": "Sample Lake", "polygon": shapely.Polygon(np.round(outline, 3)), "depth": rng.uniform(2.5, 3.5)}
    # The creek comes down from the north edge between two hills.
    start = np.array([grid.x0 + L * rng.uniform(0.60, 0.66), grid.y0 + L])
    mid = np.array([start[0] + L * rng.uniform(-0.03, 0.03), 0.5 * (start[1] + centre[1])])
    junction_x = centre[0] + L * rng.uniform(0.02, 0.05)
    junction = np.array([junction_x, np.interp(junction_x, river.xy[:, 0], river.xy[:, 1])])
    xy, chain = _densify(np.array([start, mid, centre, junction]), grid.cell / 3.0)
    width, depth = rng.uniform(10.0, 14.0), rng.uniform(1.5, 2.0)
    creek = Channel("Lake Creek", xy, chain, np.full(len(xy), np.nan), width, depth)
    return lake, creek


def water_levels(grid: Grid, base: np.ndarray, river: Channel, lake: dict, creek: Channel) -> None:
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
    creek.bed[first_in : last_in + 1] = level - 1.0
    s = chain[last_in:]
    creek.bed[last_in:] = (level - 1.0) + (bank_junction - depth - (level - 1.0)) * (s - s[0]) / (s[-1] - s[0])


def _channel_surface(dist: np.ndarray, bed: np.ndarray, width: float, depth: float, wall: float) -> np.ndarray:
    """The surface a channel cuts: flat bed, half-cosine banks, then a valley wall rising at ``wall``."""
    r = dist / (0.5 * width)
    f = 0.5 * (1.0 + np.cos(np.pi * np.clip((r - FLAT) / (1.0 - FLAT), 0.0, 1.0)))
    return bed + depth * (1.0 - f) + wall * np.maximum(dist - 0.5 * width, 0.0)


def _inside(grid: Grid, polygon: shapely.Polygon) -> np.ndarray:
    """Cells whose centres lie in a polygon."""
    return rasterize([(polygon, 1)], out_shape=(grid.n, grid.n), transform=grid.transform, dtype=np.uint8).astype(bool)


def _signed_distance(grid: Grid, polygon: shapely.Polygon, reach: float) -> np.ndarray:
    """Distance to a polygon's outline, negative inside, for cells within ``reach`` of it (inf beyond).

    Exact distances (not a distance transform of the rasterised polygon) keep a shore carved from it
    free of the grid's staircase.
    """
    sd = np.full((grid.n, grid.n), np.inf)
    xmin, ymin, xmax, ymax = polygon.bounds
    r0, c0 = grid.index(xmin - reach, ymax + reach)
    r1, c1 = grid.index(xmax + reach, ymin - reach)
    X, Y = np.meshgrid(grid.xs[c0 : c1 + 1], grid.ys[r0 : r1 + 1])
    d = shapely.distance(polygon.exterior, shapely.points(X, Y))
    window = np.where(_inside(grid, polygon)[r0 : r1 + 1, c0 : c1 + 1], -d, d)
    sd[r0 : r1 + 1, c0 : c1 + 1] = window
    return sd


def carve(
    grid: Grid, base: np.ndarray, river: Channel, fields: _Fields, lake: dict, creek: Channel, creek_fields: _Fields
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the river channel, the creek's valley and the lake basin into the ground.

    Returns the ground and every cell's distance from the nearest channel bank or lake shore.
    """
    z = np.minimum(base, _channel_surface(fields.dist, river.bed_at(fields.chain), river.width, river.depth, 0.15))
    # The creek's valley walls (12 %) let it cut down through the hills without cliffs.
    z = np.minimum(
        z, _channel_surface(creek_fields.dist, creek.bed_at(creek_fields.chain), creek.width, creek.depth, 0.12)
    )
    # Beyond this reach the shore stands above the highest ground, so it need not be computed there.
    reach = 50.0 + (float(base.max()) - lake["level"]) / 0.1
    sd = _signed_distance(grid, lake["polygon"], reach)
    radius = math.sqrt(lake["polygon"].area / math.pi)
    ramp = min(40.0, 0.4 * radius)
    # Above the water the shore rises at 3 % for 40 m, then at 10 %, enough to meet any ground within
    # the distance field's reach.
    shore = np.where(
        sd < 0,
        lake["level"] - lake["depth"] * smoothstep(-sd / ramp),
        lake["level"] + 0.03 * sd + 0.1 * np.maximum(sd - 40.0, 0.0),
    )
    water_dist = np.minimum.reduce([fields.dist - 0.5 * river.width, creek_fields.dist - 0.5 * creek.width, sd])
    return np.minimum(z, shore), water_dist


def lake_bed(grid: Grid, z: np.ndarray, lake: dict) -> float:
    return round(float(z[_inside(grid, lake["polygon"])].min()), 2)


def streets_and_ponds(
    rng: np.random.Generator, grid: Grid, z: np.ndarray, landuse: list[tuple], water_dist: np.ndarray
) -> np.ndarray:
    """Lower the streets a kerb below the blocks and press a few closed dips (ponding spots) into them."""
    roads = [geom for geom, cls in landuse if cls == "road"]
    if not roads:
        return z
    street = rasterize(
        [(g, 1) for g in roads], out_shape=(grid.n, grid.n), transform=grid.transform, dtype=np.uint8
    ).astype(bool)
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
