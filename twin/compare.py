"""Deprecated: ``twin.compare`` moved to
``twin.sims.flood.compare``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.compare is deprecated; import from "
              "twin.sims.flood.compare instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.compare import (  # noqa: E402 (after the warning)
    BUILDING_STATUS, Comparison, compare,
)

__all__ = [
    "BUILDING_STATUS", "Comparison", "compare"
]
