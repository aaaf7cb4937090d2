"""Tests of the sectors testbed: reference mean radii and the large-K limit."""

from __future__ import annotations

import math

import pytest

from genloose._errors import InvalidArgumentError
from genloose.testing import (
    Testbed,
    sectors,
)


@pytest.mark.parametrize(
    ("testbed", "expected", "tol"),
    [
        # values from research/min-norm-attacks.md §9, each checked there against MC or brute force
        (sectors(2, 2), 0.79788, 5e-6),
        (sectors(9, 3), 0.59841, 5e-6),
        (sectors(3, 10), 0.19526, 5e-6),
        (sectors(2, 1000), 0.001969, 5e-7),
    ],
    ids=lambda v: v.name if isinstance(v, Testbed) else "",
)
def test_reference_mean_radii(testbed: Testbed, expected: float, tol: float) -> None:
    assert abs(testbed.exact_mean_radius() - expected) <= tol


def test_sectors_large_k_limit() -> None:
    k = 10**6
    limit = math.pi**1.5 / (2**1.5 * k)
    assert sectors(2, k).exact_mean_radius() == pytest.approx(limit, rel=1e-9)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: sectors(1, 3), "latent_dim"),
        (lambda: sectors(3, 1), "num_classes"),
        (lambda: sectors(3, 3, plane=(0, 0)), "plane"),
        (lambda: sectors(3, 3, plane=(0, 3)), "plane"),
        (lambda: sectors(3, 3, plane=(0,)), "plane"),
    ],
)
def test_factories_validate_arguments(factory: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        factory()  # type: ignore[operator]
