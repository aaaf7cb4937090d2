"""Tests for genloose.estimate."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
from scipy import stats

from genloose import Estimate, InvalidArgumentError
from genloose.estimate import normal_quantile


def test_normal_quantile_matches_scipy() -> None:
    # the reference from the upper tail: ppf(0.5 + level / 2) itself loses digits near 1 (4e-12 at 0.999999)
    for level in (0.5, 0.9, 0.95, 0.999999, 1 - 1e-16):
        assert normal_quantile(level) == pytest.approx(stats.norm.isf((1 - level) / 2), rel=1e-12)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, float("nan"), "0.9"])
def test_normal_quantile_rejects_bad_levels(level) -> None:
    with pytest.raises(InvalidArgumentError, match="confidence must be"):
        normal_quantile(level)


def test_wald_interval_and_frozen() -> None:
    e = Estimate.from_normal(2.0, 0.5, n=30, confidence=0.9, method="m")
    half = stats.norm.ppf(0.95) * 0.5
    assert (e.ci_low, e.ci_high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.value = 3.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(e)) == e


def test_decreasing_transform_swaps_the_interval_and_uses_the_delta_method() -> None:
    e = Estimate.from_normal(0.2, 0.01, n=100, confidence=0.95, method="q")
    h = e.transform(lambda q: -math.log(q), increasing=False, derivative=lambda q: -1 / q, method="h")
    assert h.value == pytest.approx(-math.log(0.2))
    assert (h.ci_low, h.ci_high) == pytest.approx((-math.log(e.ci_high), -math.log(e.ci_low)))
    assert h.stderr == pytest.approx(0.01 / 0.2)
    assert h.method == "h"
    assert math.isnan(e.transform(lambda q: q, increasing=True).stderr)


def test_to_dict_and_str() -> None:
    e = Estimate(1.0, 0.1, 0.8, 1.2, 0.95, 10, "m")
    assert e.to_dict() == {
        "value": 1.0,
        "stderr": 0.1,
        "ci_low": 0.8,
        "ci_high": 1.2,
        "confidence": 0.95,
        "n": 10,
        "method": "m",
    }
    assert "95% CI [0.8, 1.2]" in str(e)
