"""Random generators from a ``random_state``: scikit-learn's rule, seeded for less.

:func:`check_random_state` returns what :func:`sklearn.utils.check_random_state`
returns: NumPy's global ``RandomState`` for None, the instance itself for a
``RandomState``, and for an integer a new ``RandomState`` in the state that
``RandomState(seed)`` is in, so every draw is scikit-learn's.

Only the way to that state differs. ``RandomState(seed)`` first builds an
``MT19937`` from fresh operating-system entropy (a ``SeedSequence`` hashed
into 624 words, then copied in one NumPy scalar at a time) and then seeds it
again from ``seed``, which overwrites all of it: about 120 us here (up to
240 on a busy machine), a fifth of a fit of 150 rows. Here the first
seeding reads 624 zeros from a plain list (:class:`_Overwritten`) and the
second is NumPy's own (``RandomState.seed``, the legacy MT19937 seeding
that ``RandomState(seed)`` runs): 6-9 us for the same generator.
``tests/test_randomness.py`` holds the states equal.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.random.bit_generator import ISeedSequence

__all__ = ["check_random_state"]


class _Overwritten(ISeedSequence):
    """Words for an ``MT19937`` that is seeded again at once: zeros, as a list.

    NumPy copies the words into the generator one by one, which costs 44 us
    from an array and 6 from a list. The state never reaches a draw: the
    legacy seeding that follows sets every word of it.
    """

    def generate_state(self, n_words, dtype=np.uint32):
        return [0] * n_words


_OVERWRITTEN = _Overwritten()

#: The largest integer NumPy's legacy seeding takes.
_LARGEST_SEED = 2**32 - 1


def check_random_state(seed):
    """A ``numpy.random.RandomState`` from ``seed``, as scikit-learn makes it.

    Parameters
    ----------
    seed : None, int or numpy.random.RandomState
        None (or ``numpy.random``) gives NumPy's global generator; an integer
        in ``[0, 2**32 - 1]`` a new generator seeded with it, in the state
        ``RandomState(seed)`` would have; a ``RandomState`` is returned as it
        is.

    Returns
    -------
    numpy.random.RandomState

    Raises
    ------
    ValueError
        For an integer out of range (saying the range) or anything else
        (scikit-learn's message).
    """
    if isinstance(seed, numbers.Integral):
        if not 0 <= seed <= _LARGEST_SEED:
            # NumPy's own words name no parameter.
            raise ValueError(
                f"random_state={seed!r} cannot seed a generator: an integer seed must lie between 0 "
                f"and 2**32 - 1 ({_LARGEST_SEED}). Pass one in that range, a "
                f"numpy.random.RandomState, or None."
            )
        generator = np.random.RandomState(np.random.MT19937(_OVERWRITTEN))
        generator.seed(seed)
        return generator
    from sklearn.utils import check_random_state as sklearn_check

    return sklearn_check(seed)
