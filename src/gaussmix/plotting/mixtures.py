"""Figures of a fitted mixture: densities, clusters, criteria, traces, imputations, outliers."""

from __future__ import annotations

import numpy as np

from .base import (MARKERS, NOISE_COLOR, color, ellipse, feature_names_of,
                   full_covariances, new_axes, palette, point_colors, require_matplotlib)


def plot_density(gm, X, feature=0, ax=None, bins="auto", feature_names=None):
    """A histogram of one feature with each weighted component and the mixture.

    For more than one feature the curves are the mixture's marginal on
    ``feature``: ``sum_k pi_k N(x | mu_kj, Sigma_k[j, j])``. A noise
    component is drawn, and added, in one dimension only, where it is
    uniform over the data's range.
    """
    from scipy.stats import norm

    fig, ax = new_axes(ax)
    X = np.asarray(X, dtype=float)
    x = X[:, feature]
    cov = full_covariances(gm)
    sd = np.sqrt(cov[:, feature, feature])
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    ax.hist(x, bins=bins, density=True, color="0.85", edgecolor="0.6", label="data")
    total = np.zeros_like(grid)
    # Colours follow the component index, as in the other figures.
    for k in np.argsort(gm.means_[:, feature]):
        curve = gm.weights_[k] * norm.pdf(grid, gm.means_[k, feature], sd[k])
        total += curve
        ax.plot(grid, curve, "--", color=color(k), lw=1.8, zorder=3,
                label=f"component {k}: pi={gm.weights_[k]:.2f}")
    label = "mixture"
    if getattr(gm, "has_noise", False):
        if X.shape[1] == 1:  # in one dimension the noise is uniform over the data's range
            noise = np.full_like(grid, gm.noise_weight_ * gm.noise_density_)
            total += noise
            ax.plot(grid, noise, ":", color=NOISE_COLOR, lw=1.8, label=f"noise: pi={gm.noise_weight_:.2f}")
        else:  # its marginal on one feature depends on the box it spans
            label = f"Gaussians (without the noise's {gm.noise_weight_:.2f})"
    ax.plot(grid, total, color="black", lw=2, zorder=2, label=label)
    ax.set_xlabel(feature_names_of(gm, feature_names, X.shape[1])[feature])
    ax.set_ylabel("density")
    ax.set_title(f"{gm.n_components}-component mixture ({gm.covariance_type})")
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_clusters(gm, X, features=(0, 1), ax=None, soft=False, feature_names=None, title=None):
    """Two features: points coloured by component, 1 and 2 sigma ellipses.

    ``soft=False`` colours each point by its most probable component (hard
    assignment); ``soft=True`` blends the components' colours by the
    responsibilities, so points between components look mixed.
    """
    fig, ax = new_axes(ax)
    colors = point_colors(gm, X, soft)  # X as given, so that feature names match
    noise = gm.predict(X) == -1 if getattr(gm, "has_noise", False) else np.zeros(np.shape(X)[0], dtype=bool)
    X = np.asarray(X, dtype=float)
    i, j = features
    names = feature_names_of(gm, feature_names, X.shape[1])
    ax.scatter(X[~noise, i], X[~noise, j], c=colors[~noise], s=14, alpha=0.8, linewidths=0)
    if noise.any():  # drawn apart: grey crosses, not a cluster's dots
        ax.scatter(X[noise, i], X[noise, j], c=colors[noise] if soft else NOISE_COLOR, marker="x", s=16,
                   linewidths=0.9, alpha=0.8, label=f"noise ({np.count_nonzero(noise)} rows)")
        ax.legend(fontsize="small", frameon=False, loc="best")
    cov = full_covariances(gm)
    for k in range(gm.n_components):
        sub = cov[k][np.ix_([i, j], [i, j])]
        mean = gm.means_[k, [i, j]]
        ellipse(ax, mean, sub, 1.0, color(k), lw=2)
        ellipse(ax, mean, sub, 2.0, color(k), lw=1, ls="--")
        ax.plot(*mean, "x", color="black", ms=8)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    kind = "soft (blended by responsibility)" if soft else "hard (most probable component)"
    ax.set_title(f"{kind}; ellipses at 1 and 2 sigma" if title is None else title, fontsize="medium")
    return fig


def plot_pairs(gm, X, soft=False, feature_names=None):
    """Every pair of features (clusters and ellipses), densities on the diagonal."""
    require_matplotlib()
    from matplotlib.figure import Figure

    d = np.shape(X)[1]
    names = feature_names_of(gm, feature_names, d)
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
    fig, ax = new_axes(ax, figsize=(8, 5))
    table = getattr(result, f"{criterion}_")
    ks = result.n_components
    for j, code in enumerate(result.covariance_types):
        ax.plot(ks, table[:, j], marker=MARKERS[j % len(MARKERS)], color=color(j),
                ls="-" if j < 10 else "--", label=code, ms=5)
    (best_k, best_code), best_value = result.ranking(criterion, 1)[0]
    ax.plot([best_k], [best_value], "o", ms=14, mfc="none", mec="black", mew=2)
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_title(f"{criterion.upper()} per covariance model; best: {best_code}, K={best_k}")
    ax.set_xticks(ks)
    ax.legend(ncol=2, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_loglik(gm, ax=None):
    """The mean log-likelihood per sample at every EM iteration."""
    fig, ax = new_axes(ax)
    trace = np.asarray(gm.lower_bounds_)
    ax.plot(np.arange(1, trace.size + 1), trace, "o-", color=color(0), ms=4)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per sample")
    status = "converged" if getattr(gm, "converged_", False) else "not converged"
    ax.set_title(f"EM: {trace.size} iterations, {status}")
    return fig


def plot_uncertainty(gm, X, features=(0, 1), ax=None, feature_names=None):
    """Points sized by their classification uncertainty ``1 - max_k r_ik``."""
    fig, ax = new_axes(ax)
    resp = gm.predict_proba(X)
    X = np.asarray(X, dtype=float)
    i, j = features
    uncertainty = 1.0 - resp.max(axis=1)
    labels = resp.argmax(axis=1)
    order = np.argsort(uncertainty)
    size = 8 + 300 * uncertainty[order] / max(uncertainty.max(), 1e-12)
    ax.scatter(X[order, i], X[order, j], s=size, c=palette(gm)[labels[order]],
               alpha=0.7, edgecolors="black", linewidths=0.3)
    names = feature_names_of(gm, feature_names, X.shape[1])
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

    from ..estimators import GaussianMixture

    require_matplotlib()
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
        ax.scatter(X[:, 0], X[:, 1], c=[color(k) for k in lab], s=12, linewidths=0)
        score = "" if labels is None else f", ARI {round(adjusted_rand_score(labels, lab), 2) + 0.0:.2f}"
        ax.set_title(f"{name}{score}")
        ax.set_aspect("equal", adjustable="box")
    for k, c in enumerate(km.cluster_centers_):
        ax_km.plot(*c, "x", color="black", ms=10, mew=2)
    cov = full_covariances(gm)
    for k in range(n_components):
        ellipse(ax_gm, gm.means_[k], cov[k], 1.0, color(k), lw=2)
        ellipse(ax_gm, gm.means_[k], cov[k], 2.0, color(k), lw=1, ls="--")
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
    fig, axes = new_axes(None, figsize=(5.2 * len(imputations), 4.6), ncols=len(imputations))
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
            ax.plot([a[i], b[i]], [a[j], b[j]], color=color(3), lw=0.7, alpha=0.6)
        ax.scatter(X_true[touched, i], X_true[touched, j], s=22, facecolors="none",
                   edgecolors="black", label="true value")
        ax.scatter(filled[touched, i], filled[touched, j], s=16, color=color(3), label="imputed")
        ax.set_title(f"{name}: RMS error {rmse:.3f}")
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_outliers(fits, X, features=(0, 1), feature_names=None):
    """One panel per fitted mixture of the same rows, for instance with and without noise.

    ``fits`` maps a title to a fitted mixture; each panel is
    :func:`plot_clusters` (hard labels, noise rows as grey crosses).
    """
    fig, axes = new_axes(None, figsize=(5.4 * len(fits), 4.6), ncols=len(fits))
    for ax, (title, gm) in zip(np.atleast_1d(axes), fits.items()):
        plot_clusters(gm, X, features=features, ax=ax, feature_names=feature_names, title=title)
    return fig
