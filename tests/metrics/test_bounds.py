"""Tests of genloose/metrics/bounds.py: the bounds at the sample estimates, their errors and intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genloose.estimate import Estimate
from genloose.metrics.bounds import (
    entropy_upper_bound_estimate,
    fawzi_cap_estimate,
    theorem_3_1_estimate,
)
from genloose.theory import collision_entropy_upper_bound, fawzi_bound, theorem_3_1_bound


def test_fawzi_cap_standard_error_matches_a_parametric_bootstrap() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    n = 2000
    counts = np.round(p * n).astype(np.int64)
    delta = fawzi_cap_estimate(counts, 0.95)
    rng = np.random.default_rng(0)
    draws = rng.multinomial(n, p, size=4000) / n
    values = np.array([fawzi_bound(d[d > 0] / d[d > 0].sum()) for d in draws])
    # the bootstrap SD has relative error ~ 1/sqrt(2 * 4000) ~ 1.1%; 4 of those: 4.5%, plus delta-method error
    assert delta.stderr == pytest.approx(values.std(ddof=1), rel=0.08)
    assert fawzi_cap_estimate(np.array([10, 0]), 0.95).value == math.inf


@pytest.mark.parametrize("q", [0.01, 0.05, 0.1, 0.19])
def test_bound_standard_errors_are_finite_difference_slopes(q: float) -> None:
    """The delta-method errors: |dg/dq| and |dG^-1/dr| times the input's error, slopes by central differences."""
    h = 1e-6 * q
    numeric = (theorem_3_1_bound(q + h) - theorem_3_1_bound(q - h)) / (2 * h)
    collision = Estimate.from_normal(q, 1e-3, n=1000, confidence=0.95, method="test")
    assert theorem_3_1_estimate(collision, 0.19).stderr == pytest.approx(abs(numeric) * 1e-3, rel=1e-6)
    r = float(theorem_3_1_bound(q))
    step = 1e-6
    numeric = (collision_entropy_upper_bound(r + step) - collision_entropy_upper_bound(r - step)) / (2 * step)
    radius = Estimate.from_normal(r, 1e-3, n=1000, confidence=0.95, method="test")
    assert entropy_upper_bound_estimate(radius, 0.19).stderr == pytest.approx(abs(numeric) * 1e-3, rel=1e-5)


def test_bound_intervals_clip_at_the_hypothesis_edge() -> None:
    q = Estimate(0.15, 0.05, -0.01, 0.31, 0.95, 100, "test")
    bound = theorem_3_1_estimate(q, 0.19)
    assert bound.ci_low == 0.0  # g(0) = 0, the limit
    assert bound.ci_high == pytest.approx(theorem_3_1_bound(0.2))
    r = Estimate(1.0, 0.5, -0.1, 2.0, 0.95, 100, "test")
    entropy = entropy_upper_bound_estimate(r, 0.1)
    assert entropy.ci_high == math.inf  # radius 0 allows any entropy
    assert entropy.ci_low == pytest.approx(math.log(5.0), rel=1e-9)  # radius clipped at g(1/5)
    too_loose = entropy_upper_bound_estimate(Estimate(1.8, 0.1, 1.6, 2.0, 0.95, 100, "t"), 0.1)
    assert not too_loose.hypothesis_holds
    assert math.isnan(too_loose.value)
