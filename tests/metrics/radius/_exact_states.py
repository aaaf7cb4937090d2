"""Search states on exact testbeds, in float64, for the stage tests (white-box, black-box, seeding)."""

from __future__ import annotations

import numpy as np
import torch

from genloose import Classifier, Generator
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.sampling import sample_latents
from genloose.metrics.radius.state import ChunkState
from genloose.testing import Testbed


def float64_state(testbed: Testbed, n: int, *, seed: int = 0, rtol: float = 1e-9) -> ChunkState:
    """``n`` latents drawn from ``seed``, labelled by the testbed's models run in float64, no witnesses yet."""
    d = testbed.latent_dim
    labeler = LatentLabeler(
        Generator(testbed.generator, latent_dim=d, dtype=torch.float64), Classifier(testbed.classifier)
    )
    z = labeler.to_latents(sample_latents(seed, d, n))
    return ChunkState(labeler, z, labeler.labels(z), rtol=rtol)


def exact_radius(testbed: Testbed, state: ChunkState) -> np.ndarray:
    """The testbed's exact r(z) at the state's latents."""
    return testbed.exact_radius(state.z.numpy())


def offer_points(state: ChunkState, points: torch.Tensor) -> torch.Tensor:
    """Offer one point per row as its witness (labelled by the models); the mask of rows that took it."""
    rows = torch.arange(state.size)
    points = points.to(state.z.dtype)
    return state.offer(rows, points, state.labeler.labels(points))
