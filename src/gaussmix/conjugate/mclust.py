r"""mclust's MAP M-steps, as its EM routines (``me*p`` in mclust's Fortran) compute them.

Each is the model's maximum-likelihood M-step on augmented statistics
(``conjugate.exact.augment``): the counts ``n_k + c_k``, the shrunk means,
and the scatter ``S_k + kappa_P n_k/(kappa_P + n_k) d_k d_k^T`` plus the
prior's scale, each as mclust adds it. With ``m = [kappa_P > 0]``,
``p`` features and ``G`` components, mclust 6's EM M-steps are:

===== ================================== =============== ===============================
model count added to each ``n_k``        scale added     departure from the exact MAP
===== ================================== =============== ===============================
E     ``1 + (nu + 2)/G``                 once            counts the means' prior when
                                                         ``kappa_P = 0``
V     ``nu + 3``                         each            the same
EII   ``1 + (nu + 2)/(p G)``             never           leaves the scale out
VII   ``m + (nu + 2)/p``                 each (``/p``)   none
EEI   ``(nu + 1 + m)/G``                 once            means not shrunk; ``nu + 1``;
                                                         the means' prior counted once
VEI   ``(nu + 2 + m)/p``                 each            ``p n_k + nu + 2 + m``
EVI   ``(nu + 1 + m)/G``                 each            ``nu + 1 + m`` once, scale G times
VVI   ``m + nu + 2``                     each            none
EEE   ``m + (nu + p + 1)/G``             once            none
EEV   ``(nu + p + 1 + m)/G``             each            dof once, scale G times
VEV   ``0``                              each            no dof, no count for the means
VVV   ``nu + p + 2``                     each            counts the means' prior when
                                                         ``kappa_P = 0``
===== ================================== =============== ===============================

"Each" adds ``Lambda_P`` (or ``varsigma_P^2`` per variance) to every
component's scatter; "once" to their sum. The counts are in units of
``log |Sigma_k|`` (``conjugate.exact``), so that, for example, VII's
``m + (nu + 2)/p`` is mclust's denominator ``nu + p n_k + 2 + p m``. VEI
and VEV iterate as the maximum-likelihood M-steps do, to convergence,
from the previous covariances, where mclust stops its inner loop at a
relative change of ``sqrt(eps)``. With one component, mclust fits each family by one routine (``mvn*p``),
whatever the model, and these are the exact MAP. mclust's stand-alone ``mstep()``
differs from its EM's M-step for EII, EEI, EVI and EEV (and for E, V and
VVV when ``kappa_P = 0``); gaussmix follows the EM, which is what
``me()``, ``Mclust`` and ``mclustBIC`` fit. ``docs/map-em.md`` gives the
exact MAP of each model and the sources.
"""

from __future__ import annotations

from .exact import augment
from .mstep import MapMStep


def _step(count, share="each", shrink_means=True, scale_in_objective=True):
    """A ``MapMStep`` whose augmentation adds ``count(prior, p, G)`` to each ``n_k``."""

    def augmented(stats, prior, model):
        G, p = stats.means.shape
        return augment(stats, prior, count(prior, p, G), share, shrink_means)

    return MapMStep(augment=augmented, scale_in_objective=scale_in_objective)


def _m(prior):
    return 1.0 if prior.shrinkage > 0.0 else 0.0


#: mclust's EM M-step with a prior, by model code (the 12 models it fits
#: with a prior; it refuses EVE, VEE, VVE and EVV).
M_STEPS = {
    "E": _step(lambda q, p, G: 1.0 + (q.dof + 2.0) / G, share="once"),
    "V": _step(lambda q, p, G: q.dof + 3.0),
    "EII": _step(lambda q, p, G: 1.0 + (q.dof + 2.0) / (p * G), share="none", scale_in_objective=False),
    "VII": _step(lambda q, p, G: _m(q) + (q.dof + 2.0) / p),
    "EEI": _step(lambda q, p, G: (q.dof + 1.0 + _m(q)) / G, share="once", shrink_means=False),
    "VEI": _step(lambda q, p, G: (q.dof + 2.0 + _m(q)) / p),
    "EVI": _step(lambda q, p, G: (q.dof + 1.0 + _m(q)) / G),
    "VVI": _step(lambda q, p, G: _m(q) + q.dof + 2.0),
    "EEE": _step(lambda q, p, G: _m(q) + (q.dof + p + 1.0) / G, share="once"),
    "EEV": _step(lambda q, p, G: (q.dof + p + 1.0 + _m(q)) / G),
    "VEV": _step(lambda q, p, G: 0.0),
    "VVV": _step(lambda q, p, G: q.dof + p + 2.0),
}
