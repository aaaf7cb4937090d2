"""Stage 6: aggregate per-point radii into the class-radius estimate, and check it against the universal cap.

Shared by the search and by the distributed merge of shards, so one run and a sharded run aggregate the same way.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import ndtri

from genloose._errors import UndefinedMetricWarning
from genloose.estimate import Estimate
from genloose.metrics.bounds import fawzi_cap

__all__ = ["CAP_TEST_LEVEL", "exceeds_cap", "fawzi_cap", "mean_estimate"]


CAP_TEST_LEVEL = 1e-3  # one-sided false-alarm rate of the cap check when E r equals the cap exactly


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
    if not (sampled and estimate.n >= 2 and np.isfinite(estimate.stderr)):
        return False
    if not (np.isfinite(estimate.value) and np.isfinite(cap)):
        return False
    spread = math.hypot(estimate.stderr, cap_stderr if np.isfinite(cap_stderr) else 0.0)
    critical = float(ndtri(1.0 - CAP_TEST_LEVEL))
    return bool(estimate.value - cap > critical * spread)


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
    censored_note = "" if k == n else f"; {n - k} of {n} censored points excluded"
    method = "mean of per-point upper bounds (witness distances), Monte Carlo Wald CI" + censored_note
    if k == 0:
        warnings.warn(
            "class_radius: every point is censored (no differently-labelled point was found; "
            "a single-class model?); the estimate is NaN",
            UndefinedMetricWarning,
            stacklevel=4,
        )
        return Estimate(math.nan, math.nan, math.nan, math.nan, confidence, 0, method)
    stderr = float(finite.std(ddof=1) / math.sqrt(k)) if k > 1 else math.nan
    if k == 1:
        return Estimate(float(finite[0]), math.nan, math.nan, math.nan, confidence, 1, method)
    return Estimate.from_normal(float(finite.mean()), stderr, n=k, confidence=confidence, method=method)
