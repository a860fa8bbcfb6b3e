"""Shared fixtures: the shared real-data folder and small hand-made twins."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine

from twin.model.twin import Twin
from twin.sims.flood.scenario import Scenario

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
        {
            "id": ["b1", "b2"],
            "base": [0.5, 3.0],
            "height": [10.0, 4.5],
            "source": ["gis", "ifc"],
            "storeys": [3, 1],
            "file": [None, "house.ifc"],
        },
        geometry=[shapely.box(x0 + 2, y0 - 6, x0 + 8, y0 - 2), shapely.box(x0 + 14, y0 - 14, x0 + 18, y0 - 10)],
        crs=CRS,
    )
    rivers = gpd.GeoDataFrame(
        {"name": ["r"], "width": [2.0], "depth": [1.5]},
        geometry=[shapely.LineString([(x0, y0 - 17), (x0 + nx * cell, y0 - 17)])],
        crs=CRS,
    )
    lakes = gpd.GeoDataFrame(
        {"name": ["l"], "level": [1.25], "bed": [0.1]},
        geometry=[shapely.box(x0 + 18, y0 - 8, x0 + 24, y0 - 2)],
        crs=CRS,
    )
    landuse = gpd.GeoDataFrame(
        {"class": ["road", "Park"]},
        geometry=[shapely.box(x0, y0 - 20, x0 + 12, y0), shapely.box(x0 + 12, y0 - 20, x0 + 24, y0)],
        crs=CRS,
    )
    return transform, terrain, b, rivers, lakes, landuse


@pytest.fixture
def small_twin():
    from twin.model.twin import Twin

    transform, terrain, b, rivers, lakes, landuse = small_layers()
    return Twin(CRS, transform, terrain, buildings=b, rivers=rivers, lakes=lakes, landuse=landuse)


# ------------------------------------------------------------------ builders shared by several test modules

# from test_flood_run.py
X0, Y0, DX = 423000.0, 2560000.0, 5.0


def plane_twin(ny: int = 24, nx: int = 32, slope: float = 0.002) -> Twin:
    """A plane tilted down to the east with a pit, two buildings and a park/road land use."""
    transform = Affine(DX, 0, X0, 0, -DX, Y0)
    x = (np.arange(nx) + 0.5) * DX
    terrain = np.tile(5.0 - slope * x, (ny, 1))
    terrain[10:14, 8:12] -= 0.4  # a depression that ponds
    b = gpd.GeoDataFrame(
        {"id": ["b1", "b2"], "base": [5.0, 5.0], "height": [9.0, 12.0], "source": ["gis", "gis"]},
        geometry=[shapely.box(X0 + 60, Y0 - 40, X0 + 80, Y0 - 20), shapely.box(X0 + 100, Y0 - 90, X0 + 115, Y0 - 70)],
        crs=CRS,
    )
    lu = gpd.GeoDataFrame(
        {"class": ["road", "park"]},
        geometry=[
            shapely.box(X0, Y0 - ny * DX, X0 + nx * DX / 2, Y0),
            shapely.box(X0 + nx * DX / 2, Y0 - ny * DX, X0 + nx * DX, Y0),
        ],
        crs=CRS,
    )
    return Twin(CRS, transform, terrain, buildings=b, landuse=lu)


def flood_scenario(**over) -> Scenario:
    base = {
        "name": "test",
        "duration": 900,
        "output_interval": 300,
        "rain": {"hyetograph": [[0, 80.0], [600, 80.0], [601, 0.0]]},
        "inflow": [{"at": [X0 + 12.0, Y0 - 60.0], "hydrograph": [[0, 0.0], [300, 2.0], [900, 0.5]]}],
        "boundary": [
            {"edge": "east", "type": "free", "slope": 0.002},
            {"edge": "north", "type": "level", "level": [[0, 5.05], [900, 5.2]]},
        ],
        "infiltration": {"model": "green-ampt"},
        "drainage": {"capacity": 10.0},
        "gauge": [{"name": "pit", "at": [X0 + 50.0, Y0 - 60.0]}],
        "output": {"gauge_interval": 60},
        "numerics": {"dtype": "float64"},
    }
    base.update(over)
    return Scenario.from_dict(base)


def plane_variants() -> dict[str, Twin]:
    """Twins with the plane's DEM and buildings but other land use, a river or a lake."""
    land = plane_twin()
    land.landuse = gpd.GeoDataFrame({"class": ["park"]}, geometry=[shapely.box(X0, Y0 - 120, X0 + 160, Y0)], crs=CRS)
    river = plane_twin()
    river.rivers = gpd.GeoDataFrame(
        {"width": [6.0], "depth": [1.0]}, geometry=[shapely.LineString([(X0, Y0 - 100), (X0 + 160, Y0 - 100)])], crs=CRS
    )
    lake = plane_twin()
    lake.lakes = gpd.GeoDataFrame({"level": [5.2]}, geometry=[shapely.box(X0 + 5, Y0 - 115, X0 + 30, Y0 - 95)], crs=CRS)
    return {"land use": land, "rivers": river, "lakes": lake}


# from test_water.py
HAND_TOML = """
name = "hand"
start = 2021-01-01
end = 2021-01-07
step = "1d"
timeseries = "flows.csv"

[[node]]
name = "lake"
type = "reservoir"
at = [500100.0, 3000100.0]
capacity = 1728000.0        # 20 days of 1 m3/s
initial = 864000.0          # 10 days
inflow = "lake_in"
zones = { inactive = 0.1 }  # 2 days never released

[[node]]
name = "eflow"
type = "env_flow"
at = [500300.0, 3000100.0]
demand = 2.0

[[node]]
name = "town"
type = "demand"
use = "domestic"
at = [500100.0, 3000300.0]
demand = 5.0
priority = 1

[[node]]
name = "farm"
type = "demand"
use = "agricultural"
demand = 4.0
priority = 2

[[node]]
name = "mill"
type = "demand"
use = "industrial"
demand = 2.0
priority = 2

[[link]]
from = "lake"
to = "eflow"
river = true

[[link]]
from = "lake"
to = "town"
capacity = 10.0
loss = 0.1

[[link]]
from = "lake"
to = "farm"
capacity = 3.0

[[link]]
from = "lake"
to = "mill"
"""


INFLOW = [3.0, 0.0, 0.0, 10.0, 30.0, 40.0]


def write_hand(tmp_path, toml=HAND_TOML, inflow=INFLOW):
    (tmp_path / "hand.toml").write_text(toml)
    pd.DataFrame(
        {
            "date": pd.date_range("2021-01-01", periods=len(inflow)),
            "lake_in": inflow,
            "lake_dry": [0.5 * q for q in inflow],
        }
    ).to_csv(tmp_path / "flows.csv", index=False)
    return tmp_path / "hand.toml"


# from test_terrain.py
def valley_twin():
    """A 40 x 50 V-shaped valley sloping north, 5 m cells, a square building on the east slope."""
    import geopandas as gpd
    import shapely
    from affine import Affine

    from twin.model.twin import Twin

    ny, nx, cell = 40, 50, 5.0
    rows, cols = np.mgrid[0:ny, 0:nx]
    z = 100.0 + 0.02 * cell * rows + 0.1 * cell * np.abs(cols - 25)  # talweg along column 25
    x0, y0 = 423000.0, 2560000.0
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0)
    b = gpd.GeoDataFrame(
        {"id": ["b1"], "base": [0.0], "height": [200.0], "source": ["gis"]},
        geometry=[shapely.box(x0 + 30 * cell, y0 - 20 * cell, x0 + 34 * cell, y0 - 16 * cell)],
        crs="EPSG:4547",
    )
    return Twin("EPSG:4547", transform, z, buildings=b)


def surcharged_inp(c1: float = 0.3, c2: float = 0.1) -> str:
    """A two-pipe SWMM network (EPSG:25832) under a flat street at 12 m: 100 L/s of dry-weather flow at J1,
    a ``c1`` m pipe to J2, then a ``c2`` m pipe to the outfall; the 0.1 m pipe surcharges, so J2 (and J1
    behind it) overflow."""
    return _SURCHARGED_INP.format(c1=c1, c2=c2)


_SURCHARGED_INP = """[OPTIONS]
FLOW_UNITS LPS
FLOW_ROUTING DYNWAVE
ROUTING_STEP 0:00:02
START_DATE 01/01/2020
START_TIME 00:00:00
END_DATE 01/01/2020
END_TIME 01:00:00
[JUNCTIONS]
J1 10.0 2.0 0 10 0
J2 9.9 2.0 0 10 0
[OUTFALLS]
O1 9.8 FREE NO
[CONDUITS]
C1 J1 J2 50 0.013 0 0 0 0
C2 J2 O1 50 0.013 0 0 0 0
[XSECTIONS]
C1 CIRCULAR {c1:g} 0 0 0 1
C2 CIRCULAR {c2:g} 0 0 0 1
[DWF]
J1 FLOW 100
[COORDINATES]
J1 101 99
J2 151 99
O1 201 99
"""
