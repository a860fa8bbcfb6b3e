"""The sewer network, run by EPA SWMM 5 (pyswmm), coupled with the 2D surface flood at its manholes.

Each coupling step (SWMM's routing step, or ``[drainage] coupling_interval``) the flood run hands the
depths over: :class:`SewerCoupling` computes the exchange at every manhole from the water on its cell
and the node's head (:func:`kernels.drainage.exchange_flow`), feeds it to SWMM as the node's lateral
inflow, advances SWMM over the step (dynamic wave, its own time steps) and then takes that water off the
cells, and puts back on them the water SWMM's nodes overflowed ("flooding"). What leaves the surface
is exactly what SWMM was given; what SWMM floods is exactly what the surface receives; so the two
domains share one balance, with SWMM's own continuity error beside it.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ingest.swmm import FLOW_TO_M3S, SewerNetwork, read_inp
from kernels.drainage import book_outfalls, book_step, cap_rates, exchange_flow, outfalls_to_close, settle
from twin.errors import InputDataError, ScenarioError
from twin.sims.flood.sewer_replay import ExchangeLog

__all__ = ["SewerCoupling", "DrainageWarning", "CONTINUITY_WARN", "full_capacity"]


#: Share of the water a network moved above which an unclosed network balance is a warning. SWMM's own
#: routing continuity error reaches 1-3 % on the Bellinge network (and our balance follows it to ~1 %);
#: surface water running back up a gateless outfall gave 30 % to several times the inflow.
CONTINUITY_WARN = 0.05


class DrainageWarning(UserWarning):
    """A manhole the coupling leaves out (outside the grid, in a building) or an option it overrides."""


def full_capacity(conduits: pd.DataFrame, nodes: pd.DataFrame, offsets_are_elevations: bool = False) -> np.ndarray:
    """Full-bore capacity [m3/s] of circular conduits by Manning (NaN for other shapes).

    The slope is from invert to invert (with the offsets), floored at 1e-4 as SWMM floors slopes.
    """
    inv = dict(zip(nodes["name"], nodes["invert"].astype(float)))
    c = {k: conduits[k].to_numpy(dtype=float) for k in ("geom1", "length", "roughness", "in_offset", "out_offset")}
    up, down = c["in_offset"], c["out_offset"]
    if not offsets_are_elevations:
        up = up + np.array([inv[n] for n in conduits["from_node"]], dtype=float)
        down = down + np.array([inv[n] for n in conduits["to_node"]], dtype=float)
    ok = (conduits["shape"].to_numpy() == "CIRCULAR") & (c["geom1"] > 0) & (c["length"] > 0) & (c["roughness"] > 0)
    # at once over the conduits (a row at a time it was a good part of a short coupled run's finish),
    # the same operations in the same order as one conduit's formula: the same bits
    g1, length, n = (np.where(ok, c[k], 1.0) for k in ("geom1", "length", "roughness"))
    slope = np.maximum(np.abs(up - down) / length, 1e-4)
    area = math.pi * g1**2 / 4
    barrels = conduits["barrels"].to_numpy(dtype=float)
    # Python's power, not NumPy's: its SIMD power differs from the C library's in the last bit
    hydraulic = np.array([r ** (2 / 3) for r in (g1 / 4).tolist()], dtype=float)
    cap = barrels * area * hydraulic * np.sqrt(slope) / n
    cap = np.where(ok, cap, np.nan)
    return cap


class SewerCoupling:
    """One SWMM run of a sewer network, coupled with a flood run's surface.

    Parameters
    ----------
    cfg
        The scenario's ``[drainage]`` section (its ``inp`` set).
    crs, transform, shape
        The twin's grid.
    ground, blocked : ndarray
        The flood grid's bed elevation and blocked cells.
    duration : float
        Length of the run [s]; SWMM's end date is set to match.
    edits : sequence
        The scenario's ``[[edit]]`` entries: the network's (pipe, storage, inlet, pump) are applied to a copy of the
        ``.inp`` that SWMM then runs (see :mod:`twin.sims.flood.network_edits`).
    resume : dict, optional
        Either a flood run's checkpoint arrays (what :meth:`exchanges` returned, read back): SWMM runs
        again from the start through the exchanges they hold, and comes back exactly where it stopped;
        or what :meth:`checkpoint` returned with ``"hotstart"``, the path of the SWMM hot start file it
        wrote: SWMM starts again from there (in single precision, without its step history: not the
        uninterrupted run's answer, but what a forecast's next cycle can have), the coupling's books go on.
    log_exchanges : bool
        Keep every exchange's depths (for :meth:`exchanges`, a flood run's checkpoints).
    """

    def __init__(
        self,
        cfg: Any,
        crs: Any,
        transform: Any,
        shape: tuple[int, int],
        ground: np.ndarray,
        blocked: np.ndarray,
        duration: float,
        edits: Sequence[Any] = (),
        resume: dict[str, Any] | None = None,
        log_exchanges: bool = False,
    ) -> None:
        import pyswmm

        from twin.sims.flood.network_edits import edit_inp

        self.cfg = cfg
        self.network: SewerNetwork = read_inp(cfg.inp, cfg.crs or crs, crs)
        self._tmp = Path(tempfile.mkdtemp(prefix="cimtwin-swmm-"))
        try:
            edited, self.network_edits = edit_inp(
                self.network, edits, self._tmp, cfg.crs or crs, lambda x, y: _ground_at(ground, transform, x, y)
            )
            if self.network_edits:
                self.network = read_inp(edited, cfg.crs or crs, crs)
            self.to_m3s = FLOW_TO_M3S[self.network.flow_units]
            # default: SWMM's routing step (an inlet drains its cell within seconds: longer intervals starve it)
            self.interval = float(cfg.coupling_interval or self.network.routing_step or 5.0)
            self.cell_area = abs(transform.a * transform.e)
            self.warnings: list[str] = []
            nodes = self.network.nodes
            self.names = list(nodes["name"])
            rows, cols = _cells(nodes, transform)
            ny, nx = shape
            inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
            rr, cc = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
            free = inside & (blocked[rr, cc] == 0)
            inlets = np.isin(nodes["kind"].to_numpy(), ("junction", "storage"))
            coupled = free & inlets
            if inlets.any() and not (inside & inlets).any():
                b = nodes.total_bounds
                raise InputDataError(
                    f"None of the {int(inlets.sum())} manholes of {cfg.inp} lies on the twin's "
                    f"grid (the network spans x {b[0]:.0f}..{b[2]:.0f}, y {b[1]:.0f}..{b[3]:.0f} in the "
                    "twin's CRS). Check [drainage] crs: it must be the CRS of the .inp's coordinates."
                )
            for name, ok, isin, inlet in zip(self.names, free, inside, inlets):
                if not inlet:
                    continue
                if not isin:
                    self._warn(
                        f"manhole {name} of {self.network.path.name} lies outside the twin's grid; it is not "
                        "coupled with the surface (water it overflows leaves the model, counted as lost)."
                    )
                elif not ok:
                    self._warn(
                        f"manhole {name} of {self.network.path.name} lies in a blocked cell (a building or "
                        "nodata); it is not coupled with the surface."
                    )
            self.idx = np.flatnonzero(coupled)
            self.rows, self.cols = rr[self.idx], cc[self.idx]
            self.ground = ground[self.rows, self.cols].astype(np.float64)
            rim = nodes["rim"].to_numpy(dtype=float)[self.idx]
            below = rim < self.ground - 0.5
            for k in np.flatnonzero(below):
                self._warn(
                    f"manhole {self.names[self.idx[k]]}: its rim ({rim[k]:.2f} m) lies "
                    f"{self.ground[k] - rim[k]:.2f} m below the ground of its cell ({self.ground[k]:.2f} m); "
                    "water enters it from the ground up (check the .inp's elevations or its CRS)."
                )
            # the crest the surface water has to top: the rim, or the street where the rim is buried
            self.crest = np.maximum(rim, self.ground)
            flat = self.rows * nx + self.cols
            count = np.bincount(flat, minlength=ny * nx)[flat]
            self.share = self.cell_area / count  # nodes sharing a cell share its water
            # outfalls into the surface: stage from the cell's water, discharge onto the cell
            kinds = nodes["kind"].to_numpy()
            self.out_idx = (
                np.flatnonzero(free & (kinds == "outfall")) if cfg.outfalls == "surface" else np.zeros(0, int)
            )
            if cfg.outfalls == "surface":
                for i in np.flatnonzero(~free & (kinds == "outfall")):
                    self._warn(
                        f"outfall {self.names[i]} of {self.network.path.name} lies outside the grid or in a "
                        "blocked cell; it discharges freely out of the model."
                    )
            self.out_rows, self.out_cols = rr[self.out_idx], cc[self.out_idx]
            self.out_ground = ground[self.out_rows, self.out_cols].astype(np.float64)
            self.out_invert = nodes["invert"].to_numpy(dtype=float)[self.out_idx]
            out_flat = self.out_rows * nx + self.out_cols
            self.out_share = self.cell_area / np.bincount(out_flat, minlength=ny * nx)[out_flat]
            # the outfalls by cell (outfalls sharing a cell share its water): sums over the outfalls, not the grid
            self._out_cell = np.unique(out_flat, return_inverse=True)[1].reshape(-1)
            #: (rows, cols) of every cell :meth:`step` may change: the coupled manholes' and surface outfalls'
            self.cells = (np.concatenate((self.rows, self.out_rows)), np.concatenate((self.cols, self.out_cols)))
            self.area = np.full(len(self.idx), cfg.inlet_area)
            self.perimeter = np.full(len(self.idx), cfg.inlet_perimeter)
            if self.network.rows.get("SUBCATCHMENTS"):
                self._warn(
                    f"{self.network.path.name} has {self.network.rows['SUBCATCHMENTS']} subcatchments: SWMM runs "
                    "them with their own rain gauges, and their runoff enters the network besides the water "
                    "the surface gives it. Give their gauges no rain (or remove them) so rain is not counted twice."
                )
            for message in _loop_warnings(self.network):
                self._warn(message)
            if self.network.options.get("ALLOW_PONDING", "NO").upper() == "YES":
                self._warn(
                    f"{self.network.path.name} sets ALLOW_PONDING YES; in the coupled run the street is the "
                    "pond, so water a node overflows is put on its cell rather than ponded in SWMM."
                )
        except Exception:  # the edited copy and the folder go with a network that cannot run
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        try:
            self.sim = pyswmm.Simulation(
                str(self.network.path), str(self._tmp / "swmm.rpt"), str(self._tmp / "swmm.out")
            )
        except Exception as exc:  # swmm-toolkit raises a bare Exception with SWMM's error text
            message = f"SWMM cannot open {self._shown()}: {_swmm_error(exc, self._tmp)}"
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise InputDataError(message) from None
        self._t0 = self.sim.start_time  # the .inp's start: the coupled run's time 0
        self.sim.end_time = self._t0 + pd.Timedelta(seconds=duration).to_pytimedelta()
        replay = resume is not None and "hotstart" not in resume
        if resume is not None and not replay:
            if not Path(resume["hotstart"]).is_file():
                self.close()
                raise ScenarioError(
                    f"The checkpoint's SWMM hot start file {resume['hotstart']} is missing; delete the checkpoint "
                    "and run from the start."
                )
            # SWMM's state (heads, flows, volumes) from the hot start file, its clock from where it stopped
            self.sim.start_time = self._t0 + pd.Timedelta(seconds=float(resume["sewer_t"])).to_pytimedelta()
            self.sim.use_hotstart(str(resume["hotstart"]))
        # by index through swmm-toolkit: pyswmm's Node and Link objects cost O(n) each to make
        self._io = _NodeIO(self.names, self.idx, self.out_idx, list(self.network.conduits["name"]))
        # the street is the pond: overflow is SWMM's flooding, put on the cell
        self._io.no_ponding(np.flatnonzero(kinds[self.idx] == "junction"))
        try:
            self.sim.start()
        except Exception as exc:
            message = f"SWMM cannot run {self._shown()}: {_swmm_error(exc, self._tmp)}"
            self.close()
            raise InputDataError(message) from None
        self.t = 0.0
        self.duration = float(duration)
        self.done = False
        n = len(self.names)
        self.vol_to_network = np.zeros(n)
        self.vol_to_surface = np.zeros(n)
        self.overflow_time = np.zeros(n)
        self.lost_flooding = 0.0
        self.net_fed = 0.0  # fed to SWMM as lateral inflow, net of what surcharged nodes gave
        self.vol_outfalls_to_surface = 0.0
        self.stored0 = self.network_storage()
        self._flood_prev = np.zeros(n)
        self._overflowed = np.zeros(n, dtype=bool)  # nodes seen overflowing in this coupling step
        self._overflowed_last = np.zeros(n, dtype=bool)
        self.vol_outfalls_from_surface = 0.0  # taken off the cells of gateless outfalls (reversed flow)
        self.vol_outfalls_reverse_unmet = 0.0  # let in by SWMM beyond what the cells held
        self._out_rate = np.zeros(len(self.out_idx))  # signed outfall discharge of SWMM's last step [m3/s]
        self._out_back = np.zeros(len(self.out_idx))  # the largest backflow seen at each outfall [m3/s]
        # an outfall buried below its cell's ground under a mere film (thinner than _FILM_DEPTH): until it has
        # shown a backflow, an orifice of its pipes' full section under the stage's head bounds the next one (a
        # film of rain on a cell metres above an outfall must not let SWMM fill the network up it in one step).
        # Deeper water (a river in flood, a pond) keeps its tailwater: closing the outfall there would let the
        # network drain freely into a river standing metres above its invert
        self._out_area = _outfall_pipe_area(self.network.conduits, [self.names[i] for i in self.out_idx])
        self._out_guess = np.zeros(len(self.out_idx))
        self._out_close = np.empty(len(self.out_idx), dtype=np.int64)  # the outfalls a step closes
        # whether each outfall's cell has held a water body (_FILM_DEPTH or more) since it was last dry: a
        # depth hovering about _FILM_DEPTH must not switch the outfall between the cell's level and its
        # invert at every exchange (SWMM books the outfall pipe's volume from the stage: each switch fills
        # or empties it without a flow: its routing continuity error on the demo was 0.75 %, 0.12 % with this rule)
        self._out_body = np.zeros(len(self.out_idx), dtype=bool)
        self._carried: dict[str, Any] | None = None  # SWMM's own counters of the runs before a hot start
        self._log = ExchangeLog(len(self.idx) + len(self.out_idx)) if log_exchanges or replay else None
        if replay:
            try:
                self._replay(resume, shape)
            except Exception:  # a checkpoint of another network, or SWMM stopping: release it
                self.close()
                raise
        elif resume is not None:
            self._resume(resume)

    def _shown(self) -> str:
        """The scenario's .inp for messages, saying when SWMM ran the scenario's edited copy of it."""
        return f"{self.cfg.inp} (edited by the scenario's network edits)" if self.network_edits else str(self.cfg.inp)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        warnings.warn(message, DrainageWarning, stacklevel=3)

    def network_storage(self) -> float:
        """Water in the network's nodes and conduits [m3]."""
        return self._io.storage()

    def step(self, h: np.ndarray, t_end: float) -> None:
        """Exchange with the surface depths ``h`` (changed in place) while SWMM advances to ``t_end`` [s]."""
        if self.done or t_end <= self.t + 1e-9:
            return
        if self._log is not None:
            self._log.record(np.concatenate((h[self.rows, self.cols], h[self.out_rows, self.out_cols])), t_end)
        dt = t_end - self.t
        depth = h[self.rows, self.cols].astype(np.float64)
        head, vol = self._io.heads_volumes()
        q = exchange_flow(
            depth,
            self.ground,
            head,
            self.crest,
            self.area,
            self.perimeter,
            vol,
            float(self.cfg.weir_coefficient),
            float(self.cfg.orifice_coefficient),
            self.share,
            dt,
            9.81,
        )
        # SWMM's last step may run past t_end: what a node takes or gives stays within this allowance
        allow = np.where(q > 0, depth * self.share, np.maximum(vol, 0.0))
        out_depth = np.maximum(h[self.out_rows, self.out_cols].astype(np.float64), 0.0)
        # the cell's water level as the outfall's tailwater; a dry cell is no tailwater (a free outfall),
        # even where the outfall lies below the cell's ground
        stage = np.where(out_depth > 0, self.out_ground + out_depth, self.out_invert)
        self._io.set_outfall_stages(np.maximum(stage, self.out_invert))
        self._out_body = (self._out_body | (out_depth >= _FILM_DEPTH)) & (out_depth > 0)
        buried = (self.out_ground - self.out_invert > out_depth) & ~self._out_body
        head = np.maximum(stage - self.out_invert, 0.0)
        self._out_guess = np.where(buried, self._out_area * np.sqrt(2 * 9.81 * head), 0.0)
        elapsed, fed, dis = self._advance(q, allow, out_depth * self.out_share, t_end)
        if len(self.out_idx):
            self._book_outfalls(h, dis, elapsed)
        # SWMM's own overflow volumes, node by node
        # only nodes that overflowed at the end of one of SWMM's steps (this coupling step's or, as SWMM
        # may close a step's statistics in the next call, the last one's) can have flooded: read those
        seen = self._overflowed | self._overflowed_last
        which = np.arange(len(seen)) if self.done else np.flatnonzero(seen)
        self._overflowed_last, self._overflowed = self._overflowed, np.zeros_like(seen)
        flood_now = self._flood_prev.copy()
        flood_now[which] = self._io.flooding(which)
        flooded = np.maximum(flood_now - self._flood_prev, 0.0)
        self._flood_prev = flood_now
        back = flooded[self.idx]
        self.lost_flooding += float(flooded.sum() - back.sum())
        self.net_fed += float(fed.sum())
        # the cells' water, floored at 0 (float rounding only: the cap keeps what is taken within the cell's
        # water) at the cells the exchange changed alone (a pass over the whole grid at every exchange cost
        # O(cells x exchanges)), and the nodes' books
        change = ((back - fed) / self.cell_area).astype(h.dtype)
        settle(h, self.rows, self.cols, change, self.out_rows, self.out_cols, self.idx, fed, back, elapsed,
               self.vol_to_network, self.vol_to_surface, self.overflow_time)  # fmt: skip
        self.t += elapsed

    def _advance(
        self, q: np.ndarray, allow: np.ndarray, out_water: np.ndarray, t_end: float
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Run SWMM's steps until ``t_end``, feeding ``q`` [m3/s] at the coupled nodes but never more than
        ``allow`` [m3] in all, and letting the surface outfalls take back at most ``out_water`` [m3] (their
        cells' water). Returns the seconds run, the volume [m3] each node was fed (negative: given) and
        each surface outfall discharged (negative: took in, SWMM's reversed outflow)."""
        start = self.sim.current_time
        target = self._t0 + pd.Timedelta(seconds=t_end).to_pytimedelta()
        longest = self.network.routing_step  # no SWMM step is longer
        rate = np.sign(q) * np.minimum(np.abs(q), allow / longest)
        fed = np.zeros_like(q)
        dis = np.zeros(len(self.out_idx))
        short = np.empty(len(q), dtype=np.int64)  # the nodes whose inflow a step cut
        # a gateless outfall under water takes the surface back up its pipe: close it (stage at its invert)
        # before it takes more than its cell holds, judged by the largest backflow it has shown
        self._close_outfalls(dis, out_water, longest)
        self._feed(rate, np.arange(len(q)))  # SWMM keeps an inflow until it is set again

        now = [start]  # SWMM's clock (pyswmm's, whole seconds) after its last step: read once a step

        def one_step() -> float:
            left = self._swmm_step()
            after = self.sim.current_time
            dt = (after - now[0]).total_seconds()
            now[0] = after
            q_in, q_out = self._io.after_step(self._overflowed)
            book_step(dt, rate, fed, q_in, q_out, self.to_m3s, self._out_rate, self._out_back, dis)
            return left

        near = target - pd.Timedelta(milliseconds=1).to_pytimedelta()
        while now[0] < near:
            if one_step() == 0:
                self.done = True
                break
            # the next step (at most ROUTING_STEP long) must not take more than is left
            n = cap_rates(rate, fed, allow, longest, short)
            if n:
                self._feed(rate, short[:n])
            self._close_outfalls(dis, out_water, longest)
        if not self.done and t_end >= self.duration - 1e-9:
            # SWMM closes its last step's statistics (flooding among them) in the call that ends the run
            one_step()
            self.done = True
        return (now[0] - start).total_seconds(), fed, dis

    def _close_outfalls(self, dis: np.ndarray, out_water: np.ndarray, longest: float) -> None:
        """Set the stage of surface outfalls whose next step could take in more than their cell has left
        to their invert (SWMM then lets no water in; the stage is set again at the next coupling step).
        The next step's backflow is judged by the largest seen at that outfall: an outfall closed last
        step discharges freely, which says nothing about what it would take in once opened."""
        if not len(self.out_idx):
            return
        close = self._out_close
        n = outfalls_to_close(out_water, dis, self._out_back, self._out_guess, longest, close)
        if n:
            self._io.set_outfall_stages(self.out_invert[close[:n]], close[:n])

    def _book_outfalls(self, h: np.ndarray, dis: np.ndarray, elapsed: float) -> None:
        """Put what the surface outfalls discharged on their cells, and take off them what SWMM let in
        through them (never more than a cell holds: the rest is counted as ``reverse_unmet``)."""
        want, taken, given = (np.empty(len(dis)) for _ in range(3))
        book_outfalls(h, self.out_rows, self.out_cols, self._out_cell, dis, self.cell_area, elapsed, self.out_idx,
                      self.vol_to_network, self.vol_to_surface, self.overflow_time, want, taken, given)  # fmt: skip
        self.vol_outfalls_to_surface += float(given.sum())
        self.vol_outfalls_from_surface += float(taken.sum())
        self.vol_outfalls_reverse_unmet += float((want - taken).sum())

    def _feed(self, rate: np.ndarray, which: np.ndarray) -> None:
        self._io.set_inflows(rate / self.to_m3s, which)

    def _swmm_step(self) -> float:
        try:
            return self.sim._model.swmm_step()
        except Exception as exc:
            raise InputDataError(f"SWMM stopped on {self.network.path}: {_swmm_error(exc, self._tmp)}") from None

    def finish(self) -> DrainageResult:
        """Close SWMM; the per-manhole and per-pipe results and the network's balance."""
        stored1 = self.network_storage()
        swmm = self._swmm_counters()
        routing, outflow, peak = swmm["routing"], swmm["outflow"], swmm["peak_flow"] * self.to_m3s
        surcharged, peak_depth, peak_date = swmm["surcharged"], swmm["peak_depth"], swmm["peak_date"]
        day0 = (self._t0 - pd.Timestamp("1899-12-30").to_pydatetime()).total_seconds() / 86400.0
        self._pumped()
        self.sim.report()
        self.sim.close()
        net = self.network
        cap = full_capacity(net.conduits, net.nodes, net.options.get("LINK_OFFSETS", "DEPTH").upper() == "ELEVATION")
        conduits = net.conduits[["name", "from_node", "to_node", "shape", "geom1", "length"]].copy()
        conduits = conduits.rename(columns={"geom1": "diameter_m", "length": "length_m"})
        conduits["peak_flow_m3s"] = peak
        conduits["capacity_m3s"] = cap
        conduits["capacity_ratio"] = peak / cap
        conduits["surcharged_hours"] = surcharged
        conduits = gpd.GeoDataFrame(conduits, geometry=net.conduits.geometry, crs=net.conduits.crs)
        nodes = net.nodes[["name", "kind", "invert", "rim"]].copy()
        coupled = np.zeros(len(nodes), dtype=bool)
        coupled[self.idx] = True
        nodes["coupled"] = coupled
        # SWMM's own maxima over its steps (dates in days since 1899-12-30)
        nodes["peak_head_m"] = nodes["invert"].to_numpy() + peak_depth
        times = (peak_date - day0) * 86400.0
        nodes["peak_head_time_s"] = np.clip(np.round(times, 1), 0.0, self.duration)  # dates hold ~1 ms
        nodes["overflow_volume_m3"] = self.vol_to_surface
        nodes["overflow_duration_s"] = self.overflow_time
        nodes["inflow_from_surface_m3"] = self.vol_to_network
        nodes = gpd.GeoDataFrame(nodes, geometry=net.nodes.geometry, crs=net.nodes.crs)
        # SWMM's own inputs (its subcatchments' runoff, dry weather flow, ...); the coupling's inflow is
        # SWMM's "external inflow" and is counted from what was fed
        other_in = sum(
            routing.get(k, 0.0) for k in ("dry_weather_inflow", "wet_weather_inflow", "groundwater_inflow", "II_inflow")
        )
        fed = float(self.vol_to_network.sum())
        reversed_in = self.vol_outfalls_from_surface + self.vol_outfalls_reverse_unmet
        if self.network.rows.get("INFLOWS"):
            # the .inp's own [INFLOWS] are external inflow too: what SWMM counts beyond the coupling's (and
            # beyond what came in through outfalls, which SWMM books as external inflow as well)
            other_in += max(routing.get("external_inflow", 0.0) - self.net_fed - reversed_in, 0.0)
        # water SWMM let in through an outfall beyond what its cell held: no cell gave it, so it enters
        # the books as an inflow of the network's own (reported on its own line)
        other_in += self.vol_outfalls_reverse_unmet
        losses = routing.get("evaporation_loss", 0.0) + routing.get("seepage_loss", 0.0)
        flooded = float(self.vol_to_surface.sum()) + self.lost_flooding
        resid = (stored1 - self.stored0) - (fed + other_in - outflow - flooded - losses)
        moved = fed + other_in + abs(outflow) + flooded
        if moved > 0 and abs(resid) > CONTINUITY_WARN * moved:
            # a network whose books do not close cannot be trusted silently: say how far off, and the known causes
            self._warn(
                f"the sewer network of {self._shown()} does not close its balance: {resid:.1f} m3 "
                f"({100 * resid / moved:.1f} % of the {moved:.0f} m3 it moved; SWMM's own routing continuity error "
                f"is {routing.get('routing_error', 0.0):.2f} %). Known causes: surface water running back up an "
                "outfall without a flap gate (give outfalls below a river or lake Gated YES in [OUTFALLS]), a "
                "coupling interval above 5 s, or SWMM's own routing (a shorter ROUTING_STEP)."
            )
        summary = {
            "inp": str(self.cfg.inp),
            "network_edits": self.network_edits,
            "nodes": len(nodes),
            "nodes_coupled": int(coupled.sum()),
            "conduits": len(conduits),
            "coupling_interval_s": self.interval,
            "flow_units": net.flow_units,
            "volume_surface_to_network_m3": fed,
            "volume_network_to_surface_m3": float(self.vol_to_surface.sum()),
            "volume_network_inflow_other_m3": float(other_in),
            "volume_outfalls_m3": outflow,
            "volume_outfalls_to_surface_m3": self.vol_outfalls_to_surface,
            "volume_outfalls_from_surface_m3": self.vol_outfalls_from_surface,
            "volume_outfalls_reverse_unmet_m3": self.vol_outfalls_reverse_unmet,
            "volume_flooding_lost_m3": float(self.lost_flooding),
            "volume_network_losses_m3": float(losses),
            "volume_network_initial_m3": self.stored0,
            "volume_network_stored_m3": stored1,
            "network_continuity_error_m3": float(resid),
            "swmm_routing_continuity_error_percent": float(routing.get("routing_error", 0.0)),
            # a resumed run: SWMM's own error of each part (the figure above is the last part's)
            **({"swmm_routing_continuity_error_percent_parts": swmm["errors"]} if len(swmm["errors"]) > 1 else {}),
            "manholes_overflowing": int(np.count_nonzero(self.vol_to_surface[self.idx] > 0)),
            "conduits_over_capacity": int(np.count_nonzero(conduits["capacity_ratio"] > 1)),
            "warnings": list(self.warnings),
        }
        rpt = self._tmp / "swmm.rpt"
        report = rpt.read_text(errors="replace") if rpt.is_file() else ""
        shutil.rmtree(self._tmp, ignore_errors=True)
        return DrainageResult(nodes=nodes, conduits=conduits, summary=summary, report=report)

    def _pump_volumes(self) -> dict[str, float]:
        """SWMM's pumped volume [m3] of each edited pump so far (with the parts before a resume)."""
        from pyswmm import Links

        links = Links(self.sim)
        before = (self._carried or {}).get("pumped", {})
        return {
            e["link"]: before.get(e["link"], 0.0) + float(links[e["link"]].pump_statistics["total_volume"])
            for e in self.network_edits
            if e["type"] == "pump"
        }

    def _pumped(self) -> None:
        """Add SWMM's pumped volume [m3] to each pump edit's entry of the summary."""
        volumes = self._pump_volumes()
        for entry in self.network_edits:
            if entry["type"] == "pump":
                entry["pumped_volume_m3"] = volumes[entry["link"]]

    def _swmm_counters(self) -> dict[str, Any]:
        """SWMM's own counters of the run so far (with those of the parts before a resume): routing
        totals [m3], free outfalls' outflow [m3], per conduit the peak flow (flow units) and hours
        surcharged, per node the peak depth [m] and its date (days since 1899-12-30)."""
        from pyswmm import SystemStats

        routing = {k: float(v) for k, v in dict(SystemStats(self.sim).routing_stats).items()}
        outfalls = np.flatnonzero(self.network.nodes["kind"].to_numpy() == "outfall")
        # m3 (SWMM's volumes are m3 in SI units); what outfalls put on the surface stays in the model
        free_outfalls = np.setdiff1d(outfalls, self.out_idx)
        links, nodes = self._io.link_stats(), self._io.node_stats()
        now = {
            "routing": routing,
            "errors": [routing.get("routing_error", 0.0)],
            "outflow": float(self._io.total_inflows(free_outfalls).sum()),
            "peak_flow": np.array([abs(c.maxFlow) for c in links], dtype=float),
            "surcharged": np.array([float(c.timeSurcharged) for c in links]),
            "peak_depth": np.array([st.maxDepth for st in nodes], dtype=float),
            "peak_date": np.array([st.maxDepthDate for st in nodes], dtype=float),
        }
        before = self._carried
        if before is None:
            return now
        later = now["peak_depth"] > before["peak_depth"]
        routing = {k: v + before["routing"].get(k, 0.0) for k, v in routing.items()}
        # storage at the start is the first part's; at the end, the last's; the error is each part's own
        routing["initial_storage"] = before["routing"].get("initial_storage", 0.0)
        routing["final_storage"] = now["routing"].get("final_storage", 0.0)
        routing["routing_error"] = now["routing"].get("routing_error", 0.0)
        return {
            "routing": routing,
            "errors": before["errors"] + now["errors"],
            "outflow": before["outflow"] + now["outflow"],
            "peak_flow": np.maximum(before["peak_flow"], now["peak_flow"]),
            "surcharged": before["surcharged"] + now["surcharged"],
            "peak_depth": np.where(later, now["peak_depth"], before["peak_depth"]),
            "peak_date": np.where(later, now["peak_date"], before["peak_date"]),
        }

    def checkpoint(self, hotstart: Path) -> dict[str, np.ndarray]:
        """Save SWMM's state into the hot start file ``hotstart``; the coupling's books and SWMM's own
        counters so far as arrays for the run's checkpoint (give them back as ``resume``)."""
        try:
            self.sim.save_hotstart(str(hotstart))
        except Exception as exc:
            raise InputDataError(f"SWMM cannot write its hot start file {hotstart}: {exc}") from None
        swmm = self._swmm_counters()
        scalars = {
            "t": self.t,
            "swmm_t": (self.sim.current_time - self._t0).total_seconds(),
            "lost_flooding": self.lost_flooding,
            "net_fed": self.net_fed,
            "stored0": self.stored0,
            "vol_outfalls_to_surface": self.vol_outfalls_to_surface,
            "vol_outfalls_from_surface": self.vol_outfalls_from_surface,
            "vol_outfalls_reverse_unmet": self.vol_outfalls_reverse_unmet,
            "routing": swmm["routing"],
            "errors": swmm["errors"],
            "outflow": swmm["outflow"],
            "pumped": self._pump_volumes(),
        }
        return {
            "sewer_t": np.float64(scalars["swmm_t"]),
            "sewer_books": np.array(json.dumps(scalars)),
            "sewer_vol_to_network": self.vol_to_network,
            "sewer_vol_to_surface": self.vol_to_surface,
            "sewer_overflow_time": self.overflow_time,
            "sewer_out_rate": self._out_rate,
            "sewer_out_back": self._out_back,
            "sewer_out_body": self._out_body,
            "sewer_peak_flow": swmm["peak_flow"],
            "sewer_surcharged": swmm["surcharged"],
            "sewer_peak_depth": swmm["peak_depth"],
            "sewer_peak_date": swmm["peak_date"],
        }

    def exchanges(self) -> dict[str, np.ndarray]:
        """The exchanges so far as arrays for a flood run's checkpoint (give them back as ``resume``: SWMM
        and the coupling's books then come back bit for bit, see :mod:`twin.sims.flood.sewer_replay`)."""
        if self._log is None:
            raise RuntimeError("exchanges() needs a coupling made with log_exchanges=True")
        return self._log.arrays(np.dtype(np.float64))

    def _replay(self, ck: dict[str, Any], shape: tuple[int, int]) -> None:
        """Run SWMM again from the start through a checkpoint's exchanges: the same depths at the same
        times set the same inflows and outfall stages before the same SWMM steps."""
        times, depths = ExchangeLog.from_checkpoint(ck, len(self.idx) + len(self.out_idx), self._shown())
        surface = np.zeros(shape, dtype=depths.dtype)  # the step reads and changes the coupled cells only
        m = len(self.idx)
        for t_end, row in zip(times, depths):
            surface[self.rows, self.cols] = row[:m]
            surface[self.out_rows, self.out_cols] = row[m:]
            self.step(surface, float(t_end))

    def _resume(self, ck: dict[str, Any]) -> None:
        """Go on with the books of a checkpoint (SWMM itself restarted from the hot start file)."""
        books = json.loads(str(ck["sewer_books"]))
        n = len(self.names)
        if len(ck["sewer_vol_to_network"]) != n or len(ck["sewer_peak_flow"]) != len(self._io.links):
            raise ScenarioError(
                f"The checkpoint's sewer network has other nodes or conduits than {self._shown()}; delete the "
                "checkpoint and run from the start."
            )
        # SWMM restarts on whole seconds (pyswmm's clock, to which the run's time is rounded): the
        # fraction of a second SWMM had run past it is skipped
        self.t = (self.sim.current_time - self._t0).total_seconds()
        self.lost_flooding, self.net_fed, self.stored0 = books["lost_flooding"], books["net_fed"], books["stored0"]
        self.vol_outfalls_to_surface = books["vol_outfalls_to_surface"]
        self.vol_outfalls_from_surface = books["vol_outfalls_from_surface"]
        self.vol_outfalls_reverse_unmet = books["vol_outfalls_reverse_unmet"]
        self.vol_to_network = np.array(ck["sewer_vol_to_network"], dtype=float)
        self.vol_to_surface = np.array(ck["sewer_vol_to_surface"], dtype=float)
        self.overflow_time = np.array(ck["sewer_overflow_time"], dtype=float)
        self._out_rate = np.array(ck["sewer_out_rate"], dtype=float)
        self._out_back = np.array(ck["sewer_out_back"], dtype=float)
        if "sewer_out_body" in ck:  # a forecast's state saved before the outfalls' water body was kept has none
            self._out_body = np.array(ck["sewer_out_body"], dtype=bool)
        self._carried = {
            "routing": books["routing"],
            "errors": books["errors"],
            "outflow": books["outflow"],
            "pumped": books.get("pumped", {}),
            "peak_flow": np.array(ck["sewer_peak_flow"], dtype=float),
            "surcharged": np.array(ck["sewer_surcharged"], dtype=float),
            "peak_depth": np.array(ck["sewer_peak_depth"], dtype=float),
            "peak_date": np.array(ck["sewer_peak_date"], dtype=float),
        }

    def close(self) -> None:
        """Release SWMM after a failed run."""
        try:
            self.sim.close()
        except Exception:  # already closed, or never started
            pass
        shutil.rmtree(self._tmp, ignore_errors=True)


class _NodeIO:
    """SWMM's node values read and set by index, for many nodes.

    Heads, volumes, overflows, the surface outfalls' flows and the inflows fed come through
    :class:`twin.sims.flood.swmm_values.NodeValues` (SWMM's C calls looped in Numba, ~30 ns a node),
    inflows only where they changed; the rest through swmm-toolkit's per-node calls (1-2 us a node),
    made only where needed: the flooding statistics only at nodes that overflowed.
    """

    def __init__(self, names: list[str], coupled: np.ndarray, outfalls: np.ndarray, links: list[str]) -> None:
        from pyswmm.toolkitapi import LinkResults, NodeParams, NodeResults, ObjectType
        from swmm.toolkit import solver

        self._solver = solver
        self._head, self._volume = NodeResults.newHead.value, NodeResults.newVolume.value
        self._inflow, self._outflow = NodeResults.totalinflow.value, NodeResults.outflow.value
        self._link_volume, self._ponded = LinkResults.newVolume.value, NodeParams.pondedArea.value
        self.all = [int(solver.project_get_index(ObjectType.NODE.value, n)) for n in names]
        self.links = [int(solver.project_get_index(ObjectType.LINK.value, n)) for n in links]
        self.coupled = [self.all[k] for k in coupled]
        self.outfalls = [self.all[k] for k in outfalls]
        self._all = np.array(self.all, dtype=np.int32)
        self._coupled = np.array(self.coupled, dtype=np.int32)
        self._outfalls = np.array(self.outfalls, dtype=np.int32)
        self._inflow_set = np.zeros(len(self.coupled))  # SWMM's inflows start at 0
        self._values: Any = None

    def _vals(self) -> Any:
        if self._values is None:  # once SWMM has started (its values are checked against the wrapper's)
            from twin.sims.flood.swmm_values import NodeValues

            self._values = NodeValues(self._coupled)
        return self._values

    def heads_volumes(self) -> tuple[np.ndarray, np.ndarray]:
        """Head [m] and stored volume [m3] of the coupled nodes."""
        from twin.sims.flood.swmm_values import NODE_HEAD, NODE_VOLUME

        vals = self._vals()
        return vals.get(NODE_HEAD, self._coupled), vals.get(NODE_VOLUME, self._coupled)

    def after_step(self, overflowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """After each SWMM step, in one call: mark in ``overflowed`` the nodes that overflow (SWMM's flooding)
        at its end; return the surface outfalls' inflow and outflow (SWMM's flow units) over it, from which
        :func:`kernels.drainage.book_step` takes their signed discharge."""
        return self._vals().after_step(self._all, overflowed, (self._inflow, self._outflow), self._outfalls)

    def set_inflows(self, rate: np.ndarray, which: np.ndarray) -> None:
        """Set the lateral inflow (SWMM's flow units) of the coupled nodes ``which`` (SWMM keeps an
        inflow until it is set again: only the changed ones are set)."""
        which = np.asarray(which)
        which = which[rate[which] != self._inflow_set[which]]
        if len(which):
            self._vals().set_inflows(self._coupled[which], rate[which])
            self._inflow_set[which] = rate[which]

    def set_outfall_stages(self, stage: np.ndarray, which: np.ndarray | None = None) -> None:
        """Set the stage [m] of the surface outfalls (those ``which``, default all)."""
        self._vals().set_stages(self._outfalls if which is None else self._outfalls[which], stage)

    def total_inflows(self, which: np.ndarray) -> np.ndarray:
        """Cumulative inflow volume [m3] of the nodes ``which``."""
        get = self._solver.node_get_total_inflow
        return np.array([get(self.all[k]) for k in which], dtype=float)

    def no_ponding(self, which: np.ndarray) -> None:
        """No ponded area at the coupled nodes ``which``."""
        for k in which:
            self._solver.node_set_parameter(self.coupled[k], self._ponded, 0.0)

    def storage(self) -> float:
        """Water in all nodes and the conduits [m3]."""
        node, link = self._solver.node_get_result, self._solver.link_get_result
        return float(sum(node(i, self._volume) for i in self.all) + sum(link(i, self._link_volume) for i in self.links))

    def node_stats(self) -> list:
        """SWMM's statistics of every node (fields as in its NodeStats: maxDepth, volFlooded, ...)."""
        return [self._solver.node_get_stats(i) for i in self.all]

    def link_stats(self) -> list:
        """SWMM's statistics of the conduits (maxFlow, timeSurcharged, ...)."""
        return [self._solver.link_get_stats(i) for i in self.links]

    def flooding(self, which: np.ndarray) -> np.ndarray:
        """Cumulative flooding volume [m3] of the nodes ``which`` (SWMM's ``volFlooded`` statistic)."""
        get = self._solver.node_get_stats
        return np.array([get(self.all[k]).volFlooded for k in which], dtype=float)


class DrainageResult:
    """Per manhole and per pipe outputs of a coupled run, its network balance and SWMM's report."""

    def __init__(
        self, nodes: gpd.GeoDataFrame, conduits: gpd.GeoDataFrame, summary: dict[str, Any], report: str
    ) -> None:
        self.nodes, self.conduits, self.summary, self.report = nodes, conduits, summary, report

    @classmethod
    def load(cls, folder: Path, summary: dict[str, Any]) -> DrainageResult | None:
        """Read back what :meth:`save` wrote into a result folder (``None`` when it holds no network)."""
        gpkg = folder / "drainage.gpkg"
        if not gpkg.is_file():
            return None
        rpt = folder / "swmm.rpt"
        return cls(
            nodes=gpd.read_file(gpkg, layer="manholes"),
            conduits=gpd.read_file(gpkg, layer="pipes"),
            summary=dict(summary.get("drainage", {})),
            report=rpt.read_text() if rpt.is_file() else "",
        )

    def save(self, folder: Path) -> None:
        """Write ``drainage.gpkg`` (layers ``manholes`` and ``pipes``) and ``swmm.rpt`` into ``folder``."""
        gpkg = folder / "drainage.gpkg"
        self.nodes.to_file(gpkg, layer="manholes", driver="GPKG", engine="pyogrio")
        self.conduits.to_file(gpkg, layer="pipes", driver="GPKG", engine="pyogrio")
        (folder / "swmm.rpt").write_text(self.report)


def _loop_warnings(network: SewerNetwork) -> list[str]:
    """Named warnings for conduits that close a loop (a directed cycle from ``from_node`` to
    ``to_node``) and for the loops' pipes laid uphill (outlet invert above inlet invert).

    SWMM runs such a network, but water can circulate in it with no outlet: most often a pipe
    entered the wrong way round, or inverts in another datum. Meshed networks are legal, so this
    warns and names the pipes rather than refusing the file.
    """
    import networkx as nx

    c = network.conduits
    if c.empty:
        return []
    invert = dict(zip(network.nodes["name"], network.nodes["invert"].astype(float)))
    graph = nx.DiGraph()
    graph.add_edges_from(zip(c["from_node"], c["to_node"]))
    out = []
    for comp in nx.strongly_connected_components(graph):
        if len(comp) < 2:
            continue
        inside = c[c["from_node"].isin(comp) & c["to_node"].isin(comp)]
        up = inside["from_node"].map(invert) + inside["in_offset"].astype(float)
        down = inside["to_node"].map(invert) + inside["out_offset"].astype(float)
        adverse = list(inside.loc[(down > up).to_numpy(), "name"])
        names = list(inside["name"])
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        out.append(
            f"{network.path.name}: conduits {shown} close a loop (from_node to to_node comes back to its "
            f"start), so water can circulate with no way out"
            + (
                f"; {len(adverse)} of them slope uphill ({', '.join(adverse[:10])}): check that each runs "
                "from its upstream node to its downstream one and that the inverts share one datum"
                if adverse
                else ""
            )
            + "."
        )
    return out


#: Water on an outfall's cell thinner than this [m] (the results' wet depth) is a film, not a water body
#: that holds a stage over an outfall buried below the cell's ground
_FILM_DEPTH = 0.01


def _outfall_pipe_area(conduits: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The full cross-section [m2] of the conduits joining each outfall of ``names`` (all barrels; a
    circle of diameter geom1, or geom1 squared for other shapes: a bound, not a hydraulic area)."""
    g1 = conduits["geom1"].to_numpy(dtype=float)
    area = np.where(conduits["shape"].to_numpy() == "CIRCULAR", math.pi / 4 * g1**2, g1**2)
    area = area * conduits["barrels"].to_numpy(dtype=float)
    ends = (conduits["from_node"].to_numpy(), conduits["to_node"].to_numpy())
    return np.array([float(area[(ends[0] == n) | (ends[1] == n)].sum()) for n in names])


def _cells(nodes: gpd.GeoDataFrame, transform: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = nodes.geometry.x.to_numpy(), nodes.geometry.y.to_numpy()
    c, r = ~transform @ (x, y)
    return np.floor(np.asarray(r)).astype(np.int64), np.floor(np.asarray(c)).astype(np.int64)


def _swmm_error(exc: Exception, tmp: Path) -> str:
    """SWMM's own words: the ERROR lines of its report, else the exception's text."""
    rpt = tmp / "swmm.rpt"
    if rpt.is_file():
        lines = [ln.strip() for ln in rpt.read_text(errors="replace").splitlines() if "ERROR" in ln]
        if lines:
            return "; ".join(lines[:3])
    return str(exc).strip() or type(exc).__name__


def _ground_at(ground: np.ndarray, transform: Any, x: float, y: float) -> float | None:
    """The ground elevation of the cell holding (x, y); None off the grid."""
    col, row = ~transform @ (x, y)
    r, c = int(np.floor(row)), int(np.floor(col))
    if 0 <= r < ground.shape[0] and 0 <= c < ground.shape[1] and np.isfinite(ground[r, c]):
        return float(ground[r, c])
    return None
