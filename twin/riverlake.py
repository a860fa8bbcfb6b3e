"""Deprecated: ``twin.riverlake`` moved to
``twin.sims.river.run``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.riverlake is deprecated; import from "
              "twin.sims.river.run instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.river.run import (  # noqa: E402 (after the warning)
    Gauge, Inflow, LakeSpec, Lateral, NetworkSpec, RiverResult, RiverScenario, Runoff, Spill, run,
)

__all__ = [
    "Gauge", "Inflow", "LakeSpec", "Lateral", "NetworkSpec", "RiverResult", "RiverScenario", "Runoff", "Spill",
    "run"
]
