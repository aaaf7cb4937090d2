"""Tests for genloose.metrics.radius.restarts: the shortlist and successive halving, with a scripted refiner."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genloose.metrics.radius.restarts import FINALIST_RANGE, shortlist, successive_halving
from genloose.metrics.radius.state import ChunkState


def _state(points: int = 2, dim: int = 3) -> ChunkState:
    z = torch.zeros(points, dim, dtype=torch.float64)
    return ChunkState(None, z, torch.zeros(points, dtype=torch.long), rtol=1e-4)  # type: ignore[arg-type]


def _candidate(parent: ChunkState, radii: list[float], labels: list[int]) -> ChunkState:
    """A fork of ``parent`` holding witnesses at the given distances along the first axis."""
    state = parent.fork()
    for row, (radius, label) in enumerate(zip(radii, labels, strict=True)):
        if math.isfinite(radius):
            state.radius[row] = radius
            state.witness[row] = torch.tensor([radius, 0.0, 0.0], dtype=torch.float64)
            state.witness_label[row] = label
    return state


def test_shortlist_keeps_the_first_ones_and_the_closest_of_distinct_classes() -> None:
    parent = _state()
    candidates = [
        _candidate(parent, [5.0, math.inf], [1, 1]),  # "always" (a pool seed); row 1 found nothing
        _candidate(parent, [2.0, 1.0], [2, 3]),
        _candidate(parent, [1.0, 4.0], [2, 3]),  # same class as the one above: only the closer one is kept
        _candidate(parent, [3.0, 2.0], [4, 5]),
        _candidate(parent, [math.inf, 3.0], [4, 6]),
    ]
    chosen = shortlist(candidates, torch.arange(2), always=1, distinct=2)
    np.testing.assert_array_equal(chosen, [[0, -1], [2, 1], [3, 3]])
    chosen = shortlist(candidates, torch.arange(2), always=1, distinct=4)
    np.testing.assert_array_equal(chosen, [[0, -1], [2, 1], [3, 3], [-1, 4], [-1, -1]])


class ScriptedRefiner:
    """Shrinks every refined witness by ``factor[slot] ** steps`` and records each call."""

    def __init__(self, factors: list[float]) -> None:
        self.factors = factors
        self.calls: list[tuple[int, list[int], int]] = []

    def __call__(self, state: ChunkState, rows: torch.Tensor, steps: int, *, slot: int) -> None:
        self.calls.append((slot, rows.tolist(), steps))
        scale = self.factors[slot] ** steps
        state.radius[rows] *= scale
        state.witness[rows] *= scale


def test_successive_halving_screens_every_candidate_then_refines_the_promising_best() -> None:
    parent = _state(points=1)
    radii = [1.0, 1.1, 1.2, 1.3, 2.0, 9.0]
    candidates = [_candidate(parent, [r], [k]) for k, r in enumerate(radii, start=1)]
    # one step: candidate 3 (radius 1.2 -> 0.6) becomes the best; candidate 6 (9 -> 0.81) second; 4 (2.0 -> 1.6) is
    # not among the best third
    refiner = ScriptedRefiner([1.0, 1.0, 0.5, 1.0, 0.8, 0.09])
    adopted = successive_halving(
        parent, torch.arange(1), candidates, always=0, distinct=6, explore_steps=3, refine=refiner
    )
    screened = [(slot, steps) for slot, rows, steps in refiner.calls if steps == 1 and rows]
    assert sorted(screened) == [(slot, 1) for slot in range(6)]
    explored = sorted(slot for slot, rows, steps in refiner.calls if steps == 3 and rows)
    assert explored == [2, 5]  # the best third by radius after screening: 0.6 and 0.81 (<= 1.5 x 0.6)
    assert FINALIST_RANGE * 0.6 >= 0.81
    assert adopted.tolist() == [5]  # 0.81 * 0.09**3 beats 0.6 * 0.5**3
    assert parent.radius[0].item() == pytest.approx(9.0 * 0.09**4, rel=1e-12)
    assert parent.witness_label[0].item() == 6


def test_only_candidates_within_range_of_the_best_are_refined_further() -> None:
    parent = _state(points=1)
    radii = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # the best third is slots 0 and 1, but 2.0 > 1.5 x 1.0
    candidates = [_candidate(parent, [r], [k]) for k, r in enumerate(radii, start=1)]
    refiner = ScriptedRefiner([1.0] * 6)
    successive_halving(parent, torch.arange(1), candidates, always=6, distinct=0, explore_steps=2, refine=refiner)
    assert FINALIST_RANGE * 1.0 < 2.0
    assert [slot for slot, rows, steps in refiner.calls if steps == 2 and rows] == [0]


def test_successive_halving_with_no_candidates_adopts_nothing() -> None:
    parent = _state(points=3)
    refiner = ScriptedRefiner([])
    adopted = successive_halving(parent, torch.arange(3), [], always=2, distinct=2, explore_steps=3, refine=refiner)
    assert adopted.tolist() == [-1, -1, -1]
    assert parent.radius.isinf().all()
