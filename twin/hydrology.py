"""Deprecated since 0.2: ``twin.hydrology`` moved to ``twin.sims.terrain.run`` and ``twin.sims.terrain.scenario``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.terrain.run", "twin.sims.terrain.scenario")
