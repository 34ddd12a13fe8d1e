"""Placeholder until the seeding branch lands (device k-means)."""
import numpy as np


def choice_rows(n, size, random_state, p=None):
    if p is None:
        return random_state.choice(n, size=size, replace=False)
    raise NotImplementedError
