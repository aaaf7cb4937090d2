"""genloose's class-radius search against peer libraries' minimum-norm L2 attacks, in latent space.

On the exact testbeds of ``benchmarks/radius_accuracy.py`` (d = 2, 16, 64, 256), the points ``genloose.class_radius``
searched (``result.latents``, white-box) are attacked by peer attacks through a wrapper module on z,
``model(z) = classifier(generator(z))`` returning the logits:

* Foolbox 3.3.4 ``L2DeepFoolAttack`` and ``DDNAttack`` (L2), with bounds (-1e3, 1e3) (no clipping can happen in latent
  space) and ``epsilons=None`` (minimum-norm mode). Foolbox's ``L2FMNAttack`` is not used: its L2 projection is a
  no-op in 3.3.4 (``factor = ep.minimum(1, norms / norms)``), so it is not a valid FMN reference.
* torchattacks ``DeepFool`` and ``FAB`` (L2, untargeted). Both clamp their iterates to the image box [0, 1], so the
  wrapper maps x in [0, 1]^d affinely onto z = B(2x - 1) with B = 32 (no latent coordinate of these points or of
  any nearest boundary point comes near +-32), and distances are mapped back (||dz|| = 2B ||dx||).

Budget. genloose's default is ``max_queries = 1000`` calls of c∘g per point (a gradient evaluation counts one).
Each peer gets the same cap through its step count:

==========================  ======================================  ==========================================
attack                      calls per step                          steps
==========================  ======================================  ==========================================
Foolbox L2 DeepFool         candidates - 1 gradients (c = min(10,K)) 1000 // (c - 1)   (stops when all succeed)
Foolbox L2 DDN              1 gradient                               1000
torchattacks DeepFool       1 forward + K backward (full Jacobian)   1000 // K         (per-sample early stop)
torchattacks FAB            1 forward + K backward + 1 forward       1000 // (K + 1)
==========================  ======================================  ==========================================

All other parameters are the libraries' defaults (overshoot 0.02 for DeepFool, gamma 0.05 and init_epsilon 1 for
DDN, alpha_max 0.1, eta 1.05, beta 0.9 for FAB; FAB's ``eps`` acceptance threshold is set huge so that every
success counts). The cost each method actually spent is measured in model passes per point (forward rows +
backward rows, counted by the wrapper; genloose's from its own counters, pool and probe included).

A peer's result counts only where it is really adversarial (re-labelled by the same model); elsewhere it is a
failure. The comparison is per testbed and d, over the points where the peer succeeded:
``ours / theirs = mean(our radii) / mean(their distances)`` (< 1: ours is tighter). Every radius here, ours and
theirs, is the distance to a verified differently-labelled point, so the smaller is the better upper bound. Both are
also compared with the exact radii (``ours/ex``, ``them/ex``), and per point: ``worse`` is the share of the peer's
successes where our radius exceeds theirs by more than 0.1%, counting only peer points that the exact (float64)
labelling also puts across the boundary (float32 models blur the boundary by ~1e-5; a peer point inside that blur
is adversarial for the model but not a true improvement, and the number of such points is printed).

Peers are optional benchmark dependencies (not genloose dependencies)::

    pip install foolbox==3.3.4
    pip install --no-deps torchattacks   # its metadata pulls torchvision (and a CUDA torch); it imports without it

Run::

    python benchmarks/radius_peers.py                      # all testbeds, d = 2, 16, 64, 256
    python benchmarks/radius_peers.py --quick              # d = 2, 16, 40 points
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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

import genloose
from genloose.testing import Testbed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from radius_accuracy import testbeds  # the same testbeds as the accuracy benchmark

BUDGET = 1000
TA_BOX = 32.0
WORSE_MARGIN = 1e-3  # per-point differences below this are bisection resolution (rtol 1e-4), not losses
INSTALL = (
    "peer libraries are optional benchmark dependencies; install them with\n"
    "    pip install foolbox==3.3.4\n"
    "    pip install --no-deps torchattacks   # never let it pull torchvision / a CUDA torch"
)


def _try_import(name: str) -> tuple[ModuleType | None, str]:
    try:
        return importlib.import_module(name), ""
    except Exception as error:  # any import failure (missing module, missing torchvision, ...) means "absent"
        return None, f"{type(error).__name__}: {error}"


@dataclass
class _Counter:
    forward: int = 0
    backward: int = 0

    def count_backward(self, grad: torch.Tensor) -> torch.Tensor:
        self.backward += int(grad.shape[0])
        return grad


class LatentModel(torch.nn.Module):
    """``z -> classifier(generator(z))`` (logits), counting forward and backward rows.

    With ``box`` set, the input is x in [0, 1]^d and z = box·(2x - 1) (for attacks that clamp to [0, 1]).
    """

    def __init__(self, tb: Testbed, counter: _Counter, box: float | None = None) -> None:
        super().__init__()
        self.generator = tb.generator
        self.classifier = tb.classifier
        self.counter = counter
        self.box = box
        # torchattacks reads the device from the first parameter; the testbeds have buffers only
        self.anchor = torch.nn.Parameter(torch.zeros(0), requires_grad=False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.counter.forward += int(x.shape[0])
        if x.requires_grad and torch.is_grad_enabled():
            x.register_hook(self.counter.count_backward)
        z = x if self.box is None else self.box * (2.0 * x - 1.0)
        return self.classifier(self.generator(z))


@contextlib.contextmanager
def _isolated_seed(seed: int) -> Iterator[None]:
    """Peers draw from the global torch RNG (Foolbox DDN's zero-gradient fallback, FAB's manual_seed)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def _labels(tb: Testbed, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return tb.classifier(tb.generator(z)).argmax(dim=1).numpy()


def _foolbox_attacks(fb: ModuleType, num_classes: int) -> dict[str, Callable[[torch.nn.Module, Any, Any], Any]]:
    candidates = min(10, num_classes)

    def deepfool(model: torch.nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fmodel = fb.PyTorchModel(model, bounds=(-1e3, 1e3), device="cpu")
        attack = fb.attacks.L2DeepFoolAttack(steps=max(1, BUDGET // max(1, candidates - 1)), candidates=candidates)
        _, clipped, _ = attack(fmodel, z, fb.criteria.Misclassification(y), epsilons=None)
        return clipped

    def ddn(model: torch.nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fmodel = fb.PyTorchModel(model, bounds=(-1e3, 1e3), device="cpu")
        attack = fb.attacks.DDNAttack(steps=BUDGET)
        _, clipped, _ = attack(fmodel, z, fb.criteria.Misclassification(y), epsilons=None)
        return clipped

    return {"foolbox L2DeepFool": deepfool, "foolbox L2DDN": ddn}


def _torchattacks_attacks(ta: ModuleType, num_classes: int) -> dict[str, Callable[[torch.nn.Module, Any, Any], Any]]:
    def to_box(z: torch.Tensor) -> torch.Tensor:
        return (z / TA_BOX + 1.0) / 2.0

    def from_box(x: torch.Tensor) -> torch.Tensor:
        return TA_BOX * (2.0 * x - 1.0)

    def deepfool(model: torch.nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        attack = ta.DeepFool(model, steps=max(1, BUDGET // num_classes), overshoot=0.02)
        return from_box(attack(to_box(z), y))

    def fab(model: torch.nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        attack = ta.FAB(
            model, norm="L2", eps=1e9, steps=max(1, BUDGET // (num_classes + 1)), n_restarts=1, n_classes=num_classes
        )
        return from_box(attack(to_box(z), y))

    return {"torchattacks DeepFool": deepfool, "torchattacks FAB": fab}


@dataclass
class Row:
    testbed: str
    d: int
    peer: str
    n: int
    failures: int
    ours_over_theirs: float
    ours_worse: float
    ours_exact: float
    their_exact: float
    roundoff: int
    ours_passes: float
    their_passes: float
    ours_s: float
    their_s: float


def compare(tb: Testbed, n: int, peers: dict[str, ModuleType], seed: int) -> list[Row]:
    """Run genloose, then every available peer, on the same points of ``tb``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        ours = genloose.class_radius(
            tb.generator,
            tb.classifier,
            latent_dim=tb.latent_dim,
            num_samples=n,
            seed=seed,
            access="white-box",
            progress=False,
        )
        ours_s = time.perf_counter() - start
    ours_passes = (ours.metadata["forward_queries"] + ours.metadata["backward_queries"]) / n
    z = torch.as_tensor(ours.latents, dtype=torch.float32)
    y = torch.as_tensor(ours.labels)
    our_radii = ours.radii
    exact = tb.exact_radius(ours.latents)
    found = ~ours.censored
    ours_exact = float(our_radii[found].mean() / exact[found].mean()) if found.any() else math.nan
    attacks: dict[str, Callable[..., Any]] = {}
    if "foolbox" in peers:
        attacks.update(_foolbox_attacks(peers["foolbox"], tb.num_classes))
    if "torchattacks" in peers:
        attacks.update(_torchattacks_attacks(peers["torchattacks"], tb.num_classes))
    rows = []
    for name, attack in attacks.items():
        counter = _Counter()
        model = LatentModel(tb, counter, box=TA_BOX if name.startswith("torchattacks") else None)
        with _isolated_seed(seed), warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            adv = attack(model, z.clone(), y.clone())
            their_s = time.perf_counter() - start
        adv = adv.detach().to(torch.float32)
        success = _labels(tb, adv) != ours.labels
        dist = np.linalg.norm(adv.double().numpy() - ours.latents, axis=1)
        ok = success & ~ours.censored
        # a peer point the float32 model labels differently but the exact (float64) labelling does not: a
        # round-off "success" within ~1e-5 of the boundary; such points do not count against us
        exact_ok = ok & (tb.label(adv.double().numpy()) != tb.label(ours.latents))
        if ok.any():
            ratio = float(our_radii[ok].mean() / dist[ok].mean())
            worse = float(np.mean((our_radii > dist * (1 + WORSE_MARGIN))[ok] & exact_ok[ok]))
            their_exact = float(dist[ok].mean() / exact[ok].mean())
        else:
            ratio = worse = their_exact = math.nan
        rows.append(
            Row(
                testbed=tb.name,
                d=tb.latent_dim,
                peer=name,
                n=n,
                failures=int((~success).sum()),
                ours_over_theirs=ratio,
                ours_worse=worse,
                ours_exact=ours_exact,
                their_exact=their_exact,
                roundoff=int((ok & ~exact_ok).sum()),
                ours_passes=ours_passes,
                their_passes=(counter.forward + counter.backward) / n,
                ours_s=ours_s,
                their_s=their_s,
            )
        )
    return rows


def _print_row(row: Row) -> None:
    print(
        f"{row.testbed:56} {row.d:>4} {row.peer:22} {row.failures / row.n:>6.1%} {row.ours_exact:>9.5f} "
        f"{row.their_exact:>9.5f} {row.ours_over_theirs:>10.5f} "
        f"{row.ours_worse:>8.1%} {row.ours_passes:>8.0f} {row.their_passes:>8.0f} {row.ours_s:>7.2f} "
        f"{row.their_s:>7.2f} {row.ours_s / row.their_s:>9.3f}",
        flush=True,
    )


def _summary(rows: list[Row]) -> None:
    print()
    print("Summary per peer and d (ours/theirs over each case's points where the peer succeeded; < 1: ours tighter):")
    for peer in dict.fromkeys(r.peer for r in rows):
        for d in sorted({r.d for r in rows}):
            group = [r for r in rows if r.peer == peer and r.d == d]
            if not group:
                continue
            valid = [r for r in group if not math.isnan(r.ours_over_theirs)]
            worst = max(valid, key=lambda r: r.ours_over_theirs) if valid else None
            tighter = sum(r.ours_over_theirs <= 1.0 for r in valid)
            fail = sum(r.failures for r in group) / sum(r.n for r in group)
            time_ratio = np.exp(np.mean([np.log(r.ours_s / r.their_s) for r in group]))
            worst_text = f"worst {worst.ours_over_theirs:.4f} ({worst.testbed})" if worst else "no successes"
            succ = [(r.n - r.failures) for r in valid]
            worse = sum(r.ours_worse * k for r, k in zip(valid, succ, strict=True)) / max(1, sum(succ))
            print(
                f"  {peer:22} d={d:<4} ours tighter on {tighter}/{len(valid)} cases, {worst_text}; "
                f"ours worse by >{WORSE_MARGIN:.1%} on {worse:.1%} of points; their failure rate {fail:.1%}; "
                f"wall time ours/theirs (geo. mean) {time_ratio:.3f}"
            )
    losses = [r for r in rows if r.ours_over_theirs > 1.0]
    print(f"  cases where ours is NOT tighter: {len(losses)} of {len(rows)}")
    for r in losses:
        print(f"    {r.peer} d={r.d} {r.testbed}: ours/theirs {r.ours_over_theirs:.5f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dims", default="2,16,64,256", help="comma-separated latent dims (default 2,16,64,256)")
    parser.add_argument("--num-samples", type=int, default=100, help="points per testbed and d (default 100)")
    parser.add_argument("--testbeds", default="", help="comma-separated substrings of testbed names to keep")
    parser.add_argument("--peers", default="foolbox,torchattacks", help="peer libraries to run (default both)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; the models are tiny)")
    parser.add_argument("--quick", action="store_true", help="d = 2, 16 with 40 points")
    args = parser.parse_args(argv)

    peers: dict[str, ModuleType] = {}
    for name in [p.strip() for p in args.peers.split(",") if p.strip()]:
        module, why = _try_import(name)
        if module is None:
            print(f"{name}: not available ({why})")
        else:
            peers[name] = module
    if not peers:
        print(INSTALL)
        return 0
    torch.set_num_threads(args.threads)
    dims = [2, 16] if args.quick else [int(x) for x in args.dims.split(",") if x.strip()]
    n = 40 if args.quick else args.num_samples
    keep = [k.strip() for k in args.testbeds.split(",") if k.strip()]
    versions = ", ".join(f"{k} {getattr(m, '__version__', '?')}" for k, m in peers.items())
    print(
        f"genloose {genloose.__version__} vs {versions}; torch {torch.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}"
    )
    print(f"budget: {BUDGET} calls of c∘g per point for every method (see the module docstring for the mapping)")
    header = (
        f"{'testbed':56} {'d':>4} {'peer':22} {'fail':>6} {'ours/ex':>9} {'them/ex':>9} {'ours/them':>10} "
        f"{'worse':>8} {'our p/pt':>8} "
        f"{'their p/pt':>8} {'our s':>7} {'their s':>7} {'time o/t':>9}"
    )
    print(header)
    print("-" * len(header))
    rows: list[Row] = []
    start = time.perf_counter()
    for d in dims:
        for tb in testbeds(d):
            if keep and not any(k in tb.name for k in keep):
                continue
            for row in compare(tb, n, peers, args.seed):
                rows.append(row)
                _print_row(row)
    if not rows:
        print("no testbed matched --testbeds")
        return 2
    print("fail: share of points the peer did not make adversarial; ours/ex, them/ex: mean radius over the exact")
    print("mean (on the peer's successes for them/ex); worse: share of the peer's successes, truly across the exact")
    print(f"boundary, where our radius is larger than theirs by more than {WORSE_MARGIN:.1%}; p/pt: model passes per")
    print("point (forward + backward rows; ours includes the seeding pool); our s / their s: wall time on all points.")
    roundoff = sum(r.roundoff for r in rows)
    print(f"peer successes that the exact labelling rejects (float32 round-off at the boundary): {roundoff}")
    _summary(rows)
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
