"""Tests of the :class:`Testbed` contract on every family: closed forms against references, Monte Carlo, brute
force and the torch models; the argument checks of every factory.

Statistical tests are seeded; each compares at 4 standard errors (false-failure rate about 6e-5
per comparison for a correct formula), so with the fixed seeds they are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genloose._errors import InvalidArgumentError
from genloose.testing import (
    Testbed,
    all_testbeds,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
    with_logit_scale,
)
from tests.testing.testbeds._cases import ALL, D2, D7, EXTRA, _ids, _latents, _torch_labels, _universal_cap


@pytest.mark.parametrize(
    ("testbed", "expected", "tol"),
    [
        # values from research/min-norm-attacks.md §9, each checked there against MC or brute force
        (halfspace(16), math.sqrt(2 / math.pi), 1e-15),
        (sectors(2, 2), 0.79788, 5e-6),
        (sectors(9, 3), 0.59841, 5e-6),
        (sectors(3, 10), 0.19526, 5e-6),
        (sectors(2, 1000), 0.001969, 5e-7),
        (spheres(2, 1.0), 0.5421, 5e-5),
        (spheres(10, 3.0), 0.5593, 5e-5),
        (spheres(128, 11.0), 0.6088, 5e-5),
        (spheres(512, 22.6), 0.5642, 5e-5),
    ],
    ids=lambda v: v.name if isinstance(v, Testbed) else "",
)
def test_reference_mean_radii(testbed: Testbed, expected: float, tol: float) -> None:
    assert abs(testbed.exact_mean_radius() - expected) <= tol


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_mean_radius_matches_monte_carlo(testbed: Testbed) -> None:
    r = testbed.exact_radius(_latents(testbed, 100_000, seed=11))
    se = r.std(ddof=1) / math.sqrt(r.size)
    assert abs(r.mean() - testbed.exact_mean_radius()) <= 4 * se


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_class_probabilities_match_monte_carlo(testbed: Testbed) -> None:
    p = testbed.class_probabilities()
    assert p.shape == (testbed.num_classes,)
    assert p.dtype == np.float64
    assert np.all(p >= 0)
    assert abs(p.sum() - 1.0) <= 1e-12
    n = 100_000
    counts = np.bincount(testbed.label(_latents(testbed, n, seed=12)), minlength=testbed.num_classes)
    se = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) <= 4 * se + 1e-9)


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_mean_radius_respects_universal_cap(testbed: Testbed) -> None:
    assert testbed.exact_mean_radius() <= _universal_cap(testbed.class_probabilities()) + 1e-12


def _brute_force_radius_2d(
    tb: Testbed, z: np.ndarray, *, rays: int = 20_000, t_max: float = 6.0, steps: int = 300, bisections: int = 40
) -> float:
    """min over a dense fan of rays of the first label change, found by marching and bisection.

    Uses only the torch models. Angular error (π/rays)²·r/2 ≈ 1.2e-8·r; bisection error
    (t_max/steps)/2^40. Every value is the distance of a real witness, so it is >= r(z).
    """
    angles = np.linspace(0.0, 2 * np.pi, rays, endpoint=False)
    directions = torch.as_tensor(np.stack((np.cos(angles), np.sin(angles)), axis=1))
    origin = torch.as_tensor(z)

    def labels(points: torch.Tensor) -> torch.Tensor:
        return tb.classifier(tb.generator(points)).argmax(dim=1)

    h = t_max / steps
    with torch.no_grad():
        y = labels(origin[None])[0]
        first = torch.full((rays,), -1, dtype=torch.int64)
        for step in range(1, steps + 1):
            changed = (labels(origin + step * h * directions) != y) & (first < 0)
            first[changed] = step
            if bool((first >= 0).all()):
                break
        found = first >= 0
        lo = (first[found] - 1).double() * h
        hi = first[found].double() * h
        d = directions[found]
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            same = labels(origin + mid[:, None] * d) == y
            lo, hi = torch.where(same, mid, lo), torch.where(same, hi, mid)
    return float(hi.min())


D2_BRUTE = [*D2, grid_voronoi(2, n=1, scale=1.0, seed=9)]


@pytest.mark.parametrize("testbed", D2_BRUTE, ids=_ids(D2_BRUTE))
def test_exact_radius_matches_brute_force_in_2d(testbed: Testbed) -> None:
    torch.set_num_threads(1)
    z = _latents(testbed, 2, seed=13)
    exact = testbed.exact_radius(z)
    for point, r in zip(z, exact, strict=True):
        brute = _brute_force_radius_2d(testbed, point)
        assert r <= brute + 1e-12  # a witness is never closer than r(z)
        assert brute <= r + 1e-6  # and the best ray finds the boundary


@pytest.mark.parametrize("testbed", D7 + EXTRA, ids=_ids(D7 + EXTRA))
def test_nearest_boundary_point(testbed: Testbed) -> None:
    rng = np.random.default_rng(14)
    z = rng.standard_normal((40, testbed.latent_dim))
    r = testbed.exact_radius(z)
    b = testbed.nearest_boundary_point(z)
    np.testing.assert_allclose(np.linalg.norm(b - z, axis=1), r, rtol=1e-10, atol=1e-12)
    keep = r > 1e-6
    z, r, b = z[keep], r[keep], b[keep]
    y = _torch_labels(testbed, z)
    assert np.all(_torch_labels(testbed, z + (1 + 1e-6) * (b - z)) != y)
    assert np.all(_torch_labels(testbed, z + (1 - 1e-6) * (b - z)) == y)
    # random points strictly closer than r keep the label, including ones aimed near b
    toward = (b - z) / r[:, None]
    for spread in (0.0, 0.05, 0.3, 3.0):
        noise = rng.standard_normal(z.shape)
        u = toward + spread * noise
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        assert np.all(_torch_labels(testbed, z + (1 - 1e-6) * r[:, None] * u) == y)


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_exact_labels_agree_with_torch(testbed: Testbed) -> None:
    z = _latents(testbed, 3000, seed=15)
    exact = testbed.label(z)
    assert exact.dtype == np.int64
    assert np.all((exact >= 0) & (exact < testbed.num_classes))
    assert np.array_equal(_torch_labels(testbed, z), exact)
    z32 = torch.as_tensor(z, dtype=torch.float32)
    with torch.no_grad():
        scores = testbed.classifier(testbed.generator(z32))
    assert scores.dtype == torch.float32
    assert scores.shape == (3000, testbed.num_classes)
    away = testbed.exact_radius(z) > 1e-3  # float32 round-off can flip labels right at a boundary
    assert np.array_equal(scores.argmax(dim=1).numpy()[away], exact[away])


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_modules_are_parameter_free_eval_and_follow_dtype(testbed: Testbed) -> None:
    for module in (testbed.generator, testbed.classifier):
        assert isinstance(module, torch.nn.Module)
        assert not module.training
        assert list(module.parameters()) == []
    for dtype in (torch.float32, torch.float64):
        x = testbed.generator(torch.zeros(3, testbed.latent_dim, dtype=dtype))
        assert x.dtype == dtype
        assert testbed.classifier(x).dtype == dtype
    empty = testbed.classifier(testbed.generator(torch.zeros(0, testbed.latent_dim)))
    assert empty.shape == (0, testbed.num_classes)


@pytest.mark.parametrize("testbed", ALL, ids=_ids(ALL))
def test_scores_are_differentiable(testbed: Testbed) -> None:
    z = torch.as_tensor(_latents(testbed, 3, seed=16) + 0.5).requires_grad_(True)

    def composite(latent: torch.Tensor) -> torch.Tensor:
        return testbed.classifier(testbed.generator(latent))

    assert torch.autograd.gradcheck(composite, (z,), eps=1e-6, atol=1e-5)


def test_testbed_is_frozen_and_has_a_short_repr() -> None:
    tb = sectors(3, 4)
    with pytest.raises(AttributeError):
        tb.name = "other"  # type: ignore[misc]
    assert repr(tb) == "SectorsTestbed(name='sectors(d=3, K=4)', latent_dim=3, num_classes=4)"


def test_exact_methods_accept_tensors_and_lists() -> None:
    tb = halfspace(2, normal=[0.0, 2.0], offset=1.0)
    z = [[0.0, 1.0], [3.0, -2.0]]
    expected = np.array([1.5, 1.5])
    np.testing.assert_array_equal(tb.exact_radius(z), expected)
    np.testing.assert_array_equal(tb.exact_radius(torch.tensor(z)), expected)
    assert tb.exact_radius(np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize(
    "bad_z",
    [np.zeros(3), np.zeros((2, 4)), [[np.nan, 0.0, 0.0]], [[np.inf, 0.0, 0.0]], "abc", [[1.0, 2.0], [3.0]]],
    ids=["1d", "wrong-d", "nan", "inf", "string", "ragged"],
)
@pytest.mark.parametrize("method", ["label", "exact_radius", "nearest_boundary_point"])
def test_exact_methods_reject_bad_latents(bad_z: object, method: str) -> None:
    with pytest.raises(InvalidArgumentError, match="z must"):
        getattr(spheres(3, 1.0), method)(bad_z)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: halfspace(0), "latent_dim"),
        (lambda: halfspace(2.5), "latent_dim"),  # type: ignore[arg-type]
        (lambda: halfspace(2, offset=np.nan), "offset"),
        (lambda: halfspace(2, normal=[0.0, 0.0]), "normal"),
        (lambda: halfspace(2, normal=[1.0, 2.0, 3.0]), "normal"),
        (lambda: halfspace(2, seed=-1), "seed"),
        (lambda: sectors(1, 3), "latent_dim"),
        (lambda: sectors(3, 1), "num_classes"),
        (lambda: sectors(3, 3, plane=(0, 0)), "plane"),
        (lambda: sectors(3, 3, plane=(0, 3)), "plane"),
        (lambda: sectors(3, 3, plane=(0,)), "plane"),
        (lambda: spheres(3, []), "radii"),
        (lambda: spheres(3, [2.0, 1.0]), "radii"),
        (lambda: spheres(3, [1.0, 1.0]), "radii"),
        (lambda: spheres(3, [0.0, 1.0]), "radii"),
        (lambda: spheres(3, [[1.0]]), "radii"),
        (lambda: spheres(3, [1.0, np.inf]), "radii"),
        (lambda: grid_voronoi(1), "latent_dim"),
        (lambda: grid_voronoi(2, n=0), "n"),
        (lambda: grid_voronoi(2, scale=0.0), "scale"),
        (lambda: invertible_wrapper("not a testbed"), "testbed"),  # type: ignore[arg-type]
        (lambda: invertible_wrapper(halfspace(4), image_shape=3), "image_shape"),
        (lambda: invertible_wrapper(halfspace(4), image_shape=(2, 0, 4)), "image_shape"),
        (lambda: with_logit_scale(halfspace(4), -1.0), "scale"),
        (lambda: with_logit_scale(halfspace(4), np.inf), "scale"),
        (lambda: all_testbeds(1), "latent_dim"),
    ],
)
def test_factories_validate_arguments(factory: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        factory()  # type: ignore[operator]


@pytest.mark.parametrize("testbed", [D2[0], D2[5], D2[6]], ids=_ids([D2[0], D2[5], D2[6]]))
def test_modules_reject_bad_input(testbed: Testbed) -> None:
    with pytest.raises(InvalidArgumentError, match="floating-point"):
        testbed.generator(torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(InvalidArgumentError, match="shape"):
        testbed.generator(torch.zeros(2, 3))
    with pytest.raises(InvalidArgumentError, match="shape"):
        testbed.classifier(torch.zeros(2, 1, 1))


@pytest.mark.gpu
@pytest.mark.parametrize("testbed", D7, ids=_ids(D7))
def test_modules_follow_the_input_device(testbed: Testbed) -> None:
    z = torch.as_tensor(_latents(testbed, 500, seed=20))
    scores = testbed.classifier(testbed.generator(z.cuda()))
    assert scores.device.type == "cuda"
    torch.testing.assert_close(scores.cpu(), testbed.classifier(testbed.generator(z)))
