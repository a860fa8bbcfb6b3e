"""``twin route``: the quickest route still passable in a flood, from a point to the nearest facility."""

from __future__ import annotations

import json
from pathlib import Path

import click

from twin.cli.options import FolderIn, twin_option


@click.command("route")
@click.argument("result_dir", type=FolderIn())
@click.option("--from", "from_xy", required=True, metavar="X,Y", help="The start, in the twin's CRS.")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="LAYER_OR_FILE",
    help="The facilities (hospitals, shelters): a vector file (file::layer) of points or polygons, or a layer "
    "of the twin.",
)
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="When, after the scenario's start (seconds or text such as 45min); default: every time a road "
    "is cut or reopens.",
)
@click.option("--mode", type=click.Choice(["drive", "walk"]), default="drive", show_default=True)
@twin_option(required=False, help="Twin folder, for --to LAYER (default: the one in the result's summary).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="GeoJSON file for the route (with --at).",
)
def route_cmd(
    result_dir: Path,
    from_xy: str,
    to: str,
    at: str | None,
    mode: str,
    twin_dir: Path | None,
    out: Path | None,
) -> None:
    """The quickest route still passable from a point to the nearest facility of a layer, at one time or
    at every time the roads change; "no passable route" when every way is cut."""
    from ingest.vector import split_layer_path
    from twin.errors import InputDataError
    from twin.model.twin import Twin
    from twin.sims.flood.run import FloodResult
    from twin.sims.scenario_base import parse_duration

    try:
        x, y = (float(v) for v in from_xy.split(","))
    except ValueError:
        raise click.BadParameter("write X,Y in the twin's CRS, e.g. 423500,2559100", param_hint="--from") from None
    if out is not None and at is None:
        raise click.BadParameter("--out writes one route: give --at too", param_hint="--out")
    summary = json.loads((result_dir / "summary.json").read_text()) if (result_dir / "summary.json").is_file() else {}
    twin = None
    if not split_layer_path(to)[0].exists():  # a layer of the twin
        twin_dir = twin_dir or (Path(summary["twin"]) if summary.get("twin") else None)
        if twin_dir is None or not Path(twin_dir).is_dir():
            raise InputDataError(
                f"--to {to} is not a file, and the twin of {result_dir} is not known or has moved to look the "
                "layer up in; pass --twin TWIN_DIR or give a file."
            )
        twin = Twin.load(twin_dir)
    result = FloodResult.load(result_dir, twin=twin)
    if at is not None:
        try:
            seconds = 0.0 if at.strip() in ("0", "0s", "0min") else parse_duration(at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
        r = result.route((x, y), to, seconds, mode=mode)
        click.echo(r.message)
        if r.found and out is not None:
            import geopandas as gpd

            gpd.GeoDataFrame(
                {
                    "facility": [r.facility_name],
                    "at_s": [r.at_s],
                    "length_m": [r.length_m],
                    "travel_time_s": [r.travel_time_s],
                },
                geometry=[r.geometry],
                crs=result.crs,
            ).to_file(out, driver="GeoJSON", engine="pyogrio")
            click.echo(f"Route written to {out}")
        return
    from twin.sims.flood.gis import resolve_facilities
    from twin.sims.flood.roads import routes_over_time

    if result.roads is None:
        raise InputDataError(f"{result_dir} has no roads.gpkg: ingest the twin with --roads and run again.")
    speeds = (result.scenario.get("roads") or {}).get("speeds") or {}
    table = routes_over_time(result.roads, (x, y), resolve_facilities(to, result), mode=mode, speeds=speeds)
    for message in table["message"]:
        click.echo(message)
