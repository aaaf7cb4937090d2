"""Seeded latent sampling whose i-th point depends only on (seed, i).

Points are drawn in fixed blocks of :data:`BLOCK_SIZE`, block b from its own stream
``numpy.random.SeedSequence(seed, spawn_key=(b,))``. So any range of indices can be drawn on its own, and the
same (seed, N) gives the same points whatever the batch size, the number of processes or the order of work.
"""

from __future__ import annotations

import numpy as np

from genloose._validation import check_int, check_memory, check_size

__all__ = ["BLOCK_SIZE", "POOL_STREAM", "sample_latents"]

BLOCK_SIZE = 1024
POOL_STREAM = 2**31 - 1  # spawn-key offset of the seeding pool: disjoint from the sample's blocks


def sample_latents(seed: int, latent_dim: int, stop: int, *, start: int = 0, stream: int = 0) -> np.ndarray:
    """Points ``start, ..., stop - 1`` of the seeded N(0, I) sequence, as float64 of shape (n, d).

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    latent_dim : int
        d.
    stop, start : int
        The half-open index range.
    stream : int
        Selects an independent sequence for the same seed (0: the sample; others: internal pools).

    Examples
    --------
    >>> whole = sample_latents(0, 3, 2000)
    >>> part = sample_latents(0, 3, 1500, start=1000)
    >>> bool((whole[1000:1500] == part).all())
    True
    """
    seed = check_int("seed", seed, min_value=0)
    latent_dim = check_size("latent_dim", latent_dim, min_value=1, bytes_each=8 * BLOCK_SIZE, what="a block of latents")
    start = check_int("start", start, min_value=0)
    stop = check_int("stop", stop, min_value=start)
    check_memory("stop", stop, 8 * (stop - start) * latent_dim, "the float64 latents")
    out = np.empty((stop - start, latent_dim))
    first, last = start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE if stop > start else -1
    for block in range(first, last + 1):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, block)))
        values = rng.standard_normal((BLOCK_SIZE, latent_dim))
        lo = max(start, block * BLOCK_SIZE)
        hi = min(stop, (block + 1) * BLOCK_SIZE)
        out[lo - start : hi - start] = values[lo - block * BLOCK_SIZE : hi - block * BLOCK_SIZE]
    return out
