"""Deprecated since 0.2: ``twin.scenario`` moved to ``twin.sims.flood.scenario`` and ``twin.sims.scenario_base``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.flood.scenario", "twin.sims.scenario_base")
