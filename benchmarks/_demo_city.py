"""Shared by the benchmark scripts: the sample city's twin and flood scenario as ``twin demo`` builds them."""

from __future__ import annotations

import tomllib
from pathlib import Path

from twin.model import Twin
from twin.sims.flood.scenario import Scenario


def demo_scenarios(tmp: Path, duration: float | None) -> tuple[Twin, Scenario, Scenario, Scenario]:
    """The sample city's twin and flood scenario as ``twin demo`` builds them: coupled, surface only, warm-up.

    The surface-only scenario is the demo's with its ``[drainage]`` table removed, nothing else changed;
    ``duration`` (if given) shortens both to the first seconds of the storm (snapshots every
    ``min(duration, 600)`` s). The warm-up is the coupled scenario's first minute. The city and its
    twin are built into ``tmp`` (about a minute), or read from there when an earlier call built them.
    """
    from twin import sample
    from twin.cli.demo import sample_twin

    root, saved = tmp / "city", tmp / "twin"
    if saved.is_dir() and (root / "flood.toml").is_file():
        tw = Twin.load(saved)
    else:
        city = sample.city(root)  # the demo's defaults: seed 0, 2 km at 2 m
        tw, _ = sample_twin(city, 4.0)  # the demo's --resolution default
        tw.save(saved, overwrite=True)
    d = tomllib.loads((root / "flood.toml").read_text())
    if duration:
        d["duration"] = duration
        d["output_interval"] = min(duration, 600.0)
    plain = {k: v for k, v in d.items() if k != "drainage"}
    warm = {**d, "duration": 60.0, "output_interval": 60.0}
    return tw, *(Scenario.from_dict(x, base_dir=root) for x in (d, plain, warm))
