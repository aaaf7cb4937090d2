"""genloose: how loose is a generative model's latent space, and what that implies for diversity.

The public API is what this module re-exports; everything else lives in private modules. Names load on first
use (:mod:`genloose._lazy`), so ``import genloose`` imports neither torch nor scipy until a metric is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genloose._lazy import lazy_exports
from genloose._version import __version__

if TYPE_CHECKING:  # what the lazy table below provides, spelled out for type checkers and IDEs
    from genloose import distributed, experiments, metrics, reference_models, testing, theory
    from genloose._compare import Comparison, compare
    from genloose._errors import (
        BoundHypothesisWarning,
        GenlooseError,
        GenlooseWarning,
        InvalidArgumentError,
        MissingDependencyError,
        ModelOutputError,
        NonDeterministicModelError,
        SearchFailureWarning,
        UndefinedMetricWarning,
    )
    from genloose._evaluate import evaluate
    from genloose.accumulators import CollisionAccumulator, RadiusAccumulator, merge_states
    from genloose.estimate import Estimate
    from genloose.metrics.radius import RadiusResult, SearchConfig, class_radius
    from genloose.models import Classifier, Generator
    from genloose.report import Report, reports_to_frame
    from genloose.theory import (
        collision_entropy_upper_bound,
        fawzi_bound,
        theorem_3_1_bound,
        theorem_3_2_bound,
    )

_EXPORTS = {
    "BoundHypothesisWarning": "._errors",
    "Classifier": ".models",
    "CollisionAccumulator": ".accumulators",
    "Comparison": "._compare",
    "Estimate": ".estimate",
    "Generator": ".models",
    "GenlooseError": "._errors",
    "GenlooseWarning": "._errors",
    "InvalidArgumentError": "._errors",
    "MissingDependencyError": "._errors",
    "ModelOutputError": "._errors",
    "NonDeterministicModelError": "._errors",
    "RadiusAccumulator": ".accumulators",
    "RadiusResult": ".metrics.radius",
    "Report": ".report",
    "SearchConfig": ".metrics.radius",
    "SearchFailureWarning": "._errors",
    "UndefinedMetricWarning": "._errors",
    "class_radius": ".metrics.radius",
    "collision_entropy_upper_bound": ".theory",
    "compare": "._compare",
    "distributed": ".distributed",
    "evaluate": "._evaluate",
    "experiments": ".experiments",
    "fawzi_bound": ".theory",
    "merge_states": ".accumulators",
    "metrics": ".metrics",
    "reference_models": ".reference_models",
    "reports_to_frame": ".report",
    "testing": ".testing",
    "theorem_3_1_bound": ".theory",
    "theorem_3_2_bound": ".theory",
    "theory": ".theory",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
    "MissingDependencyError",
    "ModelOutputError",
    "NonDeterministicModelError",
    "RadiusAccumulator",
    "RadiusResult",
    "Report",
    "SearchConfig",
    "SearchFailureWarning",
    "UndefinedMetricWarning",
    "__version__",
    "class_radius",
    "collision_entropy_upper_bound",
    "compare",
    "distributed",
    "evaluate",
    "experiments",
    "fawzi_bound",
    "merge_states",
    "metrics",
    "reference_models",
    "reports_to_frame",
    "testing",
    "theorem_3_1_bound",
    "theorem_3_2_bound",
    "theory",
]
