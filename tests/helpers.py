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


def random_params(rng, structure, K, d, offset=0.0, scale=1.0):
    """Random mixture parameters (``updaters.MixtureParams``) in ``structure``'s layout."""
    from gaussmix.structures import STRUCTURES
    from gaussmix.updaters import MixtureParams

    if structure == "full":
        A = rng.normal(size=(K, d, d))
        cov = (A @ np.swapaxes(A, 1, 2) / d + np.eye(d)) * scale**2
    elif structure == "shared":
        A = rng.normal(size=(d, d))
        cov = (A @ A.T / d + np.eye(d)) * scale**2
    elif structure == "diag":
        cov = rng.uniform(0.3, 3, size=(K, d)) * scale**2
    else:
        cov = rng.uniform(0.3, 3, size=K) * scale**2
    means = rng.normal(size=(K, d)) * 3 * scale + offset
    return MixtureParams(rng.dirichlet(np.ones(K)), means, cov,
                         STRUCTURES[structure].prec_chol_from_cov(cov), structure)


def params_of(weights, means, cov, structure):
    """``MixtureParams`` from weights, means and covariances in ``structure``'s layout."""
    from gaussmix.structures import STRUCTURES
    from gaussmix.updaters import MixtureParams

    return MixtureParams(np.asarray(weights), np.asarray(means), cov,
                         STRUCTURES[structure].prec_chol_from_cov(cov), structure)


def estep_params(params, xp=np, dtype=np.float64):
    """The E-step parameters of point estimates, in a chunk's namespace and dtype."""
    from gaussmix.updaters.ml import estep_inputs

    return estep_inputs(params).for_chunk(xp, dtype)


def reference_statistics(X, w, params, scatter):
    """One chunk's (stats, loglik) by the array-API reference functions."""
    from gaussmix.engine.estep import log_resp_from_weighted, weighted_log_prob_reference
    from gaussmix.engine.stats import accumulate_reference

    ep = estep_params(params, np, X.dtype)
    log_prob, log_resp = log_resp_from_weighted(weighted_log_prob_reference(X, ep))
    lp = log_prob.astype(np.float64)
    loglik = lp.sum() if w is None else np.where(w > 0, lp * w, 0.0).sum()
    return accumulate_reference(X, np.exp(log_resp.astype(np.float64)), w, kind=scatter), loglik


def assert_stats_close(got, ref, rtol, scale, spread):
    np.testing.assert_allclose(got.nk, ref.nk, rtol=rtol, atol=rtol * max(1.0, ref.nk.max()))
    np.testing.assert_allclose(got.means, ref.means, rtol=rtol, atol=rtol * scale)
    # One-pass moments round at the size of the rows' squared spread.
    np.testing.assert_allclose(got.scatter, ref.scatter, rtol=rtol, atol=rtol * spread)


def decompose(cov):
    """Volume, sorted shape and eigenvectors of each (d, d) covariance."""
    d = cov.shape[-1]
    eigval, eigvec = np.linalg.eigh(cov)
    volume = np.prod(eigval, axis=1) ** (1.0 / d)
    return volume, eigval / volume[:, None], eigvec


def assert_obeys_model(code, cov, rtol=1e-8):
    """(K, d, d) covariances keep the equal volumes, shapes and orientations an mclust code names."""
    volume, shape, _ = decompose(cov)
    vol, shp, orient = code
    if vol == "E":
        np.testing.assert_allclose(volume, volume[0], rtol=rtol)
    if shp == "E":
        np.testing.assert_allclose(shape, np.broadcast_to(shape[0], shape.shape), rtol=rtol)
    if shp == "I":
        np.testing.assert_allclose(shape, 1.0, rtol=rtol)
    if orient == "I":
        assert np.all(cov - np.stack([np.diag(np.diag(c)) for c in cov]) == 0)
    if orient == "E":
        # Equal orientation: the matrices commute pairwise.
        for a in cov:
            for b in cov:
                np.testing.assert_allclose(a @ b, b @ a, atol=rtol * np.abs(a @ b).max())


def kernel_namespace(kernel):
    """``(xp, to_kernel, to_numpy)``: the namespace of ``kernel``'s chunks and the conversions.

    NumPy for kernels that take it (or any namespace); PyTorch (CPU tensors)
    for the torch kernel, skipped where PyTorch is missing.
    """
    if "numpy" in kernel.namespaces or "*" in kernel.namespaces:
        return np, np.asarray, np.asarray
    if any("torch" in ns for ns in kernel.namespaces):
        import pytest

        torch = pytest.importorskip("torch")
        import array_api_compat.torch as xp

        return xp, torch.asarray, lambda a: a.detach().cpu().numpy()
    import pytest

    pytest.skip(f"no test conversion to the namespaces {kernel.namespaces}")


def tie_order_verified():
    """Whether every loaded BLAS is one whose order of sums gaussmix's k-means was checked against.

    scikit-learn's k-means breaks a tie between two centres within rounding
    (iris is measured to 0.1 cm) by its BLAS's order of sums, and beyond 256
    rows by its threads'. ``kmeans_small`` and ``seeding`` follow OpenBLAS's
    Haswell kernels (Zen uses them too), checked on a 2-core AMD EPYC.
    Under another BLAS such a tie may go the other way: tests on data with
    ties then skip, and those on continuous data still run.
    """
    import importlib

    from threadpoolctl import threadpool_info

    importlib.import_module("scipy.linalg")  # scikit-learn's BLAS, loaded

    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return bool(found) and all(i.get("internal_api") == "openblas"
                               and i.get("architecture") in ("Haswell", "Zen") for i in found)
