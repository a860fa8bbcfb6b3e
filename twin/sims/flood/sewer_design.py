"""A first sewer network for a twin without one: laid along its flow paths, sized by the rational method.

For planning studies and the sample city: manholes along the D8 flow paths whose catchment exceeds
``min_area_m2``, at channel heads, confluences and every ``spacing_m``; a pipe from each manhole to the
next one downstream; an outfall where a path leaves the grid or ends in a pit. Each pipe carries the
rational-method peak ``Q = C i A`` of its catchment, with a design intensity ``i`` [mm/h], and gets the
smallest commercial diameter whose Manning full-bore capacity carries it at its slope. Inverts lie
``cover_m`` plus the diameter below ground, and fall at least ``min_slope`` along every pipe.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from kernels.terrain import d8_directions, fill_depressions, flow_accumulation, topological_order
from twin.errors import InputDataError
from twin.model import Twin

__all__ = ["design_network", "design_on_grid", "write_inp", "DIAMETERS_M"]

#: Commercial circular sizes [m] the design picks from.
DIAMETERS_M = (0.3, 0.375, 0.45, 0.525, 0.6, 0.75, 0.9, 1.05, 1.2, 1.5, 1.8, 2.1, 2.4)


def design_network(
    twin: Twin,
    path: str | os.PathLike,
    *,
    intensity_mm_h: float = 50.0,
    runoff_coefficient: float = 0.7,
    min_area_m2: float = 5000.0,
    spacing_m: float = 60.0,
    manning: float = 0.013,
    cover_m: float = 1.2,
    min_slope: float = 0.003,
    flap_gates: bool = False,
) -> Path:
    """Write a SWMM ``.inp`` of a tree network laid on ``twin`` and sized by the rational method.

    Parameters
    ----------
    twin
        The city; its terrain gives the flow paths, its CRS the coordinates (``[drainage] crs`` may be left out).
    path
        The ``.inp`` to write.
    intensity_mm_h
        Design rain intensity (for the network's time of concentration and return period).
    runoff_coefficient
        Rational-method C over the catchments.
    min_area_m2
        Catchment a flow path needs before it gets a pipe.
    spacing_m
        Longest distance between manholes along a path.
    manning, cover_m, min_slope
        Pipe roughness, soil cover over the crown [m], smallest invert slope.
    flap_gates
        Give every outfall a flap gate: a receiving water above the pipe closes it instead of flowing
        back up the network (outfalls into a river; with ``[drainage] outfalls = "surface"``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputDataError
        No flow path reaches ``min_area_m2`` (a flat or tiny twin): lower it.
    """
    return design_on_grid(
        twin.terrain,
        twin.transform,
        path,
        intensity_mm_h=intensity_mm_h,
        runoff_coefficient=runoff_coefficient,
        min_area_m2=min_area_m2,
        spacing_m=spacing_m,
        manning=manning,
        cover_m=cover_m,
        min_slope=min_slope,
        flap_gates=flap_gates,
    )


def design_on_grid(
    terrain: np.ndarray,
    transform: Affine,
    path: str | os.PathLike,
    *,
    intensity_mm_h: float = 50.0,
    runoff_coefficient: float = 0.7,
    min_area_m2: float = 5000.0,
    spacing_m: float = 60.0,
    manning: float = 0.013,
    cover_m: float = 1.2,
    min_slope: float = 0.003,
    flap_gates: bool = False,
) -> Path:
    """:func:`design_network` on a bare north-up grid, before any twin exists (the sample city's generator).

    ``terrain`` is the ground [m] on the grid of ``transform`` (square cells); NaN cells are no ground
    (rivers, lakes): flow paths end on their banks, and each such end is an outfall into the water.
    The other parameters, the return and the errors are :func:`design_network`'s.
    """
    z = np.asarray(terrain, dtype=np.float64)
    dx = float(abs(transform.a))
    nodata = ~np.isfinite(z)
    filled = fill_depressions(z, nodata, epsilon=1e-4)
    d8 = d8_directions(filled, nodata, dx)
    area = flow_accumulation(d8).astype(np.float64).ravel() * dx * dx
    order, down = topological_order(d8)
    stream = (area >= min_area_m2) & ~nodata.ravel()
    if not stream.any():
        raise InputDataError(
            f"No flow path on the twin drains {min_area_m2:g} m2 or more (the largest drains "
            f"{area[~nodata.ravel()].max(initial=0.0):.0f} m2); lower min_area_m2 to lay a network."
        )
    feeds = stream & (down >= 0)
    feeds[feeds] = stream[down[feeds]]
    donors = np.bincount(down[feeds], minlength=area.size)
    # manholes: heads, confluences, every spacing_m, and the path's last cell (an outfall)
    node_of = -np.ones(area.size, dtype=np.int64)
    run_len = np.zeros(area.size)
    cells: list[int] = []
    for i in order[stream[order]]:  # upstream first
        last = down[i] < 0 or not stream[down[i]]
        if donors[i] != 1 or last or run_len[i] >= spacing_m:
            node_of[i] = len(cells)
            cells.append(int(i))
            run_len[i] = 0.0
        j = down[i]
        if j >= 0 and stream[j]:
            r0, c0 = divmod(int(i), z.shape[1])
            r1, c1 = divmod(int(j), z.shape[1])
            run_len[j] = max(run_len[j], run_len[i] + dx * math.hypot(r1 - r0, c1 - c0))
    to = -np.ones(len(cells), dtype=np.int64)
    length = np.zeros(len(cells))
    for k, i in enumerate(cells):
        j, dist = i, 0.0
        while down[j] >= 0 and stream[down[j]]:
            r0, c0 = divmod(int(j), z.shape[1])
            j = int(down[j])
            r1, c1 = divmod(j, z.shape[1])
            dist += dx * math.hypot(r1 - r0, c1 - c0)
            if node_of[j] >= 0:
                to[k], length[k] = node_of[j], dist
                break
    # SWMM takes one pipe into an outfall: where paths join at the outlet, a junction drains to it
    inlets = np.bincount(to[to >= 0], minlength=len(cells))
    for k in np.flatnonzero((to < 0) & (inlets > 1)):
        to[k] = len(cells)
        to = np.append(to, -1)
        length[k] = dx
        length = np.append(length, 0.0)
        cells.append(cells[k])
    ground = z.ravel()[cells]
    q = runoff_coefficient * intensity_mm_h / 3.6e6 * area[cells]  # m3/s leaving each manhole
    slope = np.full(len(cells), min_slope)
    for k in range(len(cells)):
        if to[k] >= 0:
            slope[k] = max((ground[k] - ground[to[k]]) / max(length[k], dx), min_slope)
    diam = np.array([_diameter(qk, sk, manning) for qk, sk in zip(q, slope)])
    # inverts, upstream first: under the cover, and falling along each pipe
    invert = ground - cover_m - diam
    for k in range(len(cells)):  # cells are in topological order: upstream manholes come first
        if to[k] >= 0:
            m = to[k]
            invert[m] = min(invert[m], invert[k] - slope[k] * length[k], ground[m] - cover_m - diam[k])
    names = [f"M{k + 1}" if to[k] >= 0 else f"OUT{k + 1}" for k in range(len(cells))]
    xs, ys = _centres(transform, z.shape[1], cells)
    return _write(Path(path), names, to, invert, ground, diam, length, manning, xs, ys, flap_gates)


def _diameter(q: float, slope: float, n: float) -> float:
    """Smallest commercial diameter whose full-bore Manning capacity carries ``q`` [m3/s]."""
    for d in DIAMETERS_M:
        if math.pi * d * d / 4 * (d / 4) ** (2 / 3) * math.sqrt(slope) / n >= q:
            return d
    return DIAMETERS_M[-1]


def _centres(transform: Affine, nx: int, cells: list[int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.divmod(np.asarray(cells, dtype=np.int64), nx)
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    return np.asarray(xs), np.asarray(ys)


def _write(
    path: Path,
    names: list[str],
    to: np.ndarray,
    invert: np.ndarray,
    ground: np.ndarray,
    diam: np.ndarray,
    length: np.ndarray,
    n: float,
    xs: np.ndarray,
    ys: np.ndarray,
    flap_gates: bool,
) -> Path:
    pipes = [k for k in range(len(names)) if to[k] >= 0]
    return write_inp(
        path,
        "cimtwin: a sewer network laid on the twin's flow paths, sized by the rational method",
        nodes=[
            (name, "junction" if to[k] >= 0 else "outfall", invert[k], ground[k], xs[k], ys[k])
            for k, name in enumerate(names)
        ],
        conduits=[
            (f"P{k + 1}", names[k], names[to[k]], max(length[k], 1.0), n, 0.0, 0.0, "CIRCULAR", diam[k]) for k in pipes
        ],
        flap_gates=flap_gates,
    )


def write_inp(
    path: str | os.PathLike,
    title: str,
    *,
    nodes: Sequence[tuple[str, str, float, float, float, float]],
    conduits: Sequence[tuple[str, str, str, float, float, float, float, str, float]],
    flap_gates: bool = False,
) -> Path:
    """Write a SWMM ``.inp`` (CMS, dynamic wave, offsets as depths) of manholes, free outfalls and pipes.

    Parameters
    ----------
    path
        The file to write.
    title
        Its ``[TITLE]``.
    nodes
        ``(name, kind, invert, rim, x, y)``; kind ``junction`` (MaxDepth = rim - invert) or ``outfall``.
    conduits
        ``(name, from_node, to_node, length, manning_n, in_offset, out_offset, shape, geom1)``.
    flap_gates
        Give every outfall a flap gate.
    """
    path = Path(path)
    lines = [
        "[TITLE]",
        title,
        "",
        "[OPTIONS]",
        "FLOW_UNITS CMS",
        "FLOW_ROUTING DYNWAVE",
        "LINK_OFFSETS DEPTH",
        "ALLOW_PONDING NO",
        "START_DATE 01/01/2000",
        "START_TIME 00:00:00",
        "END_DATE 01/02/2000",
        "END_TIME 00:00:00",
        "ROUTING_STEP 0:00:05",
        "VARIABLE_STEP 0.75",
        "MIN_SURFAREA 1.167",
        "",
        "[JUNCTIONS]",
    ]
    lines += [f"{nm} {inv:.3f} {rim - inv:.3f} 0 0 0" for nm, kind, inv, rim, _, _ in nodes if kind != "outfall"]
    lines += ["", "[OUTFALLS]"]
    gate = "YES" if flap_gates else "NO"
    lines += [f"{nm} {inv:.3f} FREE {gate}" for nm, kind, inv, _, _, _ in nodes if kind == "outfall"]
    lines += ["", "[CONDUITS]"]
    lines += [f"{c[0]} {c[1]} {c[2]} {c[3]:.2f} {c[4]:g} {c[5]:g} {c[6]:g} 0 0" for c in conduits]
    lines += ["", "[XSECTIONS]"]
    lines += [f"{c[0]} {c[7]} {c[8]:g} 0 0 0 1" for c in conduits]
    lines += ["", "[COORDINATES]"]
    lines += [f"{nm} {x:.3f} {y:.3f}" for nm, _, _, _, x, y in nodes]
    path.write_text("\n".join(lines) + "\n")
    return path
