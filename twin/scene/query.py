"""What a scene page needs to answer a click anywhere on the ground: the result's grids, quantised.

The page receives the grids as integer arrays in its deflated payload (see :mod:`twin.scene.payload`):

========================  ==========  ==================================================
array                     dtype       content
========================  ==========  ==================================================
``q_depth``               uint16      maximum depth, mm (65535: no value)
``q_speed``               uint16      maximum speed, cm/s
``q_hazard``              uint16      maximum FD2320 hazard rating, x 100
``q_arrival``             uint32      first arrival, s (0xFFFFFFFF: never)
``q_ground``              int32       bed elevation the run used (edits applied), cm, as differences
                                      from the cell before (row after row; the page sums them)
``q_water``               uint8       1 on permanent water (rivers at their width, lakes)
``q_frames``              uint16      depth at each slider frame, cm, frame after frame
``q_speed_frames``        uint16      speed at each slider frame, cm/s (when the result has them)
========================  ==========  ==================================================

The maximum depth keeps millimetres (what ``max_depth.tif`` holds, to the float32's precision that
matters); the rest keep what the panel shows (two decimals), which deflates to about half: on the
demo's 500 x 500 grid with 13 frames the frames went from 1.09 MB to 0.54 MB (deflated).

Grids longer than :data:`QUERY_MAX_PIXELS` on a side are reduced by an integer factor (block maximum;
earliest arrival; mean ground), which the page reports with the answer.

The page finds the cell under the pointer without a projection library: a cubic polynomial, fitted
here with pyproj, maps lon/lat to the twin's CRS (:func:`lonlat_fit`; over a city its error is well
under a millimetre, recorded in ``error_m``), then the grid's affine transform gives the cell.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from twin.scene.payload import delta_encode
from twin.scene.raster import block_reduce

__all__ = ["QUERY_MAX_PIXELS", "NO_U16", "NO_U32", "lonlat_fit", "water_mask", "query_arrays", "quantise"]

#: Longest side of the query grids (a 4-million-cell grid is answered at 2 cells per value).
QUERY_MAX_PIXELS = 1024
NO_U16 = 65535
NO_U32 = 0xFFFFFFFF
_TERMS = [(i, j) for i in range(4) for j in range(4 - i)]  # u^i v^j up to degree 3


def quantise(values: np.ndarray, scale: float) -> np.ndarray:
    """``values * scale`` rounded to uint16, NaN (and negatives) as :data:`NO_U16` / 0, clipped below it."""
    v = np.asarray(values, dtype=np.float64) * scale
    out = np.where(np.isfinite(v), np.rint(np.clip(v, 0, NO_U16 - 1)), NO_U16)
    return out.astype(np.uint16).ravel()


def lonlat_fit(transform, shape: tuple[int, int], crs) -> dict[str, Any]:
    """A cubic polynomial from (lon, lat) to the twin's (x, y), fitted over the grid and a margin.

    Returns
    -------
    dict
        ``lon0``, ``lat0``, ``scale`` (u = (lon - lon0) * scale, v likewise), ``terms`` ([i, j] of
        u^i v^j), ``cx``, ``cy`` (coefficients), ``error_m`` (largest error on check points between
        the fitting points) and the grid's ``affine`` (a, b, c, d, e, f).
    """
    to_wgs84 = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    ny, nx = shape

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        c, r = np.meshgrid(np.linspace(-0.1 * nx, 1.1 * nx, n), np.linspace(-0.1 * ny, 1.1 * ny, n))
        return transform @ (c.ravel(), r.ravel())

    x, y = sample(9)
    lon, lat = to_wgs84.transform(x, y)
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    scale = 1.0 / max(float(np.ptp(lon)), float(np.ptp(lat)), 1e-12)

    def design(lo, la) -> np.ndarray:
        u, v = (np.asarray(lo) - lon0) * scale, (np.asarray(la) - lat0) * scale
        return np.column_stack([u**i * v**j for i, j in _TERMS])

    cx = np.linalg.lstsq(design(lon, lat), x - np.mean(x), rcond=None)[0]
    cy = np.linalg.lstsq(design(lon, lat), y - np.mean(y), rcond=None)[0]
    # the constant term carries the mean, so the fit works on small numbers
    cx[0] += np.mean(x)
    cy[0] += np.mean(y)
    xc, yc = sample(14)
    lonc, latc = to_wgs84.transform(xc, yc)
    a = design(lonc, latc)
    error = float(np.max(np.hypot(a @ cx - xc, a @ cy - yc)))
    return {
        "lon0": lon0,
        "lat0": lat0,
        "scale": scale,
        "terms": [list(t) for t in _TERMS],
        "cx": cx.tolist(),
        "cy": cy.tolist(),
        "error_m": error,
        "affine": [transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
    }


def water_mask(twin) -> np.ndarray:
    """Cells of permanent water: the twin's river cells (centre lines at their width) and lake cells.

    A twin-like object without ``river_mask`` / ``lake_mask`` has none.
    """
    water = np.zeros(np.shape(twin.terrain), dtype=bool)
    for name in ("river_mask", "lake_mask"):
        mask = getattr(twin, name, None)
        if mask is not None:
            water |= np.asarray(mask) != 0
    return water


def _reduce(values: np.ndarray, how: str) -> np.ndarray:
    if how == "min":
        return -block_reduce(-np.asarray(values, dtype=np.float64), QUERY_MAX_PIXELS, "max")[0]
    return block_reduce(values, QUERY_MAX_PIXELS, how)[0]


def query_arrays(
    result, ground: np.ndarray, water: np.ndarray, frame_indices: list[int]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The quantised grids (see the module docstring) and their description for the page.

    Parameters
    ----------
    result : flood result
        ``max_depth``, ``max_speed``, ``hazard``, ``arrival_time``; ``depth_frames`` (and optionally
        ``speed_frames``) of the same shape as the twin's grid.
    ground : ndarray
        The bed elevation the run used.
    water : ndarray of bool
        Permanent water (:func:`water_mask`).
    frame_indices : list of int
        The frames the slider shows, in order.
    """
    shape = np.shape(ground)
    factor = max(1, math.ceil(max(shape) / QUERY_MAX_PIXELS))

    never = np.isnan(np.asarray(getattr(result, "arrival_time", np.full(shape, np.nan)), dtype=np.float64))

    def grid(name: str) -> np.ndarray:
        value = getattr(result, name, None)
        if value is None:
            return np.full(shape, np.nan, np.float32)
        # never wet reads 0, as the result's files hold it (their nodata; twin.sims.flood.gis)
        return np.asarray(value) if name == "arrival_time" else np.where(never, 0, np.asarray(value))

    arrival = np.asarray(_reduce(grid("arrival_time"), "min"), dtype=np.float64)
    # unreduced, the bed keeps its float64 (block_reduce returns float32, which rounds some cm apart)
    bed = np.asarray(ground, dtype=np.float64) if factor == 1 else _reduce(ground, "mean")
    arrays = {
        "q_depth": quantise(_reduce(grid("max_depth"), "max"), 1000),
        "q_speed": quantise(_reduce(grid("max_speed"), "max"), 100),
        "q_hazard": quantise(_reduce(grid("hazard"), "max"), 100),
        "q_arrival": np.where(np.isfinite(arrival), np.rint(np.clip(arrival, 0, NO_U32 - 1)), NO_U32)
        .astype(np.uint32)
        .ravel(),
        "q_ground": delta_encode(np.rint(np.nan_to_num(bed, nan=0.0) * 100).ravel()),
        "q_water": (_reduce(water.astype(np.float32), "max") > 0).astype(np.uint8).ravel(),
    }
    reduced = arrival.shape
    frames = getattr(result, "depth_frames", None)
    if frames is not None and frame_indices:
        arrays["q_frames"] = np.concatenate([quantise(_reduce(frames[k], "max"), 100) for k in frame_indices])
    speeds = getattr(result, "speed_frames", None)
    if speeds is not None and frame_indices and np.shape(speeds)[1:] == shape:
        arrays["q_speed_frames"] = np.concatenate([quantise(_reduce(speeds[k], "max"), 100) for k in frame_indices])
    meta = {"nx": int(reduced[1]), "ny": int(reduced[0]), "factor": factor}
    return arrays, meta
