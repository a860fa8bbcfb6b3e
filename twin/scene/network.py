"""Line networks for scenes: a river result's links by peak discharge, a terrain result's streams by order.

Everything here works on NumPy arrays and GeoDataFrames; :func:`twin.scene.city.network_scene` puts the
paths on the page.
"""

from __future__ import annotations

import math

import numpy as np

from twin.scene.raster import ColourClass, classify

__all__ = [
    "NO_VALUE_RGBA",
    "PIPE_CLASSES",
    "OVERFLOW_RGBA",
    "DRY_MANHOLE_RGBA",
    "NEWLY_OVERFLOWING_RGBA",
    "NO_LONGER_OVERFLOWING_RGBA",
    "colours_of",
    "network_classes",
]

# Yellow-green to dark blue (ColorBrewer YlGnBu): more water, darker line; readable on grey relief.
_RAMP = (
    (199, 233, 180, 255),
    (127, 205, 187, 255),
    (65, 182, 196, 255),
    (29, 145, 192, 255),
    (34, 94, 168, 255),
    (12, 44, 132, 255),
)
#: Colour of a link without a value (NaN).
NO_VALUE_RGBA = (150, 150, 150, 255)

#: Sewer pipes by peak flow over Manning full-bore capacity (``capacity_ratio``): blue with room to
#: spare, amber filling, orange nearly full, red surcharged (the flow needs more than the full pipe).
PIPE_CLASSES = (
    ColourClass(0.0, 0.5, (44, 123, 182, 255), "< 0.5 of capacity"),
    ColourClass(0.5, 0.8, (254, 196, 79, 255), "0.5 – 0.8"),
    ColourClass(0.8, 1.0, (240, 120, 40, 255), "0.8 – 1 (nearly full)"),
    ColourClass(1.0, math.inf, (200, 20, 30, 255), "> 1 (surcharged)"),
)
#: Manholes that put water onto the street, and those that did not.
OVERFLOW_RGBA = (230, 30, 160, 255)
DRY_MANHOLE_RGBA = (90, 90, 100, 200)
#: In a comparison: manholes overflowing in ``b`` and not in ``a`` (yellow, against the magenta of those
#: overflowing in both), and those overflowing in ``a`` only (green).
NEWLY_OVERFLOWING_RGBA = (255, 210, 0, 255)
NO_LONGER_OVERFLOWING_RGBA = (40, 170, 90, 255)


def network_classes(values: np.ndarray, unit: str, *, whole: bool = False) -> tuple[ColourClass, ...]:
    """Colour classes for the lines' values: round breaks (1, 2, 5 x 10^k) below the largest value,
    or one class per whole number (``whole``, e.g. Strahler order) up to the sixth.

    Parameters
    ----------
    values : ndarray
        The lines' values (NaN allowed).
    unit : str
        Appended to the labels (e.g. ``"m3/s"``); with ``whole``, put before the number
        (e.g. ``"order"``).
    whole : bool
        Values are whole numbers from 1.

    Returns
    -------
    tuple of ColourClass
        Contiguous classes from 0 (or 1) upwards, the last one open.
    """
    v = np.asarray(values, dtype=np.float64)
    top = float(np.nanmax(v)) if np.isfinite(v).any() else 1.0
    if whole:
        last = int(min(max(top, 1.0), len(_RAMP)))
        classes = [ColourClass(float(k), float(k + 1), _RAMP[k - 1], f"{unit} {k}") for k in range(1, last)]
        label = f"{unit} {last}" + (" and above" if top > last else "")
        return tuple(classes) + (ColourClass(float(last), math.inf, _RAMP[last - 1], label),)
    breaks = _round_breaks(top)
    edges = [0.0, *breaks, math.inf]
    colours = _RAMP[len(_RAMP) - len(breaks) - 1 :]
    classes = []
    for low, high, rgba in zip(edges[:-1], edges[1:], colours):
        label = f"> {low:g} {unit}" if math.isinf(high) else f"{low:g} – {high:g} {unit}"
        classes.append(ColourClass(low, high, rgba, label))
    return tuple(classes)


def colours_of(values: np.ndarray, classes: tuple[ColourClass, ...]) -> list[list[int]]:
    """The RGBA of each value's class (:data:`NO_VALUE_RGBA` for NaN)."""
    palette = [list(NO_VALUE_RGBA)] + [list(c.rgba) for c in classes]
    return [palette[k] for k in classify(np.asarray(values, dtype=np.float64), classes)]


def _round_breaks(top: float) -> list[float]:
    """Up to five of 1, 2, 5 x 10^k, the largest below ``top``."""
    if not top > 0:
        return []
    k = math.floor(math.log10(top))
    candidates = [m * 10.0**e for e in range(k - 3, k + 1) for m in (1, 2, 5)]
    return [c for c in candidates if c < top][-(len(_RAMP) - 1) :]
