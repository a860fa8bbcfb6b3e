"""Shared fixtures: the shared real-data folder and small hand-made twins."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

SHARED = Path(__file__).resolve().parents[2] / "shared"
CRS = "EPSG:4547"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: skipped when absent on a developer machine, a failure in CI."""
    data = SHARED / "data"
    if not data.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{data} is missing in CI; the real-data tests must run there.")
        pytest.skip(f"{data} not present (real-data tests need ../shared beside the checkout)")
    return data


def small_layers(x0: float = 423000.0, y0: float = 2560000.0, cell: float = 2.0, ny: int = 10, nx: int = 12):
    """A hand-made 10 x 12 grid with one of each layer kind, values chosen to be checked by hand."""
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0)
    terrain = np.arange(ny * nx, dtype=float).reshape(ny, nx) / 10.0
    # building covering cells rows 1-2, cols 1-3 (centres inside)
    b = gpd.GeoDataFrame(
        {"id": ["b1", "b2"], "base": [0.5, 3.0], "height": [10.0, 4.5], "source": ["gis", "ifc"],
         "storeys": [3, 1], "file": [None, "house.ifc"]},
        geometry=[shapely.box(x0 + 2, y0 - 6, x0 + 8, y0 - 2), shapely.box(x0 + 14, y0 - 14, x0 + 18, y0 - 10)],
        crs=CRS)
    rivers = gpd.GeoDataFrame({"name": ["r"], "width": [2.0], "depth": [1.5]},
                              geometry=[shapely.LineString([(x0, y0 - 17), (x0 + nx * cell, y0 - 17)])], crs=CRS)
    lakes = gpd.GeoDataFrame({"name": ["l"], "level": [1.25], "bed": [0.1]},
                             geometry=[shapely.box(x0 + 18, y0 - 8, x0 + 24, y0 - 2)], crs=CRS)
    landuse = gpd.GeoDataFrame({"class": ["road", "Park"]},
                               geometry=[shapely.box(x0, y0 - 20, x0 + 12, y0), shapely.box(x0 + 12, y0 - 20, x0 + 24, y0)],
                               crs=CRS)
    return transform, terrain, b, rivers, lakes, landuse


@pytest.fixture
def small_twin():
    from twin.model.twin import Twin

    transform, terrain, b, rivers, lakes, landuse = small_layers()
    return Twin(CRS, transform, terrain, buildings=b, rivers=rivers, lakes=lakes, landuse=landuse)
