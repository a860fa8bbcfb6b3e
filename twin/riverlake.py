"""Deprecated since 0.2: ``twin.riverlake`` moved to ``twin.sims.river.run`` and ``twin.sims.river.scenario``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.river.run", "twin.sims.river.scenario")
