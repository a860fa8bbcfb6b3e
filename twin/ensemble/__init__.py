"""Ensembles: many scenarios of one kind run on Dask workers, their spec and the maps over members."""

from twin.ensemble.run import *  # noqa: F403 (the package holds the run module's public names)
from twin.ensemble.run import __all__  # noqa: F401
