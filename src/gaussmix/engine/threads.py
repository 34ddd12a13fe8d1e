"""Threads for the map of one EM pass: chunks run side by side, merged in order.

The compiled kernels (``kernels``) and NumPy's matrix products release the
GIL, so a pool of threads, one chunk each, uses every core. BLAS is held to
one thread meanwhile: its own threads would compete with the pool (OpenBLAS
spins while it waits), which on a 2-core EPYC made an iteration 3-4x slower.
Results are merged in chunk order, so they do not depend on the number of
threads. ``GAUSSMIX_NUM_THREADS`` caps the pool (1 turns it off).
A fit run from another thread leaves BLAS as it is (see
:func:`single_threaded_blas`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool = None


def n_threads():
    """Threads for a pass: the usable cores, or ``GAUSSMIX_NUM_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("GAUSSMIX_NUM_THREADS")
    if limit:
        cores = min(cores, max(1, int(limit)))
    return cores


def usable():
    """Whether this call may fan out: only from the main thread, so that a
    pass run inside a worker (Dask's, or this pool's) never nests pools."""
    return n_threads() > 1 and threading.current_thread() is threading.main_thread()


def _get_pool(size):
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers != size:
            if _pool is not None:  # the thread cap changed: retire the old pool
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(size, thread_name_prefix="gaussmix")
        return _pool


_limit_depth = 0
#: gaussmix work (fits, scoring) in progress in any thread, and the BLAS
#: thread counts as they were when the first of it began.
_running = 0
_user_limits = []
_work_lock = threading.Lock()


def single_threaded_blas():
    """A context in which BLAS runs on one thread (threadpoolctl); re-entrant.

    Only from the main thread: BLAS's setting is process-wide, and OpenBLAS
    ignores a change made from another thread once the main thread has set
    it. The estimators hold this context around a whole fit, the start
    included, so that scikit-learn's KMeans, which limits BLAS itself, runs
    inside it; nested contexts keep the outermost's saved setting, which is
    restored once, at the end. Elsewhere BLAS keeps its setting, so a fit run
    in a worker thread may use BLAS's threads, whose sums can differ from
    the main thread's in the last digits.

    What is restored is the setting found when the first gaussmix work in
    any thread began, not the one found when the main thread's began: a fit
    in a worker thread runs scikit-learn's KMeans, which holds BLAS at one
    thread meanwhile, and a main-thread fit that started then would have
    saved that one thread as the user's setting and left it (a test caught
    this once in a few hundred runs). So a setting the user changes while
    gaussmix work runs in another thread is not the one restored.
    """
    main = threading.current_thread() is threading.main_thread()
    if main and _limit_depth > 0:
        # Within the main thread's own context, which already holds BLAS at
        # one thread and counts as gaussmix work: nothing to do. (Entering
        # anyway cost 2.4 us, a twentieth of a small EM iteration's pass.)
        return contextlib.nullcontext()
    return _Work(main)


class _Work:
    """gaussmix work in one thread: counted while it runs; in the main thread, BLAS held at one thread.

    A class rather than two nested generator contexts, which took 18 us to
    enter and leave against 13 for this (BLAS's own set and restore are 6.5
    of them): about 1% of a small fit or ``predict_proba``, each of which
    holds one.
    """

    __slots__ = ("main", "saved")

    def __init__(self, main):
        self.main, self.saved = main, None

    def __enter__(self):
        global _running, _user_limits, _limit_depth
        with _work_lock:
            if _running == 0:
                _user_limits = [(lib, lib.num_threads) for lib in _blas_libraries()]
            _running += 1
            saved = _user_limits
        if self.main:
            # Only the outermost context of the main thread gets here
            # (single_threaded_blas): it puts ``saved`` back at the end.
            _blas_window.acquire()
            try:
                for lib, _ in saved:
                    lib.set_num_threads(1)
            except BaseException:
                _blas_window.release()
                self._stop_counting()
                raise
            self.saved = saved
            _limit_depth += 1
        return self

    def __exit__(self, *exc_info):
        global _limit_depth
        try:
            if self.main:
                _limit_depth -= 1
                try:
                    for lib, count in self.saved:
                        lib.set_num_threads(count)
                finally:
                    _blas_window.release()
        finally:
            self._stop_counting()
        return False

    @staticmethod
    def _stop_counting():
        global _running
        with _work_lock:
            _running -= 1


#: Held while the main thread holds BLAS at one thread, and by library code
#: in another thread that sets and restores BLAS's threads itself
#: (:func:`outside_blas_window`).
_blas_window = threading.Lock()


def outside_blas_window():
    """A context for a call that limits BLAS itself, made from a thread other than the main one.

    scikit-learn's KMeans holds BLAS at one thread while it runs and then
    puts back the count it found. Begun in another thread while the main
    thread held BLAS at one thread for a fit, it found that one thread, and
    put it back after the main thread had restored the user's count: BLAS
    was left at one thread (a test caught this in a full run). Such a call
    waits for the main thread's window to close, and holds the next one off
    until it ends. In the main thread it runs at once, inside the window.
    """
    if threading.current_thread() is threading.main_thread():
        return contextlib.nullcontext()
    return _blas_window


_blas = (None, -1)  # (threadpoolctl's BLAS controllers, len(sys.modules) when found)


def _blas_libraries():
    """The loaded BLAS libraries' controllers, found again only after new imports.

    ``ThreadpoolController.limit`` scans the process's libraries on every
    call, 30 us that every EM pass paid (a tenth of an iteration at
    N=1e4, d=2); a library can only appear with a new import.
    """
    global _blas
    libraries, seen = _blas
    if seen != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        _blas = (libraries, len(sys.modules))
    return libraries


def map_ordered(func, items):
    """``map(func, items)`` on the pool, in order, with a bounded window.

    At most two items per thread are in flight, so a stream read chunk by
    chunk stays bounded in memory.
    """
    size = n_threads()
    pool = _get_pool(size)
    window = collections.deque()
    for item in items:
        window.append((pool.submit(func, item), item))
        if len(window) >= 2 * size:
            yield window.popleft()[0].result()
    while window:
        future, item = window.popleft()
        # Once the items are all submitted, the caller would only wait: it
        # takes any item no worker has started, instead of handing it to a
        # thread that must wake (predict_proba of 10 000 rows in 2 chunks,
        # d=16, K=3, medians of 30 interleaved runs: 0.67 -> 0.53 ms).
        yield func(item) if future.cancel() else future.result()
