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

With gradients (white-box), the cheapest level can also be a *proxy* that is not a search at all: b times the
distance to the nearest linearised boundary at z (:mod:`genloose.metrics.radius.proxy`, a handful of calls),
with b the slope of the next level's radii on the proxy over the pilot, fixed from then on. The level above it
then estimates :math:`E[r_1(z) - b\,p(z)]`: a control variate, as in two-phase sampling.

The sum telescopes to the mean of the top level whatever the lower levels are, so the estimate is an estimate of
the mean of the full search's verified radii (the quantity :func:`genloose.class_radius` estimates with one full
search per point), with the same upper-bound meaning. Which budgets form the levels (and whether the proxy is
one) is decided by measurement on a pilot sample that is searched at every candidate budget: the ladder of least
predicted calls wins, plain sampling at the full budget included, so the method falls back to one search per
point where a cheaper search says little.

The i-th point of the run is point i of the seeded sequence (``sample_offset``), and points are assigned to levels
in fixed index ranges, so the result depends only on the seed and the settings, not on the batch size.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from genloose._errors import GenlooseError, GenlooseWarning, SearchFailureWarning
from genloose.estimate import Estimate, normal_quantile
from genloose.metrics.radius.aggregate import exceeds_cap, warn_exceeds_cap

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from genloose.metrics.radius.result import RadiusResult
    from genloose.metrics.radius.search import RunSettings
    from genloose.models import Classifier, Generator

    #: ``search(start, count, budget)``: points start..start+count-1 searched at ``budget`` (None: the full one).
    SearchRange = Callable[[int, int, int | None], RadiusResult]
    #: ``proxy(start, count)``: the proxy of points start..start+count-1 and the calls of c∘g it spent.
    ProxyRange = Callable[[int, int], tuple[np.ndarray, int]]

__all__ = ["PrecisionSummary", "class_radius_to_precision", "run_to_precision"]

#: Budgets tried below the full one, as fractions of it (the pilot searches every pilot point at each).
CANDIDATE_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4)
#: The smallest coarse budget worth trying: below it a search has not left its pool seeds.
MIN_COARSE_BUDGET = 24
#: Rounds of "estimate the variances, add the points they call for" after the pilot.
MAX_ROUNDS = 5
#: Every level above the cheapest keeps at least this share of the cheapest level's points (see _level_sizes).
MIN_LEVEL_SHARE = 1 / 20
#: Label the seeding pool once per run and reuse its labels in every search call (the pool depends only on the seed).
SHARE_POOL = True
#: Rounds after the first plan for this fraction more points than their variance estimates call for, so that a
#: variance estimated a little low is still covered without one more round.
PLANNING_MARGIN = 1.05
#: The first round, planned from the pilot's rough variances, adds this share of the points they call for.
FIRST_ROUND_SHARE = 0.5
#: The proxy's place in a ladder of budgets (a level that searches nothing): its rungs and the power of the
#: linearised distance each uses. The distance itself is exact on affine models; its square root follows the radius
#: better where r grows slower than the linearised distance (on the d = 64 digit DCGAN, fitted on 32 pilot points,
#: it leaves 0.09 of the variance of r against 0.14). The pilot picks one, or none, by cost like the budgets.
PROXY = 0
PROXY_ROOT = -1
PROXY_POWERS = {PROXY: 1.0, PROXY_ROOT: 0.5}
#: The proxy is also computed, alone, on this many times the pilot's points after them: its spread (a far tail of
#: linearised distances the pilot's few points miss, as on grid w32d1 at seed 2072, where 32 points saw the proxy
#: up to 1.1 and the run then met values up to 10.8 against radii near 0.2) is measured there.
PROXY_SAMPLE_FACTOR = 16


@dataclass(frozen=True, eq=False)
class PrecisionSummary:
    """How a class-radius run with a requested precision spent its calls, level by level.

    Level l's term is :math:`r_l - r_{l-1}` (:math:`r_0` on level 0): the verified radius at budget
    ``level_budgets[l]`` minus the one at ``level_coarse_budgets[l]`` on the same point (0: no coarse search, or
    on level 1 above a proxy, the proxy).
    When ``proxy_scale`` is finite, level 0 is the proxy instead (``level_budgets[0]`` is 0): its term is
    ``proxy_scale`` times the distance to the nearest linearised boundary at z raised to ``proxy_power``, and
    level 1's term is its radius minus that. ``to_frame()``'s ``term`` column spells each level's term out.

    Attributes
    ----------
    requested, reached : float
        The relative half-width of the interval asked for, and the one reached.
    met : bool
        ``reached <= requested``; False when ``SearchConfig.precision_max_points`` (or, rarely, the number of
        rounds) stopped the run first, with a warning that says which.
    total_calls : int
        Every call of c∘g the run made: all levels, the pilot and the pool labelling.
    pool_calls : int
        Calls spent labelling the seeding pool (once per run: the search calls share its labels).
    pilot_points : int
        Points searched at every candidate budget to choose the levels; they belong to every level.
    pilot_calls : int
        Calls the pilot spent at candidate budgets that were not chosen.
    level_budgets, level_coarse_budgets, level_points, level_calls : ndarray of int64
        Per level: the budgets, the points (pilot included) and the calls of its two searches (a pilot search at
        a budget that two levels share counts in both).
    level_means, level_variances : ndarray of float64
        Per level: the sample mean and variance of its term.
    proxy_scale, proxy_power : float
        The proxy's coefficient b (fixed from the pilot) and the power of the distance it multiplies (1 or 1/2),
        or NaN when no level is the proxy.

    Examples
    --------
    >>> import torch, genloose
    >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, precision=0.1,
    ...                           progress=False)
    >>> r.precision.met, list(r.precision.to_frame().columns)[:3]
    (True, ['term', 'budget', 'coarse_budget'])
    """

    requested: float
    reached: float
    met: bool
    total_calls: int
    pool_calls: int
    pilot_points: int
    pilot_calls: int
    level_budgets: np.ndarray
    level_coarse_budgets: np.ndarray
    level_points: np.ndarray
    level_calls: np.ndarray
    level_means: np.ndarray
    level_variances: np.ndarray
    proxy_scale: float = math.nan
    proxy_power: float = math.nan

    @property
    def num_points(self) -> int:
        """Distinct points used (the pilot counted once): searched, or, on a proxy level, given only the proxy."""
        return self.pilot_points + int((self.level_points - self.pilot_points).sum())

    @property
    def num_proxy_only(self) -> int:
        """Points given only the proxy, never searched (0 without a proxy level)."""
        return int(self.level_points[0] - self.pilot_points) if math.isfinite(self.proxy_scale) else 0

    @property
    def num_searched(self) -> int:
        """Distinct points searched at some budget (the pilot counted once)."""
        return self.num_points - self.num_proxy_only

    def to_frame(self) -> pd.DataFrame:
        """One row per level: budgets, points, calls, and the mean and variance of the level's term.

        Examples
        --------
        >>> import torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, precision=0.1,
        ...                           progress=False)
        >>> list(r.precision.to_frame().columns)
        ['term', 'budget', 'coarse_budget', 'num_points', 'calls', 'mean', 'variance']
        """
        import pandas as pd

        coarse = [int(b) if b else None for b in self.level_coarse_budgets]
        proxy = f"{self.proxy_scale:.4g}·proxy" + ("" if self.proxy_power == 1.0 else f"^{self.proxy_power:g}")
        terms = []
        for level, (fine, low) in enumerate(zip(self.level_budgets, self.level_coarse_budgets, strict=True)):
            has_proxy = level < 2 and math.isfinite(self.proxy_scale)
            fine_text = proxy if has_proxy and level == 0 else f"r@{int(fine)}"
            low_text = proxy if has_proxy and level == 1 else (f"r@{int(low)}" if low else "")
            terms.append(f"{fine_text} - {low_text}" if low_text else fine_text)
        return pd.DataFrame(
            {
                "term": terms,
                "budget": self.level_budgets.astype(np.int64),
                "coarse_budget": pd.array(coarse, dtype="Int64"),
                "num_points": self.level_points.astype(np.int64),
                "calls": self.level_calls.astype(np.int64),
                "mean": self.level_means.astype(np.float64),
                "variance": self.level_variances.astype(np.float64),
            }
        )


@dataclass
class _Samples:
    """The per-point radii and calls of the pilot at each budget it was searched at (and its proxy, if any).

    ``radii[PROXY]`` is the proxy p; a ladder that starts with the proxy rung k uses ``p ** PROXY_POWERS[k]``
    scaled by ``scale[k, B1]``, the slope of the radii at its next budget B1 on it.
    """

    radii: dict[int, np.ndarray]
    queries: dict[int, np.ndarray]
    scale: dict[tuple[int, int], float] = field(default_factory=dict)
    proxy_sample: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def variance(self, ladder: tuple[int, ...], level: int) -> float:
        """The variance of level ``level``'s term, the proxy's own spread taken from the pilot and its sample.

        On a proxy level that is b² Var(p^a) over both; on the level above it, the pilot's Var(r - b p^a) plus
        b² times what the sample adds to Var(p^a) beyond the pilot's (a tail the pilot missed, uncorrelated with
        r as far as the pilot can tell).
        """
        pilot_variance = float(_term(self, ladder, level).var(ddof=1))
        if ladder[0] not in PROXY_POWERS or level > 1 or self.proxy_sample.size == 0:
            return pilot_variance
        power, scale = PROXY_POWERS[ladder[0]], self.scale[ladder[0], ladder[1]]
        pilot_spread = float(np.var(self.radii[PROXY] ** power, ddof=1))
        spread = float(np.var(np.concatenate([self.radii[PROXY], self.proxy_sample]) ** power, ddof=1))
        if level == 0:
            return scale**2 * spread
        return pilot_variance + scale**2 * max(0.0, spread - pilot_spread)

    def value(self, ladder: tuple[int, ...], level: int) -> np.ndarray:
        """The quantity of ``ladder[level]`` on the pilot: a radius, or the proxy scaled for this ladder."""
        rung = ladder[level]
        if rung in PROXY_POWERS:
            return self.scale[rung, ladder[1]] * self.radii[PROXY] ** PROXY_POWERS[rung]
        return self.radii[rung]


def class_radius_to_precision(gen: Generator, clf: Classifier, *, run: RunSettings, precision: float) -> RadiusResult:
    """:func:`genloose.class_radius` with ``precision``: the multilevel run, on validated arguments.

    The result's per-point arrays hold the points searched at the full budget (the pilot and the last level);
    its ``estimate`` combines every level, and ``precision`` says how the calls were spent.
    """
    from genloose.distributed import merge_radius_results
    from genloose.metrics.radius.search import class_radius_unchecked

    pool_cache: dict[str, Any] | None = {} if SHARE_POOL else None

    def search(start: int, count: int, budget: int | None) -> RadiusResult:
        config = run.config if budget is None else replace(run.config, max_queries=budget)
        with warnings.catch_warnings():
            if budget is not None:  # a coarse level: a truncated search, by design
                warnings.simplefilter("ignore", SearchFailureWarning)
            return class_radius_unchecked(
                gen,
                clf,
                latents=None,
                num_samples=count,
                run=replace(
                    run,
                    sample_offset=start,
                    config=config,
                    stacklevel=run.stacklevel + 2,
                    pool_cache=pool_cache,
                    image_distances=budget is None,  # only the full-budget results are kept
                ),
            )

    estimate, summary, full = run_to_precision(
        search,
        precision=precision,
        confidence=run.confidence,
        max_points=run.config.precision_max_points,
        pilot_points=run.config.precision_pilot_points,
        stacklevel=run.stacklevel + 1,
        proxy=lambda pilot: _proxy_range(gen, clf, run) if pilot.access == "white-box" else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchFailureWarning)  # the cap check is made again on the estimate
        merged = merge_radius_results(full, confidence=run.confidence)
    exceeds = exceeds_cap(estimate, merged.fawzi_cap, merged.fawzi_cap_stderr)
    if exceeds:
        warn_exceeds_cap(estimate, merged.fawzi_cap, merged.fawzi_cap_stderr, stacklevel=run.stacklevel)
    return replace(merged, estimate=estimate, exceeds_cap=exceeds, pool_queries=summary.pool_calls, precision=summary)


def _proxy_range(gen: Generator, clf: Classifier, run: RunSettings) -> ProxyRange:
    """The linearised-distance proxy of a range of the run's points (for a run whose search is white-box)."""
    from genloose.metrics.radius.labeler import LatentLabeler
    from genloose.metrics.radius.proxy import linearized_distances
    from genloose.metrics.radius.sampling import BLOCK_SIZE, draw_latents

    d = gen.latent_dim
    labeler = LatentLabeler(gen, clf)

    def proxy(start: int, count: int) -> tuple[np.ndarray, int]:
        before = labeler.queries.total
        values = []
        with labeler.session():
            for low in range(start, start + count, BLOCK_SIZE):  # memory: one span of latents at a time
                high = min(start + count, low + BLOCK_SIZE)
                z = labeler.to_latents(draw_latents(run.seed, d, high, start=low))
                values.append(linearized_distances(labeler, z, offset=low))
        return np.concatenate(values) if values else np.zeros(0), labeler.queries.total - before

    return proxy


def run_to_precision(
    search: SearchRange,
    *,
    precision: float,
    confidence: float,
    max_points: int,
    pilot_points: int,
    stacklevel: int = 2,
    proxy: Callable[[RadiusResult], ProxyRange | None] | None = None,
) -> tuple[Estimate, PrecisionSummary, list[RadiusResult]]:
    """The multilevel run on a range search: the estimate, the summary and the full-budget searches' results.

    ``proxy``, if given, is called with the pilot's full-budget result and returns the proxy range (or None: no
    proxy for this run, e.g. a black-box search); the proxy is then a candidate for the cheapest level (a control
    variate scaled on the pilot).
    """
    pool_calls = search_calls = 0
    full: list[RadiusResult] = []

    def run(start: int, count: int, budget: int | None) -> tuple[np.ndarray, np.ndarray]:
        nonlocal pool_calls, search_calls
        result = search(start, count, budget)
        pool_calls += result.pool_queries
        # every call of c∘g the search made: labelling, probes, re-verification, its pool
        search_calls += int(result.metadata["forward_queries"]) + int(result.metadata["backward_queries"])
        if budget is None:
            full.append(result)
        radii = np.asarray(result.radii, dtype=np.float64)
        missing = int((~np.isfinite(radii)).sum())
        if missing and not (budget is None and start == 0 and missing == count):
            raise GenlooseError(
                f"class_radius with precision needs a witness for every point, and {missing} of {count} points "
                f"have none within a budget of {budget or 'the full search'} calls: run without precision, where "
                "points without a witness are counted and excluded from the mean (censored)"
            )
        return radii, np.asarray(result.queries, dtype=np.int64)

    top_radii, top_queries = run(0, pilot_points, None)
    if not np.isfinite(top_radii).any():  # no boundary found at all (a single class): the estimate is undefined
        return full[0].estimate, _undefined_summary(precision, search_calls, pool_calls, pilot_points), full
    top = int(full[0].metadata["budget_per_point"])
    candidates = sorted({b for f in CANDIDATE_FRACTIONS if (b := round(top * f)) >= MIN_COARSE_BUDGET} - {top})
    pilot = _Samples(radii={top: top_radii}, queries={top: top_queries})
    for budget in candidates:
        pilot.radii[budget], pilot.queries[budget] = run(0, pilot_points, budget)
    proxy_range = proxy(full[0]) if proxy is not None else None
    next_index = pilot_points
    sample_calls = 0
    if proxy_range is not None:
        values, spent = proxy_range(0, pilot_points)
        search_calls += spent
        # the proxy alone on more points (cheap): its own spread, tail included, is measured on them, not on the
        # pilot's few points; they are the proxy level's first points if it is chosen
        extra = max(0, min(PROXY_SAMPLE_FACTOR * pilot_points, max_points - pilot_points))
        pilot.proxy_sample, sample_calls = proxy_range(pilot_points, extra)
        search_calls += sample_calls
        next_index += extra
        budgets = list(pilot.radii)  # the searched budgets (the proxy is added below)
        pilot.radii[PROXY] = values
        pilot.queries[PROXY] = pilot.queries[PROXY_ROOT] = np.full(pilot_points, spent / pilot_points)
        pilot.scale = {
            (k, b): _slope(values**power, pilot.radii[b]) for k, power in PROXY_POWERS.items() for b in budgets
        }
        candidates = [*sorted(PROXY_POWERS), *candidates]

    ladder = _cheapest_ladder(pilot, candidates, top)
    uses_proxy = ladder[0] in PROXY_POWERS
    unused = {b for b in candidates if b not in ladder and b not in PROXY_POWERS}
    unused |= {PROXY} if proxy_range is not None and not uses_proxy else set()  # the proxy's calls, counted once
    pilot_calls = round(sum(float(pilot.queries[b].sum()) for b in unused))
    pilot_calls += sample_calls if proxy_range is not None and not uses_proxy else 0
    scale = pilot.scale[ladder[0], ladder[1]] if uses_proxy else math.nan
    power = PROXY_POWERS[ladder[0]] if uses_proxy else math.nan
    z = normal_quantile(confidence)

    def evaluate(budget: int, start: int, count: int) -> tuple[np.ndarray, int]:
        """The quantity of a ladder rung on points start..start+count-1, and the calls it spent."""
        nonlocal search_calls
        if budget in PROXY_POWERS:
            values, spent = proxy_range(start, count)  # type: ignore[misc]
            search_calls += spent
            return scale * values**power, spent
        radii, queries = run(start, count, budget if budget != top else None)
        return radii, int(queries.sum())

    # each level's terms: the pilot's, then one array per index range added round by round
    terms: list[list[np.ndarray]] = [[_term(pilot, ladder, level)] for level in range(len(ladder))]
    calls: list[int] = [_term_calls(pilot, ladder, level) for level in range(len(ladder))]
    if uses_proxy and pilot.proxy_sample.size:
        terms[0].append(scale * pilot.proxy_sample**power)
        calls[0] += sample_calls
    estimate, half_width = _combine(terms, pilot_points, z, confidence)
    for round_ in range(MAX_ROUNDS):
        if half_width <= precision * abs(estimate.value) or next_index >= max_points:
            break
        # the pilot's variances are rough: its round plans half the points, later rounds the rest
        share = FIRST_ROUND_SHARE if round_ == 0 else PLANNING_MARGIN
        target = precision * abs(estimate.value) / z / math.sqrt(share)
        have = [sum(t.size for t in level_terms) for level_terms in terms]
        wanted = _level_sizes(terms, calls, target)
        if all(w <= h for w, h in zip(wanted, have, strict=True)):
            # the plan (which leaves out the pilot's covariances) asks for nothing more: grow every level by the
            # ratio of the variance reached to the variance wanted
            growth = (half_width / (precision * abs(estimate.value))) ** 2 * PLANNING_MARGIN
            wanted = [math.ceil(h * growth) + 1 for h in have]
        for level, size in enumerate(wanted):
            extra = min(max(size - have[level], 0), max_points - next_index)
            if extra <= 0:
                continue
            term, spent = evaluate(ladder[level], next_index, extra)
            if level:
                coarse, coarse_spent = evaluate(ladder[level - 1], next_index, extra)
                term, spent = term - coarse, spent + coarse_spent
            terms[level].append(term)
            calls[level] += spent
            next_index += extra
        estimate, half_width = _combine(terms, pilot_points, z, confidence)
    reached = half_width / abs(estimate.value) if estimate.value else math.inf
    if reached > precision:
        why = (
            f"SearchConfig.precision_max_points={max_points} points were searched (raise it to go further)"
            if next_index >= max_points
            else f"{next_index} points were searched in {MAX_ROUNDS} rounds (the variances kept growing)"
        )
        warnings.warn(
            f"class_radius: the relative precision reached is {reached:.3g}, not the {precision:.3g} asked for: " + why,
            GenlooseWarning,
            stacklevel=stacklevel,
        )
    joined = [np.concatenate(t) for t in terms]
    summary = PrecisionSummary(
        requested=precision,
        reached=float(reached),
        met=bool(reached <= precision),
        total_calls=search_calls,
        pool_calls=pool_calls,
        pilot_points=pilot_points,
        pilot_calls=pilot_calls,
        level_budgets=np.array([max(b, 0) for b in ladder], dtype=np.int64),  # every proxy rung is budget 0
        level_coarse_budgets=np.array([0, *(max(b, 0) for b in ladder[:-1])], dtype=np.int64),
        level_points=np.array([t.size for t in joined], dtype=np.int64),
        level_calls=np.array(calls, dtype=np.int64),
        level_means=np.array([t.mean() for t in joined]),
        level_variances=np.array([t.var(ddof=1) for t in joined]),
        proxy_scale=float(scale),
        proxy_power=float(power),
    )
    return estimate, summary, full


def _undefined_summary(precision: float, calls: int, pool_calls: int, pilot_points: int) -> PrecisionSummary:
    """The summary of a run whose pilot found no witness at all: nothing was estimated."""
    empty_int, empty_float = np.zeros(0, dtype=np.int64), np.zeros(0)
    return PrecisionSummary(
        requested=precision,
        reached=math.nan,
        met=False,
        total_calls=calls,
        pool_calls=pool_calls,
        pilot_points=pilot_points,
        pilot_calls=calls,
        level_budgets=empty_int,
        level_coarse_budgets=empty_int,
        level_points=empty_int,
        level_calls=empty_int,
        level_means=empty_float,
        level_variances=empty_float,
    )


def _slope(proxy: np.ndarray, radii: np.ndarray) -> float:
    """The least-squares slope of ``radii`` on ``proxy`` (0 when the proxy does not vary)."""
    spread = float(np.var(proxy))
    return float(np.cov(proxy, radii, ddof=0)[0, 1]) / spread if spread > 0 else 0.0


def _term(samples: _Samples, ladder: tuple[int, ...], level: int) -> np.ndarray:
    fine = samples.value(ladder, level)
    return fine - samples.value(ladder, level - 1) if level else fine.copy()


def _term_calls(samples: _Samples, ladder: tuple[int, ...], level: int) -> int:
    spent = float(samples.queries[ladder[level]].sum())  # the proxy's calls are stored spread over its points
    return round(spent + (float(samples.queries[ladder[level - 1]].sum()) if level else 0.0))


def _cheapest_ladder(pilot: _Samples, candidates: list[int], top: int) -> tuple[int, ...]:
    """The budgets (ending at ``top``) whose multilevel estimator needs the fewest calls for a given variance.

    Each ladder is costed as it would be run: the level sizes of :func:`_allocation` (the optimal
    n_l ∝ sqrt(V_l / C_l), with the floor on the levels above the cheapest) times the calls per point. Without
    the floor that is (Σ sqrt(V_l C_l))²; with it, a level whose term is nearly 0 still costs its share of
    points, so a ladder does not keep levels that add nothing. Plain sampling at ``top`` is the ladder with one
    level. ``candidates`` are in increasing order (the proxy, if there, first).
    """
    best: tuple[float, tuple[int, ...]] = (math.inf, (top,))
    points = pilot.radii[top].size
    for size in range(len(candidates) + 1):
        for coarse in itertools.combinations(candidates, size):
            if sum(rung in PROXY_POWERS for rung in coarse) > 1:  # one proxy at most, as the cheapest level
                continue
            ladder = (*coarse, top)
            variances = [pilot.variance(ladder, level) for level in range(len(ladder))]
            per_point = [_term_calls(pilot, ladder, level) / points for level in range(len(ladder))]
            sizes = _allocation(variances, per_point, target_variance=1.0)
            cost = sum(n * c for n, c in zip(sizes, per_point, strict=True))
            if cost < best[0]:
                best = (cost, ladder)
    return best[1]


def _allocation(variances: list[float], per_point: list[float], target_variance: float) -> list[float]:
    """Points per level for a variance of the sum of ``target_variance`` at least calls: n_l ∝ sqrt(V_l / C_l).

    Every level above the cheapest keeps at least :data:`MIN_LEVEL_SHARE` of the cheapest level's points: a
    difference that was 0 on every pilot point (a cheap search that fails only rarely) would otherwise never be
    sampled again, and its rare failures would bias the estimate with an interval that cannot show it. A level
    held at that floor moves with the cheapest level, so the two are sized as one (variance ``V_0 + V_l / share``,
    calls ``C_0 + share·C_l`` per cheapest point) and its points count toward the target. Which levels sit at the
    floor is found by trying every set (at most 2^(L-1), L <= 6 levels) and keeping the cheapest allocation that
    respects the floor: the exact optimum of this convex problem.
    """
    variances = [max(v, 0.0) for v in variances]
    upper = range(1, len(variances))
    best: tuple[float, list[float]] | None = None
    for size in range(len(variances)):
        for floored in itertools.combinations(upper, size):
            free = [level for level in upper if level not in floored]
            v0 = variances[0] + sum(variances[level] for level in floored) / MIN_LEVEL_SHARE
            c0 = per_point[0] + MIN_LEVEL_SHARE * sum(per_point[level] for level in floored)
            groups = [(v0, c0), *((variances[level], per_point[level]) for level in free)]
            scale = sum(math.sqrt(v * c) for v, c in groups) / target_variance
            sizes = [scale * math.sqrt(v / c) if c > 0 else 0.0 for v, c in groups]
            floor = MIN_LEVEL_SHARE * sizes[0]
            if any(level_size < floor * (1.0 - 1e-12) for level_size in sizes[1:]):
                continue  # a free level below the floor: not an allocation this set can give
            out = [floor] * len(variances)
            out[0] = sizes[0]
            for level, level_size in zip(free, sizes[1:], strict=True):
                out[level] = level_size
            cost = sum(n * c for n, c in zip(out, per_point, strict=True))
            if best is None or cost < best[0]:
                best = (cost, out)
    assert best is not None  # the set of every level is always allowed
    return best[1]


def _level_sizes(terms: list[list[np.ndarray]], calls: list[int], target_stderr: float) -> list[int]:
    """Points per level for a standard error of ``target_stderr`` (:func:`_allocation`, rounded up)."""
    variances = [float(np.concatenate(t).var(ddof=1)) for t in terms]
    per_point = [c / sum(x.size for x in t) for c, t in zip(calls, terms, strict=True)]
    return [math.ceil(size) for size in _allocation(variances, per_point, target_stderr**2)]


def _combine(terms: list[list[np.ndarray]], pilot_points: int, z: float, confidence: float) -> tuple[Estimate, float]:
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
        value,
        stderr,
        n=_equivalent_sample_size(samples),
        confidence=confidence,
        method="multilevel Monte Carlo over search budgets",
    )
    return estimate, z * stderr


def _equivalent_sample_size(samples: list[np.ndarray]) -> int:
    """``1 +`` the Welch-Satterthwaite degrees of freedom of a sum of independent level means.

    ``Estimate.n`` is what a two-sample test reads the estimate's information from (``n - 1`` degrees of
    freedom); for a sum of level means that is df = (Σ V_l/n_l)² / Σ (V_l/n_l)² / (n_l - 1), at most the total
    number of terms and at least the smallest level's ``n_l - 1``. (The largest level's size, used before,
    overstated it: a few points at the full budget carry most of the variance.)
    """
    shares = np.array([float(s.var(ddof=1)) / s.size for s in samples])
    sizes = np.array([s.size for s in samples], dtype=np.float64)
    denominator = float(np.sum(shares**2 / (sizes - 1.0)))
    if not denominator > 0.0:  # every term constant: nothing to weigh, the terms themselves count
        return int(sizes.sum())
    return 1 + math.floor(float(shares.sum()) ** 2 / denominator)
