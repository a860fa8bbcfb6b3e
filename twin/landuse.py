"""Deprecated: ``twin.landuse`` moved to
``twin.model.landuse``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.landuse is deprecated; import from "
              "twin.model.landuse instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.model.landuse import (  # noqa: E402 (after the warning)
    COLUMNS, OPTIONAL_COLUMNS, default_table, merge_class_tables, read_table, validate_table,
)

__all__ = [
    "COLUMNS", "OPTIONAL_COLUMNS", "default_table", "merge_class_tables", "read_table", "validate_table"
]
