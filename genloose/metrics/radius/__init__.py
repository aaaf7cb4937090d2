"""The class-radius estimator: one module per search stage, composed by :func:`class_radius`."""

from genloose.metrics.radius.config import SearchConfig
from genloose.metrics.radius.result import RadiusResult
from genloose.metrics.radius.sampling import sample_latents
from genloose.metrics.radius.search import class_radius

__all__ = ["RadiusResult", "SearchConfig", "class_radius", "sample_latents"]
