"""`gaussmix demo`, through its real entry point and as a function."""

import os
import subprocess
import sys

import numpy as np
from rich.console import Console

from gaussmix.demo import run_demo
from gaussmix.datasets import load_iris


def test_demo_command_walks_through_every_step(tmp_path):
    env = dict(os.environ, COLUMNS="100")
    exe = os.path.join(os.path.dirname(sys.executable), "gaussmix")
    cmd = [exe, "demo", "--no-figures"] if os.path.exists(exe) else [sys.executable, "-m", "gaussmix", "demo", "--no-figures"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for heading in (
        "1-D mixture of 3 Gaussians: petal width",
        "2-D mixture: petal length and width",
        "EM step by step",
        "BIC",
        "Hard against soft",
        "GMM against k-means",
        "adjusted Rand index",
        "Holes in the data",
        "Outliers and a noise component",
    ):
        assert heading in text, heading
    assert "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # --no-figures writes nothing


def test_demo_numbers_are_what_the_fits_give():
    console = Console(file=open(os.devnull, "w"), width=100)
    report = run_demo(console=console, seed=0)
    iris = load_iris()
    width = iris.data[:, 3]
    species_means = sorted(width[iris.labels == s].mean() for s in np.unique(iris.labels))
    # The three 1-D components sit near the three species' mean petal widths.
    np.testing.assert_allclose(report["1d_means"], species_means, atol=0.15)
    assert report["monotone"]
    assert report["ari_gmm"] > report["ari_kmeans"]
    assert report["bic_best_k"] in (2, 3)
    # iris's versicolor and virginica overlap: a few flowers must be in doubt,
    # setosa's fifty never.
    assert 1 <= report["n_unsure"] <= 20
    # With a fifth of the values removed, the mixture's conditional means
    # beat the column means, and the clusters still follow the species.
    assert report["rmse_mixture"] < 0.5 * report["rmse_column_means"]
    assert report["ari_with_holes"] > 0.6
    # Twenty uniform outliers: the noise component takes nearly all of them and
    # few flowers, and the clusters follow the species better than without it.
    assert report["outliers_found"] >= 17 and report["flowers_as_noise"] <= 5
    assert report["ari_noise"] > report["ari_without_noise"] + 0.1


def test_version_and_help():
    from typer.testing import CliRunner

    from gaussmix import __version__
    from gaussmix.cli import app

    runner = CliRunner()
    assert __version__ in runner.invoke(app, ["--version"]).output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "demo" in result.output
