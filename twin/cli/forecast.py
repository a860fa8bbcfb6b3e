"""``twin forecast``: rolling flood forecasts of a live twin from the radar and gauges arriving in a folder."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import FolderIn, out_option


@click.command("forecast")
@click.argument("twin_dir", metavar="TWIN", type=FolderIn())
@click.option("--obs", "obs", required=True, type=FolderIn(), help="Folder the radar frames and gauge files arrive in.")
@out_option("Forecast folder: cycles/<time>/, latest.json, history.csv and the hot-start state.")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Forecast TOML (base scenario, lead times, members, ...); default: forecast.toml in --obs.",
)
@click.option("--once", is_flag=True, help="Run one cycle and stop.")
@click.option("--cycles", type=click.IntRange(min=1), default=None, help="Run this many cycles, then stop.")
@click.option(
    "--replay",
    is_flag=True,
    help="Replay a recorded storm: each cycle's clock is the last one's plus the radar interval (the first "
    "at the first frame); without it, a cycle runs at the radar interval the wall clock is in.",
)
@click.option("--now", "now", default=None, help="The cycle's time (ISO 8601, UTC), for --once.")
@click.option(
    "--poll",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds between looks for new data (live).",
)
def forecast_cmd(
    twin_dir: Path,
    obs: Path,
    out: Path,
    config: Path | None,
    once: bool,
    cycles: int | None,
    replay: bool,
    now: str | None,
    poll: float,
) -> None:
    """Run forecast cycles of TWIN: hot start to now with the observed rain, gauges assimilated,
    rain nowcast with pysteps, members on Dask, maps and warnings published under OUT/cycles/."""
    from twin.errors import ScenarioError
    from twin.live.cycle import Forecaster
    from twin.live.observations import parse_time
    from twin.model.twin import Twin

    config = config or obs / "forecast.toml"
    if not config.is_file():
        raise ScenarioError(f"No forecast settings: {config} does not exist; pass --config FILE.")
    tw = Twin.load(twin_dir)
    n = cycles or 1
    with Forecaster(tw, config, obs, out) as fc:
        if once or now is not None:
            results = [fc.cycle(parse_time(now) if now is not None else None, replay=replay)]
        else:
            results = fc.run(n, replay=replay, poll=poll)
    for res in results:
        if res.status != "published":
            click.echo(f"{res.record.get('reason', 'waiting')}")
            continue
        r = res.record
        misfit = ", ".join(
            f"{m['station']} {m['misfit_before_m']:+.2f} -> {m['misfit_after_m']:+.2f} m" for m in r["misfit"]
        )
        click.echo(
            f"cycle {r['cycle']}: nowcast {r['nowcast']['method']}, {r['members']} members, "
            f"{r['buildings_warned']} buildings warned, {len(r['warnings'])} data warnings, "
            f"balance error {r['balance']['mass_balance_error']:.1e} (nudging {r['balance']['volume_nudging_m3']:.0f} m3)"
            + (f", gauges {misfit}" if misfit else "")
            + f", {r['timings']['total']:.1f} s -> {res.folder}"
        )
