"""Deprecated: ``twin.hydrology`` moved to
``twin.sims.terrain.run``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.hydrology is deprecated; import from "
              "twin.sims.terrain.run instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.terrain.run import (  # noqa: E402 (after the warning)
    BURN_MODES, DEPRESSION_MODES, FLAT_MODES, PourPoint, TerrainResult, TerrainScenario, conditioned_dem,
    culvert_paths, run, stream_links_frame, terrain_analysis, write_terrain_analysis,
)

__all__ = [
    "BURN_MODES", "DEPRESSION_MODES", "FLAT_MODES", "PourPoint", "TerrainResult", "TerrainScenario",
    "conditioned_dem", "culvert_paths", "run", "stream_links_frame", "terrain_analysis", "write_terrain_analysis"
]
