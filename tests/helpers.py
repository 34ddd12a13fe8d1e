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


def shared(*parts):
    """A path under ../shared (data and mclust references beside the repository).

    Missing files skip the test, except in CI (GAUSSMIX_REQUIRE_SHARED=1),
    where they fail it: the references must really be compared there.
    """
    import os
    from pathlib import Path

    import pytest

    root = Path(os.environ.get("GAUSSMIX_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    path = root.joinpath(*parts)
    if not path.exists():
        if os.environ.get("GAUSSMIX_REQUIRE_SHARED") == "1":
            pytest.fail(f"{path} is missing but GAUSSMIX_REQUIRE_SHARED=1")
        pytest.skip(f"{path} not found")
    return path
