"""Deprecated since 0.2: ``twin.storms`` moved to ``twin.sims.flood.storms``; this path goes in 0.3."""

from twin._compat import forward

__getattr__, __dir__, __all__ = forward(__name__, "twin.sims.flood.storms")
