"""Deprecated: ``twin.runs`` moved to
``twin.sims.runs``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.runs is deprecated; import from "
              "twin.sims.runs instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.runs import (  # noqa: E402 (after the warning)
    load_result, load_scenario, run,
)

__all__ = [
    "load_result", "load_scenario", "run"
]
