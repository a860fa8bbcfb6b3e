"""Deprecated since 0.2: ``twin.runoff`` moved to ``twin.sims.river.runoff``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.river.runoff")
