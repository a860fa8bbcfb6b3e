"""``twin info``: a twin or result folder described."""

from __future__ import annotations

import json
from pathlib import Path

import click

from twin.cli.options import (
    FolderIn,
)
from twin.cli.report import print_result, print_twin


@click.command()
@click.argument("path", type=FolderIn())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(path: Path, as_json: bool) -> None:
    """Describe a twin folder (CRS, grid, layers) or a result folder (summary)."""
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
    else:
        raise click.UsageError(f"{path} is neither a twin folder (twin.json) nor a result folder (summary.json).")
