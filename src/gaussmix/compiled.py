"""Numba, optional and loaded on first use: the decorator every compiled kernel uses.

Without Numba (or with ``GAUSSMIX_NO_NUMBA=1``) :data:`AVAILABLE` is false,
:func:`jit` returns the plain Python function, and EM runs on the NumPy
kernel (``vectorised``) instead.

With Numba, :func:`jit` defers: importing Numba and llvmlite and setting up
its compiler took about 0.55 s of ``from gaussmix import GaussianMixture``,
which a user who only imports gaussmix, or asks the command line for help,
never needs (loading a saved model factorises its covariances, compiled). A decorated function is a :class:`Deferred` until any of them
is first called; then :func:`load` imports Numba, makes every one its
dispatcher, and puts the dispatchers in place of the placeholders in the
modules that hold them, so that compiled callers find compiled callees
among their globals when they compile. Code of your own that calls these
functions from inside a Numba function must call :func:`load` first.

Loading costs about 0.8 s in a new process (measured on 2 cores: importing
Numba 0.31-0.35 s, then the first dispatch from its cache 0.42 s, most of it
Numba's own registries), more than a whole small fit on the NumPy kernels.
A process that knows its whole job before any compiled call (the command
line does) can ask :func:`worth_loading` and call :func:`skip_loading`: the
process then runs as without Numba.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pathlib
import sys
import threading

#: Whether the compiled kernels can be used (Numba installed and not
#: disabled); decided without importing it.
AVAILABLE = not os.environ.get("GAUSSMIX_NO_NUMBA") and importlib.util.find_spec("numba") is not None

#: LLVM may fuse multiply-adds, but not reassociate sums: a vectorised sum's
#: order would follow the alignment of the arrays, and results must not
#: change from call to call. Nor may it assume away inf or NaN.
FASTMATH = {"contract"}

_deferred = []  # every Deferred, in the order defined
_hooks = []  # run once Numba is loaded, before anything compiles
_lock = threading.Lock()
_loaded = False


class Deferred:
    """A function for Numba, made into its dispatcher by :func:`load` (on its first call).

    ``make`` builds the compiled object from the imported ``numba`` module
    (by default ``numba.njit(**options)(func)``).
    """

    def __init__(self, func, options=None, make=None):
        functools.update_wrapper(self, func)
        self.py_func, self.options, self.make, self.dispatcher = func, options, make, None
        _deferred.append(self)

    def __call__(self, *args, **kwargs):
        if not AVAILABLE:  # skip_loading() came first: plain Python, as without Numba
            return self.py_func(*args, **kwargs)
        load()
        return self.dispatcher(*args, **kwargs)


def jit(cache=True, **kw):
    """``numba.njit`` with the project's settings (cached, GIL released), deferred to first use."""

    def wrap(f):
        if not AVAILABLE:
            return f
        # ``fastmath`` may be overridden: False where the bits must be NumPy's.
        options = {**dict(cache=cache, nogil=True, error_model="numpy", fastmath=FASTMATH), **kw}
        if _loaded:  # a module imported after the first compiled call
            import numba

            return numba.njit(**options)(f)
        return Deferred(f, options)

    return wrap


def on_load(hook):
    """Run ``hook()`` once Numba is loaded (at once if it is): for globals that need Numba to be made."""
    if _loaded:
        hook()
    else:
        _hooks.append(hook)
    return hook


#: The package's sources, and the file beside Numba's in-tree caches that
#: holds their fingerprint when the caches were last known good.
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_STAMP = "numba-sources.stamp"


def sources_fingerprint(root=PACKAGE_DIR):
    """A SHA-256 of every ``.py`` file under ``root``: its path and its bytes."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def purge_stale_caches(root=PACKAGE_DIR):
    """Delete Numba's caches under ``root`` if any source changed since they were last checked.

    Numba checks a cached function against its own file only: a function
    keeps the code it compiled in from other files, and the values of their
    constants, after those files change (numba issue #1833, open), and runs
    it without a word. A fit would then run a stale M-step from
    ``models.fused`` inside the stretch of ``engine.kernels.stretch``. Here
    any change to any source of the package (an edit to an editable
    install, a checkout) drops every cached kernel, and they compile again
    as they are used. The check reads the sources (about 6 ms). Where
    ``root`` is read-only Numba caches elsewhere, and its sources change
    only by a reinstall, which Numba notices; caches moved by
    ``NUMBA_CACHE_DIR`` are not checked. Nor is a process that imported
    the package before an edit and compiles after it: it caches what it
    imported, under the new stamp (restart such a process after an edit).
    The stamp is written only once every cache is gone. Returns the number
    of files deleted.
    """
    stamp = root / "__pycache__" / _STAMP
    fingerprint = sources_fingerprint(root)
    try:
        if stamp.read_text() == fingerprint:
            return 0
    except OSError:
        pass
    deleted, kept = 0, 0
    for cache in sorted(root.rglob("__pycache__/*.nb[ci]")):
        try:
            cache.unlink()
            deleted += 1
        except FileNotFoundError:  # another process took it first
            pass
        except OSError:  # read-only: the check is made again next time
            kept += 1
    if kept:
        return deleted
    partial = stamp.with_name(f"{_STAMP}.{os.getpid()}.tmp")
    try:  # atomically, for processes that start together
        stamp.parent.mkdir(exist_ok=True)
        partial.write_text(fingerprint)
        os.replace(partial, stamp)
    except OSError:
        partial.unlink(missing_ok=True)
    return deleted


def load():
    """Import Numba and put every deferred function's dispatcher in place; idempotent, thread-safe.

    Stale caches are purged first (:func:`purge_stale_caches`).
    """
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        purge_stale_caches()
        import numba

        for d in _deferred:
            d.dispatcher = d.make(numba) if d.make is not None else numba.njit(**d.options)(d.py_func)
        for hook in _hooks:
            hook()
        # A compiled function looks up the functions it calls among its
        # module's globals when it compiles (on its first call, after this):
        # they must be dispatchers there, also where a module imported one
        # by name from another.
        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", None) or ""
            if name != "gaussmix" and not name.startswith("gaussmix."):
                continue
            for attribute, value in list(vars(module).items()):
                if isinstance(value, Deferred):
                    setattr(module, attribute, value.dispatcher)
        _loaded = True


#: Seconds that loading Numba and the first cached kernel takes in a new
#: process, and what the NumPy kernels cost more than the compiled ones on
#: small data: per pass, and per row and component of a pass (at d <= 8;
#: more in proportion past it). Measured in fits on 2 cores (Intel Xeon,
#: 2026-12-02): 0.13-0.45 ms more a pass at 300 rows, and 70-155 ns more per
#: row and component at 3 000-30 000 rows (about 110 typical), d = 2-8,
#: K = 3-9. The decision keeps a margin of two on the load.
LOAD_SECONDS = 0.8
NUMPY_EXTRA_PER_PASS = 4e-4
NUMPY_EXTRA_PER_ENTRY = 1.2e-7
#: A row with missing values is marginalised row by row, in plain Python
#: without Numba: per row, component and feature of a pass (190 us a row at
#: K=3, d=4 and 720 us at K=9, d=8, against 3-4 us compiled).
NUMPY_EXTRA_PER_HOLE = 1.6e-5


def worth_loading(n_passes, n_rows, n_components, n_features, n_rows_with_holes=0):
    """Whether a job of ``n_passes`` E-step passes could gain from compiled kernels.

    False where the NumPy kernels' extra time, at most ``n_passes`` passes
    over ``n_rows`` rows of which ``n_rows_with_holes`` have missing values,
    stays under half of :data:`LOAD_SECONDS`: skipping the load then saves
    at least that much. Counts the passes only: compiled work that is not a
    pass (the hierarchical start, the inner iterations of the VEI, VEE, EVE,
    VVE and VEV M-steps) costs far more as plain Python, and is the
    caller's to rule out.
    """
    per_entry = NUMPY_EXTRA_PER_ENTRY * max(1.0, n_features / 8.0)
    per_hole = NUMPY_EXTRA_PER_HOLE * n_components * n_features
    extra = n_passes * (NUMPY_EXTRA_PER_PASS + per_entry * n_rows * n_components
                        + per_hole * n_rows_with_holes)
    return extra >= LOAD_SECONDS / 2


def skip_loading():
    """Run the rest of this process without Numba, unless it is loaded already.

    The NumPy kernels and the plain Python functions then take the compiled
    ones' place, as with ``GAUSSMIX_NO_NUMBA=1``: the same results to
    rounding. For a process whose whole job is small (:func:`worth_loading`);
    there is no way back. Returns whether it took effect (False once a
    compiled function has been called, or without Numba).
    """
    global AVAILABLE
    with _lock:
        if _loaded or not AVAILABLE:
            return False
        AVAILABLE = False
        return True


def _make_float64_from_bits(numba):
    from llvmlite import ir
    from numba.extending import intrinsic

    @intrinsic
    def float64_from_bits(typingctx, bits):
        """The float64 whose bits are the int64 ``bits`` (a register move; vectorisable).

        NumPy's ``view`` does this for arrays; a scalar inside a fused loop
        needs it too, so that ``p * 2**n`` is formed where ``p`` is.
        """
        if bits != numba.types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return numba.types.float64(numba.types.int64), codegen

    return float64_from_bits


def _float64_from_bits(bits):
    """The float64 whose bits are the int64 ``bits``."""
    import numpy as np

    return np.int64(bits).view(np.float64)


#: An intrinsic for compiled code (made when Numba loads); plain Python without Numba.
float64_from_bits = Deferred(_float64_from_bits, make=_make_float64_from_bits) if AVAILABLE else _float64_from_bits
