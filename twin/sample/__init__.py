"""The sample city: a synthetic district (terrain, buildings, IFC models, scenarios) and its water files."""

from twin.sample.district import *  # noqa: F403 (the package holds the district module's public names)
from twin.sample.district import __all__  # noqa: F401
