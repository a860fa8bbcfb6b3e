"""The one exception hierarchy of cimtwin.

Every error a user can cause derives from :class:`TwinError`, so a caller can catch
everything the engine raises deliberately with a single ``except TwinError``. Messages
say what is wrong *and* how to fix it.
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "CRSError",
    "GeoreferencingError",
    "InputDataError",
    "ScenarioError",
    "NumericalError",
]


class TwinError(Exception):
    """Base class of every error cimtwin raises on purpose."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system is missing, geographic, unit-less or mismatched."""


class GeoreferencingError(TwinError, ValueError):
    """A file cannot be placed in the world (no georeferencing, or contradictory georeferencing)."""


class InputDataError(TwinError, ValueError):
    """An input file or array is unreadable, empty, corrupt, or holds invalid values (NaN, nodata)."""


class ScenarioError(TwinError, ValueError):
    """A scenario file or dict is invalid; the message names the key and the fix."""


class NumericalError(TwinError, RuntimeError):
    """A simulation became unstable or produced non-finite values."""
