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


def test_docstrings_hold_no_control_characters():
    """Maths in a non-raw docstring turns \\f, \\b, \\t into control characters."""
    import inspect

    for name in MODULES:
        module = importlib.import_module(name)
        for obj_name, obj in inspect.getmembers(module):
            doc = getattr(obj, "__doc__", None) if (inspect.isfunction(obj) or inspect.isclass(obj)) else None
            if getattr(obj, "__module__", None) != name or not doc:
                continue
            assert not any(c in doc for c in "\x07\x08\x0b\x0c\t"), f"{name}.{obj_name}"
        assert not any(c in (module.__doc__ or "") for c in "\x07\x08\x0b\x0c\t"), name
