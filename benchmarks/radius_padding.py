"""Model rows that carry no work: padding, and bisection midpoints labelled ahead, by number of points.

genloose calls the models on fixed blocks of rows (``LatentLabeler.block_size``, 128 by default) so that every
point's result is the same for any batch size; a call with fewer open rows pads its last block. Bisection fills
those rows with the midpoints of its next halvings (``state._lookahead_levels``), which leaves every result
bit-identical and cuts the number of model calls. This script searches the bundled d = 64 digit DCGAN with the
bundled CNN (white-box, default settings) for each ``--sizes`` n, twice in one run: with the look-ahead, and
with it turned off (plain bisection, as before), and prints for each:

* the rows sent to the models, and the shares that were padding and unused look-ahead midpoints;
* the model calls (blocks) and the wall time per point;
* whether the two runs gave bit-identical radii and query counts.

Run::

    python benchmarks/radius_padding.py                      # n = 50 and 200, 1 torch thread
    python benchmarks/radius_padding.py --sizes 50,500 --threads 2
    python benchmarks/radius_padding.py --sizes 50,500 --block-rows 32,128   # block sizes, look-ahead on
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

import genloose
import genloose.metrics.radius.state as state_module
from genloose import reference_models
from genloose.metrics.radius.labeler import LatentLabeler, QueryCounter


@dataclass
class Rows:
    """Rows sent to the models, by kind."""

    real: int = 0
    padding: int = 0
    blocks: int = 0


@contextlib.contextmanager
def counting_rows() -> Iterator[Rows]:
    """Count real and padded rows of every block the labeler sends to the models."""
    rows = Rows()
    original = LatentLabeler._blocks

    def blocks(self: LatentLabeler, latents: torch.Tensor, size: int | None = None):
        for start, real, block in original(self, latents, size):
            rows.real += real
            rows.padding += block.shape[0] - real
            rows.blocks += 1
            yield start, real, block

    LatentLabeler._blocks = blocks  # type: ignore[method-assign]
    try:
        yield rows
    finally:
        LatentLabeler._blocks = original  # type: ignore[method-assign]


@contextlib.contextmanager
def lookahead(enabled: bool) -> Iterator[None]:
    original = state_module._lookahead_levels
    if not enabled:
        state_module._lookahead_levels = lambda open_rows, block_size: 1
    try:
        yield
    finally:
        state_module._lookahead_levels = original


def run(
    n: int, enabled: bool, seed: int, block_rows: int | None = None
) -> tuple[genloose.RadiusResult, Rows, float, int]:
    generator = genloose.Generator(reference_models.load_digit_dcgan(64), latent_dim=64, batch_size=block_rows)
    classifier = reference_models.load_digit_cnn()
    speculative = 0
    original_set_aside = QueryCounter.set_aside

    def set_aside(self: QueryCounter, points: int) -> None:
        nonlocal speculative
        speculative += points
        original_set_aside(self, points)

    QueryCounter.set_aside = set_aside  # type: ignore[method-assign]
    try:
        with lookahead(enabled), counting_rows() as rows:
            start = time.perf_counter()
            result = genloose.class_radius(
                generator, classifier, latent_dim=64, num_samples=n, seed=seed, progress=False
            )
            seconds = time.perf_counter() - start
    finally:
        QueryCounter.set_aside = original_set_aside  # type: ignore[method-assign]
    return result, rows, seconds, speculative


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="50,200", help="comma-separated numbers of points (default 50,200)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--block-rows",
        default="",
        help="comma-separated rows per model call: compare these block sizes (look-ahead on) instead of look-ahead "
        "on and off at the default block",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"genloose {genloose.__version__}, torch {torch.__version__}, {args.threads} thread(s), load {load}")
    if args.block_rows:
        compare_blocks([int(x) for x in args.sizes.split(",")], [int(x) for x in args.block_rows.split(",")], args.seed)
        return
    print(f"{'n':>5} {'look-ahead':>10} {'rows':>9} {'padding':>8} {'unused ahead':>12} {'calls':>7} {'s/point':>8}")
    per_point: dict[tuple[int, bool], float] = {}
    for n in (int(x) for x in args.sizes.split(",")):
        results = {}
        for enabled in (True, False):
            result, rows, seconds, speculative = run(n, enabled, args.seed)
            results[enabled] = result
            per_point[n, enabled] = seconds / n
            total = rows.real + rows.padding
            print(
                f"{n:>5} {'on' if enabled else 'off':>10} {total:>9} {rows.padding / total:>8.1%} "
                f"{speculative / total:>12.1%} {rows.blocks:>7} {seconds / n:>8.3f}"
            )
        same = np.array_equal(results[True].radii, results[False].radii) and np.array_equal(
            results[True].queries, results[False].queries
        )
        print(f"      bit-identical radii and queries with and without look-ahead: {same}")
    sizes = sorted({n for n, _ in per_point})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for enabled in (True, False):
            ratio = per_point[small, enabled] / per_point[large, enabled]
            print(f"time per point, n = {small} over n = {large}, look-ahead {'on' if enabled else 'off'}: {ratio:.2f}")


def compare_blocks(sizes: list[int], blocks: list[int], seed: int) -> None:
    """Rows, padding and time per point for each block size and n, and n-smallest over n-largest time per point."""
    print(f"{'block':>5} {'n':>5} {'rows':>9} {'padding':>8} {'calls':>7} {'s/point':>8} {'mean radius':>12}")
    for block in blocks:
        per_point = {}
        for n in sizes:
            result, rows, seconds, _ = run(n, True, seed, block)
            per_point[n] = seconds / n
            total = rows.real + rows.padding
            print(
                f"{block:>5} {n:>5} {total:>9} {rows.padding / total:>8.1%} {rows.blocks:>7} {seconds / n:>8.3f} "
                f"{float(np.mean(result.radii)):>12.6f}",
                flush=True,
            )
        if len(sizes) > 1:
            small, large = min(sizes), max(sizes)
            print(f"      time per point, n = {small} over n = {large}: {per_point[small] / per_point[large]:.2f}")


if __name__ == "__main__":
    main()
