"""``twin water``: run a water-resources scenario (supply network, allocation by priority)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from twin.cli.options import allow_path_option, out_option, overwrite_option, twin_option


@click.command("water")
@click.argument("scenario_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option()
@overwrite_option
@twin_option(required=False, help="Twin folder whose CRS the node locations are in (adds network.gpkg).")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a PNG of storage and monthly shortages (needs matplotlib).",
)
@allow_path_option
def water_cmd(
    scenario_file: Path,
    out: Path,
    overwrite: bool,
    twin_dir: Path | None,
    plot: Path | None,
    allowed_paths: tuple[Path, ...],
) -> None:
    """Allocate water over the network of SCENARIO_FILE (TOML) for every member and step.

    Writes allocation.nc, shortages.csv, summary.json, scenario.json and, with --twin and located
    nodes, network.gpkg. The same as `twin run` of a kind = "water" scenario, plus the shortage report
    and --plot (a file without a kind key is read as a water scenario here).
    """
    from twin.cli.run import run_scenario
    from twin.sims.water.run import WaterScenario

    scenario = WaterScenario.from_toml(scenario_file, allowed_paths=allowed_paths)
    result = run_scenario(scenario, scenario_file, twin_dir, out, overwrite, None, progress=False)
    report_water(result)
    click.echo(f"Written to {out}")
    if plot is not None:
        from twin.sims.water.plot import plot_water

        click.echo(f"Storage and shortages plotted in {plot_water(result, plot)}")


def report_water(result: Any) -> None:
    """The run in one line, then the demands that went short, worst first (also used by ``twin demo``)."""
    s = result.summary
    click.echo(
        f"{s['name']}: {s['steps']} steps x {len(s['members'])} member(s), {s['nodes']} nodes, "
        f"{s['links']} links in {s['wall_seconds']:.1f} s ({s['wall_per_step_ms']:.2f} ms/step, "
        f"{s['lp_per_step']:.2f} LPs per member-step); balance error <= {s['mass_balance_max_rel_error']:.1e}"
    )
    short = result.shortages()
    worst = short.sort_values("shortage_pct", ascending=False).head(5)
    for row in worst.itertuples():
        if row.shortage_pct > 0:
            click.echo(
                f"  {row.member}/{row.demand} (priority {row.priority}): {row.shortage_pct:.1f} % short, "
                f"reliability {row.reliability:.3f}"
            )
