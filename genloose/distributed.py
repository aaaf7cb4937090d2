"""torch.distributed support: split the samples over ranks, gather and reduce, one answer everywhere.

When ``torch.distributed`` is initialised, :func:`genloose.evaluate` gives each rank a contiguous range of
the N sample indices (:func:`shard_range`), runs the class-radius search on its range only, gathers the
per-point results (:func:`all_gather_objects`) and returns the same report on every rank. The functions
here are the building blocks, usable on their own (:func:`all_reduce_state` for accumulators in a
user's own loop).

Seeds
-----
Point ``i`` of a run with seed ``s`` is drawn from block ``b = i // 1024`` of the stream
``numpy.random.SeedSequence(s, spawn_key=(0, b))`` (see :func:`genloose.metrics.radius.sample_latents`).
These are exactly the sequences ``SeedSequence(s).spawn(...)`` produces for its children, so the blocks are
independent streams derived from ``s`` as numpy recommends; and because a point's stream depends on its
*index* rather than on the rank that draws it, a W-process run evaluates the same points as a one-process
run, and (each point's search depending only on ``(s, i)``) gives the same result for every W.

Collective calls
----------------
Every function that communicates is *collective*: all ranks of the default process group must call it,
in the same order, or the program hangs. :func:`genloose.evaluate` is collective when a process group is
initialised; calling it on rank 0 only hangs (use ``torch.distributed.barrier`` and rank checks *around*
it, never *inside* a rank branch). Errors raised on one rank are gathered and raised on every rank, so a
failure does not leave the other ranks waiting.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from genloose._errors import GenlooseError, InvalidArgumentError
from genloose._validation import check_int, describe

__all__ = [
    "all_gather_objects",
    "all_reduce_state",
    "check_same",
    "check_same_on_all_ranks",
    "is_distributed",
    "merge_radius_results",
    "rank_and_world_size",
    "run_collectively",
    "shard_range",
]

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether a torch.distributed default process group is initialised (with more than one rank or not).

    Examples
    --------
    >>> is_distributed()
    False
    """
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return False
    return bool(dist.is_available() and dist.is_initialized())


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, or ``(0, 1)`` when none is initialised.

    Examples
    --------
    >>> rank_and_world_size()
    (0, 1)
    """
    if not is_distributed():
        return 0, 1
    import torch.distributed as dist

    return int(dist.get_rank()), int(dist.get_world_size())


def shard_range(num_samples: int, *, rank: int, world_size: int) -> tuple[int, int]:
    """The half-open range of sample indices that ``rank`` evaluates.

    The N indices are split into ``world_size`` contiguous ranges whose sizes differ by at most one (the
    first ``N mod W`` ranks take one more): no padding, no duplicates, every index exactly once.

    .. math:: \\text{start}_r = r \\lfloor N/W \\rfloor + \\min(r, N \\bmod W)

    Parameters
    ----------
    num_samples : int
        N >= ``world_size``.
    rank : int
        In ``[0, world_size)``.
    world_size : int
        W >= 1.

    Returns
    -------
    tuple of int
        ``(start, stop)``.

    Raises
    ------
    InvalidArgumentError
        If ``num_samples`` is smaller than the world size (a rank would have no sample), or an argument is
        out of range.

    Examples
    --------
    >>> [shard_range(10, rank=r, world_size=3) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    >>> shard_range(2, rank=0, world_size=3)
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: num_samples must be at least the world size 3 ...
    """
    world_size = check_int("world_size", world_size, min_value=1)
    rank = check_int("rank", rank, min_value=0, max_value=world_size - 1)
    num_samples = check_int("num_samples", num_samples, min_value=1)
    if num_samples < world_size:
        raise InvalidArgumentError(
            f"num_samples must be at least the world size {world_size} (num_samples smaller than the world "
            f"size would leave a rank with no sample); got {num_samples}"
        )
    base, extra = divmod(num_samples, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def all_gather_objects(obj: T) -> list[T]:
    """Gather one picklable object from every rank, in rank order (collective).

    Without an initialised process group it returns ``[obj]``. With NCCL, set the CUDA device of each rank
    first (``torch.cuda.set_device(local_rank)``), as for any object collective.

    Examples
    --------
    >>> all_gather_objects({"a": 1})
    [{'a': 1}]
    """
    if not is_distributed():
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Sum an accumulator state over all ranks (collective); every rank gets the total.

    ``state`` is a state dict of :mod:`genloose.accumulators` (sums and counts), so the reduction is
    :func:`~genloose.accumulators.merge_states` over the ranks' states, in rank order. A rank that saw no
    data contributes the empty state, the identity of the merge.

    Examples
    --------
    >>> from genloose.accumulators import RadiusAccumulator
    >>> acc = RadiusAccumulator()
    >>> acc.update([1.0, 2.0])
    >>> int(all_reduce_state(acc.state_dict())["count"])
    2
    """
    from genloose.accumulators import merge_states

    if not isinstance(state, Mapping):
        raise InvalidArgumentError(f"state must be a state dict (a mapping); got {describe(state)}")
    states = all_gather_objects(dict(state))
    total = states[0]
    for other in states[1:]:
        total = merge_states(total, other)
    return dict(total)


def _rebuild_error(rank: int, error: BaseException | None, summary: str) -> BaseException:
    message = f"on rank {rank}: {summary}"
    if error is not None:
        try:
            rebuilt = type(error)(message)
        except Exception:  # an exception type with a custom constructor
            rebuilt = None
        if isinstance(rebuilt, BaseException):
            return rebuilt
    return GenlooseError(message)


def run_collectively(fn: Callable[[], T]) -> list[T]:
    """Run ``fn()`` on every rank and gather the results; a failure anywhere is raised everywhere (collective).

    On the rank where ``fn`` failed, its own exception is raised; the other ranks raise an exception of the
    same type (when it can be rebuilt from a message, else :class:`~genloose.GenlooseError`) whose message
    starts with ``"on rank R:"``. So no rank is left waiting in a later collective.

    Examples
    --------
    >>> run_collectively(lambda: 3)
    [3]
    """
    if not is_distributed():
        return [fn()]
    own: BaseException | None = None
    try:
        result: Any = fn()
        payload: tuple[str, Any, Any] = ("ok", result, None)
    except Exception as error:  # re-raised below, on every rank
        own = error
        try:
            import pickle

            pickle.dumps(error)
            shipped: BaseException | None = error
        except Exception:
            shipped = None
        payload = ("error", f"{type(error).__name__}: {error}", shipped)
    gathered = all_gather_objects(payload)
    if own is not None:
        raise own
    for rank, (status, value, error) in enumerate(gathered):
        if status == "error":
            raise _rebuild_error(rank, error, value)
    return [value for _, value, _ in gathered]


def check_same(values_per_rank: Sequence[Mapping[str, Any]], *, exclude: Sequence[str] = ()) -> None:
    """Raise if the gathered per-rank values differ (not collective: every rank holds the same list).

    Examples
    --------
    >>> check_same([{"seed": 0}, {"seed": 1}])
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: seed must be the same on every rank ...; got 0 on rank 0 and 1 on rank 1
    """
    first = values_per_rank[0]
    for rank, other in enumerate(values_per_rank[1:], start=1):
        for key, value in first.items():
            if key not in exclude and other.get(key) != value:
                raise InvalidArgumentError(
                    f"{key} must be the same on every rank (evaluate is collective); got {value!r} on rank 0 "
                    f"and {other.get(key)!r} on rank {rank}"
                )


def check_same_on_all_ranks(values: Mapping[str, Any]) -> None:
    """Raise on every rank if the named values differ between ranks (collective).

    Examples
    --------
    >>> check_same_on_all_ranks({"seed": 0, "num_samples": 100})
    """
    check_same(all_gather_objects(dict(values)))


def merge_radius_results(results: Sequence[Any], *, confidence: float) -> Any:
    """Concatenate the :class:`~genloose.RadiusResult`\\ s of consecutive shards into the one-process result.

    ``results[r]`` holds points ``start_r, ..., stop_r - 1`` of the same seeded sequence, the ranges
    consecutive. Per-point arrays are concatenated; the estimate, the class counts, the cap and the
    cap check are recomputed exactly as one process computes them, so the merged result equals the
    one-process result (bit for bit on the per-point arrays and the estimate), using the search's own
    aggregation (:mod:`genloose.metrics.radius.aggregate`). The seeding pool is the same
    on every rank (it depends only on the seed): it is counted once in ``class_counts_with_pool`` and
    ``pool_queries``; ``metadata["forward_queries"]`` and ``["backward_queries"]`` are the work actually
    done, summed over ranks (the pool is labelled on every rank).

    One exception to the equality: when the whole seeding pool falls in a single class, the search adds
    its own points to the pool, so a shard's seeds (hence possibly its radii, all still verified upper
    bounds) depend on which points the shard holds. Use a larger ``pool_size`` for such models.

    Examples
    --------
    >>> import torch, genloose
    >>> run = lambda n, k: genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
    ...                                          num_samples=n, sample_offset=k, progress=False,
    ...                                          config=genloose.SearchConfig(pool_size=32))
    >>> merged = merge_radius_results([run(5, 0), run(3, 5)], confidence=0.95)
    >>> whole = run(8, 0)
    >>> bool((merged.radii == whole.radii).all()), merged.estimate == whole.estimate
    (True, True)
    """
    from dataclasses import replace

    from genloose.metrics.radius.aggregate import aggregate_radii, lower_bound_estimate
    from genloose.metrics.radius.result import RadiusResult

    if not results or not all(isinstance(r, RadiusResult) for r in results):
        raise InvalidArgumentError(f"results must be a non-empty sequence of RadiusResult; got {describe(results)}")
    first = results[0]
    if len(results) == 1:
        return first

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(r, name) for r in results])

    labels = cat("labels")
    radii = cat("radii")
    censored = cat("censored")
    width = max(r.class_counts_with_pool.shape[0] for r in results)
    first_sample = np.bincount(first.labels, minlength=width)
    with_pool = first.class_counts_with_pool
    pool_counts = np.pad(with_pool, (0, width - with_pool.shape[0])) - first_sample
    counts = (np.bincount(labels, minlength=width) + pool_counts).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate, cap, cap_stderr, exceeds = aggregate_radii(
            radii, censored, counts, confidence, sampled=all(r.seed is not None for r in results)
        )
    with_images = all(r.image_distances is not None for r in results)
    with_lower = all(r.lower_bounds is not None for r in results)
    lower = cat("lower_bounds") if with_lower else None
    lower_mean = lower_bound_estimate(lower, confidence) if lower is not None else None
    metadata = dict(first.metadata)
    for key in ("forward_queries", "backward_queries"):
        if all(key in r.metadata for r in results):
            metadata[key] = int(sum(r.metadata[key] for r in results))
    return replace(
        first,
        latents=cat("latents"),
        radii=radii,
        witnesses=cat("witnesses"),
        labels=labels,
        witness_labels=cat("witness_labels"),
        censored=censored,
        queries=cat("queries"),
        estimate=estimate,
        class_counts_with_pool=counts,
        fawzi_cap=cap,
        fawzi_cap_stderr=cap_stderr,
        exceeds_cap=exceeds,
        lower_bounds=lower,
        image_distances=cat("image_distances") if with_images else None,
        lower_estimate=lower_mean,
        still_improving=cat("still_improving") if all(r.still_improving is not None for r in results) else None,
        metadata=metadata,
    )
