"""No-data markers a DEM uses without declaring them, and elevations no terrain on Earth has.

A DEM whose file declares no nodata value may still mark its gaps with a conventional number (-9999,
-32768, the float32 minimum, ...). Read as elevations, those cells are pits kilometres deep. A value
counts as such a marker only where it cannot be terrain: in metres it lies outside
:data:`PLAUSIBLE_ELEVATION_M`, or it lies further from the rest of the DEM than the rest spans (and at
least :data:`_MIN_GAP_M`), e.g. -9999 in a DEM in centimetres around 10 to 50 m. Zero is never one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.windows import Window

__all__ = ["SENTINELS", "PLAUSIBLE_ELEVATION_M", "Sentinel", "scan_window", "find_sentinel", "implausible"]

#: Markers recognised when a file declares none: the GIS conventions, the int16 and uint16 extremes and
#: the float32 extremes (exact, and as 3.4e38 as some software writes them).
SENTINELS = (
    -9999.0,
    -99999.0,
    -32768.0,
    -32767.0,
    65535.0,
    float(np.finfo(np.float32).min),
    float(np.finfo(np.float32).max),
    -3.4e38,
    3.4e38,
)

#: Elevations (metres) terrain can have: the Dead Sea shore is at -430 m, Everest at 8,849 m.
PLAUSIBLE_ELEVATION_M = (-500.0, 9000.0)

# a marker must lie at least this far (metres) beyond the rest of the DEM when it is a plausible elevation
_MIN_GAP_M = 100.0
# cells scanned at a time, so a DEM larger than memory is scanned in strips
_STRIP_CELLS = 16_000_000


@dataclass(frozen=True)
class Sentinel:
    """An undeclared no-data marker: its value (in the file's type), how many cells hold it, the range
    of the other elevations (metres) and the marker's elevation read as one."""

    value: float
    cells: int
    rest_m: tuple[float, float] | None
    as_elevation_m: float


def _candidates(dtype: np.dtype) -> list[float]:
    """The markers this data type can hold exactly, as the file stores them."""
    out = []
    for value in SENTINELS:
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            if value == int(value) and info.min <= value <= info.max:
                out.append(float(value))
        elif np.issubdtype(dtype, np.floating):
            with np.errstate(over="ignore"):
                stored = dtype.type(value)
            if np.isfinite(stored):
                out.append(float(stored))
    return sorted(set(out))


def scan_window(transform: Affine, shape: tuple[int, int], bounds: tuple[float, float, float, float]) -> Window:
    """The window of a raster (``transform``, ``shape``) holding ``bounds`` (in its CRS), 2 cells wider
    for the resampling kernel; empty when ``bounds`` miss it, whole when they cannot be placed."""
    full = Window(0, 0, shape[1], shape[0])
    left, bottom, right, top = bounds
    c0, r0 = ~transform @ (left, top)
    c1, r1 = ~transform @ (right, bottom)
    if not np.all(np.isfinite((c0, r0, c1, r1))):
        return full
    col0, row0 = max(int(np.floor(min(c0, c1))) - 2, 0), max(int(np.floor(min(r0, r1))) - 2, 0)
    col1, row1 = min(int(np.ceil(max(c0, c1))) + 2, shape[1]), min(int(np.ceil(max(r0, r1))) + 2, shape[0])
    if col1 <= col0 or row1 <= row0:
        return Window(0, 0, 0, 0)  # the grid does not reach this file
    return Window(col0, row0, col1 - col0, row1 - row0)


def find_sentinel(ds, band: int, window: Window, to_metres: tuple[float, float]) -> Sentinel | None:
    """The undeclared no-data marker in ``window`` of ``ds`` (a file declaring no nodata), or None.

    ``to_metres`` is ``(scale, offset)``: elevation in metres = stored value * scale + offset. Where
    several markers occur, the one in the most cells is returned (any other left in an impossible
    elevation is then refused by :func:`implausible`).
    """
    dtype = np.dtype(ds.dtypes[band - 1])
    candidates = _candidates(dtype)
    if not candidates:
        return None
    counts = dict.fromkeys(candidates, 0)
    lo, hi = np.inf, -np.inf
    col0, row0, width, height = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
    step = max(1, _STRIP_CELLS // max(width, 1))
    for r in range(row0, row0 + height, step):
        block = ds.read(band, window=Window(col0, r, width, min(step, row0 + height - r)))
        with np.errstate(invalid="ignore"):
            bmin, bmax = float(np.fmin.reduce(block, axis=None)), float(np.fmax.reduce(block, axis=None))
        if np.isnan(bmin):
            continue  # a strip of NaN only
        inside = [value for value in candidates if bmin <= value <= bmax]
        if not inside:
            # the usual case, a strip without markers: two reductions, no comparison per marker
            lo, hi = min(lo, bmin), max(hi, bmax)
            continue
        rest = np.isfinite(block) if np.issubdtype(dtype, np.floating) else np.ones(block.shape, bool)
        for value in inside:
            hit = block == value
            n = int(np.count_nonzero(hit))
            if n:
                counts[value] += n
                rest &= ~hit
        if rest.any():
            lo, hi = min(lo, float(block[rest].min())), max(hi, float(block[rest].max()))
    scale, offset = to_metres
    found = []
    rest_m = tuple(sorted((lo * scale + offset, hi * scale + offset))) if hi >= lo else None
    for value, n in counts.items():
        if not n:
            continue
        z = value * scale + offset
        if _impossible(z, rest_m):
            found.append(Sentinel(value, n, rest_m, z))
    return max(found, key=lambda s: s.cells) if found else None


def _impossible(z: float, rest_m: tuple[float, float] | None) -> bool:
    """True when elevation ``z`` cannot be terrain: off Earth's range, or far off the rest of the DEM."""
    low, high = PLAUSIBLE_ELEVATION_M
    if not low <= z <= high or rest_m is None:
        return True
    gap = rest_m[0] - z if z < rest_m[0] else z - rest_m[1]
    return gap > max(_MIN_GAP_M, rest_m[1] - rest_m[0])


def implausible(grid: np.ndarray) -> tuple[int, float, float, tuple[int, int]] | None:
    """Cells of ``grid`` (metres, NaN = no data) outside :data:`PLAUSIBLE_ELEVATION_M`: their count, the
    most frequent such value, the most extreme one and the row and column of one of them; None if none."""
    if np.isnan(grid).all():
        return None
    low, high = PLAUSIBLE_ELEVATION_M
    if low <= float(np.nanmin(grid)) and float(np.nanmax(grid)) <= high:
        return None
    with np.errstate(invalid="ignore"):
        bad = (grid < low) | (grid > high)
    values = grid[bad]
    uniq, n = np.unique(values, return_counts=True)
    extreme = float(values[np.argmax(np.abs(values))])
    row, col = (int(v[0]) for v in np.nonzero(bad))
    return int(bad.sum()), float(uniq[np.argmax(n)]), extreme, (row, col)
