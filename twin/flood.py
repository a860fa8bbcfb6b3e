"""Deprecated: ``twin.flood`` moved to
``twin.sims.flood.run``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.flood is deprecated; import from "
              "twin.sims.flood.run instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.run import (  # noqa: E402 (after the warning)
    FloodResult, run,
)

__all__ = [
    "FloodResult", "run"
]
