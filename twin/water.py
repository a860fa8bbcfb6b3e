"""Deprecated since 0.2: ``twin.water`` moved to ``twin.sims.water.run`` and ``twin.sims.water.scenario``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.water.run", "twin.sims.water.scenario")
