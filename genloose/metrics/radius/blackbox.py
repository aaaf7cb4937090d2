"""Stage 3b: black-box refinement from labels only (sign queries).

At the current witness w (just across the boundary), ``probes`` random unit directions v are labelled at
w + δ·v; with s = ±1 for adversarial or not, Σ (s - mean s)·v estimates the boundary normal (HopSkipJump's
estimator with baseline subtraction). The estimates are *accumulated* across iterations, since late iterations
barely move w, so the normal's accuracy keeps improving: cos²(n̂, n) ≈ B/(B + πd/2) for B accumulated probes,
and the flat-boundary overestimate of the radius is ≈ πd/(4B). Each iteration then searches the ray from z along
the estimated normal, as in the white-box normal-ray iteration. Directions come from a per-point stream
(seed, point index, iteration), so results do not depend on batching.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from genloose.metrics.radius.state import ChunkState

__all__ = ["blackbox_with_restarts", "sign_normal_iteration"]


def _directions(
    seed: int, points: list[int], iteration: int, probes: int, d: int, stream: int
) -> np.ndarray:
    out = np.stack(
        [
            np.random.default_rng([seed, i, iteration, stream, 0xB1AC]).standard_normal((probes, d))
            for i in points
        ]
    )
    out /= np.linalg.norm(out, axis=2, keepdims=True)
    return out


def sign_normal_iteration(
    state: ChunkState,
    rows: torch.Tensor,
    *,
    steps: int,
    probes: int,
    probe_scale: float,
    seed: int,
    point_index: torch.Tensor,
    budget: int,
    stream: int = 0,
) -> None:
    """Refine witnesses with boundary normals estimated from accumulated sign queries.

    ``stream`` selects independent probe directions for separate runs on the same points (restarts).
    """
    rows = rows[torch.isfinite(state.radius[rows])]
    d = state.z.shape[1]
    accumulated = torch.zeros(rows.shape[0], d, dtype=torch.float64, device=state.z.device)
    facet = state.witness_label[rows].clone()
    for iteration in range(steps):
        alive = state.spent[rows] < budget
        if not bool(alive.any()):
            return
        idx = torch.nonzero(alive)[:, 0]
        act = rows[idx]
        moved = state.witness_label[act] != facet[idx]  # on another class's boundary: old normals misled
        accumulated[idx[moved]] = 0.0
        facet[idx] = state.witness_label[act]
        witness = state.witness[act]
        radius = state.radius[act]
        v = torch.as_tensor(
            _directions(seed, point_index[act].tolist(), iteration, probes, d, stream),
            device=witness.device,
        )
        delta = (probe_scale * radius)[:, None, None]
        points = (witness.to(torch.float64)[:, None, :] + delta * v).to(witness.dtype)
        labels = state.label_points(act, points)
        sign = torch.where(labels != state.y[act, None], 1.0, -1.0).to(torch.float64)
        centred = sign - sign.mean(dim=1, keepdim=True)
        uniform = (centred == 0).all(dim=1)
        centred[uniform] = sign[uniform]
        accumulated[idx] += (centred[:, :, None] * v).sum(dim=1)
        norm = torch.linalg.vector_norm(accumulated[idx], dim=1)
        u64 = accumulated[idx] / norm.clamp_min(1e-300)[:, None]
        guess = ((witness.to(torch.float64) - state.z[act].to(torch.float64)) * u64).sum(dim=1)
        guess = torch.where(norm > 0, guess, torch.full_like(guess, float("nan")))
        state.search_rays(
            act, u64.to(state.z.dtype), guess, radius_fractions=(0.3, 0.6, 0.8, 0.9, 0.97)
        )


def blackbox_with_restarts(
    state: ChunkState,
    rows: torch.Tensor,
    seeder: Callable[[ChunkState, int], None],
    *,
    num_seeds: int,
    explore_steps: int,
    steps: int,
    probes: int,
    probe_scale: float,
    seed: int,
    point_index: torch.Tensor,
    budget: int,
) -> None:
    """Explore each seed class briefly on its own, keep the closest witness, then refine it fully.

    With several classes around a point, the nearest seed is often not on the nearest boundary (in high d
    the pool's nearest neighbours say little about direction); a short refinement from each distinct-class
    seed finds which boundary is nearest before the main budget is spent on it.
    """
    for slot in range(num_seeds):
        sub = ChunkState(state.labeler, state.z, state.y, rtol=state.rtol)
        sub.spent = state.spent
        seeder(sub, slot)
        sign_normal_iteration(
            sub,
            rows,
            steps=explore_steps,
            probes=probes,
            probe_scale=probe_scale,
            seed=seed,
            point_index=point_index,
            budget=budget,
            stream=1 + slot,
        )
        found = rows[torch.isfinite(sub.radius[rows])]
        state.offer(found, sub.witness[found], sub.witness_label[found])
    state.search_opposite(rows)
    sign_normal_iteration(
        state,
        rows,
        steps=steps,
        probes=probes,
        probe_scale=probe_scale,
        seed=seed,
        point_index=point_index,
        budget=budget,
    )
