"""Replay of the recorded storm: the forecasts beat no further rain and persistence of the last frame."""

from __future__ import annotations

import pytest
from live_town import bowl_twin, config, town_storm

from twin.live.cycle import Forecaster
from twin.live.verify import replay_skill


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_the_forecast_beats_no_rain_and_persistence_at_30_and_60_minutes(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    times = [storm.start + k * 720.0 for k in range(3, 8)]  # 08:36 to 09:24, as the cell comes and goes
    with Forecaster(bowl_twin(), config(), storm.obs, tmp_path / "fc") as fc:
        table, results = replay_skill(fc, times)
    assert len(results) == 5 and all(r.record["nowcast"]["method"] == "steps" for r in results)
    csi = table.pivot(index="lead_min", columns="method", values="csi")
    for lead in (30.0, 60.0):
        assert csi.loc[lead, "forecast"] > csi.loc[lead, "persistence"], table
        assert csi.loc[lead, "forecast"] > csi.loc[lead, "no_rain"], table
    assert table["hits"].min() > 0
