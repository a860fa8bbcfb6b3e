"""Deprecated: ``twin.forcing`` moved to
``twin.sims.flood.forcing``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.forcing is deprecated; import from "
              "twin.sims.flood.forcing instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.forcing import (  # noqa: E402 (after the warning)
    FloodSetup, MM_PER_H, outside_error, setup,
)

__all__ = [
    "FloodSetup", "MM_PER_H", "outside_error", "setup"
]
