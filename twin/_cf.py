"""CF-1.8 pieces shared by every NetCDF a result writes: projected x/y coordinates and the grid mapping."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyproj import CRS

__all__ = ["global_attrs", "grid_mapping", "point_xy", "xy_coords"]


def xy_coords(transform: Any, shape: tuple[int, int]) -> dict[str, Any]:
    """Cell-centre ``x`` and ``y`` coordinates of a north-up grid, as xarray ``(dim, values, attrs)``."""
    ny, nx = shape
    x = transform.c + (np.arange(nx) + 0.5) * transform.a
    y = transform.f + (np.arange(ny) + 0.5) * transform.e
    return {
        "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate", "axis": "X"}),
        "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate", "axis": "Y"}),
    }


def grid_mapping(crs: Any) -> dict[str, Any]:
    """The attributes of a CF grid-mapping variable for ``crs`` (with the WKT GDAL and QGIS read)."""
    crs = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    return {**crs.to_cf(), "spatial_ref": crs.to_wkt()}


def global_attrs(title: str, summary: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The global attributes of a result's NetCDF: CF-1.8, its title, cimtwin's version as the source,
    the scenario's hash (from the result's ``summary``) and ``extra``."""
    import twin as _pkg

    attrs = {"Conventions": "CF-1.8", "title": title, "source": f"cimtwin {_pkg.__version__}"}
    if summary is not None:
        attrs["scenario_hash"] = summary.get("scenario_hash", "")
    return {**attrs, **extra}


def point_xy(dim: str, x: Any, y: Any, what: str) -> dict[str, Any]:
    """Projected ``x`` and ``y`` auxiliary coordinates along ``dim`` (e.g. a link's midpoint), as xarray
    ``(dim, values, attrs)``; ``what`` completes their long names ("x of the link's midpoint")."""
    return {
        "x": (
            dim,
            np.asarray(x),
            {"units": "m", "standard_name": "projection_x_coordinate", "long_name": f"x of {what}"},
        ),
        "y": (
            dim,
            np.asarray(y),
            {"units": "m", "standard_name": "projection_y_coordinate", "long_name": f"y of {what}"},
        ),
    }
