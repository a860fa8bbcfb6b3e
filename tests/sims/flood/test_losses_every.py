"""``[numerics] losses_every`` and ``speed_every``: the flood run's infiltration and drainage capacity, and its
speed and hazard maxima, every few steps (the kernel's side: tests/kernels/test_flood_losses_every.py and
test_flood_speed_every.py)."""

from __future__ import annotations

import pytest

from conftest import flood_scenario, plane_twin
from twin.errors import ScenarioError
from twin.sims.flood.forcing import setup
from twin.sims.flood.run import run


def test_the_default_leaves_the_scenario_record_as_before():
    """4 is the default where it is read (1, every step, elsewhere) and stays out of the record, so existing
    scenarios keep their hash; a value off that default is recorded."""
    assert not {"losses_every", "speed_every"} & set(flood_scenario().to_dict().get("numerics", {}))
    params = setup(plane_twin(), flood_scenario()).params
    assert (params.losses_every, params.speed_every) == (4, 4)
    local = flood_scenario(numerics={"time_stepping": "local"})  # counted in each tile's own steps
    assert (local.numerics.losses_every, local.numerics.speed_every) == (4, 4)
    assert not {"losses_every", "speed_every"} & set(local.to_dict()["numerics"])
    assert setup(plane_twin(), local).params.losses_every == 4
    every_step = flood_scenario(numerics={"time_stepping": "local", "losses_every": 1})
    assert every_step.to_dict()["numerics"]["losses_every"] == 1
    swe = flood_scenario(numerics={"scheme": "swe"})
    assert (swe.numerics.losses_every, swe.numerics.speed_every) == (1, 1)
    sc = flood_scenario(numerics={"dtype": "float64", "losses_every": 1})
    assert sc.to_dict()["numerics"]["losses_every"] == 1
    assert setup(plane_twin(), sc).params.losses_every == 1


@pytest.mark.parametrize("key", ["losses_every", "speed_every"])
@pytest.mark.parametrize(
    "numerics",
    [{"scheme": "swe"}, {"device": "gpu"}, {"time_stepping": "local", "device": "gpu"}],
)
def test_every_few_steps_where_nothing_reads_it_is_refused(numerics, key):
    with pytest.raises(ScenarioError, match=rf"numerics.{key} is read by the inertial scheme's time steps on the CPU"):
        flood_scenario(numerics={key: 3, **numerics})


def test_a_run_with_losses_every_four_steps_closes_its_balance():
    """The plane's storm (Green-Ampt, drainage capacity, an inflow, a level boundary): the same balance as
    every step and nearly the same losses."""
    out = {}
    for every in (1, 4):
        sc = flood_scenario(numerics={"dtype": "float64", "losses_every": every})
        out[every] = run(plane_twin(), sc, progress=False).summary
        assert abs(out[every]["mass_balance_error"]) < 1e-12
    assert out[4]["volume_infiltrated_m3"] != out[1]["volume_infiltrated_m3"]
    assert out[4]["volume_infiltrated_m3"] == pytest.approx(out[1]["volume_infiltrated_m3"], rel=2e-2)
