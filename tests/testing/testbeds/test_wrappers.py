"""Tests of the testbed wrappers: the composite is preserved, the models an estimator sees are not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genloose.testing import (
    SectorsTestbed,
    Testbed,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
    with_logit_scale,
)
from tests.testing.testbeds._cases import _latents, _torch_labels

# ---- wrappers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    [halfspace(5, offset=0.3), sectors(5, 7), spheres(5, [1.5, 2.5]), grid_voronoi(5)],
    ids=lambda tb: tb.name,
)
@pytest.mark.parametrize("image_shape", [None, 11, (3, 4, 4)])
def test_invertible_wrapper_preserves_the_composite(base: Testbed, image_shape: object) -> None:
    wrapped = invertible_wrapper(base, image_shape=image_shape, seed=4)
    assert type(wrapped) is type(base)
    assert wrapped.name == f"invertible({base.name})"
    z = _latents(base, 5000, seed=17)
    assert np.array_equal(_torch_labels(wrapped, z), _torch_labels(base, z))
    np.testing.assert_array_equal(wrapped.exact_radius(z), base.exact_radius(z))
    assert wrapped.exact_mean_radius() == base.exact_mean_radius()
    x = wrapped.generator(torch.as_tensor(z[:2]))
    expected = (
        (base.latent_dim,) if image_shape is None else ((image_shape,) if isinstance(image_shape, int) else image_shape)
    )
    assert tuple(x.shape[1:]) == expected
    with torch.no_grad():
        np.testing.assert_allclose(
            wrapped.classifier(x).numpy(),
            base.classifier(base.generator(torch.as_tensor(z[:2]))).numpy(),
            rtol=1e-10,
            atol=1e-12,
        )


def test_invertible_wrapper_gradients_are_nontrivial() -> None:
    base = halfspace(6, offset=0.2, seed=3)
    wrapped = invertible_wrapper(base, image_shape=20, seed=5)
    z = torch.as_tensor(_latents(base, 200, seed=18))
    # the generator is nonlinear
    assert not torch.allclose(wrapped.generator(2 * z), 2 * wrapped.generator(z))
    # image-space gradients of the margin vary in size from point to point (they are constant
    # for the unwrapped affine model), while the latent-space gradient is unchanged
    x = wrapped.generator(z).requires_grad_(True)
    scores = wrapped.classifier(x)
    (grad_x,) = torch.autograd.grad((scores[:, 1] - scores[:, 0]).sum(), x)
    norms = grad_x.norm(dim=1)
    assert bool(torch.isfinite(grad_x).all())
    assert float(norms.std() / norms.mean()) > 0.1
    zz = z.clone().requires_grad_(True)
    scores_z = wrapped.classifier(wrapped.generator(zz))
    (grad_z,) = torch.autograd.grad((scores_z[:, 1] - scores_z[:, 0]).sum(), zz)
    unit = torch.as_tensor(base.normal / np.linalg.norm(base.normal))
    torch.testing.assert_close(grad_z, unit.expand_as(grad_z), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_logit_scale_multiplies_scores(scale: float) -> None:
    base = sectors(4, 5)
    scaled = with_logit_scale(base, scale)
    assert type(scaled) is SectorsTestbed
    z = torch.as_tensor(_latents(base, 100, seed=19))
    torch.testing.assert_close(scaled.classifier(scaled.generator(z)), scale * base.classifier(base.generator(z)))
    assert scaled.exact_mean_radius() == base.exact_mean_radius()
