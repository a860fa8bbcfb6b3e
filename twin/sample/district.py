"""The built-in sample city: a synthetic district of central Guangzhou on the Pearl River delta.

:func:`city` writes a complete, self-consistent set of input files for a twin -- a DEM, a GeoPackage
with buildings, rivers, lakes and land use, two georeferenced IFC4 buildings, a flood, a river-lake and a water-supply
scenario (with 30 years of daily flows) --
all in EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E). Everything is drawn from one seed, so
the same seed always gives the same files (the DEM and the IFC files byte for byte).

The landscape, in the order it is built:

* a main river enters on the west edge and leaves on the east edge, meandering in a floodplain whose
  bank-full level falls gently downstream; its channel is carved into the DEM to the width and depth
  written in the ``rivers`` layer;
* hills of 40-60 m along the north edge (forest), cut by a creek that runs down into a lake at the
  foot of the hills, then on to the river;
* low ground of 2-8 m rising gently away from the river, with smooth undulations;
* two districts of street grids, one each side of the river and each rotated its own way, whose
  blocks hold the building footprints; streets lie a kerb lower than the blocks and hold a few closed
  dips where rain ponds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

from twin._io import atomic_file, check_out, write_geotiff, write_marker
from twin.sample.buildings import Buildings, make_blocks, make_buildings, make_landuse, make_zones
from twin.sample.grid import CRS, EPOCH_ISO, LANDUSE_CLASSES, NODATA, ORIGIN, Grid, check_count, check_seed, rng_for
from twin.sample.ifc import write_ifc_folder
from twin.sample.roads import make_roads
from twin.sample.scenarios import water_points, write_river_scenario, write_scenario
from twin.sample.sewer import write_sewer
from twin.sample.terrain import (
    Channel,
    base_terrain,
    carve,
    lake_and_creek,
    lake_bed,
    line_fields,
    main_river,
    streets_and_ponds,
    water_levels,
)
from twin.sample.water import write_water

__all__ = ["SampleCity", "city", "CRS", "ORIGIN", "NODATA", "LANDUSE_CLASSES"]


@dataclass(frozen=True)
class SampleCity:
    """The files of a generated sample city (all in :data:`CRS`).

    Attributes
    ----------
    root
        The folder holding everything below.
    dem
        ``root / "dem.tif"``: float32 terrain in metres, deflate-compressed and tiled.
    layers
        ``root / "city.gpkg"`` with layers ``buildings``, ``rivers``, ``lakes`` and ``landuse``.
    ifc
        The IFC4 building models under ``root / "ifc"``; ``root / "ifc" / "placements.json"`` records
        where each one was placed.
    scenario
        ``root / "flood.toml"``: a design storm plus a river flood wave.
    river_scenario
        ``root / "river.toml"``: the same storm and wave routed through the river, creek and lake for
        a day, with a pollutant spill on the creek.
    water_scenario
        ``root / "water.toml"``: the city's water supply (a reservoir in the hills, a river intake, the
        city, industry and farms) over 30 years of days, with its series in ``root / "water_flows.csv"``
        (see :mod:`twin.sample.water`).
    crs
        ``"EPSG:4547"``.
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the DEM.
    """

    root: Path
    dem: Path
    layers: Path
    ifc: tuple[Path, ...]
    scenario: Path
    crs: str
    bounds: tuple[float, float, float, float]
    river_scenario: Path
    water_scenario: Path

    @property
    def placements(self) -> Path:
        """``root / "ifc" / "placements.json"``: file, eastings, northings, height, rotation and size per IFC."""
        return self.root / "ifc" / "placements.json"


def city(
    path: str | os.PathLike, seed: int = 0, *, size_m: float = 2000.0, cell: float = 2.0, n_buildings: int | None = None
) -> SampleCity:
    """Write the sample city's files into ``path`` and return where they are.

    Parameters
    ----------
    path
        Output folder (created if missing): new, empty, or an earlier sample city, whose files are
        replaced (anything else is refused before any work, see :func:`twin._io.check_out`).
    seed
        Non-negative integer; the same seed gives the same files.
    size_m
        Side of the square domain in metres (at least 400).
    cell
        DEM cell size in metres; ``size_m / cell`` must be a whole number of at least 100 cells.
    n_buildings
        Number of building footprints; by default 550 per km2 (2,200 on the default 2 km city).

    Returns
    -------
    SampleCity
        The paths, CRS and bounds.

    Raises
    ------
    InputDataError
        A parameter is out of range, more buildings were asked for than the blocks can hold, or
        ``path`` is not a folder a sample city may be written to.

    Examples
    --------
    >>> sc = city("sample", seed=0)                     # doctest: +SKIP
    >>> sc.dem, sc.layers, sc.scenario                  # doctest: +SKIP
    """
    grid = Grid.make(size_m, cell)
    seed = check_seed(seed)
    n_target = check_count(n_buildings, grid)
    check_out(path, "sample-city")

    river = main_river(rng_for(seed, "river"), grid)
    lake, creek = lake_and_creek(rng_for(seed, "lake"), grid, river)
    fields, creek_fields = line_fields(grid, river), line_fields(grid, creek)
    base, hills = base_terrain(rng_for(seed, "terrain"), grid, river, fields, creek, creek_fields)
    water_levels(grid, base, river, lake, creek)
    z, water_dist = carve(grid, base, river, fields, lake, creek, creek_fields)

    zones = make_zones(grid, river, lake, creek, hills)
    blocks = make_blocks(rng_for(seed, "streets"), grid, river, lake, zones)
    buildings = make_buildings(seed, grid, blocks, zones, n_target)
    landuse = make_landuse(zones, blocks)
    roads = make_roads(blocks, zones, river)
    z = streets_and_ponds(rng_for(seed, "ponds"), grid, z, landuse, water_dist)
    lake["bed"] = lake_bed(grid, z, lake)

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    dem_path = write_geotiff(root / "dem.tif", z.astype(np.float32), grid.transform, CRS, nodata=NODATA)
    gpkg = _write_layers(root / "city.gpkg", buildings, river, creek, lake, landuse, roads)
    ifc_paths = write_ifc_folder(root / "ifc", seed, grid, z.astype(np.float32), buildings)
    sewer = write_sewer(root / "sewer.inp", grid, z, water_dist, buildings)
    scenario = write_scenario(root / "flood.toml", grid, river)
    river_scenario = write_river_scenario(root / "river.toml", grid, river, creek, lake)
    water_scenario = write_water(root, rng_for(seed, "water"), water_points(grid, river, creek))
    write_marker(
        root,
        "sample-city",
        [
            dem_path,
            gpkg,
            sewer,
            scenario,
            river_scenario,
            water_scenario,
            root / "water_flows.csv",
            *(root / "ifc").iterdir(),
        ],
    )
    return SampleCity(
        root=root,
        dem=dem_path,
        layers=gpkg,
        ifc=ifc_paths,
        scenario=scenario,
        crs=CRS,
        bounds=grid.bounds,
        river_scenario=river_scenario,
        water_scenario=water_scenario,
    )


# ---------------------------------------------------------------------------------------------------
# Writing


def _write_layers(
    path: Path,
    buildings: Buildings,
    river: Channel,
    creek: Channel,
    lake: dict,
    landuse: list[tuple],
    roads: list[tuple],
) -> Path:
    layers = {
        "buildings": gpd.GeoDataFrame(
            {
                "id": buildings.ids.astype(str),
                "height": buildings.height.astype(float),
                "storeys": buildings.storeys.astype(np.int32),
                "use": buildings.use.astype(str),
            },
            geometry=list(buildings.footprints.polygon),
            crs=CRS,
        ),
        "rivers": gpd.GeoDataFrame(
            {
                "name": [river.name, creek.name],
                "width": [round(river.width, 2), round(creek.width, 2)],
                "depth": [round(river.depth, 2), round(creek.depth, 2)],
            },
            geometry=[river.line, creek.line],
            crs=CRS,
        ),
        "lakes": gpd.GeoDataFrame(
            {
                "name": [lake["name"]],
                "bed": [lake["bed"]],
                "level": [lake["level"]],
            },
            geometry=[lake["polygon"]],
            crs=CRS,
        ),
        "landuse": gpd.GeoDataFrame(
            {"class": [cls for _, cls in landuse]}, geometry=[geom for geom, _ in landuse], crs=CRS
        ),
        "roads": gpd.GeoDataFrame(
            {
                "class": [r[1] for r in roads],
                "name": [r[2] for r in roads],
                "width": [round(r[3], 1) for r in roads],
                "bridge": [r[4] for r in roads],
            },
            geometry=[r[0] for r in roads],
            crs=CRS,
        ),
    }
    # GDAL stamps the GeoPackage's contents table with the current time unless told otherwise.
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": EPOCH_ISO + ".000Z"})
    try:
        with atomic_file(path) as tmp:
            tmp.unlink()  # GDAL creates the GeoPackage itself; an empty file is not one
            for name, frame in layers.items():
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    return path
