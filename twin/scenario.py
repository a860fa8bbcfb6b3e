"""Deprecated: ``twin.scenario`` moved to
``twin.sims.flood.scenario`` and ``twin.sims.scenario_base``; this alias goes in 0.3.
"""

import warnings

warnings.warn("twin.scenario is deprecated; import from "
              "twin.sims.flood.scenario / twin.sims.scenario_base instead (the old path goes in 0.3)",
              DeprecationWarning, stacklevel=2)

from twin.sims.flood.scenario import (  # noqa: E402 (after the warning)
    Boundary, BuildingEdit, DesignStorm, Drainage, Edit, FloodwallEdit, Gauge, GroundEdit, IdfInline, Infiltration,
    Inflow, Initial, MAX_DURATION_S, MAX_FRAMES, MAX_GAUGE_ROWS, MAX_RAIN_MM_H, MIN_INTERVAL_S, Numerics, Output,
    PondEdit, Rain, RasterFrame, Scenario,
)
from twin.sims.scenario_base import (  # noqa: E402 (after the warning)
    CheckedModel, Duration, KEY_TYPES, Point, Ring, ScenarioModel, ScenarioPath, ScenarioTable, TimeSeries, doc,
    explain_errors, monotone_table, parse_duration, parse_series, read_toml, scenario_path,
)

__all__ = [
    "Boundary", "BuildingEdit", "CheckedModel", "DesignStorm", "Drainage", "Duration", "Edit", "FloodwallEdit",
    "Gauge", "GroundEdit", "IdfInline", "Infiltration", "Inflow", "Initial", "KEY_TYPES", "MAX_DURATION_S",
    "MAX_FRAMES", "MAX_GAUGE_ROWS", "MAX_RAIN_MM_H", "MIN_INTERVAL_S", "Numerics", "Output", "Point", "PondEdit",
    "Rain", "RasterFrame", "Ring", "Scenario", "ScenarioModel", "ScenarioPath", "ScenarioTable", "TimeSeries",
    "doc", "explain_errors", "monotone_table", "parse_duration", "parse_series", "read_toml", "scenario_path"
]
