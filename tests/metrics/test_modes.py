"""Tests of the known-mode coverage metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genloose._errors import InvalidArgumentError
from genloose.metrics.modes import ModeMetrics, cell_support_size, mode_metrics
from genloose.reference_models.grid import grid_means, sample_grid

MEANS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])


def _reference(
    samples: np.ndarray, means: np.ndarray, std: float, sigmas: float, min_count: int, fraction: float
) -> tuple[int, float, int, list, list]:
    """Loop-based reference implementation."""
    counts = [0] * len(means)
    good_counts = [0] * len(means)
    good = 0
    for x in samples:
        squared = [float(((x - mu) ** 2).sum()) for mu in means]
        k = min(range(len(means)), key=lambda i: (squared[i], i))
        counts[k] += 1
        if math.sqrt(squared[k]) < sigmas * std:
            good_counts[k] += 1
            good += 1
    captured = sum(c >= min_count for c in good_counts)
    # "at least a fraction of the samples", up to a relative rounding tolerance of 1e-12
    support = sum(c >= fraction * len(samples) * (1 - 1e-12) for c in counts)
    return captured, good / len(samples), support, counts, good_counts


def test_hand_built_point_set() -> None:
    std = 0.1
    x = np.array(
        [
            [0.0, 0.0],
            [0.1, 0.1],
            [0.0, -0.29],  # mode 0: three high-quality points
            [2.0, 0.31],  # mode 1: 3.1 sigma: not high quality
            [1.2, 1.9],  # nearest mode 3 (2, 2)? no: (0, 2) is at 1.2
            [2.05, 2.0],  # mode 3: high quality
        ]
    )
    m = mode_metrics(x, MEANS, std=std)
    assert isinstance(m, ModeMetrics)
    # (1.2, 1.9) is 1.2042 from (0, 2) and 0.8062 from (2, 2): mode 3.
    assert m.mode_counts.tolist() == [3, 1, 0, 2]
    assert m.high_quality_counts.tolist() == [3, 0, 0, 1]
    assert m.modes_captured == 2
    assert m.high_quality_fraction == pytest.approx(4 / 6)
    assert m.num_samples == 6
    assert m.num_modes == 4
    assert m.support_size == 3  # every non-empty cell holds >= 1% of 6 points
    assert mode_metrics(x, MEANS, std=std, min_count=2).modes_captured == 1
    assert mode_metrics(x, MEANS, std=std, min_count=4).modes_captured == 0
    assert mode_metrics(x, MEANS, std=std, support_min_fraction=2 / 6).support_size == 2
    assert mode_metrics(x, MEANS, std=std, support_min_fraction=0.5).support_size == 1
    assert mode_metrics(x, MEANS, std=std, quality_sigmas=3.2).modes_captured == 3


def test_quality_radius_is_strict() -> None:
    # A point at exactly 3 sigma is not high quality (PacGAN's "< 3 standard deviations").
    x = np.array([[0.0, 0.25]])
    assert mode_metrics(x, MEANS, std=0.25 / 3.0 + 1e-15).high_quality_fraction == 1.0
    assert mode_metrics(x, MEANS, std=0.25 / 3.0 - 1e-15).high_quality_fraction == 0.0


def test_support_threshold_includes_equality() -> None:
    # 7 of 100 points in mode 1: fraction 0.07 is reached exactly (0.07 * 100 is 7.000000000000001).
    x = np.array([[0.0, 0.0]] * 93 + [[2.0, 0.0]] * 7)
    assert mode_metrics(x, MEANS, std=0.05, support_min_fraction=0.07).support_size == 2
    assert mode_metrics(x, MEANS, std=0.05, support_min_fraction=0.0701).support_size == 1


def test_perfect_grid_sample_matches_the_closed_form() -> None:
    # For data from the mixture itself, P(||x - mu|| < 3 sigma) = 1 - exp(-9/2) (chi2 with 2 dof),
    # when the nearest mean is the generating one (always, at 40 sigma spacing).
    x = sample_grid(10_000, seed=5)
    m = mode_metrics(x, grid_means(2), std=0.05)
    p = 1 - math.exp(-4.5)
    se = math.sqrt(p * (1 - p) / len(x))
    assert abs(m.high_quality_fraction - p) <= 4 * se
    assert m.modes_captured == 25
    assert m.support_size == 25
    assert m.mode_counts.sum() == len(x)


def test_collapsed_sample() -> None:
    x = np.array([[2.0, 2.0]] * 99 + [[1.0, 1.0]])  # one mode plus one point between modes
    m = mode_metrics(x, grid_means(2), std=0.05)
    assert m.modes_captured == 1
    assert m.high_quality_fraction == pytest.approx(0.99)
    assert m.support_size == 2  # (1, 1) is a cell of its own: 1% of the points
    assert mode_metrics(x, grid_means(2), std=0.05, support_min_fraction=0.02).support_size == 1


@given(
    samples=arrays(np.float64, st.tuples(st.integers(1, 40), st.just(2)), elements=st.floats(-3, 5, allow_nan=False)),
    std=st.floats(0.05, 1.0),
    sigmas=st.floats(0.5, 4.0),
    min_count=st.integers(1, 4),
    fraction=st.floats(0.01, 1.0),
)
def test_matches_loop_reference(
    samples: np.ndarray, std: float, sigmas: float, min_count: int, fraction: float
) -> None:
    m = mode_metrics(samples, MEANS, std=std, quality_sigmas=sigmas, min_count=min_count, support_min_fraction=fraction)
    captured, good, support, counts, good_counts = _reference(samples, MEANS, std, sigmas, min_count, fraction)
    assert m.mode_counts.tolist() == counts
    assert m.high_quality_counts.tolist() == good_counts
    assert m.modes_captured == captured
    assert m.high_quality_fraction == pytest.approx(good)
    assert m.support_size == support


def test_accepts_lists_tensors_and_higher_dimensions() -> None:
    means3 = np.eye(3)
    x = torch.tensor([[1.0, 0.0, 0.01], [0.0, 1.0, 0.0]], dtype=torch.float32)
    m = mode_metrics(x, means3.tolist(), std=0.1)
    assert m.mode_counts.tolist() == [1, 1, 0]
    assert m.to_dict()["high_quality_counts"] == [1, 1, 0]


@pytest.mark.parametrize(
    ("samples", "means", "kwargs", "match"),
    [
        (np.zeros((0, 2)), MEANS, {}, "samples must be at least one point"),
        (np.zeros((3, 3)), MEANS, {}, r"samples must be an array of shape \(m, 2\)"),
        (np.zeros(4), MEANS, {}, "samples must be"),
        (np.array([[0.0, math.nan]]), MEANS, {}, "samples must be finite"),
        (np.array([[0.0, math.inf]]), MEANS, {}, "samples must be finite"),
        (np.array([["a", "b"]]), MEANS, {}, "samples must be a real-valued"),
        (np.zeros((2, 2)), np.zeros((0, 2)), {}, "means must be at least one point"),
        (np.zeros((2, 2)), MEANS, {"std": 0.0}, "std must be"),
        (np.zeros((2, 2)), MEANS, {"std": -1.0}, "std must be"),
        (np.zeros((2, 2)), MEANS, {"quality_sigmas": 0.0}, "quality_sigmas"),
        (np.zeros((2, 2)), MEANS, {"min_count": 0}, "min_count"),
        (np.zeros((2, 2)), MEANS, {"support_min_fraction": 0.0}, "support_min_fraction"),
        (np.zeros((2, 2)), MEANS, {"support_min_fraction": 1.5}, "support_min_fraction"),
    ],
)
def test_validation(samples: np.ndarray, means: np.ndarray, kwargs: dict, match: str) -> None:
    kwargs = {"std": 0.05, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        mode_metrics(samples, means, **kwargs)


@given(
    samples=arrays(
        np.float64, st.tuples(st.integers(1, 50), st.integers(1, 3)), elements=st.floats(-1, 1, allow_nan=False)
    ),
    cell=st.floats(0.05, 2.0),
    min_count=st.integers(1, 3),
)
def test_cell_support_size_matches_brute_force(samples: np.ndarray, cell: float, min_count: int) -> None:
    counts: dict[tuple[int, ...], int] = {}
    for x in samples:
        key = tuple(math.floor(v / cell) for v in x)
        counts[key] = counts.get(key, 0) + 1
    expected = sum(c >= min_count for c in counts.values())
    assert cell_support_size(samples, cell_size=cell, min_count=min_count) == expected


def test_cell_support_size_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="cell_size"):
        cell_support_size(np.zeros((2, 2)), cell_size=0.0)
    with pytest.raises(InvalidArgumentError, match="min_count"):
        cell_support_size(np.zeros((2, 2)), cell_size=0.1, min_count=0)
    with pytest.raises(InvalidArgumentError, match="cell_size"):
        cell_support_size(np.array([[1e300, 0.0]]), cell_size=1e-300)
