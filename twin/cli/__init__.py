"""The ``twin`` command line: the group and core verbs in :mod:`twin.cli.app`, one module per further verb,
shared options in :mod:`twin.cli.options`."""

from twin.cli.app import main
from twin.cli.run import run_scenario

__all__ = ["main", "run_scenario"]
