"""genloose's class radius against the pointwise best of strong minimum-norm L2 attacks, in latent space.

On each model of :data:`MODELS` (the bundled digit DCGANs, d = 64 and 128, with the bundled digit CNN, whose logits
the peers differentiate; and three bundled grid GANs with the nearest-grid-mean classifier, whose scores are linear
logits), genloose runs with its default settings (white-box,
``genloose.class_radius(generator, classifier, latent_dim=d, num_samples=N, seed=0)``), and every peer attacks the
very points it searched (``result.latents``, with its labels) through the module ``z -> classifier(generator(z))``
returning logits. The peers, each given ``--steps`` (default 1000) gradient calls of c∘g per point:

* ``foolbox DDN``: Foolbox 3.3.4 ``DDNAttack(steps=1000)`` (cross-entropy, normalised gradient, step size
  cosine-annealed from 1 to 0.01, norm ``eps (1 -+ 0.05)``, rescaling onto the eps-sphere, ``init_epsilon`` 1,
  no quantisation): 1 gradient call per step.
* ``foolbox DeepFool``: Foolbox 3.3.4 ``L2DeepFoolAttack`` with ``candidates = min(10, K)`` and
  ``steps = 1000 // (candidates - 1)`` (each step costs ``candidates - 1`` gradient calls; it stops when the
  whole batch is adversarial), ``overshoot`` 0.001 instead of the default 0.02 (which puts every point exactly
  2% past an affine boundary: it cannot get within 1% of exact).
* ``FMN (ours)``: our box-free Fast Minimum Norm (Pintor et al. 2021; :func:`peer_attacks.fmn_l2`), not
  Foolbox's ``L2FMNAttack``, whose L2 projection is a no-op in 3.3.4 (``factor = ep.minimum(1, norms /
  norms)``). Margin loss ``logit_y - max_other``, normalised-gradient steps, step size cosine-annealed from
  ``alpha0`` = 1 to 1/100, eps from ``||delta|| + |m|/||grad m||`` until the first adversarial, then
  ``min(eps (1 - gamma), best norm)`` when adversarial and ``eps (1 + gamma)`` otherwise, gamma cosine-annealed
  from 0.05 to 0.001, projection of delta onto the L2 ball of radius eps, best adversarial tracked per point:
  1000 steps of 1 gradient call.
* ``PGD shrinking rho``: projected gradient descent on the margin inside an L2 ball of radius rho with a
  bisection over rho (:func:`peer_attacks.pgd_shrinking`), the "minimum" search of earlier latent-space
  robustness work (Buzhinsky et al. 2020): rho starts at the linear distance estimate, grows x2 until a run
  succeeds, then bisects; each run (steps // 20 = 50 steps, step size cosine-annealed from rho/2 to rho/200,
  stopped per point at the first adversarial) restarts from the best adversarial rescaled onto the new sphere;
  per-point runs continue while 50 of the 1000 calls remain.

Should the image weights fail to load, the script falls back to a stand-in generator and the older digit classifier
and says so in the model's header line.

Foolbox gets bounds (-1e4, 1e4): nothing can clip. Nothing is clamped anywhere. A peer's output counts only where
the same model re-labels it as adversarial (a non-adversarial output is a failure, distance +inf). Calls are
counted by a wrapper (rows of c∘g forward passes; a gradient evaluation is one call, as in genloose's
``result.queries``). genloose's calls per point are ``result.queries.mean() + result.pool_queries / N``.

For each model the script prints genloose's mean radius, the mean of the pointwise best peer (per point, the
smallest verified distance over the peers), their ratio, the share of points where genloose <= best peer x
(1 + 1e-6), calls per point, and, per peer: its mean (over its successes), success rate, calls per point, share
of points where it is the pointwise best ("wins"), share where it beats genloose, and wall time.

``--validate`` first checks every peer on exact testbeds of ``genloose.testing`` at d = 16 (a half-space, the
25-class nearest-mean grid, both affine; 3 sectors and a sphere for information): on the affine ones every peer's
mean must be within 1% of the exact mean on the points it succeeded on. HopSkipJump is validated there too.

``--blackbox`` compares label-only methods on the d = 64 image model: Foolbox 3.3.4 ``HopSkipJumpAttack`` (L2) at
mean budgets of 1000 and 5000 calls per point (its last iterate within each budget) against
``genloose.class_radius(..., access="black-box", config=SearchConfig(max_queries=Q))`` with Q chosen (up to
three runs) so that genloose's calls per point, pool included, match the calls HopSkipJump's iterate took within
2%. HopSkipJump in
latent space:

* it clips to [0, 1] whatever the model's bounds, so it runs on x in [0, 1]^d with z = 32 (2x - 1) (the box is
  the latent cube of half-width 32; no latent point used here comes near it; float64 box coordinates, cast to
  float32 only after the map);
* its binary-search threshold is ``gamma / d**1.5`` of the segment, with ``gamma = 1`` by default: 35% of the
  segment at d = 2 and 0.2% at d = 64, too coarse in latent dimensions; we set ``gamma = 1e-4 d**1.5`` so
  that every bisection stops at 1e-4 of the segment (the probe radius ``gamma/d * dist`` shrinks with it);
* two fixes in a subclass: the gradient estimate is normalised per point (Foolbox divides the whole batch by
  one norm, which shrinks each point's step by ~1/sqrt(batch)), and step 0's probe radius follows the rule of
  the later steps instead of a fixed 0.1 in input units;
* it needs adversarial starting points: the nearest differently-labelled point of a pool of 2048 labelled
  N(0, I) latents (genloose's pool style); the pool's labelling and the points' labels count as calls;
* one run is stopped when the next call would pass 5000 calls per point; HopSkipJump's schedule depends only on
  the step index, so the iterate at the start of step t is what ``steps=t`` returns, and each budget takes the
  last iterate within it.

It also prints genloose black-box at ``max_queries = 100 d`` against genloose white-box.

``--testbeds`` runs genloose and the white-box peers on all exact testbeds of ``benchmarks/radius_accuracy.py``
(d from ``--dims``) and compares every mean with the exact one.

Peers are optional benchmark dependencies (not genloose dependencies)::

    pip install foolbox==3.3.4

Without Foolbox, only our own peers run (FMN, PGD) and ``--blackbox`` is skipped.

Run::

    python benchmarks/radius_peers.py                 # the models, 100 points, 1000 steps
    python benchmarks/radius_peers.py --quick         # 20 points, 200 steps, d = 128 left out (under 2 minutes)
    python benchmarks/radius_peers.py --validate      # the peers on exact testbeds, d = 16
    python benchmarks/radius_peers.py --blackbox      # HopSkipJump vs genloose black-box, d = 64 image model
    python benchmarks/radius_peers.py --testbeds --dims 2,16
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

import genloose
import genloose.reference_models as reference_models
from genloose.testing import Testbed, grid_voronoi, halfspace, sectors, spheres

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_attacks import (
    LatentModel,
    fmn_l2,
    foolbox_ddn,
    foolbox_deepfool,
    hop_skip_jump,
    hsj_gamma,
    nearest_other_label,
    pgd_shrinking,
    verify,
)

STEPS = 1000
POINTS = 100
QUICK_STEPS = 200
QUICK_POINTS = 20
DEEPFOOL_OVERSHOOT = 1e-3
TIE = 1e-6  # genloose "matches" the best peer when it is within this relative margin
RTOL = 1e-4  # genloose's default bisection precision: also reported as a looser margin
VALIDATION_TOLERANCE = 0.01
HSJ_BOX = 32.0
HSJ_THRESHOLD = 1e-4
HSJ_POOL = 2048
BLACKBOX_DIM = 64
INSTALL = "Foolbox is an optional benchmark dependency: pip install foolbox==3.3.4"

Attack = Callable[[LatentModel, torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A generator, a classifier returning logits, and where they come from."""

    name: str
    generator: torch.nn.Module
    classifier: torch.nn.Module
    latent_dim: int
    num_classes: int
    source: str


def _frozen(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


class _StandInDigitGenerator(torch.nn.Module):
    """A stand-in for a digit DCGAN while none is bundled: a PCA projection, a small conv block, a sigmoid.

    ``z -> sigmoid(mu + W z + conv(relu(conv(mu + W z))))`` as a (n, 1, 28, 28) image, where W holds the top
    principal directions (times their standard deviations) of the logit images of the bundled digits (8x8 digits
    upsampled, so at most 64 directions carry variance; further latent coordinates get small random directions)
    and the conv block has fixed random weights. Diverse digit classes, nonlinear, differentiable.
    """

    def __init__(self, latent_dim: int, *, seed: int = 0) -> None:
        super().__init__()
        images = reference_models.load_digits_28(split="train").images.reshape(-1, 28 * 28).double()
        logits = torch.logit(images.clamp(0.02, 0.98))
        mean = logits.mean(dim=0)
        _, singular, directions = torch.linalg.svd(logits - mean, full_matrices=False)
        scales = singular / math.sqrt(len(images) - 1)
        rng = torch.Generator().manual_seed(seed)
        k = min(latent_dim, 60)
        weight = torch.randn(28 * 28, latent_dim, generator=rng, dtype=torch.float64) * (scales[k - 1] / 28.0)
        weight[:, :k] = directions[:k].T * scales[:k]
        self.project = torch.nn.Linear(latent_dim, 28 * 28)
        self.project.weight.data = weight.float()
        self.project.bias.data = mean.float()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 1, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            conv.weight.data = 0.3 * torch.randn(conv.weight.shape, generator=rng)
            conv.bias.data = torch.zeros(conv.bias.shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).reshape(-1, 1, 28, 28)
        return torch.sigmoid(h + self.conv2(torch.relu(self.conv1(h))))


def _reference_loader(name: str) -> Callable[..., Any] | None:
    """``genloose.reference_models.<name>`` (or the same in ``genloose.reference_models.image_gan``), if it exists."""
    loader = getattr(reference_models, name, None)
    if loader is None:
        try:
            loader = getattr(importlib.import_module("genloose.reference_models.image_gan"), name, None)
        except ImportError:
            return None
    return loader


def _load(name: str, *args: Any) -> tuple[Any, str]:
    """Call the loader ``name`` if it exists and its weights load; else (None, why not)."""
    loader = _reference_loader(name)
    if loader is None:
        return None, f"no {name} yet"
    try:
        return loader(*args), name
    except reference_models.WeightsFileError as error:
        return None, f"{name} raised {type(error).__name__}"


def _image_model(latent_dim: int) -> Model:
    """The bundled digit DCGAN and CNN when they load, else the stand-in generator and the digit classifier."""
    classifier, cnn_source = _load("load_digit_cnn")
    if classifier is None:
        classifier = reference_models.load_digit_classifier()
        cnn_source = f"load_digit_classifier ({cnn_source})"
    loaded, gan_source = _load("load_digit_dcgan", latent_dim)
    if loaded is not None:
        generator = getattr(loaded, "generator", loaded)
        gan_source = f"bundled DCGAN ({gan_source})"
    else:
        generator = _StandInDigitGenerator(latent_dim)
        gan_source = f"STAND-IN generator ({gan_source})"
    source = f"{gan_source} + {cnn_source}"
    return Model(f"digits d={latent_dim}", _frozen(generator), _frozen(classifier), latent_dim, 10, source)


def _grid_model(member: str) -> Model:
    """A bundled grid GAN with the nearest-grid-mean classifier (linear logits, so differentiable)."""
    gan = reference_models.load_grid_gan(member)
    classifier = reference_models.NearestMeanClassifier()
    source = f"grid GAN {gan.recipe.description}, NearestMeanClassifier"
    return Model(
        f"grid {member}", _frozen(gan.generator), classifier.eval(), gan.latent_dim, classifier.num_classes, source
    )


#: The models of the default run: (name, builder, in --quick). Every grid GAN of the family has a 2-D latent;
#: these three span the family from full mode coverage to severe collapse. --quick leaves out the d = 128 image
#: model to stay under two minutes (genloose's default budget does not shrink with --steps).
MODELS: tuple[tuple[str, Callable[[], Model], bool], ...] = (
    ("digits d=64", partial(_image_model, 64), True),
    ("digits d=128", partial(_image_model, 128), False),
    ("grid w128d3-long", partial(_grid_model, "w128d3-long"), True),
    ("grid w32d1", partial(_grid_model, "w32d1"), True),
    ("grid w12d1", partial(_grid_model, "w12d1"), True),
)


# --------------------------------------------------------------------------------------------------------------
# running the methods
# --------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(seed: int) -> Iterator[None]:
    """Isolate the global torch RNG (Foolbox draws from it) and silence warnings and prints."""
    with torch.random.fork_rng(), warnings.catch_warnings(), contextlib.redirect_stdout(None):
        torch.manual_seed(seed)
        warnings.simplefilter("ignore")
        yield


@dataclass
class MethodRun:
    """One method on the shared points: verified distances (inf where it failed), cost and time."""

    name: str
    distances: np.ndarray  # the two-layout rule of ``peer_attacks.verify``
    calls: float  # calls of c∘g per point
    seconds: float
    one_layout: np.ndarray | None = None  # the one-batch rule (the benchmark's rule before 2026-12-07)
    pushed: int = 0  # points that counted only after the least push
    resolution: np.ndarray | None = None  # per point, peer_attacks.float_resolution of the verified point

    @property
    def success(self) -> np.ndarray:
        return np.isfinite(self.distances)

    def mean(self, where: np.ndarray | None = None) -> float:
        ok = self.success if where is None else self.success & where
        return float(self.distances[ok].mean()) if ok.any() else math.nan


def white_box_peers(fb: ModuleType | None, num_classes: int, steps: int) -> dict[str, Attack]:
    """The white-box peers, each with ``steps`` gradient calls per point (see the module docstring)."""
    peers: dict[str, Attack] = {}
    if fb is not None:
        peers["foolbox DDN"] = partial(foolbox_ddn, fb, steps=steps)
        peers["foolbox DeepFool"] = partial(
            foolbox_deepfool, fb, budget=steps, num_classes=num_classes, overshoot=DEEPFOOL_OVERSHOOT
        )
    peers["FMN (ours)"] = partial(fmn_l2, steps=steps)
    peers["PGD shrinking rho"] = partial(pgd_shrinking, budget=steps)
    return peers


def run_genloose(
    model: Model, n: int, seed: int, *, access: str | None = None, max_queries: int | None = None
) -> tuple[genloose.RadiusResult, MethodRun]:
    """``genloose.class_radius`` on ``n`` points (default settings unless ``access`` and ``max_queries`` say)."""
    with _quiet(seed):
        start = time.perf_counter()
        result = genloose.class_radius(
            model.generator,
            model.classifier,
            latent_dim=model.latent_dim,
            num_samples=n,
            seed=seed,
            access="auto" if access is None else access,
            config=genloose.SearchConfig(max_queries=max_queries),
            progress=False,
        )
        seconds = time.perf_counter() - start
    calls = float(result.queries.mean()) + result.pool_queries / n
    name = "genloose" if access is None else f"genloose {access} (max_queries {max_queries})"
    # genloose's witnesses go through the same re-labelling as every peer's output
    z = torch.as_tensor(result.latents, dtype=torch.float32)
    witnesses = torch.as_tensor(np.where(result.censored[:, None], result.latents, result.witnesses))
    checked = verify(LatentModel(model.generator, model.classifier), z, torch.as_tensor(result.labels), witnesses)
    rejected = int((checked.success != ~result.censored).sum())
    if rejected:
        print(f"   note: {rejected} of genloose's witnesses are not adversarial when re-labelled: failures here")
    return result, MethodRun(
        name, checked.distances, calls, seconds, checked.one_layout, checked.pushed, checked.resolution
    )


def run_attack(name: str, attack: Attack, model: Model, z: torch.Tensor, y: torch.Tensor, seed: int) -> MethodRun:
    """One peer on the points ``z`` with labels ``y``, verified by re-labelling its output."""
    latent = LatentModel(model.generator, model.classifier)
    with _quiet(seed):
        start = time.perf_counter()
        adv = attack(latent, z.clone(), y.clone())
        seconds = time.perf_counter() - start
    checked = verify(latent, z, y, adv)
    return MethodRun(
        name,
        checked.distances,
        latent.forward_rows / len(z),
        seconds,
        checked.one_layout,
        checked.pushed,
        checked.resolution,
    )


def best_of(runs: list[MethodRun]) -> np.ndarray:
    """Per point, the smallest verified distance over ``runs`` (inf where all failed)."""
    return np.min(np.stack([r.distances for r in runs]), axis=0)


# --------------------------------------------------------------------------------------------------------------
# the default run: genloose vs the pointwise best peer on the models
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """genloose and the peers on one model's points."""

    model: Model
    n: int
    ours: MethodRun
    peers: list[MethodRun]

    @property
    def best(self) -> np.ndarray:
        return best_of(self.peers)

    @property
    def both(self) -> np.ndarray:
        return np.isfinite(self.ours.distances) & np.isfinite(self.best)

    @property
    def ratio(self) -> float:
        both = self.both
        return float(self.ours.distances[both].mean() / self.best[both].mean()) if both.any() else math.nan

    @property
    def per_point(self) -> np.ndarray:
        """genloose's radius over the best peer's distance, per point where both found a witness."""
        both = self.both
        return self.ours.distances[both] / self.best[both]

    def ours_within(self, margin: float = TIE) -> float:
        """Share of points where genloose <= best peer x (1 + margin)."""
        return float(np.mean(self.ours.distances <= self.best * (1.0 + margin)))

    def ours_within_resolution(self) -> float:
        """:meth:`ours_within` with the margin widened, point by point, to the float32 resolution of the two points.

        A distance from z is only placed to within ``float_resolution`` of the float32 point that realises it;
        where that exceeds 1e-6 of the radius (small radii, large coordinates), a relative margin of 1e-6 asks for
        a precision no float32 point has.
        """
        distances = np.stack([p.distances for p in self.peers])
        which = distances.argmin(axis=0)
        peer_resolution = np.stack([p.resolution for p in self.peers])[which, np.arange(which.size)]
        margin = np.maximum(np.maximum(TIE * self.best, self.ours.resolution), peer_resolution)
        return float(np.mean(self.ours.distances <= self.best + margin))

    def ours_within_one_layout(self, margin: float = TIE) -> float:
        """:meth:`ours_within` with every method's output verified by the one-batch rule only."""
        best = best_of([MethodRun(p.name, p.one_layout, p.calls, p.seconds) for p in self.peers])
        return float(np.mean(self.ours.one_layout <= best * (1.0 + margin)))


def compare(model: Model, n: int, seed: int, fb: ModuleType | None, steps: int) -> Comparison:
    """genloose white-box on ``n`` points, then every white-box peer on the same points."""
    result, ours = run_genloose(model, n, seed)
    z = torch.as_tensor(result.latents, dtype=torch.float32)
    y = torch.as_tensor(result.labels, dtype=torch.long)
    peers = [
        run_attack(name, attack, model, z, y, seed)
        for name, attack in white_box_peers(fb, model.num_classes, steps).items()
    ]
    return Comparison(model, n, ours, peers)


def _line(label: str, run: MethodRun, *extra: str) -> str:
    """``label, mean, success, calls per point, extra columns..., seconds`` as one table line."""
    cells = " ".join(extra)
    return f"{label:34} {run.mean():>9.5f} {run.success.mean():>6.0%} {run.calls:>9.1f} {cells} {run.seconds:>8.1f}"


def _best_mean(best: np.ndarray) -> float:
    finite = np.isfinite(best)
    return float(best[finite].mean()) if finite.any() else math.nan


def _print_comparison(c: Comparison) -> None:
    m = c.model
    print(f"\n== {m.name}: d = {m.latent_dim}, K = {m.num_classes}, {c.n} points; {m.source}")
    print(f"   {'method':34} {'mean r':>9} {'succ':>6} {'calls/pt':>9} {'wins':>6} {'beats gl':>8} {'time s':>8}")
    best = c.best
    ours = c.ours
    print("   " + _line("genloose (white-box, default)", ours, f"{'':>6}", f"{'':>8}"))
    print(f"   {'best peer (pointwise minimum)':34} {_best_mean(best):>9.5f} {np.isfinite(best).mean():>6.0%}")
    for peer in c.peers:
        wins = np.mean(peer.success & (peer.distances <= best))
        beats = np.mean(peer.distances * (1.0 + TIE) < ours.distances)
        print("   " + _line(peer.name, peer, f"{wins:>6.0%}", f"{beats:>8.0%}"), flush=True)
    print(
        f"   genloose / best peer = {c.ratio:.4f} (means over the {int(c.both.sum())} points where both found a "
        f"witness); genloose <= best peer x (1 + {TIE:g}) on {c.ours_within():.0%} of points, x (1 + {RTOL:g}) on "
        f"{c.ours_within(RTOL):.0%}; within 1e-6 or the float32 resolution of the two points on "
        f"{c.ours_within_resolution():.0%}"
    )
    pushed = ", ".join(f"{run.name} {run.pushed}" for run in (ours, *c.peers))
    print(
        f"   points counted only after the least push (adversarial in one layout only as returned): {pushed}; "
        f"with the one-batch rule instead, genloose <= best peer x (1 + {TIE:g}) on {c.ours_within_one_layout():.0%}"
    )
    if c.both.any():
        q = np.quantile(c.per_point, [0.1, 0.5, 0.9])
        print(f"   per point, genloose / best peer: 10% {q[0]:.4f}, median {q[1]:.4f}, 90% {q[2]:.4f}")


def _print_summary(comparisons: list[Comparison]) -> None:
    names = [p.name for p in comparisons[0].peers]
    print("\nSummary (mean radius; calls of c∘g per point; wins = share of points where a peer is the pointwise best)")
    head = f"{'model':18} {'d':>4} {'K':>3} {'genloose':>9} {'best peer':>9} {'gl/best':>8} {'median':>7}"
    head += f" {'gl<=best':>8} {'<=f32':>6} {'<=1e-4':>6} {'gl calls':>8}"
    for name in names:
        head += f" | {name[:17]:>17} {'calls':>6} {'wins':>5} {'succ':>5}"
    print(head)
    print("-" * len(head))
    for c in comparisons:
        best = c.best
        m = c.model
        line = f"{m.name:18} {m.latent_dim:>4} {m.num_classes:>3} {c.ours.mean():>9.5f} {_best_mean(best):>9.5f}"
        median = float(np.median(c.per_point)) if c.both.any() else math.nan
        line += (
            f" {c.ratio:>8.4f} {median:>7.4f} {c.ours_within():>8.0%} {c.ours_within_resolution():>6.0%}"
            f" {c.ours_within(RTOL):>6.0%} {c.ours.calls:>8.1f}"
        )
        for peer in c.peers:
            wins = np.mean(peer.success & (peer.distances <= best))
            line += f" | {peer.mean():>17.5f} {peer.calls:>6.0f} {wins:>5.0%} {peer.success.mean():>5.0%}"
        print(line)


# --------------------------------------------------------------------------------------------------------------
# validation on exact testbeds
# --------------------------------------------------------------------------------------------------------------


def _testbed_model(tb: Testbed) -> Model:
    return Model(tb.name, tb.generator, tb.classifier, tb.latent_dim, tb.num_classes, "exact testbed")


def validation_testbeds(d: int = 16) -> list[tuple[Testbed, bool]]:
    """(testbed, affine) pairs: the two affine testbeds carry the 1% criterion, the others are for information."""
    return [
        (halfspace(d, offset=0.5, seed=1), True),
        (grid_voronoi(d, n=2, scale=2.0, seed=2), True),
        (sectors(d, 3), False),
        (spheres(d, math.sqrt(d)), False),
    ]


def _print_validation_row(tb: Testbed, run: MethodRun, exact: np.ndarray, affine: bool, budget: str = "") -> str | None:
    """Print one row; return a description of the miss when an affine testbed's mean is off by more than 1%."""
    ok = run.success
    ratio = float(run.distances[ok].mean() / exact[ok].mean()) if ok.any() else math.nan
    worst = float(np.max(run.distances[ok] / exact[ok])) if ok.any() else math.nan
    name = run.name + budget
    miss = None
    if not affine:
        verdict = "(info)"
    elif abs(ratio - 1.0) <= VALIDATION_TOLERANCE:
        verdict = "ok"
    else:
        verdict = "MISS"
        miss = f"{name} on {tb.name}: mean/exact {ratio:.4f}"
    print(
        f"{tb.name[:36]:36} {tb.latent_dim:>3} {tb.num_classes:>3} {name:30} {ratio:>9.5f} {worst:>8.4f} "
        f"{ok.mean():>6.0%} {run.calls:>8.1f} {run.seconds:>7.2f} {verdict:>7}",
        flush=True,
    )
    return miss


def validate(
    cases: list[tuple[Testbed, bool]],
    n: int,
    seed: int,
    fb: ModuleType | None,
    steps: int,
    *,
    hsj_budgets: tuple[int, ...],
) -> list[str]:
    """Every peer (and genloose) on exact testbeds; returns the misses (affine testbeds, mean off by > 1%)."""
    head = (
        f"{'testbed':36} {'d':>3} {'K':>3} {'method':30} {'mean/ex':>9} {'max/ex':>8} {'succ':>6} {'calls/pt':>8} "
        f"{'time s':>7} {'verdict':>7}"
    )
    print(head)
    print("-" * len(head))
    misses: list[str | None] = []
    for tb, affine in cases:
        model = _testbed_model(tb)
        result, ours = run_genloose(model, n, seed)
        exact = tb.exact_radius(result.latents)
        z = torch.as_tensor(result.latents, dtype=torch.float32)
        y = torch.as_tensor(result.labels, dtype=torch.long)
        misses.append(_print_validation_row(tb, ours, exact, affine))
        peers = white_box_peers(fb, tb.num_classes, steps)
        runs = [run_attack(name, attack, model, z, y, seed) for name, attack in peers.items()]
        for run in runs:
            misses.append(_print_validation_row(tb, run, exact, affine))
        _print_validation_row(tb, MethodRun("best peer", best_of(runs), math.nan, math.nan), exact, affine)
        if fb is not None and hsj_budgets:
            for budget, run in zip(hsj_budgets, run_hsj(fb, model, z, y, seed, hsj_budgets), strict=True):
                misses.append(_print_validation_row(tb, run, exact, affine, f" @{budget}"))
    return [m for m in misses if m is not None]


# --------------------------------------------------------------------------------------------------------------
# black-box: HopSkipJump vs genloose black-box
# --------------------------------------------------------------------------------------------------------------


def run_hsj(
    fb: ModuleType, model: Model, z: torch.Tensor, y: torch.Tensor, seed: int, budgets: tuple[int, ...]
) -> list[MethodRun]:
    """HopSkipJump from pool starts, read at each mean budget of calls per point (see the module docstring)."""
    n, d = z.shape
    latent = LatentModel(model.generator, model.classifier, box=HSJ_BOX)
    start = time.perf_counter()
    pool = torch.randn(HSJ_POOL, d, generator=torch.Generator().manual_seed(10_000 + seed))
    with torch.no_grad():
        pool_labels = latent(latent.from_latent(pool)).argmax(dim=1)
        own_labels = latent(latent.from_latent(z)).argmax(dim=1)
    if not torch.equal(own_labels, y):
        raise RuntimeError("the model's labels of the points differ from genloose's")
    starts, has_start = nearest_other_label(z, y, pool, pool_labels)
    keep = torch.as_tensor(has_start)
    with _quiet(seed):
        run = hop_skip_jump(
            fb,
            latent,
            z[keep],
            y[keep],
            starts[keep],
            max_rows=max(budgets) * n,
            start_rows=latent.forward_rows,
            gamma=hsj_gamma(d, HSJ_THRESHOLD),
        )
    seconds = time.perf_counter() - start
    if latent.box_rows:
        print(f"   WARNING: {latent.box_rows} HopSkipJump rows touched the latent box (clipped)")
    runs = []
    for budget in budgets:
        points, rows = run.at_budget(budget * n)
        adv = z.clone()  # the points themselves: failures unless HopSkipJump reached an iterate within the budget
        if points is not None:
            adv[keep] = points.to(z.dtype)
        checked = verify(latent, z, y, adv)
        runs.append(MethodRun("HopSkipJump (foolbox)", checked.distances, rows / n, seconds))
    return runs


def _genloose_black_box_at(model: Model, n: int, seed: int, calls: float) -> tuple[genloose.RadiusResult, MethodRun]:
    """genloose black-box with ``max_queries`` set so that its calls per point, pool included, are about ``calls``.

    Up to four runs, stopping within 2%: the first at ``max_queries = calls - pool``, the next by interpolating
    between the runs that bracket the target (by rescaling the nearest one while none do); the run closest to the
    target is returned.
    """
    tried: dict[int, tuple[genloose.RadiusResult, MethodRun]] = {}
    max_queries = max(1, round(calls - 2048 / n))  # genloose's default pool is 2048 points
    for _ in range(4):
        tried[max_queries] = run_genloose(model, n, seed, access="black-box", max_queries=max_queries)
        used = {q: r.calls for q, (_, r) in tried.items()}
        if abs(used[max_queries] - calls) <= 0.02 * calls:
            break
        below = [q for q in used if used[q] < calls]
        above = [q for q in used if used[q] > calls]
        if below and above:
            lo, hi = max(below, key=used.get), min(above, key=used.get)
            guess = lo + (hi - lo) * (calls - used[lo]) / (used[hi] - used[lo])
        else:
            nearest = min(used, key=lambda q: abs(used[q] - calls))
            pool = tried[nearest][0].pool_queries / n
            guess = nearest * (calls - pool) / max(1.0, used[nearest] - pool)
        max_queries = max(1, round(guess))
        if max_queries in tried:
            break
    return min(tried.values(), key=lambda pair: abs(pair[1].calls - calls))


def black_box(model: Model, n: int, seed: int, fb: ModuleType, budgets: tuple[int, ...]) -> None:
    """Print HopSkipJump vs genloose black-box at each budget, and genloose black-box (100 d) vs white-box."""
    d = model.latent_dim
    print(f"\n== black-box on {model.name}: d = {d}, K = {model.num_classes}, {n} points; {model.source}")
    print(
        f"   HopSkipJump: gamma = {hsj_gamma(d, HSJ_THRESHOLD):.4g}, so its bisections stop at {HSJ_THRESHOLD:g} of "
        f"the segment (Foolbox's default gamma = 1: {d**-1.5:.2g}); latent box half-width {HSJ_BOX:g}"
    )
    white, ours_white = run_genloose(model, n, seed)
    z = torch.as_tensor(white.latents, dtype=torch.float32)
    y = torch.as_tensor(white.labels, dtype=torch.long)
    hsj_runs = run_hsj(fb, model, z, y, seed, budgets)
    print("   (no HopSkipJump query touched the latent box unless a WARNING says so above)")
    print(f"   {'budget':>7} {'method':34} {'mean r':>9} {'succ':>6} {'calls/pt':>9} {'time s':>8}")
    for budget, hsj in zip(budgets, hsj_runs, strict=True):
        result, ours = _genloose_black_box_at(model, n, seed, hsj.calls)
        if not np.array_equal(result.latents, white.latents):
            raise RuntimeError("genloose black-box searched other points than genloose white-box")
        for run in (hsj, ours):
            print(f"   {budget:>7} " + _line(run.name, run))
        both = hsj.success & ours.success
        ratio = ours.mean(both) / hsj.mean(both)
        share = np.mean(ours.distances <= hsj.distances * (1.0 + TIE))
        print(
            f"   {budget:>7} genloose / HopSkipJump = {ratio:.4f} ({int(both.sum())} points); "
            f"genloose <= HopSkipJump on {share:.0%}"
        )
    _, ours_black = run_genloose(model, n, seed, access="black-box", max_queries=100 * d)
    print(f"   genloose black-box at max_queries = 100 d = {100 * d} vs genloose white-box (default):")
    print("           " + _line(ours_black.name, ours_black))
    print("           " + _line("genloose white-box (default)", ours_white))
    both = ours_black.success & ours_white.success
    print(f"           black-box / white-box = {ours_black.mean(both) / ours_white.mean(both):.4f}")


# --------------------------------------------------------------------------------------------------------------


def _foolbox() -> ModuleType | None:
    try:
        return importlib.import_module("foolbox")
    except Exception as error:  # any import failure means "absent"
        print(f"foolbox: not available ({type(error).__name__}: {error}); {INSTALL}")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--validate", action="store_true", help="validate the peers on exact testbeds at d = 16")
    mode.add_argument("--blackbox", action="store_true", help="HopSkipJump vs genloose black-box on the d = 64 images")
    mode.add_argument("--testbeds", action="store_true", help="genloose and the peers on all exact testbeds")
    parser.add_argument("--points", type=int, default=None, help=f"points per model (default {POINTS})")
    parser.add_argument("--steps", type=int, default=None, help=f"gradient calls per point for each peer ({STEPS})")
    parser.add_argument("--models", default="", help="comma-separated substrings of model names to keep")
    parser.add_argument("--dims", default="2,16,64,256", help="latent dims for --testbeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_POINTS} points, {QUICK_STEPS} steps, no d = 128 image model"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    n = args.points or (QUICK_POINTS if args.quick else POINTS)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    fb = _foolbox()
    versions = f"foolbox {fb.__version__}" if fb is not None else "no foolbox"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"genloose {genloose.__version__} from {Path(genloose.__file__).parent}, {versions}, torch {torch.__version__}"
    )
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, "
        f"load average {load}"
    )
    print(f"{n} points, {steps} gradient calls per point for each white-box peer, seed {args.seed}")
    start = time.perf_counter()
    if args.validate or args.testbeds:
        if args.validate:
            cases = validation_testbeds(16)
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from radius_accuracy import testbeds  # the accuracy benchmark's testbeds

            cases = [(tb, False) for d in (int(x) for x in args.dims.split(",") if x.strip()) for tb in testbeds(d)]
        budgets = (steps, 5 * steps) if args.validate else ()
        misses = validate(cases, n, args.seed, fb, steps, hsj_budgets=budgets)
        print("mean/ex: mean distance over the exact mean, on the points the method succeeded on (succ); max/ex: the")
        tolerance = f"{VALIDATION_TOLERANCE:.0%}"
        print(f"largest per-point ratio; verdict: on the affine testbeds the mean must be within {tolerance}.")
        if args.validate:
            print(f"validation: {len(misses)} miss(es)" + "".join(f"\n  {m}" for m in misses))
    elif args.blackbox:
        if fb is None:
            print("--blackbox needs Foolbox")
            return 0
        budgets = (steps, 5 * steps)
        black_box(_image_model(BLACKBOX_DIM), n, args.seed, fb, budgets)
    else:
        keep = [k.strip() for k in args.models.split(",") if k.strip()]
        comparisons = []
        failed = []
        for name, build, in_quick in MODELS:
            if (keep and not any(k in name for k in keep)) or (args.quick and not keep and not in_quick):
                continue
            try:
                comparison = compare(build(), n, args.seed, fb, steps)
            except Exception:  # report it and go on with the other models
                failed.append(name)
                print(f"\n== {name}: FAILED")
                traceback.print_exc(file=sys.stdout)
                continue
            _print_comparison(comparison)
            comparisons.append(comparison)
        if not comparisons and not failed:
            print("no model matched --models")
            return 2
        if comparisons:
            _print_summary(comparisons)
        if failed:
            print(f"FAILED (an exception, printed above): {', '.join(failed)}")
        print("gl/best: genloose's mean over the best peer's mean (points where both found a witness; > 1: genloose is")
        print("looser); median: the median per-point ratio; gl<=best: share of points where genloose <= best peer x")
        print(f"(1 + {TIE:g}); <=f32: the same with the margin widened to the float32 resolution of the two points")
        print(
            f"(peer_attacks.float_resolution); <=1e-4: the same within genloose's bisection precision rtol = {RTOL:g};"
        )
        print("wins: share of points where the peer is the pointwise best (ties count for each).")
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
