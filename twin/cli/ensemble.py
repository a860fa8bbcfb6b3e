"""``twin ensemble``: run an ensemble file on a Dask cluster and write the probability maps."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from twin.cli.options import allow_path_option, one_line, out_option, quiet_option, twin_option


@click.command("ensemble")
@click.argument("ensemble_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@twin_option()
@out_option("Ensemble folder to write; running again into it resumes (complete members are kept).")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: start a local cluster).",
)
@click.option(
    "--workers",
    "n_workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes of the local cluster.",
)
@click.option(
    "--threads",
    "threads_per_worker",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Numba threads of each member's kernel (a worker runs one member at a time); workers x threads <= cores.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Retries of a failing member before it is recorded in failed.json.",
)
@quiet_option
@allow_path_option
def ensemble_cmd(
    ensemble_file: Path,
    twin_dir: Path,
    out: Path,
    scheduler: str | None,
    n_workers: int,
    threads_per_worker: int,
    retries: int,
    quiet: bool,
    allowed_paths: tuple[Path, ...],
) -> None:
    """Run the scenarios of ENSEMBLE_FILE (a TOML sweep or member list) on a twin with Dask.

    Writes each member's result under OUT/members/, exceedance maps (exceedance.nc and one GeoTIFF
    per threshold: the share of members, a probability only when the file gives weights), per-building
    shares (buildings.gpkg), members.csv, failed.json and ensemble.json; for a sweep over return periods
    also the return period at which each cell and building floods (return_period.nc and GeoTIFFs).
    Exits with 1 when members failed (the others' results are complete).
    """
    from twin import _io
    from twin.ensemble.run import Ensemble, run_ensemble
    from twin.model.twin import Twin

    _io.check_out(out, "ensemble", inputs=[ensemble_file, twin_dir])
    ensemble = Ensemble.from_toml(
        ensemble_file, allowed_paths=allowed_paths
    )  # every member validated before the cluster starts
    click.echo(
        f"Ensemble {ensemble.name}: {len(ensemble.members)} members; "
        f"{'scheduler ' + scheduler if scheduler else f'local cluster of {n_workers} x {threads_per_worker}'}"
    )
    result = run_ensemble(
        Twin.load(twin_dir),
        ensemble,
        out,
        scheduler=scheduler,
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        retries=retries,
        progress=not quiet,
    )
    s = result.summary
    click.echo(
        f"Members: {s['members_ok']} ok, {s['members_failed']} failed ({s['members_reused']} reused "
        f"from an earlier run) in {s['wall_seconds']:.1f} s; {s['scenarios_per_minute']:.2f} scenarios/min"
    )
    for f in result.failed:
        click.secho(f"  member {f['member']} ({f['name']}): {f['error']}: {one_line(f['message'])}", fg="red", err=True)
    click.echo(
        "Exceedance: "
        + (
            "p_exceed, the probability with the file's weights"
            if s["weighted"]
            else "member_share, the share of members (no weights given, so no probability)"
        )
    )
    rp = s["return_period"]
    if rp["written"]:
        click.echo(
            f"Return periods {', '.join(f'{t:g}' for t in rp['periods_years'])} y: flood_return_period and "
            f"flood_aep per cell and building (interpolated in ln T, AEP = {rp['aep_formula']})"
        )
        if rp["non_monotonic_cells"] or rp["non_monotonic_buildings"]:
            click.secho(
                f"  warning: depth drops as the return period grows at {rp['non_monotonic_cells']} cells "
                f"and {rp['non_monotonic_buildings']} buildings (non_monotonic in the outputs)",
                fg="yellow",
                err=True,
            )
    elif rp["periods_years"]:
        click.echo(f"No return-period maps: {rp['reason']}")
    per_threshold = ("exceedance", "flood_return_period", "flood_aep")
    outputs = [
        "exceedance.nc",
        "return_period.nc",
        *(f"{kind}_{d:g}m.tif" for kind in per_threshold for d in ensemble.thresholds),
        "buildings.gpkg",
        "members.csv",
        "failed.json",
        "ensemble.json",
    ]
    click.echo(f"Written to {out}: " + ", ".join(o for o in outputs if (out / o).is_file()))
    if result.failed:
        sys.exit(1)
