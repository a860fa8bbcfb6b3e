"""Runoff on a twin: a year on the sample city, exact response units, urban vs forest, scenarios, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kernels import water_balance as wb
from twin.errors import InputDataError
from twin.sims.river.runoff import hbv_table, response_units, runoff

N_DAYS = 365
URBAN = ("residential", "commercial", "industrial", "road")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from twin import sample
    from twin.model.build import from_files

    sc = sample.city(tmp_path_factory.mktemp("city"), seed=0, size_m=600.0, cell=4.0)
    return from_files(sc.dem, buildings=sc.layers, rivers=sc.layers, lakes=sc.layers, landuse=sc.layers)


def _climate(n_scen: int = 1, n: int = N_DAYS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic daily rain (35 % wet days, mean 15 mm: about 1900 mm/yr, as in Guangdong) and a
    seasonal PET of 2-5 mm/d."""
    rng = np.random.default_rng(seed)
    rain = rng.exponential(15.0, (n_scen, n)) * (rng.random((n_scen, n)) < 0.35)
    pet = 3.5 + 1.5 * np.sin(2 * np.pi * (np.arange(n) - 80) / 365)
    return rain, pet


def _classes(twin) -> np.ndarray:
    return np.asarray(twin.landuse_table.index)[twin.derived("landuse_index")]


@pytest.mark.filterwarnings("ignore:.*slope was set")  # flat sample-city links; routing still works
def test_a_year_per_river_link_closes_the_balance_and_feeds_the_router(city):
    from kernels.river import route
    from twin.sims.river.network import network_from_streams

    rain, pet = _climate(3)
    net = network_from_streams(city, threshold_cells=200)
    ds = runoff(city, rain, pet, zones=net)
    assert dict(ds.sizes) == {"scenario": 3, "time": N_DAYS, "zone": len(net), "unit": ds.sizes["unit"], "store": 4}
    # round-off only: a year of ~1900 mm summed in float64 leaves errors near 1e-12 mm
    assert float(np.abs(ds.balance_error).max()) < 1e-9 * rain.sum(axis=1).min()
    assert (ds.runoff >= 0).all() and np.allclose(ds.runoff, ds.quick_runoff + ds.slow_runoff, rtol=1e-14)
    np.testing.assert_array_equal(ds.zone, net.ids)
    np.testing.assert_allclose(ds.area_m2, net.catchment_area(), rtol=1e-14)
    # the year's runoff is a share of the rain on the area that reaches a link
    vol_q = float((ds.runoff.isel(scenario=0) * ds.attrs["dt_s"]).sum())
    vol_p = rain[0].sum() * 1e-3 * float(ds.area_m2.sum())
    assert 0.3 * vol_p < vol_q < vol_p
    # the lateral inflow of the network's router: routed, the volume leaves at the outlets or stays in the links
    lateral = ds.runoff.isel(scenario=0).reindex(zone=net.ids, fill_value=0.0).to_numpy()
    out = route(net.river_network(q_ref=0.05), lateral=lateral, dt=ds.attrs["dt_s"])
    leaving = out[:, net.outlets].sum() * ds.attrs["dt_s"]
    assert 0.95 * vol_q < leaving <= vol_q * (1 + 1e-12)
    # "links" builds the same network from the terrain itself
    again = runoff(city, rain[:1, :30], pet[:30], zones="links", threshold_cells=200)
    np.testing.assert_array_equal(again.runoff, ds.runoff.isel(scenario=[0], time=slice(0, 30)))


def test_response_units_give_what_every_cell_would(city):
    """Grouping cells by zone and class is exact, not an approximation: compare with a per-cell run."""
    rain, pet = _climate(2, n=120, seed=4)
    ny, nx = city.shape
    zones = np.ones(city.shape, np.int64)
    zones[: ny // 2] += 1
    zones[:, : nx // 3] += 2  # four quadrant-like zones 1..4
    ds = runoff(city, rain, pet, zones=zones)
    table = hbv_table()
    cls = _classes(city).ravel()
    params = table.reindex([c if c in table.index else "default" for c in cls]).to_numpy()
    fine = wb.hbv(
        rain[:, :, None], pet[:, None], params, np.asarray(city.impervious).ravel(), zones=zones.ravel() - 1, n_zones=4
    )
    q_fine = (fine.zone[..., 0] + fine.zone[..., 1]) * city.cell_size**2 * 1e-3 / 86400.0
    # the units sum the same terms in another order: agreement to round-off
    np.testing.assert_allclose(ds.runoff.to_numpy(), q_fine, rtol=1e-10, atol=1e-15)
    assert ds.attrs["units_simulated"] < 40 and ds.attrs["cells_simulated"] == ny * nx


def test_urban_land_yields_more_quick_runoff_than_forest(city):
    rain, pet = _climate(1)
    cls = _classes(city)
    zones = np.where(np.isin(cls, URBAN), 1, np.where(cls == "forest", 2, 0)).astype(np.int64)
    ds = runoff(city, rain, pet, zones=zones).isel(scenario=0)
    quick = (ds.quick_runoff.sum("time") * ds.attrs["dt_s"] / ds.area_m2 * 1e3).to_numpy()  # mm/yr
    et = ds.et.sum("time").to_numpy()
    p = rain.sum()
    urban, forest = 0, 1
    # the urban cells are mostly impervious (sample city: about 0.7), the forest none: with ~1900 mm
    # of rain the urban quick runoff must exceed the forest's by far, and evaporate less
    assert float(ds.impervious[urban]) > 0.5 and float(ds.impervious[forest]) == 0.0
    assert quick[urban] > 0.5 * p and quick[urban] > 2 * quick[forest]
    assert et[urban] < et[forest]


def test_scenarios_hourly_steps_routing_and_continuation(city):
    hours = pd.date_range("2024-06-01", periods=96, freq="1h")
    rng = np.random.default_rng(2)
    storm = np.zeros((2, 96))
    storm[0, 10:16] = [2, 8, 25, 30, 12, 3]
    storm[1, 40:44] = [10, 40, 40, 10]
    precip = xr.DataArray(storm, dims=("scenario", "time"), coords={"scenario": ["short", "long"], "time": hours})
    pet = xr.DataArray(np.full(96, 0.15) * (rng.random(96) > 0.5), dims="time", coords={"time": hours})
    whole = runoff(city, precip, pet, dt="1h", zones="watersheds", maxbas_days=0.25)
    assert list(whole.scenario.values) == ["short", "long"] and whole.time[0] == hours[0]
    assert float(np.abs(whole.balance_error).max()) < 1e-9 * 100
    first = runoff(
        city, precip.isel(time=slice(0, 40)), pet.isel(time=slice(0, 40)), dt="1h", zones="watersheds", maxbas_days=0.25
    )
    second = runoff(
        city,
        precip.isel(time=slice(40, None)),
        pet.isel(time=slice(40, None)),
        dt="1h",
        zones="watersheds",
        maxbas_days=0.25,
        state=first,
    )
    joined = xr.concat([first.runoff, second.runoff], dim="time")
    # routing adds the carried lags in a different order: equal to round-off
    np.testing.assert_allclose(joined, whole.runoff, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second.state, whole.state, rtol=1e-12)
    assert float(np.abs(second.balance_error).max()) < 1e-9 * 100
    # six hours of routing delay: the peak leaves the catchment after the rain's peak
    main = int(np.argmax(whole.area_m2.to_numpy()))
    assert int(whole.runoff.isel(scenario=0, zone=main).argmax("time")) > 13


def test_user_table_and_bad_inputs(city, tmp_path):
    rain, pet = _climate(1, n=30)
    csv = tmp_path / "hbv.csv"
    csv.write_text("class,fc,beta\nforest,500,1.0\n")
    table = hbv_table(csv)
    assert table.loc["forest", "fc"] == 500 and table.loc["forest", "k2"] == hbv_table().loc["forest", "k2"]
    units = response_units(city, np.ones(city.shape, np.int64), table=table)
    assert (units.loc[units["class"] == "forest", "fc"] == 500).all()
    (tmp_path / "bad.csv").write_text("class,fc,kk\nforest,500,1\n")
    with pytest.raises(InputDataError, match="unknown columns"):
        hbv_table(tmp_path / "bad.csv")
    (tmp_path / "neg.csv").write_text("class,lp\nforest,1.5\n")
    with pytest.raises(InputDataError, match="LP must be in"):
        hbv_table(tmp_path / "neg.csv")
    daily = xr.DataArray(rain[0], dims="time", coords={"time": pd.date_range("2020-01-01", periods=30, freq="D")})
    with pytest.raises(InputDataError, match="times are not 0 days 01:00:00 apart"):
        runoff(city, daily, pet, dt="1h", zones=np.ones(city.shape, np.int64))
    with pytest.raises(InputDataError, match="maxbas_days"):
        runoff(city, rain, pet, zones=np.ones(city.shape, np.int64), maxbas_days=0.0)
    with pytest.raises(InputDataError, match="at most one day"):
        runoff(city, rain, pet, dt="2d", zones=np.ones(city.shape, np.int64))
    with pytest.raises(InputDataError, match="finite depths"):
        runoff(city, -rain, pet, zones=np.ones(city.shape, np.int64))
    with pytest.raises(InputDataError, match="label"):
        runoff(city, rain, pet, zones=np.ones((3, 3), np.int64))
    with pytest.raises(InputDataError, match="not known"):
        runoff(city, rain, pet, zones="basins")
    first = runoff(city, rain, pet, zones=np.ones(city.shape, np.int64))
    with pytest.raises(InputDataError, match="same twin, zones"):
        runoff(city, rain, pet, zones="watersheds", state=first)


def test_catchment_spi_from_daily_rain():
    from twin.sims.river.runoff import catchment_spi

    rng = np.random.default_rng(8)
    days = pd.date_range("1990-01-15", "2019-12-31", freq="D")  # starts mid-month: January 1990 is dropped
    wet = rng.random((2, days.size)) < 0.35
    rain = rng.exponential(15.0, (2, days.size)) * wet
    hist = xr.DataArray(rain, dims=("zone", "time"), coords={"zone": [1, 2], "time": days})
    precip = xr.concat([hist, 0.7 * hist], dim=pd.Index(["hist", "dry"], name="scenario"))
    own = catchment_spi(precip, scales=(1, 3))
    assert own.dims == ("scale", "scenario", "zone", "month") and own.month[0] == pd.Timestamp("1990-02-01")
    assert own.sizes["month"] == 12 * 30 - 1
    # a record scaled by a constant has the same SPI against its own fit (gamma's scale absorbs it)
    np.testing.assert_allclose(own.sel(scenario="dry"), own.sel(scenario="hist"), atol=1e-9)
    # monthly totals of a whole-month record: in-sample SPI is standard (see tests/test_drought.py)
    s1 = own.sel(scale=1, scenario="hist")
    assert abs(float(s1.mean())) < 0.05 and abs(float(s1.std()) - 1) < 0.05
    judged = catchment_spi(precip, scales=(3,), fit_on="hist")
    np.testing.assert_allclose(judged.sel(scenario="hist"), own.sel(scale=[3], scenario="hist"), atol=1e-12)
    # 30 % less rain every month: the 3-month sums sit about 1.4 standard deviations low (measured -1.41)
    assert float(judged.sel(scenario="dry").mean()) < -1.0
    with pytest.raises(InputDataError, match="complete months"):
        catchment_spi(precip.isel(time=slice(0, 300)))
    with pytest.raises(InputDataError, match="not a scenario"):
        catchment_spi(precip, fit_on="wet")
