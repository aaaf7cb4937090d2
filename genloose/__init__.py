"""genloose: how loose is a generative model's latent space, and what that implies for diversity.

The public API is what this module re-exports; everything else lives in private modules.
"""

from genloose._errors import (
    BoundHypothesisWarning,
    GenlooseError,
    GenlooseWarning,
    InvalidArgumentError,
    ModelOutputError,
    NonDeterministicModelError,
    SearchFailureWarning,
    UndefinedMetricWarning,
)
from genloose._version import __version__
from genloose.estimate import Estimate

__all__ = [
    "BoundHypothesisWarning",
    "Estimate",
    "GenlooseError",
    "GenlooseWarning",
    "InvalidArgumentError",
    "ModelOutputError",
    "NonDeterministicModelError",
    "SearchFailureWarning",
    "UndefinedMetricWarning",
    "__version__",
]
