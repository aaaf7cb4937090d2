"""Tests of the 2D-grid data and the nearest-mean classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genloose._errors import InvalidArgumentError
from genloose.reference_models.grid import (
    NearestMeanClassifier,
    _sample_grid_torch,
    grid_means,
    sample_grid,
)


def _brute_force_means(n: int) -> np.ndarray:
    return np.array([(2.0 * i, 2.0 * j) for i in range(-n, n + 1) for j in range(-n, n + 1)])


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_grid_means_row_major(n: int) -> None:
    means = grid_means(n)
    assert means.shape == ((2 * n + 1) ** 2, 2)
    assert means.dtype == np.float64
    np.testing.assert_array_equal(means, _brute_force_means(n))


def test_grid_means_default_is_the_paper_grid() -> None:
    means = grid_means()
    assert len(means) == 25
    assert means.min() == -4.0
    assert means.max() == 4.0
    np.testing.assert_array_equal(means[12], [0.0, 0.0])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_grid_means_rejects_bad_n(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="n must be"):
        grid_means(bad)  # type: ignore[arg-type]


def test_sample_grid_seeded_and_isolated_from_global_rng() -> None:
    state = np.random.get_state()[1].copy()
    a = sample_grid(500, seed=3)
    b = sample_grid(500, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample_grid(500, seed=4))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_sample_grid_moments_match_the_mixture() -> None:
    # Each point is mu_k + 0.05 eps: E||x - mu||^2 = 2 sigma^2, and modes are uniform.
    x = sample_grid(20_000, seed=0)
    means = grid_means(2)
    d2 = ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
    nearest = d2.argmin(axis=1)
    sq = d2.min(axis=1)
    sigma2 = 0.05**2
    # Var(||eps||^2 sigma^2) = sigma^4 Var(chi2_2) = 4 sigma^4
    se = math.sqrt(4 * sigma2**2 / len(x))
    assert abs(sq.mean() - 2 * sigma2) <= 4 * se
    counts = np.bincount(nearest, minlength=25)
    expected = len(x) / 25
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 60.0  # chi2 with 24 dof: P(> 60) < 1e-4
    assert sq.max() < 0.5**2  # 10 sigma: never reached


def test_sample_grid_custom_grid_and_std() -> None:
    x = sample_grid(100, n=0, std=0.0, seed=1)
    np.testing.assert_array_equal(x, np.zeros((100, 2)))
    assert sample_grid(0, seed=0).shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_samples": -1}, "num_samples"),
        ({"num_samples": 2.0}, "num_samples"),
        ({"num_samples": 5, "std": -0.1}, "std"),
        ({"num_samples": 5, "std": math.nan}, "std"),
        ({"num_samples": 5, "n": -1}, "n must be"),
        ({"num_samples": 5, "seed": 1.5}, "seed"),
        ({"num_samples": 5, "seed": -3}, "seed"),
    ],
)
def test_sample_grid_validates(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        sample_grid(**kwargs)


def test_torch_sampler_is_seeded_and_labelled_by_its_mode() -> None:
    a = _sample_grid_torch(1000, n=2, std=0.05, generator=torch.Generator().manual_seed(0))
    b = _sample_grid_torch(1000, n=2, std=0.05, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    labels = NearestMeanClassifier().predict(a)
    centres = torch.from_numpy(grid_means(2)).float()[labels]
    assert float((a - centres).norm(dim=1).max()) < 0.5


@given(
    points=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-7, 7, allow_nan=False)),
    n=st.integers(0, 3),
)
def test_classifier_argmax_is_the_nearest_mean(points: np.ndarray, n: int) -> None:
    means = _brute_force_means(n)
    d2 = ((points[:, None, :] - means[None]) ** 2).sum(axis=2)
    best = d2.min(axis=1, keepdims=True)
    classifier = NearestMeanClassifier(n)
    scores = classifier(torch.from_numpy(points))
    assert scores.shape == (len(points), len(means))
    predicted = classifier.predict(torch.from_numpy(points)).numpy()
    # The predicted mean is at the minimal distance (ties may go either way up to rounding).
    chosen = d2[np.arange(len(points)), predicted]
    np.testing.assert_allclose(chosen, best[:, 0], rtol=1e-12, atol=1e-9)
    # Scores equal -||x - mu||^2 / 2 up to the per-row constant ||x||^2 / 2.
    expected = -0.5 * d2 + 0.5 * (points**2).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-9, atol=1e-9)


def test_classifier_examples_and_row_major_labels() -> None:
    classifier = NearestMeanClassifier()
    means = torch.from_numpy(grid_means(2))
    np.testing.assert_array_equal(classifier.predict(means).numpy(), np.arange(25))
    assert classifier.num_classes == 25
    assert NearestMeanClassifier(n=0).predict(torch.tensor([[9.0, -9.0]])).tolist() == [0]


def test_classifier_is_differentiable_and_keeps_dtype() -> None:
    classifier = NearestMeanClassifier()
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float32, requires_grad=True)
    scores = classifier(x)
    assert scores.dtype == torch.float32
    scores[0, 12].backward()
    torch.testing.assert_close(x.grad, torch.zeros(1, 2))  # the mean of class 12 is the origin
    x64 = torch.tensor([[0.3, -0.7]], dtype=torch.float64, requires_grad=True)
    classifier(x64)[0, 24].backward()
    torch.testing.assert_close(x64.grad, torch.tensor([[4.0, 4.0]], dtype=torch.float64))


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(3, 3),
        torch.zeros(3),
        torch.zeros(2, 2, dtype=torch.int64),
        torch.tensor([[0.0, math.nan]]),
        torch.tensor([[math.inf, 0.0]]),
        np.zeros((2, 2)),
    ],
)
def test_classifier_validates_input(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="x must be"):
        NearestMeanClassifier()(bad)  # type: ignore[arg-type]


def test_classifier_rejects_bad_n() -> None:
    with pytest.raises(InvalidArgumentError, match="n must be"):
        NearestMeanClassifier(n=-1)
