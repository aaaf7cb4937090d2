"""Tests for genloose.metrics.radius.class_directions: the discriminant subspace and the class-direction rays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genloose.metrics.radius.class_directions import ClassDirections
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.state import ChunkState
from genloose.models import as_classifier, as_generator
from genloose.testing.testbeds import grid_voronoi, halfspace, spheres


def _pool(testbed, n: int = 2048, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    points = np.random.default_rng(seed).standard_normal((n, testbed.latent_dim))
    return points, testbed.label(points)


def _cosines(basis: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the column spans of ``basis`` and ``reference``."""
    q, _ = np.linalg.qr(reference)
    return np.linalg.svd(basis.T @ q, compute_uv=False)


@pytest.mark.parametrize("latent_dim", [8, 64])
def test_subspace_of_a_linear_grid_is_the_generator_row_space(latent_dim: int) -> None:
    testbed = grid_voronoi(latent_dim, n=2, scale=2.0, seed=3)
    directions = ClassDirections(*_pool(testbed))
    assert directions.rank == 2
    # noise in the class means tilts the estimate by O(sqrt(d / n)); 0.97 is cos(14 degrees)
    assert _cosines(directions.basis, testbed.matrix.T).min() > 0.97


def test_subspace_of_a_half_space_is_its_normal() -> None:
    testbed = halfspace(32, offset=0.4, seed=5)
    directions = ClassDirections(*_pool(testbed))
    assert directions.rank == 1
    assert abs(directions.basis[:, 0] @ testbed.normal) / np.linalg.norm(testbed.normal) > 0.97


@pytest.mark.parametrize("seed", range(5))
def test_no_subspace_without_linear_class_structure(seed: int) -> None:
    # nested shells have equal class means; labels independent of z have none at all
    shells = spheres(32, [5.0, 5.7])
    assert ClassDirections(*_pool(shells, seed=seed)).rank == 0
    points = np.random.default_rng(seed).standard_normal((2048, 32))
    labels = np.random.default_rng(seed + 100).integers(0, 10, 2048)
    assert ClassDirections(points, labels).rank == 0


def test_a_single_class_pool_has_no_subspace_and_class_means_are_exact() -> None:
    points = np.arange(12.0).reshape(4, 3)
    directions = ClassDirections(points, np.zeros(4, dtype=int))
    assert directions.rank == 0
    np.testing.assert_allclose(directions.means, points.mean(axis=0, keepdims=True))


def _state(testbed, num_points: int, seed: int = 9) -> ChunkState:
    labeler = LatentLabeler(
        as_generator(testbed.generator, latent_dim=testbed.latent_dim), as_classifier(testbed.classifier)
    )
    z = labeler.to_latents(np.random.default_rng(seed).standard_normal((num_points, testbed.latent_dim)))
    return ChunkState(labeler, z, labeler.labels(z), rtol=1e-4)


def test_class_mean_rays_cross_the_nearest_facet_of_a_high_dimensional_grid() -> None:
    testbed = grid_voronoi(64, n=2, scale=2.0, seed=2)
    state = _state(testbed, 40)
    directions = ClassDirections(*_pool(testbed))
    rays = directions.class_mean_rays(state, 12, budget=10_000)
    assert len(rays) == 12
    exact = testbed.exact_radius(state.z.double().numpy())
    best = torch.stack([ray.radius for ray in rays]).amin(dim=0).numpy()
    for ray in rays:  # every witness is verified: labelled differently, at its recorded distance
        found = torch.isfinite(ray.radius)
        assert (ray.witness_label[found] != state.y[found]).all()
        distance = torch.linalg.vector_norm((ray.witness[found] - state.z[found]).double(), dim=1)
        np.testing.assert_allclose(distance.numpy(), ray.radius[found].numpy(), rtol=1e-6)
    assert (best >= exact * (1 - 1e-5)).all()
    # a ray along the facet normal crosses at the exact distance; pool-mean noise tilts it a little.
    # (the segment to the nearest pool point of a class crosses 10-25x farther at this dimension)
    assert np.median(best / exact) < 1.05
    np.testing.assert_array_equal(state.radius.numpy(), best)  # each ray's witness is offered to the parent


def test_subspace_rays_depend_only_on_seed_and_point_index() -> None:
    testbed = grid_voronoi(16, n=2, scale=2.0, seed=2)
    directions = ClassDirections(*_pool(testbed))
    whole = _state(testbed, 10)
    scale = torch.full((10,), 2.0, dtype=torch.float64)
    rays_whole = directions.subspace_rays(whole, scale, num_rays=4, seed=7, point_index=torch.arange(10), budget=10**6)
    part = ChunkState(whole.labeler, whole.z[6:], whole.y[6:], rtol=1e-4)
    rays_part = directions.subspace_rays(
        part, scale[6:], num_rays=4, seed=7, point_index=torch.arange(6, 10), budget=10**6
    )
    for a, b in zip(rays_whole, rays_part, strict=True):
        torch.testing.assert_close(a.radius[6:], b.radius, rtol=0, atol=0)
    assert (
        directions.subspace_rays(whole, scale, num_rays=4, seed=7, point_index=torch.arange(10), budget=0)[0]
        .radius.isinf()
        .all()
    )  # no budget left: no ray is searched


def test_no_subspace_no_subspace_rays() -> None:
    testbed = spheres(8, [2.0, 3.0])
    directions = ClassDirections(*_pool(testbed))
    state = _state(testbed, 5)
    scale = torch.ones(5, dtype=torch.float64)
    assert directions.subspace_rays(state, scale, num_rays=4, seed=0, point_index=torch.arange(5), budget=100) == []
