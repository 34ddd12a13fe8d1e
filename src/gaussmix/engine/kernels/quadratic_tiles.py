r"""The compiled passes of the quadratic kernel (``quadratic``): features, two GEMMs and exact columns per tile.

A tile of ``m`` rows is held feature-major: its features ``F^T`` (p, m),
``(z_a z_b)_{a<=b}, z, 1`` with ``z = x - c``; its log-densities (K, m).
NumPy's ``dot`` compiled by Numba calls BLAS's GEMM, found at run time, so
that these functions are cached like the other kernels.

A component whose expansion would cancel (``QuadraticPlan`` lists them in
``exact``) has its row of ``W`` zeroed, its moments summed about its own
mean (:func:`_exact_moments`), and its column of log-densities made
exactly, as the row kernel makes it,

.. math::

    \log \pi_k N(x_i \mid \mu_k, \Sigma_k)
      = c_k - \tfrac12 \sum_j \Big(\sum_{a \le j} (x_{ia} - \mu_{ka}) U_{k,aj}\Big)^2 ,

from the tile's rows as they are (not from ``z``, whose rounding about a
far centre is what the expansion could not afford), with the rows
innermost so that the loop vectorises.
"""

from __future__ import annotations

import numpy as np

from ...compiled import jit
from .primitives import block_softmax
from .triangular import transpose_rows


@jit(inline="always")
def _features(X, t0, m, centre, ft, xt, raw):
    """Rows ``t0:t0+m`` of X as features ``(z_a z_b)_{a<=b}, z, 1``, feature-major in ``ft`` (ld ``m``).

    With ``raw``, the rows as they are also go to ``xt`` (d, m), for exact
    columns; the features are the same either way.
    """
    d = X.shape[1]
    q = d * (d + 1) // 2
    zt = ft[q * m:(q + d) * m]
    if raw:
        transpose_rows(X, t0, m, xt)
        for j in range(d * m):
            zt[j] = xt[j]
    else:
        transpose_rows(X, t0, m, zt)
    for a in range(d):
        c = centre[a]
        for i in range(m):
            zt[a * m + i] -= c
    col = 0
    for a in range(d):
        za = zt[a * m:(a + 1) * m]
        for b in range(a, d):
            zb = zt[b * m:(b + 1) * m]
            out = ft[col * m:(col + 1) * m]
            for i in range(m):
                out[i] = za[i] * zb[i]
            col += 1
    ones = ft[(q + d) * m:(q + d + 1) * m]
    for i in range(m):
        ones[i] = 1.0


@jit(inline="always")
def _exact_column(xt, m, k, means, U, log_norm, y, sq):
    """``sq[i] = log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` for the tile's rows in ``xt`` (d, m)."""
    d = means.shape[1]
    for i in range(m):
        sq[i] = 0.0
    for j in range(d):
        for i in range(m):
            y[i] = 0.0
        for a in range(j + 1):  # U_k is upper triangular
            u = U[k, a, j]
            mu = means[k, a]
            xa = xt[a * m:(a + 1) * m]
            for i in range(m):
                y[i] += (xa[i] - mu) * u
        for i in range(m):
            sq[i] += y[i] * y[i]
    for i in range(m):
        sq[i] = log_norm[k] - 0.5 * sq[i]


@jit(inline="always")
def _exact_moments(xt, m, k, means, wr, dkx, wdk, mom, out):
    """A tile's sums about ``mu_k`` into ``out`` (p,), in the features' order, for an exact component.

    ``sum_i wr_i (x_i - mu_k)_a (x_i - mu_k)_b`` for ``a <= b``, then
    ``sum_i wr_i (x_i - mu_k)_a``; ``out``'s last entry (``sum_i wr_i``) is
    the GEMM's. About the centre, the moments of a component narrow in some
    direction lose that direction's variance to the cancellation that made
    it exact (as its log-densities would); about its own mean they do not.
    One GEMM, ``(wr (x - mu_k))^T [x - mu_k, 1]`` (d, d+1).
    """
    d = means.shape[1]
    for a in range(d):
        mu = means[k, a]
        for i in range(m):
            v = xt[a * m + i] - mu
            dkx[a * m + i] = v
            wdk[a * m + i] = wr[i] * v
    for i in range(m):
        dkx[d * m + i] = 1.0
    np.dot(wdk[:d * m].reshape((d, m)), dkx[:(d + 1) * m].reshape((d + 1, m)).T, mom)
    col = 0
    for a in range(d):
        for b in range(a, d):
            out[col] = mom[a, b]
            col += 1
    for a in range(d):
        out[col + a] = mom[a, d]


@jit()
def statistics_pass(X, w, centre, W, acc, ft, lp, part, top, total, exact, means, U, log_norm, xt, y,
                    dkx, wdk, mom):
    """Add ``F^T (w r)`` of every tile to ``acc`` (K, p); return ``sum_i w_i log p(x_i)``.

    ``ft`` holds a tile's features, ``F^T`` (p, m); ``lp`` its
    log-densities, component-major (K, m), then its ``w_i r_ik`` in their
    place; ``part`` (K, p) a tile's statistics. The components listed in
    ``exact`` get their log-densities by :func:`_exact_column` (``xt``
    and ``y`` are its buffers) and their moments about their own mean by
    :func:`_exact_moments` (``dkx``, ``wdk`` and ``mom``).
    """
    n, d = X.shape
    K, p = W.shape
    rows = lp.shape[0] // K
    raw = exact.shape[0] > 0
    ll = 0.0
    for t0 in range(0, n, rows):
        m = min(rows, n - t0)
        _features(X, t0, m, centre, ft, xt, raw)
        features = ft[:p * m].reshape((p, m))
        tile = lp[:K * m].reshape((K, m))
        np.dot(W, features, tile)
        for e in range(exact.shape[0]):
            _exact_column(xt, m, exact[e], means, U, log_norm, y, tile[exact[e]])
        # The whole tile at once, contiguous, w r in place of the log-densities.
        wb = w[t0:t0 + m]
        block_softmax(tile, wb, tile, top[:m], total[:m], m)
        for i in range(m):
            if wb[i] > 0:
                ll += wb[i] * top[i]
        np.dot(tile, features.T, part)
        for e in range(exact.shape[0]):
            _exact_moments(xt, m, exact[e], means, tile[exact[e]], dkx, wdk, mom, part[exact[e]])
        for k in range(K):
            for j in range(p):
                acc[k, j] += part[k, j]
    return ll


@jit()
def log_prob_pass(X, centre, W, out, ft, exact, means, U, log_norm, xt, y, sq):
    """``out`` (n, K) = ``F W^T`` of every tile, the log-densities, with the ``exact`` columns made exactly."""
    n, d = X.shape
    K, p = W.shape
    rows = ft.shape[0] // p
    raw = exact.shape[0] > 0
    for t0 in range(0, n, rows):
        m = min(rows, n - t0)
        _features(X, t0, m, centre, ft, xt, raw)
        np.dot(ft[:p * m].reshape((p, m)).T, W.T, out[t0:t0 + m])
        for e in range(exact.shape[0]):
            k = exact[e]
            _exact_column(xt, m, k, means, U, log_norm, y, sq)
            for i in range(m):
                out[t0 + i, k] = sq[i]
