"""Deprecated: ``twin.edits`` moved to
``twin.model.edits``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.edits is deprecated; import from "
              "twin.model.edits instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.model.edits import (  # noqa: E402 (after the warning)
    POND_VOLUME_TOLERANCE, apply_edits, wall_cells,
)

__all__ = [
    "POND_VOLUME_TOLERANCE", "apply_edits", "wall_cells"
]
