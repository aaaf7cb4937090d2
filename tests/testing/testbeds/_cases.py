"""Testbeds and helpers shared by the testbed tests."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from genloose.testing import (
    Testbed,
    all_testbeds,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
)

D2 = all_testbeds(2)
D7 = all_testbeds(7)
EXTRA = [
    halfspace(1, offset=-0.7),
    spheres(1, [0.3, 1.2]),
    halfspace(3, offset=2.0, normal=[0.5, -1.0, 2.0]),
    sectors(6, 2, plane=(4, 2)),
    spheres(40, [5.5, 6.0, 6.3, 7.5]),
    grid_voronoi(2, n=1, scale=0.8, seed=5),
    grid_voronoi(12, n=3, scale=3.0, seed=6),
    invertible_wrapper(grid_voronoi(3, n=1), image_shape=(2, 2, 2), seed=1),
    invertible_wrapper(invertible_wrapper(spheres(4, [1.0, 2.5]), seed=2), image_shape=9),
]
ALL = D2 + D7 + EXTRA


def _ids(testbeds: list[Testbed]) -> list[str]:
    return [tb.name for tb in testbeds]


def _torch_labels(tb: Testbed, z: np.ndarray | torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return tb.classifier(tb.generator(torch.as_tensor(z))).argmax(dim=1).numpy()


def _latents(tb: Testbed, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, tb.latent_dim))


def _universal_cap(p: np.ndarray) -> float:
    """Lemma B.1 (Fawzi et al. 2018): E r <= sum_k p_k Φ⁻¹(p_k) + φ(Φ⁻¹(p_k))."""
    p = p[p > 0]
    a = special.ndtri(p)
    return float(np.sum(p * a + np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)))
