"""``python -m gaussmix`` runs the command line."""

from .cli import run

run()
