"""Stage 3a: white-box refinement with score gradients.

Three moves, each of which only ever replaces a witness by a closer labelled one:

* :func:`linearized_candidates` (DeepFool-style, at z): for the ``top_k`` highest-scoring other classes j, the
  margin m_j = f_j - f_y and its gradient give the distance -m_j/||∇m_j|| to the linearised boundary with class j;
  the ray along ∇m_j is searched near that distance. Exact in one step when c∘g is affine. Each class's witness
  is a candidate for the restarts (:mod:`genloose.metrics.radius.restarts`).
* :func:`normal_ray_iteration` (the restarts' :class:`NormalRayRefiner`): at the current witness w (label j), the
  boundary normal n = ∇(f_j - f_y)(w)/||·||; the nearest point of the tangent plane to z is at distance (w - z)·n
  along n, and that ray is searched. Converges in a few steps on smooth curved boundaries (the SuperDeepFool /
  HopSkipJump geometry).

The budgeted minimum-norm descent that follows them is :mod:`genloose.metrics.radius.descent`.
"""

from __future__ import annotations

import math

import torch

from genloose.metrics.radius.state import CANDIDATE_CEILING, ChunkState

__all__ = ["DAMPING", "NormalRayRefiner", "linearized_candidates", "normal_ray_iteration"]

#: Step lengths of the normal-ray iteration: the full step to the tangent plane's nearest point, then damped ones.
DAMPING = (1.0, 0.5, 0.25, 0.1)
#: Where a damped ray is probed, as fractions of the current radius (it crosses just inside it, if at all).
DAMPED_FACTORS = (0.9, 0.99, 0.999, 0.9999)


def _unit(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = torch.linalg.vector_norm(vectors.to(torch.float64), dim=1)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return (vectors.to(torch.float64) / safe[:, None]).to(vectors.dtype), norm


def linearized_candidates(state: ChunkState, rows: torch.Tensor, *, top_k: int, budget: int) -> list[ChunkState]:
    """Search the rays toward the linearised boundaries of the ``top_k`` most likely other classes.

    Each class rank k gets its own state (forked from ``state``), holding the witness its ray found, which is
    also offered to ``state``.
    """
    rows = rows[state.has_budget(rows, budget)]
    if rows.numel() == 0:
        return []
    scores = state.labeler.scores(state.z[rows])
    state.charge(rows, 1)
    if scores is None:
        return []
    others = scores.clone()
    others[torch.arange(rows.shape[0], device=rows.device), state.y[rows]] = -math.inf
    k = min(top_k, scores.shape[1] - 1)
    targets = others.topk(max(k, 0), dim=1).indices
    found = []
    for slot in range(k):
        sub = state.fork(ceiling=CANDIDATE_CEILING)
        margin, grad, _ = state.labeler.margin_gradients(state.z[rows], state.y[rows], targets[:, slot])
        state.charge(rows, 1)
        u, norm = _unit(grad)
        usable = (norm > 0) & torch.isfinite(norm)
        guess = torch.where(usable, -margin.to(torch.float64) / norm, torch.full_like(norm, math.nan))
        sub.search_rays(rows, u, guess)
        state.offer_from(sub, rows)
        found.append(sub)
    return found


class NormalRayRefiner:
    """The white-box :class:`~genloose.metrics.radius.restarts.Refiner`: normal-ray iterations."""

    def __init__(self, *, tol: float, budget: int) -> None:
        self.tol = tol
        self.budget = budget

    def __call__(self, state: ChunkState, rows: torch.Tensor, steps: int, *, slot: int) -> None:
        normal_ray_iteration(state, rows, steps=steps, tol=self.tol, budget=self.budget)


def normal_ray_iteration(
    state: ChunkState, rows: torch.Tensor, *, steps: int, tol: float, budget: int, bisect_tol: float | None = None
) -> None:
    """Iterate: boundary normal at the witness, then search the ray from z along it.

    The ray along the normal n at the witness w is the minimum-norm point of the boundary's tangent plane at w;
    on a boundary that curves toward z it can cross farther out than w. A row whose full step does not improve
    then tries damped steps, the rays through w + β(δ* - w) for β in ``DAMPING[1:]`` (δ* the tangent-plane
    point), which turn its ray part of the way toward n. Rays are bisected to ``bisect_tol`` (default the
    state's ``rtol``); a row stops once an iteration improves its radius by ``tol`` or less.
    """
    active = rows[torch.isfinite(state.radius[rows])]
    for _ in range(steps):
        active = active[state.has_budget(active, budget)]
        if active.numel() == 0:
            return
        before = state.radius[active].clone()
        witness = state.witness[active]
        _, grad, _ = state.labeler.margin_gradients(witness, state.y[active], state.witness_label[active])
        state.charge(active, 1)
        u, norm = _unit(grad)
        offset = (witness - state.z[active]).to(torch.float64)
        guess = (offset * u.to(torch.float64)).sum(dim=1)
        usable = (norm > 0) & torch.isfinite(norm) & (guess > 0)
        state.search_rays(active, u, torch.where(usable, guess, torch.full_like(guess, math.nan)), tol=bisect_tol)
        tangent_point = guess[:, None] * u.to(torch.float64)
        stuck = usable & (state.radius[active] >= before)
        for beta in DAMPING[1:]:
            if not bool(stuck.any()):
                break
            rows_stuck = active[stuck]
            damped = offset[stuck] + beta * (tangent_point[stuck] - offset[stuck])
            u_damped, _ = _unit(damped)
            state.search_rays(
                rows_stuck, u_damped.to(state.z.dtype), before[stuck], factors=DAMPED_FACTORS, tol=bisect_tol
            )
            stuck &= state.radius[active] >= before
        gain = (before - state.radius[active]) / before
        active = active[gain > tol]
