"""Deprecated: ``twin.water`` moved to
``twin.sims.water.run`` and ``twin.sims.water.scenario``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.water is deprecated; import from "
              "twin.sims.water.run / twin.sims.water.scenario instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.water.run import (  # noqa: E402 (after the warning)
    WaterResult, WaterScenario, run,
)
from twin.sims.water.scenario import (  # noqa: E402 (after the warning)
    Member, NODE_TYPES, Series, WaterLink, WaterNode, Zones, curve_arrays,
)

__all__ = [
    "Member", "NODE_TYPES", "Series", "WaterLink", "WaterNode", "WaterResult", "WaterScenario", "Zones",
    "curve_arrays", "run"
]
