"""Deprecated module path of :mod:`pruning.debias_cli` (the installed ``repair`` entry point of
older installs points here); registers the deprecated ``causalnet repair`` alias."""

from .debias_cli import register_deprecated as register  # noqa: F401
from .debias_cli import run_repair, subgroup_accuracy  # noqa: F401
