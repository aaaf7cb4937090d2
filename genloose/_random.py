"""Every random stream of the class-radius search, derived in one place from (seed, purpose, index).

A stream depends only on the run's seed, what it is for, and an index (a block of latents, or a point and an
iteration), never on batching, ranks or the order of work; so the same (seed, N) gives the same result
whatever the batch size or the number of processes. Streams of different purposes, or of different indices,
are independent (distinct :class:`numpy.random.SeedSequence` entropy).

Two derivations are used, fixed by the results they have always produced:

* the sample and the seeding pool (indexed by block of :data:`~genloose.metrics.radius.sampling.BLOCK_SIZE`
  latents): ``SeedSequence(seed, spawn_key=(stream, block))``, the children that
  ``SeedSequence(seed, spawn_key=(stream,)).spawn`` gives, with ``stream = 0`` for the sample and
  ``2**31 - 1`` for the pool;
* the per-point search streams: ``SeedSequence([seed, *index, tag])``, with a tag per purpose.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["Purpose", "seed_sequence", "stream", "torch_stream"]


class Purpose(enum.Enum):
    """What a random stream is for, and the index it takes.

    Examples
    --------
    >>> Purpose.SAMPLE.value
    'sample'
    """

    #: N(0, I) latents of the sample; index ``(block,)``.
    SAMPLE = "sample"
    #: N(0, I) latents of the seeding pool; index ``(block,)``.
    POOL = "pool"
    #: Directions of the random-ray fallback (points without a pool seed); index ``(point,)``.
    RANDOM_RAYS = "random rays"
    #: Directions in the class-mean subspace (stage 1 candidates); index ``(point,)``.
    SUBSPACE_RAYS = "subspace rays"
    #: Black-box sign-query probes; index ``(point, iteration, stream)``.
    PROBES = "probes"


#: Spawn-key offsets of the block streams (the pool's is disjoint from the sample's blocks).
_SPAWN_STREAM = {Purpose.SAMPLE: 0, Purpose.POOL: 2**31 - 1}
#: Entropy tags of the per-point streams.
_TAG = {Purpose.RANDOM_RAYS: 0x5EED, Purpose.SUBSPACE_RAYS: 0x5B5, Purpose.PROBES: 0xB1AC}
#: How many integers each purpose's index holds.
_INDEX_LENGTH = {
    Purpose.SAMPLE: 1,
    Purpose.POOL: 1,
    Purpose.RANDOM_RAYS: 1,
    Purpose.SUBSPACE_RAYS: 1,
    Purpose.PROBES: 3,
}


def seed_sequence(seed: int, purpose: Purpose, index: int | tuple[int, ...]) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` of stream (seed, purpose, index).

    Private code trusts its inputs: ``seed`` is a validated non-negative int, ``index`` non-negative ints.

    Examples
    --------
    >>> seed_sequence(0, Purpose.SAMPLE, 3).spawn_key
    (0, 3)
    """
    index = (index,) if isinstance(index, int) else tuple(index)
    if len(index) != _INDEX_LENGTH[purpose]:
        raise ValueError(f"a {purpose.value} stream takes {_INDEX_LENGTH[purpose]} index integer(s); got {index}")
    if purpose in _SPAWN_STREAM:
        return np.random.SeedSequence(seed, spawn_key=(_SPAWN_STREAM[purpose], *index))
    return np.random.SeedSequence([seed, *index, _TAG[purpose]])


def stream(seed: int, purpose: Purpose, index: int | tuple[int, ...]) -> np.random.Generator:
    """A numpy generator for stream (seed, purpose, index).

    Examples
    --------
    >>> a = stream(0, Purpose.RANDOM_RAYS, 5).standard_normal(2)
    >>> b = stream(0, Purpose.RANDOM_RAYS, 5).standard_normal(2)
    >>> bool((a == b).all())
    True
    """
    return np.random.default_rng(seed_sequence(seed, purpose, index))


def torch_stream(seed: int, purpose: Purpose, index: int | tuple[int, ...]) -> torch.Generator:
    """A CPU :class:`torch.Generator` for stream (seed, purpose, index), seeded with 64 bits of its sequence.

    Examples
    --------
    >>> import torch
    >>> g = torch_stream(0, Purpose.PROBES, (1, 0, 0))
    >>> torch.randn(2, generator=g).shape
    torch.Size([2])
    """
    import torch

    key = seed_sequence(seed, purpose, index).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(key))
