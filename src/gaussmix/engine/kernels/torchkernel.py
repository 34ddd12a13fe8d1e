r"""The PyTorch kernel: chunks of ``torch`` tensors, on their own device, at GEMM rate.

It takes float32 and float64 tensors of any device (CPU, CUDA, ...) and
every structure; everything it creates lives on ``X.device``, and nothing
in it waits for the device (no ``.item()``, no ``float(tensor)``, no
boolean-mask indexing, no branch on a tensor's value), so a pass queues its
chunks without a host synchronisation. Its statistics are float64 tensors
on the chunk's device, which the engine merges there and brings to the host
once per pass. PyTorch is imported on first use, never by ``import gaussmix``.

* E-step, full and shared precisions: ``(x - c_k) - (mu_k - c_k)`` (``c_k``
  the mean rounded to the chunk's dtype, ``estep``) for all K components at
  once, then the whitening as one batched (K, n, d) @ (K, d, d) product:
  ``2 n K d^2`` flops, in the chunk's dtype (TF32 stays off, as it is by
  default in ``torch.backends.cuda.matmul.allow_tf32``; this kernel never
  turns it on, so float32 products keep float32 accuracy).
* E-step, diagonal and spherical precisions: with ``p_k`` the precision
  diagonal, ``z = x - o`` and ``m_k = mu_k - o`` about ``o``, the mean of the
  component means,
  ``||(x - mu_k) o sqrt(p_k)||^2 = (z o z) p_k - 2 z (p_k o m_k) + sum p_k m_k^2``:
  three (n, d) x (d, K) products, taken in float64 whatever the chunk's
  dtype (they cost ``n K d``, not ``n K d^2``), so the expansion costs
  ``eps_64 (|mu_k - o| / sigma_k)^2``, 1e-8 for a component 1e4 standard
  deviations from ``o``; the log-densities are then rounded to the chunk's dtype.
* Statistics: the first moments ``n_k`` and ``a_k = sum_i w_i r_ik x_i`` in
  float64. A full or diagonal scatter is then centred per component, on
  ``c_k`` (the new mean rounded to the chunk's dtype), and its products —
  one (K, d, n) @ (K, n, d) product, ``2 n K d^2`` flops — are taken *in the
  chunk's dtype* and promoted to float64, less ``n_k (mean_k - c_k)(...)^T``.
  Centred on each component, nothing cancels: in float32 a scatter is good
  to a few float32 roundings (5e-6 relative over 20 000 rows) wherever the data sit, 1e4
  from the origin included. The pooled scatter ``W = sum_k S_k`` is taken
  in float64 as sums of positive terms (:func:`pooled_scatter`): ``n d^2 +
  n K^2 + K^2 d^2`` flops instead of ``n K d^2``, and nothing cancels.
* Rows of weight 0 add nothing, even rows of inf: their values are set to 0
  (by ``torch.where``) before any product.
"""

from __future__ import annotations

import importlib.util
import math
import warnings

from ..stats import SuffStats
from .base import Kernel


def _torch():
    import torch

    return torch


def _warn_if_tf32(X):
    """Warn (once a pass) where TF32 would round the float32 products of a CUDA chunk.

    gaussmix never turns TF32 on, but a user may have (it keeps 10 bits of
    mantissa: float32 fits then miss the NumPy fit's 1e-4).
    """
    torch = _torch()
    if X.device.type != "cuda" or X.dtype != torch.float32:
        return
    if torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest":
        warnings.warn(
            "TF32 is on for CUDA matrix products (torch.backends.cuda.matmul.allow_tf32 or "
            "torch.set_float32_matmul_precision): float32 fits lose accuracy (about 1e-3). Set "
            "torch.backends.cuda.matmul.allow_tf32 = False and the precision to 'highest'.",
            UserWarning, stacklevel=2,
        )


#: Most ``K * K * d`` for the pooled scatter's pairwise form (a (K, K, d)
#: float64 temporary); past it, the full scatters are summed.
PAIRWISE_LIMIT = 2**22


def pooled_scatter(X64, wr, means):
    r"""``W = sum_k S_k`` in float64, as sums of positive terms only: nothing cancels.

    With ``s_i = sum_k w_i r_ik`` and ``b_i = sum_k w_i r_ik mu_k / s_i``, the
    parallel-axis theorem splits each row's share,

    .. math::

        \sum_k w_i r_{ik} (x_i - \mu_k)(\cdot)^T = s_i (x_i - b_i)(\cdot)^T
        + \frac{1}{2 s_i} \sum_{k, l} w_i r_{ik}\, w_i r_{il} (\mu_k - \mu_l)(\cdot)^T ,

    so ``W`` is one (d, n) @ (n, d) product of rows centred on their own
    ``b_i``, one (K, n) @ (n, K) product ``C`` and ``sum_kl C_kl D_kl D_kl^T / 2``
    over the (K, K, d) differences of the means: ``n d^2 + n K^2 + K^2 d^2``
    flops, exact however far apart the components are.
    """
    torch = _torch()
    s = wr.sum(dim=1, keepdim=True)
    s_safe = torch.where(s > 0, s, torch.ones_like(s))
    y = X64 - (wr @ means) / s_safe
    C = (wr / s_safe).T @ wr  # (K, K)
    D = (means.unsqueeze(1) - means.unsqueeze(0)) * C.sqrt().unsqueeze(2)
    D = D.reshape(-1, means.shape[1])
    W = (y * s).T @ y + 0.5 * (D.T @ D)
    return 0.5 * (W + W.T)


class _DeviceParams:
    """The E-step parameters on one device, in the dtypes the kernel uses (made once a pass)."""

    def __init__(self, eparams, device, dtype):
        torch = _torch()

        def put(a, to=dtype):
            return torch.as_tensor(a).to(device=device, dtype=to)

        host = eparams.host
        self.matrix = eparams.precision_diag is None
        self.means = put(eparams.means)
        self.residual = put(eparams.means_residual)
        self.log_norm = put(eparams.log_norm)
        if self.matrix:
            self.prec_chol = put(eparams.prec_chol)
            return
        if host is not None:  # float64 straight from the host, not from the rounded copies
            means64, log_norm64 = put(host.means, torch.float64), put(host.log_norm, torch.float64)
            diag64 = put(eparams.precision_diag_host, torch.float64)
        else:
            means64 = put(eparams.means, torch.float64) + put(eparams.means_residual, torch.float64)
            log_norm64 = put(eparams.log_norm, torch.float64)
            diag64 = put(eparams.precision_diag, torch.float64)
        self.origin = means64.mean(dim=0)
        m = means64 - self.origin
        self.diag64 = diag64
        self.pm = diag64 * m
        self.offset = (self.pm * m).sum(dim=1)
        self.log_norm64 = log_norm64


class TorchKernel(Kernel):
    """PyTorch tensors on any device: batched products, no host synchronisation."""

    name = "torch"
    namespaces = ("array_api_compat.torch", "torch")
    available = importlib.util.find_spec("torch") is not None

    def bytes_per_row(self, n_components, n_features, itemsize):
        # Two (K, n, d) blocks in the chunk's dtype (differences and their
        # whitening, or their weighted copy), four (n, K) arrays (log-densities,
        # responsibilities) and float64 copies of the row and its weights.
        K, d = n_components, n_features
        return itemsize * (2 * K * d + 4 * K) + 8 * (3 * K + 3 * d)

    def chunk_budget(self, device):
        """A quarter of a GPU's free memory (at most 1 Mi rows); 64 MiB on the CPU.

        A GPU runs a chunk as a few large launches, so chunks are as large as
        memory allows, up to 1 Mi rows: a float32 scatter sums its chunk's
        rows in float32 before the chunks merge in float64, and its rounding
        grows with those rows (about ``sqrt(n) eps``, 6e-5 at 1 Mi), so
        longer chunks would spend the 1e-4 that float32 fits are held to.
        On the CPU a chunk of 64 MiB keeps the batched products at BLAS rate
        without swamping the cache hierarchy.
        """
        torch = _torch()
        dev = torch.device(device) if device is not None else torch.device("cpu")
        if dev.type == "cuda":
            free, _ = torch.cuda.mem_get_info(dev)
            return free // 4, 1 << 20
        return 64 * 2**20, 1 << 18

    def prepare(self, eparams):
        return {}  # filled per (device, dtype) on the first chunk of the pass

    def device_params(self, X, eparams):
        """:class:`_DeviceParams` for ``X``, cached in the pass's plan when this kernel made it."""
        cache = eparams.plan if eparams.kernel is self and isinstance(eparams.plan, dict) else {}
        key = (str(X.device), X.dtype)
        if key not in cache:
            _warn_if_tf32(X)
            cache[key] = _DeviceParams(eparams, X.device, X.dtype)
        return cache[key]

    # -- the E-step ------------------------------------------------------------
    def weighted_log_prob(self, X, eparams):
        torch = _torch()
        p = self.device_params(X, eparams)
        if p.matrix:
            diff = X.unsqueeze(0) - p.means.unsqueeze(1)  # (K, n, d)
            diff.sub_(p.residual.unsqueeze(1))
            y = torch.matmul(diff, p.prec_chol)  # batched, or broadcast for a shared factor
            del diff
            sq = y.square_().sum(dim=2)  # (K, n)
            return p.log_norm - 0.5 * sq.T
        z = X.to(torch.float64) - p.origin
        sq = torch.addmm(p.offset, z * z, p.diag64.T)
        sq = torch.addmm(sq, z, p.pm.T, alpha=-2.0).clamp_min_(0.0)
        return (p.log_norm64 - 0.5 * sq).to(X.dtype)

    def log_resp(self, wlp):
        """``(log p(x_i), log r_ik)``; a row whose densities all underflowed gets -inf and 1/K."""
        torch = _torch()
        log_prob_norm = torch.logsumexp(wlp, dim=1)
        finite = torch.isfinite(log_prob_norm).unsqueeze(1)
        log_resp = torch.where(finite, wlp - log_prob_norm.unsqueeze(1),
                               torch.full_like(wlp, -math.log(wlp.shape[1])))
        return log_prob_norm, log_resp

    def e_step(self, X, eparams, with_resp=True):
        log_prob_norm, log_resp = self.log_resp(self.weighted_log_prob(X, eparams))
        return log_prob_norm, log_resp.exp_() if with_resp else None

    # -- the statistics --------------------------------------------------------
    def accumulate(self, X, resp, sample_weight, kind):
        if kind not in ("full", "diag", "pooled"):
            raise ValueError(f"kind must be one of ('full', 'diag', 'pooled'), got {kind!r}")
        torch = _torch()
        f64 = torch.float64
        wr = resp.to(device=X.device, dtype=f64)
        if sample_weight is not None:
            wr = wr * torch.as_tensor(sample_weight).to(device=X.device, dtype=f64).unsqueeze(1)
        # Rows of no weight are zeroed, so that 0 * inf adds no NaN.
        keep = (wr > 0).any(dim=1, keepdim=True)
        Xc = torch.where(keep, X, torch.zeros((), dtype=X.dtype, device=X.device))
        X64 = Xc.to(f64)
        nk = wr.sum(dim=0)
        safe = torch.where(nk > 0, nk, torch.ones_like(nk)).unsqueeze(1)
        means = (wr.T @ X64) / safe  # (K, d), 0 where n_k is 0
        if kind == "pooled" and wr.shape[1] ** 2 * X.shape[1] <= PAIRWISE_LIMIT:
            return SuffStats(nk, means, pooled_scatter(X64, wr, means).unsqueeze(0))
        c = means.to(X.dtype)  # the chunk's dtype: (x - c_k) is exact near the component
        delta = means - c.to(f64)  # what the rounding of c_k left
        diff = Xc.unsqueeze(0) - c.unsqueeze(1)  # (K, n, d), chunk dtype
        wt = wr.T.to(X.dtype).unsqueeze(2)  # (K, n, 1)
        if kind == "diag":
            raw = torch.bmm(wt.transpose(1, 2), diff.square_()).squeeze(1).to(f64)  # (K, d)
            scatter = (raw - nk.unsqueeze(1) * delta * delta).clamp_min_(0.0)
        else:
            raw = torch.bmm((diff * wt).transpose(1, 2), diff).to(f64)  # (K, d, d)
            scatter = raw - nk.view(-1, 1, 1) * delta.unsqueeze(2) * delta.unsqueeze(1)
            scatter = 0.5 * (scatter + scatter.transpose(1, 2))
            if kind == "pooled":  # too many components for the pairwise form
                scatter = scatter.sum(dim=0, keepdim=True)
        return SuffStats(nk, means, scatter)

    def statistics(self, X, sample_weight, eparams, scatter):
        """The fused map of one iteration: one E-step, the statistics, ``sum_i w_i log p(x_i)``."""
        torch = _torch()
        log_prob_norm, log_resp = self.log_resp(self.weighted_log_prob(X, eparams))
        resp = log_resp.exp_()
        lp = log_prob_norm.to(torch.float64)
        if sample_weight is None:
            weight = torch.full((), float(X.shape[0]), dtype=torch.float64, device=X.device)
        else:
            w64 = torch.as_tensor(sample_weight).to(device=X.device, dtype=torch.float64)
            lp = torch.where(w64 > 0, lp * w64, torch.zeros_like(lp))
            weight = w64.sum()
        return self.accumulate(X, resp, sample_weight, scatter), lp.sum(), weight


KERNEL = TorchKernel()
