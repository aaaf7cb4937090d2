"""Empirical quantities: the class radius and the collision metrics, each with a mergeable streaming form."""

from genloose.metrics.collision import (
    CollisionCounter,
    collision_entropy,
    collision_entropy_from_counts,
    collision_probability,
    collision_probability_from_counts,
    effective_number_of_classes,
    effective_number_of_classes_from_counts,
    renyi_entropy,
    renyi_entropy_from_counts,
)
from genloose.metrics.radius import RadiusResult, class_radius, sample_latents

__all__ = [
    "CollisionCounter",
    "RadiusResult",
    "class_radius",
    "collision_entropy",
    "collision_entropy_from_counts",
    "collision_probability",
    "collision_probability_from_counts",
    "effective_number_of_classes",
    "effective_number_of_classes_from_counts",
    "renyi_entropy",
    "renyi_entropy_from_counts",
    "sample_latents",
]
