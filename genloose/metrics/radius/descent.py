"""Stage 3a, second part: a norm-adaptive boundary descent that spends the rest of a point's budget.

An FMN-style minimum-norm descent (Pintor et al., 2021), without a box, run in several *lanes* per point: one
from the point's best witness so far, and one from z itself (the path a gradient attack from scratch takes,
which often ends on another, closer boundary than any straight candidate ray). In every lane:

* the iterate is z + δ; at each step the margin m = f_j - f_y (j the best other class) and its gradient are
  evaluated there, and the labelled point is offered as a witness (so only labelled points ever count);
* the norm budget ε shrinks while the iterate is adversarial, ``ε ← min(ε(1 - γ), best radius of the lane)``,
  and grows otherwise, ``ε ← ε(1 + γ)``; before a lane's first adversarial iterate, ε is the linearised
  distance ``||δ|| + |m| / ||∇m||``;
* δ takes a normalised gradient step of size α·ε up the margin and is projected on the L2 ball of radius ε;
* α and γ are cosine-annealed over the lane's own share of the point's remaining budget (from ``ALPHA`` to
  ``ALPHA·ALPHA_FINAL_FRACTION`` and from ``GAMMA`` to ``GAMMA_FINAL``), so every point uses what is left of
  its calls and ends with fine steps.

The step is scale-free (a fraction of ε) because latent spaces carry no image-scale constants.
"""

from __future__ import annotations

import math

import torch

from genloose.metrics.radius.state import ChunkState

__all__ = ["ALPHA", "GAMMA", "GAMMA_FINAL", "boundary_descent"]

#: First step size, as a fraction of the norm budget ε, and the last one as a fraction of the first.
ALPHA = 0.3
ALPHA_FINAL_FRACTION = 1e-3
#: First and last relative change of ε per step.
GAMMA = 0.05
GAMMA_FINAL = 1e-5


def _unit(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = torch.linalg.vector_norm(vectors.to(torch.float64), dim=1)
    unit = vectors.to(torch.float64) / norm.clamp_min(1e-300)[:, None]
    return torch.where((norm > 0)[:, None], unit, torch.zeros_like(unit)), norm


def boundary_descent(
    state: ChunkState,
    rows: torch.Tensor,
    *,
    budget: int,
    reserve: int,
    max_steps: int | None = None,
    from_z: bool = True,
    alpha: float = ALPHA,
    gamma: tuple[float, float] = (GAMMA, GAMMA_FINAL),
) -> None:
    """Descend from each row's witness and from z until each row has ``reserve`` of its ``budget`` calls left.

    Parameters
    ----------
    state : ChunkState
        The chunk; its witnesses only ever improve.
    rows : torch.Tensor
        Rows to descend (those without a witness or without budget are skipped).
    budget : int
        Calls of c∘g per point.
    reserve : int
        Calls kept back for the stages after this one.
    max_steps : int, optional
        At most this many steps per point (all lanes together); default: as many as the budget leaves.
    from_z : bool
        Run the lane from z too (else only the lane from the witness, with all the steps).
    alpha, gamma : float, (float, float)
        The first step size (a fraction of ε), and the first and last relative change of ε.
    """
    rows = rows[torch.isfinite(state.radius[rows])]
    left = budget - reserve - state.spent[rows]
    if max_steps is not None:
        left = left.clamp(max=max_steps)
    rows, left = rows[left >= 2], left[left >= 2]
    if rows.numel() == 0:
        return
    m = rows.shape[0]
    if from_z:
        lanes = torch.cat([rows, rows])  # lane k < m starts at the witness of rows[k], lane m + k at z
        steps = torch.cat([left - left // 2, left // 2])
    else:
        lanes, steps = rows, left
    z = state.z[lanes].to(torch.float64)
    start = state.witness[rows].to(torch.float64) - z[:m]
    delta = torch.cat([start, torch.zeros_like(z[m:])])
    eps = torch.cat([state.radius[rows].clone(), torch.full_like(z[m:, 0], math.inf)])
    best = eps.clone()
    found = torch.isfinite(eps)
    total = steps.to(torch.float64)
    for t in range(int(steps.max())):
        idx = torch.nonzero(steps > t)[:, 0]
        cosine = 0.5 * (1.0 + torch.cos(math.pi * t / total[idx]))
        step = alpha * (ALPHA_FINAL_FRACTION + (1.0 - ALPHA_FINAL_FRACTION) * cosine)
        change = gamma[1] + (gamma[0] - gamma[1]) * cosine
        points = (z[idx] + delta[idx]).to(state.z.dtype)
        sub = lanes[idx]
        margin, grad, labels = state.labeler.margin_gradients(points, state.y[sub], None)
        state.charge(sub, 1)
        state.offer(sub, points, labels)
        adversarial = labels != state.y[sub]
        norm_now = torch.linalg.vector_norm(points.to(torch.float64) - z[idx], dim=1)
        best[idx] = torch.where(adversarial, torch.minimum(best[idx], norm_now), best[idx])
        found[idx] |= adversarial
        u, gnorm = _unit(grad)
        linear = norm_now + margin.to(torch.float64).abs() / gnorm.clamp_min(1e-300)
        linear = torch.where(torch.isfinite(linear), linear, state.radius[sub])
        eps[idx] = torch.where(
            found[idx],
            torch.where(adversarial, torch.minimum(eps[idx] * (1.0 - change), best[idx]), eps[idx] * (1.0 + change)),
            linear,
        )
        moved = delta[idx] + (step * eps[idx])[:, None] * u
        norm = torch.linalg.vector_norm(moved, dim=1)
        delta[idx] = moved * torch.clamp(eps[idx] / norm.clamp_min(1e-300), max=1.0)[:, None]
