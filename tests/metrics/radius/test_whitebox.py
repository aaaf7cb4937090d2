"""Tests for genloose.metrics.radius.whitebox against exact testbeds, in float64.

On an affine c∘g the linearised boundary is the boundary, so one DeepFool step (the ray toward it, bisected to
``rtol``) finds r(z) itself: the radius lies in ``[r(z), r(z)·(1 + rtol)]`` up to float64 rounding. On a sphere the
normal-ray iteration converges to the radial direction, hence to r(z).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genloose import Classifier, Generator
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.state import ChunkState
from genloose.metrics.radius.whitebox import NormalRayRefiner, linearized_candidates, normal_ray_iteration
from genloose.testing import grid_voronoi, halfspace, sectors, spheres, with_logit_scale
from tests.metrics.radius._exact_states import exact_radius, float64_state

RTOL = 1e-9
ROUNDING = 1e-12  # float64 rounding of distances near 1: far below RTOL


@pytest.mark.parametrize(
    "testbed",
    [
        halfspace(6, offset=0.7, seed=1),
        with_logit_scale(halfspace(3, offset=-1.2, seed=2), 1e4),
        grid_voronoi(4, n=1, scale=1.5, seed=3),
        sectors(5, 2),  # two sectors: a hyperplane through the origin
    ],
    ids=lambda tb: tb.name,
)
def test_one_linearised_step_is_exact_on_affine_models(testbed) -> None:
    state = float64_state(testbed, 32, rtol=RTOL)
    rows = torch.arange(state.size)
    # every other class, so that the nearest facet of a polytope cell is among them
    found = linearized_candidates(state, rows, top_k=testbed.num_classes - 1, budget=10**6)
    assert len(found) == testbed.num_classes - 1
    ratio = state.radius.numpy() / exact_radius(testbed, state)
    assert ratio.min() >= 1 - ROUNDING
    assert ratio.max() <= 1 + RTOL + ROUNDING
    # the state keeps the best of the candidates it was offered; each candidate's witness is a real crossing
    best = torch.stack([sub.radius for sub in found]).min(dim=0).values
    assert torch.equal(state.radius, best)
    for sub in found:
        finite = torch.isfinite(sub.radius)
        assert bool((state.labeler.labels(sub.witness[finite]) != state.y[finite]).all())


def test_top_k_limits_the_candidates_to_the_highest_scoring_classes() -> None:
    testbed = grid_voronoi(3, n=1, seed=4)
    state = float64_state(testbed, 16)
    found = linearized_candidates(state, torch.arange(state.size), top_k=2, budget=10**6)
    scores = state.labeler.scores(state.z)
    scores[torch.arange(state.size), state.y] = -math.inf
    top = scores.topk(2, dim=1).indices
    for slot, sub in enumerate(found):
        finite = torch.isfinite(sub.radius)
        # on a grid the ray toward class j's bisector crosses into j unless another cell comes first: most land in j
        assert (sub.witness_label[finite] == top[finite, slot]).float().mean() >= 0.5


def test_no_budget_no_candidates_and_no_queries() -> None:
    state = float64_state(halfspace(4), 8)
    assert linearized_candidates(state, torch.arange(state.size), top_k=1, budget=0) == []
    assert state.labeler.queries.total == 8  # the labels float64_state took, nothing more
    assert bool(torch.isinf(state.radius).all())


def test_a_label_only_classifier_gives_no_candidates() -> None:
    testbed = halfspace(3)
    labeler = LatentLabeler(
        Generator(testbed.generator, latent_dim=3, dtype=torch.float64),
        Classifier(lambda x: testbed.classifier(x).argmax(dim=1), num_classes=2),
    )
    z = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    state = ChunkState(labeler, z, labeler.labels(z), rtol=RTOL)
    assert linearized_candidates(state, torch.arange(5), top_k=1, budget=100) == []
    assert state.spent.tolist() == [1] * 5  # the scores query was made and charged


def _far_witnesses_on_a_sphere(seed: int = 1) -> tuple[object, ChunkState]:
    """Points inside a sphere of radius 3.5 in d = 5, each with a witness just outside it at a wide angle."""
    testbed = spheres(5, [3.5])
    state = float64_state(testbed, 40, rtol=RTOL)
    assert bool((state.y == 0).all())  # all inside: ||z|| ~ sqrt(5)
    noise = torch.randn(state.size, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = state.z / state.z.norm(dim=1, keepdim=True) + 0.8 * noise / noise.norm(dim=1, keepdim=True)
    w = 3.5 * (1 + 1e-7) * v / v.norm(dim=1, keepdim=True)
    rows = torch.arange(state.size)
    assert bool(state.offer(rows, w, state.labeler.labels(w)).all())
    return testbed, state


def test_normal_ray_iteration_converges_to_the_exact_radius_of_a_sphere() -> None:
    testbed, state = _far_witnesses_on_a_sphere()
    exact = exact_radius(testbed, state)
    start = state.radius.numpy().copy()
    assert (start / exact).max() > 10  # far starts: a no-op would fail below
    normal_ray_iteration(state, torch.arange(state.size), steps=40, tol=0.0, budget=10**9)
    ratio = state.radius.numpy() / exact
    assert ratio.min() >= 1 - ROUNDING
    assert ratio.max() <= 1 + 1e-8  # measured 1.7e-9: bisection to RTOL plus a converged angle
    assert np.all(state.radius.numpy() <= start)


def test_normal_ray_iteration_respects_the_budget_and_the_refiner_is_the_same_iteration() -> None:
    _, state = _far_witnesses_on_a_sphere(seed=2)
    _, other = _far_witnesses_on_a_sphere(seed=2)
    rows = torch.arange(state.size)
    start = state.radius.clone()
    normal_ray_iteration(state, rows, steps=5, tol=0.0, budget=0)
    assert torch.equal(state.radius, start)
    assert int(state.spent.sum()) == 0
    normal_ray_iteration(state, rows, steps=3, tol=1e-3, budget=10**9)
    NormalRayRefiner(tol=1e-3, budget=10**9)(other, rows, 3, slot=0)
    assert torch.equal(state.radius, other.radius)
    assert torch.equal(state.spent, other.spent)
