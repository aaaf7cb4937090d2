"""genloose: how loose is a generative model's latent space, and what that implies for diversity.

The public API is what this module re-exports; everything else lives in private modules.
"""

from genloose import testing, theory
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
from genloose.accumulators import CollisionAccumulator, RadiusAccumulator, merge_states
from genloose.compare import Comparison, compare
from genloose.estimate import Estimate
from genloose.evaluate import evaluate
from genloose.metrics.radius import RadiusResult, class_radius
from genloose.models import Classifier, Generator
from genloose.report import Report, reports_to_frame
from genloose.theory import (
    collision_entropy_upper_bound,
    fawzi_bound,
    theorem_3_1_bound,
    theorem_3_2_bound,
)

__all__ = [
    "BoundHypothesisWarning",
    "Classifier",
    "CollisionAccumulator",
    "Comparison",
    "Estimate",
    "Generator",
    "GenlooseError",
    "GenlooseWarning",
    "InvalidArgumentError",
    "ModelOutputError",
    "NonDeterministicModelError",
    "RadiusAccumulator",
    "RadiusResult",
    "Report",
    "SearchFailureWarning",
    "UndefinedMetricWarning",
    "__version__",
    "class_radius",
    "collision_entropy_upper_bound",
    "compare",
    "evaluate",
    "fawzi_bound",
    "merge_states",
    "reports_to_frame",
    "testing",
    "theorem_3_1_bound",
    "theorem_3_2_bound",
    "theory",
]
