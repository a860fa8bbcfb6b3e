"""Coordinate reference systems: parsing and the twin's projected-in-metres rule."""

from __future__ import annotations

from typing import Any

import pyproj

from twin.errors import CRSError

__all__ = ["as_crs", "require_projected", "same_crs"]


def as_crs(value: Any, *, what: str = "CRS") -> pyproj.CRS:
    """Parse anything pyproj understands ("EPSG:4547", WKT, a rasterio/pyproj CRS) into a pyproj.CRS.

    Raises
    ------
    CRSError
        If the value is missing or not a CRS pyproj recognises.
    """
    if value is None:
        raise CRSError(f"{what} is missing. Give one explicitly, e.g. crs='EPSG:4547' (or --crs EPSG:4547).")
    if isinstance(value, pyproj.CRS):
        return value
    try:
        if hasattr(value, "to_wkt"):  # rasterio.crs.CRS and friends
            return pyproj.CRS.from_wkt(value.to_wkt())
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"{what} {value!r} is not a coordinate reference system pyproj recognises ({exc}). "
            "Use an EPSG code such as 'EPSG:4547' or a WKT string."
        ) from None


def require_projected(value: Any, *, what: str = "the twin's CRS") -> pyproj.CRS:
    """Return the CRS if it is projected with metre axes, else raise a CRSError saying what to use."""
    crs = as_crs(value, what=what)
    if not crs.is_projected:
        kind = "geographic (degrees)" if crs.is_geographic else "not projected"
        raise CRSError(
            f"{what} {crs.to_string()} is {kind}; the twin needs a projected CRS in metres so that cells "
            "are square and areas are true. Choose a projected CRS for the city, e.g. EPSG:4547 "
            "(CGCS2000 / 3-degree Gauss-Kruger CM 114E) for Guangzhou or the local UTM zone."
        )
    units = {(ax.unit_name or "").lower() for ax in crs.axis_info[:2]}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"{what} {crs.to_string()} has axis units {sorted(units)}; the twin needs metres. "
            "Pick the metre variant of the projection (e.g. not a US-feet State Plane zone)."
        )
    return crs


def same_crs(a: Any, b: Any) -> bool:
    """True when two CRSs describe the same system (ignoring names and axis-order metadata)."""
    ca, cb = as_crs(a), as_crs(b)
    return ca == cb or ca.equals(cb, ignore_axis_order=True)
