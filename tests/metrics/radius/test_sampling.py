"""Tests for genloose.metrics.radius.sampling: point i depends only on (seed, i)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from genloose import InvalidArgumentError
from genloose.metrics.radius.sampling import BLOCK_SIZE, sample_latents


@given(
    seed=st.integers(0, 2**32),
    start=st.integers(0, 3 * BLOCK_SIZE),
    length=st.integers(0, 2 * BLOCK_SIZE),
)
def test_any_range_equals_the_slice_of_the_whole(seed: int, start: int, length: int) -> None:
    whole = sample_latents(seed, 2, start + length)
    np.testing.assert_array_equal(sample_latents(seed, 2, start + length, start=start), whole[start:])


def test_streams_and_seeds_are_independent_and_standard_normal() -> None:
    a = sample_latents(0, 4, 5000)
    pool = sample_latents(0, 4, 5000, purpose="pool")
    other = sample_latents(1, 4, 5000)
    assert not np.array_equal(a, pool)
    assert not np.array_equal(a, other)
    # seeded: a false failure has probability 1e-3 per check
    assert stats.kstest(a.ravel(), "norm").pvalue > 1e-3
    assert abs(np.corrcoef(a.ravel(), pool.ravel())[0, 1]) < 4 / np.sqrt(a.size)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1, 2, 3), {}, "seed must be an integer >= 0"),
        ((0, 0, 3), {}, "latent_dim must be an integer >= 1"),
        ((0, 2, 3), {"start": 5}, "stop must be an integer >= 5"),
        ((0, 2, 3), {"purpose": "other"}, "purpose must be one of 'sample', 'pool'"),
    ],
)
def test_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        sample_latents(*args, **kwargs)
