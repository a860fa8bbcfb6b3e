"""``twin terrain``: terrain hydrology of a twin folder."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import (
    FolderIn,
    out_option,
    overwrite_option,
)
from twin.cli.run import run_scenario

#: Old spellings of ``twin terrain`` options and the scenario's words they stand for.
_TERRAIN_OLD = {"none": "ignore"}


@click.command()
@click.argument("twin_dir", type=FolderIn())
@out_option("Folder for the rasters and streams.gpkg.")
@overwrite_option
@click.option(
    "--threshold-cells",
    "--threshold",
    "threshold_cells",
    type=int,
    default=100,
    show_default=True,
    help="Cells draining through a cell for it to be a stream (scenario key threshold_cells; "
    "--threshold is the deprecated spelling).",
)
@click.option(
    "--buildings",
    "buildings",
    type=click.Choice(["block", "ignore", "none"]),
    default="block",
    show_default=True,
    help="Buildings block flow (water goes around them), or are ignored "
    "('none' is the deprecated spelling of 'ignore').",
)
@click.option(
    "--depressions",
    type=click.Choice(["fill", "breach"]),
    default="fill",
    show_default=True,
    help="Fill depressions, or breach them through thin barriers (what cannot be breached is filled).",
)
@click.option(
    "--breach-max-depth", type=float, default=None, help="Deepest cut a breach may make [m] (default: unlimited)."
)
@click.option("--breach-max-length", type=int, default=50, show_default=True, help="Longest breach [cells].")
@click.option(
    "--flats",
    type=click.Choice(["epsilon", "resolve"]),
    default="epsilon",
    show_default=True,
    help="Drain flats by an epsilon gradient, or towards lower / away from higher ground.",
)
@click.option("--culverts", help="Vector layer of the twin with culvert/bridge lines burned through embankments.")
@click.option("--weights", type=click.Choice(["impervious"]), help="Also accumulate this grid (weighted_accumulation).")
@click.option("--dinf", is_flag=True, help="Also D-infinity angles and accumulation (Tarboton 1997).")
def terrain(
    twin_dir: Path,
    out: Path,
    overwrite: bool,
    threshold_cells: int,
    buildings: str,
    depressions: str,
    breach_max_depth: float | None,
    breach_max_length: int,
    flats: str,
    culverts: str | None,
    weights: str | None,
    dinf: bool,
) -> None:
    """Terrain hydrology: filled DEM, D8 directions, accumulation, watersheds, streams, HAND.

    The same as `twin run` of a scenario with kind = "terrain" and these keys (the options are the
    scenario's keys: --threshold-cells is threshold_cells, --buildings ignore is buildings = "ignore").
    """
    from twin.sims.runs import load_scenario

    if breach_max_depth is not None and breach_max_depth == float("inf"):
        breach_max_depth = None  # the older default: unlimited
    sc = load_scenario(
        {
            "kind": "terrain",
            "threshold_cells": threshold_cells,
            "buildings": _TERRAIN_OLD.get(buildings, buildings),
            "depressions": depressions,
            "breach_max_depth": breach_max_depth,
            "breach_max_length": breach_max_length,
            "flats": flats,
            "culverts": culverts,
            "weights": weights,
            "dinf": dinf,
        }
    )
    s = run_scenario(sc, None, twin_dir, out, overwrite, None, progress=False).summary
    click.echo(
        f"Terrain analysis written to {out}: {s['watersheds']} watersheds, {s['stream_links']} stream links "
        f"(threshold {threshold_cells} cells), max accumulation {s['max_accumulation_cells']:.0f} cells"
    )
