"""Design storms: Chicago hyetographs from a storm intensity formula, alternating blocks from IDF tables.

Units, once and for all
-----------------------
Chinese cities publish their storm intensity formula (GB 50014, *Code for design of outdoor
wastewater engineering*) as

    q = 167 A1 (1 + C lg P) / (t + b)^n          q in L/(s.ha), t in minutes, P in years

where ``A1 (1 + C lg P) / (t + b)^n`` is the mean intensity over ``t`` minutes in mm/min and
167 converts mm/min into L/(s.ha) (1 mm/min on a hectare is 166.7 L/s; the code rounds it to 167).
Most cities print the expanded form, e.g. ``q = 3618.427 (1 + 0.438 lg P) / (t + 11.259)^0.750``,
whose leading coefficient is ``A = 167 A1``. The functions here take that expanded ``A``
[L/(s.ha)]; :func:`chicago` converts with 1 L/(s.ha) = 0.36 mm/h (1e-7 m/s), so hyetographs are
in mm/h like every rain input of a scenario. (Through the rounded 167, ``A1`` [mm/min] becomes
``A1 * 60.12`` mm/h rather than ``A1 * 60``: the published formula is followed as printed.)
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import ScenarioError

__all__ = ["MM_H_PER_L_S_HA", "Hyetograph", "IdfTable", "storm_formula_intensity", "chicago", "alternating_block"]

#: mm/h in one L/(s.ha): 1 L/s on 10,000 m2 is 1e-7 m/s.
MM_H_PER_L_S_HA = 0.36
#: Width [s] of the ramp that stands for each jump of a block hyetograph in a piecewise-linear
#: rain series (the kernel interpolates linearly). Centred on the block edge, the ramp keeps every
#: block's depth except for 1/8 of ramp x jump at the two edges (< 1e-6 mm for any real storm).
JUMP_S = 1e-3
#: Shortest block [s]: far longer than a ramp, and storm formulas and IDF tables start at minutes.
MIN_STEP_S = 1.0
#: Most blocks in a storm (10 weeks in 1-minute blocks): the hyetograph and its series stay small.
MAX_BLOCKS = 100_000


@dataclass(frozen=True)
class Hyetograph:
    """A block hyetograph: constant rain intensity over consecutive steps from t = 0.

    Attributes
    ----------
    step_s : float
        Block length [s].
    intensity_mm_h : ndarray
        Mean intensity of each block [mm/h].
    """

    step_s: float
    intensity_mm_h: np.ndarray

    @property
    def duration_s(self) -> float:
        """Storm duration [s]."""
        return self.step_s * len(self.intensity_mm_h)

    @property
    def edges_s(self) -> np.ndarray:
        """Block edges [s], one more than blocks."""
        return self.step_s * np.arange(len(self.intensity_mm_h) + 1)

    @property
    def depth_mm(self) -> float:
        """Total rain depth [mm]."""
        return float(self.intensity_mm_h.sum() * self.step_s / 3600.0)

    def depth_between(self, t0: float, t1: float) -> float:
        """Rain depth [mm] falling between ``t0`` and ``t1`` seconds (exact for the blocks)."""
        cum = np.concatenate([[0.0], np.cumsum(self.intensity_mm_h * self.step_s / 3600.0)])
        return float(np.interp(t1, self.edges_s, cum) - np.interp(t0, self.edges_s, cum))

    def series(self) -> list[tuple[float, float]]:
        """``[[s, mm/h], ...]`` for ``rain.hyetograph``: the blocks as a piecewise-linear series.

        Each jump becomes a ramp :data:`JUMP_S` wide centred on the block edge, and the rain stops
        the same way at the end, so the series' integral equals :attr:`depth_mm` exactly.
        """
        i = [float(v) for v in self.intensity_mm_h]
        half = JUMP_S / 2.0
        out = [(0.0, i[0])]
        for k in range(1, len(i)):
            t = k * self.step_s
            if i[k] != i[k - 1]:
                out += [(t - half, i[k - 1]), (t + half, i[k])]
        out += [(self.duration_s - half, i[-1]), (self.duration_s + half, 0.0)]
        return out


def _positive(name: str, value: float, fix: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ScenarioError(f"{name} = {value!r} must be a positive number; {fix}")


def _check_formula(A: float, b: float, C: float, n: float, P: float) -> None:
    _positive("A", A, "give the formula's leading coefficient in L/(s.ha), e.g. A = 3618.427.")
    _positive("return_period", P, "give the return period in years, e.g. return_period = 50.")
    if not (math.isfinite(b) and b >= 0):
        raise ScenarioError(f"b = {b!r} must be >= 0 (minutes added to the duration in (t + b)^n).")
    if not (math.isfinite(n) and 0 < n < 1):
        raise ScenarioError(
            f"n = {n!r} must lie strictly between 0 and 1 (storm formulas have n of 0.5-0.9); "
            "with n >= 1 the Chicago storm's intensity turns negative."
        )
    if not math.isfinite(C) or 1 + C * math.log10(P) <= 0:
        raise ScenarioError(
            f"1 + C lg P = {1 + C * math.log10(P):g} with C = {C!r}, P = {P!r} is not positive; "
            "check C and the return period."
        )


def storm_formula_intensity(
    A: float, b: float, C: float, n: float, P: float, duration_min: np.ndarray | float
) -> np.ndarray:
    """Mean intensity [mm/h] over ``duration_min`` minutes from ``q = A (1 + C lg P) / (t + b)^n``.

    ``A`` is the expanded leading coefficient in L/(s.ha) (``167 A1`` of GB 50014); see the module
    docstring.
    """
    _check_formula(A, b, C, n, P)
    t = np.asarray(duration_min, dtype=float)
    return MM_H_PER_L_S_HA * A * (1 + C * math.log10(P)) / (t + b) ** n


def chicago(
    A: float, b: float, C: float, n: float, P: float, duration_s: float, *, peak_ratio: float = 0.4, dt_s: float = 300.0
) -> Hyetograph:
    """The Chicago design storm (Keifer & Chu, 1957) of a storm intensity formula, as blocks.

    The continuous Chicago storm puts its peak at ``peak_ratio * duration`` and is shaped so that
    every window around the peak, ``peak_ratio * t`` before it and ``(1 - peak_ratio) * t`` after,
    receives exactly the formula's depth ``i(t) t`` with ``i(t) = 0.36 A (1 + C lg P) / (t + b)^n``
    mm/h (``t`` in minutes). Its cumulative depth is therefore known in closed form, and each block
    gets the exact integral of the curve over its step: windows whose ends fall on block edges keep
    the property exactly, and the total equals the formula's depth for the whole duration.

    Parameters
    ----------
    A : float
        Leading coefficient of the formula [L/(s.ha)], i.e. ``167 A1`` with ``A1`` in mm/min.
    b, C, n : float
        The formula's parameters (``b`` in minutes, ``C`` and ``n`` without unit).
    P : float
        Return period [years].
    duration_s : float
        Storm duration [s]; a whole number of steps.
    peak_ratio : float
        Position of the peak as a fraction of the duration (0 to 1; 0.3-0.5 is usual).
    dt_s : float
        Block length [s].

    Returns
    -------
    Hyetograph
        Block intensities in mm/h.

    Raises
    ------
    ScenarioError
        A parameter out of range, or a duration that is not a whole number of steps.
    """
    _check_formula(A, b, C, n, P)
    if not 0.0 <= peak_ratio <= 1.0:
        raise ScenarioError(
            f"peak = {peak_ratio!r} must lie between 0 and 1 (the peak's position as a fraction "
            "of the duration; 0.4 is usual)."
        )
    edges = _edges(duration_s, dt_s)
    a = MM_H_PER_L_S_HA * A * (1 + C * math.log10(P)) / 60.0  # mm/min, so that depth(t) = a t / (t + b)^n in mm

    def depth(t_min: np.ndarray) -> np.ndarray:
        return a * t_min / (t_min + b) ** n

    total_min = duration_s / 60.0
    peak = peak_ratio * total_min
    t = edges / 60.0
    # cumulative depth from the start: the share before the peak is r D(t_b / r), after it (1 - r) D(t_a / (1 - r))
    before = peak_ratio * depth(np.maximum(peak - t, 0.0) / peak_ratio) if peak_ratio > 0 else np.zeros_like(t)
    after = (
        (1 - peak_ratio) * depth(np.maximum(t - peak, 0.0) / (1 - peak_ratio)) if peak_ratio < 1 else np.zeros_like(t)
    )
    cum = peak_ratio * depth(total_min) - before + after
    return Hyetograph(step_s=float(dt_s), intensity_mm_h=np.diff(cum) * 3600.0 / dt_s)


def _edges(duration_s: float, dt_s: float) -> np.ndarray:
    _positive("duration", duration_s, 'give the storm duration, e.g. duration = "2h".')
    _positive("step", dt_s, 'give the block length, e.g. step = "5min".')
    if dt_s < MIN_STEP_S:
        raise ScenarioError(
            f"step = {dt_s:g} s is below the shortest block of {MIN_STEP_S:g} s; storm formulas and "
            'IDF tables describe minutes: give e.g. step = "5min".'
        )
    m = duration_s / dt_s
    if m > MAX_BLOCKS:
        raise ScenarioError(
            f"The storm of {duration_s:g} s in steps of {dt_s:g} s has {m:.0f} blocks, more than "
            f"{MAX_BLOCKS}; a design storm lasts hours to days: raise step or check the duration's "
            'unit (e.g. duration = "24h").'
        )
    if abs(m - round(m)) > 1e-9 * max(m, 1.0) or round(m) < 1:
        raise ScenarioError(
            f"The storm duration {duration_s:g} s is not a whole number of steps of {dt_s:g} s; "
            "choose a step that divides the duration (e.g. 5 min for 2 h)."
        )
    return dt_s * np.arange(int(round(m)) + 1)


@dataclass(frozen=True)
class IdfTable:
    """An intensity-duration-frequency table: mean intensity [mm/h] by duration and return period.

    Between rows the intensity is interpolated log-log in duration (IDF curves are close to power
    laws there); between return periods linearly in lg P (Gumbel-like growth). Nothing is
    extrapolated: a duration or return period outside the table is an error.

    Attributes
    ----------
    durations_s : ndarray
        Increasing durations [s].
    return_periods : ndarray
        Increasing return periods [years].
    intensity_mm_h : ndarray
        ``(durations, return periods)`` mean intensities [mm/h].
    """

    durations_s: np.ndarray
    return_periods: np.ndarray
    intensity_mm_h: np.ndarray

    @classmethod
    def from_values(
        cls, durations_s, return_periods, values, *, quantity: str = "intensity", source: str = "the IDF table"
    ) -> IdfTable:
        """Validate a table given as intensities [mm/h] or depths [mm] (``quantity``)."""
        d = np.asarray(durations_s, dtype=float)
        p = np.asarray(return_periods, dtype=float)
        try:
            v = np.asarray(values, dtype=float)
        except ValueError:
            raise ScenarioError(f"{source}: values must be numbers.") from None
        if quantity not in ("intensity", "depth"):
            raise ScenarioError(f"{source}: quantity {quantity!r} must be 'intensity' (mm/h) or 'depth' (mm).")
        if v.shape != (len(d), len(p)):
            raise ScenarioError(
                f"{source}: values have shape {v.shape}, expected one row per duration and one "
                f"column per return period ({len(d)} x {len(p)})."
            )
        if len(d) < 2 or len(p) < 1:
            raise ScenarioError(f"{source}: needs at least two durations and one return period.")
        if not (np.isfinite(d).all() and (d > 0).all() and (np.diff(d) > 0).all()):
            raise ScenarioError(f"{source}: durations must be positive and increasing.")
        if not (np.isfinite(p).all() and (p > 0).all() and (np.diff(p) > 0).all()):
            raise ScenarioError(f"{source}: return periods must be positive and increasing (years).")
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ScenarioError(f"{source}: every {quantity} must be a positive number.")
        mm_h = v if quantity == "intensity" else v / (d[:, None] / 3600.0)
        depth = mm_h * d[:, None] / 3600.0
        for j in range(len(p)):
            if (np.diff(depth[:, j]) <= 0).any():
                k = int(np.argmax(np.diff(depth[:, j]) <= 0)) + 1
                raise ScenarioError(
                    f"{source}: for P = {p[j]:g} years the depth does not grow from "
                    f"{d[k - 1]:g} s to {d[k]:g} s; a longer storm holds more rain. Check that row."
                )
            if (np.diff(mm_h[:, j]) > 0).any():
                k = int(np.argmax(np.diff(mm_h[:, j]) > 0)) + 1
                raise ScenarioError(
                    f"{source}: for P = {p[j]:g} years the mean intensity rises from {d[k - 1]:g} s "
                    f"to {d[k]:g} s; IDF intensities fall with duration. Check that row."
                )
        if len(p) > 1 and (np.diff(mm_h, axis=1) < 0).any():
            raise ScenarioError(f"{source}: intensities must not fall as the return period grows; check the columns.")
        return cls(durations_s=d, return_periods=p, intensity_mm_h=mm_h)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, *, quantity: str = "intensity") -> IdfTable:
        """Read a CSV: a first column ``duration_min`` (or ``duration_s``, ``duration_h``), then one
        column per return period in years (``2``, ``5``, ... or ``P2``, ``P5``, ...)."""
        path = Path(path)
        if not path.is_file():
            raise ScenarioError(f"IDF table {path} does not exist; give its path relative to the scenario file.")
        # messages name rows and columns, never their text: the file may not be the table the user meant
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
        except (UnicodeDecodeError, csv.Error):
            raise ScenarioError(f"IDF table {path} is not a UTF-8 CSV text file; save the table as CSV.") from None
        if len(rows) < 3:
            raise ScenarioError(f"IDF table {path}: needs a header and at least two duration rows.")
        head = [c.strip().lower() for c in rows[0]]
        scale = {"duration_s": 1.0, "duration_min": 60.0, "duration_h": 3600.0}.get(head[0])
        if scale is None:
            raise ScenarioError(
                f"IDF table {path}: the first column must be named duration_min, duration_s or duration_h (its unit)."
            )
        try:
            periods = [float(c.removeprefix("p")) for c in head[1:]]
            body = np.array([[float(c) for c in r] for r in rows[1:]])
        except ValueError:
            raise ScenarioError(
                f"IDF table {path}: a cell is not a number; the header holds return periods in "
                "years (2, 5 or P2, P5) and the body numbers only, one per column."
            ) from None
        return cls.from_values(body[:, 0] * scale, periods, body[:, 1:], quantity=quantity, source=f"IDF table {path}")

    def intensity(self, duration_s: np.ndarray | float, P: float) -> np.ndarray:
        """Mean intensity [mm/h] over ``duration_s`` for return period ``P`` (interpolated)."""
        d = np.atleast_1d(np.asarray(duration_s, dtype=float))
        lo, hi = self.durations_s[0], self.durations_s[-1]
        if (d < lo * (1 - 1e-9)).any() or (d > hi * (1 + 1e-9)).any():
            raise ScenarioError(
                f"Duration {d[(d < lo * (1 - 1e-9)) | (d > hi * (1 + 1e-9))][0]:g} s lies outside the "
                f"IDF table ({lo:g}-{hi:g} s); the step must be at least the shortest and the storm "
                "at most the longest duration. Extend the table or change step/duration."
            )
        p = self.return_periods
        if not p[0] * (1 - 1e-9) <= P <= p[-1] * (1 + 1e-9):
            raise ScenarioError(
                f"return_period = {P:g} lies outside the IDF table's {p[0]:g}-{p[-1]:g} years; "
                "add that column or choose a return period inside."
            )
        lg = np.log10(p)
        col = (
            np.array([np.interp(math.log10(P), lg, row) for row in self.intensity_mm_h])
            if len(p) > 1
            else self.intensity_mm_h[:, 0]
        )
        return np.exp(np.interp(np.log(np.clip(d, lo, hi)), np.log(self.durations_s), np.log(col)))


def alternating_block(
    idf: IdfTable | Callable[[np.ndarray], np.ndarray],
    P: float,
    duration_s: float,
    *,
    dt_s: float = 300.0,
    peak_ratio: float = 0.5,
) -> Hyetograph:
    """The alternating-block design storm (Chow, Maidment & Mays 1988, 14.4) of an IDF relation.

    The depth increments ``D(k dt) - D((k - 1) dt)`` of the IDF depths are sorted, the largest is put
    in the block at ``peak_ratio`` of the duration and the others alternately after and before it
    (the rest on one side once the other is full). Since the ``k`` largest blocks are contiguous,
    every ``k``-block window around the peak holds exactly the IDF depth for ``k dt``.

    Parameters
    ----------
    idf : IdfTable or callable
        A table, or a function of durations [s] giving mean intensities [mm/h] for return period ``P``.
    P : float
        Return period [years].
    duration_s, dt_s : float
        Storm duration and block length [s]; the duration is a whole number of blocks.
    peak_ratio : float
        Position of the largest block as a fraction of the duration.

    Returns
    -------
    Hyetograph
    """
    _positive("return_period", P, "give the return period in years, e.g. return_period = 50.")
    if not 0.0 <= peak_ratio <= 1.0:
        raise ScenarioError(f"peak = {peak_ratio!r} must lie between 0 and 1.")
    edges = _edges(duration_s, dt_s)
    m = len(edges) - 1
    t = edges[1:]
    mm_h = idf.intensity(t, P) if isinstance(idf, IdfTable) else np.asarray(idf(t), dtype=float)
    depth = np.concatenate([[0.0], mm_h * t / 3600.0])
    inc = np.sort(np.diff(depth))[::-1]
    order = _alternating_positions(m, min(int(peak_ratio * m), m - 1))
    blocks = np.empty(m)
    blocks[order] = inc
    return Hyetograph(step_s=float(dt_s), intensity_mm_h=blocks * 3600.0 / dt_s)


def _alternating_positions(m: int, peak: int) -> np.ndarray:
    """Block indices in the order the increments fill them: peak, after, before, after, ..."""
    out = [peak]
    left, right = peak - 1, peak + 1
    take_right = True
    while len(out) < m:
        if (take_right and right < m) or left < 0:
            out.append(right)
            right += 1
        else:
            out.append(left)
            left -= 1
        take_right = not take_right
    return np.asarray(out)
