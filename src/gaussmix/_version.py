"""The version of gaussmix."""

__version__ = "0.1.0"
