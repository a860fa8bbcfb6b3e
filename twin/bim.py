"""Deprecated: ``twin.bim`` moved to
``twin.model.bim``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.bim is deprecated; import from "
              "twin.model.bim instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.model.bim import (  # noqa: E402 (after the warning)
    MergeReport, add_ifc, merge_buildings, merge_spaces,
)

__all__ = [
    "MergeReport", "add_ifc", "merge_buildings", "merge_spaces"
]
