"""Points of the twin's CRS placed on the globe: Earth-centred (ECEF) and local east-north-up frames.

3D Tiles wants ECEF metres, which single precision cannot hold to better than about half a metre.
Every vertex is therefore carried through pyproj in float64 (projected -> geographic -> ECEF, so
the map projection's scale and grid convergence are undone exactly), expressed in an east-north-up
frame at its tile's centre, and only then cast to float32: within a tile of a few hundred metres
that keeps well under a millimetre. The tile's ``transform`` (float64 in the JSON) puts it back.

Elevations are taken as heights above the ellipsoid: cimtwin twins carry orthometric heights, so a
tileset sits the local geoid undulation (tens of metres in places) off a globe with ellipsoid
terrain; the buildings stand on the exported terrain tileset, which is placed the same way.
"""

from __future__ import annotations

import functools

import numpy as np
import pyproj

__all__ = ["to_ecef", "to_ecef_lonlat", "to_lonlat", "enu_frame", "to_local"]


@functools.lru_cache(maxsize=8)
def _geographic(crs_wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(crs_wkt), "EPSG:4326", always_xy=True)


_ECEF = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def to_lonlat(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude [degrees] of points of ``crs``."""
    lon, lat = _geographic(crs.to_wkt()).transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(lon), np.asarray(lat)


def to_ecef(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float64 ECEF metres of points of ``crs`` with elevations ``z`` [m]."""
    lon, lat = to_lonlat(crs, x, y)
    ex, ey, ez = _ECEF.transform(lon, lat, np.asarray(z, dtype=np.float64))
    return np.column_stack([ex, ey, ez])


def enu_frame(lon: float, lat: float, h: float) -> np.ndarray:
    """4x4 float64 matrix from the east-north-up frame at ``(lon, lat, h)`` to ECEF (column vectors)."""
    origin = to_ecef_lonlat(lon, lat, h)
    lam, phi = np.radians(lon), np.radians(lat)
    east = np.array([-np.sin(lam), np.cos(lam), 0.0])
    north = np.array([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
    up = np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = east, north, up, origin
    return m


def to_ecef_lonlat(lon: float, lat: float, h: float) -> np.ndarray:
    """ECEF metres of one geographic point."""
    return np.array(_ECEF.transform(lon, lat, h), dtype=np.float64)


def to_local(ecef: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float64 coordinates of ECEF points in ``frame`` (from :func:`enu_frame`)."""
    rot = frame[:3, :3]
    return (ecef - frame[:3, 3]) @ rot  # rot is orthonormal: its transpose inverts it
