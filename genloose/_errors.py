"""The library's own exception and warning types.

Every error genloose raises on bad input is an :class:`InvalidArgumentError` (a ``ValueError``) or a
:class:`ModelOutputError`, so callers can catch them precisely; undefined values come with an
:class:`UndefinedMetricWarning` and a documented value instead of an error.
"""

from __future__ import annotations

__all__ = [
    "BoundHypothesisWarning",
    "GenlooseError",
    "GenlooseWarning",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelOutputError",
    "NonDeterministicModelError",
    "SearchFailureWarning",
    "UndefinedMetricWarning",
]


class GenlooseError(Exception):
    """Base class of every exception raised by genloose itself."""


class InvalidArgumentError(GenlooseError, ValueError):
    """An argument has the wrong type, shape, dtype or value.

    The message names the argument, what was expected and what was received.
    """


class MissingDependencyError(GenlooseError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that installs it."""


class ModelOutputError(GenlooseError, ValueError):
    """A user's generator or classifier returned something unusable (wrong shape, NaN, bad labels)."""


class NonDeterministicModelError(ModelOutputError):
    """A model gave a different answer for the same input on a second call."""


class GenlooseWarning(UserWarning):
    """Base class of every warning emitted by genloose."""


class UndefinedMetricWarning(GenlooseWarning):
    """A quantity is undefined for this input; a documented value (NaN or inf) is returned."""


class SearchFailureWarning(GenlooseWarning):
    """The class-radius search did not do its job (censored points, an estimate above the universal cap)."""


class BoundHypothesisWarning(GenlooseWarning):
    """A theorem's hypothesis does not hold for this input, so its formula is not a guarantee here."""
