"""The reference kernel: the definitions of ``engine.estep`` and ``engine.stats``, any namespace.

It forms (K, n, d) blocks, so it is not a fast path: it runs the chunks of
array libraries that no other kernel takes (``array_api_strict``, say), and
it is what the tests hold every other kernel to.
"""

from __future__ import annotations

from ..estep import weighted_log_prob_reference
from ..stats import accumulate_reference
from .base import Kernel


class ReferenceKernel(Kernel):
    """The array-API reference: any namespace, any floating dtype, every structure."""

    name = "reference"
    namespaces = ("*",)
    dtypes = ("float16", "float32", "float64")

    def weighted_log_prob(self, X, eparams):
        return weighted_log_prob_reference(X, eparams)

    def accumulate(self, X, resp, sample_weight, kind):
        return accumulate_reference(X, resp, sample_weight, kind)


KERNEL = ReferenceKernel()
