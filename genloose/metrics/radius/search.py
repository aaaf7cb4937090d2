"""The class-radius estimator: composes the search stages and aggregates the result."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from genloose._errors import (
    InvalidArgumentError,
    NonDeterministicModelError,
    SearchFailureWarning,
)
from genloose._progress import progress_bar
from genloose._random import Purpose
from genloose._validation import (
    MIN_SAMPLES_RADIUS,
    as_numpy,
    check_access,
    check_batch_size,
    check_confidence,
    check_int,
    check_memory,
    check_num_samples,
    check_precision,
    check_progress,
    check_seed,
    describe,
    is_tensor,
)
from genloose.metrics.radius.aggregate import aggregate_radii, lower_bound_estimate, warn_exceeds_cap
from genloose.metrics.radius.blackbox import SignRefiner
from genloose.metrics.radius.class_directions import ClassDirections
from genloose.metrics.radius.config import SearchConfig, as_search_config, reject_moved_arguments
from genloose.metrics.radius.descent import boundary_descent
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.metrics.radius.precision import class_radius_to_precision
from genloose.metrics.radius.restarts import successive_halving
from genloose.metrics.radius.result import RadiusResult
from genloose.metrics.radius.sampling import BLOCK_SIZE, draw_latents
from genloose.metrics.radius.seeding import ClassPool, pool_candidates, random_ray_seeds
from genloose.metrics.radius.state import POLISH_RTOL, ChunkState
from genloose.metrics.radius.whitebox import NormalRayRefiner, linearized_candidates, normal_ray_iteration
from genloose.models import Classifier, Generator, as_classifier, as_generator

__all__ = ["RunSettings", "class_radius", "class_radius_unchecked", "label_sample", "label_span"]

Access = Literal["auto", "white-box", "black-box"]

#: A point whose radius shrank by more than STILL_IMPROVING_GAIN (relative) after it had spent LATE_SHARE of its
#: budget, or in the final stages (the last normal-ray iteration and the polish), is reported as still improving:
#: its search ended before it converged.
LATE_SHARE = 0.98
STILL_IMPROVING_GAIN = 1e-3

#: Latents evaluated three times before the search (blocks, alone, blocks) to catch random or batch-dependent
#: models before any number is computed.
FUNCTION_PROBE_ROWS = 8

#: White-box: the share of a point's budget that the candidate stages (seeds, linearised rays, restarts, first
#: normal-ray iterations) may use; the boundary descent and the final stages get the rest.
SCREEN_SHARE = 0.4

#: White-box default budget per point: with the default pool of 2048 labelled points shared by n >= 52 points, at
#: most 1000 calls of c∘g per point in all.
WHITE_BOX_BUDGET = 960

#: Calls per point kept back from the boundary descent for the fine descent from the best witness, the final
#: normal-ray steps, polish and hardening. (On the bundled d = 64 digit DCGAN, 210 calls of fine descent instead
#: of 60 raised the share of points at least as tight as the best of four 1000-step attacks, within 1e-6, from
#: 60% to 70%: ``benchmarks/radius_peers.py``. A candidate share of 25% instead of 40% gave 73%, but missed the
#: nearest boundary of the 10-sector testbed on more points: it is kept at 40%.)
DESCENT_RESERVE = 250
#: Of that reserve, what the fine descent leaves for the last normal-ray iterations, polish and hardening; and
#: the fine descent's first step (a fraction of ε) and first and last relative change of ε.
FINAL_RESERVE = 40
FINE_ALPHA = 0.01
FINE_GAMMA = (1e-3, 1e-7)


def _from_sequence(latents: Any) -> Any:
    """Nested lists or tuples of numbers as an array; anything else (ragged rows included) unchanged."""
    if isinstance(latents, list | tuple):
        try:
            return np.asarray(latents)
        except ValueError:
            return latents
    return latents


def _check_latents(latents: Any, latent_dim: int, dtype: torch.dtype) -> np.ndarray:
    if is_tensor(latents):
        latents = as_numpy(latents, "latents")
    if not isinstance(latents, np.ndarray) or latents.dtype.kind not in "fiu":
        raise InvalidArgumentError(
            f"latents must be a float array or tensor of shape (n, {latent_dim}); got {describe(latents)}"
        )
    if latents.ndim != 2 or latents.shape[1] != latent_dim or latents.shape[0] == 0:
        raise InvalidArgumentError(f"latents must have shape (n, {latent_dim}) with n >= 1; got shape {latents.shape}")
    bad = ~np.isfinite(latents).all(axis=1)
    if bad.any():
        raise InvalidArgumentError(
            f"latents must be finite; {int(bad.sum())} row(s) hold NaN or Inf (first at index "
            f"{int(np.flatnonzero(bad)[0])})"
        )
    latents = latents.astype(np.float64)
    largest = torch.finfo(dtype).max  # the models see the latents in their dtype: they must not overflow it
    bad = (np.abs(latents) > largest).any(axis=1)
    if bad.any():
        raise InvalidArgumentError(
            f"latents must be representable in the generator's dtype {str(dtype).removeprefix('torch.')} "
            f"(|entries| <= {largest:.4g}); {int(bad.sum())} row(s) overflow it (first at index "
            f"{int(np.flatnonzero(bad)[0])})"
        )
    return latents


def _label_in_chunks(
    labeler: LatentLabeler, points: torch.Tensor, chunk: int, where: str | Callable[[int], str], offset: int = 0
) -> torch.Tensor:
    """Labels of ``points``; errors name row i as ``where`` number ``offset + i`` (or ``where(offset + i)``)."""
    return torch.cat(
        [
            labeler.labels(points[i : i + chunk], where=where, offset=offset + i)
            for i in range(0, points.shape[0], chunk)
        ]
    )


def _lipschitz_lower_bounds(labeler: LatentLabeler, z: torch.Tensor, lipschitz: float, chunk: int) -> np.ndarray:
    """r(z) >= (f_y - max_{j≠y} f_j)(z) / (√2·L) when the score map z -> f(z) is L-Lipschitz in L2."""
    out = []
    for start in range(0, z.shape[0], chunk):
        scores = labeler.scores(z[start : start + chunk], where="latent index", offset=start)
        if scores is None:
            raise InvalidArgumentError(
                "lipschitz needs a classifier that returns scores (n, K); this one returns labels"
            )
        top2 = scores.to(torch.float64).topk(2, dim=1).values
        out.append(((top2[:, 0] - top2[:, 1]) / (math.sqrt(2.0) * lipschitz)).cpu().numpy())
    return np.concatenate(out)


def class_radius(
    generator: Any,
    classifier: Any,
    *,
    latent_dim: int | None = None,
    latents: Any = None,
    num_samples: int | None = None,
    seed: int = 0,
    sample_offset: int = 0,
    access: Access = "auto",
    num_classes: int | None = None,
    batch_size: int = 256,
    confidence: float = 0.95,
    config: SearchConfig | None = None,
    precision: float | None = None,
    progress: bool | None = None,
    **moved: Any,
) -> RadiusResult:
    r"""Estimate the class radius E_z[r(z)] of c∘g, with a verified upper bound on r(z) for every point.

    .. math:: r(z) = \inf\{\lVert z - z'\rVert_2 : c(g(z')) \ne c(g(z))\},\qquad z \sim N(0, I_d)

    r(z) is the minimum-norm L2 adversarial perturbation of c∘g in latent space. The search (candidate rays from a
    labelled pool, bisection, restarts by successive halving, white-box or black-box boundary refinement,
    polish) only ever keeps
    points the classifier actually labelled differently, so every finite radius is an upper bound on r(z),
    and the mean is an upper estimate of the class radius (Definition 2.5 of Manoj, 2018).

    Parameters
    ----------
    generator, classifier
        :class:`genloose.Generator` / :class:`genloose.Classifier` adapters, or bare ``torch.nn.Module``\ s or
        functions on torch tensors. The classifier returns integer labels (n,) or scores (n, K).
    latent_dim : int, optional
        d; required unless ``generator`` is an adapter or ``latents`` is given.
    latents : array, tensor or nested sequence of shape (n, d), optional
        Fixed points (e.g. for paired comparisons). Exactly one of ``latents``, ``num_samples`` and
        ``precision`` is given.
    num_samples : int, optional
        n >= 1 points drawn from N(0, I_d) with ``seed``; point i depends only on (seed, i).
    seed : int
        Seeds the sample, the seeding pool, the random rays and the black-box probe directions (each its own
        stream of (seed, purpose, index): :mod:`genloose._random`).
    sample_offset : int
        Index of the first point in the seeded sequence: ``num_samples=n, sample_offset=k`` evaluates points
        k, ..., k + n - 1 (what one process of a sharded run does); their results equal those of the
        same points in an unsharded run.
    access : {"auto", "white-box", "black-box"}
        ``"auto"`` uses gradients when the classifier's scores are differentiable through the generator, and
        labels only otherwise.
    num_classes : int, optional
        K, needed to validate a classifier that returns labels.
    batch_size : int
        Points searched together (the search state's memory scales with it); results do not depend on it. At
        least one model block is searched together (the adapters' ``batch_size``, default 32 rows per model
        call on a CPU, 128 on an accelerator): a smaller chunk would only fill the model's blocks with padding.
    confidence : float
        Level of the Monte Carlo confidence interval.
    config : SearchConfig, optional
        The search's budgets, tolerances and stage knobs (pool size, queries per point, bisection
        tolerance, white-box and black-box steps, random-ray reach, Lipschitz constant, what to do with a
        witness that fails re-verification); default ``SearchConfig()``. Passing one of its fields directly
        (``rtol=...``) is an error that says so.
    precision : float, optional
        Instead of a fixed number of points: the relative half-width of the confidence interval wanted, in
        (0, 1) (0.02 asks for ±2%). genloose then draws as many points as that needs (up to
        ``SearchConfig.precision_max_points``) and spends calls where they reduce the error: cheap searches on
        many points and the difference to the full search on few (multilevel Monte Carlo over search budgets,
        :mod:`genloose.metrics.radius.precision`). The estimate is that of the full search's mean verified
        radius; ``result.precision`` says the precision reached and how the calls were split.
    progress : bool, optional
        Progress bar policy (``None``: shown on a terminal unless ``TQDM_DISABLE`` is set).

    Returns
    -------
    RadiusResult
        Per-point radii, witnesses, labels, queries, and ``estimate``. Censored points are excluded from the
        mean and counted (``num_censored``, ``estimate.method``); a warning says how many. If every point is
        censored, the estimate is NaN with an :class:`UndefinedMetricWarning`.

    Raises
    ------
    InvalidArgumentError
        A bad argument, named; a :class:`SearchConfig` field passed as a keyword (it says to pass
        ``config=SearchConfig(...)``).

    Warns
    -----
    SearchFailureWarning
        Points were censored, or the estimate lies above the universal cap ``fawzi_bound(p)`` beyond its
        error (the search has failed: the cap holds for every classifier).

    Examples
    --------
    Two classes split by a hyperplane through 0: r(z) = |z_1|, so E r = sqrt(2/π) ≈ 0.798.

    >>> import torch, genloose
    >>> result = genloose.class_radius(torch.nn.Identity(), lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
    ...                                latent_dim=8, num_samples=200, seed=0, progress=False)
    >>> err = result.radii - abs(result.latents[:, 0])
    >>> bool((err >= -1e-6).all() and (err <= 1e-3 * result.radii).all())
    True

    The search's knobs travel together in a :class:`genloose.SearchConfig`, which the result records:

    >>> config = genloose.SearchConfig(rtol=1e-6, max_queries=500)
    >>> result = genloose.class_radius(torch.nn.Identity(), lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
    ...                                latent_dim=8, num_samples=20, config=config, progress=False)
    >>> result.metadata["search_config"]["rtol"]
    1e-06

    Or ask for a precision and let genloose choose the points and how hard to search each:

    >>> result = genloose.class_radius(torch.nn.Identity(), lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
    ...                                latent_dim=8, precision=0.05, progress=False)
    >>> result.precision.met, bool(result.estimate.ci_high - result.estimate.value <= 0.05 * result.estimate.value)
    (True, True)
    """
    reject_moved_arguments("class_radius", moved)
    progress = check_progress(progress)
    latents = _from_sequence(latents)
    if latent_dim is None and latents is not None and not isinstance(generator, Generator):
        shape = getattr(latents, "shape", None)
        if shape is None or len(shape) != 2:
            raise InvalidArgumentError(f"latents must have shape (n, d); got {describe(latents)}")
        latent_dim = int(shape[1])
    gen = as_generator(generator, latent_dim=latent_dim)
    clf = as_classifier(classifier, num_classes=num_classes)
    seed = check_seed(seed)
    sample_offset = check_int("sample_offset", sample_offset, min_value=0)
    access = check_access(access)
    batch_size = check_batch_size(batch_size)
    confidence = check_confidence(confidence)
    config = as_search_config(config)
    precision = check_precision(precision)
    if (latents is not None) + (num_samples is not None) + (precision is not None) != 1:
        raise InvalidArgumentError(
            "exactly one of latents, num_samples and precision must be given; got "
            f"latents={'None' if latents is None else 'an array'}, num_samples={num_samples!r}, "
            f"precision={precision!r}"
        )
    if latents is not None:
        latents = _check_latents(latents, gen.latent_dim, gen.dtype)
        if sample_offset:
            raise InvalidArgumentError(
                f"sample_offset applies to sampled points only; got {sample_offset} with latents"
            )
    elif num_samples is not None:
        num_samples = check_num_samples(num_samples, min_value=MIN_SAMPLES_RADIUS)
    elif sample_offset:
        raise InvalidArgumentError(f"sample_offset applies to num_samples only; got {sample_offset} with precision")
    run = RunSettings(
        seed=seed,
        sample_offset=sample_offset,
        access=access,
        batch_size=batch_size,
        confidence=confidence,
        config=config,
        progress=progress,
        stacklevel=3,
    )
    if precision is not None:
        return class_radius_to_precision(gen, clf, run=run, precision=precision)
    return class_radius_unchecked(gen, clf, latents=latents, num_samples=num_samples, run=run)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings:
    """One call's validated settings, handed whole to the private search.

    ``stacklevel`` is where the search's warnings point, counted as a warning issued in
    :func:`class_radius_unchecked` would count it.
    """

    seed: int
    sample_offset: int
    access: str
    batch_size: int
    confidence: float
    config: SearchConfig
    progress: bool | None
    stacklevel: int
    #: Shared by the calls of one run on the same models and seed (a precision run's levels): the seeding pool's
    #: labels, computed by the first call and reused, uncounted, by the others (None: label the pool every call).
    pool_cache: dict[str, Any] | None = None
    #: Measure the witnesses' image distances (two generator calls per point); a precision run's coarse levels,
    #: whose results only give radii and calls, skip them.
    image_distances: bool = True


def class_radius_unchecked(
    gen: Generator, clf: Classifier, *, latents: np.ndarray | None, num_samples: int | None, run: RunSettings
) -> RadiusResult:
    """:func:`class_radius` on wrapped models and validated arguments (what :func:`genloose.evaluate` calls).

    Exactly one of ``latents`` (checked float64 points) and ``num_samples`` is given. The models are checked
    to be functions on a few points before the sample is drawn or labelled; nothing else is validated again.
    """
    seed, sample_offset, config = run.seed, run.sample_offset, run.config
    d = gen.latent_dim
    if latents is not None:
        head = latents[:FUNCTION_PROBE_ROWS]
        sample_seed: int | None = None
    else:
        n = int(num_samples)  # type: ignore[arg-type]
        # the latents (float64 and on the device), the witnesses and their copies: about 4 float64 (n, d) arrays
        check_memory("num_samples", n, 4 * 8 * n * d, f"{n} points of dimension {d}")
        head = draw_latents(seed, d, sample_offset + min(n, FUNCTION_PROBE_ROWS), start=sample_offset)
        sample_seed = seed
    pool_size = config.pool_size
    check_memory("SearchConfig.pool_size", pool_size, 2 * 8 * pool_size * d, f"a seeding pool of {pool_size} points")

    labeler = LatentLabeler(gen, clf)
    with labeler.session():
        # a broken, random or batch-dependent model fails here, before N latents are drawn or labelled
        labeler.check_is_a_function(labeler.to_latents(head))
        if config.lipschitz is not None and clf.gives_scores is False:
            raise InvalidArgumentError(
                "SearchConfig.lipschitz needs a classifier that returns scores (n, K); this one returns labels"
            )
        points64 = latents if latents is not None else draw_latents(seed, d, sample_offset + n, start=sample_offset)
        return _search(labeler, points64, sample_seed=sample_seed, run=run)


def label_sample(
    gen: Generator, clf: Classifier, *, seed: int, num_samples: int, batch_size: int
) -> tuple[np.ndarray, int]:
    """The labels of points 0, ..., num_samples - 1 of the seed's sequence, checked, and the calls of c∘g spent.

    What :func:`genloose.evaluate` with ``precision`` uses for the collision metrics, whose sample is not the
    class-radius run's. The latents are drawn, converted and labelled one span of :func:`label_span` rows at a
    time, and only the int64 labels are kept: memory is O(span·d) for the latents, whatever ``num_samples``, and a
    model that breaks on the sample fails on its first span. A span is a whole number of chunks of ``batch_size``
    (the labeler's calls), so every label is the one that labelling the whole sample at once gives.
    """
    d = gen.latent_dim
    check_memory("num_samples", num_samples, 8 * num_samples, f"the int64 labels of {num_samples} points")
    span = label_span(batch_size)
    labels = np.empty(num_samples, dtype=np.int64)
    labeler = LatentLabeler(gen, clf)
    with labeler.session():
        labeler.check_is_a_function(labeler.to_latents(draw_latents(seed, d, min(num_samples, FUNCTION_PROBE_ROWS))))
        for start in range(0, num_samples, span):
            stop = min(num_samples, start + span)
            z = labeler.to_latents(draw_latents(seed, d, stop, start=start))
            labels[start:stop] = _label_in_chunks(labeler, z, batch_size, "latent index", start).cpu().numpy()
    return labels, labeler.queries.total


def label_span(batch_size: int) -> int:
    """Rows of latents that :func:`label_sample` draws and labels at a time.

    The least multiple of ``batch_size`` that is at least :data:`~genloose.metrics.radius.sampling.BLOCK_SIZE`. A
    multiple of the chunk keeps the labeler's blocks where labelling the whole sample puts them (labels
    bit-identical); when ``batch_size`` divides ``BLOCK_SIZE`` or is a multiple of it (every power of two, the
    default 256 included) a span is also a whole number of sampling blocks, so no block is drawn twice.

    Examples
    --------
    >>> label_span(256), label_span(100), label_span(4096)
    (1024, 1100, 4096)
    """
    return batch_size * -(-BLOCK_SIZE // batch_size)


def _resolve_access(labeler: LatentLabeler, access: str, probe: torch.Tensor) -> str:
    if access == "black-box":
        return access
    differentiable = labeler.supports_gradients(probe)
    if access == "white-box" and not differentiable:
        raise InvalidArgumentError(
            "access='white-box' needs a torch generator and a classifier returning scores (n, K) that are "
            "differentiable with respect to the latents; use access='black-box' or 'auto'"
        )
    return "white-box" if differentiable else "black-box"


def _search(labeler: LatentLabeler, points64: np.ndarray, *, sample_seed: int | None, run: RunSettings) -> RadiusResult:
    seed, sample_offset, batch_size, confidence, config = (
        run.seed,
        run.sample_offset,
        run.batch_size,
        run.confidence,
        run.config,
    )
    stacklevel = run.stacklevel + 1  # warnings issued here: one frame below class_radius_unchecked
    n, d = points64.shape
    z_all = labeler.to_latents(points64)
    points64 = z_all.detach().cpu().to(torch.float64).numpy()  # exactly what the models see
    y_all = _label_in_chunks(labeler, z_all, batch_size, "latent index")
    access = _resolve_access(labeler, run.access, z_all[:2])
    # the defaults that depend on the access mode or on d
    num_seeds = config.num_seeds if config.num_seeds is not None else (3 if access == "white-box" else 6)
    if config.max_queries is not None:
        budget = config.max_queries
    else:
        budget = WHITE_BOX_BUDGET if access == "white-box" else 150 * d + 1000
    probes = 4 * d if config.blackbox_probes is None else config.blackbox_probes
    search_radius = 4.0 * math.sqrt(d) + 4.0 if config.max_radius is None else config.max_radius
    pool_size, rtol, refine_steps = config.pool_size, config.rtol, config.refine_steps
    attack_steps, lipschitz = config.attack_steps, config.lipschitz

    before_pool = labeler.queries.total
    pool_z = labeler.to_latents(draw_latents(seed, d, pool_size, purpose=Purpose.POOL))
    if run.pool_cache is not None and "labels" in run.pool_cache:  # labelled by an earlier call of the same run
        pool_y = run.pool_cache["labels"]
    else:
        pool_y = _label_in_chunks(labeler, pool_z, batch_size, "seeding-pool point") if pool_size else y_all[:0]
        if run.pool_cache is not None:
            run.pool_cache["labels"] = pool_y
    pool_queries = labeler.queries.total - before_pool
    pool_np = pool_z.detach().cpu().to(torch.float64).numpy()
    pool_labels = pool_y.cpu().numpy()
    if pool_size and np.unique(pool_labels).size < 2:
        pool_np = np.concatenate([pool_np, points64])
        pool_labels = np.concatenate([pool_labels, y_all.cpu().numpy()])
    pool = ClassPool(pool_np, pool_labels) if pool_labels.size else None
    directions = ClassDirections(pool_np, pool_labels) if pool is not None else None

    radii = np.full(n, np.inf)
    witnesses = np.full((n, d), np.nan)
    witness_labels = np.full(n, -1, dtype=np.int64)
    queries = np.zeros(n, dtype=np.int64)
    still_improving = np.zeros(n, dtype=bool)
    index_all = torch.arange(sample_offset, sample_offset + n, device=z_all.device)  # indexed by device rows
    # a chunk smaller than the model's block would only send padding: results do not depend on the chunk size
    chunk_size = max(batch_size, labeler.block_size)
    starts = range(0, n, chunk_size)
    for start in progress_bar(
        starts,
        progress=run.progress,
        desc="class radius",
        unit="point",
        total=n,
        size_of=lambda s: min(chunk_size, n - s),
    ):
        stop = min(n, start + chunk_size)
        state = ChunkState(labeler, z_all[start:stop], y_all[start:stop], rtol=rtol)
        state.watch(math.ceil(LATE_SHARE * budget))
        rows = torch.arange(state.size, device=z_all.device)
        chunk_index = index_all[start:stop]
        # white-box: the candidate stages may use a share of the budget; the boundary descent gets the rest
        screen = max(1, int(SCREEN_SHARE * budget)) if access == "white-box" else budget
        candidates: list[ChunkState] = []
        if pool is not None:
            candidates = pool_candidates(
                state, pool, num_seeds, seed=seed, point_index=chunk_index, budget=screen, directions=directions
            )
        always = min(num_seeds, len(candidates))
        if access == "white-box":
            linearized = linearized_candidates(state, rows, top_k=config.top_k, budget=screen)
            candidates = candidates[:always] + linearized + candidates[always:]
            always += len(linearized)
            refiner: NormalRayRefiner | SignRefiner = NormalRayRefiner(tol=rtol, budget=screen)
        else:
            refiner = SignRefiner(
                probes=probes, probe_scale=10 * rtol, seed=seed, point_index=chunk_index, budget=budget
            )
        adopted = successive_halving(
            state,
            rows,
            candidates,
            always=always,
            distinct=num_seeds,
            explore_steps=refine_steps if access == "white-box" else config.blackbox_explore_steps,
            refine=refiner,
        )
        lonely = rows[~torch.isfinite(state.radius)]
        random_ray_seeds(state, lonely, max_radius=search_radius, num_rays=8, seed=seed, point_index=chunk_index)
        before = state.radius.clone()
        state.search_opposite(rows)
        if isinstance(refiner, SignRefiner):
            normals = refiner.handed_over(state, rows, adopted)
            normals.forget(rows[state.radius < before])
            refiner.finish(state, rows, config.blackbox_steps, normals)
            before_final = state.radius.clone()
        else:
            normal_ray_iteration(state, rows, steps=refine_steps, tol=rtol, budget=screen)
            boundary_descent(state, rows, budget=budget, reserve=DESCENT_RESERVE, max_steps=attack_steps)
            # a fine local descent from the best witness: small steps, ε resolved to 1e-7
            boundary_descent(
                state,
                rows,
                budget=budget,
                reserve=FINAL_RESERVE,
                max_steps=attack_steps,
                from_z=False,
                alpha=FINE_ALPHA,
                gamma=FINE_GAMMA,
            )
            final = min(rtol, POLISH_RTOL)
            before_final = state.radius.clone()
            normal_ray_iteration(
                state, rows, steps=max(1, refine_steps // 2), tol=final, budget=budget, bisect_tol=final
            )
        state.polish(rows)
        state.harden(rows, margin=0.1 * rtol)
        radii[start:stop] = state.radius.cpu().numpy()
        witnesses[start:stop] = state.witness.detach().cpu().to(torch.float64).numpy()
        witness_labels[start:stop] = state.witness_label.cpu().numpy()
        queries[start:stop] = state.spent.cpu().numpy()
        # still improving: by more than STILL_IMPROVING_GAIN in the final stages, or after LATE_SHARE of the budget
        late = torch.fmax(state.radius_at_watch, before_final)
        late_gain = (late - state.radius) / state.radius
        still_improving[start:stop] = (torch.isfinite(state.radius) & (late_gain > STILL_IMPROVING_GAIN)).cpu().numpy()

    censored = ~np.isfinite(radii)
    censored |= _reverify(
        labeler, z_all, y_all, witnesses, witness_labels, censored, batch_size, config.on_unverified, stacklevel + 1
    )
    radii[censored] = np.inf
    still_improving[censored] = False
    witnesses[censored] = np.nan
    witness_labels[censored] = -1
    labels = y_all.cpu().numpy()
    image_distances = None
    if run.image_distances:
        image_distances = np.full(n, np.nan)
        found = np.flatnonzero(~censored)
        if found.size:
            image_distances[found] = labeler.image_distances(z_all[found], labeler.to_latents(witnesses[found]))

    counts = np.bincount(np.concatenate([labels, pool_y.cpu().numpy()]), minlength=labeler.num_classes or 0).astype(
        np.int64
    )
    estimate, cap, cap_stderr, exceeds = aggregate_radii(
        radii, censored, counts, confidence, sampled=sample_seed is not None
    )
    if censored.any() and not censored.all():
        warnings.warn(
            f"class_radius: {int(censored.sum())} of {n} points have no witness (censored) "
            "and are excluded from the mean",
            SearchFailureWarning,
            stacklevel=stacklevel,
        )
    if still_improving.any():
        warnings.warn(
            f"class_radius: {int(still_improving.sum())} of {n} points were still improving (by more than "
            f"{STILL_IMPROVING_GAIN:.1%}) in the last {1 - LATE_SHARE:.0%} of their budget: their radii are loose "
            "upper bounds (result.still_improving marks them; a larger SearchConfig.max_queries tightens them)",
            SearchFailureWarning,
            stacklevel=stacklevel,
        )
    if exceeds:
        warn_exceeds_cap(estimate, cap, cap_stderr, stacklevel=stacklevel)
    lower = lower_estimate = None
    if lipschitz is not None:
        lower = np.minimum(_lipschitz_lower_bounds(labeler, z_all, lipschitz, batch_size), radii)
        lower_estimate = lower_bound_estimate(lower, confidence)
    return RadiusResult(
        latents=points64,
        radii=radii,
        witnesses=witnesses,
        labels=labels,
        witness_labels=witness_labels,
        censored=censored,
        queries=queries,
        pool_queries=int(pool_queries),
        still_improving=still_improving,
        estimate=estimate,
        access=access,
        seed=sample_seed,
        class_counts_with_pool=counts,
        fawzi_cap=cap,
        fawzi_cap_stderr=cap_stderr,
        exceeds_cap=exceeds,
        censoring="excluded",
        lower_bounds=lower,
        lower_estimate=lower_estimate,
        image_distances=image_distances,
        metadata={
            "budget_per_point": budget,
            "rtol": rtol,
            "pool_size": pool_size,
            "search_config": config.to_dict(),
            "dtype": str(labeler.dtype).removeprefix("torch."),
            "device": str(labeler.device),
            "block_size": labeler.block_size,  # rows per model call: another block size can change the last bits
            "forward_queries": labeler.queries.forward,
            "backward_queries": labeler.queries.backward,
        },
    )


def _reverify(
    labeler: LatentLabeler,
    z_all: torch.Tensor,
    y_all: torch.Tensor,
    witnesses: np.ndarray,
    witness_labels: np.ndarray,
    censored: np.ndarray,
    chunk: int,
    on_unverified: str,
    stacklevel: int,
) -> np.ndarray:
    """Label every latent and witness again; return the mask of points that fail."""
    found = np.flatnonzero(~censored)
    failed = np.zeros(censored.shape[0], dtype=bool)
    if found.size == 0:
        return failed
    again = _label_in_chunks(labeler, z_all, chunk, "latent index").cpu().numpy()
    w = labeler.to_latents(witnesses[found])
    w_again = _label_in_chunks(labeler, w, chunk, lambda i: f"the witness of latent index {found[i]}").cpu().numpy()
    y = y_all.cpu().numpy()
    bad = (again[found] != y[found]) | (w_again != witness_labels[found]) | (w_again == y[found])
    failed[found[bad]] = True
    if bad.any():
        message = (
            f"class_radius: {int(bad.sum())} witness(es) failed re-verification (first at point "
            f"{int(found[bad][0])}): the classifier or generator gives different labels for the "
            "same latent on different calls (dropout, batch-norm in train mode, sampling?)"
        )
        if on_unverified == "raise":
            raise NonDeterministicModelError(message)
        warnings.warn(message + "; those points are censored", SearchFailureWarning, stacklevel=stacklevel)
    return failed
