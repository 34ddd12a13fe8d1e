"""Starts that fits share: a checked ``resp_init`` and its statistics, made once for every fit from it.

``select`` fits the 14 covariance models of each K from one partition of
the rows. Each cell is a fit of its own, through the public ``fit``, so
each would check the same starting responsibilities and sum the same
statistics from them: on 145 rows about 100 us of a cell's 1.2 ms, 13
times over for each K. Within :func:`sharing_starts` a fit takes them from
the fit before it where they came from the same objects (the same arrays
of rows, weights and responsibilities, by identity, and the same settings):
what it would have computed, bit for bit.

A context variable, as ``vetting_starts`` and ``scoring_fits``: fits on
other threads share nothing.
"""

from __future__ import annotations

import contextlib
import contextvars

#: The values made within :func:`sharing_starts`, or None outside it.
_SHARED = contextvars.ContextVar("gaussmix_shared_starts", default=None)

#: The most values held at once, the oldest made dropped first (a value
#: read again keeps its place): select's cells go K by K, and a K makes five
#: at most (the partition's one-hot array, its checked copy, and statistics
#: per scatter kind, three at most), so this holds the current K's and more.
#: A new kind of shared value must keep that so.
MAX_SHARED = 16


@contextlib.contextmanager
def sharing_starts():
    """Within it, fits from the same ``resp_init`` on the same rows share its check and statistics.

    Values are held, with the objects they were made from, until the
    context ends (at most :data:`MAX_SHARED` of them). The objects must not
    change meanwhile: ``select`` makes them and passes them to its cells
    only.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(tag, objects, make, settings=()):
    """``make()``, or within :func:`sharing_starts` the value it gave for these ``objects`` and ``settings``.

    Parameters
    ----------
    tag : str
        What the value is.
    objects : tuple
        The objects the value is made from, matched by identity (they are
        held with it, so no other object can take an identity meanwhile).
    make : callable
        Makes the value.
    settings : tuple of hashable
        Everything else the value depends on, matched by equality.
    """
    values = _SHARED.get()
    if values is None:
        return make()
    key = (tag, tuple(id(obj) for obj in objects), settings)
    held = values.get(key)
    if held is not None and all(a is b for a, b in zip(held[0], objects)):
        return held[1]
    value = make()
    values[key] = (objects, value)
    while len(values) > MAX_SHARED:
        del values[next(iter(values))]
    return value


__all__ = ["MAX_SHARED", "shared", "sharing_starts"]
