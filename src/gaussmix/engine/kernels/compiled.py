"""Numba, imported once and optionally: the decorator every compiled kernel uses.

Without Numba (or with ``GAUSSMIX_NO_NUMBA=1``) :data:`AVAILABLE` is false,
:func:`jit` returns the plain Python function, and EM runs on the NumPy
kernel (``vectorised``) instead.
"""

from __future__ import annotations

import os

try:  # pragma: no branch - an optional accelerator
    if os.environ.get("GAUSSMIX_NO_NUMBA"):
        raise ImportError("disabled by GAUSSMIX_NO_NUMBA")
    import numba as nb
except ImportError:  # pragma: no cover - exercised where numba is missing
    nb = None

#: Whether the compiled kernels can be used.
AVAILABLE = nb is not None

#: LLVM may fuse multiply-adds, but not reassociate sums: a vectorised sum's
#: order would follow the alignment of the arrays, and results must not
#: change from call to call. Nor may it assume away inf or NaN.
FASTMATH = {"contract"}


def jit(cache=True, **kw):
    """``numba.njit`` with the project's settings (cached, GIL released)."""

    def wrap(f):
        if nb is None:
            return f
        return nb.njit(cache=cache, nogil=True, error_model="numpy", fastmath=FASTMATH, **kw)(f)

    return wrap


if nb is not None:
    from llvmlite import ir as _ir
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def float64_from_bits(typingctx, bits):
        """The float64 whose bits are the int64 ``bits`` (a register move; vectorisable).

        NumPy's ``view`` does this for arrays; a scalar inside a fused loop
        needs it too, so that ``p * 2**n`` is formed where ``p`` is.
        """
        if bits != nb.types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], _ir.DoubleType())

        return nb.types.float64(nb.types.int64), codegen
else:

    def float64_from_bits(bits):
        """The float64 whose bits are the int64 ``bits``."""
        import numpy as np

        return np.int64(bits).view(np.float64)
