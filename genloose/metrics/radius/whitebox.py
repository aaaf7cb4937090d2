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
* :func:`ddn_attack`: a budgeted decoupled direction-and-norm attack (Rony et al., 2019), warm-started from the
  witness, for non-convex boundaries: gradient steps on the margin with the norm ε shrunk while adversarial and
  grown otherwise, then a polish. No box, clamping or quantisation: latent space has none.
"""

from __future__ import annotations

import math

import torch

from genloose.metrics.radius.state import CANDIDATE_CEILING, ChunkState

__all__ = ["NormalRayRefiner", "ddn_attack", "linearized_candidates", "normal_ray_iteration"]


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


def normal_ray_iteration(state: ChunkState, rows: torch.Tensor, *, steps: int, tol: float, budget: int) -> None:
    """Iterate: boundary normal at the witness, then search the ray from z along it."""
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
        guess = torch.where((norm > 0) & torch.isfinite(norm), guess, torch.full_like(guess, math.nan))
        state.search_rays(active, u, guess)
        gain = (before - state.radius[active]) / before
        active = active[gain > tol]


def ddn_attack(
    state: ChunkState,
    rows: torch.Tensor,
    *,
    steps: int,
    budget: int,
    target: torch.Tensor | None = None,
) -> None:
    """A budgeted DDN-style minimum-norm attack from the current witnesses, then a polish.

    ``target`` gives one class per row to attack toward; ``None`` attacks the best other class at each step.
    """
    rows = rows[torch.isfinite(state.radius[rows])]
    rows = rows[state.has_budget(rows, budget)]
    if rows.numel() == 0 or steps <= 0:
        return
    z = state.z[rows]
    delta = (state.witness[rows] - z).clone()
    eps = state.radius[rows].clone()
    for step in range(steps):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / steps))
        alpha = 0.01 + 0.2 * cosine
        gamma = 0.005 + 0.05 * cosine
        alive = state.has_budget(rows, budget)
        if not bool(alive.any()):
            break
        idx = torch.nonzero(alive)[:, 0]
        points = z[idx] + delta[idx]
        tgt = None if target is None else target[idx]
        _, grad, labels = state.labeler.margin_gradients(points, state.y[rows[idx]], tgt)
        state.charge(rows[idx], 1)
        state.offer(rows[idx], points, labels)
        adversarial = labels != state.y[rows[idx]]
        norm_now = torch.linalg.vector_norm(delta[idx].to(torch.float64), dim=1)
        eps[idx] = torch.where(adversarial, torch.minimum(eps[idx], norm_now) * (1 - gamma), eps[idx] * (1 + gamma))
        u, gnorm = _unit(grad)
        u = torch.where((gnorm > 0)[:, None], u, torch.zeros_like(u))
        moved = delta[idx].to(torch.float64) + alpha * eps[idx, None] * u.to(torch.float64)
        moved_norm = torch.linalg.vector_norm(moved, dim=1).clamp_min(1e-300)
        delta[idx] = (moved * (eps[idx] / moved_norm)[:, None]).to(delta.dtype)
    state.polish(rows)
