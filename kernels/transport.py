"""Pollutant transport along rivers: 1D advection-dispersion-decay and completely mixed lakes.

Each link of a river network (``downstream[i]`` = receiving link or -1, as in
:mod:`kernels.river`) is a prismatic channel of cross-section area ``A`` [m2], steady velocity
``u > 0`` [m/s], longitudinal dispersion coefficient ``D`` [m2/s] and first-order decay rate
``k`` [1/s], cut into equal finite-volume cells of length ``dx``. The concentration ``C``
[kg/m3] obeys::

    dC/dt + u dC/dx = D d2C/dx2 - k C

Per sub-step ``dt_s`` the scheme is explicit and in flux form, so mass (``C A dx`` summed over
cells) is conserved to round-off:

* advection: second-order TVD (Lax-Wendroff correction limited by van Leer's limiter; Sweby
  1984), first-order upwind at the first and last face of a link;
* dispersion: explicit central differences, no dispersive flux across link ends (junctions and
  outlets exchange mass by advection only);
* decay: the exact factor ``exp(-k dt_s)`` per sub-step; what it removes is added to
  :attr:`Transport.decayed_mass`.

Sub-steps are chosen so that ``Cr + 2 d <= 0.5`` on every link, with the Courant number
``Cr = u dt_s / dx`` and the diffusion number ``d = D dt_s / dx**2`` (hence ``Cr <= 1`` and
``d <= 0.5``): at ``Cr + 2 d = 1`` a cell's own weight in its update vanishes and odd and even
cells decouple into a checkerboard, so the scheme keeps a margin. Numerical diffusion of the TVD scheme is small where the cell Peclet number
``u dx / D`` is of order 1 or less; keep it so (refine ``dx``) for sharp plumes.

Confluences: the mass flux entering a link is the sum of its upstream links' outflow fluxes,
i.e. their flux-weighted mean concentration carried by their discharges ``Q = A u``. Where a
link carries more water than its upstream links together (``Q_i > sum Q_up``), the difference
enters at its upstream end with the concentration ``inflow_conc[i]`` (at head links, all of
``Q_i``); the mass it brings is counted in :attr:`Transport.inflow_mass`.

A completely mixed lake (:func:`lake_step`, or a link given a ``lake_volume``) takes the exact solution of
``dC/dt = (Q_in C_in - Q C) / V - k C`` over a step with constant inputs.

A side lake (beside a river link, joined by a side channel: ``side_link``) is completely mixed
too, with a volume that changes linearly over each step from the last volume given to the new
one. Each sub-step it takes ``side_in`` [m3/s] of the water of the cell of its link where the
side channel joins (``side_x``; an exponential draw on that cell, so it cannot go negative) and
gives back ``side_out`` (its outflow into the link and the channel's flow back) at its own
concentration, exactly for the linearly
changing volume: ``m -> m (V_b / V_a)^(-q dt / (V_b - V_a))``, which is ``exp(-q dt / V)`` at
constant volume and keeps the concentration of a lake that only drains. Mass moves between the
two and is conserved to round-off; the lake decays at its link's rate.

Routed, time-varying flows: build the transport with :meth:`Transport.from_network` and call
:meth:`Transport.set_flows` before each step with the links' step-mean discharges (e.g. what
:meth:`kernels.lake.RiverLakeSystem.step` returns) and the lakes' storage as the lake links'
volumes (:meth:`kernels.lake.RiverLakeSystem.link_lake_volume`). Each river link's area and
velocity then follow Manning's normal flow at its discharge (wide rectangular: ``A = B h``,
``h = (Q n / (B sqrt(S)))^(3/5)``, ``u = Q / A``). Every cell keeps its pollutant *mass* across
the change (its concentration is rescaled by old / new volume), so mass stays conserved to
round-off; water continuity inside a link is not enforced (one discharge per link and step),
which is the usual approximation of transport on routed flows. River discharges below
``min_flow`` are raised to it, so every cell keeps some water and a finite velocity.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels.river import RiverNetwork, channel_parameters, topological_order

__all__ = ["Transport", "gaussian_plume", "lake_step", "reach_spill"]

# Largest Cr + 2 d per sub-step (see the module docstring).
_STABILITY = 0.5


@numba.njit(cache=True)
def _lake_substep(c, s, volume, q, k, load, dt_s):
    """Exact mixed-lake step of cell ``s`` under a constant mass load [kg/s]; returns (outflow, decayed) [kg]."""
    a = q / volume + k
    c0 = c[s]
    if a * dt_s < 1e-12:  # a closed lake without decay just accumulates its load
        c[s] = c0 + load * dt_s / volume
        return 0.0, 0.0
    c_star = load / (volume * a)
    c[s] = c_star + (c0 - c_star) * math.exp(-a * dt_s)
    # what left the lake, split between outflow and decay in proportion q : k V (both act on C)
    removed = load * dt_s - volume * (c[s] - c0)
    return removed * (q / (volume * a)), removed * (k / a)


@numba.njit(cache=True)
def _advance(
    c,
    offsets,
    order,
    downstream,
    area,
    vel,
    disp,
    decay,
    dxl,
    q_ext,
    cin,
    lake,
    dt_s,
    m_sub,
    flux,
    up_flux,
    side_start,
    side_ids,
    side_cell,
    side_m,
    side_v0,
    side_v1,
    side_in,
    side_out,
):
    """Advance all links ``m_sub`` sub-steps of ``dt_s``; returns (decayed, outflow, inflow) masses [kg].

    Side lakes ``side_ids[side_start[i]:side_start[i + 1]]`` exchange with cells ``side_cell`` of link ``i``.
    """
    decayed = 0.0
    outflow = 0.0
    inflow = 0.0
    for it in range(m_sub):
        up_flux[:] = 0.0
        for i in order:
            s = offsets[i]
            n = offsets[i + 1] - s
            a = area[i]
            dx = dxl[i]
            q = a * vel[i]
            cr = vel[i] * dt_s / dx
            g = disp[i] * a / dx
            ext = q_ext[i] * cin[i]
            inflow += ext * dt_s
            if lake[i] > 0.0:
                out_i, lost = _lake_substep(c, s, lake[i], q, decay[i], up_flux[i] + ext, dt_s)
                decayed += lost
                d = downstream[i]
                if d >= 0:
                    up_flux[d] += out_i / dt_s
                else:
                    outflow += out_i
                continue
            flux[0] = up_flux[i] + ext
            for j in range(1, n):
                # face between cells j-1 and j (local indices); upwind cell j-1
                dc = c[s + j] - c[s + j - 1]
                adv = c[s + j - 1]
                if j >= 2 and dc != 0.0:
                    r = (c[s + j - 1] - c[s + j - 2]) / dc
                    phi = (r + abs(r)) / (1.0 + abs(r))
                    adv += 0.5 * phi * (1.0 - cr) * dc
                flux[j] = q * adv - g * dc
            flux[n] = q * c[s + n - 1]
            vol = a * dx
            for j in range(n):
                c[s + j] += dt_s * (flux[j] - flux[j + 1]) / vol
            d = downstream[i]
            if d >= 0:
                up_flux[d] += flux[n]
            else:
                outflow += flux[n] * dt_s
            f = math.exp(-decay[i] * dt_s)
            for p in range(side_start[i], side_start[i + 1]):
                k = side_ids[p]
                cell = side_cell[k]
                va = side_v0[k] + (side_v1[k] - side_v0[k]) * it / m_sub
                vb = side_v0[k] + (side_v1[k] - side_v0[k]) * (it + 1) / m_sub
                m_in = c[cell] * vol * -math.expm1(-side_in[k] * dt_s / vol)
                x = (vb - va) / va
                per_volume = 1.0 / va if abs(x) < 1e-9 else math.log1p(x) / (vb - va)
                m_lake = side_m[k] + m_in
                m_out = m_lake * -math.expm1(-side_out[k] * dt_s * per_volume)
                c[cell] += (m_out - m_in) / vol
                m_lake -= m_out
                decayed += m_lake * (1.0 - f)
                side_m[k] = m_lake * f
            if f < 1.0:
                for j in range(n):
                    lost = c[s + j] * (1.0 - f)
                    decayed += lost * vol
                    c[s + j] -= lost
    return decayed, outflow, inflow


def _per_link(value, n: int, name: str, positive: bool) -> np.ndarray:
    a = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "a finite positive number" if positive else "a finite number >= 0"
        raise ValueError(f"{name}[{i}] = {a[i]} must be {need} (SI units), one value per link or one for all")
    return a


class Transport:
    """Advection-dispersion-decay of one pollutant along a river network (SI units).

    Parameters
    ----------
    network_lengths : float array (n,)
        Link lengths [m], > 0.
    areas, velocities : float arrays (n,) or scalars
        Cross-section area [m2] and mean velocity [m/s] of each link, > 0 (flow is downstream).
    dispersion : float array (n,) or scalar
        Longitudinal dispersion coefficient [m2/s], >= 0.
    decay : float array (n,) or scalar
        First-order decay rate [1/s], >= 0.
    dx : float
        Target cell length [m]; each link gets ``max(1, round(L / dx))`` equal cells.
    downstream : int array (n,)
        Receiving link of each link, -1 at an outlet (a tree or forest, no cycles).
    lake_volume : float array (n,) or scalar, optional
        Volume [m3] of a completely mixed lake standing for the link, 0 for a river link (default).
        A lake link is one cell whose outflow is ``areas * velocities`` [m3/s] and whose
        concentration takes the exact step of :func:`lake_step` each sub-step under the mass
        load from upstream; its length and dispersion are not used.
    side_link : int array (k,), optional
        For each side lake, the river link it exchanges water with (see the module docstring);
        its volume and flows come with :meth:`set_flows`.
    side_x : float array (k,), optional
        Distance [m] from the link's upstream end to the side channel (default: the link's end).
    side_volume : float array (k,) or scalar, optional
        Initial volumes of the side lakes [m3] (default 1 m3 each, until :meth:`set_flows`).

    Attributes
    ----------
    concentration : float array (n_cells,)
        Cell concentrations [kg/m3], links one after another; link ``i`` holds cells
        ``offsets[i]:offsets[i + 1]`` with centres at ``(j + 0.5) * cell_length[i]``.
    side_mass : float array (k,)
        Pollutant mass in each side lake [kg] (:attr:`side_concentration` divides it by the volume).
    decayed_mass, outflow_mass, inflow_mass : float
        Cumulative mass [kg] removed by decay, leaving at outlets, and entering with ``inflow_conc``.
    time : float
        Simulated time [s].
    """

    def __init__(
        self,
        network_lengths,
        areas,
        velocities,
        dispersion,
        decay,
        dx: float,
        downstream,
        lake_volume=0.0,
        side_link=None,
        side_volume=1.0,
        side_x=None,
    ):
        length = np.atleast_1d(np.asarray(network_lengths, dtype=np.float64))
        n = length.size
        if length.ndim != 1 or n == 0:
            raise ValueError("network_lengths must be a non-empty 1-D array of link lengths in metres")
        self.length = _per_link(length, n, "network_lengths", True)
        self.area = _per_link(areas, n, "areas", True)
        self.velocity = _per_link(velocities, n, "velocities", True)
        self.dispersion = _per_link(dispersion, n, "dispersion", False)
        self.decay = _per_link(decay, n, "decay", False)
        self.lake_volume = _per_link(lake_volume, n, "lake_volume", False)
        lake = self.lake_volume > 0
        if not (np.isfinite(dx) and dx > 0):
            raise ValueError(f"dx = {dx} must be a positive cell length in metres")
        ds = np.atleast_1d(np.asarray(downstream))
        if ds.shape != (n,):
            raise ValueError(f"downstream must have one entry per link ({n}), got shape {ds.shape}")
        self.order = topological_order(ds)
        self.downstream = ds.astype(np.int64)
        cells = np.where(lake, 1, np.maximum(1, np.rint(self.length / dx))).astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(cells)]).astype(np.int64)
        self.cell_length = self.length / cells
        self._volume = np.repeat(self.area * self.cell_length, cells)
        self._volume[self.offsets[:-1][lake]] = self.lake_volume[lake]
        self._set_hydraulics()
        self._geometry = None
        self.concentration = np.zeros(int(self.offsets[-1]))
        self.decayed_mass = 0.0
        self.outflow_mass = 0.0
        self.inflow_mass = 0.0
        self.time = 0.0
        self._flux = np.empty(int(cells.max()) + 1)
        self._up_flux = np.empty(n)
        self._set_side_lakes(side_link, side_volume, side_x)

    def _set_side_lakes(self, side_link, side_volume, side_x) -> None:
        n = self.length.size
        links = np.zeros(0, np.int64) if side_link is None else np.atleast_1d(np.asarray(side_link, np.int64))
        bad = (links < 0) | (links >= n)
        if bad.any() or np.any(self.lake_volume[links[~bad]] > 0):
            raise ValueError(
                f"side_link = {links.tolist()}: each side lake needs a river link (0..{n - 1}, "
                "not a lake link) to exchange with"
            )
        k = links.size
        self.side_link = links
        x = self.length[links] if side_x is None else np.broadcast_to(np.asarray(side_x, np.float64), (k,))
        if np.any(~np.isfinite(x) | (x < 0) | (x > self.length[links])):
            raise ValueError(f"side_x = {np.asarray(x).tolist()} m: each must lie on its link, 0 <= x <= length")
        self._side_cell = np.array([self._cell_at(int(i), float(v)) for i, v in zip(links, x)], dtype=np.int64)
        self._side_ids = np.argsort(links, kind="stable").astype(np.int64)
        self._side_start = np.searchsorted(links[self._side_ids], np.arange(n + 1)).astype(np.int64)
        self.side_volume = np.maximum(_per_link(side_volume, k, "side_volume", False), 1.0) if k else np.zeros(0)
        self._side_v0 = self.side_volume.copy()  # the volume at the start of the next step
        self.side_mass = np.zeros(k)
        self._side_in = np.zeros(k)
        self._side_out = np.zeros(k)

    @classmethod
    def from_network(
        cls,
        network: RiverNetwork,
        dispersion,
        decay,
        dx: float,
        flows=None,
        lake_volume=0.0,
        min_flow: float = 1e-3,
        side_link=None,
        side_volume=1.0,
        side_x=None,
    ) -> Transport:
        """Transport on a river network's links, with areas and velocities from Manning at given flows.

        Parameters
        ----------
        network : RiverNetwork
            The links (lengths, widths, slopes, Manning's n, topology).
        dispersion, decay : float array (n,) or scalar
            Dispersion [m2/s] and first-order decay rate [1/s].
        dx : float
            Target cell length [m].
        flows : float array (n,), optional
            Initial discharge of each link [m3/s]; default ``network.q_ref``.
        lake_volume : float array (n,) or scalar
            Volume of the completely mixed lake standing for a link [m3], 0 for river links; the
            lake links are fixed here (give them a volume > 0), their volumes may change later.
        min_flow : float
            Smallest river discharge used [m3/s] (see the module docstring).
        side_link, side_volume, side_x : optional
            Side lakes: the river link each exchanges with, their initial volumes [m3] and where on
            the link their channels join [m from its upstream end].

        Returns
        -------
        Transport
            Ready for :meth:`set_flows` each step.
        """
        n = np.asarray(network.downstream).shape[0]
        geometry = [_per_link(getattr(network, a), n, f"network.{a}", True) for a in ("width", "slope", "manning")]
        if not (np.isfinite(min_flow) and min_flow > 0):
            raise ValueError(f"min_flow = {min_flow} must be a positive discharge in m3/s")
        q = network.q_ref if flows is None else flows
        q = _per_link(q, n, "flows", False)
        lake = _per_link(lake_volume, n, "lake_volume", False) > 0
        area, velocity = _manning_section(np.maximum(q, min_flow), *geometry)
        area[lake] = 1.0
        velocity[lake] = np.maximum(q[lake], min_flow)
        tr = cls(
            network.length,
            area,
            velocity,
            dispersion,
            decay,
            dx,
            network.downstream,
            lake_volume,
            side_link,
            side_volume,
            side_x,
        )
        tr._geometry = geometry
        tr._min_flow = float(min_flow)
        return tr

    def set_flows(self, q, lake_volume=None, side_volume=None, side_exchange=None, side_outflow=None) -> None:
        """Take new link discharges for the next step(s): areas and velocities from Manning.

        Parameters
        ----------
        q : float array (n,)
            Discharge of each link [m3/s], >= 0 (a lake link: its lake's outflow).
        lake_volume : float array (n,), optional
            New volumes of the lake links [m3] (entries of river links are ignored); volumes
            below 1 m3 are raised to it so an emptied lake still holds its pollutant mass.
        side_volume, side_exchange, side_outflow : float arrays (k,), optional
            Side lakes: new volumes [m3] (raised to 1 m3 like lakes), side-channel flow into each lake
            [m3/s] (< 0: back to the river) and the lake's own outflow into its link [m3/s], >= 0.

        Notes
        -----
        Pollutant mass in every cell is kept; concentrations are rescaled to the new volumes.
        Needs a transport made by :meth:`from_network` (it knows the channels' geometry).
        """
        if getattr(self, "_geometry", None) is None:
            raise ValueError(
                "set_flows needs the channels' width, slope and roughness: build the transport "
                "with Transport.from_network(network, ...)"
            )
        n = self.length.size
        q = _per_link(q, n, "q", False)
        lake = self.lake_volume > 0
        area, velocity = _manning_section(np.maximum(q, self._min_flow), *self._geometry)
        area[lake] = 1.0
        velocity[lake] = q[lake]
        if lake_volume is not None:
            v = _per_link(lake_volume, n, "lake_volume", False)
            self.lake_volume = np.where(lake, np.maximum(v, 1.0), 0.0)
        cells = np.diff(self.offsets)
        volume = np.repeat(area * self.cell_length, cells)
        volume[self.offsets[:-1][lake]] = self.lake_volume[lake]
        self.concentration *= self._volume / volume
        self._volume = volume
        k = self.side_link.size
        if k:
            if side_volume is not None:
                self._side_v0 = self.side_volume
                self.side_volume = np.maximum(_per_link(side_volume, k, "side_volume", False), 1.0)
            if side_exchange is not None:
                ex = np.broadcast_to(np.asarray(side_exchange, np.float64), (k,))
                if not np.all(np.isfinite(ex)):
                    raise ValueError("side_exchange must be finite discharges [m3/s] (< 0: lake to river)")
                out = np.zeros(k) if side_outflow is None else _per_link(side_outflow, k, "side_outflow", False)
                self._side_in = np.maximum(ex, 0.0)
                self._side_out = np.maximum(-ex, 0.0) + out
        self.area, self.velocity = area, velocity
        self._set_hydraulics()

    def _set_hydraulics(self) -> None:
        """Inflow from outside at each link and the stability rate, after the flows change."""
        lake = self.lake_volume > 0
        q = self.area * self.velocity
        q_up = np.zeros(q.size)
        has = self.downstream >= 0
        np.add.at(q_up, self.downstream[has], q[has])
        self._q_ext = np.maximum(q - q_up, 0.0)
        # Cr + 2 d per second of time step; the sub-step keeps it <= _STABILITY on every link.
        # Lakes take exact steps and set no limit.
        rate = self.velocity / self.cell_length + 2.0 * self.dispersion / self.cell_length**2
        self._rate = float(np.max(rate[~lake], initial=0.0))

    def cell_centres(self, link: int) -> np.ndarray:
        """Distances [m] of link ``link``'s cell centres from its upstream end."""
        n = int(self.offsets[link + 1] - self.offsets[link])
        return (np.arange(n) + 0.5) * self.cell_length[link]

    def link_concentration(self, link: int) -> np.ndarray:
        """A view of link ``link``'s cell concentrations [kg/m3], upstream to downstream."""
        return self.concentration[self.offsets[link] : self.offsets[link + 1]]

    def spill(self, link: int, x: float, mass: float) -> None:
        """Release ``mass`` [kg] instantly at distance ``x`` [m] from the upstream end of ``link``.

        The mass is spread over the cell holding ``x`` (a spill is resolved to one cell).
        """
        n_links = self.length.size
        if not 0 <= link < n_links:
            raise ValueError(f"link = {link} is not a link index; use 0..{n_links - 1}")
        if not (0.0 <= x <= self.length[link]):
            raise ValueError(
                f"x = {x} m is outside link {link}, which is {self.length[link]} m long; give 0 <= x <= length"
            )
        if not (np.isfinite(mass) and mass >= 0):
            raise ValueError(f"mass = {mass} must be a finite non-negative mass in kg")
        cell = self._cell_at(link, x)
        self.concentration[cell] += mass / self._volume[cell]

    def _cell_at(self, link: int, x: float) -> int:
        """Index of the cell of ``link`` holding distance ``x`` from its upstream end (its last at the end)."""
        n = int(self.offsets[link + 1] - self.offsets[link])
        return int(self.offsets[link]) + min(int(x / self.cell_length[link]), n - 1)

    def sub_steps(self, dt: float) -> int:
        """Number of sub-steps a step of ``dt`` seconds takes (so that ``Cr + 2 d <= 0.5``)."""
        return max(1, math.ceil(dt * self._rate / _STABILITY * (1.0 - 1e-12)))

    def step(self, dt: float, inflow_conc=None) -> None:
        """Advance by ``dt`` seconds.

        Parameters
        ----------
        dt : float
            Time step [s], > 0; sub-stepped internally for stability.
        inflow_conc : float array (n,) or scalar, optional
            Concentration [kg/m3] of the water entering each link from outside the network
            (all of a head link's flow; the excess of a link's flow over its upstream links'),
            held over the step. Default 0.
        """
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt = {dt} must be a positive time step in seconds")
        n = self.length.size
        cin = np.zeros(n) if inflow_conc is None else _per_link(inflow_conc, n, "inflow_conc", False)
        m = self.sub_steps(dt)
        decayed, out, inflow = _advance(
            self.concentration, self.offsets, self.order, self.downstream, self.area, self.velocity,
            self.dispersion, self.decay, self.cell_length, self._q_ext, cin, self.lake_volume, dt / m, m, self._flux, self._up_flux,
            self._side_start, self._side_ids, self._side_cell, self.side_mass, self._side_v0, self.side_volume, self._side_in,
            self._side_out,
        )  # fmt: skip
        self._side_v0 = self.side_volume  # later steps before the next set_flows keep the volume
        self.decayed_mass += decayed
        self.outflow_mass += out
        self.inflow_mass += inflow
        self.time += dt

    def mass(self) -> float:
        """Pollutant mass [kg] now in the network (concentration x cell volume, summed; lakes and side lakes
        included)."""
        return float(np.dot(self.concentration, self._volume) + np.sum(self.side_mass))

    @property
    def side_concentration(self) -> np.ndarray:
        """Concentration of each side lake [kg/m3]."""
        return self.side_mass / self.side_volume


def _manning_section(q, width, slope, manning) -> tuple[np.ndarray, np.ndarray]:
    """Cross-section area and velocity of wide rectangular channels at normal flow."""
    depth, velocity, _, _ = channel_parameters(q, width, slope, manning)
    return width * depth, velocity


def reach_spill(length: float, area: float, velocity: float, dispersion: float, decay: float,
                dx: float, spill_x: float, mass: float, duration: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Concentration along one uniform reach ``duration`` seconds after an instantaneous spill.

    Parameters
    ----------
    length, area, velocity, dispersion, decay : float
        Reach length [m], cross-section area [m2], velocity [m/s] > 0, dispersion [m2/s] and
        decay rate [1/s].
    dx : float
        Target cell length [m].
    spill_x, mass : float
        Spill position [m from the upstream end] and mass [kg].
    duration : float
        Time after the spill [s].

    Returns
    -------
    x : float array (n_cells,)
        Cell centres [m from the upstream end].
    concentration : float array (n_cells,)
        Concentration [kg/m3] at ``duration``.
    """
    t = Transport([length], area, velocity, dispersion, decay, dx, [-1])
    t.spill(0, spill_x, mass)
    t.step(duration)
    return t.cell_centres(0), t.concentration.copy()


def gaussian_plume(
    x,
    t: float,
    mass: float,
    area: float,
    velocity: float,
    dispersion: float,
    decay: float = 0.0,
):
    """Analytic concentration of an instantaneous point spill at ``x = 0`` in an infinite uniform reach.

    ``C(x, t) = M / (A sqrt(4 pi D t)) exp(-(x - u t)^2 / (4 D t)) exp(-k t)``, in kg/m3, for ``t > 0``.
    """
    x = np.asarray(x, dtype=np.float64)
    spread = 4.0 * dispersion * t
    return mass / (area * np.sqrt(np.pi * spread)) * np.exp(-((x - velocity * t) ** 2) / spread - decay * t)


def lake_step(
    c: float,
    dt: float,
    volume: float,
    q_in: float,
    c_in: float,
    q_out: float,
    decay: float = 0.0,
) -> float:
    """Concentration of a completely mixed lake after ``dt`` seconds (exact for constant inputs).

    Solves ``dC/dt = (q_in c_in - q_out C) / V - k C`` with ``V`` constant:
    ``C(dt) = C* + (C - C*) exp(-a dt)``, ``a = q_out / V + k``, ``C* = q_in c_in / (V a)``.

    Parameters
    ----------
    c : float
        Concentration at the start [kg/m3].
    dt : float
        Step [s], >= 0.
    volume : float
        Lake volume [m3], > 0.
    q_in, c_in : float
        Inflow [m3/s] and its concentration [kg/m3], held over the step.
    q_out : float
        Outflow [m3/s] (equal to ``q_in`` for a lake of constant volume).
    decay : float
        First-order decay rate [1/s].

    Returns
    -------
    float
        Concentration at the end of the step [kg/m3].
    """
    if not (volume > 0 and dt >= 0 and q_in >= 0 and q_out >= 0 and decay >= 0):
        raise ValueError("lake_step needs volume > 0 and non-negative dt, q_in, q_out and decay (SI units)")
    a = q_out / volume + decay
    source = q_in * c_in / volume
    if a == 0.0:
        return c + source * dt
    c_star = source / a
    return c_star + (c - c_star) * math.exp(-a * dt)
