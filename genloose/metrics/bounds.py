"""Statistical inference on the paper's bounds: each bound at the sample's estimates, with an interval.

The closed forms are in :mod:`genloose.theory`; here they are evaluated at estimated quantities (class
frequencies, the collision probability, the class radius) and the estimates' intervals are mapped through
them (monotone maps keep the coverage) with delta-method standard errors. The Fawzi cap and its error are
computed here only (:func:`fawzi_cap`): by the search's cap check (:mod:`genloose.metrics.radius.aggregate`)
and by the report alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genloose.estimate import Estimate

__all__ = [
    "BoundEstimate",
    "Bounds",
    "entropy_upper_bound_estimate",
    "fawzi_cap",
    "fawzi_cap_estimate",
    "theorem_3_1_estimate",
    "theorem_3_2_estimate",
]


@dataclass(frozen=True)
class BoundEstimate(Estimate):
    """An :class:`~genloose.Estimate` of a bound, with whether the theorem's hypothesis holds.

    When ``hypothesis_holds`` is false the bound is not a guarantee for this model, and ``value``,
    ``ci_low`` and ``ci_high`` are NaN (call :mod:`genloose.theory` with ``check_hypothesis=False`` for the
    raw formula).

    Attributes
    ----------
    hypothesis_holds : bool
        Whether the hypothesis holds at the sample estimates.
    hypothesis : str
        The hypothesis, and the sample value it was checked on.

    Examples
    --------
    >>> b = BoundEstimate(1.0, 0.1, 0.8, 1.2, 0.95, 100, "example", hypothesis_holds=True, hypothesis="none")
    >>> b.hypothesis_holds, b.contains(1.1)
    (True, True)
    """

    hypothesis_holds: bool = True
    hypothesis: str = ""


@dataclass(frozen=True)
class Bounds:
    """The paper's bounds evaluated at the report's estimates, with intervals mapped through them.

    Attributes
    ----------
    fawzi_cap : BoundEstimate
        :math:`U(\\hat p) = \\sum_k \\psi(\\Phi^{-1}(\\hat p_k))` at the class frequencies of the sample and
        the seeding pool (both drawn from N(0, I)), with a delta-method interval: the same estimate as
        ``RadiusResult.fawzi_cap``, which the search's cap check uses. Holds for every classifier (no
        hypothesis); the class radius cannot exceed
        the cap at the true :math:`p`.
    theorem_3_1_bound : BoundEstimate
        :math:`g(q)` at the collision-probability estimate; its interval is the collision probability's
        interval (clipped to :math:`[0, 1/5]`) mapped through the increasing :math:`g`. Hypothesis: every
        :math:`p_k \\le 1/5`, checked on :math:`\\hat p`.
    theorem_3_2_bound : BoundEstimate
        :math:`g(1/K)` at the observed number of classes :math:`K` (no sampling interval: NaN). Hypothesis:
        :math:`K \\ge 5`.
    collision_entropy_upper_bound : BoundEstimate
        :math:`G^{-1}(\\bar r)`, the largest collision entropy Theorem 3.1 allows at the measured radius;
        its interval is the radius interval mapped through the decreasing :math:`G^{-1}`. Hypothesis:
        every :math:`\\hat p_k \\le 1/5` and :math:`\\bar r \\le g(1/5)`. The radius is an upper estimate
        (search error is one-sided), so this bound is a *lower* estimate of the bound at the exact radius.
    """

    fawzi_cap: BoundEstimate
    theorem_3_1_bound: BoundEstimate
    theorem_3_2_bound: BoundEstimate
    collision_entropy_upper_bound: BoundEstimate


def fawzi_cap(counts: np.ndarray) -> tuple[float, float]:
    """The universal cap at the observed class frequencies, and its delta-method standard error.

    With a_k = Φ⁻¹(p_k), dU/dp_k = p_k / φ(a_k); under multinomial sampling of the n labels,
    Var(Û) ≈ (Σ g_k² p_k - (Σ g_k p_k)²) / n.

    Examples
    --------
    >>> cap, stderr = fawzi_cap(np.array([500, 500]))
    >>> round(cap, 4), stderr  # two equal classes: sqrt(2/pi), at its maximum in p, so zero slope
    (0.7979, 0.0)
    """
    from genloose.theory import fawzi_bound, normal_logpdf, normal_ppf

    total = counts.sum()
    p = counts[counts > 0] / total
    cap = float(fawzi_bound(p))
    if not np.isfinite(cap):
        return cap, math.nan
    grad = np.exp(np.log(p) - normal_logpdf(normal_ppf(p)))
    variance = max(float((grad**2 * p).sum() - (grad * p).sum() ** 2), 0.0) / total
    return cap, math.sqrt(variance)


def _point_bound(
    value: float, n: int, confidence: float, method: str, hypothesis: str, *, holds: bool = True
) -> BoundEstimate:
    """A bound with a value but no sampling error or interval (NaN value where the hypothesis fails)."""
    return BoundEstimate(
        value,
        math.nan,
        math.nan,
        math.nan,
        confidence,
        n,
        method,
        hypothesis_holds=holds,
        hypothesis=hypothesis,
    )


def _nan_bound(n: int, confidence: float, method: str, hypothesis: str, holds: bool) -> BoundEstimate:
    return _point_bound(math.nan, n, confidence, method, hypothesis, holds=holds)


def fawzi_cap_estimate(counts: np.ndarray, confidence: float) -> BoundEstimate:
    """The Fawzi cap at the class frequencies of ``counts``, with its delta-method Wald interval.

    :func:`fawzi_cap` as a :class:`BoundEstimate`. :func:`genloose.evaluate` gives it the counts of the
    sample and the seeding pool (``RadiusResult.class_counts_with_pool``), so the report's cap is the
    search's cap, the one its cap check uses. One observed class gives ``inf`` (no boundary) with NaN
    error and interval.

    Examples
    --------
    >>> import numpy as np
    >>> round(fawzi_cap_estimate(np.array([500, 500]), 0.95).value, 6)  # sqrt(2/pi)
    0.797885
    """
    n = int(counts.sum())
    method = "plug-in at the sample and seeding-pool frequencies, delta-method Wald CI"
    hypothesis = "none (holds for every classifier)"
    value, stderr = fawzi_cap(counts)
    if not math.isfinite(value):
        return _point_bound(value, n, confidence, method + " (one class: no boundary)", hypothesis)
    e = Estimate.from_normal(value, stderr, n=n, confidence=confidence, method=method)
    return BoundEstimate(
        e.value,
        e.stderr,
        e.ci_low,
        e.ci_high,
        e.confidence,
        e.n,
        e.method,
        hypothesis_holds=True,
        hypothesis=hypothesis,
    )


def theorem_3_1_estimate(collision: Estimate, max_probability: float) -> BoundEstimate:
    """Theorem 3.1's :math:`g(q)` at the collision-probability estimate, its interval mapped through g.

    The interval of :math:`q` is clipped to :math:`[0, 1/5]` (under the hypothesis :math:`q \\le 1/5`;
    :math:`g(0) = 0` is the limit) and mapped through the increasing :math:`g`, which keeps its coverage;
    the standard error is the delta method's. NaN when the hypothesis fails at :math:`\\hat p`.

    Examples
    --------
    >>> from genloose.estimate import Estimate
    >>> q = Estimate.from_normal(0.1, 0.01, n=1000, confidence=0.95, method="u")
    >>> round(theorem_3_1_estimate(q, 0.12).value, 6)
    1.568085
    """
    from genloose.theory import HYPOTHESIS_MAX_PROBABILITY, g_prime, theorem_3_1_bound

    top = HYPOTHESIS_MAX_PROBABILITY
    hypothesis = f"every p_k <= 1/5 (max p̂ = {max_probability:.4g})"
    method = "g at the collision-probability estimate; CI mapped through g (q clipped to [0, 1/5])"
    holds = bool(max_probability <= top)
    if not holds or math.isnan(collision.value):
        return _nan_bound(collision.n, collision.confidence, method, hypothesis, holds)

    def g(q: float) -> float:
        if math.isnan(q):
            return math.nan
        q = min(q, top)
        return 0.0 if q <= 0 else float(theorem_3_1_bound(q, check_hypothesis=False))

    value = g(collision.value)
    q = collision.value
    stderr = abs(float(g_prime(q))) * collision.stderr if 0 < q < 1 else math.nan
    return BoundEstimate(
        value,
        stderr,
        g(collision.ci_low),
        g(collision.ci_high),
        collision.confidence,
        collision.n,
        method,
        hypothesis_holds=True,
        hypothesis=hypothesis,
    )


def theorem_3_2_estimate(num_observed: int, n: int, confidence: float) -> BoundEstimate:
    """Theorem 3.2's :math:`g(1/K)` at the observed number of classes (no sampling interval).

    Examples
    --------
    >>> round(theorem_3_2_estimate(10, 100, 0.95).value, 6)
    1.568085
    """
    from genloose.theory import theorem_3_2_bound

    method = f"g(1/K) at the observed number of classes K={num_observed} (no sampling interval)"
    hypothesis = f"K >= 5 (K = {num_observed} observed)"
    if num_observed < 5:
        return _nan_bound(n, confidence, method, hypothesis, False)
    return _point_bound(float(theorem_3_2_bound(num_observed)), n, confidence, method, hypothesis)


def entropy_upper_bound_estimate(radius: Estimate, max_probability: float) -> BoundEstimate:
    """:math:`G^{-1}(\\bar r)`, the collision-entropy bound at the measured radius, interval mapped.

    :math:`G^{-1}` decreases, so the interval is :math:`[G^{-1}(r_{hi}), G^{-1}(r_{lo})]` with the radius
    interval clipped to :math:`[0, g(1/5)]` (under the hypothesis the radius is at most :math:`g(1/5)`).
    NaN when every :math:`\\hat p_k \\le 1/5` fails or the radius estimate exceeds :math:`g(1/5)`.

    Examples
    --------
    >>> from genloose.estimate import Estimate
    >>> r = Estimate.from_normal(1.0, 0.01, n=1000, confidence=0.95, method="mean")
    >>> from genloose.theory import collision_entropy_upper_bound
    >>> entropy_upper_bound_estimate(r, 0.1).value == collision_entropy_upper_bound(1.0)
    True
    """
    from genloose.theory import THEOREM_3_1_RADIUS_LIMIT, collision_entropy_upper_bound, g_entropy_prime

    limit = THEOREM_3_1_RADIUS_LIMIT
    method = "G^-1 at the radius estimate; CI mapped through the decreasing G^-1 (radius clipped to [0, g(1/5)])"
    hypothesis = (
        f"every p_k <= 1/5 (max p̂ = {max_probability:.4g}) and radius <= g(1/5) = {limit:.4f} "
        f"(radius = {radius.value:.4g})"
    )
    holds = bool(max_probability <= 0.2 and radius.value <= limit)
    if not holds or math.isnan(radius.value):
        return _nan_bound(radius.n, radius.confidence, method, hypothesis, holds and not math.isnan(radius.value))

    def inverse(r: float) -> float:
        if math.isnan(r):
            return math.nan
        return float(collision_entropy_upper_bound(min(max(r, 0.0), limit)))

    value = inverse(radius.value)
    # dG^-1/dr = 1 / G'(H) at H = G^-1(r)
    slope = float(g_entropy_prime(value)) if math.isfinite(value) and radius.value > 0 else 0.0
    stderr = radius.stderr / abs(slope) if slope != 0 else math.nan
    return BoundEstimate(
        value,
        stderr,
        inverse(radius.ci_high),
        inverse(radius.ci_low),
        radius.confidence,
        radius.n,
        method,
        hypothesis_holds=True,
        hypothesis=hypothesis,
    )
