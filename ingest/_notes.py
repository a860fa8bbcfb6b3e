"""What ingest assumed: the warning class, and recording a note in a report while warning about it."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["IngestWarning", "warn"]


class IngestWarning(UserWarning):
    """Ingest went ahead with something the user should know (a coarse DEM, a large trim, ...)."""


def warn(report: dict[str, Any] | None, key: str, message: str, *, stacklevel: int = 3) -> None:
    """Emit ``message`` as an :class:`IngestWarning` and keep it under ``report["warnings"]``."""
    warnings.warn(message, IngestWarning, stacklevel=stacklevel)
    if report is not None:
        report.setdefault("warnings", {})[key] = message
