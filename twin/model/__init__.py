"""The twin itself: the :class:`Twin` (layers on one grid), building one from files, BIM merge, land use
and planners' edits."""

from twin.model.twin import DERIVED, LAYERS, Twin

__all__ = ["DERIVED", "LAYERS", "Twin"]
