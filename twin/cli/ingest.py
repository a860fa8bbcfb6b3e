"""``twin ingest``: a twin from a DEM, vector layers, rasters and IFC models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from twin.cli.options import (
    overwrite_option,
)
from twin.cli.report import print_twin, report_ifc


@click.command()
@click.option(
    "--dem",
    "dems",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Terrain raster (fixes the grid); repeat for tiles to mosaic.",
)
@click.option("--buildings", help="Building footprints (file or file::layer).")
@click.option("--rivers", help="River centre lines (file or file::layer).")
@click.option("--lakes", help="Lake polygons (file or file::layer).")
@click.option("--landuse", help="Land-use polygons with a class column (file or file::layer).")
@click.option(
    "--roads",
    help="Road centre lines with a class (highway, fclass, ...) and name (file or file::layer), or an OSMnx "
    "street graph saved as node-link JSON (street.json).",
)
@click.option(
    "--drainage-manholes",
    help="Sewer manholes (points: invert, rim; file or file::layer); written as the twin's drainage.inp.",
)
@click.option(
    "--drainage-pipes", help="Sewer pipes (lines: diameter, from/to node or ends on nodes; file or file::layer)."
)
@click.option("--drainage-outfalls", help="Sewer outfalls (points: invert; file or file::layer).")
@click.option(
    "--drainage-snap",
    type=float,
    default=1.0,
    show_default=True,
    help="Metres within which a pipe end without from/to node snaps to a node.",
)
@click.option(
    "--crs",
    help="The twin's projected CRS, e.g. EPSG:4547 (default: the DEM's if projected in metres, "
    "else CGCS2000 Gauss-Kruger in China and UTM elsewhere).",
)
@click.option("--dem-crs", help="The DEM's CRS when its file declares none.")
@click.option(
    "--layer-crs",
    "layer_crs",
    multiple=True,
    metavar="LAYER=CRS",
    help="CRS of a layer whose file declares none, e.g. rivers=EPSG:26910 (repeatable).",
)
@click.option("--resolution", type=float, help="Cell size in metres (default: the DEM's).")
@click.option("--bounds", metavar="XMIN,YMIN,XMAX,YMAX", help="Clip the twin to this box in its CRS.")
@click.option(
    "--resampling",
    default="bilinear",
    show_default=True,
    help="DEM resampling (bilinear, cubic, average, nearest ...).",
)
@click.option("--z-unit", help="The DEM's elevation unit when the file does not say (m, ft, 'US survey foot').")
@click.option(
    "--max-hole-cells", type=int, default=None, help="Largest DEM no-data hole to interpolate, in cells (default 2500)."
)
@click.option(
    "--landuse-table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV overriding the land-use table (class, manning, impervious, building_height_m, ...).",
)
@click.option("--landuse-column", help="The land-use class column (default: class, landuse, fclass, ...).")
@click.option("--height-column", help="The buildings' height column (default: height, height_m, ...).")
@click.option("--height-unit", default="m", show_default=True, help="Unit of plain-number heights (m or ft).")
@click.option("--storeys-column", help="The buildings' storey-count column (default: storeys, levels, floors, ...).")
@click.option("--storey-height", type=float, default=3.0, show_default=True, help="Metres per storey.")
@click.option(
    "--base-stat",
    type=click.Choice(["min", "mean"]),
    default="min",
    show_default=True,
    help="Building base from the DEM under the footprint.",
)
@click.option("--river-width-column", help="The rivers' width column [m] (default: width, width_m, ...).")
@click.option("--river-depth-column", help="The rivers' bank-full depth column [m] (default: depth, depth_m, ...).")
@click.option(
    "--raster",
    "raster_specs",
    multiple=True,
    metavar="NAME=PATH[:RESAMPLING]",
    help="A further raster onto the grid as a named layer, e.g. rain=rain.tif or lc=cover.tif:mode (repeatable).",
)
@click.option(
    "--ifc",
    "ifc_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="IFC building model (repeatable); replaces the GIS footprints it stands on.",
)
@click.option("--ifc-origin", help="E,N[,H] in --ifc-crs for IFC files without georeferencing.")
@click.option("--ifc-rotation", type=float, help="Rotation [degrees, counter-clockwise from east] of such files.")
@click.option("--ifc-crs", help="CRS of --ifc-origin (default: the twin's).")
@click.option(
    "--ifc-overlap",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of a GIS footprint an IFC building must cover to replace it.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Twin folder to write.")
@overwrite_option
def ingest(
    dems: tuple[Path, ...],
    buildings: str | None,
    rivers: str | None,
    lakes: str | None,
    landuse: str | None,
    roads: str | None,
    drainage_manholes: str | None,
    drainage_pipes: str | None,
    drainage_outfalls: str | None,
    drainage_snap: float,
    crs: str | None,
    dem_crs: str | None,
    layer_crs: tuple[str, ...],
    resolution: float | None,
    bounds: str | None,
    resampling: str,
    z_unit: str | None,
    max_hole_cells: int | None,
    landuse_table: Path | None,
    landuse_column: str | None,
    height_column: str | None,
    height_unit: str,
    storeys_column: str | None,
    storey_height: float,
    base_stat: str,
    river_width_column: str | None,
    river_depth_column: str | None,
    raster_specs: tuple[str, ...],
    ifc_files: tuple[Path, ...],
    ifc_origin: str | None,
    ifc_rotation: float | None,
    ifc_crs: str | None,
    ifc_overlap: float,
    out: Path,
    overwrite: bool,
) -> None:
    """Build a twin from a DEM, vector layers, rasters and IFC models, and save it."""
    from rasterio.enums import Resampling

    from ingest.vector import split_layer_path
    from twin import _io
    from twin.model.build import from_files

    def pairs(values: tuple[str, ...], option: str, example: str) -> dict[str, str]:
        out_: dict[str, str] = {}
        for value in values:
            name, sep, rest = value.partition("=")
            if not sep or not name.strip() or not rest.strip():
                raise click.BadParameter(f"write NAME=VALUE, e.g. {example}; got {value!r}", param_hint=option)
            out_[name.strip()] = rest.strip()
        return out_

    if bool(drainage_manholes) != bool(drainage_pipes) or (drainage_outfalls and not drainage_pipes):
        raise click.UsageError("a sewer network needs both --drainage-manholes and --drainage-pipes")
    layer_crs_map = pairs(layer_crs, "--layer-crs", "rivers=EPSG:26910")
    drainage_crs = {k: layer_crs_map.pop(k) for k in ("manholes", "pipes", "outfalls") if k in layer_crs_map}
    extras: dict[str, Any] = {}
    if bounds:
        try:
            box = tuple(float(v) for v in bounds.split(","))
        except ValueError:
            box = ()
        if len(box) != 4:
            raise click.BadParameter("write XMIN,YMIN,XMAX,YMAX in the twin's CRS", param_hint="--bounds")
        extras["bounds"] = box
    if max_hole_cells is not None:
        extras["max_hole_cells"] = max_hole_cells
    rasters: dict[str, Any] = {}
    for name, spec in pairs(raster_specs, "--raster", "rain=rain.tif").items():
        path, _, method = spec.rpartition(":")
        rasters[name] = (path, method) if path and method in Resampling.__members__ else spec
    _io.check_out(
        out,
        "twin",
        overwrite=overwrite,
        inputs=[
            *dems,
            buildings,
            rivers,
            lakes,
            landuse,
            roads,
            *(split_layer_path(p)[0] for p in (drainage_manholes, drainage_pipes, drainage_outfalls) if p),
            landuse_table,
            *ifc_files,
            *(r[0] if isinstance(r, tuple) else r for r in rasters.values()),
        ],
    )
    tw = from_files(
        list(dems),
        buildings=buildings,
        rivers=rivers,
        lakes=lakes,
        landuse=landuse,
        roads=roads,
        crs=crs,
        dem_crs=dem_crs,
        layer_crs=layer_crs_map,
        resolution=resolution,
        resampling=resampling,
        z_unit=z_unit,
        landuse_table=landuse_table,
        landuse_column=landuse_column,
        height_column=height_column,
        height_unit=height_unit,
        storeys_column=storeys_column,
        storey_height=storey_height,
        base_stat=base_stat,
        river_width_column=river_width_column,
        river_depth_column=river_depth_column,
        rasters=rasters,
        **extras,
    )
    if ifc_files:
        placement: dict[str, Any] = {}
        if ifc_origin:
            try:
                placement["origin"] = tuple(float(v) for v in ifc_origin.split(","))
            except ValueError:
                raise click.BadParameter(
                    "write E,N or E,N,H, e.g. 423500,2558700,6.5", param_hint="--ifc-origin"
                ) from None
            if len(ifc_files) > 1:
                raise click.BadParameter(
                    "one origin places one file; give one --ifc with --ifc-origin", param_hint="--ifc-origin"
                )
        if ifc_rotation is not None:
            placement["rotation"] = ifc_rotation
        if ifc_crs:
            placement["source_crs"] = ifc_crs
        report_ifc(tw.add_ifc(list(ifc_files), overlap=ifc_overlap, warn=False, **placement))
    sewer = None
    if drainage_manholes and drainage_pipes:
        from twin.sims.flood.drainage_layers import read_for_twin, write_twin_inp

        sewer = read_for_twin(
            tw,
            drainage_manholes,
            drainage_pipes,
            drainage_outfalls,
            layer_crs=drainage_crs,
            snap_tolerance=drainage_snap,
        )
    tw.save(out, overwrite=overwrite)
    if sewer is not None:
        write_twin_inp(sewer, out)
    click.echo(f"Twin saved to {out}\n")
    print_twin(tw.summary())
