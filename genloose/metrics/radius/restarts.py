"""Restarts: choose which candidate witness to refine, by successive halving.

Every candidate search (a DeepFool ray toward one class, a segment to a pool point, a class-mean or subspace
ray) ends on *some* boundary, at the boundary's distance over the cosine of the search direction's angle to its
normal; so the closest candidate is often not on the nearest boundary, and a local refinement from it only finds
the nearest point of that boundary. Screening fixes this at a small cost, as in successive halving: every
shortlisted candidate gets one refinement step (which removes most of the cosine factor), the best third get
``explore_steps`` more (those within ``FINALIST_RANGE`` of the best: on easy problems one step has settled it),
and the best of those becomes the point's witness for the final stages.

The refinement is access-specific (normal-ray iterations with gradients, accumulated sign-query normals
without), and is passed in as a :class:`Refiner`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from genloose.metrics.radius.state import ChunkState

__all__ = ["FINALIST_RANGE", "Refiner", "shortlist", "successive_halving"]

#: After screening, only candidates within this factor of the point's best radius are refined further.
FINALIST_RANGE = 1.5


class Refiner(Protocol):
    """Refines the witnesses of ``rows`` in ``state`` for ``steps`` iterations.

    ``slot`` identifies the restart, so a refiner can keep per-restart context (such as accumulated normals
    and independent random streams) across calls.
    """

    def __call__(self, state: ChunkState, rows: torch.Tensor, steps: int, *, slot: int) -> None: ...


def shortlist(candidates: list[ChunkState], rows: torch.Tensor, *, always: int, distinct: int) -> np.ndarray:
    """For each row, the candidates worth exploring.

    The first ``always`` candidates are kept whenever they found a witness; of the others, the closest
    ``distinct`` with witness labels not seen among those others. Returns an array (always + distinct, len(rows))
    of candidate indices, -1 where there is none.
    """
    if not candidates:
        return np.full((0, rows.shape[0]), -1, dtype=np.int64)
    radius = torch.stack([c.radius[rows] for c in candidates]).cpu().numpy()  # (C, m)
    label = torch.stack([c.witness_label[rows] for c in candidates]).cpu().numpy()
    always = min(always, len(candidates))
    chosen = np.full((always + distinct, rows.shape[0]), -1, dtype=np.int64)
    chosen[:always] = np.where(np.isfinite(radius[:always]), np.arange(always)[:, None], -1)
    order = always + np.argsort(radius[always:], axis=0, kind="stable")
    for col in range(rows.shape[0]):
        seen: set[int] = set()
        slot = always
        for cand in order[:, col]:
            if slot == chosen.shape[0] or not np.isfinite(radius[cand, col]):
                break
            if int(label[cand, col]) not in seen:
                seen.add(int(label[cand, col]))
                chosen[slot, col] = cand
                slot += 1
    return chosen


def successive_halving(
    state: ChunkState,
    rows: torch.Tensor,
    candidates: list[ChunkState],
    *,
    always: int,
    distinct: int,
    explore_steps: int,
    refine: Refiner,
) -> torch.Tensor:
    """Screen the candidates of each point and make the best explored one its witness in ``state``.

    Every candidate is first offered to ``state`` as it is. Returns, per row, the restart slot whose witness
    ``state`` adopted (-1: none), so that a refiner can hand its per-slot context over to the final stage.
    """
    for candidate in candidates:
        state.offer_from(candidate, rows)
    chosen = torch.as_tensor(shortlist(candidates, rows, always=always, distinct=distinct), device=rows.device)
    explorers = []
    for slot in range(chosen.shape[0]):
        sub = state.fork()
        for index, candidate in enumerate(candidates):
            sub.adopt(rows[chosen[slot] == index], candidate)
        refine(sub, rows[chosen[slot] >= 0], 1, slot=slot)
        explorers.append(sub)
    if not explorers:
        return torch.full_like(rows, -1)
    radius = torch.stack([sub.radius[rows] for sub in explorers])  # (S, m)
    finalists = torch.argsort(radius, dim=0, stable=True)[: max(1, len(explorers) // 3)]
    promising = radius <= FINALIST_RANGE * radius.amin(dim=0)  # also excludes candidates that found nothing
    for slot, sub in enumerate(explorers):
        refine(sub, rows[(finalists == slot).any(dim=0) & promising[slot]], explore_steps, slot=slot)
    radius = torch.stack([sub.radius[rows] for sub in explorers])
    best = torch.argmin(radius, dim=0)
    adopted = torch.full_like(rows, -1)
    for slot, sub in enumerate(explorers):
        take = (best == slot) & (radius[slot] <= state.radius[rows])
        state.adopt(rows[take], sub)
        adopted[take] = slot
    return adopted
