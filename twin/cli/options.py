"""What every ``twin`` verb shares, declared once (as rasterio's ``rio/options.py``): the common options
(``--twin``, ``--out``, ``--overwrite``, ``--quiet``, ``--allow-path``), recovery of an interrupted
save before click checks that a folder exists, one line per error and warning."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from twin.errors import InputDataError


class FolderIn(click.Path):
    """An existing folder argument (a twin or a result); a save cut short there is undone first.

    Click checks existence before the command runs, so without this a twin sitting in
    ``.T.old-*`` after a crash would be reported as missing.
    """

    def __init__(self) -> None:
        super().__init__(exists=True, file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from twin import _io

        if isinstance(value, (str, os.PathLike)):
            if _io.recover_dir(value):
                click.secho(
                    f"warning: {value} was restored from the previous save (a save was interrupted).",
                    fg="yellow",
                    err=True,
                )
            elif not Path(value).exists() and _io.copies_aside(value):
                raise InputDataError(
                    f"{value} does not exist; an interrupted save left copies beside it "
                    f"({', '.join(p.name for p in _io.copies_aside(value))}), but none passes "
                    "its checksums. Write it again, or restore a backup."
                )
        return super().convert(value, param, ctx)


OVERWRITE_HELP = (
    "Let --out replace a folder cimtwin wrote of another kind (e.g. a result with a twin). "
    "Never a file, an input, or a folder holding files cimtwin did not write."
)


def one_line(message: str) -> str:
    """A message on one line: a header ending in ':' and its bullets ('  - key: ...') joined by '; '."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    head, items = lines[0], [line.removeprefix("- ").removeprefix("* ") for line in lines[1:]]
    return f"{head} {'; '.join(items)}" if head.endswith(":") else "; ".join([head, *items])


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print a warning as one yellow line on stderr (instead of Python's file:line form)."""
    click.secho(f"warning: {one_line(str(message))}", fg="yellow", err=True)


@contextlib.contextmanager
def cli_warnings() -> Iterator[None]:
    """A context in which warnings print through :func:`show_warning`."""
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        yield


def twin_option(required: bool = True, help: str = "Twin folder (from `twin ingest` or `twin demo`).") -> Any:
    """``--twin TWIN_DIR`` (``twin_dir``): an existing twin folder."""
    return click.option("--twin", "twin_dir", required=required, type=FolderIn(), help=help)


def out_option(help: str = "Result folder to write (atomically).", required: bool = True) -> Any:
    """``--out PATH`` (``out``): the folder a verb writes."""
    return click.option("--out", "out", required=required, type=click.Path(path_type=Path), help=help)


#: ``--overwrite`` (``overwrite``).
overwrite_option = click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)

#: ``--quiet`` (``quiet``): no progress bar.
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")

#: ``--allow-path DIR`` (``allowed_paths``, a tuple of folders): a folder besides the scenario's own
#: from which its files may be read; every command that reads a scenario file takes it.
allow_path_option = click.option(
    "--allow-path",
    "allowed_paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder outside the scenario's own from which it may read files (rain frames, IDF tables, "
    "time series, networks); repeatable.",
)
