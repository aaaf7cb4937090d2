"""``genloose.evaluate``: one call that measures a generator/classifier pair and returns a :class:`Report`."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Literal

from genloose._errors import GenlooseWarning, SearchFailureWarning, UndefinedMetricWarning
from genloose._validation import (
    MIN_SAMPLES_EVALUATE,
    check_access,
    check_batch_size,
    check_confidence,
    check_num_samples,
    check_precision,
    check_progress,
    check_seed,
)
from genloose.distributed import (
    check_same,
    merge_radius_results,
    rank_and_world_size,
    run_collectively,
    shard_range,
)
from genloose.metrics.radius.config import SearchConfig, as_search_config, reject_moved_arguments
from genloose.metrics.radius.precision import class_radius_to_precision
from genloose.metrics.radius.result import RadiusResult
from genloose.metrics.radius.search import RunSettings, class_radius_unchecked, label_sample
from genloose.models import as_classifier, as_generator
from genloose.report import Report, build_report

__all__ = ["evaluate"]

Access = Literal["auto", "white-box", "black-box"]


def evaluate(
    generator: Any,
    classifier: Any,
    *,
    latent_dim: int | None = None,
    num_samples: int,
    seed: int = 0,
    access: Access = "auto",
    num_classes: int | None = None,
    confidence: float = 0.95,
    batch_size: int = 256,
    config: SearchConfig | None = None,
    precision: float | None = None,
    progress: bool | None = None,
    **moved: Any,
) -> Report:
    r"""Measure how loose c∘g is and how diverse its classes are, on one seeded sample of latents.

    Draws ``num_samples`` points :math:`z \sim N(0, I_d)` from ``seed``, labels them once, and from the
    same points and labels computes the class radius (a verified upper estimate, by
    :func:`genloose.class_radius`), the collision probability :math:`\|p\|_2^2` (unbiased U-statistic), the
    collision entropy :math:`-\log\|p\|_2^2` and the effective number of classes :math:`1/\|p\|_2^2`, each
    with a confidence interval; then the paper's bounds at these estimates with their intervals mapped
    through the monotone bound functions and each theorem's hypothesis checked; and diagnostics.

    .. math:: \bar r = \frac{1}{n}\sum_{i=1}^{n} r(z_i), \qquad
              \hat q = \frac{\sum_k n_k (n_k - 1)}{n (n - 1)}

    Parameters
    ----------
    generator, classifier
        As for :func:`genloose.class_radius`: ``torch.nn.Module``\ s, functions on torch tensors, or the
        :class:`genloose.Generator` / :class:`genloose.Classifier` adapters (for numpy models, devices,
        dtypes and batch limits).
    latent_dim : int, optional
        d; required unless ``generator`` is a :class:`genloose.Generator`.
    num_samples : int
        n >= 2 latent points (the collision U-statistic counts pairs; and at least the world size when
        distributed).
    seed : int, default 0
        Point i of the sample depends only on (seed, i), so the same (seed, num_samples) gives the same
        report whatever ``batch_size`` or the number of processes.
    access : {"auto", "white-box", "black-box"}, default "auto"
        Gradient-based search when the classifier's scores are differentiable through the generator
        (``"auto"`` checks), sign queries otherwise.
    num_classes : int, optional
        K, needed to validate a classifier that returns labels (and to size ``class_counts``).
    confidence : float, default 0.95
        Level of every interval.
    batch_size : int, default 256
        Points searched together (memory); results do not depend on it.
    config : SearchConfig, optional
        The search's budgets, tolerances and stage knobs, passed to :func:`genloose.class_radius` (default
        ``SearchConfig()``); the report records it in ``radius_result.metadata["search_config"]``.
    precision : float, optional
        The relative half-width wanted for the class radius's interval, in (0, 1): genloose then chooses the
        points searched and how hard (as :func:`genloose.class_radius` with ``precision``), while the
        ``num_samples`` points are only labelled, for the collision metrics (one call each).
        ``report.radius_result.precision`` says the precision reached and how the calls were split. Such
        reports compare only unpaired (:func:`genloose.compare`: use different seeds). In a distributed run
        every rank makes the whole run.
    progress : bool, optional
        Progress bar: ``None`` shows one on a terminal unless ``TQDM_DISABLE`` is set, ``False`` never
        does; only rank 0 shows it.

    Returns
    -------
    Report
        Estimates, bounds, diagnostics, metadata, and the per-point :class:`~genloose.RadiusResult`.

    Raises
    ------
    InvalidArgumentError
        Bad arguments; ``num_samples`` smaller than the world size; arguments that differ between ranks.
    ModelOutputError
        A model returned NaN, the wrong shape or invalid labels (on any rank: raised on every rank).

    Warns
    -----
    SearchFailureWarning
        Censored points, or a radius above the universal cap (once, on rank 0).
    GenlooseWarning
        ``access="auto"`` falls back to label-only search (once, on rank 0, with the reason: a numpy model,
        before the search; scores without a gradient, after it) and the expected cost: up to
        :math:`150 d + 1000` calls of c∘g per point against 960 for the gradient search (1.8 times at
        d = 8, 8.9 times at d = 64 on the sector testbeds). Pass ``access="black-box"`` to choose it
        explicitly.
    UndefinedMetricWarning
        A quantity is undefined (a single class, every point censored).

    Notes
    -----
    **Distributed runs.** When ``torch.distributed`` is initialised, ``evaluate`` is *collective*: every
    rank must call it with the same arguments (checked). Rank r evaluates the contiguous index range
    :func:`genloose.distributed.shard_range` gives it (sizes differ by at most one; no padding, no
    duplicates) with ``class_radius(..., sample_offset=start)``; the per-point results are all-gathered
    and every rank returns the same report, equal to the one-process report for the same (seed, N).
    Latent blocks come from ``SeedSequence(seed, spawn_key=(0, block))`` (:mod:`genloose._random`), the
    children ``SeedSequence(seed, spawn_key=(0,)).spawn`` would produce, indexed by position rather than by
    rank: that is why the result does not depend on the world size (see :mod:`genloose.distributed`). The
    seeding pool, which depends only on the seed, is labelled on every rank.

    The class radius is Definition 2.5 of Manoj (2018); the bounds are Lemma B.1 (Fawzi's cap) and
    Theorems 3.1 and 3.2.

    Examples
    --------
    Two classes split by a hyperplane through the origin: the class radius is
    :math:`\sqrt{2/\pi} \approx 0.798` and the collision probability 1/2.

    >>> import torch, genloose
    >>> report = evaluate(torch.nn.Identity(), lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
    ...                            latent_dim=3, num_samples=300, seed=0, progress=False)
    >>> report.class_radius.contains(0.7978845608), report.collision_probability.contains(0.5)
    (True, True)
    >>> report.bounds.theorem_3_1_bound.hypothesis_holds  # p = (1/2, 1/2): not every p_k <= 1/5
    False
    """
    reject_moved_arguments("evaluate", moved)
    progress = check_progress(progress)
    rank, world_size = rank_and_world_size()
    models: dict[str, Any] = {}

    def prepare() -> dict[str, Any]:
        """Validate the arguments and wrap the models; returns what must agree between ranks."""
        settings: dict[str, Any] = {
            "num_samples": check_num_samples(num_samples, min_value=MIN_SAMPLES_EVALUATE),
            "seed": check_seed(seed),
            "confidence": check_confidence(confidence),
            "access": check_access(access),
            "batch_size": check_batch_size(batch_size),
            "config": as_search_config(config),
            "precision": check_precision(precision),
        }
        models["generator"] = as_generator(generator, latent_dim=latent_dim)
        models["classifier"] = as_classifier(classifier, num_classes=num_classes)
        settings.update(latent_dim=models["generator"].latent_dim, num_classes=num_classes)
        return settings

    if world_size == 1:
        settings = prepare()
    else:  # collective from here on: an error on one rank is raised on every rank
        gathered_settings = run_collectively(prepare)
        check_same(gathered_settings, exclude=("batch_size",))
        settings = gathered_settings[rank]
    gen, clf = models["generator"], models["classifier"]
    num_samples = settings["num_samples"]
    confidence = settings["confidence"]
    static_reason = _no_gradient_reason(gen, clf)
    if settings["access"] == "auto" and static_reason is not None and rank == 0:
        _warn_fallback(static_reason, gen.latent_dim)

    run = RunSettings(
        seed=settings["seed"],
        sample_offset=0,
        access=settings["access"],
        batch_size=settings["batch_size"],
        confidence=confidence,
        config=settings["config"],
        progress=progress,
        stacklevel=2,
    )

    def search(start: int, stop: int) -> RadiusResult:
        shard_run = replace(run, sample_offset=start)
        return class_radius_unchecked(gen, clf, latents=None, num_samples=stop - start, run=shard_run)

    sample_labels, sample_queries = None, 0
    if settings["precision"] is not None:  # every rank makes the whole run: the same result everywhere
        # the cheap labels first: a sample no memory holds, or a model that breaks on it, stops the run early
        sample_labels, sample_queries = label_sample(
            gen, clf, seed=settings["seed"], num_samples=num_samples, batch_size=settings["batch_size"]
        )
        result = class_radius_to_precision(gen, clf, run=run, precision=settings["precision"])
    elif world_size == 1:
        result = search(0, num_samples)
    else:
        start, stop = shard_range(num_samples, rank=rank, world_size=world_size)

        def shard() -> tuple[RadiusResult, list[tuple[type[Warning], str]]]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = search(start, stop)
            return part, [(w.category, str(w.message)) for w in caught]

        gathered = run_collectively(shard)
        result = merge_radius_results([part for part, _ in gathered], confidence=confidence)
        if rank == 0:
            _warn_merged(result, [w for _, caught in gathered for w in caught])
    if settings["access"] == "auto" and static_reason is None and result.access == "black-box" and rank == 0:
        _warn_fallback(
            "the classifier's output carries no gradient with respect to the latents (it returns labels, or "
            "its scores pass through argmax, .detach(), torch.no_grad() or non-torch code)",
            gen.latent_dim,
        )
    with warnings.catch_warnings():
        if rank != 0:
            warnings.simplefilter("ignore")  # warnings once, on rank 0
        return build_report(
            result,
            confidence=confidence,
            num_classes=clf.num_classes,
            world_size=world_size,
            device=str(gen.device),
            dtype=str(gen.dtype),
            sample_labels=sample_labels,
            sample_queries=sample_queries,
        )


def _no_gradient_reason(generator: Any, classifier: Any) -> str | None:
    """Why gradients cannot reach the latents, when the adapters alone tell (None: only a call can tell)."""
    if generator.backend != "torch":
        return "the generator is a numpy model (backend='numpy'), which cannot be differentiated"
    if classifier.backend != "torch":
        return "the classifier is a numpy model (backend='numpy'), which cannot be differentiated"
    return None


def label_only_cost(latent_dim: int) -> str:
    """The expected cost of label-only search against the gradient search, at the default budgets.

    The default budgets are :math:`150 d + 1000` calls of c∘g per point for label-only search and 960 for
    the gradient search, and both searches use most of theirs (measured on the sector testbeds before the
    gradient budget went from 1000 to 960: 1748 and 988 calls per point at d = 8, 8791 and 988 at d = 64).

    Examples
    --------
    >>> label_only_cost(64)
    'up to 10600 calls of c∘g per point at d=64, about 11 times the gradient search (960)'
    """
    from genloose.metrics.radius.search import WHITE_BOX_BUDGET

    budget = 150 * latent_dim + 1000
    return (
        f"up to {budget} calls of c∘g per point at d={latent_dim}, about {budget / WHITE_BOX_BUDGET:.2g} times the "
        f"gradient search ({WHITE_BOX_BUDGET})"
    )


def _warn_fallback(reason: str, latent_dim: int) -> None:
    warnings.warn(
        f"access='auto' uses label-only (black-box) search: {reason}. Label-only search takes "
        f"{label_only_cost(latent_dim)}; return differentiable scores of shape (n, K) for the gradient search, "
        "or pass access='black-box' to choose it (and silence this warning)",
        GenlooseWarning,
        stacklevel=3,
    )


def _warn_merged(result: RadiusResult, caught: list[tuple[type[Warning], str]]) -> None:
    """Re-emit, once and on rank 0, what the shards warned: global search warnings, others deduplicated."""
    seen: set[tuple[type[Warning], str]] = set()
    for category, text in caught:
        shard_count = (
            text.startswith("class_radius:")
            and issubclass(category, (SearchFailureWarning, UndefinedMetricWarning))
            and "re-verification" not in text
        )
        if shard_count:
            continue  # per-shard counts: replaced by the global warnings below
        if (category, text) not in seen:
            seen.add((category, text))
            warnings.warn(text, category, stacklevel=3)
    n = result.num_samples
    censored = result.num_censored
    if 0 < censored < n:
        warnings.warn(
            f"class_radius: {censored} of {n} points have no witness (censored) and are excluded from the mean",
            SearchFailureWarning,
            stacklevel=3,
        )
    if censored == n:
        warnings.warn(
            "class_radius: every point is censored (no differently-labelled point was found; a single-class "
            "model?); the estimate is NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    if result.exceeds_cap:
        warnings.warn(
            f"class_radius: the estimate {result.estimate.value:.4g} (CI low {result.estimate.ci_low:.4g}) "
            f"exceeds the universal cap {result.fawzi_cap:.4g}: the search has failed",
            SearchFailureWarning,
            stacklevel=3,
        )
