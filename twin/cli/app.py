"""The ``twin`` command line: demo, ingest, run, scene, info."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from twin.cli.options import (
    FolderIn,
    allow_path_option,
    cli_warnings,
    one_line,
    out_option,
    overwrite_option,
    quiet_option,
    twin_option,
)
from twin.errors import TwinError


class _Group(click.Group):
    """Turns cimtwin's own errors into one clear line and exit code 2 instead of a traceback; warnings
    are one line each too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with cli_warnings():
                return super().invoke(ctx)
        except TwinError as exc:
            click.secho(f"error: {one_line(str(exc))}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cimtwin")
def main() -> None:
    """cimtwin: a City Information Model engine (BIM + GIS twin, flood and water simulations)."""


@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder for the sample city, its twin and the results.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample city generator.")
@click.option("--size", "size_m", type=float, default=2000.0, show_default=True, help="Side of the city [m].")
@click.option("--cell", type=float, default=2.0, show_default=True, help="DEM cell size [m].")
@click.option("--resolution", type=float, default=4.0, show_default=True,
              help="The twin's cell size [m]; the 2 m DEM is resampled so the 2-hour storm runs in about a minute.")
def demo(out: Path, seed: int, size_m: float, cell: float, resolution: float) -> None:
    """Build the sample city, ingest it into a twin, run the design-storm flood and write the scene,
    route the storm through the river and lake, then run 30 years of the city's water supply."""
    from twin import _io, sample
    from twin.model.build import from_files
    from twin.model.twin import Twin
    from twin.sims.runs import run

    for sub, kind in (("city", "sample-city"), ("twin", "twin"), ("result", "flood"), ("river", "river"), ("water", "water")):
        _io.check_out(out / sub, kind)
    click.echo(f"Generating the sample city (seed {seed}, {size_m:g} m at {cell:g} m) in {out / 'city'} ...")
    city = sample.city(out / "city", seed=seed, size_m=size_m, cell=cell)
    click.echo("Ingesting it into a twin ...")
    tw = from_files(city.dem, buildings=f"{city.layers}::buildings", rivers=f"{city.layers}::rivers",
                    lakes=f"{city.layers}::lakes", landuse=f"{city.layers}::landuse", resolution=resolution)
    click.echo(f"Importing {len(city.ifc)} IFC building models ...")
    _report_ifc(tw.add_ifc(city.ifc, warn=False))
    tw.save(out / "twin")
    tw = Twin.load(out / "twin")
    click.echo(f"Twin saved to {out / 'twin'}\n")
    _print_twin(tw.summary())
    click.echo(f"\nRunning the flood scenario {city.scenario.name} ...")
    result = run(tw, city.scenario, out=out / "result")
    click.echo(f"Result saved to {out / 'result'}\n")
    _print_result(result.summary)
    click.echo(f"\nRouting the same storm through the river, creek and lake ({city.river_scenario.name}) ...")
    river = run(tw, city.river_scenario, out=out / "river", progress=False)
    s = river.summary
    spill = s["pollutants"][0] if s.get("pollutants") else None
    click.echo(f"River-lake result saved to {out / 'river'}: peak {s['max_peak_discharge_m3s']:.1f} m3/s, water "
               f"balance error {s['mass_balance_error']:.1e}"
               + (f"; {spill['outflow_kg']:.1f} of {spill['mass_kg']:.0f} kg of {spill['name']} left by the river "
                  "within the day" if spill else ""))
    _demo_water(tw, city.water_scenario, out / "water")
    click.echo(f"\nOpen the scene (works offline): {(out / 'result' / 'scene.html').resolve()}")


def _demo_water(tw: Any, scenario: Path, out: Path) -> None:
    """The demo's last part: the sample's 30 years of water supply, with its plot when matplotlib is there."""
    from twin.cli.water import report_water
    from twin.errors import InputDataError
    from twin.sims.runs import run

    click.echo(f"\nAllocating the city's water supply over 30 years of days ({scenario.name}) ...")
    water = run(tw, scenario, out=out)
    report_water(water)
    try:
        from twin.sims.water.plot import plot_water

        click.echo(f"Water result saved to {out}; storage and shortages in {plot_water(water, out / 'water.png')}")
    except InputDataError as exc:  # matplotlib is optional: the result is complete without the picture
        click.echo(f"Water result saved to {out} (no plot: {exc})")


@main.command()
@click.option("--dem", "dems", required=True, multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Terrain raster (fixes the grid); repeat for tiles to mosaic.")
@click.option("--buildings", help="Building footprints (file or file::layer).")
@click.option("--rivers", help="River centre lines (file or file::layer).")
@click.option("--lakes", help="Lake polygons (file or file::layer).")
@click.option("--landuse", help="Land-use polygons with a class column (file or file::layer).")
@click.option("--crs", help="The twin's projected CRS, e.g. EPSG:4547 (default: the DEM's if projected in metres, "
                            "else CGCS2000 Gauss-Kruger in China and UTM elsewhere).")
@click.option("--dem-crs", help="The DEM's CRS when its file declares none.")
@click.option("--layer-crs", "layer_crs", multiple=True, metavar="LAYER=CRS",
              help="CRS of a layer whose file declares none, e.g. rivers=EPSG:26910 (repeatable).")
@click.option("--resolution", type=float, help="Cell size in metres (default: the DEM's).")
@click.option("--bounds", metavar="XMIN,YMIN,XMAX,YMAX", help="Clip the twin to this box in its CRS.")
@click.option("--resampling", default="bilinear", show_default=True,
              help="DEM resampling (bilinear, cubic, average, nearest ...).")
@click.option("--z-unit", help="The DEM's elevation unit when the file does not say (m, ft, 'US survey foot').")
@click.option("--max-hole-cells", type=int, default=None,
              help="Largest DEM no-data hole to interpolate, in cells (default 2500).")
@click.option("--landuse-table", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV overriding the land-use table (class, manning, impervious, building_height_m, ...).")
@click.option("--landuse-column", help="The land-use class column (default: class, landuse, fclass, ...).")
@click.option("--height-column", help="The buildings' height column (default: height, height_m, ...).")
@click.option("--height-unit", default="m", show_default=True, help="Unit of plain-number heights (m or ft).")
@click.option("--storeys-column", help="The buildings' storey-count column (default: storeys, levels, floors, ...).")
@click.option("--storey-height", type=float, default=3.0, show_default=True, help="Metres per storey.")
@click.option("--base-stat", type=click.Choice(["min", "mean"]), default="min", show_default=True,
              help="Building base from the DEM under the footprint.")
@click.option("--river-width-column", help="The rivers' width column [m] (default: width, width_m, ...).")
@click.option("--river-depth-column", help="The rivers' bank-full depth column [m] (default: depth, depth_m, ...).")
@click.option("--raster", "raster_specs", multiple=True, metavar="NAME=PATH[:RESAMPLING]",
              help="A further raster onto the grid as a named layer, e.g. rain=rain.tif or lc=cover.tif:mode (repeatable).")
@click.option("--ifc", "ifc_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="IFC building model (repeatable); replaces the GIS footprints it stands on.")
@click.option("--ifc-origin", help="E,N[,H] in --ifc-crs for IFC files without georeferencing.")
@click.option("--ifc-rotation", type=float, help="Rotation [degrees, counter-clockwise from east] of such files.")
@click.option("--ifc-crs", help="CRS of --ifc-origin (default: the twin's).")
@click.option("--ifc-overlap", type=float, default=0.5, show_default=True,
              help="Share of a GIS footprint an IFC building must cover to replace it.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Twin folder to write.")
@overwrite_option
def ingest(dems: tuple[Path, ...], buildings: str | None, rivers: str | None, lakes: str | None,
           landuse: str | None, crs: str | None, dem_crs: str | None, layer_crs: tuple[str, ...],
           resolution: float | None, bounds: str | None, resampling: str, z_unit: str | None,
           max_hole_cells: int | None, landuse_table: Path | None, landuse_column: str | None,
           height_column: str | None, height_unit: str, storeys_column: str | None, storey_height: float,
           base_stat: str, river_width_column: str | None, river_depth_column: str | None,
           raster_specs: tuple[str, ...], ifc_files: tuple[Path, ...], ifc_origin: str | None,
           ifc_rotation: float | None, ifc_crs: str | None, ifc_overlap: float, out: Path, overwrite: bool) -> None:
    """Build a twin from a DEM, vector layers, rasters and IFC models, and save it."""
    from rasterio.enums import Resampling

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
    _io.check_out(out, "twin", overwrite=overwrite,
                  inputs=[*dems, buildings, rivers, lakes, landuse, landuse_table, *ifc_files,
                          *(r[0] if isinstance(r, tuple) else r for r in rasters.values())])
    tw = from_files(list(dems), buildings=buildings, rivers=rivers, lakes=lakes, landuse=landuse, crs=crs,
                    dem_crs=dem_crs, layer_crs=pairs(layer_crs, "--layer-crs", "rivers=EPSG:26910"),
                    resolution=resolution, resampling=resampling, z_unit=z_unit, landuse_table=landuse_table,
                    landuse_column=landuse_column, height_column=height_column, height_unit=height_unit,
                    storeys_column=storeys_column, storey_height=storey_height, base_stat=base_stat,
                    river_width_column=river_width_column, river_depth_column=river_depth_column,
                    rasters=rasters, **extras)
    if ifc_files:
        placement: dict[str, Any] = {}
        if ifc_origin:
            try:
                placement["origin"] = tuple(float(v) for v in ifc_origin.split(","))
            except ValueError:
                raise click.BadParameter("write E,N or E,N,H, e.g. 423500,2558700,6.5", param_hint="--ifc-origin") from None
            if len(ifc_files) > 1:
                raise click.BadParameter("one origin places one file; give one --ifc with --ifc-origin",
                                         param_hint="--ifc-origin")
        if ifc_rotation is not None:
            placement["rotation"] = ifc_rotation
        if ifc_crs:
            placement["source_crs"] = ifc_crs
        _report_ifc(tw.add_ifc(list(ifc_files), overlap=ifc_overlap, warn=False, **placement))
    tw.save(out, overwrite=overwrite)
    click.echo(f"Twin saved to {out}\n")
    _print_twin(tw.summary())


@main.command("run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@twin_option(required=False, help="Twin folder (from `twin ingest` or `twin demo`); a water scenario runs "
                                   "without one.")
@out_option()
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue from the checkpoint beside --out (flood).")
@click.option("--stop-at", type=float, help="Stop at this simulated time [s] with a checkpoint (flood; resume later).")
@click.option("--threads", type=int, help="Threads for the kernels (default: all cores).")
@click.option("--no-scene", is_flag=True, help="Do not write scene.html (flood).")
@quiet_option
@allow_path_option
def run_cmd(scenario: Path, twin_dir: Path | None, out: Path, overwrite: bool, resume: bool, stop_at: float | None,
            threads: int | None, no_scene: bool, quiet: bool, allowed_paths: tuple[Path, ...]) -> None:
    """Run a scenario file on a twin and write the result folder; its `kind` (flood, river, water,
    terrain or a registered one) picks the simulation."""
    from twin.sims.runs import load_scenario

    given = {"resume": True if resume else None, "stop_at": stop_at, "scene": False if no_scene else None}
    result = run_scenario(load_scenario(scenario, allowed_paths=allowed_paths), scenario, twin_dir, out, overwrite,
                  threads, progress=not quiet, **{k: v for k, v in given.items() if v is not None})
    if result is None:
        click.echo(f"Stopped at t = {stop_at:g} s; checkpoint {out}.checkpoint.npz. Continue with --resume.")
        return
    click.echo(f"Result saved to {out}\n")
    _print_result(result.summary)


def run_scenario(sc: Any, source: Path | None, twin_dir: Path | None, out: Path, overwrite: bool,
                 threads: int | None, **options: Any) -> Any:
    """Run the validated scenario ``sc`` through its kind (what ``twin run`` and its aliases share)."""
    from twin import _io
    from twin.model.twin import Twin
    from twin.sims.kinds import CLI_OPTIONS, get_kind, kinds
    from twin.sims.runs import run

    kind = get_kind(sc.kind)
    refused = [k for k in options if k != "progress" and k not in kind.options]
    if refused:
        takers = sorted(n for n, k in kinds().items() if set(refused) <= set(k.options)) or ["other"]
        raise click.UsageError(f"the options {' and '.join(CLI_OPTIONS[k] for k in refused)} apply to "
                               f"{' and '.join(takers)} runs; {source} is a {sc.kind} scenario.")
    if twin_dir is None and kind.needs_twin:
        raise click.UsageError(f"a {sc.kind} scenario runs on a twin; give --twin TWIN_DIR.")
    if threads:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    _io.check_out(out, sc.kind, inputs=[source, twin_dir], overwrite=overwrite)
    return run(Twin.load(twin_dir) if twin_dir is not None else None, sc, out=out, overwrite=overwrite, **options)


#: Old spellings of ``twin terrain`` options and the scenario's words they stand for.
_TERRAIN_OLD = {"none": "ignore"}


@main.command()
@click.argument("twin_dir", type=FolderIn())
@out_option("Folder for the rasters and streams.gpkg.")
@overwrite_option
@click.option("--threshold-cells", "--threshold", "threshold_cells", type=int, default=100, show_default=True,
              help="Cells draining through a cell for it to be a stream (scenario key threshold_cells; "
                   "--threshold is the deprecated spelling).")
@click.option("--buildings", "buildings", type=click.Choice(["block", "ignore", "none"]), default="block",
              show_default=True, help="Buildings block flow (water goes around them), or are ignored "
                                      "('none' is the deprecated spelling of 'ignore').")
@click.option("--depressions", type=click.Choice(["fill", "breach"]), default="fill", show_default=True,
              help="Fill depressions, or breach them through thin barriers (what cannot be breached is filled).")
@click.option("--breach-max-depth", type=float, default=None, help="Deepest cut a breach may make [m] (default: unlimited).")
@click.option("--breach-max-length", type=int, default=50, show_default=True, help="Longest breach [cells].")
@click.option("--flats", type=click.Choice(["epsilon", "resolve"]), default="epsilon", show_default=True,
              help="Drain flats by an epsilon gradient, or towards lower / away from higher ground.")
@click.option("--culverts", help="Vector layer of the twin with culvert/bridge lines burned through embankments.")
@click.option("--weights", type=click.Choice(["impervious"]), help="Also accumulate this grid (weighted_accumulation).")
@click.option("--dinf", is_flag=True, help="Also D-infinity angles and accumulation (Tarboton 1997).")
def terrain(twin_dir: Path, out: Path, overwrite: bool, threshold_cells: int, buildings: str, depressions: str,
            breach_max_depth: float | None, breach_max_length: int, flats: str, culverts: str | None,
            weights: str | None, dinf: bool) -> None:
    """Terrain hydrology: filled DEM, D8 directions, accumulation, watersheds, streams, HAND.

    The same as `twin run` of a scenario with kind = "terrain" and these keys (the options are the
    scenario's keys: --threshold-cells is threshold_cells, --buildings ignore is buildings = "ignore").
    """
    from twin.sims.runs import load_scenario

    if breach_max_depth is not None and breach_max_depth == float("inf"):
        breach_max_depth = None  # the older default: unlimited
    sc = load_scenario({"kind": "terrain", "threshold_cells": threshold_cells,
                        "buildings": _TERRAIN_OLD.get(buildings, buildings), "depressions": depressions,
                        "breach_max_depth": breach_max_depth, "breach_max_length": breach_max_length,
                        "flats": flats, "culverts": culverts, "weights": weights, "dinf": dinf})
    s = run_scenario(sc, None, twin_dir, out, overwrite, None, progress=False).summary
    click.echo(f"Terrain analysis written to {out}: {s['watersheds']} watersheds, {s['stream_links']} stream links "
               f"(threshold {threshold_cells} cells), max accumulation {s['max_accumulation_cells']:.0f} cells")


@main.command()
@click.argument("result_dir", type=FolderIn())
@twin_option(required=False, help="Twin folder (default: the one recorded in the result's summary).")
@click.option("--out", type=click.Path(path_type=Path), help="HTML file (default: RESULT_DIR/scene.html).")
def scene(result_dir: Path, twin_dir: Path | None, out: Path | None) -> None:
    """Write the offline 3D scene (HTML) of a flood, river or terrain result.

    A flood result shows its depth, hazard and buildings; a river result its links coloured by
    peak discharge; a terrain result its streams coloured by Strahler order.
    """
    from twin.errors import InputDataError
    from twin.model.twin import Twin
    from twin.sims.runs import load_result

    summary = json.loads((result_dir / "summary.json").read_text()) if (result_dir / "summary.json").is_file() else {}
    if summary.get("kind") == "water" or (result_dir / "allocation.nc").is_file():
        raise InputDataError(f"{result_dir} holds a water result, which has no map: its shortages are in "
                             "shortages.csv and the flows in allocation.nc (twin water --plot draws storage and "
                             "shortages); `twin scene` draws flood, river and terrain results.")
    twin_dir = twin_dir or (Path(summary["twin"]) if summary.get("twin") else None)
    if twin_dir is None or not Path(twin_dir).is_dir():
        raise InputDataError(f"The twin of {result_dir} is not known or has moved; pass --twin TWIN_DIR.")
    result = load_result(result_dir, twin=Twin.load(twin_dir))
    path = result.scene().to_html(out or result_dir / "scene.html", title=result.scene_title())
    click.echo(f"Scene written to {path}")


@main.command()
@click.argument("path", type=FolderIn())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(path: Path, as_json: bool) -> None:
    """Describe a twin folder (CRS, grid, layers) or a result folder (summary)."""
    if (path / "twin.json").is_file():
        from twin.model.twin import Twin

        summary = Twin.load(path).summary()
        click.echo(json.dumps(summary, indent=2)) if as_json else _print_twin(summary)
    elif (path / "summary.json").is_file():
        from twin import _io

        # checked, not loaded (a flood's depth.nc can be large): the figures shown are the ones the run wrote
        _io.verify_dir(path)
        summary = json.loads((path / "summary.json").read_text())
        click.echo(json.dumps(summary, indent=2)) if as_json else _print_result(summary)
    else:
        raise click.UsageError(f"{path} is neither a twin folder (twin.json) nor a result folder (summary.json).")


def _report_ifc(report: Any) -> None:
    for f in report.files:
        click.echo(f"  {Path(str(f.get('file', ''))).name}: {f.get('buildings', '')} building(s), "
                   f"placed by {f.get('georef_method', '?')}, {f.get('seconds', 0):.2f} s")
    for gis_ids in report.replaced.values():
        if gis_ids:
            click.echo(f"  replaces GIS footprint(s) {', '.join(gis_ids)}")
    for w in report.warnings:
        click.secho(f"  warning: {w}", fg="yellow")


def _print_twin(s: dict[str, Any]) -> None:
    from twin._grid_text import grid_text

    g = s["grid"]
    click.echo(f"CRS      {s['crs']}  ({s['crs_name']})")
    click.echo(f"Grid     {grid_text(g['cols'], g['rows'], g['cell_size_m'])} = {g['area_km2']:.2f} km2")
    b = g["bounds"]
    click.echo(f"Extent   x {b[0]:.1f} .. {b[2]:.1f}   y {b[1]:.1f} .. {b[3]:.1f}")
    t = s["terrain"]
    click.echo(f"Terrain  {t['min']:.2f} .. {t['max']:.2f} m (mean {t['mean']:.2f} m)")
    for name, e in s["layers"].items():
        extra = ""
        if "by_source" in e:
            extra = "  (" + ", ".join(f"{k}: {v}" for k, v in e["by_source"].items()) + f"; {e['footprint_km2']:.3f} km2 footprint)"
        elif "length_km" in e:
            extra = f"  ({e['length_km']:.2f} km)"
        elif "area_km2" in e:
            extra = f"  ({e['area_km2']:.3f} km2)"
        click.echo(f"{name:<9}{e['features']:>7} features{extra}")
    _print_ingest_report(s.get("ingest_report") or {})
    for imp in s.get("ifc_imports") or []:
        for f in imp.get("files", []):
            click.echo(f"IFC      {Path(str(f.get('file', ''))).name}: placed by {f.get('georef_method', '?')}"
                       + (" (approximate)" if f.get("georef_approximate") else ""))
        for ifc_id, gis_ids in imp.get("replaced", {}).items():
            if gis_ids:
                click.echo(f"         {ifc_id} replaces {', '.join(gis_ids)}")


def _print_ingest_report(rep: dict[str, Any]) -> None:
    """What ingest assumed, one line per layer; warnings in yellow."""
    def text(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {text(x)}" for k, x in v.items())
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines, warnings = [], []
    for name, e in rep.items():
        if name == "sources" or not isinstance(e, dict):
            continue
        if name == "crs":
            lines.append(f"  crs: {e.get('crs')} ({e.get('how')})")
            continue
        warnings += list((e.get("warnings") or {}).values())
        counts = f"read {e['read']}, kept {e['kept']}; " if "read" in e and "kept" in e else ""
        assumed = {k: v for k, v in e.items() if k not in ("read", "kept", "warnings") and v not in (0, None, [], {})}
        if counts or assumed:
            lines.append(f"  {name}: {counts}" + "; ".join(f"{k} = {text(v)}" for k, v in assumed.items()))
    if lines:
        click.echo("Ingest report:")
        for line in lines:
            click.echo(line)
    for w in warnings:
        click.secho(f"  warning: {w}", fg="yellow")


def _print_result(s: dict[str, Any]) -> None:
    """A result's summary, the figures its kind names first in front (flood summaries before 0.1 carry
    no kind)."""
    from twin.sims.kinds import SimulationKind, kinds

    kind = kinds().get(s.get("kind", "flood")) or SimulationKind("", None, None, None)
    for line in kind.summary_lines(s):
        click.echo(line)


def _register() -> None:
    """Verbs that live in their own modules (each imports its heavy parts only when run)."""
    from twin.cli.compare import compare_cmd
    from twin.cli.ensemble import ensemble_cmd
    from twin.cli.schema import schema_cmd
    from twin.cli.water import water_cmd

    for command in (compare_cmd, ensemble_cmd, schema_cmd, water_cmd):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
