"""Where the data live: the array-API namespace and device of an input, and moves to and from the host.

scikit-learn's convention, which gaussmix follows to the letter: with
``sklearn.set_config(array_api_dispatch=True)``, an array of another
array-API library (a PyTorch tensor on the CPU or a GPU, a CuPy array, an
``array_api_strict`` array) is fitted in its own namespace, on its own
device, and the fitted attributes and the results of ``predict``,
``predict_proba``, ``score_samples`` and ``sample`` are arrays of that
namespace and device. Without dispatch every input is converted to NumPy, as
scikit-learn converts it.

A :class:`Placement` names where one fit's rows live. Only parameter-sized
arrays (K x d x d at most) and scalars cross between host and device: the
updater works on the host in float64 (``updaters``), the per-chunk work in
the data's namespace (``engine.kernels``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def dispatching():
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    from sklearn import get_config

    return bool(get_config().get("array_api_dispatch", False))


def is_array_api(X):
    """Whether X is an array of an array-API library other than NumPy.

    Dask collections are not: they are a source of their own (``backends.dask``).
    """
    if isinstance(X, (np.ndarray, list, tuple)) or type(X).__module__.startswith("dask"):
        return False
    if not hasattr(X, "__array_namespace__") and not _is_torch(X):
        return False
    from array_api_compat import array_namespace

    try:
        array_namespace(X)
    except TypeError:
        return False
    return True


def _is_torch(X):
    module = type(X).__module__
    return module.startswith("torch")


@dataclass(frozen=True)
class Placement:
    """An array-API namespace and a device: where one fit's rows live.

    Attributes
    ----------
    xp : module
        The namespace (``array_api_compat``'s wrapper of torch, say).
    device : object
        The device of the rows (``array_api_compat.device``).
    """

    xp: Any
    device: Any

    @property
    def name(self):
        return self.xp.__name__.rsplit(".", 1)[-1]

    def asarray(self, a, dtype=None):
        """``a`` (host or device) as an array of this namespace on this device."""
        if dtype is not None and not isinstance(dtype, str):
            dtype = dtype_name(dtype)
        if isinstance(dtype, str):
            dtype = getattr(self.xp, dtype)
        if isinstance(a, np.ndarray) and not a.flags.writeable:
            a = a.copy()  # torch warns on (and may write through) a read-only buffer
        return self.xp.asarray(a, dtype=dtype, device=self.device)


_DTYPE_NAMES = {}


def dtype_name(dtype):
    """``"float32"`` or ``"float64"`` (or another name) for any library's dtype."""
    # Remembered: NumPy's dtype.name takes 2 us, and a small EM iteration asks a few times.
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):  # not seen yet, or not hashable
        pass
    try:
        name = np.dtype(dtype).name
    except TypeError:  # another library's dtype (torch.float32, say)
        name = str(dtype).rsplit(".", 1)[-1]
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:
        pass
    return name


def host_dtype(dtype):
    """NumPy's dtype of the same name as any library's ``dtype`` (float32 for torch.float32)."""
    return np.dtype(dtype_name(dtype))


def placement_of(X):
    """The :class:`Placement` of X under dispatch, or None for a NumPy fit.

    None where dispatch is off (X is then converted to NumPy, as scikit-learn
    converts it) and for NumPy arrays and array-likes.
    """
    if not dispatching() or not is_array_api(X):
        return None
    from array_api_compat import array_namespace, device

    xp = array_namespace(X)
    if xp.__name__.endswith("numpy"):
        return None
    return Placement(xp, device(X))


def placement_of_array(a):
    """The :class:`Placement` of a fitted array ``a``; None for NumPy."""
    if isinstance(a, np.ndarray) or not is_array_api(a):
        return None
    from array_api_compat import array_namespace, device

    xp = array_namespace(a)
    return None if xp.__name__.endswith("numpy") else Placement(xp, device(a))


def to_host(a, dtype=None):
    """Any library's array as a NumPy array on the host (a copy only where it must be).

    For parameter-sized arrays and scalars: the engine never moves rows here.
    """
    if isinstance(a, np.ndarray) or np.isscalar(a) or not is_array_api(a):
        return np.asarray(a, dtype=dtype)
    if _is_torch(a):
        out = a.detach().cpu().numpy()
    elif hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        out = a.get()
    else:
        try:
            out = np.from_dlpack(a)
        except (TypeError, BufferError, RuntimeError, AttributeError, ValueError):
            # On another device: moved to the namespace's default (host) device first.
            from array_api_compat import array_namespace

            host = array_namespace(a).__array_namespace_info__().default_device()
            out = np.from_dlpack(a.to_device(host))
    return np.asarray(out, dtype=dtype)


def same_placement(a, placement):
    """Whether array ``a`` lives where ``placement`` says (namespace and device)."""
    from array_api_compat import array_namespace, device

    try:
        return array_namespace(a).__name__ == placement.xp.__name__ and device(a) == placement.device
    except TypeError:
        return False
