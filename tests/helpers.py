"""Data shared by the tests."""

import numpy as np


def blobs(n_per=(120, 100, 80), d=3, seed=0, spread=4.0):
    """Well-separated Gaussian blobs with different shapes."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(n_per):
        A = rng.normal(size=(d, d)) * 0.6 + np.eye(d)
        parts.append(rng.normal(size=(n, d)) @ A + spread * k)
    return np.vstack(parts)
