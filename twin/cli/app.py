"""The ``twin`` command group: errors as one line and exit code 2, every verb registered from its module."""

from __future__ import annotations

import sys
from typing import Any

import click

from twin.cli.options import (
    cli_warnings,
    one_line,
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


def _register() -> None:
    """The verbs, one module each (each imports its heavy parts only when run)."""
    from twin.cli.compare import compare_cmd
    from twin.cli.demo import demo
    from twin.cli.ensemble import ensemble_cmd
    from twin.cli.export import export_cmd
    from twin.cli.forecast import forecast_cmd
    from twin.cli.info import info
    from twin.cli.ingest import ingest
    from twin.cli.route import route_cmd
    from twin.cli.run import run_cmd
    from twin.cli.scene import scene
    from twin.cli.schema import schema_cmd
    from twin.cli.terrain import terrain
    from twin.cli.water import water_cmd

    for command in (
        demo,
        ingest,
        run_cmd,
        terrain,
        scene,
        info,
        compare_cmd,
        ensemble_cmd,
        schema_cmd,
        water_cmd,
        forecast_cmd,
        export_cmd,
    ):
        main.add_command(command)
    main.add_command(route_cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
