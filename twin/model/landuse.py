"""The land-use table: classes to Manning's n, imperviousness and infiltration parameters."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pandas as pd

from twin.errors import InputDataError

__all__ = ["default_table", "merge_class_tables", "read_table", "validate_table", "COLUMNS", "OPTIONAL_COLUMNS"]

COLUMNS = ("manning", "impervious", "ks_mm_h", "psi_dtheta_mm", "f0_mm_h", "fc_mm_h", "k_per_h")
#: Columns a table may leave out; they are then taken from the shipped table (by class, else its
#: ``default`` row), so tables written before a column existed stay valid.
OPTIONAL_COLUMNS = ("building_height_m",)


def default_table() -> pd.DataFrame:
    """The shipped table (``twin/data/landuse.csv``), indexed by class; row ``default`` covers unknown classes."""
    with resources.files("twin").joinpath("data/landuse.csv").open() as fh:
        return validate_table(pd.read_csv(fh, comment="#"), source="the default land-use table")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a user land-use table (CSV with a ``class`` column and any of :data:`COLUMNS`).

    Missing columns and the ``default`` row are taken from the shipped table, so a user can override
    only what they know (e.g. just Manning's n).
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, comment="#")
    except Exception as exc:
        raise InputDataError(f"Land-use table {path} cannot be read as CSV ({exc}).") from None
    user = validate_table(table, source=str(path), partial=True)
    merged = merge_class_tables(default_table(), user)
    return validate_table(merged.reset_index(names="class"), source=str(path))


def merge_class_tables(base: pd.DataFrame, user: pd.DataFrame) -> pd.DataFrame:
    """``base`` (indexed by class, with a ``default`` row) overridden by what ``user`` gives.

    A class only ``user`` knows starts from ``base``'s ``default`` row; only the columns ``user`` has
    are replaced, so a user table can override just what is known locally.
    """
    merged = base.reindex(base.index.union(user.index))
    for cls in user.index:
        if cls not in base.index:
            merged.loc[cls] = base.loc["default"]
        for col in user.columns:
            merged.loc[cls, col] = user.loc[cls, col]
    return merged


def validate_table(table: pd.DataFrame, *, source: str, partial: bool = False) -> pd.DataFrame:
    """Check columns and value ranges; return the table indexed by class (lower-case strings)."""
    if "class" not in table.columns and table.index.name != "class":
        raise InputDataError(f"{source} needs a 'class' column naming each land-use class.")
    if "class" in table.columns:
        table = table.set_index("class")
    table.index = table.index.astype(str).str.strip().str.lower()
    if table.index.duplicated().any():
        raise InputDataError(
            f"{source} lists classes more than once: {sorted(set(table.index[table.index.duplicated()]))}."
        )
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing and not partial:
        raise InputDataError(f"{source} lacks columns {missing}; expected {list(COLUMNS)}.")
    if not partial and "default" not in table.index:
        raise InputDataError(f"{source} needs a 'default' row for classes it does not list.")
    if not partial:
        table = _with_optional(table)
    cols = [c for c in (*COLUMNS, *OPTIONAL_COLUMNS) if c in table.columns]
    table = table[cols].astype(float)
    if table.isna().any().any():
        raise InputDataError(f"{source} has empty cells; fill every value.")
    if "manning" in table and ((table["manning"] <= 0) | (table["manning"] > 1)).any():
        raise InputDataError(f"{source}: Manning's n must be in (0, 1] s/m^(1/3).")
    if "impervious" in table and ((table["impervious"] < 0) | (table["impervious"] > 1)).any():
        raise InputDataError(f"{source}: imperviousness must be a fraction in [0, 1].")
    if (table < 0).any().any():
        raise InputDataError(f"{source}: values must not be negative.")
    return table


def _with_optional(table: pd.DataFrame) -> pd.DataFrame:
    """Add the optional columns a table lacks, from the shipped table (its ``default`` row for new classes)."""
    missing = [c for c in OPTIONAL_COLUMNS if c not in table.columns]
    if not missing:
        return table
    with resources.files("twin").joinpath("data/landuse.csv").open() as fh:
        shipped = pd.read_csv(fh, comment="#").set_index("class")
    table = table.copy()
    for col in missing:
        table[col] = [shipped[col].get(cls, shipped.loc["default", col]) for cls in table.index]
    return table
