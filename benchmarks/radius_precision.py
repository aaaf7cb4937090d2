"""Calls of c∘g to reach a relative precision of the class radius: multilevel search budgets against plain sampling.

For each model, ``genloose.class_radius(..., precision=p)`` (multilevel Monte Carlo over search budgets, levels
chosen by a pilot) runs at each ``--precisions`` target, and its total calls of c∘g (pool labelling and the pilot
included) are set against today's estimator reaching the same width: one full search per point,
``n = (z · CV / precision)²`` points at the full search's calls per point, with CV and calls per point measured
on ``--plain-points`` points of a plain ``class_radius`` run with the same seed (printed). Both sides count calls
the same way: every forward and backward evaluation of c∘g (so a gradient counts two), labelling, probes and
re-verification included. The ratio is measured in this run; a second ratio sets the run against the plain
estimator at the width the run actually reached.

``--coverage R`` also runs R seeded replications at the widest precision on two exact testbeds of
``genloose.testing`` (5 sectors at d = 3, an affine; 2 nested spheres at d = 4, curved) and prints the share of
intervals that contain the exact mean radius (nominal 95%).

Run::

    python benchmarks/radius_precision.py                          # grid GANs, ±5% and ±2%
    python benchmarks/radius_precision.py --models "digits d=64" --precisions 0.1,0.05 --plain-points 60
    python benchmarks/radius_precision.py --models none --coverage 200
    python benchmarks/radius_precision.py --models none --precisions 0.1 --grid-coverage 100
    python benchmarks/radius_precision.py --models none --precisions 0.1 --grid-coverage 100 \
        --reference 0.19711,0.00108                                # the 40 000-point reference of docs/benchmarks.md

``--grid-coverage R`` runs R seeded replications on the grid GAN w32d1 and counts the intervals that contain a
reference: one full search per point on ``--reference-points`` points of another seed.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

import genloose
from genloose import testing

sys.path.insert(0, str(Path(__file__).parent))
import radius_peers

GRID_MODELS = ("grid w128d3-long", "grid w32d1", "grid w12d1")


def _model(name: str) -> radius_peers.Model:
    """A benchmark model of radius_peers.MODELS by name."""
    return dict((key, build) for key, build, _ in radius_peers.MODELS)[name]()


def _search(model: Any, **options: Any) -> genloose.RadiusResult:
    """``genloose.class_radius`` on a model or testbed, without progress bar or search-failure warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genloose.SearchFailureWarning)
        return genloose.class_radius(
            model.generator, model.classifier, latent_dim=model.latent_dim, progress=False, **options
        )


def plain_cost(model: radius_peers.Model, points: int, seed: int) -> tuple[float, float, float, float]:
    """(CV of r, calls per point, pool calls, queries per point) of one full search per point, on ``points`` points.

    Calls are counted as a precision run counts them (``PrecisionSummary.total_calls``): every evaluation of c∘g,
    forward and backward (a gradient counts its forward and its backward pass), labelling, probes and
    re-verification included. Queries per point are the search's own count (``result.queries``), where a
    gradient counts as one call.
    """
    result = _search(model, num_samples=points, seed=seed)
    radii = result.radii
    pool = float(result.pool_queries)
    total = int(result.metadata["forward_queries"]) + int(result.metadata["backward_queries"])
    return float(radii.std(ddof=1) / radii.mean()), (total - pool) / points, pool, float(result.queries.mean())


def compare(name: str, precisions: list[float], plain_points: int, seed: int) -> None:
    model = _model(name)
    cv, per_point, pool, queries = plain_cost(model, plain_points, seed)
    z = stats.norm.ppf(0.975)
    print(
        f"{name}: plain search on {plain_points} points: CV {cv:.3f}, {per_point:.0f} calls of c∘g per point "
        f"counted as the precision run counts them ({queries:.0f} queries, a gradient as one)"
    )
    for precision in precisions:
        start = time.perf_counter()
        result = _search(model, precision=precision, seed=seed)
        seconds = time.perf_counter() - start
        plain = (z * cv / precision) ** 2 * per_point + pool
        # the same estimator at the width reached (a run that overshoots its target paid for the extra width)
        plain_reached = (z * cv / result.precision.reached) ** 2 * per_point + pool
        summary = result.precision
        ladder = " + ".join(f"{row.num_points}×[{row.term}]" for row in summary.to_frame().itertuples())
        print(
            f"  ±{precision:.0%}: reached ±{summary.reached:.2%}, estimate {result.estimate.value:.4f}, "
            f"{summary.total_calls:,} calls (pool {summary.pool_calls:,}, unused pilot {summary.pilot_calls:,}) "
            f"vs plain {plain:,.0f}: {plain / summary.total_calls:.1f}x fewer (at the width reached, "
            f"{plain_reached / summary.total_calls:.1f}x); levels {ladder}; {seconds:.0f} s"
        )


def coverage(replications: int, precision: float) -> None:
    testbeds = {"5 sectors, d=3": testing.sectors(3, 5), "spheres 1.0/2.0, d=4": testing.spheres(4, [1.0, 2.0])}
    for label, tb in testbeds.items():
        exact = tb.exact_mean_radius()
        covered = 0
        calls = []
        for seed in range(replications):
            result = _search(tb, precision=precision, seed=1000 + seed)
            covered += result.estimate.ci_low <= exact <= result.estimate.ci_high
            calls.append(result.total_queries)
        share = covered / replications
        low, high = stats.binomtest(covered, replications).proportion_ci(0.95)
        print(
            f"coverage at ±{precision:.0%}, {label}: {share:.1%} of {replications} intervals contain the exact mean "
            f"(95% CI of the coverage [{low:.1%}, {high:.1%}]); median calls {int(np.median(calls)):,}"
        )


def grid_coverage(
    name: str, replications: int, precision: float, reference_points: int, known: tuple[float, float] | None
) -> None:
    """Coverage on a grid GAN, against one full search per point on ``reference_points`` points (seed 10**6).

    ``known``: that reference's (value, standard error) from an earlier run, instead of searching it again.
    """
    model = _model(name)
    if known is None:
        reference = _search(model, num_samples=reference_points, seed=10**6).estimate
    else:
        reference = genloose.Estimate.from_normal(
            known[0], known[1], n=reference_points, confidence=0.95, method="reference from an earlier run"
        )
    covered = 0
    for seed in range(replications):
        result = _search(model, precision=precision, seed=2000 + seed)
        covered += result.estimate.ci_low <= reference.value <= result.estimate.ci_high
    low, high = stats.binomtest(covered, replications).proportion_ci(0.95)
    print(
        f"coverage at ±{precision:.0%}, {name}: {covered / replications:.1%} of {replications} intervals contain the "
        f"reference {reference.value:.5f} ± {reference.stderr:.5f} (one full search on each of {reference_points:,} "
        f"points; the reference's own standard error is {reference.stderr / (precision * reference.value / 1.96):.0%} "
        f"of the intervals' half-width); 95% CI of the coverage [{low:.1%}, {high:.1%}]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(GRID_MODELS), help='comma-separated names, or "none"')
    parser.add_argument("--precisions", default="0.05,0.02")
    parser.add_argument("--plain-points", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coverage", type=int, default=0, help="replications per exact testbed (0: skip)")
    parser.add_argument("--grid-coverage", type=int, default=0, help="replications on grid w32d1 (0: skip)")
    parser.add_argument("--reference-points", type=int, default=40_000)
    parser.add_argument(
        "--reference", default=None, help='"value,stderr" of the grid reference from an earlier run (skips its search)'
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    precisions = [float(p) for p in args.precisions.split(",")]
    if args.models != "none":
        for name in args.models.split(","):
            compare(name.strip(), precisions, args.plain_points, args.seed)
    if args.coverage:
        coverage(args.coverage, max(precisions))
    if args.grid_coverage:
        known = tuple(float(x) for x in args.reference.split(",")) if args.reference else None
        grid_coverage("grid w32d1", args.grid_coverage, max(precisions), args.reference_points, known)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
