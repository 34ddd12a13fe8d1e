"""randomness.check_random_state: scikit-learn's generators, seeded another way."""

import numpy as np
import pytest
import sklearn.utils
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix.randomness import check_random_state


def _state(generator):
    state = generator.get_state(legacy=False)
    return (state["bit_generator"], state["state"]["key"].tolist(), state["state"]["pos"],
            state["has_gauss"], state["gauss"])


def _draws(generator):
    # The draws the starts make (randint, uniform, choice without replacement,
    # permutation) and a Gaussian, whose pair leaves one cached.
    return (generator.randint(0, 1000, 20).tolist(), generator.uniform(size=5).tolist(),
            generator.choice(100, 10, replace=False).tolist(), generator.permutation(12).tolist(),
            generator.standard_normal(3).tolist(), _state(generator))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_an_integer_gives_the_generator_numpy_seeds(seed):
    ours, theirs = check_random_state(seed), np.random.RandomState(seed)
    assert type(ours) is np.random.RandomState
    assert _state(ours) == _state(theirs)
    assert _draws(ours) == _draws(theirs)


@pytest.mark.parametrize("seed", [np.int64(7), np.uint32(2**32 - 1), np.int8(0), True])
def test_numpy_integers_and_bools_are_integers_as_in_scikit_learn(seed):
    assert _draws(check_random_state(seed)) == _draws(sklearn.utils.check_random_state(seed))


def test_each_call_is_a_new_generator():
    # A generator left half-drawn by one fit is not the next fit's.
    first = check_random_state(0)
    first.uniform(size=3)
    second = check_random_state(0)
    assert second is not first
    assert _state(second) == _state(np.random.RandomState(0))


def test_after_a_gaussian_the_next_generator_starts_clean():
    # standard_normal draws in pairs and caches the second: a new generator
    # must not inherit the cache.
    first = check_random_state(3)
    first.standard_normal(1)
    assert first.get_state(legacy=False)["has_gauss"] == 1
    assert check_random_state(3).get_state(legacy=False)["has_gauss"] == 0


def test_none_and_instances_as_in_scikit_learn():
    assert check_random_state(None) is np.random.mtrand._rand
    assert check_random_state(np.random) is np.random.mtrand._rand
    generator = np.random.RandomState(5)
    assert check_random_state(generator) is generator


@pytest.mark.parametrize("seed", [-1, 2**32, np.int64(-3)])
def test_an_integer_out_of_range_is_refused_with_the_range(seed):
    # NumPy refuses it too, in words that name no parameter.
    with pytest.raises(ValueError):
        np.random.RandomState(seed)
    with pytest.raises(ValueError, match=r"random_state=.* between 0 and 2\*\*32 - 1 \(4294967295\)"):
        check_random_state(seed)


@pytest.mark.parametrize("seed", ["0", 1.5, np.random.default_rng(0), [1, 2]])
def test_anything_else_is_refused_as_scikit_learn_refuses_it(seed):
    with pytest.raises(ValueError, match="cannot be used to seed"):
        check_random_state(seed)


def test_a_fit_draws_what_scikit_learn_draws():
    # The estimators' seeding goes through this module: a k-means++ start
    # from random_state=0 still equals scikit-learn's.
    from sklearn.cluster import kmeans_plusplus

    from gaussmix import seeding

    X = np.random.RandomState(1).normal(size=(300, 3))
    _, theirs = kmeans_plusplus(X, 4, random_state=0)
    np.testing.assert_array_equal(seeding.kmeans_plusplus(X, 4, random_state=0), theirs)


def test_it_pickles_as_numpy_s_own():
    # No trace of the throwaway seed sequence: joblib's workers and model
    # files that carry a generator see NumPy's RandomState(seed), byte for byte.
    import pickle

    for seed in (0, 11, 2**32 - 1):
        assert pickle.dumps(check_random_state(seed)) == pickle.dumps(np.random.RandomState(seed))
