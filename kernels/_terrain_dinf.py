"""D-infinity flow directions and proportional accumulation (Tarboton 1997).

Each cell's eight triangular facets (centre, one cardinal and one diagonal neighbour) are fitted
with a plane; the direction is the steepest downslope one over all facets, as an angle in radians
counter-clockwise from east. Flow is shared between the facet's two neighbours in proportion to
the angles (all of it to one neighbour when the direction points straight at it).

Conventions: angles in ``[0, 2 pi)``; ``-1`` where no facet slopes down (pits, flats, outlets
with no lower neighbour: their water stays or leaves the domain); NaN on nodata. Rectangular cells
(``dx != dy``, or ``dx`` per row on a latitude-longitude grid) are handled exactly: the diagonal
of a facet then lies at ``atan2(dy, dx)`` from the cardinal, not at pi/4.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels._terrain_grid import DC, DR

# neighbour k (code order E, SE, S, SW, W, NW, N, NE) in counter-clockwise order from east
_CCW = np.array([0, 7, 6, 5, 4, 3, 2, 1], dtype=np.int64)
_TINY = 1e-9  # shares below this are rounding noise of the angle: the direction points at one cell


@numba.njit(cache=True)
def sector_angles(dxr, dy, ang):
    # ang[m] = angle of neighbour _CCW[m]; ang[8] = 2 pi closes the circle
    t = np.arctan2(dy, dxr)
    ang[0] = 0.0
    ang[1] = t
    ang[2] = 0.5 * np.pi
    ang[3] = np.pi - t
    ang[4] = np.pi
    ang[5] = np.pi + t
    ang[6] = 1.5 * np.pi
    ang[7] = 2.0 * np.pi - t
    ang[8] = 2.0 * np.pi


@numba.njit(cache=True, parallel=True)
def dinf(z, valid, dx_row, dy):
    ny, nx = z.shape
    out = np.full((ny, nx), np.nan)
    for r in numba.prange(ny):
        dxr = dx_row[r]
        ang = np.empty(9)
        sector_angles(dxr, dy, ang)
        hyp = np.sqrt(dxr * dxr + dy * dy)
        for c in range(nx):
            if not valid[r, c]:
                continue
            z0 = z[r, c]
            best = 0.0
            alpha = -1.0
            for m in range(8):
                a = _CCW[m]
                b = _CCW[(m + 1) % 8]
                # even sectors start at a cardinal neighbour, odd ones end at one
                kc = a if m % 2 == 0 else b
                kd = b if m % 2 == 0 else a
                ac = ang[m] if m % 2 == 0 else ang[m + 1]
                ad = ang[m + 1] if m % 2 == 0 else ang[m]
                sign = 1.0 if m % 2 == 0 else -1.0
                rc = r + DR[kc]
                cc = c + DC[kc]
                rd = r + DR[kd]
                cd = c + DC[kd]
                okc = 0 <= rc < ny and 0 <= cc < nx and valid[rc, cc]
                okd = 0 <= rd < ny and 0 <= cd < nx and valid[rd, cd]
                d1 = dxr if DR[kc] == 0 else dy  # centre to the cardinal
                d2 = dy if DR[kc] == 0 else dxr  # cardinal to the diagonal
                if okc and okd:
                    s1 = (z0 - z[rc, cc]) / d1
                    s2 = (z[rc, cc] - z[rd, cd]) / d2
                    rr = np.arctan2(s2, s1)
                    rmax = np.arctan2(d2, d1)
                    if rr <= 0.0:
                        s, al = s1, ac
                    elif rr >= rmax:
                        s, al = (z0 - z[rd, cd]) / hyp, ad
                    else:
                        s, al = np.sqrt(s1 * s1 + s2 * s2), ac + sign * rr
                elif okc:
                    s, al = (z0 - z[rc, cc]) / d1, ac
                elif okd:
                    s, al = (z0 - z[rd, cd]) / hyp, ad
                else:
                    continue
                if s > best:
                    best = s
                    alpha = al
            out[r, c] = alpha - 2.0 * np.pi if alpha >= 2.0 * np.pi else alpha
    return out


@numba.njit(cache=True, inline="always")
def sector_shares(alpha, ang):
    """The two neighbours (code-order k) an angle points between and their shares of the flow."""
    m = 7
    for j in range(8):
        if alpha < ang[j + 1]:
            m = j
            break
    fb = (alpha - ang[m]) / (ang[m + 1] - ang[m])
    if fb < _TINY:
        fb = 0.0
    elif fb > 1.0 - _TINY:
        fb = 1.0
    return _CCW[m], _CCW[(m + 1) % 8], 1.0 - fb, fb


@numba.njit(cache=True, parallel=True)
def dinf_donors(angle, dx_row, dy):
    ny, nx = angle.shape
    ndon = np.zeros((ny, nx), dtype=np.uint8)
    for r in numba.prange(ny):
        ang = np.empty(9)
        for c in range(nx):
            if np.isnan(angle[r, c]):
                continue
            cnt = 0
            for k in range(8):
                rr = r + DR[k]
                cc = c + DC[k]
                if rr < 0 or rr >= ny or cc < 0 or cc >= nx or not angle[rr, cc] >= 0.0:
                    continue
                sector_angles(dx_row[rr], dy, ang)
                ka, kb, fa, fb = sector_shares(angle[rr, cc], ang)
                # neighbour (rr, cc) sends to me when one of its receivers is the cell opposite to k
                back = (k + 4) % 8
                if (ka == back and fa > 0.0) or (kb == back and fb > 0.0):
                    cnt += 1
            ndon[r, c] = cnt
    return ndon


@numba.njit(cache=True)
def dinf_accumulate(angle, dx_row, dy, ndon, acc, stack):
    ny, nx = angle.shape
    ang = np.empty(9)
    nvalid = 0
    nplaced = 0
    for r0 in range(ny):
        for c0 in range(nx):
            if np.isnan(angle[r0, c0]):
                continue
            nvalid += 1
            if ndon[r0, c0] != 0:
                continue
            ndon[r0, c0] = 255
            top = 1
            stack[0] = r0 * nx + c0
            while top > 0:
                top -= 1
                i = np.int64(stack[top])
                r = i // nx
                c = i - r * nx
                nplaced += 1
                a = angle[r, c]
                if not a >= 0.0:
                    continue
                sector_angles(dx_row[r], dy, ang)
                ka, kb, fa, fb = sector_shares(a, ang)
                for t in range(2):
                    k = ka if t == 0 else kb
                    f = fa if t == 0 else fb
                    if f <= 0.0:
                        continue
                    rr = r + DR[k]
                    cc = c + DC[k]
                    if rr < 0 or rr >= ny or cc < 0 or cc >= nx or np.isnan(angle[rr, cc]):
                        continue  # leaves the domain
                    acc[rr, cc] += f * acc[r, c]
                    ndon[rr, cc] -= 1
                    if ndon[rr, cc] == 0:
                        ndon[rr, cc] = 255
                        stack[top] = rr * nx + cc
                        top += 1
    return nvalid - nplaced
