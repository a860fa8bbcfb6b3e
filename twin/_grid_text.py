"""One wording for a grid's size, shared by the CLI and the scene so that both name the same order."""

from __future__ import annotations


def grid_text(columns: int, rows: int, cell_m: float) -> str:
    """The grid's size in words, columns (west-east) first.

    Parameters
    ----------
    columns, rows : int
        Cells along x (west to east) and along y (north to south).
    cell_m : float
        Side of a cell in metres.

    Returns
    -------
    str
        E.g. ``"579 columns x 856 rows, 4 m cells"``. Both counts are named because "856 x 579"
        alone reads either way round.
    """
    return f"{columns:,} columns x {rows:,} rows, {cell_m:g} m cells"
