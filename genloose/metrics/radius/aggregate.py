"""Stage 6: aggregate per-point radii into the class-radius estimate, and check it against the universal cap.

The one radius aggregation: the search, the distributed merge of shards and the streaming
:class:`~genloose.accumulators.RadiusAccumulator` all call it, so a run, a sharded run and a stream
aggregate the same way. The cap itself is :func:`genloose.metrics.bounds.fawzi_cap`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy.special import ndtri

from genloose._errors import SearchFailureWarning, UndefinedMetricWarning
from genloose.estimate import Estimate
from genloose.metrics.bounds import fawzi_cap

__all__ = [
    "CAP_TEST_LEVEL",
    "LOWER_METHOD",
    "aggregate_radii",
    "censored_mean",
    "exceeds_cap",
    "lower_bound_estimate",
    "mean_estimate",
]


CAP_TEST_LEVEL = 1e-3  # one-sided false-alarm rate of the cap check when E r equals the cap exactly


def cap_check_applies(estimate: Estimate, cap: float, *, sampled: bool) -> bool:
    """Whether :func:`exceeds_cap` tests anything: a sample from N(0, I) of at least two points, finite numbers.

    Examples
    --------
    >>> e = Estimate.from_normal(0.9, 0.01, n=100, confidence=0.95, method="mean")
    >>> cap_check_applies(e, 0.8, sampled=True), cap_check_applies(e, 0.8, sampled=False)
    (True, False)
    """
    return bool(
        sampled
        and estimate.n >= 2
        and np.isfinite(estimate.stderr)
        and np.isfinite(estimate.value)
        and np.isfinite(cap)
    )


def exceeds_cap(estimate: Estimate, cap: float, cap_stderr: float, *, sampled: bool = True) -> bool:
    """Whether the estimate lies above the cap beyond both their errors (a one-sided z-test at CAP_TEST_LEVEL).

    The cap bounds the mean of r(z) over z ~ N(0, I), so the test applies only to a sample from N(0, I)
    (``sampled``; not to latents the caller chose) of at least two points with a finite standard error (one
    point has no error term to test with). Where it does not apply the answer is False: no failure is claimed.

    Parameters
    ----------
    estimate : Estimate
        The class-radius estimate.
    cap, cap_stderr : float
        The universal cap at the observed class frequencies, and its standard error.
    sampled : bool
        Whether the points were drawn from N(0, I) by the library.

    Returns
    -------
    bool
        True when the test applies and rejects "estimate <= cap".

    Examples
    --------
    >>> e = Estimate.from_normal(0.9, 0.01, n=100, confidence=0.95, method="mean")
    >>> exceeds_cap(e, 0.8, 0.01), exceeds_cap(e, 0.88, 0.01), exceeds_cap(e, 0.8, 0.01, sampled=False)
    (True, False, False)
    """
    if not cap_check_applies(estimate, cap, sampled=sampled):
        return False
    spread = math.hypot(estimate.stderr, cap_stderr if np.isfinite(cap_stderr) else 0.0)
    critical = float(ndtri(1.0 - CAP_TEST_LEVEL))
    return bool(estimate.value - cap > critical * spread)


def warn_exceeds_cap(estimate: Estimate, cap: float, cap_stderr: float, *, stacklevel: int) -> None:
    """The :class:`~genloose.SearchFailureWarning` of a failed cap check (``stacklevel`` from the caller)."""
    warnings.warn(
        f"class_radius: the estimate {estimate.value:.4g} ± {estimate.stderr:.2g} exceeds the universal "
        f"cap {cap:.4g} ± {cap_stderr:.2g} (one-sided test at level {CAP_TEST_LEVEL:g}): the search has failed",
        SearchFailureWarning,
        stacklevel=stacklevel + 1,
    )


_MEAN_METHOD = "mean of per-point upper bounds (witness distances), Monte Carlo Wald CI"
LOWER_METHOD = "mean of certified Lipschitz-margin lower bounds"


def censored_mean(
    k: int,
    n: int,
    confidence: float,
    moments: Callable[[], tuple[float, float]],
    *,
    undefined: str,
    stacklevel: int,
) -> Estimate:
    """The class-radius estimate of ``n`` points of which ``k`` have a finite radius, from their moments.

    ``moments()`` gives the mean of the ``k`` finite radii and its standard error (called only when
    ``k >= 1``; its standard error is unused for ``k = 1``). The ``n - k`` censored points are excluded and
    the method says how many. With no finite radius the estimate is NaN, with an
    :class:`~genloose.UndefinedMetricWarning` saying ``undefined`` (``stacklevel`` counted from the caller).
    The one place that shapes a class-radius estimate: :func:`mean_estimate` (from the radii) and the
    streaming :class:`~genloose.accumulators.RadiusAccumulator` (from sums) call it.

    Examples
    --------
    >>> censored_mean(3, 4, 0.95, lambda: (1.0, 0.25), undefined="", stacklevel=1).method.split("; ")[-1]
    '1 of 4 censored points excluded'
    """
    censored_note = "" if k == n else f"; {n - k} of {n} censored points excluded"
    method = _MEAN_METHOD + censored_note
    if k == 0:
        warnings.warn(undefined, UndefinedMetricWarning, stacklevel=stacklevel + 1)
        return Estimate(math.nan, math.nan, math.nan, math.nan, confidence, 0, method)
    mean, stderr = moments()
    if k == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, confidence, 1, method)
    return Estimate.from_normal(mean, stderr, n=k, confidence=confidence, method=method)


def mean_estimate(finite: np.ndarray, n: int, confidence: float) -> Estimate:
    """The class-radius estimate: the mean of the ``finite`` radii of ``n`` points, with a Monte Carlo Wald CI.

    The ``n - len(finite)`` censored points are excluded and the method says how many. With no finite radius
    the estimate is NaN, with an :class:`~genloose.UndefinedMetricWarning`.

    Examples
    --------
    >>> mean_estimate(np.array([0.5, 1.0, 1.5]), 4, 0.95).method.endswith("1 of 4 censored points excluded")
    True
    """
    k = finite.size

    def moments() -> tuple[float, float]:
        return float(finite.mean()), float(finite.std(ddof=1) / math.sqrt(k)) if k > 1 else math.nan

    return censored_mean(
        k,
        n,
        confidence,
        moments,
        undefined="class_radius: every point is censored (no differently-labelled point was found; "
        "a single-class model?); the estimate is NaN",
        stacklevel=5,  # the user's call of class_radius: via aggregate_radii, _search, class_radius
    )


def lower_bound_estimate(lower: np.ndarray, confidence: float) -> Estimate:
    """The mean of certified per-point lower bounds with its Monte Carlo Wald CI (brackets the class radius).

    Examples
    --------
    >>> lower_bound_estimate(np.array([0.25, 0.75]), 0.95).value
    0.5
    """
    n = lower.shape[0]
    return Estimate.from_normal(
        float(lower.mean()),
        float(lower.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        n=n,
        confidence=confidence,
        method=LOWER_METHOD,
    )


def aggregate_radii(
    radii: np.ndarray, censored: np.ndarray, class_counts_with_pool: np.ndarray, confidence: float, *, sampled: bool
) -> tuple[Estimate, float, float, bool]:
    """Stage 6 whole: the estimate, the Fawzi cap and its error, and the cap check, of a run or merged shards.

    Parameters
    ----------
    radii, censored : numpy.ndarray
        Per-point radii and censoring flags.
    class_counts_with_pool : numpy.ndarray
        Label counts over the sample and the seeding pool (the frequencies of the cap).
    confidence : float
        Level of the interval.
    sampled : bool
        Whether the points were drawn from N(0, I) by the library (see :func:`exceeds_cap`).

    Returns
    -------
    (Estimate, float, float, bool)
        The estimate, the cap, its standard error, and whether the estimate exceeds the cap.

    Examples
    --------
    >>> estimate, cap, _, exceeds = aggregate_radii(np.array([0.5, 1.0]), np.array([False, False]),
    ...                                             np.array([50, 50]), 0.95, sampled=True)
    >>> estimate.value, round(cap, 4), exceeds
    (0.75, 0.7979, False)
    """
    estimate = mean_estimate(radii[~censored], radii.shape[0], confidence)
    cap, cap_stderr = fawzi_cap(class_counts_with_pool)
    return estimate, cap, cap_stderr, exceeds_cap(estimate, cap, cap_stderr, sampled=sampled)
