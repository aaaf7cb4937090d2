r"""The class radius to a requested precision: multilevel Monte Carlo over search budgets.

A full search costs hundreds of calls of c∘g per point, and most of what a user pays for is the Monte Carlo error of
the mean, not the accuracy of one point. The mean radius of the full search, :math:`\mu = E[r_L(z)]`, is written
as a telescoping sum over search budgets :math:`B_0 < \dots < B_L` (Giles 2008):

.. math:: \mu = E[r_0(z)] + \sum_{l=1}^{L} E[r_l(z) - r_{l-1}(z)],

where :math:`r_l(z)` is the verified radius of the search at budget :math:`B_l`. Each term is estimated on its own
points, the two searches of a difference on the *same* point (with the same seeded pool), so the differences have
small variance and few points need the expensive search. The level sizes that minimise the calls for a given
variance are :math:`n_l \propto \sqrt{V_l / C_l}` (:math:`V_l` the variance of a level's term, :math:`C_l` its
calls per point).

Every term is a mean of verified radii at some budget, so the estimate is an estimate of the mean of the full
search's verified radii (the quantity :func:`genloose.class_radius` estimates with one full search per point), with
the same upper-bound meaning. Which budgets form the levels is decided by measurement on a pilot sample that is
searched at every candidate budget: the ladder of least predicted calls wins, plain sampling at the full budget
included, so the method falls back to one search per point where a cheaper search says little.

The i-th point of the run is point i of the seeded sequence (``sample_offset``), and points are assigned to levels
in fixed index ranges, so the result depends only on the seed and the settings, not on the batch size.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from genloose._errors import GenlooseWarning
from genloose._validation import check_confidence, check_int, fail
from genloose.estimate import Estimate

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PrecisionLevel", "PrecisionResult", "class_radius_to_precision"]

#: Budgets tried below the full one, as fractions of it (the pilot searches every pilot point at each).
CANDIDATE_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4)
#: The smallest coarse budget worth trying: below it a search has not left its pool seeds.
MIN_COARSE_BUDGET = 24
#: Rounds of "estimate the variances, add the points they call for" after the pilot.
MAX_ROUNDS = 4
#: Each round plans for this fraction of the target variance, so that variance estimated low by a round is
#: usually still covered without one more round.
PLANNING_MARGIN = 0.9


@dataclass(frozen=True)
class PrecisionLevel:
    """One level of the telescoping sum: the points searched at ``budget`` (and at ``coarse_budget``).

    Attributes
    ----------
    budget, coarse_budget : int, int or None
        The search budgets (``max_queries``) of the level's two searches; ``coarse_budget`` is None on level 0.
    num_points : int
        Points of the level, pilot points included.
    calls : int
        Calls of c∘g spent on these points by the level's two searches (pool labelling excluded; the pilot's
        searches at a budget shared by two levels count in both).
    mean, variance : float
        Sample mean and variance of the level's term :math:`r_l - r_{l-1}` (of :math:`r_0` on level 0).
    """

    budget: int
    coarse_budget: int | None
    num_points: int
    calls: int
    mean: float
    variance: float


@dataclass(frozen=True)
class PrecisionResult:
    """The class radius estimated to a requested relative precision, with what it cost.

    Attributes
    ----------
    estimate : Estimate
        The estimate of the mean verified radius of the full search, with its confidence interval.
    precision : float
        The requested relative half-width of the interval.
    precision_reached : float
        The half-width reached, relative to the estimate.
    met : bool
        Whether ``precision_reached <= precision``; False when ``max_points`` stopped the run first (a warning
        says so).
    levels : tuple of PrecisionLevel
        The levels chosen by the pilot, cheapest budget first (one level: plain sampling at the full budget).
    pilot_points : int
        Points searched at every candidate budget to choose the levels (they belong to every level's sample).
    pilot_calls : int
        Calls the pilot spent at the budgets that were not chosen.
    pool_calls : int
        Calls spent labelling the seeding pool, once per search call.
    total_calls : int
        Every call of c∘g the run made.
    access : str
        ``"white-box"`` or ``"black-box"``.
    """

    estimate: Estimate
    precision: float
    precision_reached: float
    met: bool
    levels: tuple[PrecisionLevel, ...]
    pilot_points: int
    pilot_calls: int
    pool_calls: int
    total_calls: int
    access: str

    @property
    def num_points(self) -> int:
        """Distinct points searched (the pilot counted once)."""
        return self.pilot_points + sum(level.num_points - self.pilot_points for level in self.levels)

    def to_frame(self) -> pd.DataFrame:
        """One row per level: budgets, points, calls, and the mean and variance of the level's term.

        Examples
        --------
        >>> import torch, genloose
        >>> from genloose.metrics.radius.precision import class_radius_to_precision
        >>> result = class_radius_to_precision(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
        ...                                    precision=0.1, seed=0, progress=False)
        >>> list(result.to_frame().columns)
        ['budget', 'coarse_budget', 'num_points', 'calls', 'mean', 'variance']
        """
        import pandas as pd

        return pd.DataFrame(
            {
                "budget": [level.budget for level in self.levels],
                "coarse_budget": pd.array([level.coarse_budget for level in self.levels], dtype="Int64"),
                "num_points": [level.num_points for level in self.levels],
                "calls": [level.calls for level in self.levels],
                "mean": [level.mean for level in self.levels],
                "variance": [level.variance for level in self.levels],
            }
        )


#: ``search(start, count, budget) -> (radii, queries, pool_queries, access)`` for points start..start+count-1.
SearchRange = Callable[[int, int, int | None], tuple[np.ndarray, np.ndarray, int, str]]


@dataclass
class _Samples:
    """The per-point radii of one index range at each budget it was searched at."""

    radii: dict[int, np.ndarray]
    queries: dict[int, np.ndarray]


def class_radius_to_precision(
    generator: Any,
    classifier: Any,
    *,
    latent_dim: int | None = None,
    precision: float,
    seed: int = 0,
    access: str = "auto",
    num_classes: int | None = None,
    confidence: float = 0.95,
    max_queries: int | None = None,
    max_points: int = 100_000,
    pilot_points: int = 32,
    batch_size: int = 256,
    progress: bool | None = None,
) -> PrecisionResult:
    r"""Estimate the class radius E_z[r(z)] to a relative precision, spending calls where they reduce the error.

    Multilevel Monte Carlo over search budgets (see the module's notes): cheap searches on many points, the
    difference to the full search on few. Stops when the confidence interval's half-width is at most
    ``precision`` times the estimate, or when ``max_points`` points have been searched (then with a warning and
    ``met = False``).

    Parameters
    ----------
    generator, classifier
        As for :func:`genloose.class_radius`.
    latent_dim : int, optional
        d, as for :func:`genloose.class_radius`.
    precision : float
        The wanted relative half-width of the interval, in (0, 1): 0.02 asks for ±2%.
    seed : int, default 0
        Points and pools come from this seed; the same seed and settings give the same result.
    access, num_classes, batch_size, progress
        As for :func:`genloose.class_radius`.
    confidence : float, default 0.95
        Level of the interval.
    max_queries : int, optional
        The full search's budget per point (default: :func:`genloose.class_radius`'s).
    max_points : int, default 100000
        The most points searched in all; the run stops there even if the precision is not reached.
    pilot_points : int, default 32
        Points searched at every candidate budget to choose the levels and their sizes (at least 8).

    Returns
    -------
    PrecisionResult

    Examples
    --------
    >>> import torch
    >>> from genloose.metrics.radius.precision import class_radius_to_precision
    >>> result = class_radius_to_precision(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
    ...                                    precision=0.05, seed=0, progress=False)
    >>> result.met, result.precision_reached <= 0.05
    (True, True)
    """
    import genloose

    precision = check_confidence(precision, "precision")
    confidence = check_confidence(confidence)
    max_points = check_int("max_points", max_points, min_value=1)
    pilot_points = check_int("pilot_points", pilot_points, min_value=8)
    if pilot_points > max_points:
        raise fail("pilot_points", f"at most max_points ({max_points})", pilot_points)

    def search(start: int, count: int, budget: int | None) -> tuple[np.ndarray, np.ndarray, int, str]:
        with warnings.catch_warnings():
            if budget is not None and budget != max_queries:  # a coarse level: a truncated search, by design
                warnings.simplefilter("ignore", genloose.SearchFailureWarning)
            result = _class_radius(start, count, budget)
        return result.radii, result.queries, result.pool_queries, result.access

    def _class_radius(start: int, count: int, budget: int | None) -> Any:
        return genloose.class_radius(
            generator,
            classifier,
            latent_dim=latent_dim,
            num_samples=count,
            sample_offset=start,
            seed=seed,
            access=access,  # type: ignore[arg-type]
            num_classes=num_classes,
            batch_size=batch_size,
            max_queries=budget,
            confidence=confidence,
            progress=progress,
        )

    return run_to_precision(
        search,
        precision=precision,
        confidence=confidence,
        max_queries=max_queries,
        max_points=max_points,
        pilot_points=pilot_points,
    )


def run_to_precision(
    search: SearchRange,
    *,
    precision: float,
    confidence: float,
    max_queries: int | None,
    max_points: int,
    pilot_points: int,
) -> PrecisionResult:
    """The multilevel run on a range search; inputs are trusted (checked by the public function)."""
    pool_calls = search_calls = 0

    def run(start: int, count: int, budget: int | None) -> tuple[np.ndarray, np.ndarray]:
        nonlocal pool_calls, search_calls, access
        radii, queries, pool, access = search(start, count, budget)
        pool_calls += pool
        search_calls += int(np.sum(queries))
        if not np.isfinite(radii).all():
            raise FloatingPointError("unreachable: class_radius raises on unverified points by default")
        return np.asarray(radii, dtype=np.float64), np.asarray(queries, dtype=np.int64)

    access = ""
    top_radii, top_queries = run(0, pilot_points, max_queries)
    top = _full_budget(max_queries, access, top_queries)
    candidates = sorted({b for f in CANDIDATE_FRACTIONS if (b := round(top * f)) >= MIN_COARSE_BUDGET} - {top})
    pilot = _Samples(radii={top: top_radii}, queries={top: top_queries})
    for budget in candidates:
        pilot.radii[budget], pilot.queries[budget] = run(0, pilot_points, budget)

    ladder = _cheapest_ladder(pilot, candidates, top)
    unused = set(candidates) - set(ladder)
    pilot_calls = int(sum(pilot.queries[b].sum() for b in unused))
    z = stats.norm.ppf(0.5 + confidence / 2)

    # level l's points: the pilot, then index ranges appended round by round
    terms: list[list[np.ndarray]] = [[_term(pilot, ladder, level)] for level in range(len(ladder))]
    calls: list[int] = [_term_calls(pilot, ladder, level) for level in range(len(ladder))]
    next_index = pilot_points
    estimate, half_width = _combine(terms, pilot_points, z, confidence=confidence)
    for _ in range(MAX_ROUNDS):
        if half_width <= precision * abs(estimate.value) or next_index >= max_points:
            break
        wanted = _level_sizes(terms, calls, precision * abs(estimate.value) / z * math.sqrt(PLANNING_MARGIN))
        for level, size in enumerate(wanted):
            have = sum(t.size for t in terms[level])
            extra = min(max(size - have, 0), max_points - next_index)
            if extra <= 0:
                continue
            budgets = ladder[level], (ladder[level - 1] if level else None)
            fine_r, fine_q = run(next_index, extra, budgets[0] if budgets[0] != top else max_queries)
            term, spent = fine_r, int(fine_q.sum())
            if budgets[1] is not None:
                coarse_r, coarse_q = run(next_index, extra, budgets[1])
                term, spent = fine_r - coarse_r, spent + int(coarse_q.sum())
            terms[level].append(term)
            calls[level] += spent
            next_index += extra
        estimate, half_width = _combine(terms, pilot_points, z, confidence=confidence)
    reached = half_width / abs(estimate.value) if estimate.value else math.inf
    met = bool(reached <= precision)
    if not met:
        warnings.warn(
            f"the class radius reached a relative precision of {reached:.3g}, not the {precision:.3g} asked for: "
            f"max_points={max_points} points were searched (raise max_points to go further)",
            GenlooseWarning,
            stacklevel=3,
        )
    levels = tuple(
        PrecisionLevel(
            budget=ladder[level],
            coarse_budget=ladder[level - 1] if level else None,
            num_points=int(sum(t.size for t in terms[level])),
            calls=calls[level],
            mean=float(np.concatenate(terms[level]).mean()),
            variance=float(np.concatenate(terms[level]).var(ddof=1)),
        )
        for level in range(len(ladder))
    )
    return PrecisionResult(
        estimate=estimate,
        precision=precision,
        precision_reached=float(reached),
        met=met,
        levels=levels,
        pilot_points=pilot_points,
        pilot_calls=pilot_calls,
        pool_calls=pool_calls,
        total_calls=search_calls + pool_calls,
        access=access,
    )


def _full_budget(max_queries: int | None, access: str, pilot_queries: np.ndarray) -> int:
    from genloose.metrics.radius.search import WHITE_BOX_BUDGET

    if max_queries is not None:
        return int(max_queries)
    if access == "white-box":
        return WHITE_BOX_BUDGET
    return int(pilot_queries.max())  # black-box default depends on d; the pilot's largest spend is at most it


def _term(samples: _Samples, ladder: tuple[int, ...], level: int) -> np.ndarray:
    fine = samples.radii[ladder[level]]
    return fine - samples.radii[ladder[level - 1]] if level else fine.copy()


def _term_calls(samples: _Samples, ladder: tuple[int, ...], level: int) -> int:
    spent = int(samples.queries[ladder[level]].sum())
    return spent + (int(samples.queries[ladder[level - 1]].sum()) if level else 0)


def _cheapest_ladder(pilot: _Samples, candidates: list[int], top: int) -> tuple[int, ...]:
    """The budgets (ending at ``top``) whose multilevel estimator needs the fewest calls for a given variance.

    For levels with term variances V_l and calls per point C_l the optimal allocation costs (Σ sqrt(V_l C_l))²
    per unit of inverse variance; plain sampling at ``top`` is the ladder with one level.
    """
    best: tuple[float, tuple[int, ...]] = (math.inf, (top,))
    for size in range(len(candidates) + 1):
        for coarse in itertools.combinations(candidates, size):
            ladder = (*coarse, top)
            cost = 0.0
            for level in range(len(ladder)):
                variance = float(_term(pilot, ladder, level).var(ddof=1))
                per_point = _term_calls(pilot, ladder, level) / pilot.radii[top].size
                cost += math.sqrt(max(variance, 0.0) * per_point)
            if cost**2 < best[0]:
                best = (cost**2, ladder)
    return best[1]


def _level_sizes(terms: list[list[np.ndarray]], calls: list[int], target_stderr: float) -> list[int]:
    """Points per level for a standard error of ``target_stderr`` at least calls: n_l ∝ sqrt(V_l / C_l)."""
    variances = [float(np.concatenate(t).var(ddof=1)) for t in terms]
    per_point = [c / sum(x.size for x in t) for c, t in zip(calls, terms, strict=True)]
    scale = sum(math.sqrt(v * c) for v, c in zip(variances, per_point, strict=True)) / target_stderr**2
    return [math.ceil(scale * math.sqrt(v / c)) if c > 0 else 0 for v, c in zip(variances, per_point, strict=True)]


def _combine(
    terms: list[list[np.ndarray]], pilot_points: int, z: float, *, confidence: float = 0.95
) -> tuple[Estimate, float]:
    """The sum of the level means with its standard error, the pilot's sharing across levels included.

    The pilot's points belong to every level, so the level means are correlated through them:
    Var = Σ_l V_l / n_l + Σ_{l≠k} m C_lk / (n_l n_k), with C_lk the covariance of the terms on the pilot.
    """
    samples = [np.concatenate(t) for t in terms]
    sizes = np.array([s.size for s in samples], dtype=np.float64)
    means = np.array([s.mean() for s in samples])
    variance = sum(float(s.var(ddof=1)) / n for s, n in zip(samples, sizes, strict=True))
    pilot = np.stack([t[0] for t in terms])
    if len(terms) > 1:
        covariance = np.cov(pilot, ddof=1)
        for a, b in itertools.permutations(range(len(terms)), 2):
            variance += pilot_points * float(covariance[a, b]) / (sizes[a] * sizes[b])
    stderr = math.sqrt(max(variance, 0.0))
    value = float(means.sum())
    estimate = Estimate.from_normal(
        value, stderr, n=int(sizes.max()), confidence=confidence, method="multilevel Monte Carlo over search budgets"
    )
    return estimate, z * stderr
