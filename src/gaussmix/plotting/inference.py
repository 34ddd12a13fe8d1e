"""Figures of what is inferred from mixtures: a classifier's regions, a bootstrap test's distributions."""

from __future__ import annotations

import numpy as np

from .base import MARKERS, NOISE_COLOR, color, ellipse, feature_names_of, full_covariances, new_axes, require_matplotlib


def marginal_log_density(gm, points, features):
    """``log f(x)`` of a mixture's marginal on two features (a mixture of 2-D Gaussians)."""
    cov = full_covariances(gm)[:, features][:, :, features]
    diff = points[None, :, :] - np.asarray(gm.means_)[:, None, features]  # (K, n, 2)
    inv = np.linalg.inv(cov)
    quad = np.einsum("kni,kij,knj->kn", diff, inv, diff)
    logdet = np.linalg.slogdet(cov)[1]
    log_comp = np.log(gm.weights_)[:, None] - 0.5 * (quad + logdet[:, None] + 2 * np.log(2 * np.pi))
    top = log_comp.max(axis=0)
    return top + np.log(np.exp(log_comp - top).sum(axis=0))


def plot_classifier(clf, X, y=None, features=(0, 1), ax=None, feature_names=None, resolution=200, title=None):
    """Two features of a fitted GaussianMixtureClassifier: class regions, mixtures, rows.

    The shaded regions are where each class has the highest posterior
    ``p_c f_c(x)`` under the classes' marginal densities on the two features
    (exact when the classifier has only these two); each class's mixture
    components are drawn as 2-sigma ellipses in its colour, and the rows as
    points coloured by ``y`` (by the prediction if ``y`` is None), with a
    ring around the rows the classifier gets wrong. Rows labelled -1
    (unlabelled, as in a semi-supervised fit) are grey crosses.
    """
    fig, ax = new_axes(ax)
    from matplotlib.colors import ListedColormap

    predicted = clf.predict(X)
    X = np.asarray(X, dtype=float)
    classes = list(clf.classes_)
    given = predicted if y is None else np.asarray(y)
    # -1: an unlabelled row (unless -1 is a class), drawn apart and never counted wrong.
    unlabelled = np.zeros(len(given), dtype=bool) if -1 in classes else np.asarray(
        [isinstance(v, (int, np.integer)) and v == -1 for v in given])
    index = np.array([-1 if u else classes.index(v) for v, u in zip(given, unlabelled)])
    f = list(features)
    low, high = X[:, f].min(axis=0), X[:, f].max(axis=0)
    pad = 0.08 * (high - low)
    gx, gy = np.meshgrid(*(np.linspace(a - p, b + p, resolution) for a, b, p in zip(low, high, pad)))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    with np.errstate(divide="ignore"):
        joint = np.array([marginal_log_density(m, grid, f) for m in clf.mixtures_]) + np.log(clf.priors_)[:, None]
    region = joint.argmax(axis=0).reshape(gx.shape)
    cmap = ListedColormap([color(c) for c in range(len(classes))])
    ax.contourf(gx, gy, region, levels=np.arange(len(classes) + 1) - 0.5, cmap=cmap, alpha=0.15)
    ax.contour(gx, gy, region, levels=np.arange(len(classes)) + 0.5, colors="0.3", linewidths=0.8)
    for c, (label, mixture) in enumerate(zip(classes, clf.mixtures_)):
        rows = index == c
        ax.scatter(X[rows, f[0]], X[rows, f[1]], s=14, color=color(c), marker=MARKERS[c % len(MARKERS)],
                   label=str(label), linewidths=0)
        cov = full_covariances(mixture)
        for k in range(mixture.n_components):
            ellipse(ax, mixture.means_[k, f], cov[k][np.ix_(f, f)], 2.0, color(c), lw=1.2)
    if unlabelled.any():
        ax.scatter(X[unlabelled, f[0]], X[unlabelled, f[1]], s=14, color=NOISE_COLOR, marker="x",
                   linewidths=0.8, label="unlabelled")
    wrong = (predicted != given) & ~unlabelled
    ax.scatter(X[wrong, f[0]], X[wrong, f[1]], s=60, facecolors="none", edgecolors="black", linewidths=0.8)
    names = feature_names_of(clf, feature_names, X.shape[1])
    ax.set_xlabel(names[f[0]])
    ax.set_ylabel(names[f[1]])
    ax.legend(fontsize="small", title="class")
    if title is None:
        title = ", ".join(f"{label}: {code},{K}" for label, code, K in
                          zip(classes, clf.covariance_types_, clf.n_components_))
        rows = "labelled rows" if unlabelled.any() else "rows"
        title += f"; {int(wrong.sum())} of {int(np.sum(~unlabelled))} {rows} misclassified"
    ax.set_title(title, fontsize="medium")
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
        fig, axes = new_axes(None, figsize=(4.0 * len(tests), 3.6), ncols=len(tests))
        axes = np.atleast_1d(axes)
    else:
        require_matplotlib()
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
