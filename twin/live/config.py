"""The forecast file: what a live twin reads, how it checks it, and what it forecasts."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, ValidationError, field_validator

from twin.errors import ScenarioError
from twin.sims.scenario_base import CheckedModel, Duration, doc, explain_errors, read_toml

__all__ = ["ForecastConfig"]


class ForecastConfig(CheckedModel):
    """A live twin's forecast settings (a TOML file; every key optional except ``base``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: str | dict[str, Any] = doc(
        description="The flood scenario the forecasts run (grid settings, infiltration, drainage capacity, "
        "boundaries, numerics): a file relative to this one or an inline table; its rain is replaced"
    )
    lead_times: list[Duration] = doc([1800.0, 3600.0, 7200.0], description="Lead times written", units="s")
    thresholds: list[float] = doc([0.15, 0.3, 0.5], description="Depths of the probability maps", units="m")
    flooded_depth: float = doc(0.15, description="Depth at which a cell or feature counts as flooded", units="m", gt=0)
    members: int = doc(8, description="Forecast members (STEPS ensemble members)", ge=1, le=64)
    interval: Duration = doc(360.0, description="Radar update interval and a replay's cycle step", units="s")
    units: Literal["mm/h", "dBZ"] = doc("mm/h", description="Radar frames' quantity when a file does not say")
    zr_a: float = doc(200.0, description="Z-R relation Z = a R^b for dBZ frames (Marshall-Palmer)", gt=0)
    zr_b: float = doc(1.6, description="Z-R relation exponent b", gt=0)
    max_rain: float = doc(300.0, description="Rain rates above this are a spike (gauges) or clutter (radar)", gt=0)
    on_missing: Literal["warn", "wait"] = doc(
        "warn", description="A radar frame missing at now: go on with a warning, or wait (publish nothing)"
    )
    min_frames: int = doc(3, description="Radar frames the optical flow needs; fewer: persistence", ge=2)
    nowcast: Literal["steps", "extrapolation", "persistence"] = doc("steps", description="Rain forecast method")
    seed: int = doc(0, description="Seed of the STEPS noise (the same observations give the same forecast)", ge=0)
    nudging_gain: float = doc(0.5, description="Share of a gauge's misfit removed per cycle", gt=0, le=1)
    nudging_radius: float = doc(
        150.0, description="Reach of a gauge's nudging through connected water", units="m", gt=0
    )
    boundary_gauges: dict[str, int] = doc(
        {}, description="Level gauges that set a level boundary: station name = index of the base's [[boundary]]"
    )
    level_spike: float = doc(
        0.5, description="A level reading this far from its neighbours is a spike", units="m", gt=0
    )
    max_age: Duration = doc(1800.0, description="A gauge whose last reading is older is not used", units="s")
    warn_probability: float = doc(
        0.1, description="Features whose probability of flooding reaches this are listed as warnings", gt=0, le=1
    )
    road_depths: dict[str, float] = doc(
        {},
        description="Depth cutting a road, per class, over the flood run's (twin.sims.flood.roads.THRESHOLDS_M)",
        units="m",
    )
    numerics: dict[str, Any] = doc(
        {},
        description="[numerics] keys the members run over the base scenario's (not scheme or dtype), e.g. "
        "time_stepping = 'local' (see the README for when it is faster)",
    )
    workers: int = doc(2, description="Dask worker processes for the members (0: run them in this process)", ge=0)
    threads: int = doc(1, description="Numba threads per worker", ge=1)
    scheduler: str | None = doc(None, description="Address of a running Dask scheduler (default: a local cluster)")

    @field_validator("lead_times")
    @classmethod
    def _leads(cls, v: list[float]) -> list[float]:
        if not v or any(t <= 0 for t in v) or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("lead times are positive and increasing, e.g. ['30min', '1h', '2h']")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v or any(t <= 0 for t in v) or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("thresholds are depths in m: positive and increasing, e.g. [0.15, 0.3, 0.5]")
        return v

    @field_validator("road_depths")
    @classmethod
    def _road_depths(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, d in v.items() if not d > 0]
        if bad:
            raise ValueError(f"road depths are positive depths in m; {', '.join(bad)} is not")
        return v

    @classmethod
    def coerce(cls, value: ForecastConfig | dict | str | os.PathLike, base_dir: Path | None = None) -> ForecastConfig:
        """A config from itself, a dict of the TOML's shape, or a TOML file (``base`` resolved beside it)."""
        if isinstance(value, ForecastConfig):
            return value
        source = "forecast settings"
        if not isinstance(value, dict):
            path = Path(value)
            data = read_toml(path, "Forecast")
            base_dir, source = path.parent, str(path)
        else:
            data = dict(value)
        try:
            cfg = cls(**data)
        except ValidationError as exc:
            raise ScenarioError(explain_errors(exc, source)) from None
        if isinstance(cfg.base, str) and base_dir is not None and not Path(cfg.base).is_absolute():
            cfg = cfg.model_copy(update={"base": str((base_dir / cfg.base).resolve())})
        return cfg
