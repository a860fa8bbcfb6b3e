"""Urban flood kernel: the local-inertial shallow-water equations on a raster, in Numba.

The scheme is that of Bates et al. (2010) with the theta-weighted face flux of de Almeida et al.
(2012), as in LISFLOOD-FP's ACC solver and Landlab's ``OverlandFlow``:

* face discharge from the water-surface slope with semi-implicit Manning friction,
  ``q' = [theta q + (1-theta)/2 (q_- + q_+) - g h_f dt dEta/dx] / [1 + g dt n^2 |q| / h_f^(7/3)]``,
  where ``h_f = max(eta_i, eta_j) - max(z_i, z_j)`` and no flow where ``h_f <= h_dry``;
* continuity with a conservative positivity limiter (a cell never sends away more water than it
  holds: its outgoing face fluxes are scaled down together);
* adaptive step ``dt = alpha dx / sqrt(g h_max)`` (clipped to ``dt_max`` and to the interval end),
  or a fixed step checked against that limit.

Conventions: arrays are raster-ordered (row 0 = north, col 0 = west), square cells of ``dx`` m.
Depth ``h`` at cell centres; unit-width discharges [m^2/s] on faces: ``qx`` (ny, nx+1), face ``j``
between cells (r, j-1) and (r, j), positive east; ``qy`` (ny+1, nx), face ``i`` between (i-1, c) and
(i, c), positive south. The outer faces are the domain boundary.

Forcing and losses within a step: rain and point inflows add their exact mean over the step (so
volumes equal the hydrographs' integrals); infiltration, then drainage, take from the water in the
cell after the flux update (never more than is there). Horton uses the cumulative-infiltration
form f = max(fc, f0 - k Fe), Fe the infiltration in excess of fc (exactly integrated over the step
under ponding; capacity falls only as water infiltrates); Green-Ampt f = Ks (1 + psi dtheta / F)
is taken implicitly at the step's end (finite at F = 0). Level boundaries use the series at the
step's start, level-forced cells the value at its end.

The whole time loop of :func:`advance` runs compiled; the state may be float32 (half the memory
traffic, fastest; the rounding remainder of each depth is carried in ``h_lo``, so its balance closes
as float64 does) or float64, volumes are always float64. Heights are
taken relative to the lowest open cell inside, which keeps float32 water surfaces precise on high
ground. Like every local-inertial model it has no advection term: fine for floodplain and urban
flow, less so for supercritical flow (a dam-break rarefaction, flow through a gate).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np

from . import _flood_core as _core
from . import _flood_lts as _lts
from . import thread_wait
from ._series import Series
from ._sweep_choice import SweepChoice

__all__ = [
    "Series",
    "FloodGrid",
    "FloodForcing",
    "FloodParams",
    "FloodState",
    "FloodAccum",
    "ACCUM_KINDS",
    "IntervalStats",
    "BoundaryFaces",
    "edge_faces",
    "advance",
    "cell_speed",
    "DEBRIS_DEPTH",
    "stored_volume",
    "DEVICES",
    "DeviceError",
    "gpu_available",
    "gpu_name",
    "STATUS_OK",
    "STATUS_UNSTABLE_DT",
    "STATUS_NON_FINITE",
    "SIDES",
    "ADAPTIVE_THREADS",
    "ROW_CHUNKS",
    "TIME_STEPPING",
    "LTS_TILE",
    "LTS_MAX_LEVELS",
]

STATUS_OK = 0
#: Depth [m] above which the FD2320 hazard rating HR = d (v + 0.5) + DF adds the debris factor DF = 1.
DEBRIS_DEPTH = _core.DEBRIS_DEPTH
STATUS_UNSTABLE_DT = 1
STATUS_NON_FINITE = 2

#: Codes of the four domain edges, as used by ``bnd_side``.
SIDES = {"west": 0, "east": 1, "north": 2, "south": 3}

#: Each CPU :func:`advance` call runs the parallel or the one-thread sweep, whichever the state's
#: earlier calls measured faster (both give bit-identical results; see kernels/_sweep_choice.py), so
#: a busy machine's descheduled threads cannot make a run slower than one thread. False: always the
#: parallel sweep on grids large enough for it (as with ``numba.set_num_threads(1)``, the other way).
ADAPTIVE_THREADS = True

#: Row chunks of the parallel sweep (None: four per thread). Threads take them as they come free, so
#: more chunks share a busy machine's cores more evenly, each at the cost of recomputing its border
#: rows; at least 4 rows a chunk. Any number gives bit-identical results.
ROW_CHUNKS: int | None = None

#: How :func:`advance` steps in time (``FloodParams.time_stepping``).
TIME_STEPPING = ("global", "local")
#: Tile size (rows, columns) [cells] of local time stepping: each tile takes its own step.
LTS_TILE = (_lts.TILE, _lts.TILE * _lts.WIDE)
#: Largest ``FloodParams.max_levels``.
LTS_MAX_LEVELS = _lts.MAX_LEVELS_LIMIT

#: What a :class:`FloodAccum` keeps: everything, or the depth and timing only (the lean accumulator).
ACCUM_KINDS = ("full", "depth")

#: Where :func:`advance` can run: Numba threads on the CPU, or numba-cuda on an NVIDIA GPU.
DEVICES = ("cpu", "gpu")


class DeviceError(RuntimeError):
    """The device asked for cannot run here (no CUDA GPU, or numba-cuda not installed)."""


def gpu_available() -> bool:
    """True when ``advance(..., device="gpu")`` can run: numba-cuda installed and a GPU found (or
    Numba's CUDA simulator switched on with ``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from . import _flood_gpu
    except ImportError:
        return False
    return _flood_gpu.available()


def gpu_name() -> str:
    """The name of the GPU ``device="gpu"`` runs on (raises DeviceError when there is none)."""
    _gpu_runner()
    from . import _flood_gpu

    return _flood_gpu.device_name()


def _gpu_runner():
    """The GPU time loop, or DeviceError saying why there is none."""
    try:
        from . import _flood_gpu
    except ImportError as exc:
        raise DeviceError(
            f"device 'gpu' needs the numba-cuda package ({exc}); install it with `pip install numba-cuda` "
            "(and an NVIDIA driver), or run on device 'cpu'"
        ) from None
    if not _flood_gpu.available():
        raise DeviceError(
            "device 'gpu' found no CUDA GPU on this machine (numba-cuda sees none: no NVIDIA GPU or driver); "
            "run on device 'cpu'"
        )
    return _flood_gpu.run


_I64 = np.zeros(0, dtype=np.int64)
_I8 = np.zeros(0, dtype=np.int8)
_F64 = np.zeros(0, dtype=np.float64)


class BoundaryFaces(NamedTuple):
    """Open boundary faces, the six ``bnd_*`` arrays of :class:`FloodGrid` (see there)."""

    row: np.ndarray
    col: np.ndarray
    side: np.ndarray
    kind: np.ndarray
    ser: np.ndarray
    slope: np.ndarray

    @classmethod
    def concat(cls, faces: list[BoundaryFaces]) -> BoundaryFaces:
        """Join several sets of boundary faces into one."""
        if not faces:
            return cls(_I64, _I64, _I8, _I8, _I64, _F64)
        return cls(*(np.concatenate([getattr(f, name) for f in faces]) for name in cls._fields))


def edge_faces(
    shape: tuple[int, int],
    side: str | int,
    kind: int,
    series: int = -1,
    slope: float = 0.0,
    span: tuple[int, int] | None = None,
) -> BoundaryFaces:
    """Boundary faces along (part of) one domain edge.

    Parameters
    ----------
    shape : (int, int)
        Grid shape (ny, nx).
    side : {"west", "east", "north", "south"} or int
        Edge, or its code 0-3.
    kind : int
        1 free outflow (normal depth with friction slope ``slope``), 2 water-level series ``series``.
    series : int
        Series index for kind 2.
    slope : float
        Friction slope for kind 1.
    span : (int, int), optional
        Half-open range of rows (west/east) or columns (north/south); the whole edge by default.

    Returns
    -------
    BoundaryFaces
    """
    ny, nx = shape
    code = SIDES[side] if isinstance(side, str) else int(side)
    along = ny if code in (0, 1) else nx
    lo, hi = span if span is not None else (0, along)
    idx = np.arange(lo, hi, dtype=np.int64)
    fixed = {0: 0, 1: nx - 1, 2: 0, 3: ny - 1}[code]
    other = np.full(idx.size, fixed, dtype=np.int64)
    row, col = (idx, other) if code in (0, 1) else (other, idx)
    return BoundaryFaces(
        row,
        col,
        np.full(idx.size, code, np.int8),
        np.full(idx.size, kind, np.int8),
        np.full(idx.size, series, np.int64),
        np.full(idx.size, slope, np.float64),
    )


class FloodGrid(NamedTuple):
    """Static inputs of a flood run.

    Attributes
    ----------
    z : (ny, nx) array
        Bed elevation [m].
    manning : (ny, nx) array
        Manning's n [s m^-1/3]; a face uses the mean of its two cells.
    blocked : (ny, nx) uint8
        1 = no flow into or out of the cell (buildings in "block" mode, nodata); depth stays 0.
    dx : float
        Cell size [m].
    infil_kind : int
        0 none, 1 Horton, 2 Green-Ampt.
    infil_a, infil_b, infil_c : (ny, nx) float64
        Horton: f0 [m/s], fc [m/s], decay k [1/s]. Green-Ampt: Ks [m/s], psi*dtheta [m], unused.
    drain_cap : (ny, nx) float64
        Urban drainage capacity [m/s], limited to the water present.
    bnd_row, bnd_col : (k,) int64
        Cell of each open boundary face.
    bnd_side : (k,) int8
        0 west, 1 east, 2 north, 3 south: which outer face of that cell.
    bnd_kind : (k,) int8
        1 free outflow ``q = h^(5/3) sqrt(S) / n`` outward (outflow only); 2 water-level series
        (ghost water surface from series ``bnd_ser``, local-inertial flux in or out).
    bnd_ser : (k,) int64
        Series index for kind 2 (-1 otherwise).
    bnd_slope : (k,) float64
        Friction slope S for kind 1.
    fix_row, fix_col, fix_ser : (m,) int64
        Cells whose water surface follows series ``fix_ser``: depth set to max(level - z, 0) after
        each step, the volume change counted as boundary in/out.
    """

    z: np.ndarray
    manning: np.ndarray
    blocked: np.ndarray
    dx: float
    infil_kind: int
    infil_a: np.ndarray
    infil_b: np.ndarray
    infil_c: np.ndarray
    drain_cap: np.ndarray
    bnd_row: np.ndarray
    bnd_col: np.ndarray
    bnd_side: np.ndarray
    bnd_kind: np.ndarray
    bnd_ser: np.ndarray
    bnd_slope: np.ndarray
    fix_row: np.ndarray
    fix_col: np.ndarray
    fix_ser: np.ndarray

    @classmethod
    def simple(
        cls,
        z: np.ndarray,
        dx: float,
        manning: float | np.ndarray = 0.03,
        blocked: np.ndarray | None = None,
        boundaries: list[BoundaryFaces] | BoundaryFaces | None = None,
    ) -> FloodGrid:
        """A grid with no losses and no forced cells; closed walls unless ``boundaries`` opens faces.

        Use ``grid._replace(...)`` to add infiltration, drainage or level-forced cells.
        """
        z = np.asarray(z)
        if not np.issubdtype(z.dtype, np.floating):
            z = z.astype(np.float64)
        shape = z.shape
        if isinstance(boundaries, BoundaryFaces):
            boundaries = [boundaries]
        b = BoundaryFaces.concat(list(boundaries or []))
        zeros = np.zeros(shape)
        return cls(
            z=z,
            manning=np.broadcast_to(np.asarray(manning, dtype=z.dtype), shape).copy(),
            blocked=np.zeros(shape, np.uint8) if blocked is None else np.asarray(blocked, np.uint8),
            dx=float(dx),
            infil_kind=0,
            infil_a=zeros,
            infil_b=zeros,
            infil_c=zeros,
            drain_cap=zeros,
            bnd_row=b.row,
            bnd_col=b.col,
            bnd_side=b.side,
            bnd_kind=b.kind,
            bnd_ser=b.ser,
            bnd_slope=b.slope,
            fix_row=_I64,
            fix_col=_I64,
            fix_ser=_I64,
        )


class FloodForcing(NamedTuple):
    """Time-varying inputs.

    Attributes
    ----------
    series : Series
        All time series (rain multiplier, inflow hydrographs [m^3/s], water levels [m]).
    rain_field : (ny, nx) float64
        Rain rate map [m/s], multiplied by series ``rain_ser`` (its mean over each step, so the
        rain volume is the hyetograph's integral).
    rain_ser : int
        -1 for no rain.
    src_row, src_col : (p,) int64
        Point-inflow cells (not blocked).
    src_ser : (p,) int64
        Series of each inflow, m^3/s (a negative value abstracts, at most the water present).
    src_w : (p,) float64
        Fraction of that series' discharge entering this cell.
    """

    series: Series
    rain_field: np.ndarray
    rain_ser: int
    src_row: np.ndarray
    src_col: np.ndarray
    src_ser: np.ndarray
    src_w: np.ndarray

    @classmethod
    def none(cls, shape: tuple[int, int], series: Series | None = None) -> FloodForcing:
        """No rain and no inflow (use ``_replace`` to add them)."""
        return cls(series if series is not None else Series.pack([]), np.zeros(shape), -1, _I64, _I64, _I64, _F64)

    @classmethod
    def uniform_rain(cls, shape: tuple[int, int], rate: float) -> FloodForcing:
        """Constant rain ``rate`` [m/s] over the whole grid."""
        return cls(Series.pack([([0.0], [1.0])]), np.full(shape, float(rate)), 0, _I64, _I64, _I64, _F64)


class FloodParams(NamedTuple):
    """Numerical parameters.

    Attributes
    ----------
    alpha : float
        Courant factor of the adaptive step (Bates et al. 2010 recommend 0.2-0.7; default 0.7, the
        setting the verification cases use). Deep, low-friction still water needs less: a 3.5 m
        lake at rest under rain (n 0.02-0.03) grows 2D oscillations to 8.5 m within 15 minutes at
        0.7, overshoots by 0.7 m at 0.65 and stays flat at 0.6
        (``test_deep_lake_under_rain_needs_alpha_0_6``), so the twin's scenarios default to 0.6.
    theta : float
        de Almeida weighting of a face's old flux against its two neighbours; 1.0 is Bates et al.
        (2010) without smoothing. Default 0.8 (as Landlab): it damps the checkerboard oscillations
        that grow at low friction (frictionless Thacker bowl: depth RMSE after two periods 0.031 m
        against 0.039 m with 1.0) at a small cost where friction dominates (Hunter wave front at
        3600 s: 0.066 m against 0.063 m).
    h_dry : float
        Flow-depth threshold [m]: no flux through a face whose flow depth is not above it.
    dt_max : float
        Largest step [s].
    fixed_dt : float
        > 0 uses this step; above 1.5x the adaptive step the run stops with status 1.
    g : float
        Gravity [m/s^2].
    wet_depth : float
        Depth [m] above which a cell counts as flooded (arrival time, duration) and has a speed.
    froude_cap : float
        Froude number of the inertial allowance in the bound on the reported speed (see
        :class:`FloodAccum`); ``inf``: no bound. Only the reported speed and hazard are bounded, not
        the flow.
    time_stepping : {"global", "local"}
        "global": one step for the whole grid, set by the deepest water. "local": tiles of
        :data:`LTS_TILE` (rows, columns) cells each take a power-of-two multiple of the finest step, up to
        ``2^max_levels`` times it, as their own depths and speeds allow (see :mod:`kernels._flood_lts`);
        mass is conserved as with the global step. Adaptive steps only (``fixed_dt = 0``), CPU only.
    max_levels : int
        Levels of local time stepping above the finest (0 to :data:`LTS_MAX_LEVELS`).
    losses_every : int
        Take the infiltration and drainage capacity every this many steps (>= 1), over the steps' summed
        time (sooner where it would pass ``dt_max``), and at every call's last step: they never take more
        than the water there and the volumes book what they take, so the balance is as exact as with 1
        (the default, every step); the water a loss takes stays on the ground up to that many steps
        longer, and Green-Ampt's implicit step (first order in its interval) errs as with steps of up to
        ``dt_max``. On the CPU; under local time stepping each tile takes them over its own summed steps, at
        its first step that brings the finest steps since its last losses to this many (as often in time as
        the global steps), never past ``dt_max``, and at its step that ends the call; the GPU takes them every
        step.
    speed_every : int
        Fold the speed and hazard into a full :class:`FloodAccum`'s maxima every this many steps (>= 1) and
        at every call's last step; the largest depth and the flood timing still every step (as the lean
        accumulator keeps them, bit for bit), and ``speed_capped`` counts the steps folded. 1 (the
        default): every step. On the CPU; under local time stepping each tile folds at its first step that
        brings the finest steps since its last fold to this many, and at its step that ends the call (the edge
        cells a finer neighbour changes at each change); the GPU folds every step.
    """

    alpha: float = 0.7
    theta: float = 0.8
    h_dry: float = 1e-3
    dt_max: float = 10.0
    fixed_dt: float = 0.0
    g: float = 9.81
    wet_depth: float = 0.01
    froude_cap: float = 1.0
    time_stepping: str = "global"
    max_levels: int = 4
    losses_every: int = 1
    speed_every: int = 1


class FloodState:
    """Mutable state: depth, face discharges, cumulative infiltration, time.

    Attributes
    ----------
    h : (ny, nx) float32 or float64
    qx : (ny, nx+1), same dtype
    qy : (ny+1, nx), same dtype
    infil_cum : (ny, nx) float64
        Green-Ampt: cumulative infiltration F [m]. Horton: infiltration in excess of fc so far [m],
        the state of the capacity f = max(fc, f0 - k Fe).
    h_lo : (ny, nx), same dtype as h
        float32 states: the part of each cell's water that float32 could not hold in ``h`` (below
        its last digit; may be negative). The cell holds ``h + h_lo``: the kernel sums every
        update in float64 and carries the remainder (compensated summation), so small increments
        on deep water are not rounded away and the balance closes as in float64. The hydraulics
        read ``h`` only. Stays 0 for float64 states. Save it with checkpoints.
    t : float
        Time [s].
    steps : int
        Steps taken so far.
    """

    def __init__(
        self,
        h: np.ndarray,
        qx: np.ndarray,
        qy: np.ndarray,
        infil_cum: np.ndarray | None = None,
        t: float = 0.0,
        steps: int = 0,
        h_lo: np.ndarray | None = None,
    ):
        self.h = h
        self.qx = qx
        self.qy = qy
        self.infil_cum = np.zeros(h.shape) if infil_cum is None else infil_cum
        self.h_lo = np.zeros(h.shape, h.dtype) if h_lo is None else h_lo
        self.t = float(t)
        self.steps = int(steps)
        self._scratch: tuple[np.ndarray, ...] | None = None
        self._prepared = None  # what advance() checked and built for its last inputs (see _Prepared)
        self._sweeps = SweepChoice()  # parallel or one-thread sweep, from the speed each achieved
        self._lts_threads = SweepChoice()  # the same for the local time stepping's loop

    @classmethod
    def zeros(cls, shape: tuple[int, int], dtype=np.float64) -> FloodState:
        """Dry state at t = 0."""
        ny, nx = shape
        return cls(np.zeros(shape, dtype), np.zeros((ny, nx + 1), dtype), np.zeros((ny + 1, nx), dtype))

    @classmethod
    def from_depth(cls, h: np.ndarray, dtype=None) -> FloodState:
        """Still water of depth ``h`` (copied) at t = 0."""
        h = np.array(h, dtype=dtype if dtype is not None else np.asarray(h).dtype, order="C")
        state = cls.zeros(h.shape, h.dtype)
        state.h = h
        state.h_lo = np.zeros(h.shape, h.dtype)
        return state

    def copy(self) -> FloodState:
        """Deep copy (for checkpoints)."""
        return FloodState(
            self.h.copy(), self.qx.copy(), self.qy.copy(), self.infil_cum.copy(), self.t, self.steps, self.h_lo.copy()
        )

    def _buffers(self) -> tuple[np.ndarray, ...]:
        """Working copies of the inputs (bed, Manning, rain map), kept between calls (no reallocation)."""
        s = self._scratch
        if s is None or s[0].shape != self.h.shape or s[0].dtype != self.h.dtype:
            s = (np.empty_like(self.h), np.empty_like(self.h), np.empty_like(self.h))
            self._scratch = s
        return s


class FloodAccum:
    """Running maxima and flood timing, updated at every step inside the kernel.

    Attributes
    ----------
    h_max, v_max : (ny, nx) float32
        Largest depth [m] and cell speed [m/s]. The speed is the step's face discharges averaged to
        the centre, divided by the largest depth those fluxes went through: the cell's depth at the
        start and end of the step and its faces' flow depths (so never above the fastest face's own
        speed q / h_f; a cell drained or filled within a step, or fed over a step in the ground,
        is not divided by the sliver of water left). 0 where the depth is not above
        ``max(h_dry, wet_depth)``. It is held to the larger of the Manning speed
        d^(2/3) S^(1/2) / n on the steepest water-surface slope S across the cell's flowing faces
        and an inertial allowance ``froude_cap * sqrt(g d min(1, L / dx))``, L = d^(4/3) / (g n^2)
        the friction length: a faster speed is both faster than friction allows and one the
        scheme cannot give (no advection term; semi-implicit friction that overshoots where it is
        stiff). :attr:`IntervalStats.speed_capped` counts the cell-steps held.
    hazard_max : (ny, nx) float32
        Largest Defra FD2320 hazard rating HR = d (v + 0.5) + DF, DF = 1 where d > 0.25 m, else 0.
    t_arrival : (ny, nx) float64
        First time [s] the depth exceeded ``wet_depth`` (NaN: never).
    duration : (ny, nx) float64
        Time [s] with depth above ``wet_depth`` (depth sampled at the end of each step).
    wet_since : (ny, nx) float64
        Bookkeeping for ``duration``: when the cell last became wet (NaN while dry). Save it with
        checkpoints alongside the state.
    kind : {"full", "depth"}
        "full" keeps everything above. "depth", the lean accumulator (forecast members): the CPU
        kernel keeps only ``h_max`` and the wet/dry timing (``t_arrival``, ``duration``), bit for
        bit as "full" does, at a fraction of the cost, and leaves ``v_max`` and ``hazard_max``
        alone under either time stepping (the GPU and the full solver may still fill them: read
        the speed and hazard from a "full" one).
    """

    def __init__(self, h_max, v_max, hazard_max, t_arrival, duration, wet_since, kind: str = "full"):
        if kind not in ACCUM_KINDS:
            raise ValueError(f"FloodAccum kind = {kind!r} must be one of {ACCUM_KINDS}")
        self.h_max = h_max
        self.v_max = v_max
        self.hazard_max = hazard_max
        self.t_arrival = t_arrival
        self.duration = duration
        self.wet_since = wet_since
        self.kind = kind

    @classmethod
    def zeros(cls, shape: tuple[int, int], kind: str = "full") -> FloodAccum:
        """Empty accumulators for a grid of ``shape`` (``kind``: "full" or the lean "depth")."""
        return cls(
            np.zeros(shape, np.float32),
            np.zeros(shape, np.float32),
            np.zeros(shape, np.float32),
            np.full(shape, np.nan),
            np.zeros(shape),
            np.full(shape, np.nan),
            kind,
        )

    def copy(self) -> FloodAccum:
        """Deep copy (for checkpoints)."""
        return FloodAccum(
            *(getattr(self, n).copy() for n in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since")),
            self.kind,
        )

    @property
    def _mode(self) -> int:
        """The kernel's ``do_acc`` for this accumulator."""
        return _core.ACC_DEPTH if self.kind == "depth" else _core.ACC_FULL


class IntervalStats(NamedTuple):
    """What happened during one :func:`advance` call. Volumes [m^3], float64, over the interval.

    ``speed_capped``: cell-steps whose reported speed was held to its bound (see :class:`FloodAccum`).
    ``dt_min`` leaves out the last step when it was shortened to land on ``t_end`` (unless it was
    the only kind of step). ``status``: 0 ok, 1 fixed dt unstable, 2 non-finite state; on a non-zero
    status the state stops where the problem was found (``state.t < t_end``).
    """

    steps: int
    dt_min: float
    dt_max: float
    vol_rain: float
    vol_inflow: float
    vol_bnd_in: float
    vol_bnd_out: float
    vol_infil: float
    vol_drain: float
    status: int
    speed_capped: int = 0
    level_share: tuple[float, ...] = ()

    # ``level_share`` (local time stepping only): the share of the interval's cell-seconds each level
    # 0..max_levels stepped at (level k: 2^k times the finest step), then that of idle (skipped) tiles.

    @property
    def net_inflow(self) -> float:
        """rain + inflow + bnd_in - bnd_out - infil - drain: the change of stored volume it implies."""
        return self.vol_rain + self.vol_inflow + self.vol_bnd_in - self.vol_bnd_out - self.vol_infil - self.vol_drain


def stored_volume(state: FloodState, grid: FloodGrid) -> float:
    """Water volume [m^3] over the unblocked cells (``h + h_lo``), summed in float64."""
    h = np.where(np.asarray(grid.blocked) != 0, 0, state.h.astype(np.float64) + state.h_lo)
    return float(np.sum(h, dtype=np.float64)) * float(grid.dx) ** 2


def advance(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams,
    t_end: float,
    accum: FloodAccum | None = None,
    device: str = "cpu",
    changed: tuple[np.ndarray, np.ndarray] | None = None,
) -> IntervalStats:
    """Advance ``state`` in place from ``state.t`` to exactly ``t_end``.

    Parameters
    ----------
    state : FloodState
        Updated in place (its ``t`` and ``steps`` too). Depths in blocked cells are set to 0.
    grid : FloodGrid
    forcing : FloodForcing
    params : FloodParams
    t_end : float
        End of the interval [s], not before ``state.t``; the last step is shortened to land on it.
    accum : FloodAccum, optional
        Running maxima, updated at every step (and with the state at ``state.t``).
    device : {"cpu", "gpu"}
        "gpu" runs the same scheme on an NVIDIA GPU (numba-cuda): the state is copied to the GPU
        for the call and back at its end; depths agree with the CPU's to float rounding.
    changed : (rows, cols) of int arrays, optional
        The only cells whose depth the caller changed since the last call returned (e.g. a sewer
        exchange's manholes; repeats allowed; empty: none). The call then checks, folds into
        ``accum`` and takes the largest depth from those cells alone instead of passing over the
        whole grid; the same bits. A cell changed but not named breaks the contract (its change may
        be missed by ``accum`` and the time step). None (the default): the whole grid is checked.
        Used where the last call kept ``accum`` with the same arrays; otherwise ignored.

    Returns
    -------
    IntervalStats
        Volumes of the interval and ``status`` (raise on non-zero: the state is not trustworthy).

    Raises
    ------
    ValueError
        If an input breaks the contract (shape, dtype, range, a non-finite value); the message
        says which and how to fix it.
    DeviceError
        If ``device="gpu"`` and there is no GPU (or no numba-cuda).

    Notes
    -----
    A run stopped often (every few seconds for a sewer coupling) calls this many times with the same
    inputs, so the state keeps what the last call checked and built from ``grid``, ``forcing`` and
    ``params``: called again with the same objects, only the state's depths are checked (one pass),
    and only the cells whose depth the caller changed since (and their neighbours) are folded into
    ``accum``. Inputs are recognised by identity, so treat their arrays as read-only between calls
    and pass a new grid or forcing (``grid._replace(z=...)``) to change one: it is checked and
    prepared again. With a fixed step that divides the intervals, many calls give the same bits as
    one; with adaptive steps, the last step of each call is shortened to land on its end.
    """
    if device not in DEVICES:
        raise ValueError(f"device = {device!r} must be one of {DEVICES}")
    if params.time_stepping == "local" and device != "cpu":
        raise DeviceError(
            "local time stepping (time_stepping = 'local') runs on the CPU only; use device 'cpu' or "
            "time_stepping = 'global' on the GPU"
        )
    threads = numba.get_num_threads()
    adaptive = ADAPTIVE_THREADS and device == "cpu" and params.time_stepping == "global" and np.ndim(state.h) == 2
    if not (adaptive and _core.plan(state.h.shape, threads)[0]):
        return _advance(state, grid, forcing, params, t_end, accum, device, None, changed)
    parallel = state._sweeps.choose(True)
    with _threads_for(parallel):
        return _advance(state, grid, forcing, params, t_end, accum, device, parallel, changed)


@contextlib.contextmanager
def _threads_for(parallel: bool) -> Iterator[None]:
    """Numba's threads as they are for a parallel call; one thread for a call that takes the one-thread
    sweep, so that it runs as a one-thread run does (its once-a-call parallel passes too, which would
    otherwise wake the other threads; see kernels/_sweep_choice.py). The count is restored after."""
    threads = numba.get_num_threads()
    if not parallel:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


def _advance(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams,
    t_end: float,
    accum: FloodAccum | None,
    device: str,
    chosen: bool | None,
    changed: tuple[np.ndarray, np.ndarray] | None = None,
) -> IntervalStats:
    """:func:`advance` once its sweep is chosen: ``chosen`` the sweep choice's pick, None: no choice made."""
    runner = _core.run if device == "cpu" else _gpu_runner()
    prep = state._prepared
    if prep is not None and prep.inputs_match(grid, forcing, params, state.h):
        _check_state(state, t_end, accum)
    else:
        _check(state, grid, forcing, params, t_end, accum)
        prep = None
    if prep is None:
        state._prepared = None  # the buffers are rebuilt now
        prep = _prepare(state, grid, forcing, params)
        problem, hmax = prep.problem, prep.hmax
        fresh = True
    else:
        fresh = False
    zb, nb, rainf = state._buffers()
    blocked = prep.blocked
    pf = _core.constants(
        state.h,
        float(params.theta),
        float(params.h_dry),
        float(grid.dx),
        float(params.wet_depth),
        float(params.froude_cap),
        float(params.g),
    )
    if accum is None:
        dummy32 = np.zeros((1, 1), np.float32)
        dummy64 = np.zeros((1, 1))
        acc = (dummy32, dummy32, dummy32, dummy64, dummy64, dummy64)
    else:
        acc = (accum.h_max, accum.v_max, accum.hazard_max, accum.t_arrival, accum.duration, accum.wet_since)
    mode = _core.ACC_NONE if accum is None else accum._mode
    # the state as the last call left it (same arrays, same time): fold only what the caller changed
    cont = (
        not fresh
        and accum is not None
        and prep.accum is accum
        and prep.h is state.h
        and prep.t == state.t
        and prep.h_end is not None
    )
    reopened = False
    if cont and changed is not None:  # the caller named what it changed: those cells alone
        rows, cols = _cells(changed, state.h.shape)
        problem, hmax = _core.reopen_cells(
            state.h, prep.h_end, state.h_lo, state.qx, state.qy, zb, nb, blocked, state.t, pf, rows, cols,
            prep.end_max, *acc[:4], acc[5], mode,
        )  # fmt: skip
        reopened = problem != _core.RESCAN  # RESCAN: the largest depth went down; the full pass finds it
    if not (fresh or reopened):
        problem, hmax = _core.reopen(
            state.h,
            prep.h_end if cont else state.h,
            state.qx,
            state.qy,
            zb,
            nb,
            blocked,
            state.t,
            pf,
            cont,
            *acc[:4],
            acc[5],
            state.h_lo,
            mode,
        )
    if problem:
        state._prepared = None
        raise ValueError(_PROBLEMS[problem])
    if accum is not None and not cont:
        _core.accum_open(
            state.h, zb, nb, state.qx, state.qy, blocked, state.t, pf, acc[0], acc[1], acc[2], acc[3], acc[5], mode
        )
    if params.time_stepping == "local":
        return _advance_local(state, grid, forcing, params, t_end, accum, prep, acc)
    vols = np.zeros(6)
    parallel, nch = _core.plan(state.h.shape, numba.get_num_threads())
    if parallel and ROW_CHUNKS:
        nch = max(2, min(int(ROW_CHUNKS), state.h.shape[0] // 4))
    # The call that compiles (or loads) the time loop says nothing about the sweeps' speed.
    timed = chosen is not None and _core.is_compiled(state.h.dtype)
    if chosen is not None:
        parallel = chosen
        nch = nch if parallel else 1
    wall0, cpu0 = time.perf_counter(), time.process_time()
    t, steps, dt_min, dt_max, status, capped = runner(
        parallel,
        state.h,
        state.qx,
        state.qy,
        zb,
        nb,
        blocked,
        rainf,
        prep.rain_sum,
        int(forcing.rain_ser),
        prep.kind,
        prep.ia,
        prep.ib,
        prep.ic,
        state.infil_cum,
        prep.drain,
        prep.has_drain,
        *prep.static,
        float(grid.dx),
        float(params.alpha),
        float(params.theta),
        float(params.h_dry),
        float(params.dt_max),
        float(params.fixed_dt),
        float(params.g),
        float(params.wet_depth),
        float(params.froude_cap),
        prep.zref,
        state.t,
        float(t_end),
        mode if device == "cpu" else accum is not None,
        *acc,
        nch,
        hmax,
        vols,
        state.h_lo,
        state.h.dtype == np.float32,
        *((int(params.losses_every), int(params.speed_every)) if device == "cpu" else ()),  # the GPU: every step
    )
    if timed:
        cpu = time.process_time() - cpu0 if parallel and _threads_sleep() else None
        state._sweeps.record(parallel, float(state.h.size) * steps, time.perf_counter() - wall0, cpu)
    _close_interval(state, accum, prep, t, steps)
    if steps == 0:
        dt_min = dt_max = 0.0
    return IntervalStats(int(steps), float(dt_min), float(dt_max), *(float(v) for v in vols), int(status), int(capped))


def _threads_sleep() -> bool:
    """True where Numba's waiting threads sleep instead of spinning: OpenMP with a passive wait policy."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return False
    return layer == "omp" and thread_wait.THREADS_SLEEP


def _cells(changed: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`advance`'s ``changed`` as two int64 arrays of in-grid cells (a ValueError otherwise)."""
    rows, cols = (np.ascontiguousarray(a, dtype=np.int64).reshape(-1) for a in changed)
    if rows.shape != cols.shape:
        raise ValueError(f"changed = (rows, cols) must have the same length, got {rows.size} and {cols.size}")
    ny, nx = shape
    if rows.size and not (rows.min() >= 0 and rows.max() < ny and cols.min() >= 0 and cols.max() < nx):
        raise ValueError(f"changed holds cells outside the {ny} x {nx} grid")
    return rows, cols


def _close_interval(state: FloodState, accum: FloodAccum | None, prep: _Prepared, t: float, steps: int) -> None:
    """After a compiled time loop: wet durations up to ``t``, the state's clock and what ``prep`` keeps
    (with ``accum``: the depths as they are and their largest, for the next call's ``changed``)."""
    if accum is not None:
        h = state.h
        if prep.h_end is None or prep.h_end.shape != h.shape or prep.h_end.dtype != h.dtype:
            prep.h_end = np.empty_like(h)
        prep.end_max = _core.close_call(t, accum.duration, accum.wet_since, h, prep.h_end, prep.blocked)
    state.t = float(t)
    state.steps += int(steps)
    prep.remember(state, accum)


def _advance_local(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams,
    t_end: float,
    accum: FloodAccum | None,
    prep: _Prepared,
    acc: tuple[np.ndarray, ...],
) -> IntervalStats:
    """The compiled time loop of local time stepping (:mod:`kernels._flood_lts`), from :func:`advance`."""
    zb, nb, rainf = state._buffers()
    vols = np.zeros(6)
    levels = np.zeros(int(params.max_levels) + 2)
    b_row, b_col, b_side, b_kind, b_ser, b_slope, *rest = prep.static
    # Its parallel loops are short (a fine step's work items), so a descheduled thread stalls them
    # more often than the global sweep's: on a busy machine one thread ran the demo's local loop 2x
    # faster in wall time. As the global sweep, each call runs on the threads or on one, whichever the
    # state's earlier calls measured faster (the same bits: a work item writes only its own cells
    # and faces, and the sums are taken in item order).
    threads = numba.get_num_threads()
    parallel = threads > 1 and (not ADAPTIVE_THREADS or state._lts_threads.choose(True))
    timed = ADAPTIVE_THREADS and threads > 1 and bool(_lts.run.overloads)  # not the call that compiles
    t0, wall0, cpu0 = state.t, time.perf_counter(), time.process_time()
    with _threads_for(parallel):
        t, steps, dt_min, dt_max, status, capped = _lts.run(
            state.h, state.qx, state.qy, zb, nb, prep.blocked, rainf, int(forcing.rain_ser), prep.kind,
            prep.ia, prep.ib, prep.ic, state.infil_cum, prep.drain, prep.has_drain,
            b_row, b_col, b_side, b_kind, b_ser, b_slope, *rest,
            float(grid.dx), float(params.alpha), float(params.theta), float(params.h_dry), float(params.dt_max),
            float(params.g), float(params.wet_depth), float(params.froude_cap), prep.zref, state.t, float(t_end),
            _core.ACC_NONE if accum is None else accum._mode, *acc, vols, state.h_lo, state.h.dtype == np.float32,
            _lts.TILE, int(params.max_levels), levels, int(params.losses_every), int(params.speed_every),
        )  # fmt: skip
    if timed:
        cpu = time.process_time() - cpu0 if parallel and _threads_sleep() else None
        # simulated cell-seconds per second: the fine steps' work varies with the levels, not the clock
        state._lts_threads.record(parallel, float(state.h.size) * (t - t0), time.perf_counter() - wall0, cpu)
    _close_interval(state, accum, prep, t, steps)
    if steps == 0:
        dt_min = dt_max = 0.0
    total = levels.sum()
    share = tuple(float(v / total) for v in levels) if total > 0 else ()
    return IntervalStats(
        int(steps), float(dt_min), float(dt_max), *(float(v) for v in vols), int(status), int(capped), share
    )


def cell_speed(state: FloodState, grid: FloodGrid, params: FloodParams) -> np.ndarray:
    """The cell speed [m/s] of the state as it is, as the running maximum ``FloodAccum.v_max`` takes it.

    The centre discharge of the faces over the flow depth, 0 at or below ``params.wet_depth`` and in
    blocked cells, held to the same bound (see :func:`kernels._flood_core.maxima`): the maximum of
    these over a run's snapshot times is never above its ``v_max``. A float32 ``(ny, nx)`` array.
    """
    dtype = state.h.dtype
    h, lo = state.h.copy(), state.h_lo.copy()  # prepare zeroes blocked cells: leave the state alone
    zb, nb, rainf = np.empty_like(h), np.empty_like(h), np.empty_like(h)
    blocked = _c(grid.blocked, np.uint8)
    none = np.zeros((1, 1))
    _core.prepare(
        _c(grid.z, dtype), _c(grid.manning, dtype), blocked, np.zeros(h.shape), np.zeros(h.shape), 0,
        none, none, none, h, zb, nb, rainf, lo,
    )  # fmt: skip
    pf = _core.constants(
        h,
        float(params.theta),
        float(params.h_dry),
        float(grid.dx),
        float(params.wet_depth),
        float(params.froude_cap),
        float(params.g),
    )
    acc = FloodAccum.zeros(h.shape)
    _core.accum_open(
        h, zb, nb, _c(state.qx, dtype), _c(state.qy, dtype), blocked, state.t, pf,
        acc.h_max, acc.v_max, acc.hazard_max, acc.t_arrival, acc.wet_since, _core.ACC_FULL,
    )  # fmt: skip
    return acc.v_max


class _Prepared:
    """What :func:`advance` checked and built from a grid and forcing, kept on the state between calls.

    The inputs are recognised by identity: ``grid`` and ``forcing`` are immutable tuples, so the same
    objects hold the same arrays. Their values are inputs the caller does not change in place between
    calls (the flood run replaces the forcing when the rain map changes); a new grid or forcing is
    checked and prepared again. ``h_end`` is the depth the last call left, to see what the caller
    changed in between, and ``end_max`` its largest over the open cells (for a caller that names them).
    """

    def __init__(
        self,
        grid: FloodGrid,
        forcing: FloodForcing,
        params: FloodParams,
        dtype,
        zref: float,
        rain_sum: float,
        has_drain: bool,
        blocked,
        kind,
        ia,
        ib,
        ic,
        drain,
        static,
        problem,
        hmax,
    ):
        self.grid, self.forcing, self.params, self.dtype = grid, forcing, params, dtype
        self.zref, self.rain_sum, self.has_drain = zref, rain_sum, has_drain
        self.blocked, self.kind, self.ia, self.ib, self.ic, self.drain = blocked, kind, ia, ib, ic, drain
        self.static = static
        self.problem, self.hmax = problem, hmax
        self.h = self.accum = self.h_end = None
        self.t = self.end_max = np.nan

    def inputs_match(self, grid: FloodGrid, forcing: FloodForcing, params: FloodParams, h: np.ndarray) -> bool:
        return (
            grid is self.grid
            and forcing is self.forcing
            and params == self.params
            and h.dtype == self.dtype
            and h.shape == self.blocked.shape
        )

    def remember(self, state: FloodState, accum: FloodAccum | None) -> None:
        """Keep the state's arrays and time as this call leaves them (its depths: :func:`_close_interval`)."""
        self.h, self.accum, self.t = state.h, accum, state.t
        state._prepared = self


def _prepare(state: FloodState, grid: FloodGrid, forcing: FloodForcing, params: FloodParams) -> _Prepared:
    """Check the per-cell inputs and build the kernel's working copies (whole-grid passes)."""
    dtype = state.h.dtype
    blocked = _c(grid.blocked, np.uint8)
    kind = int(grid.infil_kind)
    if kind:
        ia, ib, ic = (_c(a, np.float64) for a in (grid.infil_a, grid.infil_b, grid.infil_c))
    else:
        ia = ib = ic = np.zeros((1, 1))
    drain = _c(grid.drain_cap, np.float64)
    zb, nb, rainf = state._buffers()
    problem, zref, rain_sum, hmax, has_drain = _core.prepare(
        _c(grid.z, dtype),
        _c(grid.manning, dtype),
        blocked,
        _c(forcing.rain_field, np.float64),
        drain,
        kind,
        ia,
        ib,
        ic,
        state.h,
        zb,
        nb,
        rainf,
        state.h_lo,
    )
    ser = forcing.series
    static = (
        *(_i64(a) for a in (grid.bnd_row, grid.bnd_col)),
        _i8(grid.bnd_side),
        _i8(grid.bnd_kind),
        _i64(grid.bnd_ser),
        _c(grid.bnd_slope, np.float64),
        *(_i64(a) for a in (grid.fix_row, grid.fix_col, grid.fix_ser)),
        *(_i64(a) for a in (forcing.src_row, forcing.src_col, forcing.src_ser)),
        _c(forcing.src_w, np.float64),
        _c(ser.t, np.float64),
        _c(ser.v, np.float64),
        _i64(ser.ptr),
    )
    return _Prepared(
        grid, forcing, params, dtype, zref, rain_sum, has_drain, blocked, kind, ia, ib, ic, drain, static, problem, hmax
    )


_PROBLEMS = {
    _core.BAD_Z: "grid.z holds NaN or infinite elevations on unblocked cells; fill them or mark the cells blocked",
    _core.BAD_MANNING: "grid.manning must be finite and >= 0 on unblocked cells",
    _core.BAD_RAIN: "forcing.rain_field must be finite and >= 0 m/s everywhere",
    _core.BAD_DRAIN: "grid.drain_cap must be finite and >= 0 m/s everywhere (0 where there is no drainage)",
    _core.BAD_INFIL: (
        "infiltration parameters must be finite and >= 0, and Horton needs f0 (infil_a) >= fc (infil_b) in every cell"
    ),
    _core.BAD_DEPTH: "state.h holds negative, NaN or infinite depths on unblocked cells; start from a valid state",
}


def _c(a, dtype) -> np.ndarray:
    """``a`` as a C-contiguous writeable array of ``dtype``, copied only when it is not one.

    The compiled time loop is typed once per state dtype, so every array it gets must have the
    same dtype, layout and flags on every call.
    """
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def _i64(a) -> np.ndarray:
    return _c(a, np.int64)


def _i8(a) -> np.ndarray:
    return _c(a, np.int8)


def _check(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams,
    t_end: float,
    accum: FloodAccum | None,
) -> None:
    """Raise ValueError on anything that breaks the contract of :func:`advance`."""
    _check_state(state, t_end, accum)
    h = state.h
    ny, nx = h.shape
    _check_params(params)
    if not (np.isfinite(grid.dx) and grid.dx > 0):
        raise ValueError(f"grid.dx = {grid.dx} must be a positive cell size in metres")
    for name in ("z", "manning", "blocked", "drain_cap"):
        if np.shape(getattr(grid, name)) != (ny, nx):
            raise ValueError(f"grid.{name} must have the state's shape {(ny, nx)}, got {np.shape(getattr(grid, name))}")
    # Per-cell values are checked by _core.prepare (one compiled pass instead of many NumPy ones).
    if grid.infil_kind not in (0, 1, 2):
        raise ValueError(f"grid.infil_kind = {grid.infil_kind} must be 0 (none), 1 (Horton) or 2 (Green-Ampt)")
    if grid.infil_kind and not (np.shape(grid.infil_a) == np.shape(grid.infil_b) == np.shape(grid.infil_c) == (ny, nx)):
        raise ValueError(f"grid.infil_a/b/c must have shape {(ny, nx)}")
    nser = forcing.series.n_series
    _check_boundaries(grid, (ny, nx), nser, np.asarray(grid.manning))
    fr, fc_, fs = (np.asarray(a) for a in (grid.fix_row, grid.fix_col, grid.fix_ser))
    if not (fr.shape == fc_.shape == fs.shape) or fr.ndim != 1:
        raise ValueError("grid.fix_row, fix_col and fix_ser must be 1-D arrays of the same length")
    _check_cells("grid.fix", fr, fc_, (ny, nx))
    _check_series_index("grid.fix_ser", fs, nser)
    # Forcing.
    if np.shape(forcing.rain_field) != (ny, nx):
        raise ValueError(f"forcing.rain_field must have shape {(ny, nx)}, got {np.shape(forcing.rain_field)}")
    rs = int(forcing.rain_ser)
    if not -1 <= rs < nser:
        raise ValueError(f"forcing.rain_ser = {rs} must be -1 (no rain) or a series index below {nser}")
    if rs >= 0:
        ser = forcing.series
        if np.any(ser.v[ser.ptr[rs] : ser.ptr[rs + 1]] < 0):
            raise ValueError(f"rain series {rs} has negative values; rain multipliers must be >= 0")
    sr, sc, ss, sw = (np.asarray(a) for a in (forcing.src_row, forcing.src_col, forcing.src_ser, forcing.src_w))
    if not (sr.shape == sc.shape == ss.shape == sw.shape) or sr.ndim != 1:
        raise ValueError("forcing.src_row, src_col, src_ser and src_w must be 1-D arrays of the same length")
    _check_cells("forcing.src", sr, sc, (ny, nx))
    _check_series_index("forcing.src_ser", ss, nser)
    if not np.all(np.isfinite(sw)):
        raise ValueError("forcing.src_w must be finite")
    if sr.size and np.any(np.asarray(grid.blocked)[sr, sc] != 0):
        k = int(np.flatnonzero(np.asarray(grid.blocked)[sr, sc] != 0)[0])
        raise ValueError(
            f"inflow {k} enters blocked cell (row {sr[k]}, col {sc[k]}), where its water would vanish; "
            "move the inflow point off the building/nodata cell"
        )


def _check_state(state: FloodState, t_end: float, accum: FloodAccum | None) -> None:
    """The per-call part of :func:`_check`: the state's arrays, the interval's end, the accumulators."""
    h = state.h
    if h.ndim != 2 or h.dtype not in (np.float32, np.float64) or min(h.shape) < 1:
        raise ValueError(f"state.h must be a non-empty 2-D float32 or float64 array, got {h.dtype} {h.shape}")
    ny, nx = h.shape
    arrays = (("h", h, (ny, nx)), ("qx", state.qx, (ny, nx + 1)), ("qy", state.qy, (ny + 1, nx)))
    for name, arr, shp in (*arrays, ("h_lo", state.h_lo, (ny, nx))):
        if arr.shape != shp or arr.dtype != h.dtype or not arr.flags.c_contiguous or not arr.flags.writeable:
            raise ValueError(
                f"state.{name} must be a writeable C-contiguous {h.dtype} array of shape {shp}, got "
                f"{arr.dtype} {arr.shape}; build the state with FloodState.zeros or FloodState.from_depth"
            )
    ic = state.infil_cum
    if ic.shape != (ny, nx) or ic.dtype != np.float64 or not ic.flags.c_contiguous or not ic.flags.writeable:
        raise ValueError(f"state.infil_cum must be a writeable C-contiguous float64 array of shape {(ny, nx)}")
    if not np.isfinite(t_end) or t_end < state.t:
        raise ValueError(f"t_end = {t_end} must be finite and not before the state's time {state.t}")
    if accum is not None:
        for name in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since"):
            a = getattr(accum, name)
            want = np.float32 if name in ("h_max", "v_max", "hazard_max") else np.float64
            if a.shape != (ny, nx) or a.dtype != want or not a.flags.c_contiguous or not a.flags.writeable:
                raise ValueError(
                    f"accum.{name} must be a writeable C-contiguous {np.dtype(want)} array of shape "
                    f"{(ny, nx)}; build it with FloodAccum.zeros(shape)"
                )


def _check_params(p: FloodParams) -> None:
    rules = (
        ("alpha", 0 < p.alpha <= 1, "in (0, 1]"),
        ("theta", 0 <= p.theta <= 1, "in [0, 1]"),
        ("h_dry", p.h_dry > 0, "> 0"),
        ("dt_max", p.dt_max > 0, "> 0"),
        ("fixed_dt", p.fixed_dt >= 0, ">= 0 (0 = adaptive)"),
        ("g", p.g > 0, "> 0"),
        ("wet_depth", p.wet_depth >= 0, ">= 0"),
        ("froude_cap", p.froude_cap > 0, "> 0 (inf: no bound)"),
    )
    if p.time_stepping not in TIME_STEPPING:
        raise ValueError(f"FloodParams.time_stepping = {p.time_stepping!r} must be one of {TIME_STEPPING}")
    if not (isinstance(p.max_levels, int | np.integer) and 0 <= p.max_levels <= LTS_MAX_LEVELS):
        raise ValueError(f"FloodParams.max_levels = {p.max_levels!r} must be an integer from 0 to {LTS_MAX_LEVELS}")
    for name in ("losses_every", "speed_every"):
        if not (isinstance(getattr(p, name), int | np.integer) and getattr(p, name) >= 1):
            raise ValueError(f"FloodParams.{name} = {getattr(p, name)!r} must be an integer >= 1 (1: every step)")
    if p.time_stepping == "local" and p.fixed_dt > 0:
        raise ValueError(
            "FloodParams.time_stepping = 'local' takes the adaptive step (fixed_dt = 0): each tile's step "
            "follows its depth; set fixed_dt = 0 or time_stepping = 'global'"
        )
    for name, ok, rule in rules:
        if not (ok and (np.isfinite(getattr(p, name)) or name == "froude_cap" and not np.isnan(p.froude_cap))):
            raise ValueError(f"FloodParams.{name} = {getattr(p, name)} must be {rule}")


def _check_boundaries(grid: FloodGrid, shape: tuple[int, int], nser: int, manning: np.ndarray) -> None:
    ny, nx = shape
    arrs = [np.asarray(getattr(grid, f"bnd_{x}")) for x in ("row", "col", "side", "kind", "ser", "slope")]
    row, col, side, kind, ser, slope = arrs
    if any(a.ndim != 1 or a.shape != row.shape for a in arrs):
        raise ValueError("grid.bnd_row/col/side/kind/ser/slope must be 1-D arrays of the same length")
    if row.size == 0:
        return
    _check_cells("grid.bnd", row, col, shape)
    if not np.all(np.isin(side, (0, 1, 2, 3))):
        raise ValueError("grid.bnd_side must be 0 (west), 1 (east), 2 (north) or 3 (south)")
    edge = np.choose(side.astype(np.int64), [col == 0, col == nx - 1, row == 0, row == ny - 1])
    if not np.all(edge):
        k = int(np.flatnonzero(~edge)[0])
        raise ValueError(
            f"boundary face {k}: cell (row {row[k]}, col {col[k]}) is not on the side {side[k]} "
            "edge; boundary faces must be outer faces (use edge_faces)"
        )
    face = np.where(side < 2, row * 2 + (side == 1), col * 2 + (side == 3)) + np.where(side < 2, 0, 2 * ny)
    if np.unique(face).size != face.size:
        raise ValueError("a boundary face is listed twice; list each open face once")
    if not np.all(np.isin(kind, (1, 2))):
        raise ValueError("grid.bnd_kind must be 1 (free outflow) or 2 (water-level series)")
    lvl = kind == 2
    _check_series_index("grid.bnd_ser (level boundaries)", ser[lvl], nser)
    free = kind == 1
    open_free = free & (np.asarray(grid.blocked)[row, col] == 0)
    if not np.all(np.isfinite(slope[free]) & (slope[free] > 0)):
        raise ValueError("free-outflow boundary faces need a friction slope bnd_slope > 0")
    if not np.all(manning[row[open_free], col[open_free]] > 0):
        raise ValueError("free-outflow boundary cells need Manning n > 0 (normal depth is undefined without friction)")


def _check_cells(what: str, row: np.ndarray, col: np.ndarray, shape: tuple[int, int]) -> None:
    if row.size and (row.min() < 0 or row.max() >= shape[0] or col.min() < 0 or col.max() >= shape[1]):
        raise ValueError(f"{what}_row/col hold cells outside the grid {shape}")


def _check_series_index(what: str, idx: np.ndarray, nser: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= nser):
        raise ValueError(f"{what} must index the forcing's series (0..{nser - 1})")
