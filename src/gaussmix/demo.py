"""The iris walk-through behind ``gaussmix demo``: what a GMM is, in text.

Each step fits a mixture and prints what the tutorials teach: components,
the EM trace, BIC, hard against soft assignment, GMM against k-means, and
missing values, and outliers with a noise component.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from .datasets import load_iris
from .estimators import GaussianMixture


def _species_of(labels, species):
    """The majority species of each fitted component, for display."""
    majority = {}
    for k in np.unique(labels):
        names, counts = np.unique(species[labels == k], return_counts=True)
        majority[k] = str(names[np.argmax(counts)])
    return majority


def _section(console, title, text):
    console.print()
    console.print(Panel(text, title=f"[bold]{title}[/bold]", expand=False))


def run_demo(console=None, seed=0, figures_dir=None):
    """Print the walk-through; return the numbers it reports (for tests).

    With ``figures_dir``, also write the walk-through's figures there (needs
    matplotlib) and list them in ``report["figures"]``.
    """
    console = console or Console()
    iris = load_iris()
    X, species, names = iris.data, iris.labels, iris.feature_names
    report = {}
    console.print(
        Panel(
            f"[bold]gaussmix demo[/bold]: Gaussian mixtures on the iris flowers\n"
            f"{X.shape[0]} flowers, {X.shape[1]} measurements ({', '.join(names)}), "
            f"3 species: {', '.join(np.unique(species))}.\n"
            "A Gaussian mixture says each flower comes from one of K bell curves, "
            "weighted pi_k,\nand EM finds them without ever seeing the species.",
            expand=False,
        )
    )

    # 1. One dimension ------------------------------------------------------
    width = X[:, [3]]
    gm1 = GaussianMixture(3, random_state=seed).fit(width)
    order = np.argsort(gm1.means_[:, 0])
    labels1 = gm1.predict(width)
    names1 = _species_of(labels1, species)
    _section(
        console,
        "1. A 1-D mixture of 3 Gaussians: petal width",
        "p(x) = sum_k pi_k N(x | mu_k, sigma_k^2). Each component: a weight, a mean, a variance.",
    )
    t = Table("component", "weight pi_k", "mean mu_k (cm)", "variance sigma_k^2", "mostly")
    for rank, k in enumerate(order):
        t.add_row(
            str(rank + 1), f"{gm1.weights_[k]:.3f}", f"{gm1.means_[k, 0]:.3f}",
            f"{gm1.covariances_[k, 0, 0]:.4f}", names1.get(k, "-"),
        )
    console.print(t)
    species_means = {s: width[species == s, 0].mean() for s in np.unique(species)}
    console.print(
        "Species' mean petal widths: "
        + ", ".join(f"{s} {m:.3f}" for s, m in species_means.items())
    )
    report["1d_means"] = sorted(gm1.means_[:, 0].tolist())

    # 2. Two dimensions -----------------------------------------------------
    petals = X[:, 2:4]
    gm2 = GaussianMixture(3, covariance_type="full", random_state=seed).fit(petals)
    labels2 = gm2.predict(petals)
    names2 = _species_of(labels2, species)
    _section(
        console,
        "2. A 2-D mixture: petal length and width",
        "Each component now has a mean vector and a 2x2 covariance matrix: its spread\n"
        "along each axis and the correlation that tilts its ellipse.",
    )
    t = Table("component", "weight", "mean (length, width)", "sd (length, width)", "correlation", "mostly")
    for k in np.argsort(gm2.means_[:, 0]):
        cov = gm2.covariances_[k]
        sd = np.sqrt(np.diag(cov))
        t.add_row(
            str(k), f"{gm2.weights_[k]:.3f}", f"({gm2.means_[k, 0]:.2f}, {gm2.means_[k, 1]:.2f})",
            f"({sd[0]:.2f}, {sd[1]:.2f})", f"{cov[0, 1] / (sd[0] * sd[1]):+.2f}", names2.get(k, "-"),
        )
    console.print(t)
    report["2d_ari"] = adjusted_rand_score(species, labels2)

    # 3. Four dimensions, EM step by step ------------------------------------
    gm4 = GaussianMixture(3, covariance_type="full", tol=1e-6, max_iter=500, random_state=seed).fit(X)
    n = X.shape[0]
    _section(
        console,
        "3. All 4 measurements, and EM step by step",
        "E-step: responsibilities r_ik = pi_k N(x_i | k) / p(x_i).\n"
        "M-step: pi_k, mu_k, Sigma_k from the r-weighted flowers.\n"
        "The log-likelihood sum_i log p(x_i) never goes down.",
    )
    t = Table("iteration", "log-likelihood", "change")
    trace = [lb * n for lb in gm4.lower_bounds_]
    shown = list(range(min(8, len(trace))))
    if len(trace) > 8:
        shown += list(range(max(8, len(trace) - 3), len(trace)))
    prev = None
    for i in shown:
        if prev is not None and i != prev + 1:
            t.add_row("...", "", "")
        change = "" if i == 0 else f"{trace[i] - trace[i - 1]:+.6f}"
        t.add_row(str(i + 1), f"{trace[i]:.6f}", change)
        prev = i
    console.print(t)
    console.print(
        f"Converged after {gm4.n_iter_} iterations: {gm4.converged_}. "
        f"Log-likelihood {gm4.score(X) * n:.2f}, {gm4.n_parameters()} free parameters, "
        f"BIC = -2 log L + p log n = {gm4.bic(X):.2f} (lower is better)."
    )
    t = Table("K", "BIC (full)", "BIC (diag)")
    bics = {}
    for K in range(1, 6):
        bics[K] = [
            GaussianMixture(K, covariance_type=ct, random_state=seed, n_init=3).fit(X).bic(X)
            for ct in ("full", "diag")
        ]
    best_k = min(bics, key=lambda K: bics[K][0])
    for K, (bf, bd) in bics.items():
        mark = " <- lowest" if K == best_k else ""
        t.add_row(str(K), f"{bf:.1f}{mark}", f"{bd:.1f}")
    console.print(t)
    console.print(
        f"BIC prefers K={best_k} with full covariances"
        + (
            ": versicolor and virginica overlap so much that, without the species, "
            "one ellipse covering both costs fewer parameters than it loses in fit."
            if best_k == 2
            else "."
        )
    )
    report["bic_best_k"] = best_k
    report["monotone"] = bool(np.all(np.diff(trace) >= -1e-9))

    # 4. Hard against soft --------------------------------------------------
    resp = gm4.predict_proba(X)
    labels4 = resp.argmax(axis=1)
    names4 = _species_of(labels4, species)
    confident = int(np.argmax(resp.max(axis=1)))
    unsure = np.argsort(resp.max(axis=1))[:4]
    _section(
        console,
        "4. Hard against soft assignment",
        "Soft: each flower's responsibilities, a probability per component.\n"
        "Hard: the component with the largest one (what predict returns).",
    )
    comp_order = np.argsort(gm4.means_[:, 2])
    t = Table("flower", "species", *[f"r({names4.get(k, k)})" for k in comp_order], "hard label")
    for i in [confident, *unsure]:
        t.add_row(
            str(i), str(species[i]), *[f"{resp[i, k]:.3f}" for k in comp_order],
            str(names4.get(labels4[i], labels4[i])),
        )
    console.print(t)
    n_unsure = int(np.sum(resp.max(axis=1) < 0.9))
    console.print(f"{n_unsure} of {n} flowers have no component above 0.9: hard labels hide that doubt.")
    report["n_unsure"] = n_unsure

    # 5. GMM against k-means --------------------------------------------------
    km = KMeans(3, n_init=10, random_state=seed).fit(X)
    ari_km = adjusted_rand_score(species, km.labels_)
    ari_gm = adjusted_rand_score(species, labels4)
    _section(
        console,
        "5. GMM against k-means",
        "k-means cuts space by Euclidean distance to centres (round, equal clusters);\n"
        "a GMM measures Mahalanobis distance with each component's covariance.",
    )
    t = Table("method", "agreement with species (adjusted Rand index)")
    t.add_row("k-means (K=3)", f"{ari_km:.3f}")
    t.add_row("Gaussian mixture (K=3, full)", f"{ari_gm:.3f}")
    console.print(t)
    report["ari_kmeans"], report["ari_gmm"] = ari_km, ari_gm
    console.print(
        "The elongated, tilted versicolor and virginica clouds suit the GMM's ellipses "
        "better than k-means' circles."
        if ari_gm > ari_km
        else "Here k-means matched the species as well as the mixture did."
    )
    holes, filled = _holes(console, X, species, seed, report)
    outliers = _outliers(console, X, species, seed, report)
    if figures_dir is not None:
        report["figures"] = _write_figures(
            console, figures_dir, seed, X, names, width, gm1, petals, gm2, gm4, (holes, filled), outliers
        )
    return report


def _outliers(console, X, species, seed, report):
    """7. Twenty uniform outliers: a mixture of Gaussians alone, and one with a noise component."""
    rng = np.random.default_rng(seed)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (high - low)
    noisy = np.vstack([X, rng.uniform(low - pad, high + pad, size=(20, X.shape[1]))])
    plain = GaussianMixture(3, n_init=5, random_state=seed).fit(noisy)
    noise = GaussianMixture(3, n_init=5, noise_init="knn", random_state=seed).fit(noisy)
    _section(
        console,
        "7. Outliers and a noise component",
        "20 points drawn uniformly over the flowers' range join the 150 flowers.\n"
        "Without help, the Gaussians must cover them too: their covariances swell.\n"
        "A noise component (a constant density over the data's volume; Banfield &\n"
        "Raftery) takes them instead. noise_init='knn' first deems noise the points\n"
        "far from their 5th nearest neighbour (Byers & Raftery).",
    )
    t = Table("model", "outliers labelled noise", "flowers labelled noise",
              "agreement with species (ARI, 150 flowers)")
    found = {}
    for name, gm in (("3 Gaussians", plain), ("3 Gaussians + noise", noise)):
        labels = gm.predict(noisy)
        found[name] = (int(np.sum(labels[150:] == -1)), int(np.sum(labels[:150] == -1)),
                       adjusted_rand_score(species, labels[:150]))
        t.add_row(name, f"{found[name][0]} of 20", f"{found[name][1]} of 150", f"{found[name][2]:.3f}")
    console.print(t)
    console.print(f"The noise component's weight is {noise.noise_weight_:.3f} (20 of 170 points is "
                  f"{20 / 170:.3f}); predict labels its points -1.")
    report["outliers_found"], report["flowers_as_noise"], report["ari_noise"] = found["3 Gaussians + noise"]
    report["ari_without_noise"] = found["3 Gaussians"][2]
    return noisy, {"3 Gaussians": plain, "3 Gaussians + a noise component": noise}


def _holes(console, X, species, seed, report):
    """6. A fifth of the measurements removed at random: fit what is left, and fill the holes."""
    rng = np.random.default_rng(seed)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.2] = np.nan
    missing = np.isnan(holes)
    gm = GaussianMixture(3, n_init=5, random_state=seed).fit(holes)
    column_means = np.nanmean(holes, axis=0)
    filled = {"mixture (E[x_missing | x_observed])": gm.impute(holes),
              "column means": np.where(missing, column_means, holes)}
    _section(
        console,
        "6. Holes in the data",
        f"{int(missing.sum())} of the {X.size} measurements ({missing.mean():.0%}) removed at random;\n"
        f"{int(missing.any(axis=1).sum())} flowers lost at least one. NaN means missing: EM fits the\n"
        "density of what was observed, and impute() fills each hole with its expected value\n"
        "given the flower's other measurements.",
    )
    t = Table("filled by", "RMS error on the removed values (cm)")
    rmse = {name: float(np.sqrt(np.mean((f[missing] - X[missing]) ** 2))) for name, f in filled.items()}
    for name, value in rmse.items():
        t.add_row(name, f"{value:.3f}")
    console.print(t)
    ari = adjusted_rand_score(species, gm.predict(holes))
    console.print(f"The clusters found with the holes still match the species: adjusted Rand index {ari:.3f}.")
    report["rmse_mixture"], report["rmse_column_means"] = rmse[next(iter(filled))], rmse["column means"]
    report["ari_with_holes"] = ari
    return holes, filled


def _write_figures(console, folder, seed, X, names, width, gm1, petals, gm2, gm4, imputed, outliers):
    """The walk-through's pictures, one PNG each."""
    from pathlib import Path

    from . import plotting

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print(
            "[yellow]Figures skipped: they need matplotlib "
            "(pip install 'gaussmix[plot]').[/yellow]"
        )
        return []
    from .selection import select

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = select(X, n_components=range(1, 7), n_jobs=1, random_state=seed)
    figures = {
        "1_petal_width_density.png": plotting.plot_density(gm1, width, feature_names=["petal width (cm)"]),
        "2_petals_hard.png": plotting.plot_clusters(gm2, petals, feature_names=names[2:]),
        "2_petals_soft.png": plotting.plot_clusters(gm2, petals, soft=True, feature_names=names[2:]),
        "3_iris_pairs.png": plotting.plot_pairs(gm4, X, feature_names=names),
        "3_loglik_trace.png": plotting.plot_loglik(gm4),
        "3_bic.png": plotting.plot_criterion(result, "bic"),
        "4_uncertainty.png": plotting.plot_uncertainty(gm4, X, features=(2, 3), feature_names=names),
        "5_kmeans_vs_gmm.png": plotting.plot_kmeans_vs_gmm(random_state=seed),
        "6_missing_values.png": plotting.plot_imputation(X, *imputed, features=(2, 3), feature_names=names),
        "7_outliers.png": plotting.plot_outliers(outliers[1], outliers[0], features=(2, 3), feature_names=names),
    }
    written = [str(plotting.save_figure(fig, folder / name)) for name, fig in figures.items()]
    console.print()
    console.print(f"[bold]Figures[/bold] ({len(written)}) written to [cyan]{folder.resolve()}[/cyan]:")
    for name in figures:
        console.print(f"  {name}")
    return written
