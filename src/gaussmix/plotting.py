"""Figures of Gaussian mixtures, with matplotlib (``pip install 'gaussmix[plot]'``).

Every function draws on a given ``ax`` (or makes a new figure without
pyplot, so no display is needed) and returns the figure. Nothing in the rest
of gaussmix imports this module.
"""

from __future__ import annotations

import numpy as np

_COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
_MARKERS = "os^vD<>ph*XP"


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "gaussmix's figures need matplotlib: pip install 'gaussmix[plot]'"
        ) from None


def _new_axes(ax, figsize=(6.4, 4.8), ncols=1):
    _require_matplotlib()
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _color(k):
    return _COLORS[k % len(_COLORS)]


def _full_covariances(gm):
    """Each component's covariance as a (d, d) matrix, whatever the model."""
    from .models import get_model, sklearn_names
    from .structures import STRUCTURES

    K, d = gm.means_.shape
    if gm.covariance_type not in sklearn_names():
        return np.asarray(gm.covariances_)  # mclust codes: (K, d, d) already
    structure = STRUCTURES[get_model(gm.covariance_type)[0].structure]
    return structure.to_full(gm.covariances_, K, d)


def _names(gm, feature_names, d):
    if feature_names is not None:
        return list(feature_names)
    if hasattr(gm, "feature_names_in_"):
        return [str(f) for f in gm.feature_names_in_]
    return [f"x{j}" for j in range(d)]


def plot_density(gm, X, feature=0, ax=None, bins="auto", feature_names=None):
    """A histogram of one feature with each weighted component and the mixture.

    For more than one feature the curves are the mixture's marginal on
    ``feature``: ``sum_k pi_k N(x | mu_kj, Sigma_k[j, j])``.
    """
    from scipy.stats import norm

    fig, ax = _new_axes(ax)
    X = np.asarray(X, dtype=float)
    x = X[:, feature]
    cov = _full_covariances(gm)
    sd = np.sqrt(cov[:, feature, feature])
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    ax.hist(x, bins=bins, density=True, color="0.85", edgecolor="0.6", label="data")
    total = np.zeros_like(grid)
    # Colours follow the component index, as in the other figures.
    for k in np.argsort(gm.means_[:, feature]):
        curve = gm.weights_[k] * norm.pdf(grid, gm.means_[k, feature], sd[k])
        total += curve
        ax.plot(grid, curve, "--", color=_color(k), lw=1.8, zorder=3,
                label=f"component {k}: pi={gm.weights_[k]:.2f}")
    ax.plot(grid, total, color="black", lw=2, zorder=2, label="mixture")
    ax.set_xlabel(_names(gm, feature_names, X.shape[1])[feature])
    ax.set_ylabel("density")
    ax.set_title(f"{gm.n_components}-component mixture ({gm.covariance_type})")
    ax.legend(fontsize="small", frameon=False)
    return fig


def _ellipse(ax, mean, cov, n_std, color, **kw):
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
    w, h = 2 * n_std * np.sqrt(np.maximum(vals[::-1], 0))
    ax.add_patch(Ellipse(mean, w, h, angle=angle, fill=False, color=color, **kw))


def _point_colors(gm, X, soft):
    resp = gm.predict_proba(X)
    palette = np.array([_hex_to_rgb(_color(k)) for k in range(gm.n_components)])
    if soft:
        return np.clip(resp @ palette, 0, 1)
    return palette[resp.argmax(axis=1)]


def _hex_to_rgb(h):
    return [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]


def plot_clusters(gm, X, features=(0, 1), ax=None, soft=False, feature_names=None, title=None):
    """Two features: points coloured by component, 1 and 2 sigma ellipses.

    ``soft=False`` colours each point by its most probable component (hard
    assignment); ``soft=True`` blends the components' colours by the
    responsibilities, so points between components look mixed.
    """
    fig, ax = _new_axes(ax)
    colors = _point_colors(gm, X, soft)  # X as given, so that feature names match
    X = np.asarray(X, dtype=float)
    i, j = features
    names = _names(gm, feature_names, X.shape[1])
    ax.scatter(X[:, i], X[:, j], c=colors, s=14, alpha=0.8, linewidths=0)
    cov = _full_covariances(gm)
    for k in range(gm.n_components):
        sub = cov[k][np.ix_([i, j], [i, j])]
        mean = gm.means_[k, [i, j]]
        _ellipse(ax, mean, sub, 1.0, _color(k), lw=2)
        _ellipse(ax, mean, sub, 2.0, _color(k), lw=1, ls="--")
        ax.plot(*mean, "x", color="black", ms=8)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    kind = "soft (blended by responsibility)" if soft else "hard (most probable component)"
    ax.set_title(f"{kind}; ellipses at 1 and 2 sigma" if title is None else title, fontsize="medium")
    return fig


def plot_pairs(gm, X, soft=False, feature_names=None):
    """Every pair of features (clusters and ellipses), densities on the diagonal."""
    _require_matplotlib()
    from matplotlib.figure import Figure

    d = np.shape(X)[1]
    names = _names(gm, feature_names, d)
    fig = Figure(figsize=(2.6 * d, 2.6 * d), layout="constrained")
    axes = fig.subplots(d, d, squeeze=False)
    for a in range(d):
        for b in range(d):
            ax = axes[a, b]
            if a == b:
                plot_density(gm, X, feature=a, ax=ax, feature_names=names)
                ax.get_legend().remove()
                ax.set_title("")
            else:
                plot_clusters(gm, X, features=(b, a), ax=ax, soft=soft, feature_names=names, title="")
            ax.set_xlabel(names[b] if a == d - 1 else "")
            ax.set_ylabel(names[a] if b == 0 else "")
            ax.tick_params(labelsize="x-small")
    fig.suptitle(f"{gm.n_components}-component {gm.covariance_type} mixture, all pairs of features")
    return fig


def plot_criterion(result, criterion="bic", ax=None):
    """BIC (or ICL) against K, one line per covariance model, as mclust draws it.

    gaussmix's sign: lower is better (mclust's plot shows the negative).
    """
    fig, ax = _new_axes(ax, figsize=(8, 5))
    table = getattr(result, f"{criterion}_")
    ks = result.n_components
    for j, code in enumerate(result.covariance_types):
        ax.plot(ks, table[:, j], marker=_MARKERS[j % len(_MARKERS)], color=_color(j),
                ls="-" if j < 10 else "--", label=code, ms=5)
    (best_k, best_code), best_value = result.ranking(criterion, 1)[0]
    ax.plot([best_k], [best_value], "o", ms=14, mfc="none", mec="black", mew=2)
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_title(f"{criterion.upper()} per covariance model; best: {best_code}, K={best_k}")
    ax.set_xticks(ks)
    ax.legend(ncol=2, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_bootstrap_lrt(result, tests=None, axes=None):
    """Each bootstrap LRT distribution, with its observed statistic, as mclust's plot.

    A density histogram of the bootstrap statistics of each test, a dotted
    vertical line at the observed statistic, and the test and its p-value in
    the title.

    Parameters
    ----------
    result : BootstrapLRTResult
        What :func:`gaussmix.bootstrap_lrt` returned.
    tests : iterable of int, default=None
        The G of the tests to draw (G against G + 1); all by default.
    axes : sequence of matplotlib Axes, default=None
        One per test drawn; a new figure with a row of panels by default.
    """
    tests = list(result.n_components if tests is None else tests)
    unknown = [G for G in tests if G not in set(result.n_components.tolist())]
    if unknown or not tests:
        raise ValueError(
            f"tests must be among the tests run, {result.n_components.tolist()}; got {tests}."
        )
    if axes is None:
        fig, axes = _new_axes(None, figsize=(4.0 * len(tests), 3.6), ncols=len(tests))
        axes = np.atleast_1d(axes)
    else:
        _require_matplotlib()
        axes = np.atleast_1d(axes)
        if len(axes) != len(tests):
            raise ValueError(f"axes must hold one Axes per test ({len(tests)}), got {len(axes)}.")
        fig = axes[0].figure
    for ax, G in zip(axes, tests):
        j = int(np.flatnonzero(result.n_components == G)[0])
        values, observed = result.bootstrap_[:, j], result.statistics_[j]
        # The observed statistic may lie far out in the tail: keep it in view.
        low, high = min(values.min(), observed), max(values.max(), observed)
        pad = 0.05 * (high - low or 1.0)
        ax.hist(values, bins="scott", density=True, color="0.75", edgecolor="0.85")
        ax.axvline(observed, color="forestgreen", linestyle=":", linewidth=2,
                   label=f"observed {observed:.4g}")
        ax.set_xlim(low - pad, high + pad)
        ax.set_xlabel("LRTS")
        ax.set_ylabel("density")
        ax.set_title(f"{result.covariance_type}: {G} vs {G + 1} components, "
                     f"p = {result.p_values_[j]:.3g}", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_loglik(gm, ax=None):
    """The mean log-likelihood per sample at every EM iteration."""
    fig, ax = _new_axes(ax)
    trace = np.asarray(gm.lower_bounds_)
    ax.plot(np.arange(1, trace.size + 1), trace, "o-", color=_color(0), ms=4)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per sample")
    status = "converged" if getattr(gm, "converged_", False) else "not converged"
    ax.set_title(f"EM: {trace.size} iterations, {status}")
    return fig


def plot_uncertainty(gm, X, features=(0, 1), ax=None, feature_names=None):
    """Points sized by their classification uncertainty ``1 - max_k r_ik``."""
    fig, ax = _new_axes(ax)
    resp = gm.predict_proba(X)
    X = np.asarray(X, dtype=float)
    i, j = features
    uncertainty = 1.0 - resp.max(axis=1)
    labels = resp.argmax(axis=1)
    order = np.argsort(uncertainty)
    size = 8 + 300 * uncertainty[order] / max(uncertainty.max(), 1e-12)
    ax.scatter(X[order, i], X[order, j], s=size, c=[_color(k) for k in labels[order]],
               alpha=0.7, edgecolors="black", linewidths=0.3)
    names = _names(gm, feature_names, X.shape[1])
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    ax.set_title(f"uncertainty 1 - max responsibility (largest: {uncertainty.max():.2f})",
                 fontsize="medium")
    return fig


def elongated_clusters(n_per=200, random_state=0):
    """Two long, parallel, tilted clusters: where k-means and a GMM disagree."""
    rng = np.random.default_rng(random_state)
    base = rng.normal(size=(2 * n_per, 2)) * [2.5, 0.3]
    base[n_per:, 1] += 3.0
    theta = np.radians(30)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return base @ rot.T, np.repeat([0, 1], n_per)


def plot_kmeans_vs_gmm(X=None, labels=None, n_components=2, random_state=0):
    """k-means and a full-covariance GMM side by side.

    k-means assigns by Euclidean distance to the centres; the mixture by
    Mahalanobis distance with each component's covariance. With ``X=None``
    the data are two elongated clusters (:func:`elongated_clusters`).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from .estimators import GaussianMixture

    _require_matplotlib()
    from matplotlib.figure import Figure

    if X is None:
        X, labels = elongated_clusters(random_state=random_state)
    X = np.asarray(X, dtype=float)
    km = KMeans(n_components, n_init=10, random_state=random_state).fit(X)
    # Started from k-means' own partition, EM stays in k-means' answer; five
    # starts from random rows let it find the elongated components.
    gm = GaussianMixture(
        n_components, init_params="random_from_data", n_init=5, random_state=random_state
    ).fit(X)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax_km, ax_gm = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, name, lab in ((ax_km, "k-means", km.labels_), (ax_gm, "Gaussian mixture", gm.predict(X))):
        ax.scatter(X[:, 0], X[:, 1], c=[_color(k) for k in lab], s=12, linewidths=0)
        score = "" if labels is None else f", ARI {round(adjusted_rand_score(labels, lab), 2) + 0.0:.2f}"
        ax.set_title(f"{name}{score}")
        ax.set_aspect("equal", adjustable="box")
    for k, c in enumerate(km.cluster_centers_):
        ax_km.plot(*c, "x", color="black", ms=10, mew=2)
    cov = _full_covariances(gm)
    for k in range(n_components):
        _ellipse(ax_gm, gm.means_[k], cov[k], 1.0, _color(k), lw=2)
        _ellipse(ax_gm, gm.means_[k], cov[k], 2.0, _color(k), lw=1, ls="--")
    fig.suptitle("Euclidean (k-means) against Mahalanobis (GMM) distance on elongated clusters")
    return fig


def plot_imputation(X_true, X_holes, imputations, features=(0, 1), feature_names=None):
    """Imputed values against the truth, one panel per method.

    ``imputations`` maps a method's name to its completed copy of
    ``X_holes``. Each panel draws the rows complete in ``features`` in grey,
    and each row with a hole there as its true point (hollow) joined to its
    imputed one (filled); the title gives the root-mean-square error over
    every removed cell of every feature.
    """
    X_true, X_holes = np.asarray(X_true), np.asarray(X_holes)
    fig, axes = _new_axes(None, figsize=(5.2 * len(imputations), 4.6), ncols=len(imputations))
    axes = np.atleast_1d(axes)
    i, j = features
    holes = np.isnan(X_holes)
    touched = holes[:, [i, j]].any(axis=1)
    names = feature_names or [f"x{k}" for k in range(X_true.shape[1])]
    for ax, (name, filled) in zip(axes, imputations.items()):
        filled = np.asarray(filled)
        rmse = float(np.sqrt(np.mean((filled[holes] - X_true[holes]) ** 2)))
        ax.scatter(X_true[~touched, i], X_true[~touched, j], s=10, color="#bbbbbb", label="observed")
        for a, b in zip(X_true[touched], filled[touched]):
            ax.plot([a[i], b[i]], [a[j], b[j]], color=_color(3), lw=0.7, alpha=0.6)
        ax.scatter(X_true[touched, i], X_true[touched, j], s=22, facecolors="none",
                   edgecolors="black", label="true value")
        ax.scatter(filled[touched, i], filled[touched, j], s=16, color=_color(3), label="imputed")
        ax.set_title(f"{name}: RMS error {rmse:.3f}")
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.legend(loc="upper left", fontsize=8)
    return fig


def save_figure(fig, path, dpi=110):
    """Write a figure as PNG, atomically."""
    from .io.atomic import atomic_write

    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
    return path
