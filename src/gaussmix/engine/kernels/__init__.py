"""The kernels: per-chunk E-step and statistics, chosen from a registry.

Each kernel (``base.Kernel``) declares the array namespaces, dtypes,
precision structures and shapes it takes. For a chunk, :func:`select` walks
:data:`KERNELS` in order and returns the first that takes it, so the
fastest routes come first and the array-API reference, which takes
anything, comes last:

===================== ======================================================
kernel                takes
===================== ======================================================
``numba-quadratic``   NumPy, full covariances at mid d: two float64 GEMMs a
                      tile on the rows' quadratic features (``quadratic``)
``numba-rows``        NumPy, small d (or a shared factor up to d=64): one
                      compiled pass per chunk (``rows``)
``numba-triangular``  NumPy, full covariances: TRMM and SYRK (``triangular``)
``numba-shared-blas`` NumPy, a shared factor past d=64 (``blas``)
``numba-diagonal-blas`` NumPy, diagonal precisions past d K=4096 (``blas``)
``numpy``             NumPy without Numba (``vectorised``)
``torch``             PyTorch tensors, float32 and float64, any device
                      (``torchkernel``; PyTorch imported on first use)
``reference``         any array-API namespace (``reference``)
===================== ======================================================

A new kernel (CuPy, say) is one module and one :func:`register` call; the
tests hold every registered kernel to the reference.
"""

from __future__ import annotations

from . import blas, quadratic, reference, rows, torchkernel, triangular, vectorised
from .base import Kernel, dtype_name, namespace_name

#: The registered kernels, in the order they are tried.
KERNELS = [quadratic.KERNEL, rows.KERNEL, triangular.KERNEL, blas.SHARED, blas.DIAGONAL, vectorised.KERNEL,
           torchkernel.KERNEL, reference.KERNEL]


def register(kernel, before=None):
    """Add ``kernel`` to the registry, ahead of the kernel named ``before`` (else first).

    Returns the kernel, so that a module can register and keep it in one line.
    """
    if any(k.name == kernel.name for k in KERNELS):
        raise ValueError(f"a kernel named {kernel.name!r} is registered already")
    index = 0 if before is None else [k.name for k in KERNELS].index(before)
    KERNELS.insert(index, kernel)
    return kernel


def unregister(name):
    """Remove the kernel named ``name`` (for tests and plug-ins)."""
    KERNELS[:] = [k for k in KERNELS if k.name != name]


def get(name):
    """The registered kernel named ``name``."""
    for kernel in KERNELS:
        if kernel.name == name:
            return kernel
    raise KeyError(f"no kernel named {name!r}; registered: {[k.name for k in KERNELS]}")


def select(namespace, dtype, structure=None, n_components=None, n_features=None):
    """The first registered kernel that takes chunks of ``namespace`` and ``dtype``.

    With ``structure`` and the shapes, the kernel for an E-step of that
    structure; without, one that can accumulate statistics of such chunks.
    """
    for kernel in KERNELS:
        if kernel.supports(namespace, dtype, structure, n_components, n_features):
            return kernel
    raise TypeError(
        f"no kernel takes {dtype_name(dtype)} chunks of the {namespace} namespace; "
        f"pass NumPy arrays of float32 or float64."
    )


def for_chunk(X, structure=None, n_components=None, n_features=None):
    """:func:`select` for the namespace and dtype of the chunk ``X``."""
    return select(namespace_name(X), X.dtype, structure, n_components, n_features)


__all__ = ["Kernel", "KERNELS", "register", "unregister", "get", "select", "for_chunk"]
