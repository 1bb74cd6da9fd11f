"""Exceptions that carry a user-facing message and an exit code.

Every error a user can fix (a bad spec, a missing file, a graph that belongs to another model)
is a :class:`CausalnetInputError`: the CLI prints its one-line message and exits with code 2.
Anything else is a bug or an environment failure and exits with code 1.
"""

from __future__ import annotations


class CausalnetError(Exception):
    """Base class of the errors causalnet raises on purpose."""

    exit_code = 1


class CausalnetInputError(CausalnetError, ValueError):
    """Bad input the user can fix; the message says what is wrong and what to do."""

    exit_code = 2


class SpecError(CausalnetInputError):
    """A model or dataset spec string that cannot be resolved."""


class UntrustedPickleError(CausalnetInputError):
    """A file that can only be loaded by unpickling arbitrary code, without ``trust=True``."""


class GraphFormatError(CausalnetInputError):
    """A file that is not a valid causalnet graph (or comes from a newer schema)."""


class ModelMismatchError(CausalnetInputError):
    """A graph or plan applied to a model it was not made from."""
