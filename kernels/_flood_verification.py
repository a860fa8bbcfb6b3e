"""Verification cases of the flood kernel: set-ups, analytic solutions, model runs.

Shared by ``tests/test_flood_kernel.py`` (which asserts on them) and
``benchmarks/plot_verification.py`` (which draws them). NumPy only; see
/work/shared/VERIFICATION.md for the sources of the formulas.
"""

from __future__ import annotations

import numpy as np

from . import flood, swe
from .flood import FloodForcing, FloodGrid, FloodParams, FloodState, Series, edge_faces, stored_volume

__all__ = [
    "wave_front",
    "thacker",
    "ritter",
    "stoker",
    "dam_break_exact",
    "isolated_building",
    "gauge_summary",
    "GAUGES",
]

G = 9.81


def _solver(params):
    """(state class, advance) of the scheme ``params`` belong to: SweParams run the full solver."""
    if isinstance(params, swe.SweParams):
        return swe.SweState, swe.advance
    return FloodState, flood.advance


def wave_front(
    n_manning: float = 0.01, dx: float = 25.0, times=(900.0, 1800.0, 2700.0, 3600.0), params: FloodParams | None = None
) -> dict:
    """Moving wave front over a horizontal plane (Hunter et al. 2005; Bates et al. 2010).

    Flat 5000 m strip (2 cells across), wave speed u = 1 m/s, level series at the west edge from
    the analytic depth h(x, t) = [-(7/3) n^2 u^2 (x - u t)]^(3/7) taken at the ghost cell's centre
    x = -dx/2. Returns cell centres ``x`` and, per time, the model and analytic depth profiles.
    """
    u, length, ny = 1.0, 5000.0, 2
    nx = int(round(length / dx))

    def exact(x, t):
        return np.maximum(-(7.0 / 3.0) * n_manning**2 * u**2 * (x - u * t), 0.0) ** (3.0 / 7.0)

    ts = np.arange(0.0, max(times) + 10.0, 10.0)
    series = Series.pack([(ts, exact(-0.5 * dx, ts))])
    grid = FloodGrid.simple(np.zeros((ny, nx)), dx, n_manning, boundaries=edge_faces((ny, nx), "west", 2, series=0))
    cls, advance = _solver(params)
    state = cls.zeros((ny, nx))
    x = (np.arange(nx) + 0.5) * dx
    model, analytic, status = [], [], []
    for t in times:
        st = advance(state, grid, FloodForcing.none((ny, nx), series), params or FloodParams(), float(t))
        status.append(st.status)
        model.append(state.h.copy())
        analytic.append(exact(x, t))
    return {"x": x, "times": list(times), "model": model, "analytic": analytic, "status": status, "dx": dx, "u": u}


def front_position(x: np.ndarray, h: np.ndarray, depth: float = 0.05) -> float:
    """Where a profile first falls below ``depth``, interpolated between cell centres."""
    i = int(np.nonzero(h < depth)[0][0])
    return float(x[i - 1] + (h[i - 1] - depth) / (h[i - 1] - h[i]) * (x[i] - x[i - 1]))


def thacker(dx: float = 0.04, quarters=(1, 2, 4), params: FloodParams | None = None) -> dict:
    """Thacker's planar surface in a paraboloid (SWASHES 4.2.2; Delestre et al. 2013).

    Frictionless bowl z = -h0 (1 - r^2/a^2), a = 1 m, h0 = 0.1 m, eta = 0.5, 4 m square domain,
    omega = sqrt(2 g h0) / a (period 4.49 s). The water body is a disc of radius a whose centre
    circles at radius eta: h = eta h0/a^2 (2 x cos wt + 2 y sin wt - eta) - z where positive, with
    the uniform velocity (-eta w sin wt, eta w cos wt); y runs along the rows here (the mirror
    image of a solution is a solution). Returns the model and analytic depths after the given
    numbers of quarter periods, with the volume at the start.
    """
    a, h0, eta, length = 1.0, 0.1, 0.5, 4.0
    omega = np.sqrt(2 * G * h0) / a
    period = 2 * np.pi / omega
    n = int(round(length / dx))
    c = (np.arange(n) + 0.5) * dx - length / 2
    xx, yy = np.meshgrid(c, c)

    def exact(t):
        surface = eta * h0 / a**2 * (2 * xx * np.cos(omega * t) + 2 * yy * np.sin(omega * t) - eta)
        return np.maximum(surface + h0 * (1 - (xx**2 + yy**2) / a**2), 0.0)

    z = -h0 * (1 - (xx**2 + yy**2) / a**2)
    cls, advance = _solver(params)
    state = cls.from_depth(exact(0.0))
    hf = np.zeros((n + 1, n))
    hf[1:-1] = 0.5 * (state.h[:-1] + state.h[1:])
    state.qy[:] = hf * eta * omega  # the initial velocity (0, eta omega) on the y-faces
    if cls is swe.SweState:
        state.hv[:] = state.h * eta * omega  # ... and at the cell centres
    grid = FloodGrid.simple(z, dx, 0.0)
    v0 = stored_volume(state, grid)
    out = {
        "xx": xx,
        "yy": yy,
        "period": period,
        "times": [],
        "model": [],
        "analytic": [],
        "status": [],
        "volume0": v0,
        "grid": grid,
    }
    for k in quarters:
        t = k * period / 4
        st = advance(state, grid, FloodForcing.none((n, n)), params or FloodParams(h_dry=1e-4), t)
        out["times"].append(t)
        out["model"].append(state.h.copy())
        out["analytic"].append(exact(t))
        out["status"].append(st.status)
    out["volume"] = stored_volume(state, grid)
    return out


def centre_of_water(xx: np.ndarray, yy: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """Centre of the water body (depth-weighted mean position)."""
    return float((h * xx).sum() / h.sum()), float((h * yy).sum() / h.sum())


def ritter(dx: float = 0.05, times=np.arange(0.5, 6.01, 0.5), params: FloodParams | None = None) -> dict:  # noqa: B008 (read, never written)
    """Ritter's dam break on a dry frictionless bed (SWASHES): L = 10 m, x0 = 5 m, hl = 5 mm, T = 6 s.

    Analytic depth in the rarefaction fan: h = 4/(9 g) (sqrt(g hl) - (x - x0)/(2 t))^2, velocity
    u = 2/3 ((x - x0)/t + sqrt(g hl)), front at x0 + 2 sqrt(g hl) t.
    """
    return _dam_break(0.0, dx, times, params)


def stoker(dx: float = 0.05, times=np.arange(0.5, 6.01, 0.5), params: FloodParams | None = None) -> dict:  # noqa: B008 (read, never written)
    """Stoker's dam break on a wet frictionless bed (SWASHES 4.1.1.2): as Ritter with hr = 1 mm.

    A rarefaction into the reservoir and a shock downstream, with the state (cm^2/g, 2 (sqrt(g hl)
    - cm)) between them; cm solves -8 g hr cm^2 (sqrt(g hl) - cm)^2 + (cm^2 - g hr)^2 (cm^2 + g hr) = 0.
    """
    return _dam_break(0.001, dx, times, params)


def _stoker_cm(hl: float, hr: float) -> float:
    """cm of Stoker's solution, by bisection between sqrt(g hr) and sqrt(g hl)."""

    def f(cm):
        return -8 * G * hr * cm**2 * (np.sqrt(G * hl) - cm) ** 2 + (cm**2 - G * hr) ** 2 * (cm**2 + G * hr)

    lo, hi = np.sqrt(G * hr), np.sqrt(G * hl)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(lo) * f(mid) <= 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def dam_break_exact(x: np.ndarray, t: float, x0: float, hl: float, hr: float) -> tuple[np.ndarray, np.ndarray]:
    """Depth and velocity of Ritter's (hr = 0) or Stoker's (hr > 0) dam break at time t."""
    cg = np.sqrt(G * hl)
    xa = (x - x0) / t
    fan_h = 4 / (9 * G) * (cg - xa / 2) ** 2
    fan_u = 2 / 3 * (xa + cg)
    if hr <= 0:
        h = np.where(xa <= -cg, hl, np.where(xa >= 2 * cg, 0.0, fan_h))
        u = np.where(xa <= -cg, 0.0, np.where(xa >= 2 * cg, 0.0, fan_u))
        return h, u
    cm = _stoker_cm(hl, hr)
    xb = 2 * cg - 3 * cm
    xc = 2 * cm**2 * (cg - cm) / (cm**2 - G * hr)
    h = np.where(xa <= -cg, hl, np.where(xa <= xb, fan_h, np.where(xa <= xc, cm**2 / G, hr)))
    u = np.where(xa <= -cg, 0.0, np.where(xa <= xb, fan_u, np.where(xa <= xc, 2 * (cg - cm), 0.0)))
    return h, u


def _velocity(state: FloodState) -> np.ndarray:
    """Cell speed along the rows: the full solver's hu / h, the inertial face discharges averaged."""
    q = state.hu if isinstance(state, swe.SweState) else 0.5 * (state.qx[:, :-1] + state.qx[:, 1:])
    return np.where(state.h > 1e-6, q / np.maximum(state.h, 1e-6), 0.0)


def _dam_break(hr: float, dx: float, times, params) -> dict:
    length, x0, hl = 10.0, 5.0, 0.005
    nx = int(round(length / dx))
    x = (np.arange(nx) + 0.5) * dx
    cls, advance = _solver(params)
    state = cls.from_depth(np.where(x < x0, hl, hr)[None, :])
    grid = FloodGrid.simple(np.zeros((1, nx)), dx, 0.0)
    v0 = stored_volume(state, grid)
    out = {
        "x": x,
        "x0": x0,
        "hl": hl,
        "hr": hr,
        "times": [],
        "model": [],
        "analytic": [],
        "velocity": [],
        "analytic_velocity": [],
        "status": [],
        "volumes": [],
        "volume0": v0,
    }
    for t in times:
        st = advance(state, grid, FloodForcing.none((1, nx)), params or FloodParams(h_dry=1e-5), float(t))
        he, ue = dam_break_exact(x, float(t), x0, hl, hr)
        out["times"].append(float(t))
        out["model"].append(state.h[0].copy())
        out["analytic"].append(he)
        out["velocity"].append(_velocity(state)[0])
        out["analytic_velocity"].append(ue)
        out["status"].append(st.status)
        out["volumes"].append(stored_volume(state, grid))
    return out


# Gauges G1-G6 of Soares-Frazao and Zech (2007), as (x, y) in metres.
GAUGES = [(10.20, 2.95), (10.20, 1.20), (11.55, 2.95), (11.55, 1.00), (12.75, 2.10), (5.68, 2.90)]


def _inside(px: np.ndarray, py: np.ndarray, poly) -> np.ndarray:
    """Even-odd point-in-polygon test for arrays of points."""
    poly = np.asarray(poly, dtype=float)
    inside = np.zeros(px.shape, bool)
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        crosses = (y1 > py) != (y2 > py)
        inside ^= crosses & (px < (x2 - x1) * (py - y1) / np.where(y2 == y1, 1.0, y2 - y1) + x1)
    return inside


def isolated_building(t_end: float = 30.0, sample: float = 0.1, params: FloodParams | None = None) -> dict:
    """EA Test 6A: dam break around an isolated building, 0.1 m grid; stage at G1-G6 over time.

    Geometry as GeoscienceAustralia/ptha propagation/SWALS/examples/isolated_building (after
    Soares-Frazao and Zech 2007): flume 35.8 m x 3.6 m, reservoir side slopes rising 0.155 m over
    the outer 0.34 m, dam walls x 6.75-7.55 m leaving a 1 m gate (y 1.3-2.3 m), a 0.8 m x 0.4 m
    building rotated 64 degrees with a corner at (10.99, 1.75), Manning 0.01, stage 0.4 m upstream
    of x = 6.75 m and 0.02 m downstream, closed walls. Walls and building are blocked cells
    (cell centres inside the polygons).
    """
    dx, lx, ly = 0.1, 35.8, 3.6
    nx, ny = int(round(lx / dx)), int(round(ly / dx))
    xx, yy = np.meshgrid((np.arange(nx) + 0.5) * dx, ly - (np.arange(ny) + 0.5) * dx)
    z = np.where(yy < 0.34, 0.155 / 0.34 * (0.34 - yy), 0.0)
    z = np.where(yy > ly - 0.34, 0.155 / 0.34 * (yy - (ly - 0.34)), z)
    walls = [
        [(6.75, 0.0), (6.75, 1.3), (7.55, 1.3), (7.55, 0.0)],
        [(6.75, 2.3), (6.75, 3.6), (7.55, 3.6), (7.55, 2.3)],
        [(10.99, 1.75), (11.340697, 2.469035), (11.700215, 2.293687), (11.349518, 1.574652)],
    ]
    blocked = np.zeros((ny, nx), bool)
    for poly in walls:
        blocked |= _inside(xx, yy, poly)
    h = np.where(blocked, 0.0, np.maximum(np.where(xx < 6.75, 0.4, 0.02) - z, 0.0))
    grid = FloodGrid.simple(z, dx, 0.01, blocked=blocked.astype(np.uint8))
    cls, advance = _solver(params)
    state = cls.from_depth(h)
    idx = tuple(np.array([(int((ly - gy) / dx), int(gx / dx)) for gx, gy in GAUGES]).T)
    v0 = stored_volume(state, grid)
    times = np.arange(sample, t_end + 1e-9, sample)
    stage = np.empty((times.size, len(GAUGES)))
    status = 0
    for i, t in enumerate(times):
        st = advance(state, grid, FloodForcing.none((ny, nx)), params or FloodParams(), float(t))
        status = max(status, st.status)
        stage[i] = state.h[idx] + z[idx]
    return {
        "times": times,
        "stage": stage,
        "status": status,
        "mass_error": abs(stored_volume(state, grid) - v0) / v0,
        "depth": state.h,
        "blocked": blocked,
        "extent": (0.0, lx, 0.0, ly),
    }


def gauge_summary(times: np.ndarray, stage: np.ndarray, rise: float = 0.01) -> list[dict]:
    """Per gauge: arrival (first rise of ``rise`` m above the start) and the first peak after it."""
    out = []
    for g in range(stage.shape[1]):
        s = stage[:, g]
        risen = s > s[0] + rise
        if not risen.any():
            out.append({"arrival": np.nan, "peak": np.nan, "t_peak": np.nan})
            continue
        j = int(np.argmax(risen))
        arrival = float(times[j])
        while j + 1 < s.size and s[j + 1] >= s[j]:
            j += 1
        out.append({"arrival": arrival, "peak": float(s[j]), "t_peak": float(times[j])})
    return out
