"""Scenes: self-contained HTML pages (pydeck) of a twin and its results, their rasters, payload and page."""

from twin.scene.city import *  # noqa: F403 (the package holds the city module's public names)
from twin.scene.city import __all__  # noqa: F401
