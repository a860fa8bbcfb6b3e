"""The one exception hierarchy of cimtwin.

Every error a user can cause derives from :class:`TwinError`, so a caller can catch
everything the engine raises deliberately with a single ``except TwinError``. Messages
say what is wrong *and* how to fix it.

The base and the input errors are defined in :mod:`ingest.errors` (ingest raises them and may not
import ``twin``) and re-exported here: they are the same classes.
"""

from __future__ import annotations

from ingest.errors import CRSError, GeoreferencingError, InputDataError, TwinError

__all__ = [
    "TwinError",
    "CRSError",
    "GeoreferencingError",
    "InputDataError",
    "ScenarioError",
    "NumericalError",
]


class ScenarioError(TwinError, ValueError):
    """A scenario file or dict is invalid; the message names the key and the fix."""


class NumericalError(TwinError, RuntimeError):
    """A simulation became unstable or produced non-finite values."""
