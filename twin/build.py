"""Deprecated: ``twin.build`` moved to
``twin.model.build``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.build is deprecated; import from "
              "twin.model.build instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.model.build import (  # noqa: E402 (after the warning)
    BuildingOptions, CLASS_COLUMNS, DEFAULTS, DEPTH_COLUMNS, HEIGHT_COLUMNS, LIMITS, PathLike, STOREY_COLUMNS,
    WIDTH_COLUMNS, from_files,
)

__all__ = [
    "BuildingOptions", "CLASS_COLUMNS", "DEFAULTS", "DEPTH_COLUMNS", "HEIGHT_COLUMNS", "LIMITS", "PathLike",
    "STOREY_COLUMNS", "WIDTH_COLUMNS", "from_files"
]
