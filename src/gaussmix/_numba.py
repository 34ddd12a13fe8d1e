"""Numba, imported once and optionally: the decorator every compiled kernel uses.

Without Numba (or with ``GAUSSMIX_NO_NUMBA=1``) :data:`AVAILABLE` is false,
:func:`jit` returns the plain Python function, and EM runs on the NumPy
kernels of ``_kernels`` instead.
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
