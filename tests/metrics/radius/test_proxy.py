"""The linearised-distance proxy (the control variate of class_radius with precision)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genloose import testing
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.proxy import PROXY_CLASSES, linearized_distances
from genloose.models import as_classifier, as_generator


def _labeler(testbed):
    return LatentLabeler(
        as_generator(testbed.generator, latent_dim=testbed.latent_dim), as_classifier(testbed.classifier)
    )


def test_on_an_affine_model_the_proxy_is_the_exact_radius():
    testbed = testing.halfspace(5, offset=0.7, seed=3)
    labeler = _labeler(testbed)
    z = labeler.to_latents(np.random.default_rng(0).standard_normal((300, 5)))
    proxy = linearized_distances(labeler, z)
    exact = testbed.exact_radius(z.double().numpy())
    # float32 scores: the margin and its gradient are exact to a few roundings of the latents
    np.testing.assert_allclose(proxy, exact, rtol=1e-5, atol=1e-6)


def test_the_proxy_is_the_nearest_of_the_top_classes_linearised_boundaries():
    # three affine score functions in the plane: the boundary with class j is a line, and the proxy the nearest
    weights = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    offsets = torch.tensor([0.0, -1.0, -1.0])
    labeler = LatentLabeler(
        as_generator(torch.nn.Identity(), latent_dim=2), as_classifier(lambda x: x @ weights.T + offsets)
    )
    z = torch.tensor([[0.2, 0.1], [0.5, 0.4], [-3.0, -3.0]])
    expected = []
    for point in z.double().numpy():
        scores = weights.double().numpy() @ point + offsets.double().numpy()
        y = int(scores.argmax())
        distances = [
            abs(scores[j] - scores[y]) / np.linalg.norm(weights[j].double().numpy() - weights[y].double().numpy())
            for j in range(3)
            if j != y
        ]
        expected.append(min(distances))
    np.testing.assert_allclose(linearized_distances(labeler, z), expected, rtol=1e-6)


def test_the_proxy_costs_one_scored_call_and_one_gradient_per_class_and_point():
    testbed = testing.sectors(3, 5)
    labeler = _labeler(testbed)
    z = labeler.to_latents(np.random.default_rng(1).standard_normal((10, 3)))
    linearized_distances(labeler, z)
    assert labeler.queries.backward == PROXY_CLASSES * 10
    assert labeler.queries.forward == 10 + PROXY_CLASSES * 10


def test_where_no_distance_is_finite_the_proxy_is_zero():
    flat = LatentLabeler(as_generator(torch.nn.Identity(), latent_dim=2), as_classifier(lambda x: 0.0 * x))
    assert linearized_distances(flat, torch.ones(4, 2)).tolist() == [0.0] * 4  # no gradient: 0/0
    one_class = LatentLabeler(as_generator(torch.nn.Identity(), latent_dim=2), as_classifier(lambda x: x[:, :1]))
    assert linearized_distances(one_class, torch.ones(3, 2)).tolist() == [0.0] * 3
    assert linearized_distances(one_class, torch.ones(0, 2)).shape == (0,)


@pytest.mark.parametrize("classes", [1, 2, 3])
def test_more_classes_can_only_bring_the_proxy_closer(classes):
    testbed = testing.sectors(3, 5)
    labeler = _labeler(testbed)
    z = labeler.to_latents(np.random.default_rng(2).standard_normal((50, 3)))
    assert (
        linearized_distances(labeler, z, classes=classes + 1) <= linearized_distances(labeler, z, classes=classes)
    ).all()


def test_a_lower_scoring_class_with_a_steeper_margin_can_be_the_nearest():
    # at z = 0 class 1 scores -0.1 (distance 0.1) and class 2 scores -2 with a gradient of 100 (distance 0.02)
    weights = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 100.0]])
    offsets = torch.tensor([0.0, -0.1, -2.0])
    labeler = LatentLabeler(
        as_generator(torch.nn.Identity(), latent_dim=2), as_classifier(lambda x: x @ weights.T + offsets)
    )
    z = torch.zeros(1, 2)
    assert linearized_distances(labeler, z, classes=1)[0] == pytest.approx(0.1, rel=1e-6)
    assert linearized_distances(labeler, z, classes=2)[0] == pytest.approx(0.02, rel=1e-6)
