"""Bit-pattern helpers of the Numba kernels: a float's bits as an integer and back, the non-finite test.

Intrinsics (one LLVM bitcast each): ``.view`` on a scalar goes through a temporary array, runtime
calls in the loop that stop LLVM vectorising it. For non-negative floats the integer order is the
float order, so a maximum over depths or speeds is an integer reduction (which LLVM vectorises; a
float maximum it does not without 'nnan'), and the exponent bits answer "NaN or infinite" immune to
fast-math.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["INV_CBRT_MAGIC", "as_bits", "from_bits", "nonfinite"]

#: Seed for x**(-1/3) from the float32 bit pattern (the "magic constant" trick, tuned for the inverse
#: cube root); Newton steps then refine it.
INV_CBRT_MAGIC = 0x54A2FA8C


@intrinsic
def as_bits(typingctx, x):
    """The bit pattern of a float as a signed integer of the same width (int32 or int64)."""
    if not isinstance(x, types.Float):
        return None
    width = x.bitwidth

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return (types.int32 if width == 32 else types.int64)(x), codegen


@intrinsic
def from_bits(typingctx, i, like):
    """The float of type ``like`` whose bit pattern is the integer ``i`` (inverse of :func:`as_bits`;
    a wider or narrower integer is truncated or sign-extended to the float's width)."""
    if not (isinstance(i, types.Integer) and isinstance(like, types.Float)):
        return None
    width = like.bitwidth

    def codegen(context, builder, signature, args):
        v = args[0]
        if i.bitwidth > width:
            v = builder.trunc(v, ir.IntType(width))
        elif i.bitwidth < width:
            v = builder.sext(v, ir.IntType(width))
        return builder.bitcast(v, context.get_value_type(like))

    return like(i, like), codegen


@intrinsic
def nonfinite(typingctx, x):
    """1 if x is NaN or infinite, else 0 (integer maths on the bit pattern, immune to fast-math)."""
    if not isinstance(x, types.Float):
        return None
    width = x.bitwidth
    exp_mask = 0x7F800000 if width == 32 else 0x7FF0000000000000
    abs_mask = (1 << (width - 1)) - 1

    def codegen(context, builder, signature, args):
        ity = ir.IntType(width)
        bits = builder.and_(builder.bitcast(args[0], ity), ir.Constant(ity, abs_mask))
        bad = builder.icmp_unsigned(">=", bits, ir.Constant(ity, exp_mask))
        return builder.zext(bad, ir.IntType(64))

    return types.int64(x), codegen
