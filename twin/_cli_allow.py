"""``--allow-path DIR``: a folder besides the scenario's own from which its files may be read."""

from __future__ import annotations

from pathlib import Path

import click

#: The option every command that reads a scenario file takes (``allowed_paths``: a tuple of folders).
allow_path_option = click.option(
    "--allow-path", "allowed_paths", multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder outside the scenario's own from which it may read files (rain frames, IDF tables, "
         "time series, networks); repeatable.")
