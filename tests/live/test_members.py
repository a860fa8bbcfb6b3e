"""The forecast members' first radar interval (the last observed frame in every member) is run once for all
of them, and each member goes on from it with the bits it would have had running it itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from live_town import bowl_twin, config, town_storm

from twin.live.cycle import Forecaster
from twin.live.members import first_interval, run_member

MIN = 60.0

pytestmark = pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")


def test_members_going_on_from_the_shared_first_interval_equal_members_running_it(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    with Forecaster(bowl_twin(), config(lead_times=["18min"], members=3), storm.obs, tmp_path / "fc") as fc:
        res = fc.cycle(storm.start + 66 * MIN)  # the cell over the town
    rains = list(res.nowcast.rain)
    assert res.nowcast.method == "steps" and not np.array_equal(rains[0][1], rains[1][1])  # members differ after it
    head = first_interval(res.inputs, rains)
    assert head is not None and head.state.t == pytest.approx(res.inputs.state.t + res.inputs.interval)
    shared = dataclasses.replace(res.inputs, head=head)
    for rain in rains:
        own, went_on = run_member(res.inputs, rain), run_member(shared, rain)
        assert own.h_max.max() > 0.05
        np.testing.assert_array_equal(went_on.h_max, own.h_max)
        np.testing.assert_array_equal(went_on.arrival, own.arrival)
        assert went_on.balance["steps"] == own.balance["steps"]
        for key in ("vol_rain", "vol_infil", "stored_before", "stored_after"):
            assert went_on.balance[key] == pytest.approx(own.balance[key], rel=1e-12)
        assert abs(went_on.balance["residual"]) < 1e-6 * went_on.balance["vol_rain"]
    # a member whose first interval differs, or a lead time within it: each member runs its own
    other = [rains[0], np.where(rains[1] > 0, rains[1] * 1.1, 0.0)]
    assert first_interval(res.inputs, other) is None
    assert first_interval(dataclasses.replace(res.inputs, leads=(360.0, 1080.0)), rains) is None
