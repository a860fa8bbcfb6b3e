"""The sewer network in forecasts: the hot start and every member run SWMM coupled with the surface.

A twin whose base scenario has a ``[drainage] inp`` network runs it as a flood run does
(:class:`twin.sims.flood.drainage.SewerCoupling`): the hot start goes on from the SWMM state the last
cycle saved (a SWMM hot start file, kept inside the live state so that both are written in one
rename) to now, saves SWMM's state of now, and each member starts SWMM from that state. What the
network gives the surface (overflowing manholes, surface outfalls) less what it takes is the balance's
sewer term. A manhole overflows in a member when it puts more than :data:`OVERFLOW_M3` on the street
by a lead time; the warnings list manholes whose share of overflowing members reaches
``warn_probability``, with the median time of the first overflow.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.model.twin import Twin
from twin.sims.flood.scenario import Scenario

__all__ = ["OVERFLOW_M3", "SewerStart", "ManholeWatch", "ManholeForecast", "manhole_forecast", "manhole_warnings"]

#: Water [m3] a manhole must put on the street by a lead time to count as overflowing (below it: a
#: surcharge's dribble, no warning).
OVERFLOW_M3 = 0.1


@dataclass
class SewerStart:
    """What a SWMM run of the network needs to start (or go on): the base scenario's ``[drainage]``
    (its ``inp`` resolved), the grid, the scenario's network edits, and SWMM's saved state (``hotstart``,
    the bytes of a SWMM hot start file, with the coupling's books ``books``; None: SWMM from the .inp's
    own initial state at model time 0)."""

    cfg: Any
    crs: Any
    transform: Any
    shape: tuple[int, int]
    ground: np.ndarray
    blocked: np.ndarray
    edits: tuple
    hotstart: bytes | None = None
    books: dict[str, np.ndarray] | None = None

    @classmethod
    def of(cls, scenario: Scenario, twin: Twin, ground: np.ndarray, blocked: np.ndarray) -> SewerStart | None:
        """The network of ``scenario`` on ``twin`` (None without ``[drainage] inp``)."""
        cfg = scenario.drainage
        if cfg.inp is None:
            return None
        if cfg.inp == "twin":  # the twin folder's network, ingested from GIS layers
            from twin.sims.flood.drainage_layers import twin_inp

            cfg = cfg.model_copy(update={"inp": twin_inp(twin)})
        return cls(cfg, twin.crs, twin.transform, twin.shape, ground, blocked, tuple(scenario.edit))

    def open(self, duration: float) -> Any:
        """A :class:`~twin.sims.flood.drainage.SewerCoupling` from this state, to run up to model time
        ``duration`` [s]; close it (``close()``) when done."""
        from twin.sims.flood.drainage import DrainageWarning, SewerCoupling

        with tempfile.TemporaryDirectory(prefix="cimtwin-live-swmm-") as tmp, warnings.catch_warnings():
            # the network's own warnings are said once, by the hot start (not again by every member)
            warnings.simplefilter("ignore", DrainageWarning)
            resume = None
            if self.hotstart is not None:
                path = Path(tmp) / "now.hsf"
                path.write_bytes(self.hotstart)
                resume = {**(self.books or {}), "hotstart": path}
            # SWMM reads the hot start file when it starts, inside the constructor
            return SewerCoupling(
                self.cfg,
                self.crs,
                self.transform,
                self.shape,
                self.ground,
                self.blocked,
                duration,
                self.edits,
                resume=resume,
            )

    def saved(self, sewer: Any) -> SewerStart:
        """This network with ``sewer``'s state of now (its hot start file and books)."""
        with tempfile.TemporaryDirectory(prefix="cimtwin-live-swmm-") as tmp:
            path = Path(tmp) / "now.hsf"
            books = sewer.checkpoint(path)
            data = path.read_bytes()
        return SewerStart(
            self.cfg, self.crs, self.transform, self.shape, self.ground, self.blocked, self.edits, data, books
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """SWMM's saved state as arrays for the live state's file (none before the first hot start)."""
        if self.hotstart is None:
            return {}
        return {"sewer_hotstart": np.frombuffer(self.hotstart, np.uint8), **(self.books or {})}

    def with_arrays(self, arrays: dict[str, np.ndarray]) -> SewerStart:
        """This network with the SWMM state read back from the live state's file (as ``to_arrays`` wrote it)."""
        if "sewer_hotstart" not in arrays:
            return self
        books = {k: v for k, v in arrays.items() if k.startswith("sewer_") and k != "sewer_hotstart"}
        data = arrays["sewer_hotstart"].tobytes()
        return SewerStart(
            self.cfg, self.crs, self.transform, self.shape, self.ground, self.blocked, self.edits, data, books
        )


class ManholeWatch:
    """A coupled sewer as :func:`twin.live.members.advance_with_rain` drives it, keeping per manhole
    (coupled node) the first time it put water on the street and what it put there by each lead."""

    def __init__(self, sewer: Any, t0: float, leads: int):
        self.sewer = sewer
        self.interval = sewer.interval
        self.t0 = t0
        self.idx = sewer.idx
        self.start = sewer.vol_to_surface[self.idx].copy()
        self.first = np.full(len(self.idx), np.nan)
        self.volume = np.zeros((leads, len(self.idx)))

    def exchanged(self) -> float:
        """What the network has given the surface less what it has taken, so far [m3]."""
        return float(self.sewer.vol_to_surface.sum() - self.sewer.vol_to_network.sum())

    def step(self, h: np.ndarray, t_end: float) -> None:
        """One coupling step (see :meth:`~twin.sims.flood.drainage.SewerCoupling.step`)."""
        self.sewer.step(h, t_end)
        new = np.isnan(self.first) & (self.sewer.vol_to_surface[self.idx] - self.start > OVERFLOW_M3)
        self.first[new] = t_end - self.t0

    def lead(self, j: int) -> None:
        """Note what each manhole has put on the street by lead ``j``."""
        self.volume[j] = self.sewer.vol_to_surface[self.idx] - self.start

    def result(self) -> ManholeForecast:
        return ManholeForecast(self.idx.copy(), self.first, self.volume)


@dataclass
class ManholeForecast:
    """A member's manholes: ``idx`` (rows of the network's nodes), ``first`` overflow [s after now] (NaN:
    not within the longest lead) and ``volume`` [m3] put on the street by each lead ``(leads, manholes)``."""

    idx: np.ndarray
    first: np.ndarray
    volume: np.ndarray


def manhole_forecast(members: list[ManholeForecast], leads: list[float]) -> pd.DataFrame:
    """Per manhole and lead: ``p_overflow`` (share of members putting more than :data:`OVERFLOW_M3` on the
    street by then), ``volume_median`` [m3] and ``time_median`` [s after now] over the members that overflow."""
    rows: dict[str, np.ndarray] = {}
    first = np.stack([m.first for m in members])
    for j, lead in enumerate(leads):
        vol = np.stack([m.volume[j] for m in members])
        over = vol > OVERFLOW_M3
        tag = f"{lead / 60:g}min"
        rows[f"p_overflow_{tag}"] = over.mean(axis=0)
        rows[f"volume_median_{tag}"] = np.median(vol, axis=0)
        t = np.where(over, np.where(np.isnan(first), lead, np.minimum(first, lead)), np.nan)
        with warnings.catch_warnings():  # manholes no member overflows: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            rows[f"time_median_{tag}"] = np.nanmedian(t, axis=0)
    return pd.DataFrame(rows)


def manhole_warnings(
    nodes: gpd.GeoDataFrame, fc: pd.DataFrame, leads: list[float], min_p: float
) -> gpd.GeoDataFrame | None:
    """Rows of the cycle's warnings for the manholes overflowing with ``p_overflow >= min_p``: layer
    ``manholes``, kind ``manhole``, id (the node's name), lead, probability, expected time [min after
    now], ``overflow_m3_median``; None when none does."""
    parts = []
    for lead in leads:
        tag = f"{lead / 60:g}min"
        p = fc[f"p_overflow_{tag}"].to_numpy()
        sel = (p >= max(min_p, 1e-12)) & (p > 0)
        if not sel.any():
            continue
        parts.append(
            gpd.GeoDataFrame(
                {
                    "layer": "manholes",
                    "kind": "manhole",
                    "id": nodes["name"].astype(str).to_numpy()[sel],
                    "class": nodes["kind"].astype(str).to_numpy()[sel],
                    "threshold_m": np.nan,
                    "lead_min": lead / 60,
                    "probability": p[sel],
                    "expected_min": fc[f"time_median_{tag}"].to_numpy()[sel] / 60,
                    "depth_median_m": np.nan,
                    "overflow_m3_median": fc[f"volume_median_{tag}"].to_numpy()[sel],
                },
                geometry=nodes.geometry.values[sel],
                crs=nodes.crs,
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else None
