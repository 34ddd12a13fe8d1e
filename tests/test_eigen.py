"""The compiled eigen-decomposition of small symmetric matrices (``models.eigen``), against LAPACK's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gaussmix import compiled
from gaussmix.models import eigen

EPS = np.finfo(np.float64).eps


def _decompose(A):
    d = A.shape[0]
    values, vectors = np.empty(d), np.empty((d, d))
    assert eigen.jacobi_eigen(A, values, vectors)
    return values, vectors


def _check_against_lapack(A, values, vectors, slack=8.0):
    """LAPACK's eigenvalues to a few eps of the largest; an orthonormal V with A V = V diag(w)."""
    d = A.shape[0]
    expected = np.linalg.eigvalsh(A)  # NumPy's LAPACK, the independent reference
    scale = max(np.abs(expected).max(), np.finfo(float).tiny)
    assert np.all(np.diff(values) >= 0), "ascending, as LAPACK"
    np.testing.assert_allclose(values, expected, rtol=0, atol=slack * d * EPS * scale)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(d), rtol=0, atol=slack * d * EPS)
    np.testing.assert_allclose(A @ vectors, vectors * values, rtol=0, atol=slack * d * EPS * scale)


def _random_symmetric(rng, d, kind):
    if kind == "spd":
        A = rng.normal(size=(d + 3, d)) * rng.uniform(0.01, 100.0, size=d)
        return A.T @ A
    if kind == "indefinite":
        A = rng.normal(size=(d, d))
        return A + A.T
    if kind == "rank one":  # a component on a line: every eigenvalue but one is zero
        v = rng.normal(size=d)
        return np.outer(v, v)
    if kind == "graded":  # features on scales 1e-6 to 1e6
        scale = np.logspace(-6, 6, d)
        A = rng.normal(size=(d + 2, d)) * scale
        return A.T @ A
    if kind == "diagonal":
        return np.diag(rng.permutation(np.arange(1.0, d + 1.0)))
    raise AssertionError(kind)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["spd", "indefinite", "rank one", "graded", "diagonal"])
def test_jacobi_equals_lapack(d, kind):
    rng = np.random.default_rng(d)
    for _ in range(20):
        A = _random_symmetric(rng, d, kind)
        values, vectors = _decompose(A)
        _check_against_lapack(A, values, vectors)


@pytest.mark.parametrize("A", [np.eye(3), 2.0 * np.eye(4) + 1.0, np.zeros((2, 2)), np.full((5, 5), 3.0)],
                         ids=["identity", "tied", "zero", "rank one ones"])
def test_tied_eigenvalues_give_an_orthonormal_basis(A):
    """Where eigenvalues tie, any basis of their space is right; it must still be one."""
    values, vectors = _decompose(A)
    _check_against_lapack(A, values, vectors)


def test_reads_the_lower_triangle_as_lapack_does():
    rng = np.random.default_rng(0)
    A = _random_symmetric(rng, 4, "spd")
    tampered = A.copy()
    tampered[np.triu_indices(4, 1)] = 1e300  # LAPACK (UPLO='L') never reads these
    values, vectors = _decompose(tampered)
    _check_against_lapack(A, values, vectors)
    np.testing.assert_array_equal(values, _decompose(A)[0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_matrix_that_is_not_finite_fails(bad):
    A = np.eye(3)
    A[2, 1] = A[1, 2] = bad
    assert not eigen.jacobi_eigen(A, np.empty(3), np.empty((3, 3)))


@pytest.mark.skipif(not compiled.AVAILABLE, reason="NumPy's eigh answers NaN; Numba's raises")
def test_past_the_rotations_lapack_refuses_a_matrix_that_is_not_finite():
    A = np.eye(3)
    A[2, 1] = A[1, 2] = np.nan
    with pytest.raises(np.linalg.LinAlgError):
        eigen.symmetric_eigen(A)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_symmetric_eigen_takes_the_rotations_up_to_five_features(d):
    """The same bits as the rotations themselves, and the vectors in LAPACK's Fortran order."""
    A = _random_symmetric(np.random.default_rng(d), d, "spd")
    values, vectors = eigen.symmetric_eigen(A)
    expected_values, expected_vectors = np.empty(d), np.empty((d, d)).T
    assert eigen.jacobi_eigen(A, expected_values, expected_vectors)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(vectors, expected_vectors)
    if compiled.AVAILABLE:
        assert vectors.flags.f_contiguous


@pytest.mark.parametrize("small, coupling", [(1e-30, 1e-17), (1e-12, 1e-10), (1e-200, 3e-110)])
def test_small_eigenvalues_keep_their_relative_accuracy(small, coupling):
    """A graded matrix: the small eigenvalue to a few eps of itself, where LAPACK's bound is eps of the largest.

    For ``[[1, b, 0], [b, c, 0], [0, 0, e]]`` the 2 x 2 block's eigenvalues
    are ``big`` and ``(c - b^2) / big`` (their product is the determinant),
    with ``big = (1 + c) / 2 + sqrt(((1 - c) / 2)^2 + b^2)``; with
    ``b^2`` below eps^2 of the largest, a stopping rule against the whole
    matrix would leave ``c`` for it, wrong by ``b^2 / c``.
    """
    b, c, e = coupling, small, 0.5
    A = np.array([[1.0, b, 0.0], [b, c, 0.0], [0.0, 0.0, e]])
    big = (1.0 + c) / 2 + np.sqrt(((1.0 - c) / 2) ** 2 + b * b)
    expected = np.array([(c - b * b) / big, e, big])
    values, vectors = _decompose(A)
    np.testing.assert_allclose(values, expected, rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("d", [2, 5, 6, 9])
def test_symmetric_eigen_at_either_side_of_the_threshold(d):
    """Rotations up to JACOBI_MAX_FEATURES features, LAPACK above: the same decomposition either way."""
    assert eigen.JACOBI_MAX_FEATURES == 5
    A = _random_symmetric(np.random.default_rng(d), d, "spd")
    values, vectors = eigen.symmetric_eigen(A)
    _check_against_lapack(A, values, vectors)


def test_a_sweep_limit_that_is_too_small_falls_back(monkeypatch):
    """Rotations that do not settle return False; symmetric_eigen then answers by LAPACK."""
    A = _random_symmetric(np.random.default_rng(3), 4, "indefinite")
    values, vectors = np.empty(4), np.empty((4, 4))
    # The plain Python functions read the module's globals when called.
    rotations = getattr(eigen.jacobi_eigen, "py_func", eigen.jacobi_eigen)
    decompose = getattr(eigen.symmetric_eigen, "py_func", eigen.symmetric_eigen)
    monkeypatch.setattr(eigen, "MAX_SWEEPS", 1)
    assert not rotations(A, values, vectors)
    monkeypatch.setattr(eigen, "jacobi_eigen", rotations)
    values, vectors = decompose(A)
    _check_against_lapack(A, values, vectors)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, (5, 5), elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)),
       st.integers(1, 5), st.integers(-290, 290))
def test_property_jacobi_equals_lapack(M, d, exponent):
    """Any symmetric matrix up to 5 x 5, on any scale from 1e-296 to 1e296 (no sum of squares may under- or overflow)."""
    A = (M[:d, :d] + M[:d, :d].T) * 10.0 ** exponent
    values, vectors = _decompose(A)
    _check_against_lapack(A, values, vectors, slack=16.0)


def test_the_python_m_steps_decompose_as_the_compiled_ones():
    """EEV's and VEV's Python M-steps take each component's decomposition from symmetric_eigen, bit for bit."""
    rng = np.random.default_rng(5)
    S = np.stack([_random_symmetric(rng, 3, "spd") for _ in range(4)])
    values, vectors = eigen.stacked_symmetric_eigen(S)
    for k in range(4):
        w, v = eigen.symmetric_eigen(S[k]) if compiled.AVAILABLE else np.linalg.eigh(S[k])
        np.testing.assert_array_equal(values[k], w)
        np.testing.assert_array_equal(vectors[k], v)
    S[1, 0, 0] = S[1, 1, 0] = np.nan  # NumPy's answer, as before the rotations: here its error
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.eigh(S)
    with pytest.raises(np.linalg.LinAlgError):
        eigen.stacked_symmetric_eigen(S)


def _collapsed_by_lapack(S, nk, reg_covar):
    """``Structure.collapsed``'s rule by NumPy's ``eigvalsh``: the reference of the compiled extremes."""
    values = np.linalg.eigvalsh(S)
    n = np.maximum(nk, np.finfo(np.float64).tiny)
    return values[:, 0] / n <= np.maximum(reg_covar, 1e-10 * values[:, -1] / n)


@pytest.mark.parametrize("reg_covar", [0.0, 1e-6, 1e-2])
def test_compiled_extremes_give_lapacks_collapse_verdicts(reg_covar):
    """Components on fewer rows than features, and on many, at scales far apart: the same verdicts."""
    from gaussmix.structures import STRUCTURES

    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(300):
        d, K, rows = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
        A = rng.normal(size=(K, rows, d)) * 10.0 ** rng.integers(-4, 5)
        S = np.einsum("kni,knj->kij", A, A)
        nk = rng.uniform(0.5, 10.0, size=K)
        low, high = np.empty(K), np.empty(K)
        assert eigen.symmetric_extremes(S, low, high)  # compiled, or plain Python without Numba
        expected = np.linalg.eigvalsh(S)
        scale = np.abs(expected).max(axis=1)
        assert np.all(np.abs(low - expected[:, 0]) <= 8 * 5 * EPS * scale)
        assert np.all(np.abs(high - expected[:, -1]) <= 8 * 5 * EPS * scale)
        verdicts = _collapsed_by_lapack(S, nk, reg_covar)
        np.testing.assert_array_equal(STRUCTURES["full"].collapsed(S, nk, reg_covar), verdicts)
        seen.update(verdicts.tolist())
    assert seen == {True, False}, "both verdicts met"


def test_compiled_extremes_leave_what_they_cannot_say_to_lapack():
    """Past five features, or with a matrix that is not finite, they say False and NumPy's ``eigvalsh`` decides."""
    from gaussmix.structures import STRUCTURES

    if not compiled.AVAILABLE:
        pytest.skip("without Numba the extremes are NumPy's only")
    rng = np.random.default_rng(3)
    A = rng.normal(size=(2, 4, 6))
    S = np.einsum("kni,knj->kij", A, A)  # four rows in six features: collapsed
    nk = np.array([4.0, 4.0])
    low, high = np.empty(2), np.empty(2)
    assert not eigen.symmetric_extremes(S, low, high)
    np.testing.assert_array_equal(STRUCTURES["full"].collapsed(S, nk, 0.0), [True, True])
    S3 = np.einsum("kni,knj->kij", A[:, :, :3], A[:, :, :3])
    S3[1, 0, 0] = np.nan
    assert not eigen.symmetric_extremes(S3, low, high)
    with pytest.raises(np.linalg.LinAlgError):  # NumPy's route, as before the compiled extremes
        STRUCTURES["full"].collapsed(S3, nk, 0.0)
