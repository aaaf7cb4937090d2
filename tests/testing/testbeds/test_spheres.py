"""Tests of the spheres testbed: mean radius against quadrature, the origin's nearest boundary point."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

from genloose.testing import (
    spheres,
)


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


def test_nearest_boundary_point_at_the_origin_of_spheres() -> None:
    tb = spheres(3, [0.5, 2.0])
    assert np.array_equal(tb.nearest_boundary_point(np.zeros((1, 3))), [[0.5, 0.0, 0.0]])
    assert tb.exact_radius(np.zeros((1, 3)))[0] == 0.5
