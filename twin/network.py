"""Deprecated: ``twin.network`` moved to
``twin.sims.river.network``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.network is deprecated; import from "
              "twin.sims.river.network instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.river.network import (  # noqa: E402 (after the warning)
    DANGLING_MODES, Network, ORIENT_MODES, lake_connections, lake_hypsometry, lake_table, link_catchments,
    network_from_lines, network_from_rivers, network_from_streams,
)

__all__ = [
    "DANGLING_MODES", "Network", "ORIENT_MODES", "lake_connections", "lake_hypsometry", "lake_table",
    "link_catchments", "network_from_lines", "network_from_rivers", "network_from_streams"
]
