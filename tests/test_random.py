"""Tests for genloose._random: every stream of the search from (seed, purpose, index), one function."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from genloose._random import Purpose, seed_sequence, stream, torch_stream

INDEX = {
    Purpose.SAMPLE: (3,),
    Purpose.POOL: (3,),
    Purpose.RANDOM_RAYS: (3,),
    Purpose.SUBSPACE_RAYS: (3,),
    Purpose.PROBES: (3, 1, 0),
}


def test_streams_are_the_derivations_results_were_pinned_with() -> None:
    # the formulas each stage used before the derivation moved here: changing one changes every result
    expected = {
        Purpose.SAMPLE: np.random.SeedSequence(7, spawn_key=(0, 3)),
        Purpose.POOL: np.random.SeedSequence(7, spawn_key=(2**31 - 1, 3)),
        Purpose.RANDOM_RAYS: np.random.SeedSequence([7, 3, 0x5EED]),
        Purpose.SUBSPACE_RAYS: np.random.SeedSequence([7, 3, 0x5B5]),
        Purpose.PROBES: np.random.SeedSequence([7, 3, 1, 0, 0xB1AC]),
    }
    for purpose, sequence in expected.items():
        got = seed_sequence(7, purpose, INDEX[purpose])
        assert (got.entropy, got.spawn_key) == (sequence.entropy, sequence.spawn_key)
        np.testing.assert_array_equal(
            stream(7, purpose, INDEX[purpose]).standard_normal(4), np.random.default_rng(sequence).standard_normal(4)
        )


def test_the_sample_blocks_are_the_children_of_the_seeds_first_child() -> None:
    children = np.random.SeedSequence(5, spawn_key=(0,)).spawn(3)
    for block, child in enumerate(children):
        got = seed_sequence(5, Purpose.SAMPLE, block)
        assert (got.entropy, got.spawn_key) == (child.entropy, child.spawn_key)


def test_purposes_seeds_and_indices_give_distinct_streams() -> None:
    draws = {}
    for purpose, seed in itertools.product(Purpose, (0, 1)):
        for index in (INDEX[purpose], tuple(i + 1 for i in INDEX[purpose])):
            draws[(purpose, seed, index)] = stream(seed, purpose, index).integers(0, 2**63, 2).tolist()
    values = [tuple(v) for v in draws.values()]
    assert len(set(values)) == len(values)


def test_an_int_index_is_a_one_element_tuple_and_lengths_are_checked() -> None:
    a = stream(2, Purpose.RANDOM_RAYS, 4).standard_normal(3)
    b = stream(2, Purpose.RANDOM_RAYS, (4,)).standard_normal(3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="a probes stream takes 3 index integer"):
        seed_sequence(0, Purpose.PROBES, 4)


def test_torch_stream_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = torch.randn(5, generator=torch_stream(1, Purpose.PROBES, (2, 0, 1)))
    b = torch.randn(5, generator=torch_stream(1, Purpose.PROBES, (2, 0, 1)))
    c = torch.randn(5, generator=torch_stream(1, Purpose.PROBES, (2, 1, 1)))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)
