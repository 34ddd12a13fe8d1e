r"""What a noise component starts from: the data's hypervolume, and a first guess of the noise.

:func:`hypervolume` is mclust's ``hypvol``: the smaller of the volume of the
data's bounding box and that of the box around its principal-component
scores. One over it is the default density of the noise component.

:func:`nearest_neighbour_noise` is Byers & Raftery's (1998) nearest-neighbour
cleaning (``NNclean`` in R's prabclus, which mclust's examples use to start
the noise component). Under a homogeneous Poisson process of intensity
``lambda`` in ``d`` dimensions, the distance ``D_k`` of a point to its k-th
nearest neighbour is such that ``Y = alpha_d D_k^d`` (``alpha_d`` the volume
of the unit ball) has the gamma density

.. math::

    g(y \mid \lambda) = \frac{\lambda^k y^{k-1} e^{-\lambda y}}{(k-1)!} .

Points in clusters and points of the background are two such processes, of
intensities ``lambda_1 > lambda_2``: the ``Y`` of all points are a mixture of
two gamma densities of shape ``k``, fitted by EM,

.. math::

    z_i = \frac{p\, g(y_i \mid \lambda_1)}
               {p\, g(y_i \mid \lambda_1) + (1 - p)\, g(y_i \mid \lambda_2)},
    \qquad p = \bar z, \qquad
    \lambda_1 = \frac{k \sum_i z_i}{\sum_i z_i y_i}, \quad
    \lambda_2 = \frac{k \sum_i (1 - z_i)}{\sum_i (1 - z_i) y_i},

and a point is noise when its posterior of the background, ``1 - z_i``, is
over one half. ``alpha_d`` scales every ``Y`` alike, so it cancels from
``z_i`` and is left out; the arithmetic is in logarithms, since ``D_k^d``
overflows in high dimensions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

#: k of the nearest-neighbour rule when ``noise_init="knn"``.
DEFAULT_NEIGHBOURS = 5


def log_hypervolume(X):
    """``log hypvol(X)``: the log of the smaller of two box volumes around the rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    float
        ``min(sum_j log range(X_j), sum_j log range(S_j))`` with ``S`` the
        principal-component scores of X (its centred rows on the
        eigenvectors of its covariance).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    with np.errstate(divide="ignore"):
        box = float(np.sum(np.log(np.ptp(X, axis=0))))
        if X.shape[1] == 1:
            volume = box
        else:
            values, vectors = np.linalg.eigh(np.cov(X, rowvar=False))
            # Rows on a hyperplane but for rounding span no volume either (a
            # feature that is a linear function of others): matrix_rank's bound.
            if values[0] <= values[-1] * (max(X.shape) * np.finfo(np.float64).eps) ** 2:
                volume = -np.inf
            else:
                volume = min(box, float(np.sum(np.log(np.ptp(X @ vectors, axis=0)))))
    if not np.isfinite(volume):
        raise ValueError(
            "the rows span no volume (a feature is constant, or the rows lie in a subspace), "
            "so a uniform noise density over them is undefined: give noise_density, or drop "
            "the constant features."
        )
    return volume


def hypervolume(X):
    """mclust's ``hypvol(X)``; ``1 / hypervolume(X)`` is the default noise density."""
    return math.exp(log_hypervolume(X))


def nearest_neighbour_noise(X, n_neighbors=DEFAULT_NEIGHBOURS, max_iter=1000):
    """Rows deemed noise by Byers & Raftery's nearest-neighbour rule, as prabclus's ``NNclean``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Distances are Euclidean on X as given: scale the features first if
        their units differ.
    n_neighbors : int, default=5
        k: the distance to the k-th nearest neighbour is used (mclust's
        examples use 5).
    max_iter : int, default=1000

    Returns
    -------
    noise : ndarray of bool of shape (n_samples,)

    Notes
    -----
    As ``NNclean``: EM starts with the rows whose distance exceeds its
    minimum by a third of its range as background and ``p = 1/2``; it stops
    when the expected complete-data log-likelihood changes by less than
    0.1% relative; and a row is noise when the background's density at it
    is at least the clusters' (``g(y | lambda_2) >= g(y | lambda_1)``,
    without the proportions).
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = int(n_neighbors)
    if not 1 <= k < n:
        raise ValueError(f"the nearest-neighbour noise rule needs 1 <= k < n_samples; got k={k} for {n} rows.")
    dist = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)[0][:, k]  # column 0: the row itself
    if not (dist > 0).any():
        return np.zeros(n, dtype=bool)
    # y = (D / m)^d with m the largest distance: D^d itself overflows in high
    # dimensions. Rates are then per m^d, which changes every log-rate by
    # the same d log m, put back into the stopping value.
    m = dist.max()
    y = np.exp(d * np.log(np.maximum(dist / m, np.finfo(np.float64).tiny)))
    background = dist > dist.min() + np.ptp(dist) / 3
    z = (~background).astype(np.float64)  # z: the posterior of the clusters
    p = 0.5
    rates = [k / y[~background].mean() if (~background).any() else 1.0,
             k / y[background].mean() if background.any() else 1.0]
    shift = k * n * d * math.log(m)
    previous = None
    for _ in range(max_iter):
        log_g = [k * math.log(rate) - rate * y for rate in rates]
        with np.errstate(divide="ignore"):
            z = expit(math.log(p) - math.log1p(-p) + log_g[0] - log_g[1]) if 0 < p < 1 else np.full(n, p)
        p = float(z.mean())
        if p > 0:
            rates[0] = k * z.sum() / np.dot(z, y)
        if p < 1:
            rates[1] = k * (1 - z).sum() / np.dot(1 - z, y)
        if p <= 0:
            rates[0] = rates[1] / 2
        elif p >= 1:
            rates[1] = 2 * rates[0]
        value = float(np.sum(-p * rates[0] * y * z - (1 - p) * rates[1] * y * (1 - z)
                             + k * z * math.log(rates[0]) + k * (1 - z) * math.log(rates[1]))) - shift
        if previous is not None and abs((value - previous) / value) <= 1e-3:
            break
        previous = value
    log_g = [k * math.log(rate) - rate * y for rate in rates]
    return log_g[1] >= log_g[0]
