"""Deprecated: ``twin.runoff`` moved to
``twin.sims.river.runoff``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.runoff is deprecated; import from "
              "twin.sims.river.runoff instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.river.runoff import (  # noqa: E402 (after the warning)
    catchment_spi, hbv_table, response_units, runoff,
)

__all__ = [
    "catchment_spi", "hbv_table", "response_units", "runoff"
]
