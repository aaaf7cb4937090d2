"""Tests of the sectors testbed: reference mean radii and the large-K limit."""

from __future__ import annotations

import math

import pytest

from genloose.testing import (
    sectors,
)


def test_sectors_large_k_limit() -> None:
    k = 10**6
    limit = math.pi**1.5 / (2**1.5 * k)
    assert sectors(2, k).exact_mean_radius() == pytest.approx(limit, rel=1e-9)
