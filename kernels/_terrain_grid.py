"""Grid conventions shared by the terrain kernels: D8 codes, neighbour offsets, index dtypes, outlets."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

NODATA_DIR = 247
#: ESRI code of each neighbour k = 0..7, and its row / column offset.
D8_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)
DR = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
DC = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
# order in which an edge cell without a lower neighbour looks for a way out: cardinals first
OUT_ORDER = np.array([0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)
# code -> k (255 for codes that are not a direction)
CODE_TO_K = np.full(256, 255, dtype=np.uint8)
CODE_TO_K[D8_CODES] = np.arange(8, dtype=np.uint8)

_INT32_CELLS = 2**31 - 1  # flat indices 0 .. n-1 and the -1 marker must fit


def grid_index_dtype(n: int) -> type[np.signedinteger]:
    """``np.int32`` for flat indices of a grid of ``n`` cells when they fit (half the memory and
    bandwidth), else ``np.int64``: grids of 2^31 cells or more must not overflow."""
    if n < 0:
        raise ValueError(f"a grid cannot have {n} cells")
    return np.int32 if n <= _INT32_CELLS else np.int64


@intrinsic
def prefetch(typingctx, arr, i):
    """Ask the CPU to bring ``arr[i]`` (a 1-D array) into the cache, without waiting for it.

    For loops that know which cells they will visit a few steps ahead but whose visits jump across
    a grid far larger than the cache: the loads then overlap instead of stalling one after the other.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
        )
        # read access, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@numba.njit(cache=True)
def is_outlet(valid, r, c, ny, nx):
    if r == 0 or c == 0 or r == ny - 1 or c == nx - 1:
        return True
    for k in range(8):  # noqa: SIM110 (Numba compiles the loop, not any() over a generator)
        if not valid[r + DR[k], c + DC[k]]:
            return True
    return False


@numba.njit(cache=True)
def receiver(d8, r, c):
    """Row and column a cell drains to, or (-1, -1) for pits, nodata and flow off the grid or into nodata."""
    ny, nx = d8.shape
    k = CODE_TO_K[d8[r, c]]
    if k == 255:
        return -1, -1
    rr = r + DR[k]
    cc = c + DC[k]
    if rr < 0 or rr >= ny or cc < 0 or cc >= nx or d8[rr, cc] == NODATA_DIR:
        return -1, -1
    return rr, cc
