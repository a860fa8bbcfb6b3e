"""The sample city's frame: its CRS, origin and grid, the land-use classes, seeds and per-part random streams."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from affine import Affine

from twin.errors import InputDataError

CRS = "EPSG:4547"
#: Lower-left corner of the sample DEM (113.248 E, 23.120 N): central Guangzhou, where the real Pearl
#: River also runs west to east.
ORIGIN = (423000.0, 2558000.0)
#: The DEM's nodata tag. No cell holds it; it is set so that tools which add nodata agree on the value.
NODATA = -9999.0

# Every timestamp written (IFC header and owner history, GeoPackage contents) is this instant, so that
# the files depend on the seed alone: 2024-01-01T00:00:00Z.
EPOCH = 1704067200
EPOCH_ISO = "2024-01-01T00:00:00"

# Buildings per square kilometre by default: 2,200 on the 2 km x 2 km city, scaled with the area.
BUILDINGS_PER_KM2 = 550.0

# The flat bottom of a channel spans this fraction of its half-width; the banks are a half cosine.
FLAT = 0.3
LANDUSE_CLASSES = ("residential", "commercial", "industrial", "park", "forest", "water", "road", "agriculture")


# ---------------------------------------------------------------------------------------------------
# Parameters and the grid


@dataclass(frozen=True)
class Grid:
    x0: float
    y0: float
    size: float
    cell: float
    n: int

    @classmethod
    def make(cls, size_m: float, cell: float) -> Grid:
        size_m, cell = float(size_m), float(cell)
        if not (math.isfinite(size_m) and size_m >= 400.0):
            raise InputDataError(
                f"size_m={size_m} is too small for the sample city; use at least 400 m "
                "(the river, lake and hills need room), e.g. size_m=600."
            )
        if not (math.isfinite(cell) and cell > 0):
            raise InputDataError(f"cell={cell} must be a positive cell size in metres, e.g. cell=2.0.")
        n = round(size_m / cell)
        if abs(n * cell - size_m) > 1e-6 * size_m or n < 100:
            raise InputDataError(
                f"size_m={size_m} / cell={cell} must be a whole number of at least 100 cells; "
                f"pick e.g. cell={size_m / max(100, round(size_m / cell)):g}."
            )
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


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputDataError(f"seed={seed!r} must be a non-negative integer, e.g. seed=0.")
    return int(seed)


def check_count(n_buildings: int | None, grid: Grid) -> int:
    if n_buildings is None:
        return max(20, round(BUILDINGS_PER_KM2 * (grid.size / 1000.0) ** 2))
    if isinstance(n_buildings, bool) or not isinstance(n_buildings, (int, np.integer)) or n_buildings < 2:
        raise InputDataError(
            f"n_buildings={n_buildings!r} must be an integer of at least 2 (the IFC "
            "buildings need two footprints), or None for the default density."
        )
    return int(n_buildings)


def rng_for(seed: int, part: str) -> np.random.Generator:
    # One independent stream per part of the city, so that changing how (say) buildings are drawn
    # does not move the river.
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


def smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
