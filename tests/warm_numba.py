"""Compile the kernels most tests use into Numba's cache, for one dtype: ``python tests/warm_numba.py float32``.

``tests/conftest.py`` runs this once per dtype, the two side by side, before
pytest-xdist starts its workers. Without it each worker compiled the same
kernels on its own as its first tests reached them: on a new install every
worker spent minutes compiling what the other was compiling too (a first
``select`` of 145 rows in a process with a cold cache took 126 s in float64,
then 70 s more in float32, on a 2-core Xeon). Once cached, a worker loads
each kernel from disk. Nothing here is checked: the tests check it all.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np


def main(dtype):
    from gaussmix import GaussianMixture, select

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]])
    X = (np.repeat(centres, 60, axis=0) + rng.normal(size=(180, 3))).astype(dtype)
    # All 14 models, the hierarchical start, mclust's tests and the criteria.
    select(X, n_jobs=1)
    # The kernels of larger d, the scoring passes, and missing values.
    wide = rng.normal(size=(2000, 20)).astype(dtype)
    for covariance_type in ("full", "tied", "diag", "spherical"):
        fitted = GaussianMixture(3, covariance_type=covariance_type, max_iter=3, random_state=0).fit(wide)
        fitted.score_samples(wide)
        fitted.predict_proba(X=wide)
    holes = X.copy()
    holes[::7, 1] = np.nan
    GaussianMixture(3, max_iter=3, random_state=0).fit(holes).score_samples(holes)


if __name__ == "__main__":
    start = time.perf_counter()
    main(sys.argv[1])
    print(f"{sys.argv[1]}: {time.perf_counter() - start:.1f} s")
