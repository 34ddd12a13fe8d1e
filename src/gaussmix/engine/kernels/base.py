r"""What a kernel is: the per-chunk E-step and statistics for the inputs it supports.

A kernel computes the map of one EM iteration on one chunk of rows: the
E-step (log-densities, log-sum-exp, responsibilities; see ``engine.estep``)
and the chunk's weighted sufficient statistics (see ``engine.stats``). It
declares what it takes, and the registry (``engine.kernels``) hands each
chunk to the first kernel that takes it:

* ``namespaces``: the array libraries of its chunks (``"numpy"``, or
  ``"*"`` for any array-API namespace);
* ``dtypes``: the chunk dtypes;
* ``structures``: the precision structures (``structures.STRUCTURES``);
* :meth:`Kernel.within_limits`: the shapes ``(n_components, n_features)``
  where it is the best route, as measured;
* ``available``: whether it can run here (a compiler may be missing).

Every kernel returns what the reference returns, up to rounding; the tests
hold each registered kernel to the reference of ``engine.estep`` and
``engine.stats`` on random inputs. A kernel only has to provide
:meth:`Kernel.weighted_log_prob` and :meth:`Kernel.accumulate`: the E-step
and the statistics then follow from them; faster kernels fuse them.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ... import compiled
from ...namespaces import dtype_name
from ..chunks import DEFAULT_CHUNK_BYTES, MAX_CHUNK_ROWS
from ..estep import log_resp_from_weighted


def namespace_name(X):
    """``"numpy"`` for NumPy arrays, else the array-API namespace's module name."""
    if isinstance(X, np.ndarray):
        return "numpy"
    return array_namespace(X).__name__


class Kernel:
    """Base class: a route for the per-chunk work of EM.

    Attributes
    ----------
    name : str
        Unique name in the registry.
    namespaces, dtypes, structures : tuple of str
        What the kernel takes (see the module docstring).
    threaded : bool
        Whether the chunks of a pass may run on the thread pool
        (``engine.threads``): the kernel releases the GIL and holds no
        shared state.
    available : bool
        False where the kernel cannot run (its compiler is missing).
    """

    name = "abstract"
    namespaces = ("numpy",)
    dtypes = ("float32", "float64")
    structures = ("full", "shared", "diag", "spherical")
    threaded = False
    available = True

    def within_limits(self, structure, n_components, n_features, dtype):
        """Whether this kernel is the route for these shapes (all, by default)."""
        return True

    def supports(self, namespace, dtype, structure=None, n_components=None, n_features=None):
        """Whether the kernel takes chunks of ``namespace`` and ``dtype``.

        With ``structure`` (and the shapes) given, also whether it takes
        that structure within its limits; without, whether it can
        accumulate statistics of such chunks at all.
        """
        if not self.available:
            return False
        if "*" not in self.namespaces and namespace not in self.namespaces:
            return False
        if dtype_name(dtype) not in self.dtypes:
            return False
        if structure is None:
            return True
        return structure in self.structures and self.within_limits(
            structure, n_components, n_features, dtype
        )

    def bytes_per_row(self, n_components, n_features, itemsize):
        """Bytes of temporaries per row of a chunk, for ``engine.chunks.auto_chunk_size``.

        The default counts NumPy-style kernels: the (n, K) log-densities and
        responsibilities and a few (n, d) float64 copies of the chunk.
        """
        return 8 * (4 * n_components + 4 * n_features)

    def chunk_budget(self, device):
        """``(bytes, most rows)`` of one chunk's temporaries on ``device``.

        By default the host's: a budget that keeps a chunk in cache
        (``engine.chunks``). A device's kernel sizes chunks by its memory.
        Most rows is at least ``engine.chunks.MIN_CHUNK_ROWS``: that many
        rows or fewer make one chunk without asking (``passes.chunk_rows``).
        """
        return DEFAULT_CHUNK_BYTES, MAX_CHUNK_ROWS

    def prepare(self, eparams):
        """Work done once per pass on the parameters, before threads share them."""
        return None

    # -- the E-step ------------------------------------------------------------
    def weighted_log_prob(self, X, eparams):
        """``log_norm_k - ||(x_i - mu_k) U_k||^2 / 2``, shape (n_rows, K), in X's dtype."""
        raise NotImplementedError

    def e_step(self, X, eparams, with_resp=True):
        """``(log p(x_i), r_ik)`` in X's dtype; ``r_ik`` is None unless ``with_resp``."""
        xp = array_namespace(X)
        log_prob_norm, log_resp = log_resp_from_weighted(self.weighted_log_prob(X, eparams))
        return log_prob_norm, xp.exp(log_resp) if with_resp else None

    # -- the criteria ----------------------------------------------------------
    #: Whether :meth:`criterion_sums` sums the terms of the criteria in its
    #: own pass; otherwise ``engine.scoring`` forms them from :meth:`e_step`.
    fused_criteria = False

    def criterion_sums(self, X, sample_weight, eparams):
        """``(sum_i w_i log p(x_i), sum_i w_i log max_k r_ik, sum_i w_i)`` of a chunk without missing values.

        Python floats; rows of weight 0 add nothing, even where their
        density underflowed. Only where :attr:`fused_criteria` is True.
        """
        raise NotImplementedError

    # -- the statistics --------------------------------------------------------
    def accumulate(self, X, resp, sample_weight, kind):
        """``SuffStats`` of the rows for given responsibilities (``engine.stats``)."""
        raise NotImplementedError

    def statistics(self, X, sample_weight, eparams, scatter):
        """The map of one iteration on a chunk: ``(stats, loglik, weight)``.

        ``loglik`` is ``sum_i w_i log p(x_i)`` (a row of weight 0 adds
        nothing, even where its density underflowed) and ``weight`` is
        ``sum_i w_i``, both float64 scalars of X's namespace.
        """
        xp = array_namespace(X)
        log_prob_norm, resp = self.e_step(X, eparams)
        lp = xp.astype(log_prob_norm, xp.float64)
        if sample_weight is None:
            weight = xp.asarray(float(X.shape[0]), dtype=xp.float64)
        else:
            w64 = xp.astype(sample_weight, xp.float64)
            lp = xp.where(w64 > 0, lp * w64, xp.zeros_like(lp))
            weight = xp.sum(w64)
        return self.accumulate(X, resp, sample_weight, scatter), xp.sum(lp), weight

    def __repr__(self):
        return f"<kernel {self.name}>"


class CompiledKernel:
    """Mixin of the kernels whose work Numba compiles.

    Such a kernel is available while compiled code is
    (``compiled.AVAILABLE``), read at each choice, since
    ``compiled.skip_loading`` may turn it off after the kernels are made;
    setting ``available`` on the kernel (tests do) turns it off on its own.
    """

    _available = True

    @property
    def available(self):
        return self._available and compiled.AVAILABLE

    @available.setter
    def available(self, value):
        self._available = value
