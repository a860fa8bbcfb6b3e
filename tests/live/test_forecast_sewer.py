"""The sewer network in forecasts: with a [drainage] network the hot start and every member run coupled
with SWMM (each member from SWMM's state of now, kept in the live state across a restart), the balances
close with the network's term, and the warnings name the manholes expected to overflow."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from live_town import CRS, DX, X0, Y0, bowl_twin, town_storm

from twin.live.cycle import Forecaster

MIN = 60.0

pytestmark = [
    pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning"),
    pytest.mark.filterwarnings("ignore::twin.sims.flood.drainage.DrainageWarning"),
]

# two pipes under the bowl town: 100 L/s of dry-weather flow at J1 into a 0.3 m pipe to J2 at the bowl's
# bottom, then a 0.1 m pipe out: it surcharges, so J2 (and J1 behind it) put water on the street
_INP = """[OPTIONS]
FLOW_UNITS LPS
FLOW_ROUTING DYNWAVE
ROUTING_STEP 0:00:05
START_DATE 06/01/2026
START_TIME 00:00:00
END_DATE 06/01/2026
END_TIME 06:00:00
[JUNCTIONS]
J1 8.6 2.0 0 10 0
J2 8.1 2.0 0 10 0
[OUTFALLS]
O1 7.9 FREE NO
[CONDUITS]
C1 J1 J2 50 0.013 0 0 0 0
C2 J2 O1 100 0.013 0 0 0 0
[XSECTIONS]
C1 CIRCULAR 0.3 0 0 0 1
C2 CIRCULAR 0.1 0 0 0 1
[DWF]
J1 FLOW 100
[COORDINATES]
J1 {j1x} {y}
J2 {j2x} {y}
O1 {o1x} {y}
"""


def _config(tmp_path):
    y = Y0 - 15 * DX + 1
    (tmp_path / "net.inp").write_text(_INP.format(j1x=X0 + 100 + 1, j2x=X0 + 150 + 1, o1x=X0 + 290 + 1, y=y))
    (tmp_path / "base.toml").write_text(
        'kind = "flood"\nduration = "1h"\n[infiltration]\nmodel = "none"\n'
        f'[numerics]\ndtype = "float64"\n[drainage]\ninp = "net.inp"\ncrs = "{CRS}"\n'
    )
    return {
        "base": str(tmp_path / "base.toml"),
        "lead_times": ["12min"],
        "members": 2,
        "workers": 0,
        "nowcast": "persistence",
    }


def test_a_forecast_with_a_sewer_network_runs_it_coupled_and_warns_for_overflowing_manholes(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    cfg = _config(tmp_path)
    out = tmp_path / "fc"
    with Forecaster(tw, cfg, storm.obs, out) as fc:
        first = fc.cycle(storm.start + 48 * MIN)
    with np.load(out / "state.npz") as st:
        assert "sewer_hotstart" in st.files and st["sewer_hotstart"].size > 0  # SWMM's state of now, kept
    # a restart: the hot start goes on from SWMM's saved state, over 6 minutes
    with Forecaster(tw, cfg, storm.obs, out) as fc:
        res = fc.cycle(storm.start + 54 * MIN)
    for r in (first, res):
        members = r.record["members_balance"]
        # the network gave the surface water in every member, and each member's books close with it
        assert all(m["volume_sewer_net_m3"] > 1.0 for m in members)
        assert all(abs(m["mass_balance_error"]) < 1e-6 for m in members)
    hot = res.record["balance"]
    assert hot["volume_sewer_net_m3"] > 1.0 and abs(hot["mass_balance_error"]) < 1e-6
    # the overflowing manholes are warned for, with their probability and expected time
    table = pd.read_csv(res.folder / "warnings.csv")
    manholes = table[table["layer"] == "manholes"]
    assert set(manholes["id"]) >= {"J2"} and (manholes["probability"] == 1.0).all()
    assert (manholes["expected_min"] <= 12.0).all()
    layer = gpd.read_file(res.folder / "manholes.gpkg")
    assert list(layer["name"]) == ["J1", "J2"] and layer.loc[1, "p_overflow_12min"] == 1.0
    assert res.record["features"]["manholes"]["warned"] >= 1
    # the scene draws them (before: the warnings had them, the scene not), warned ones in the probability's
    # colour and sized by their volume
    import base64
    import json
    import re

    from twin.scene.forecast import probability_classes
    from twin.scene.payload import unpack

    page = (res.folder / "scene.html").read_text()
    conf = json.loads(re.search(r'<script type="application/json" id="scene-config">([^<]*)</script>', page)[1])
    blob = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)[1]
    drawn = {m["name"]: m for m in unpack(base64.b64decode(blob))[1]["manholes"]}
    assert set(drawn) == {"manhole J1", "manhole J2"}
    top = probability_classes(res.record["warn_probability"])[-1]
    assert drawn["manhole J2"]["color"] == list(top.rgba) and drawn["manhole J2"]["radius"] >= 2.0
    assert drawn["manhole J2"]["text"].startswith("P overflow 100% within 12 min, median ")
    assert any("Overflow P" in label for _, label in conf["manholes_legend"])
