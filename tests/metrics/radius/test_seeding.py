"""Tests for genloose.metrics.radius.seeding: the class pool's nearest neighbours, pool seeds and random rays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genloose.metrics.radius.seeding import ClassPool, pool_candidates, random_ray_seeds, seed_from_pool
from genloose.testing import halfspace, sectors
from tests.metrics.radius._exact_states import exact_radius, float64_state


def _brute_force_nearest_other(points: np.ndarray, labels: np.ndarray, queries: np.ndarray, own: np.ndarray, k: int):
    rows = []
    for q, y in zip(queries, own, strict=True):
        best = {}
        for i in np.argsort(((points - q) ** 2).sum(axis=1), kind="stable"):
            if labels[i] != y and labels[i] not in best:
                best[labels[i]] = i
        chosen = list(best.values())[:k]
        rows.append(chosen + [-1] * (k - len(chosen)))
    return np.array(rows)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_nearest_other_matches_brute_force(k: int) -> None:
    rng = np.random.default_rng(0)
    points = rng.standard_normal((300, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 300)  # 4 classes: at most 3 others, so k = 4 leaves one slot empty
    queries = rng.standard_normal((25, 3))
    own = rng.integers(0, 4, 25)
    chosen, valid = ClassPool(points, labels).nearest_other(queries, own, k)
    expected = _brute_force_nearest_other(points, labels, queries.astype(np.float32), own, k)
    assert np.array_equal(chosen, expected)
    assert np.array_equal(valid, expected >= 0)
    assert not np.any(labels[chosen[valid]] == np.repeat(own[:, None], k, axis=1)[valid])


def test_segments_to_pool_points_are_bisected_at_the_exact_crossing_of_a_hyperplane() -> None:
    testbed = halfspace(5, offset=0.3, seed=2)
    state = float64_state(testbed, 20, rtol=1e-9)
    pool_points = np.random.default_rng(1).standard_normal((200, 5))
    pool = ClassPool(pool_points, testbed.label(pool_points))
    seeds = [state.fork()]
    seed_from_pool(state, pool, seeds, budget=10**6)
    z = state.z.numpy()
    target = pool.points[pool.nearest_other(z, state.y.numpy(), 1)[0][:, 0]].astype(np.float64)
    # the segment z -> target crosses w·x + b = 0 once, at the fraction t = s(z)/(s(z) - s(target))
    signed_z = z @ testbed.normal + testbed.offset
    signed_target = target @ testbed.normal + testbed.offset
    crossing = signed_z / (signed_z - signed_target) * np.linalg.norm(target - z, axis=1)
    found = seeds[0].radius.numpy()
    assert np.all(found >= crossing * (1 - 1e-12))
    assert np.all(found <= crossing * (1 + 1e-9 + 1e-12))
    assert np.all(found >= exact_radius(testbed, state) * (1 - 1e-12))
    assert bool(torch.isinf(state.radius).all())  # the seeds went to their own state


def test_points_without_budget_are_not_seeded() -> None:
    testbed = halfspace(3, seed=1)
    state = float64_state(testbed, 10)
    pool_points = np.random.default_rng(2).standard_normal((50, 3))
    pool = ClassPool(pool_points, testbed.label(pool_points))
    state.spent[:4] = 7
    seeds = [state.fork()]
    seed_from_pool(state, pool, seeds, budget=7)
    assert bool(torch.isinf(seeds[0].radius[:4]).all())
    assert bool(torch.isfinite(seeds[0].radius[4:]).all())


def test_pool_candidates_offer_the_best_seed_and_return_one_state_per_search() -> None:
    testbed = sectors(4, 5)
    state = float64_state(testbed, 12)
    pool_points = np.random.default_rng(3).standard_normal((400, 4))
    pool = ClassPool(pool_points, testbed.label(pool_points))
    found = pool_candidates(state, pool, 2, seed=0, point_index=torch.arange(12), budget=10**6)
    assert len(found) >= 2
    assert bool((state.radius <= torch.minimum(found[0].radius, found[1].radius)).all())
    assert np.all(state.radius.numpy() >= exact_radius(testbed, state) * (1 - 1e-12))


def test_random_rays_are_keyed_by_point_index_and_give_real_witnesses() -> None:
    testbed = sectors(2, 3)
    everyone, some = float64_state(testbed, 16), float64_state(testbed, 16)
    options = {"max_radius": 20.0, "num_rays": 8, "seed": 5, "point_index": torch.arange(100, 116)}
    random_ray_seeds(everyone, torch.arange(16), **options)
    rows = torch.tensor([2, 9])
    random_ray_seeds(some, rows, **options)
    assert torch.equal(some.radius[rows], everyone.radius[rows])
    assert bool(torch.isinf(some.radius[[0, 1, 3]]).all())
    assert bool(torch.isfinite(everyone.radius).all())  # in the plane, 8 rays out to 20 always leave a 120° sector
    assert np.all(everyone.radius.numpy() >= exact_radius(testbed, everyone) * (1 - 1e-12))
    other_seed = float64_state(testbed, 16)
    random_ray_seeds(other_seed, torch.arange(16), **{**options, "seed": 6})
    assert not torch.equal(other_seed.radius, everyone.radius)
