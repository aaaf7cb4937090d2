"""Tests for genloose.metrics.radius.blackbox: sign-query normal estimates on an exact half-space, in float64.

On a flat boundary the module's own accuracy statement applies: with B probes accumulated, the radius found
overestimates r(z) by about πd/(4B) (from cos²(n̂, n) ≈ B/(B + πd/2)).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genloose.metrics.radius.blackbox import NormalEstimates, SignRefiner, _directions, sign_normal_iteration
from genloose.metrics.radius.state import ChunkState
from genloose.testing import halfspace
from tests.metrics.radius._exact_states import exact_radius, float64_state

TESTBED = halfspace(4, offset=0.5, seed=3)


def _far_witnesses(n: int = 24, seed: int = 1) -> ChunkState:
    """Each point's witness: its nearest boundary point moved 2 along the boundary, just across it."""
    state = float64_state(TESTBED, n, rtol=1e-6)
    z = state.z.numpy()
    unit = TESTBED.normal / np.linalg.norm(TESTBED.normal)
    along = np.random.default_rng(seed).standard_normal(z.shape)
    along -= np.outer(along @ unit, unit)
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    across = np.where(state.y.numpy() == 1, -1.0, 1.0)[:, None] * unit
    w = torch.as_tensor(TESTBED.nearest_boundary_point(z) + 2.0 * along + 1e-6 * across)
    assert bool(state.offer(torch.arange(n), w, state.labeler.labels(w)).all())
    return state


def _refine(state: ChunkState, rows: torch.Tensor, *, steps: int = 20, probes: int = 64, **kwargs) -> NormalEstimates:
    options = {"probe_scale": 1e-3, "seed": 0, "point_index": torch.arange(state.size), "budget": 10**9, **kwargs}
    return sign_normal_iteration(state, rows, steps=steps, probes=probes, **options)


def test_accumulated_sign_queries_reach_the_flat_boundary_within_the_stated_overestimate() -> None:
    state = _far_witnesses()
    exact = exact_radius(TESTBED, state)
    assert (state.radius.numpy() / exact).min() > 1.2  # far starts: a no-op would fail below
    normals = _refine(state, torch.arange(state.size), steps=20, probes=64)
    overestimate = math.pi * TESTBED.latent_dim / (4 * 20 * 64)  # πd/(4B), B = 1280 probes
    ratio = state.radius.numpy() / exact
    assert ratio.min() >= 1 - 1e-12  # witnesses: never closer than the boundary
    assert np.median(ratio) - 1 <= overestimate  # measured 0.30 of it
    assert ratio.max() - 1 <= 2 * overestimate  # measured 1.02 of it (the largest of 24 points)
    assert normals.iterations.tolist() == [20] * state.size
    # the accumulated sums point along the true normal, on the side of the other class
    unit = torch.as_tensor(TESTBED.normal / np.linalg.norm(TESTBED.normal))
    side = torch.where(state.y == 1, -1.0, 1.0).double()
    cosine = (normals.sum @ unit) * side / normals.sum.norm(dim=1)
    assert float(cosine.min()) > 0.99


def test_results_do_not_depend_on_which_points_are_refined_together() -> None:
    everyone, some = _far_witnesses(), _far_witnesses()
    _refine(everyone, torch.arange(everyone.size), steps=4, probes=16)
    rows = torch.tensor([3, 11, 17])
    _refine(some, rows, steps=4, probes=16)
    assert torch.equal(some.radius[rows], everyone.radius[rows])
    assert torch.equal(some.witness[rows], everyone.witness[rows])
    others = torch.ones(some.size, dtype=torch.bool)
    others[rows] = False
    assert torch.equal(some.radius[others], _far_witnesses().radius[others])  # untouched


def test_a_different_stream_or_seed_draws_other_directions() -> None:
    first, again, stream, seed = (_far_witnesses() for _ in range(4))
    rows = torch.arange(first.size)
    _refine(first, rows, steps=3, probes=8)
    _refine(again, rows, steps=3, probes=8)
    _refine(stream, rows, steps=3, probes=8, stream=1)
    _refine(seed, rows, steps=3, probes=8, seed=1)
    assert torch.equal(first.radius, again.radius)
    assert not torch.equal(first.radius, stream.radius)
    assert not torch.equal(first.radius, seed.radius)


def test_probe_directions_are_unit_and_keyed_by_point_and_iteration() -> None:
    both = _directions(7, [3, 9], [0, 2], 5, 6, 0, torch.float64)
    assert both.shape == (2, 5, 6)
    torch.testing.assert_close(both.norm(dim=2), torch.ones(2, 5, dtype=torch.float64), rtol=0, atol=1e-15)
    assert torch.equal(_directions(7, [9], [2], 5, 6, 0, torch.float64)[0], both[1])
    assert not torch.equal(_directions(7, [9], [3], 5, 6, 0, torch.float64)[0], both[1])


def test_estimates_restart_when_the_witness_moves_to_another_class_and_the_refiner_keeps_each_slot() -> None:
    normals = NormalEstimates(3, 2, torch.device("cpu"))
    normals.sum[:] = 1.0
    normals.facet[:] = 1
    normals.forget(torch.tensor([0, 2]))
    assert normals.sum.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    assert normals.facet.tolist() == [-1, 1, -1]
    state = _far_witnesses(n=6)
    rows = torch.arange(6)
    refiner = SignRefiner(probes=8, probe_scale=1e-3, seed=0, point_index=rows, budget=10**9)
    refiner(state, rows, 2, slot=0)
    refiner(state, rows, 3, slot=1)
    assert refiner.normals[0].iterations.tolist() == [2] * 6
    assert refiner.normals[1].iterations.tolist() == [3] * 6
    handed = refiner.handed_over(state, rows, torch.tensor([0, 1, 0, 1, 0, 1]))
    assert handed.iterations.tolist() == [2, 3, 2, 3, 2, 3]
    assert torch.equal(handed.sum[1], refiner.normals[1].sum[1])
