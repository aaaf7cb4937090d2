"""Tests for genloose.metrics.radius.aggregate: the Fawzi cap with its error, the cap check, the mean estimate.

Statistical checks are seeded; a 4-standard-error band has a false-failure rate of about 6e-5 per check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from genloose import UndefinedMetricWarning
from genloose.estimate import Estimate
from genloose.metrics.radius.aggregate import CAP_TEST_LEVEL, exceeds_cap, fawzi_cap, mean_estimate
from genloose.theory import fawzi_bound


@pytest.mark.parametrize("counts", [[500, 500], [700, 200, 100], [40, 30, 20, 10], [1, 1, 998]])
def test_cap_is_the_fawzi_bound_at_the_observed_frequencies(counts: list[int]) -> None:
    counts_array = np.array(counts)
    cap, _ = fawzi_cap(counts_array)
    assert cap == pytest.approx(float(fawzi_bound(counts_array / counts_array.sum())), rel=1e-12)


def test_cap_ignores_empty_classes_and_one_class_has_no_boundary() -> None:
    assert fawzi_cap(np.array([300, 0, 700]))[0] == pytest.approx(fawzi_cap(np.array([300, 700]))[0], rel=1e-12)
    cap, stderr = fawzi_cap(np.array([0, 50, 0]))
    assert cap == math.inf
    assert math.isnan(stderr)


def test_cap_stderr_matches_the_spread_of_the_plug_in_under_multinomial_sampling() -> None:
    # the delta method's standard error against the standard deviation of the plug-in cap over 4000 seeded
    # multinomial samples of n = 2000 labels; the sample standard deviation's own relative error is about
    # 1/sqrt(2 * 4000) = 1.1%, so 4 of those is the band (measured: 0.992 of the delta method's)
    rng = np.random.default_rng(7)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    n, replications = 2000, 4000
    caps = np.array([fawzi_cap(rng.multinomial(n, p))[0] for _ in range(replications)])
    _, stderr = fawzi_cap(np.round(p * n).astype(np.int64))
    assert caps.std(ddof=1) == pytest.approx(stderr, rel=4 / math.sqrt(2 * replications))


def test_cap_stderr_vanishes_at_the_uniform_distribution() -> None:
    # the cap is largest at uniform p, where its gradient along the simplex is zero
    assert fawzi_cap(np.full(5, 200))[1] == pytest.approx(0.0, abs=1e-12)


def _estimate(value: float, stderr: float, n: int = 100) -> Estimate:
    return Estimate.from_normal(value, stderr, n=n, confidence=0.95, method="mean")


def test_cap_check_rejects_at_its_level_and_not_below() -> None:
    critical = float(stats.norm.isf(CAP_TEST_LEVEL))
    spread = math.hypot(0.01, 0.02)
    cap = 0.8
    assert exceeds_cap(_estimate(cap + 1.01 * critical * spread, 0.01), cap, 0.02)
    assert not exceeds_cap(_estimate(cap + 0.99 * critical * spread, 0.01), cap, 0.02)


@pytest.mark.parametrize(
    ("estimate", "cap", "sampled"),
    [
        (_estimate(2.0, 0.01), 0.8, False),  # latents the caller chose: the cap bounds the mean over N(0, I) only
        (Estimate(2.0, math.nan, math.nan, math.nan, 0.95, 1, "one point"), 0.8, True),  # no error to test with
        (_estimate(math.nan, math.nan), 0.8, True),
        (_estimate(2.0, 0.01), math.inf, True),  # one class: no boundary, nothing to exceed
    ],
)
def test_cap_check_claims_no_failure_where_it_does_not_apply(estimate: Estimate, cap: float, sampled: bool) -> None:
    assert not exceeds_cap(estimate, cap, 0.0, sampled=sampled)


def test_mean_estimate_is_the_mean_with_a_wald_interval_over_the_finite_radii() -> None:
    radii = np.array([0.2, 0.4, 0.9, 1.3, 0.7])
    estimate = mean_estimate(radii, 7, 0.9)
    assert estimate.value == pytest.approx(radii.mean(), rel=1e-15)
    assert estimate.stderr == pytest.approx(radii.std(ddof=1) / math.sqrt(5), rel=1e-15)
    half = float(stats.norm.isf(0.05)) * estimate.stderr
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx((radii.mean() - half, radii.mean() + half), rel=1e-12)
    assert estimate.n == 5
    assert estimate.method.endswith("2 of 7 censored points excluded")


def test_mean_estimate_of_one_radius_has_no_interval_and_of_none_warns() -> None:
    one = mean_estimate(np.array([0.5]), 1, 0.95)
    assert one.value == 0.5
    assert math.isnan(one.stderr)
    assert math.isnan(one.ci_low)
    assert math.isnan(one.ci_high)
    with pytest.warns(UndefinedMetricWarning, match="every point is censored"):
        none = mean_estimate(np.array([]), 3, 0.95)
    assert math.isnan(none.value)
    assert none.n == 0
