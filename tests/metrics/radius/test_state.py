"""Tests for genloose.metrics.radius.state: bisection with look-ahead, and hardening across batch layouts."""

from __future__ import annotations

import math

import pytest
import torch

import genloose.metrics.radius.state as state_module
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.sampling import sample_latents
from genloose.metrics.radius.state import HARDEN_PUSHES, ChunkState, _lookahead_levels
from genloose.models import as_classifier, as_generator
from genloose.testing import spheres


def _state(classifier, d: int = 8, n: int = 24, block_size: int = 16) -> ChunkState:
    labeler = LatentLabeler(
        as_generator(torch.nn.Identity(), latent_dim=d), as_classifier(classifier), block_size=block_size
    )
    z = labeler.to_latents(sample_latents(0, d, n))
    return ChunkState(labeler, z, labeler.labels(z), rtol=1e-4)


@pytest.mark.parametrize(
    ("open_rows", "block", "levels"),
    [(128, 128, 1), (100, 128, 1), (42, 128, 2), (43, 128, 1), (42, 126, 2), (3, 128, 5), (1, 128, 7), (1, 1, 1)],
)
def test_lookahead_levels_fill_the_blocks_the_open_rows_occupy(open_rows: int, block: int, levels: int) -> None:
    assert _lookahead_levels(open_rows, block) == levels
    room = -(-open_rows // block) * block
    assert open_rows * (2**levels - 1) <= max(room, open_rows)
    assert open_rows * (2 ** (levels + 1) - 1) > room


def _bisect_along_random_rays(state: ChunkState, seed: int = 0) -> None:
    rng = torch.Generator().manual_seed(seed)
    rows = torch.arange(state.size)
    u = torch.randn(state.size, state.z.shape[1], generator=rng)
    u = u / u.norm(dim=1, keepdim=True)
    s = torch.linspace(0.25, 12.0, 48, dtype=torch.float64).expand(state.size, -1)
    found, lo, hi, label = state.scan(rows, u, s)
    state.bisect(rows[found], u[found], lo[found], hi[found], label[found], tol=1e-7)


def _count_calls(labeler: LatentLabeler, monkeypatch) -> list[int]:
    """Record the rows of every ``labeler.labels`` call."""
    calls: list[int] = []
    original = labeler.labels

    def labels(x: torch.Tensor, **kwargs) -> torch.Tensor:
        calls.append(x.shape[0])
        return original(x, **kwargs)

    monkeypatch.setattr(labeler, "labels", labels)
    return calls


@pytest.mark.parametrize("n", [3, 24])
def test_bisection_with_lookahead_gives_what_plain_bisection_gives(n: int, monkeypatch) -> None:
    # the midpoints labelled ahead are those plain bisection computes: radii, witnesses, labels and the calls
    # charged to each point are bit-identical; only the model calls are fewer, and the unused rows are counted
    # apart from the queries
    testbed = spheres(8, math.sqrt(8))
    results = []
    for plain in (False, True):
        if plain:
            monkeypatch.setattr(state_module, "_lookahead_levels", lambda open_rows, block_size: 1)
        state = _state(testbed.classifier, n=n)
        calls = _count_calls(state.labeler, monkeypatch)
        _bisect_along_random_rays(state)
        results.append((state, len(calls)))
    (ahead, ahead_calls), (plain, plain_calls) = results
    assert torch.isfinite(plain.radius).sum() >= n // 2
    torch.testing.assert_close(ahead.radius, plain.radius, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(ahead.witness, plain.witness, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(ahead.witness_label, plain.witness_label)
    assert torch.equal(ahead.spent, plain.spent)
    assert ahead.labeler.queries.forward == plain.labeler.queries.forward
    assert plain.labeler.queries.speculative == 0
    assert ahead.labeler.queries.speculative > 0
    assert ahead_calls < plain_calls  # measured for n = 3: 12 model calls against 22 (the scan's included)


class _LayoutShiftedHalfspace(torch.nn.Module):
    """Class 1 where x_1 > 1 in blocks of several rows, and where x_1 > 1 + shift when called on one row alone."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = 1.0 + (self.shift if x.shape[0] == 1 else 0.0)
        return torch.stack([offset - x[:, 0], x[:, 0] - offset], dim=1)


def _witnesses_on_the_block_boundary(state: ChunkState) -> torch.Tensor:
    rows = torch.nonzero(state.y == 0)[:, 0]
    u = torch.zeros(rows.shape[0], state.z.shape[1])
    u[:, 0] = 1.0
    guess = (1.0 - state.z[rows, 0]).to(torch.float64)
    state.search_rays(rows, u, guess, tol=1e-9)
    return rows


def test_hardening_keeps_witnesses_that_cross_in_both_layouts_exactly() -> None:
    state = _state(_LayoutShiftedHalfspace(0.0))
    rows = _witnesses_on_the_block_boundary(state)
    before = state.witness[rows].clone()
    state.harden(rows, margin=1e-5)
    assert torch.equal(state.witness[rows], before)


def test_hardening_moves_a_witness_the_least_ladder_step_that_crosses_alone() -> None:
    # the boundary alone lies 1.5e-7 beyond the one in blocks: each witness found in blocks is moved out along its
    # ray to the first push of the ladder that crosses alone too, not to the largest
    shift = 1.5e-7
    state = _state(_LayoutShiftedHalfspace(shift))
    rows = _witnesses_on_the_block_boundary(state)
    before = state.radius[rows].clone()
    state.harden(rows, margin=1e-5)
    moved = state.radius[rows] - before
    scale = 4.0 * torch.finfo(torch.float32).eps * state.witness[rows].double().abs().amax(dim=1).clamp_min(1.0)
    ladder = scale[:, None] * torch.tensor(HARDEN_PUSHES, dtype=torch.float64)
    assert (state.witness[rows, 0] > 1.0 + shift).all()  # every witness now crosses alone too
    assert (state.witness_label[rows] == 1).all()
    # the push is the first rung at or past the shift (float32 rounding of the moved point aside), never the largest
    first_rung = torch.stack([rungs[rungs >= shift][0] for rungs in ladder])
    rounding = torch.finfo(torch.float32).eps * state.witness[rows].double().abs().amax(dim=1)
    assert (moved >= 0).all()
    assert (moved <= first_rung + 2 * rounding).all()
    assert (first_rung < ladder[:, -1]).all()
