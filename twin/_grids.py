"""Vector layers burned onto the twin's grid (the derived grids' building blocks)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import rasterio.features
import shapely
from affine import Affine


def burn(
    geoms: Iterable,
    values: Iterable[float] | float,
    shape: tuple[int, int],
    transform: Affine,
    *,
    fill: float = 0.0,
    dtype: str = "float64",
    all_touched: bool = False,
) -> np.ndarray:
    """Rasterise geometries with per-geometry values (later geometries win where they overlap)."""
    geoms = list(geoms)
    if np.isscalar(values):
        values = [values] * len(geoms)
    pairs = [(g, v) for g, v in zip(geoms, values) if g is not None and not g.is_empty]
    if not pairs:
        return np.full(shape, fill, dtype=dtype)
    return rasterio.features.rasterize(
        pairs, out_shape=shape, transform=transform, fill=fill, dtype=dtype, all_touched=all_touched
    )


def mask(geoms: Iterable, shape: tuple[int, int], transform: Affine, *, all_touched: bool = False) -> np.ndarray:
    """uint8 mask: 1 where a cell centre lies in any geometry (or any touched cell with ``all_touched``)."""
    return burn(geoms, 1, shape, transform, fill=0, dtype="uint8", all_touched=all_touched)


def buffered_lines(lines: Iterable, widths: Iterable[float], min_width: float) -> list:
    """Line centre lines buffered to their width (flat caps so reaches join without bulges)."""
    lines = np.asarray(list(lines), dtype=object)
    w = np.maximum(np.asarray(list(widths), dtype=float), min_width)
    return list(shapely.buffer(lines, w / 2.0, cap_style="flat", join_style="round"))
