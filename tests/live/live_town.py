"""A small bowl-shaped town under the sample storm (radar frames, gauges), for the live twin's tests (a
helper module, not a conftest: the suite's own conftest is imported by name from other folders)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

from twin.model.twin import Twin
from twin.sample.storm import RecordedStorm, recorded_storm

CRS = "EPSG:4547"
X0, Y0, DX, N = 423000.0, 2560000.0, 10.0, 30


def bowl_twin(lake_level: float | None = None) -> Twin:
    """30 x 30 cells of 10 m falling 1 % towards a bowl in the middle; buildings, a hospital, a school.

    With ``lake_level`` the bowl holds a lake at that level (a lake layer; its water from the start).
    """
    c = (np.arange(N) + 0.5) * DX
    xx, yy = np.meshgrid(c, c)
    r = np.hypot(xx - N * DX / 2, yy - N * DX / 2)
    terrain = 10.0 + 0.01 * r
    b = gpd.GeoDataFrame(
        {"id": ["b1", "b2", "b3"], "base": [10.2, 10.5, 10.9], "height": [9.0, 12.0, 6.0], "source": "gis"},
        geometry=[
            shapely.box(X0 + 165, Y0 - 140, X0 + 185, Y0 - 125),  # at the bowl's rim: floods
            shapely.box(X0 + 100, Y0 - 110, X0 + 115, Y0 - 95),
            shapely.box(X0 + 20, Y0 - 40, X0 + 40, Y0 - 20),  # up in a corner: stays dry
        ],
        crs=CRS,
    )
    vectors = {
        "hospitals": gpd.GeoDataFrame({"id": ["h1"]}, geometry=[shapely.Point(X0 + 150, Y0 - 160)], crs=CRS),
        "schools": gpd.GeoDataFrame(
            {"id": ["s1"]}, geometry=[shapely.box(X0 + 250, Y0 - 280, X0 + 270, Y0 - 260)], crs=CRS
        ),
    }
    lakes = None
    if lake_level is not None:
        lakes = gpd.GeoDataFrame(
            {"name": ["pond"], "level": [lake_level], "bed": [10.0]},
            geometry=[shapely.Point(X0 + 150, Y0 - 150).buffer(45)],
            crs=CRS,
        )
    return Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), terrain, buildings=b, lakes=lakes, vectors=vectors)


def config(**over) -> dict:
    base = {
        "base": {"kind": "flood", "duration": "1h", "infiltration": {"model": "none"}},
        "lead_times": ["30min", "1h"],
        "members": 3,
        "workers": 0,
    }
    return {**base, **over}


_STORMS: dict[str, RecordedStorm] = {}


def town_storm(factory: pytest.TempPathFactory) -> RecordedStorm:
    """The recorded storm over the bowl town (2 h, a 16 km radar of 250 m cells), made once per session."""
    if "town" not in _STORMS:
        _STORMS["town"] = recorded_storm(
            factory.mktemp("storm"), bowl_twin(), duration=7200.0, radar_size=16000.0, radar_cell=250.0
        )
    return _STORMS["town"]
