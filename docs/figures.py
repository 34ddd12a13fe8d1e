"""Write the README's figures of the noise component, the classifier and the bootstrap test.

Run from the repository root: ``python docs/figures.py`` (needs matplotlib).
The other figures in docs/ are the demo's (``gaussmix demo``).
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

from gaussmix import GaussianMixture, GaussianMixtureClassifier, bootstrap_lrt, plotting

DOCS = Path(__file__).parent


def outliers(seed=0):
    """Iris plus 20 uniform outliers, as in the demo's section 7."""
    iris = load_iris()
    X = iris.data
    rng = np.random.default_rng(seed)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (high - low)
    noisy = np.vstack([X, rng.uniform(low - pad, high + pad, size=(20, X.shape[1]))])
    fits = {"3 Gaussians": GaussianMixture(3, n_init=5, random_state=seed).fit(noisy),
            "3 Gaussians + a noise component": GaussianMixture(3, n_init=5, noise_init="knn",
                                                               random_state=seed).fit(noisy)}
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names]
    return plotting.plot_outliers(fits, noisy, features=(2, 3), feature_names=names)


def classifier():
    """MclustDA on iris, drawn on the petal measurements."""
    iris = load_iris()
    clf = GaussianMixtureClassifier().fit(iris.data, iris.target_names[iris.target])
    return plotting.plot_classifier(clf, iris.data, iris.target_names[iris.target], features=(2, 3),
                                    feature_names=iris.feature_names)


def bootstrap():
    """mclustBootstrapLRT's example: Old Faithful, EEE, 999 replicates."""
    X = np.loadtxt(Path(__file__).parents[1] / "benchmarks" / "small" / "faithful.csv", delimiter=",",
                   skiprows=1)
    return bootstrap_lrt(X, "EEE", n_boot=999, random_state=0, n_jobs=-1).plot()


if __name__ == "__main__":
    for name, make in (("outliers.png", outliers), ("classifier.png", classifier),
                       ("bootstrap_lrt.png", bootstrap)):
        plotting.save_figure(make(), DOCS / name)
        print("wrote", DOCS / name)
