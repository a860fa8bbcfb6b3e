"""Surface-sewer exchange at manholes and inlets (1D-2D coupling), vectorised over the nodes.

The flow through each inlet follows the weir/orifice linkage of Chen et al. (2007), Leandro et al.
(2009) and Rubinato et al. (2017), as Itzi uses it:

* the surface water stands above the rim and the node head below it: free weir over the inlet's
  perimeter, ``Q = c_w P h sqrt(2 g h)`` with ``h`` the surface water over the rim, while
  ``h < A / P``; once the inlet is submerged (``h >= A / P``) an orifice, ``Q = c_o A sqrt(2 g h)``;
* the node is surcharged (head above the rim) and the surface higher still: orifice on the head
  difference, ``Q = c_o A sqrt(2 g (H_s - H_n))``;
* the node head above the surface water (and above the rim): the network pushes water out onto the
  street through the same orifice, ``Q = -c_o A sqrt(2 g (H_n - max(H_s, rim)))``.

Positive flows go into the network. A flow into the network never takes more than the cell holds
over the step; a flow out of it never more than the node holds.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["exchange_flow"]


@numba.njit(cache=True)
def _one(
    h_surf: float, z_rim: float, head: float, area: float, perimeter: float, cw: float, co: float, g: float
) -> float:
    """Exchange [m3/s] through one inlet, before the volume limits (positive into the network)."""
    up = max(h_surf, head) - z_rim
    if up <= 0.0 or area <= 0.0:
        return 0.0
    if h_surf >= head:
        if head <= z_rim:
            depth = h_surf - z_rim
            if perimeter > 0.0 and depth < area / perimeter:
                return cw * perimeter * depth * np.sqrt(2.0 * g * depth)
            return co * area * np.sqrt(2.0 * g * depth)
        return co * area * np.sqrt(2.0 * g * (h_surf - head))
    return -co * area * np.sqrt(2.0 * g * (head - max(h_surf, z_rim)))


@numba.njit(cache=True)
def exchange_flow(
    depth: np.ndarray,
    ground: np.ndarray,
    head: np.ndarray,
    rim: np.ndarray,
    area: np.ndarray,
    perimeter: np.ndarray,
    node_volume: np.ndarray,
    cw: float,
    co: float,
    cell_area: np.ndarray,
    dt: float,
    g: float = 9.81,
) -> np.ndarray:
    """Flows [m3/s] between the surface cells and the network's nodes over one coupling step.

    Parameters
    ----------
    depth, ground : ndarray (n,)
        Water depth [m] and ground elevation [m] of the cell each node lies in.
    head, rim : ndarray (n,)
        The node's hydraulic head and rim (crest) elevation [m].
    area, perimeter : ndarray (n,)
        The inlet's (manhole cover's or grate's) area [m2] and perimeter [m].
    node_volume : ndarray (n,)
        Water the node holds [m3]; the most it can give back over the step.
    cw, co : float
        Weir and orifice discharge coefficients.
    cell_area : ndarray (n,)
        Area [m2] of the node's cell, divided among the nodes that share it.
    dt : float
        Length of the step [s] the flows act over (longest, if it varies).
    g : float
        Gravity [m/s2].

    Returns
    -------
    ndarray (n,)
        Flow per node, positive from the surface into the network.
    """
    n = depth.shape[0]
    q = np.zeros(n)
    for i in range(n):
        hs = ground[i] + max(depth[i], 0.0)
        qi = _one(hs, rim[i], head[i], area[i], perimeter[i], cw, co, g)
        if qi > 0.0:
            qi = min(qi, max(depth[i], 0.0) * cell_area[i] / dt)
        elif qi < 0.0:
            qi = max(qi, -max(node_volume[i], 0.0) / dt)
        q[i] = qi
    return q
