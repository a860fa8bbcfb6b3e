"""Deprecated: ``twin.storms`` moved to
``twin.sims.flood.storms``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.storms is deprecated; import from "
              "twin.sims.flood.storms instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.storms import (  # noqa: E402 (after the warning)
    Hyetograph, IdfTable, JUMP_S, MAX_BLOCKS, MIN_STEP_S, MM_H_PER_L_S_HA, alternating_block, chicago,
    storm_formula_intensity,
)

__all__ = [
    "Hyetograph", "IdfTable", "JUMP_S", "MAX_BLOCKS", "MIN_STEP_S", "MM_H_PER_L_S_HA", "alternating_block",
    "chicago", "storm_formula_intensity"
]
