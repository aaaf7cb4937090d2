"""Tests of the half-space testbed: its closed forms against mpmath and the universal cap."""

from __future__ import annotations

import pytest

from genloose.testing import (
    halfspace,
)
from tests.testing.testbeds._cases import _universal_cap


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


@pytest.mark.parametrize(("d", "offset"), [(1, 0.0), (2, 0.4), (9, -2.5), (50, 3.0)])
def test_halfspace_attains_universal_cap(d: int, offset: float) -> None:
    tb = halfspace(d, offset=offset, seed=d)
    assert tb.exact_mean_radius() == pytest.approx(_universal_cap(tb.class_probabilities()), rel=1e-10)
