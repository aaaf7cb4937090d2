"""Peer minimum-norm L2 attacks in latent space, for ``radius_peers.py``.

Every attack here works on the composite ``z -> classifier(generator(z))`` (logits) through :class:`LatentModel`,
which counts the rows it is called on (one row of a forward pass is one call of c∘g; a gradient evaluation is a
forward pass followed by a backward pass and also counts one, as in genloose's ``result.queries``). Nothing is
clamped: latent space has no box.

* :func:`fmn_l2`: our own box-free FMN (Pintor et al. 2021), following the original code
  (``pralab/Fast-Minimum-Norm-FMN-Attack/src/attacks/fmn.py``) with a true projection onto the L2 ball.
* :func:`pgd_shrinking`: projected gradient descent on the logit margin inside an L2 ball of radius rho, with a
  bisection over rho (each success shrinks the bracket and the next run restarts from the best adversarial).
* :func:`foolbox_ddn`, :func:`foolbox_deepfool`: Foolbox 3.3.4 ``DDNAttack`` and ``L2DeepFoolAttack`` with bounds
  (-1e4, 1e4), so that no clipping can happen.
* :func:`hop_skip_jump`: Foolbox 3.3.4 ``HopSkipJumpAttack`` (labels only), with the fixes its latent-space use
  needs (see :class:`_LatentHSJ`), recording the iterate after every step so that one run answers several
  query budgets.

:func:`verify` re-labels every returned point with the same model, in one batch and alone, and turns outputs that
are not adversarial in both layouts (after the least push genloose gives its own witnesses) into failures
(distance ``inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import torch

from genloose.metrics.radius.state import HARDEN_PUSHES


class BudgetExhaustedError(RuntimeError):
    """Raised by :class:`LatentModel` when a call would take its row count past ``limit``."""


class LatentModel(torch.nn.Module):
    """``z -> classifier(generator(z))`` (logits), counting the rows it is called on.

    Parameters
    ----------
    generator, classifier : torch.nn.Module
        The models; their parameters are left as they are (gradients flow to the input only).
    box : float, optional
        For attacks that clip their iterates to the image box [0, 1]^d (Foolbox's HopSkipJump does, whatever the
        model's bounds): the input is then x in [0, 1]^d and ``z = box * (2x - 1)``, so the box is the latent cube
        of half-width ``box`` and latent distances are ``2 * box`` times input distances.
    dtype : torch.dtype
        The models' dtype; inputs of another dtype (float64 box coordinates) are mapped to z in their own dtype
        and only then cast.
    limit : int, optional
        Raise :class:`BudgetExhaustedError` before a call that would take ``forward_rows`` past it.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        classifier: torch.nn.Module,
        *,
        box: float | None = None,
        dtype: torch.dtype = torch.float32,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.classifier = classifier
        self.box = box
        self.dtype = dtype
        self.limit = limit
        self.forward_rows = 0
        self.backward_rows = 0
        self.box_rows = 0  # rows with a coordinate on the box's faces (where a [0, 1] clip would have acted)
        self.eval()

    def _count_backward(self, grad: torch.Tensor) -> torch.Tensor:
        self.backward_rows += int(grad.shape[0])
        return grad

    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """The latent points the models see for inputs ``x`` (in the models' dtype)."""
        z = x if self.box is None else self.box * (2.0 * x - 1.0)
        return z.to(self.dtype)

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Inputs (box coordinates in float64 when ``box`` is set) whose latent points are ``z``."""
        if self.box is None:
            return z.to(self.dtype)
        return (z.to(torch.float64) / self.box + 1.0) / 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = int(x.shape[0])
        if self.limit is not None and self.forward_rows + rows > self.limit:
            raise BudgetExhaustedError(f"{self.forward_rows} + {rows} rows > limit {self.limit}")
        self.forward_rows += rows
        if self.box is not None:
            self.box_rows += int(((x <= 0.0) | (x >= 1.0)).any(dim=1).sum())
        if x.requires_grad and torch.is_grad_enabled():
            x.register_hook(self._count_backward)
        return self.classifier(self.generator(self.to_latent(x)))

    def labels(self, z: torch.Tensor) -> torch.Tensor:
        """``argmax`` labels of latent points ``z`` in one batch, not counted (used to verify results)."""
        with torch.no_grad():
            return self.classifier(self.generator(z.to(self.dtype))).argmax(dim=1)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``logit[y] - max_{k != y} logit[k]`` per row (negative: adversarial)."""
    own = logits.gather(1, labels[:, None])[:, 0]
    other = logits.scatter(1, labels[:, None], -math.inf).amax(dim=1)
    return own - other


def _margin_and_grad(model: LatentModel, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Margin, its gradient in z and the predicted labels at ``z`` (one gradient call per row)."""
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(z)
        m = margin(logits, y)
        (grad,) = torch.autograd.grad(m.sum(), z)
    return m.detach(), grad.detach(), logits.detach().argmax(dim=1)


def _unit(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = v.norm(dim=1)
    return v / norm.clamp_min(1e-12)[:, None], norm


def fmn_l2(
    model: LatentModel,
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 1000,
    alpha0: float = 1.0,
    gamma0: float = 0.05,
    gamma1: float = 0.001,
) -> torch.Tensor:
    """Fast Minimum Norm L2 (Pintor et al. 2021), box-free; returns the best adversarial found per point.

    Each step (one gradient call per point) takes the margin ``m = logit_y - max_other`` and its gradient at
    ``z + delta``, records ``z + delta`` if it is adversarial and smaller than the best so far, updates the ball
    radius eps (before the first adversarial: ``||delta|| + |m| / ||grad m||``; after: ``min(eps (1 - gamma), best)``
    when adversarial, ``eps (1 + gamma)`` otherwise), steps ``delta -= alpha grad m / ||grad m||`` and projects
    ``delta`` onto the ball of radius eps. alpha is cosine-annealed from ``alpha0`` to ``alpha0 / 100`` and gamma
    from ``gamma0`` to ``gamma1``. Points never made adversarial are returned unchanged (failures).
    """
    n = z.shape[0]
    z = z.detach()
    delta = torch.zeros_like(z)
    eps = torch.zeros(n, dtype=z.dtype)
    best_norm = torch.full((n,), math.inf, dtype=z.dtype)
    best = z.clone()
    found = torch.zeros(n, dtype=torch.bool)
    for i in range(steps):
        cosine = (1.0 + math.cos(math.pi * i / steps)) / 2.0
        alpha = alpha0 / 100.0 + (alpha0 - alpha0 / 100.0) * cosine
        gamma = gamma1 + (gamma0 - gamma1) * cosine
        m, grad, pred = _margin_and_grad(model, z + delta, y)
        norm = delta.norm(dim=1)
        adv = pred != y
        better = adv & (norm < best_norm)
        best_norm = torch.where(better, norm, best_norm)
        best[better] = (z + delta)[better]
        found |= adv
        direction, grad_norm = _unit(grad)
        linear = norm + m.abs() / grad_norm.clamp_min(1e-12)
        eps = torch.where(
            adv, torch.minimum(eps * (1.0 - gamma), best_norm), torch.where(found, eps * (1.0 + gamma), linear)
        )
        delta = delta - alpha * direction
        delta = delta * (eps / delta.norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)[:, None]
    return best


def pgd_shrinking(
    model: LatentModel,
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    budget: int = 1000,
    run_steps: int | None = None,
    grow: float = 2.0,
    rtol: float = 1e-5,
) -> torch.Tensor:
    """Projected gradient descent on the margin in an L2 ball of radius rho, with a bisection over rho.

    rho starts at the linear (DeepFool) distance estimate ``|m| / ||grad m||`` at z (one call). Each run is
    ``run_steps`` (default ``budget // 20``, between 2 and 50) normalised-gradient steps
    ``delta <- P_rho(delta - a_t grad m / ||grad m||)`` with ``a_t`` cosine-annealed from ``rho / 2`` to
    ``rho / 200``, stopped per point at the first adversarial iterate. A success records the iterate (its norm
    ``<= rho``) as the best and the upper end of the bracket; a failure makes rho the lower end. The next rho is
    the bracket's midpoint (``grow * rho`` while nothing was found), and the next run starts from the best
    adversarial rescaled onto the new sphere (from z while there is none). Runs continue per point while
    ``run_steps`` calls remain of ``budget`` and the bracket is wider than ``rtol``. Points never made
    adversarial are returned unchanged (failures).
    """
    if run_steps is None:
        run_steps = max(2, min(50, budget // 20))
    n = z.shape[0]
    z = z.detach()
    m, grad, _ = _margin_and_grad(model, z, y)
    spent = torch.ones(n, dtype=torch.long)
    rho = (m.abs() / grad.norm(dim=1).clamp_min(1e-12)).clamp_min(1e-6)
    lo = torch.zeros(n, dtype=z.dtype)
    hi = torch.full((n,), math.inf, dtype=z.dtype)
    best = z.clone()
    while True:
        converged = torch.isfinite(hi) & (hi - lo <= rtol * hi)
        active = (spent + run_steps <= budget) & ~converged
        if not bool(active.any()):
            break
        idx = active.nonzero()[:, 0]
        z_a, y_a, rho_a = z[idx], y[idx], rho[idx]
        has_best = torch.isfinite(hi[idx])
        start = best[idx] - z_a
        start_norm = start.norm(dim=1).clamp_min(1e-12)
        delta = torch.where(has_best[:, None], start * (rho_a / start_norm)[:, None], torch.zeros_like(z_a))
        success = torch.zeros(len(idx), dtype=torch.bool)
        found = z_a.clone()
        for t in range(run_steps):
            running = ~success
            if not bool(running.any()):
                break
            rows = running.nonzero()[:, 0]
            _, g, pred = _margin_and_grad(model, z_a[rows] + delta[rows], y_a[rows])
            spent[idx[rows]] += 1
            adv = pred != y_a[rows]
            hit = rows[adv]
            found[hit] = z_a[hit] + delta[hit]
            success[hit] = True
            step = rho_a[rows] * (0.005 + 0.495 * (1.0 + math.cos(math.pi * t / run_steps)) / 2.0)
            direction, _ = _unit(g)
            new = delta[rows] - step[:, None] * direction
            new = new * (rho_a[rows] / new.norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)[:, None]
            keep = ~adv  # a point that just succeeded keeps the adversarial iterate
            delta[rows[keep]] = new[keep]
        found_norm = (found - z_a).norm(dim=1)
        improve = success & (found_norm < hi[idx])
        best[idx[improve]] = found[improve]
        hi[idx[improve]] = found_norm[improve]
        lo[idx[~success]] = torch.maximum(lo[idx[~success]], rho_a[~success])
        bracket = torch.isfinite(hi)
        rho = torch.where(bracket, (lo + hi) / 2.0, rho * torch.where(active, grow, 1.0))
    return best


def foolbox_ddn(fb: ModuleType, model: LatentModel, z: torch.Tensor, y: torch.Tensor, *, steps: int) -> torch.Tensor:
    """Foolbox ``DDNAttack(steps=steps)`` (init_epsilon 1, gamma 0.05; one gradient call per step)."""
    fmodel = fb.PyTorchModel(model, bounds=(-1e4, 1e4), device="cpu")
    attack = fb.attacks.DDNAttack(steps=steps)
    _, clipped, _ = attack(fmodel, z, fb.criteria.Misclassification(y), epsilons=None)
    return clipped


def deepfool_candidates(num_classes: int) -> int:
    """Foolbox's default ``candidates=10``, capped at K: each step costs ``candidates - 1`` gradient calls."""
    return min(10, num_classes)


def foolbox_deepfool(
    fb: ModuleType,
    model: LatentModel,
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    budget: int,
    num_classes: int,
    overshoot: float,
) -> torch.Tensor:
    """Foolbox ``L2DeepFoolAttack`` with ``budget // (candidates - 1)`` steps (at most ``budget`` gradient calls)."""
    candidates = deepfool_candidates(num_classes)
    fmodel = fb.PyTorchModel(model, bounds=(-1e4, 1e4), device="cpu")
    steps = max(1, budget // max(1, candidates - 1))
    attack = fb.attacks.L2DeepFoolAttack(steps=steps, candidates=candidates, overshoot=overshoot)
    _, clipped, _ = attack(fmodel, z, fb.criteria.Misclassification(y), epsilons=None)
    return clipped


@dataclass
class Verified:
    """A method's output re-labelled by the same model.

    ``distances`` follow the two-layout rule (adversarial in one batch of all the points and alone, after the
    least push); ``one_layout`` the earlier rule (adversarial in one batch of all the points, as returned).
    """

    points: np.ndarray  # (n, d) float64 copies of the points that count (pushed where that was needed)
    distances: np.ndarray  # (n,) ||point - z||, inf where the point is not adversarial in both layouts
    success: np.ndarray  # (n,) bool
    one_layout: np.ndarray  # (n,) distances under the one-batch rule, inf where not adversarial there
    pushed: int  # points that crossed in both layouts only after a push

    @property
    def resolution(self) -> np.ndarray:
        """Per point, half the norm of the float32 spacings of its coordinates: how finely a float32 point there
        can place a distance (0 where the point failed)."""
        return float_resolution(np.where(self.success[:, None], self.points, 0.0))


def float_resolution(points: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Half the norm of the vector of ``dtype`` spacings at each row's coordinates.

    Rounding a point's coordinates to ``dtype`` moves it by up to this much, so distances from z to two points
    closer than this to each other cannot be told apart by which of them a search returns. On the bundled d = 64
    digit DCGAN it exceeds 1e-6 of the radius on 65% of 100 points (median radius 0.21).
    """
    spacing = np.spacing(np.abs(points).astype(dtype)).astype(np.float64)
    return 0.5 * np.linalg.norm(spacing, axis=1)


def _labels_alone(model: LatentModel, points: torch.Tensor) -> torch.Tensor:
    """Each point's label from a call of one row."""
    return torch.cat([model.labels(points[i : i + 1]) for i in range(points.shape[0])])


def verify(model: LatentModel, z: torch.Tensor, y: torch.Tensor, adv: torch.Tensor) -> Verified:
    """Re-label ``adv`` in the models' dtype, in one batch of all points and each point alone; distances in float64.

    float32 labels within ~1e-7 of a boundary depend on the batch they are computed in (matrix products round
    differently for different batch sizes). A point counts only where the model labels it adversarial in both
    layouts, the rule genloose's own witnesses meet; a point that crosses in one layout only is moved out along
    its ray from z by the least of genloose's ``HARDEN_PUSHES`` (fractions of 4 units of rounding at the point's
    largest coordinate) that makes it cross in both, as genloose's hardening does to its own witnesses, and fails
    (distance ``inf``) if none does. Every method, genloose included, goes
    through this function.
    """
    points = adv.detach().to(model.dtype).clone()
    y = y.to(points.device)
    in_batch = model.labels(points) != y
    z64 = z.double()
    one_layout = np.linalg.norm(points.double().numpy() - z64.numpy(), axis=1)
    one_layout = np.where(in_batch.numpy() & np.isfinite(one_layout), one_layout, np.inf)
    ok = in_batch & (_labels_alone(model, points) != y)
    pushed = 0
    eps = torch.finfo(model.dtype).eps
    for i in torch.nonzero(~ok)[:, 0].tolist():
        offset = points[i].double() - z64[i]
        norm = float(torch.linalg.vector_norm(offset))
        if not (math.isfinite(norm) and norm > 0.0):
            continue
        rounding = 4.0 * eps * max(1.0, float(points[i].double().abs().max()))
        for push in HARDEN_PUSHES:
            moved = (z64[i] + offset * ((norm + rounding * push) / norm)).to(model.dtype)
            if bool(model.labels(moved[None])[0] == y[i]):  # not adversarial alone
                continue
            batch = points.clone()
            batch[i] = moved
            if bool(model.labels(batch)[i] != y[i]):  # adversarial in the batch too
                points[i] = moved
                ok[i] = True
                pushed += 1
                break
    values = points.double().numpy()
    distances = np.linalg.norm(values - z64.numpy(), axis=1)
    success = ok.numpy()
    distances = np.where(success & np.isfinite(distances), distances, np.inf)
    return Verified(points=values, distances=distances, success=success, one_layout=one_layout, pushed=pushed)


@dataclass
class HSJSnapshot:
    """HopSkipJump's iterate at the start of one step, with the calls spent so far (all points together)."""

    step: int
    rows: int
    points: torch.Tensor  # latent points


@dataclass
class HSJRun:
    """One HopSkipJump run: the iterate after every step (``snapshots``) and how it ended."""

    snapshots: list[HSJSnapshot] = field(default_factory=list)
    final: torch.Tensor | None = None
    final_rows: int = 0
    start_rows: int = 0

    def at_budget(self, rows: int) -> tuple[torch.Tensor | None, int]:
        """The last iterate reached with at most ``rows`` calls in all (None if none was), and the calls it took."""
        if self.final is not None and self.final_rows <= rows:
            return self.final, self.final_rows
        eligible = [s for s in self.snapshots if s.rows <= rows]
        if not eligible:
            return None, min(rows, self.start_rows)
        last = eligible[-1]
        return last.points, last.rows


def hsj_gamma(latent_dim: int, threshold: float) -> float:
    """The ``gamma`` that makes Foolbox's L2 binary-search threshold ``gamma / d**1.5`` equal ``threshold``."""
    return threshold * latent_dim**1.5


def _latent_hsj_class(fb: ModuleType) -> type:
    base = fb.attacks.HopSkipJumpAttack

    class _LatentHSJ(base):  # type: ignore[misc, valid-type]
        """Foolbox 3.3.4 HopSkipJump with two latent-space fixes, recording its iterate at every step.

        * The gradient estimate is normalised per point. Foolbox divides the whole batch by one global norm
          (``hop_skip_jump.py``, ``grad /= ep.norms.l2(...)`` without an axis), which shrinks every point's step
          by about ``1/sqrt(batch size)``.
        * The probe radius of step 0 follows the same rule as the later steps (``sqrt(d) theta dist``) instead of
          Foolbox's fixed 0.1 in input units (an image-scale constant; with the latent box of half-width B it is
          0.2 B in latent units).
        """

        recorder: Callable[[int, torch.Tensor], None] | None = None
        _step = 0

        def select_delta(self, originals: Any, distances: Any, step: int) -> Any:
            self._step = step
            d = int(np.prod(originals.shape[1:]))
            theta = self.gamma / (d * math.sqrt(d))
            return math.sqrt(d) * theta * distances

        def approximate_gradients(self, is_adversarial: Any, x_advs: Any, steps: int, delta: Any) -> Any:
            if self.recorder is not None:
                self.recorder(self._step, x_advs.raw.detach().clone())
            grad = super().approximate_gradients(is_adversarial, x_advs, steps, delta)
            flat = grad.raw.reshape(grad.shape[0], -1)
            norms = flat.norm(dim=1).clamp_min(1e-12).reshape((-1,) + (1,) * (grad.ndim - 1))
            return type(grad)(grad.raw / norms)

    return _LatentHSJ


def hop_skip_jump(
    fb: ModuleType,
    model: LatentModel,
    z: torch.Tensor,
    y: torch.Tensor,
    starts: torch.Tensor,
    *,
    max_rows: int,
    start_rows: int,
    gamma: float,
) -> HSJRun:
    """Run Foolbox HopSkipJump (L2) from adversarial ``starts`` until ``max_rows`` calls are spent in all.

    ``model`` must have ``box`` set (HopSkipJump clips to [0, 1]). ``start_rows`` calls were already spent finding
    the starting points; they count towards every budget. The run is stopped by :class:`BudgetExhaustedError` once the
    next call would pass ``max_rows``; since HopSkipJump's schedule depends only on the step index, the iterate
    at the start of step t is exactly what a run with ``steps=t`` returns.
    """
    run = HSJRun(start_rows=start_rows)
    model.forward_rows = start_rows
    model.limit = max_rows
    attack = _latent_hsj_class(fb)(steps=10_000, gamma=gamma)

    def record(step: int, x: torch.Tensor) -> None:
        run.snapshots.append(HSJSnapshot(step=step, rows=model.forward_rows, points=model.to_latent(x)))

    attack.recorder = record
    fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0), device="cpu")
    try:
        out = attack.run(
            fmodel, model.from_latent(z), fb.criteria.Misclassification(y), starting_points=model.from_latent(starts)
        )
    except BudgetExhaustedError:
        pass
    else:
        run.final = model.to_latent(out)
        run.final_rows = model.forward_rows
    finally:
        model.limit = None
    return run


def nearest_other_label(
    z: torch.Tensor, y: torch.Tensor, pool: torch.Tensor, pool_labels: torch.Tensor
) -> tuple[torch.Tensor, np.ndarray]:
    """For each point, the nearest pool point of another label (and whether one exists)."""
    dist = torch.cdist(z.double(), pool.double())
    dist[y[:, None] == pool_labels[None, :]] = math.inf
    value, index = dist.min(dim=1)
    return pool[index], torch.isfinite(value).numpy()
