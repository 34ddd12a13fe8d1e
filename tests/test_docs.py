"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import gaussmix

MODULES = [m.name for m in pkgutil.walk_packages(gaussmix.__path__, "gaussmix.") if m.name != "gaussmix.__main__"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_estimator_has_an_example():
    assert ">>> gm = GaussianMixture" in gaussmix.GaussianMixture.__doc__
