"""Tests of the exact class-radius testbeds against brute force, Monte Carlo and quadrature.

Statistical tests are seeded; each compares at 4 standard errors (false-failure rate about 6e-5
per comparison for a correct formula), so with the fixed seeds they are deterministic.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

from genloose._errors import InvalidArgumentError
from genloose.testing import (
    GridVoronoiTestbed,
    HalfspaceTestbed,
    SectorsTestbed,
    SpheresTestbed,
    Testbed,
    all_testbeds,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
    with_logit_scale,
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


# ---- closed forms ----------------------------------------------------------------------------


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


def test_halfspace_mean_radius_matches_mpmath() -> None:
    # E|X + mu| for X ~ N(0, 1), integrated with mpmath at 30 digits. (research §9 quotes 3.8383
    # for mu = 3.8, which contradicts its own formula: E r = 3.800034 there.)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    for mu, d in [(3.8, 2), (0.0, 7), (-1.3, 3), (0.25, 1)]:

        def density(x: object, mu: float = mu) -> object:
            return abs(x + mu) * mpmath.npdf(x)

        reference = float(mpmath.quad(density, [-mpmath.inf, -mu, mpmath.inf]))
        tb = halfspace(d, offset=mu * 2.0, normal=[2.0] + [0.0] * (d - 1))
        assert tb.exact_mean_radius() == pytest.approx(reference, rel=1e-13)


def test_sectors_large_k_limit() -> None:
    k = 10**6
    limit = math.pi**1.5 / (2**1.5 * k)
    assert sectors(2, k).exact_mean_radius() == pytest.approx(limit, rel=1e-9)


@given(
    d=st.integers(1, 300),
    radii=st.lists(st.floats(0.05, 25.0), min_size=1, max_size=4, unique=True).map(sorted),
)
def test_spheres_mean_radius_matches_quadrature(d: int, radii: list[float]) -> None:
    radii = [r for i, r in enumerate(radii) if i == 0 or r - radii[i - 1] > 1e-3]
    tb = spheres(d, radii)
    rho = np.asarray(radii)
    chi = stats.chi(d)

    def integrand(s: float) -> float:
        return float(np.min(np.abs(s - rho)) * chi.pdf(s))

    breaks = sorted({*radii, *((rho[:-1] + rho[1:]) / 2)})
    edges = [0.0, *breaks, max(breaks[-1], math.sqrt(d)) + 40.0]
    total = sum(
        integrate.quad(integrand, a, b, epsabs=1e-13, epsrel=1e-11, limit=200)[0] for a, b in itertools.pairwise(edges)
    )
    assert tb.exact_mean_radius() == pytest.approx(total, rel=1e-7, abs=1e-10)
    if len(radii) == 1:  # the one-sphere closed form of the brief, written out independently
        rho0 = radii[0]
        mu = math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
        x = rho0 * rho0 / 2
        closed = mu - rho0 + 2 * (rho0 * special.gammainc(d / 2, x) - mu * special.gammainc((d + 1) / 2, x))
        assert tb.exact_mean_radius() == pytest.approx(closed, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_grid_mean_radius_matches_2d_riemann_sum(scale: float) -> None:
    # Independent of the 1-D quadrature: integrate exact_radius against the N(0, I_2) density
    # with the midpoint rule on a fine latent grid (measured error ~2e-7 for the mean radius;
    # O(h) ~ 1e-4 for the probabilities, whose integrands jump at the cell edges).
    tb = grid_voronoi(2, n=1, scale=scale, seed=3)
    h = 0.02
    axis = np.arange(-7.0 + h / 2, 7.0, h)
    u, v = np.meshgrid(axis, axis, indexing="ij")
    z = np.stack((u.ravel(), v.ravel()), axis=1)
    weight = np.exp(-0.5 * np.sum(z * z, axis=1)) / (2 * np.pi) * h * h
    assert float(weight @ tb.exact_radius(z)) == pytest.approx(tb.exact_mean_radius(), abs=2e-6)
    counts = np.bincount(tb.label(z), weights=weight, minlength=tb.num_classes)
    np.testing.assert_allclose(counts, tb.class_probabilities(), atol=5e-4)


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


@pytest.mark.parametrize(("d", "offset"), [(1, 0.0), (2, 0.4), (9, -2.5), (50, 3.0)])
def test_halfspace_attains_universal_cap(d: int, offset: float) -> None:
    tb = halfspace(d, offset=offset, seed=d)
    assert tb.exact_mean_radius() == pytest.approx(_universal_cap(tb.class_probabilities()), rel=1e-10)


# ---- per point: brute force and boundary checks ---------------------------------------------


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


def test_nearest_boundary_point_at_the_origin_of_spheres() -> None:
    tb = spheres(3, [0.5, 2.0])
    assert np.array_equal(tb.nearest_boundary_point(np.zeros((1, 3))), [[0.5, 0.0, 0.0]])
    assert tb.exact_radius(np.zeros((1, 3)))[0] == 0.5


# ---- exact side vs torch side ----------------------------------------------------------------


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


# ---- registry, types, validation -------------------------------------------------------------


def test_all_testbeds_is_fixed_and_covers_every_kind() -> None:
    first, second = all_testbeds(5), all_testbeds(5)
    assert [tb.name for tb in first] == [tb.name for tb in second]
    kinds = {type(tb) for tb in first}
    assert kinds == {HalfspaceTestbed, SectorsTestbed, SpheresTestbed, GridVoronoiTestbed}
    assert any(tb.name.startswith("invertible(") for tb in first)
    assert any(tb.name.startswith("logit_scale(") for tb in first)
    z = _latents(first[0], 10, seed=0)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.exact_radius(z), b.exact_radius(z))


def test_construction_leaves_global_rng_alone() -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    all_testbeds(6)
    invertible_wrapper(halfspace(3), seed=7)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))


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
