"""``twin demo``: the sample city built, ingested, flooded, drawn and its water allocated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from twin.cli.report import print_result, print_twin, report_ifc


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the sample city, its twin and the results.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample city generator.")
@click.option("--size", "size_m", type=float, default=2000.0, show_default=True, help="Side of the city [m].")
@click.option("--cell", type=float, default=2.0, show_default=True, help="DEM cell size [m].")
@click.option(
    "--resolution",
    type=float,
    default=4.0,
    show_default=True,
    help="The twin's cell size [m]; the 2 m DEM is resampled so the 2-hour storm runs in about a minute.",
)
def demo(out: Path, seed: int, size_m: float, cell: float, resolution: float) -> None:
    """Build the sample city, ingest it into a twin, run the design-storm flood and write the scene,
    route the storm through the river and lake, then run 30 years of the city's water supply."""
    from twin import _io, sample
    from twin.model.twin import Twin
    from twin.sims.runs import run

    for sub, kind in (
        ("city", "sample-city"),
        ("twin", "twin"),
        ("result", "flood"),
        ("river", "river"),
        ("water", "water"),
    ):
        _io.check_out(out / sub, kind)
    click.echo(f"Generating the sample city (seed {seed}, {size_m:g} m at {cell:g} m) in {out / 'city'} ...")
    city = sample.city(out / "city", seed=seed, size_m=size_m, cell=cell)
    click.echo(f"Ingesting it into a twin, with its {len(city.ifc)} IFC building models ...")
    tw, ifc_report = sample_twin(city, resolution)
    report_ifc(ifc_report)
    tw.save(out / "twin")
    tw = Twin.load(out / "twin")
    click.echo(f"Twin saved to {out / 'twin'}\n")
    print_twin(tw.summary())
    click.echo(f"\nRunning the flood scenario {city.scenario.name} ...")
    result = run(tw, city.scenario, out=out / "result")
    click.echo(f"Result saved to {out / 'result'}\n")
    print_result(result.summary)
    _report_sewer(result.summary.get("drainage"))
    _report_roads(result.summary.get("roads"), out / "result")
    click.echo(f"\nRouting the same storm through the river, creek and lake ({city.river_scenario.name}) ...")
    river = run(tw, city.river_scenario, out=out / "river", progress=False)
    s = river.summary
    spill = s["pollutants"][0] if s.get("pollutants") else None
    click.echo(
        f"River-lake result saved to {out / 'river'}: peak {s['max_peak_discharge_m3s']:.1f} m3/s, water "
        f"balance error {s['mass_balance_error']:.1e}"
        + (
            f"; {spill['outflow_kg']:.1f} of {spill['mass_kg']:.0f} kg of {spill['name']} left by the river "
            "within the day"
            if spill
            else ""
        )
    )
    _demo_water(tw, city.water_scenario, out / "water")
    click.echo(f"\nOpen the scene (works offline): {(out / 'result' / 'scene.html').resolve()}")


def sample_twin(city: Any, resolution: float) -> tuple[Any, Any]:
    """The demo's twin of a generated sample city: its DEM and layers ingested, its IFC models added.

    Parameters
    ----------
    city : SampleCity
        What :func:`twin.sample.city` wrote.
    resolution : float
        The twin's cell size [m] (the DEM is resampled to it).

    Returns
    -------
    (Twin, report)
        The twin, and what :meth:`Twin.add_ifc` reported of the IFC models (the demo prints it; the
        drainage benchmark builds the same twin with this function).
    """
    from twin.model.build import from_files

    tw = from_files(
        city.dem,
        buildings=f"{city.layers}::buildings",
        rivers=f"{city.layers}::rivers",
        lakes=f"{city.layers}::lakes",
        landuse=f"{city.layers}::landuse",
        roads=f"{city.layers}::roads",
        resolution=resolution,
    )
    return tw, tw.add_ifc(city.ifc, warn=False)


def _report_roads(roads: dict[str, Any] | None, folder: Path) -> None:
    """The streets cut first, in one line each (roads.gpkg holds every segment)."""
    if not roads:
        return
    click.echo(
        f"\nRoads: {roads['segments_cut']} of {roads['segments']} segments cut ({roads['length_cut_km']:.1f} km), "
        f"each from when and until when in {folder / 'roads.gpkg'}"
    )
    for name, at in list(roads["streets_cut_first_s"].items())[:5]:
        click.echo(f"  {name} impassable from t = {at / 60:.0f} min")


def _report_sewer(drainage: dict[str, Any] | None) -> None:
    """The coupled sewer network's books in three lines (the summary holds them all)."""
    if not drainage:
        return
    fed = drainage["volume_surface_to_network_m3"]
    resid = drainage["network_continuity_error_m3"]
    click.echo(
        f"\nSewer network ({drainage['nodes_coupled']} manholes, {drainage['conduits']} pipes): "
        f"{fed:,.0f} m3 drained from the streets, {drainage['volume_outfalls_to_surface_m3']:,.0f} m3 "
        "out of its outfalls (into the river, or off the map)"
    )
    overflow = drainage["volume_network_to_surface_m3"] - drainage["volume_outfalls_to_surface_m3"]
    click.echo(
        f"  overflow back onto the streets: {overflow:,.0f} m3 at {drainage['manholes_overflowing']} manholes; "
        f"{drainage['conduits_over_capacity']} pipe(s) ran over their full-bore capacity"
    )
    click.echo(
        f"  network continuity error {resid:,.1f} m3 ({resid / fed if fed else 0.0:.2%} of its inflow; SWMM's "
        f"routing error {drainage['swmm_routing_continuity_error_percent']:.2f} %), coupled balance error "
        f"{drainage['coupled_mass_balance_error']:.1e}"
    )


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
