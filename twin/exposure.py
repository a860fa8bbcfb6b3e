"""Deprecated: ``twin.exposure`` moved to
``twin.sims.flood.exposure``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.exposure is deprecated; import from "
              "twin.sims.flood.exposure instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.exposure import (  # noqa: E402 (after the warning)
    EXPOSURE_RULE, HAZARD_CLASSES, building_exposure, hazard_class,
)

__all__ = [
    "EXPOSURE_RULE", "HAZARD_CLASSES", "building_exposure", "hazard_class"
]
