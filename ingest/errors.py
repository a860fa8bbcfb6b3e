"""The errors ingest raises: the base of cimtwin's one exception hierarchy, and the input errors.

They live here, in the lowest layer that raises them, so that ``ingest`` never imports ``twin``;
:mod:`twin.errors` re-exports them (the same class objects) beside the errors only the twin raises,
so ``from twin.errors import TwinError, CRSError`` and ``except TwinError`` work everywhere.
"""

from __future__ import annotations

__all__ = ["TwinError", "CRSError", "GeoreferencingError", "InputDataError"]


class TwinError(Exception):
    """Base class of every error cimtwin raises on purpose."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system is missing, geographic, unit-less or mismatched."""


class GeoreferencingError(TwinError, ValueError):
    """A file cannot be placed in the world (no georeferencing, or contradictory georeferencing)."""


class InputDataError(TwinError, ValueError):
    """An input file or array is unreadable, empty, corrupt, or holds invalid values (NaN, nodata)."""
