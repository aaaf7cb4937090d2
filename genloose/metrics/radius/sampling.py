"""Seeded latent sampling whose i-th point depends only on (seed, i).

Points are drawn in fixed blocks of :data:`BLOCK_SIZE`, block b from its own stream
(:func:`genloose._random.stream` of purpose ``SAMPLE``, i.e. ``numpy.random.SeedSequence(seed, spawn_key=(0, b))``).
So any range of indices can be drawn on its own, and the same (seed, N) gives the same points whatever the
batch size, the number of processes or the order of work.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from genloose._random import Purpose, stream
from genloose._validation import check_choice, check_int, check_memory, check_seed, check_size

__all__ = ["BLOCK_SIZE", "draw_latents", "sample_latents"]

BLOCK_SIZE = 1024


def sample_latents(
    seed: int, latent_dim: int, stop: int, *, start: int = 0, purpose: Literal["sample", "pool"] = "sample"
) -> np.ndarray:
    """Points ``start, ..., stop - 1`` of the seeded N(0, I) sequence, as float64 of shape (n, d).

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    latent_dim : int
        d.
    stop, start : int
        The half-open index range.
    purpose : {"sample", "pool"}
        Which sequence of this seed: the sample that :func:`genloose.class_radius` searches, or its
        (independent) seeding pool.

    Examples
    --------
    >>> whole = sample_latents(0, 3, 2000)
    >>> part = sample_latents(0, 3, 1500, start=1000)
    >>> bool((whole[1000:1500] == part).all())
    True
    """
    seed = check_seed(seed)
    latent_dim = check_size("latent_dim", latent_dim, min_value=1, bytes_each=8 * BLOCK_SIZE, what="a block of latents")
    start = check_int("start", start, min_value=0)
    stop = check_int("stop", stop, min_value=start)
    purpose = check_choice("purpose", purpose, ("sample", "pool"))
    check_memory("stop", stop, 8 * (stop - start) * latent_dim, "the float64 latents")
    return draw_latents(seed, latent_dim, stop, start=start, purpose=Purpose(purpose))


def draw_latents(
    seed: int, latent_dim: int, stop: int, *, start: int = 0, purpose: Purpose = Purpose.SAMPLE
) -> np.ndarray:
    """:func:`sample_latents` for validated arguments (private code trusts its inputs).

    Examples
    --------
    >>> draw_latents(0, 3, 2).shape
    (2, 3)
    """
    out = np.empty((stop - start, latent_dim))
    first, last = start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE if stop > start else -1
    for block in range(first, last + 1):
        values = stream(seed, purpose, block).standard_normal((BLOCK_SIZE, latent_dim))
        lo = max(start, block * BLOCK_SIZE)
        hi = min(stop, (block + 1) * BLOCK_SIZE)
        out[lo - start : hi - start] = values[lo - block * BLOCK_SIZE : hi - block * BLOCK_SIZE]
    return out
