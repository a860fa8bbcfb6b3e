"""Deprecated: ``twin.kinds`` moved to
``twin.sims.kinds``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.kinds is deprecated; import from "
              "twin.sims.kinds instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.kinds import (  # noqa: E402 (after the warning)
    CLI_OPTIONS, SimulationKind, get_kind, kinds, register_kind, unregister_kind,
)

__all__ = [
    "CLI_OPTIONS", "SimulationKind", "get_kind", "kinds", "register_kind", "unregister_kind"
]
