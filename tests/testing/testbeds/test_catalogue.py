"""Tests of :func:`all_testbeds`: fixed, covering every kind, and leaving global RNGs alone."""

from __future__ import annotations

import numpy as np
import torch

from genloose.testing import (
    GridVoronoiTestbed,
    HalfspaceTestbed,
    SectorsTestbed,
    SpheresTestbed,
    all_testbeds,
    halfspace,
    invertible_wrapper,
)
from tests.testing.testbeds._cases import _latents


def test_all_testbeds_is_fixed_and_covers_every_kind() -> None:
    first, second = all_testbeds(5), all_testbeds(5)
    assert [tb.name for tb in first] == [tb.name for tb in second]
    kinds = {type(tb) for tb in first}
    assert kinds == {HalfspaceTestbed, SectorsTestbed, SpheresTestbed, GridVoronoiTestbed}
    assert any(tb.name.startswith("invertible(") for tb in first)
    assert any(tb.name.startswith("logit_scale(") for tb in first)
    z = _latents(first[0], 10, seed=0)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.exact_radius(z), b.exact_radius(z))


def test_construction_leaves_global_rng_alone() -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    all_testbeds(6)
    invertible_wrapper(halfspace(3), seed=7)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))
