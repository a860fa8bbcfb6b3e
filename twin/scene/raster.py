"""Rasters for scenes: shaded relief, classed flood images and their PNG encoding.

Everything here works on NumPy arrays; the scene decides where the images go.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from twin.sims.flood.exposure import HAZARD_CLASSES as HAZARD_BOUNDS

__all__ = [
    "ColourClass",
    "stepped_classes",
    "depth_classes",
    "arrival_classes",
    "speed_classes",
    "HAZARD_CLASSES",
    "hillshade",
    "classify",
    "block_reduce",
    "png_grey",
    "png_classes",
]


@dataclass(frozen=True)
class ColourClass:
    """One class of a classed colour scale: values in [lower, upper) get ``rgba``."""

    lower: float
    upper: float
    rgba: tuple[int, int, int, int]
    label: str


# Every class colour is opaque: a legend swatch is then exactly the colour on the map (a
# translucent class blended over the relief shows as another colour than its swatch, which is
# how "low" hazard came out khaki next to a pale yellow swatch).
# Depth: one sequential blue scale (ColorBrewer Blues), light to dark; a single hue that
# darkens stays ordered for every kind of colour vision.
_DEPTH_STEPS = (0.15, 0.3, 0.5, 1.0, 2.0)
_DEPTH_RGBA = (
    (198, 219, 239, 255),
    (158, 202, 225, 255),
    (107, 174, 214, 255),
    (49, 130, 189, 255),
    (8, 81, 156, 255),
    (8, 40, 100, 255),
)

# Colours and legend labels of the Defra / EA FD2320 hazard classes (yellow, orange, red,
# dark red-purple, as in the FD2320 hazard maps; they also step down in lightness, so they
# stay apart without red-green vision); the class bounds come from twin.sims.flood.exposure
# so that the scene and the result agree.
_HAZARD_STYLE = {
    "low": ((255, 230, 100, 255), "Low: caution"),
    "moderate": ((245, 150, 40, 255), "Moderate: danger for some"),
    "significant": ((210, 40, 30, 255), "Significant: danger for most"),
    "extreme": ((110, 0, 70, 255), "Extreme: danger for all"),
}

# Arrival time: viridis (dark purple first, the water that comes soonest, to yellow).
_ARRIVAL_STEPS_S = (900.0, 1800.0, 3600.0, 7200.0)
_ARRIVAL_RGBA = (
    (68, 1, 84, 255),
    (59, 82, 139, 255),
    (33, 145, 140, 255),
    (94, 201, 98, 255),
    (253, 231, 37, 255),
)
# Speed: a sequential purple-orange scale (magma), pale for slow water, dark for fast.
_SPEED_STEPS = (0.25, 0.5, 1.0, 2.0)
_SPEED_RGBA = (
    (252, 253, 191, 255),
    (254, 176, 120, 255),
    (241, 96, 93, 255),
    (183, 55, 121, 255),
    (81, 18, 124, 255),
)


def _hazard_classes() -> tuple[ColourClass, ...]:
    classes, lower = [], 0.0
    for upper, name in HAZARD_BOUNDS:
        rgba, label = _HAZARD_STYLE[name]
        classes.append(ColourClass(lower, float(upper), rgba, label))
        lower = float(upper)
    return tuple(classes)


#: Flood hazard rating classes (HR = d (v + 0.5) + DF) with their colours.
HAZARD_CLASSES = _hazard_classes()


def _metres(value: float) -> str:
    return f"{value:g} m"


def stepped_classes(
    lower: float, steps: tuple[float, ...], colours: tuple[tuple[int, int, int, int], ...]
) -> tuple[ColourClass, ...]:
    """Contiguous classes from ``lower`` up through ``steps`` to infinity, labelled in metres.

    Steps at or below ``lower`` are dropped, and the darkest end of ``colours`` (one more
    colour than steps) is kept, so a higher ``lower`` still ends on the strongest colour.
    """
    edges = [lower] + [e for e in steps if e > lower] + [math.inf]
    kept = colours[len(colours) - (len(edges) - 1) :]
    classes = []
    for low, high, rgba in zip(edges[:-1], edges[1:], kept):
        label = f"> {_metres(low)}" if math.isinf(high) else f"{low:g} – {_metres(high)}"
        classes.append(ColourClass(low, high, rgba, label))
    return tuple(classes)


def depth_classes(depth_min: float) -> tuple[ColourClass, ...]:
    """Classes of the flood depth scale, starting at ``depth_min`` (m).

    Parameters
    ----------
    depth_min : float
        Depths below this are not drawn (treated as dry); must be positive.

    Returns
    -------
    tuple of ColourClass
        Upper class bounds at 0.15, 0.3, 0.5, 1 and 2 m, those above ``depth_min``.
    """
    return stepped_classes(depth_min, _DEPTH_STEPS, _DEPTH_RGBA)


def _minutes(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def arrival_classes() -> tuple[ColourClass, ...]:
    """Classes of the arrival time scale (s): under 15 min, 15-30 min, 30 min-1 h, 1-2 h, over 2 h."""
    edges = [0.0, *_ARRIVAL_STEPS_S, math.inf]
    classes = []
    for low, high, rgba in zip(edges[:-1], edges[1:], _ARRIVAL_RGBA):
        label = f"< {_minutes(high)}" if low == 0 else f"> {_minutes(low)}" if math.isinf(high) else ""
        label = label or f"{_minutes(low)} – {_minutes(high)}"
        classes.append(ColourClass(low, high, rgba, label))
    return tuple(classes)


def speed_classes() -> tuple[ColourClass, ...]:
    """Classes of the maximum speed scale (m/s), from 0 (wet cells only; the scene masks dry ones)."""
    edges = [0.0, *_SPEED_STEPS, math.inf]
    classes = []
    for low, high, rgba in zip(edges[:-1], edges[1:], _SPEED_RGBA):
        label = f"> {low:g} m/s" if math.isinf(high) else f"{low:g} – {high:g} m/s"
        classes.append(ColourClass(low, high, rgba, label))
    return tuple(classes)


def hillshade(
    terrain: np.ndarray,
    dx: float,
    dy: float,
    *,
    azimuth: float = 315.0,
    altitude: float = 45.0,
    exaggeration: float = 1.0,
) -> np.ndarray:
    """Shaded relief of a north-up elevation grid, as 8-bit brightness.

    Slopes by central differences (one-sided at the edges, via ``np.gradient``); the
    illumination is Lambertian from ``azimuth`` (degrees clockwise from north) and
    ``altitude`` (degrees above the horizon). Non-finite cells come out mid-grey.

    Parameters
    ----------
    terrain : ndarray, shape (ny, nx)
        Elevations in metres; row 0 is the northern edge.
    dx, dy : float
        Cell sizes in metres (positive).
    azimuth, altitude : float
        Sun position in degrees.
    exaggeration : float
        Vertical exaggeration applied to the slopes.

    Returns
    -------
    ndarray of uint8, shape (ny, nx)
    """
    z = np.asarray(terrain, dtype=np.float64)
    finite = np.isfinite(z)
    if not finite.all():
        z = np.where(finite, z, np.nanmean(z) if finite.any() else 0.0)
    if min(z.shape) < 2:
        return np.full(z.shape, 200, dtype=np.uint8)
    dz_drow, dz_dcol = np.gradient(z * exaggeration, dy, dx)
    # Row index grows southwards, so the northward slope is the negated row derivative.
    dz_east, dz_north = dz_dcol, -dz_drow
    az = math.radians(azimuth)
    alt = math.radians(altitude)
    sun = np.array([math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)])
    norm = np.sqrt(dz_east**2 + dz_north**2 + 1.0)
    shade = (-dz_east * sun[0] - dz_north * sun[1] + sun[2]) / norm
    # Flat ground maps to a light grey so that overlays stay readable on top of it.
    grey = 60.0 + 180.0 * np.clip(shade, 0.0, 1.0) / sun[2] * 0.85
    grey = np.where(finite, grey, 200.0)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def classify(values: np.ndarray, classes: tuple[ColourClass, ...], mask: np.ndarray | None = None) -> np.ndarray:
    """Class index of every cell: 0 below the first class, NaN or masked, else 1 + class.

    Parameters
    ----------
    values : ndarray
    classes : tuple of ColourClass
        Contiguous classes in increasing order.
    mask : ndarray of bool, optional
        Cells to leave out (index 0) whatever their value.

    Returns
    -------
    ndarray of uint8, same shape as ``values``
    """
    v = np.asarray(values, dtype=np.float64)
    edges = np.array([c.lower for c in classes[1:]])
    index = np.searchsorted(edges, v, side="right").astype(np.uint8) + 1
    out = ~np.isfinite(v) | (v < classes[0].lower)
    if mask is not None:
        out |= mask
    index[out] = 0
    return index


def block_reduce(values: np.ndarray, max_pixels: int, how: str = "max") -> tuple[np.ndarray, int]:
    """Shrink a grid by an integer factor so its longer side is at most ``max_pixels``.

    Parameters
    ----------
    values : ndarray, shape (ny, nx)
    max_pixels : int
        Longest side of the result.
    how : {"max", "mean"}
        Block statistic. The maximum keeps thin flow paths in depth images (a mean or a
        subsample would erase them); the mean suits elevations. NaN counts as absent.

    Returns
    -------
    reduced : ndarray of float32, shape (ceil(ny / factor), ceil(nx / factor))
        The last row and column of blocks may be partial (padded with NaN before reducing).
    factor : int
        Cells per output pixel along each axis (1: ``values`` returned as float32).
    """
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', got {how!r}")
    ny, nx = values.shape
    factor = max(1, math.ceil(max(ny, nx) / max_pixels))
    if factor == 1:
        return np.asarray(values, dtype=np.float32), 1
    py, px = (-ny) % factor, (-nx) % factor
    padded = np.pad(np.asarray(values, dtype=np.float32), ((0, py), (0, px)), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    absent = np.isnan(blocks)
    count = (~absent).sum(axis=(1, 3))
    if how == "max":
        out = np.max(np.where(absent, -np.inf, blocks), axis=(1, 3))
    else:
        out = np.where(absent, 0.0, blocks).sum(axis=(1, 3)) / np.maximum(count, 1)
    out = out.astype(np.float32)
    out[count == 0] = np.nan
    return out, factor


def png_grey(grey: np.ndarray, *, levels: int = 64) -> bytes:
    """Encode an 8-bit grey image as PNG, quantised to ``levels`` grey levels.

    Quantising relief to 64 levels is invisible under the overlays and roughly halves
    the PNG, which matters for a 4-million-cell page.
    """
    step = 256 // levels
    quantised = (grey // step) * step + step // 2
    return _png(Image.fromarray(quantised.astype(np.uint8), mode="L"))


def png_classes(index: np.ndarray, classes: tuple[ColourClass, ...]) -> bytes:
    """Encode a class-index image (see :func:`classify`) as a palette PNG.

    Index 0 is fully transparent; index ``k`` has the colour and opacity of
    ``classes[k - 1]``.
    """
    image = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8), mode="P")
    palette = [0, 0, 0]
    alpha = [0]
    for cls in classes:
        palette.extend(cls.rgba[:3])
        alpha.append(cls.rgba[3])
    image.putpalette(palette)
    image.info["transparency"] = bytes(alpha)
    return _png(image, transparency=bytes(alpha))


def _png(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    # compress_level 6: level 9 is 3-5x slower for a few per cent on these images.
    image.save(buffer, format="PNG", compress_level=6, **params)
    return buffer.getvalue()
