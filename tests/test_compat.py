"""The 0.1 import paths: each still works for one release and warns, naming the new path."""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

#: old module -> (new module, one name the old module gave)
MOVED = {
    "twin.scenario": ("twin.sims.flood.scenario", "Scenario"),
    "twin.flood": ("twin.sims.flood.run", "FloodResult"),
    "twin.forcing": ("twin.sims.flood.forcing", "setup"),
    "twin.storms": ("twin.sims.flood.storms", "chicago"),
    "twin.exposure": ("twin.sims.flood.exposure", "HAZARD_CLASSES"),
    "twin.compare": ("twin.sims.flood.compare", "compare"),
    "twin.riverlake": ("twin.sims.river.scenario", "RiverScenario"),
    "twin.network": ("twin.sims.river.network", "Network"),
    "twin.runoff": ("twin.sims.river.runoff", "runoff"),
    "twin.water": ("twin.sims.water.run", "WaterResult"),
    "twin.hydrology": ("twin.sims.terrain.run", "terrain_analysis"),
    "twin.build": ("twin.model.build", "from_files"),
    "twin.bim": ("twin.model.bim", "add_ifc"),
    "twin.landuse": ("twin.model.landuse", "read_table"),
    "twin.edits": ("twin.model.edits", "apply_edits"),
    "twin.runs": ("twin.sims.runs", "load_result"),
    "twin.kinds": ("twin.sims.kinds", "register_kind"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_and_gives_the_same_objects(old):
    new, name = MOVED[old]
    sys.modules.pop(old, None)  # a warning is given on the first import only
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        mod = importlib.import_module(old)
    assert getattr(mod, name) is getattr(importlib.import_module(new), name)


def test_old_scenario_path_still_holds_the_shared_base():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sys.modules.pop("twin.scenario", None)
        old = importlib.import_module("twin.scenario")
    from twin.sims.scenario_base import ScenarioModel, doc, parse_duration

    assert (old.ScenarioModel, old.doc, old.parse_duration) == (ScenarioModel, doc, parse_duration)


@pytest.mark.parametrize(
    "old, name",
    [
        ("twin.model", "Twin"),
        ("twin.ensemble", "run_ensemble"),
        ("twin.scene", "city_scene"),
        ("twin.sample", "city"),
        ("twin.cli", "main"),
    ],
)
def test_old_paths_that_became_packages_hold_their_names_without_warning(old, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert callable(getattr(importlib.import_module(old), name))
