"""``twin info``: a twin or result folder described."""

from __future__ import annotations

import json
from pathlib import Path

import click

from twin.cli.options import (
    FolderIn,
)
from twin.cli.report import print_forecast, print_result, print_twin


@click.command()
@click.argument("path", type=FolderIn())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(path: Path, as_json: bool) -> None:
    """Describe a twin folder (CRS, grid, layers), a result folder (summary) or a forecast folder (cycles, warnings)."""
    if (path / "twin.json").is_file():
        from twin.model.twin import Twin

        summary = Twin.load(path).summary()
        click.echo(json.dumps(summary, indent=2)) if as_json else print_twin(summary)
    elif (path / "summary.json").is_file():
        from twin import _io

        # checked, not loaded (a flood's depth.nc can be large): the figures shown are the ones the run wrote
        _io.verify_dir(path)
        summary = json.loads((path / "summary.json").read_text())
        click.echo(json.dumps(summary, indent=2)) if as_json else print_result(summary)
    elif (path / "latest.json").is_file() or (path / "cycles").is_dir():
        from twin.errors import InputDataError
        from twin.live.publish import forecast_summary

        try:
            summary = forecast_summary(path)
        except (OSError, ValueError, KeyError) as exc:
            raise InputDataError(
                f"{path} looks like a forecast folder, but its latest cycle cannot be read ({exc}); "
                "run `twin forecast` into it again."
            ) from None
        if summary is None:
            raise InputDataError(
                f"{path} is a forecast folder without a published cycle yet; wait for `twin forecast`."
            )
        click.echo(json.dumps(summary, indent=2)) if as_json else print_forecast(summary)
    else:
        raise click.UsageError(
            f"{path} is neither a twin folder (twin.json), a result folder (summary.json) nor a forecast "
            "folder (latest.json)."
        )
