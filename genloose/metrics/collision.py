"""Collision probability ||p||², collision entropy and Rényi entropies of a class distribution.

Every estimator here works on the class *counts* ``n_k`` of ``n`` labels drawn i.i.d. from an unknown
distribution ``p``; the label functions count and call the ``*_from_counts`` functions, and
:class:`CollisionCounter` accumulates counts batch by batch (and shard by shard) for the same
results on the union. See ``docs/collision.md`` for the formulas and the measured coverage of the
confidence interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from genloose._errors import InvalidArgumentError, UndefinedMetricWarning
from genloose._validation import (
    MAX_COUNT,
    MAX_NUM_CLASSES,
    _to_numpy,
    as_label_array,
    check_choice,
    check_confidence,
    check_float,
    check_num_classes,
    fail,
)
from genloose.estimate import Estimate, normal_quantile
from genloose.metrics._state import SumState

__all__ = [
    "CollisionCounter",
    "collision_entropy",
    "collision_entropy_from_counts",
    "collision_probability",
    "collision_probability_from_counts",
    "collision_transforms",
    "effective_number_of_classes",
    "effective_number_of_classes_from_counts",
    "renyi_entropy",
    "renyi_entropy_from_counts",
]

Method = Literal["unbiased", "plugin"]
_METHODS = ("unbiased", "plugin")
_METHOD_NAMES = {
    "unbiased": "u-statistic, score interval",
    "plugin": "plug-in (biased up by ~(1-q)/n), score interval for q",
}
_GRID = 64  # geometric grid points per side when inverting the score test
_BISECTIONS = 60


# --------------------------------------------------------------------------- input handling
def _as_counts(counts: Any, name: str = "counts") -> np.ndarray:
    """Validate class counts: a non-empty 1-D array of non-negative integers with a positive sum."""
    array = _to_numpy(counts, name)
    if array.ndim != 1:
        raise fail(name, "a 1-D array of class counts", counts)
    if array.dtype.kind not in "iu":
        raise fail(name, "integer class counts (int dtype; floats and booleans are refused)", counts)
    if array.size and array.dtype.kind == "i" and array.min() < 0:
        raise InvalidArgumentError(f"{name} must be non-negative class counts; got minimum {int(array.min())}")
    # the sum in float64 cannot overflow: a total far beyond 2**53 is refused before int64 arithmetic could wrap,
    # and one just beyond it by the exact integer sum
    approximate = float(array.sum(dtype=np.float64)) if array.size else 0.0
    total = int(array.astype(np.int64, copy=False).sum()) if array.size and approximate <= 2.0 * MAX_COUNT else 0
    if approximate > 2.0 * MAX_COUNT or total > MAX_COUNT:
        raise InvalidArgumentError(
            f"{name} must sum to at most 2**53 (the integers float64 holds exactly); got a sum of "
            f"{max(total, approximate):.4g}"
        )
    array = array.astype(np.int64, copy=False)
    if total == 0:
        raise InvalidArgumentError(f"{name} must count at least one sample; got 0 sample(s)")
    return array


def _label_counts(labels: Any, num_classes: int | None) -> np.ndarray:
    """The counts of the classes that occur (in class order): the estimators depend only on these, so a
    label of 10**12 costs no more memory than a label of 1."""
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    array = as_label_array(labels, name="labels", num_classes=num_classes)
    return np.unique(array, return_counts=True)[1].astype(np.int64)


def _warn(message: str) -> None:
    # stacklevel 3: the warning points at the caller of the public function.
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def _too_few(n: int, what: str) -> str:
    return (
        f"{what} needs at least 2 samples (no pair to compare); got n={n}: returning NaN "
        "with the whole parameter range as interval"
    )


# --------------------------------------------------------------------------- vectorised core
def _pair_stats(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Sufficient statistics of count vectors ``counts`` (shape ``(R, K)``, every ``n >= 2``)."""
    c = counts.astype(np.float64)
    n = c.sum(axis=1)
    n2 = n * (n - 1.0)
    n3 = n2 * (n - 2.0)
    u = (c * (c - 1.0)).sum(axis=1) / n2
    f3 = (c * (c - 1.0) * (c - 2.0)).sum(axis=1)
    s3 = np.divide(f3, n3, out=np.zeros_like(n), where=n3 > 0)
    k_obs = (counts > 0).sum(axis=1).astype(np.float64)
    # e_k = n * k_obs * (n_k/n - 1/k_obs) on the observed classes, exact in integers.
    e = np.where(counts > 0, c * k_obs[:, None] - n[:, None], 0.0)
    e2 = (e * e).sum(axis=1)
    e3 = (e * e * e).sum(axis=1)
    c3 = np.divide(e3, e2**1.5, out=np.zeros_like(n), where=e2 > 0)
    return {"n": n, "u": u, "s3": s3, "k_obs": k_obs, "c3": np.clip(c3, -1.0, 1.0)}


def _variance_terms(st: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``a``, ``b`` of Var(U) = a ζ1 + b ζ2, and the estimated ratio ζ1/ζ2."""
    n, u = st["n"], st["u"]
    a = 4.0 * (n - 2.0) / (n * (n - 1.0))
    b = 2.0 / (n * (n - 1.0))
    zeta1 = np.maximum(st["s3"] - u * u, 0.0)
    zeta2 = u - u * u
    limit = np.where(u >= 1.0, 0.5, 0.0)  # ζ1/ζ2 -> 1/2 as q -> 1; 0 when there are no pairs alike
    ratio = np.divide(zeta1, zeta2, out=limit.copy(), where=zeta2 > 0)
    return a, b, ratio


def _u_statistic_variance(n: Any, sum_p2: Any, sum_p3: Any) -> Any:
    """Exact Var(U) of the order-2 U-statistic with kernel 1[x = y] (ζ1 floored at 0)."""
    zeta1 = np.maximum(sum_p3 - sum_p2 * sum_p2, 0.0)
    zeta2 = sum_p2 - sum_p2 * sum_p2
    return 4.0 * (n - 2.0) / (n * (n - 1.0)) * zeta1 + 2.0 / (n * (n - 1.0)) * zeta2


def _stderr(st: dict[str, np.ndarray]) -> np.ndarray:
    """Plug-in of the exact U-statistic variance, ζ1 and ζ2 from unbiased Σp², Σp³."""
    return np.sqrt(_u_statistic_variance(st["n"], st["u"], st["s3"]))


def _score_interval(st: dict[str, np.ndarray], z: float) -> tuple[np.ndarray, np.ndarray]:
    """Invert ``(U - q0)² <= z² V(q0)`` over q0 in [0, 1] (see :func:`collision_probability`)."""
    u = st["u"]
    a, b, ratio = _variance_terms(st)
    k_obs, c3 = st["k_obs"], st["c3"]

    def excess(q0: np.ndarray) -> np.ndarray:  # > 0 where q0 is rejected
        col = (slice(None),) + (None,) * (q0.ndim - 1)
        q0 = np.clip(q0, 0.0, 1.0)
        binom = q0 * (1.0 - q0)
        v_design = (a * ratio + b)[col] * binom
        s = np.maximum(q0 - 1.0 / k_obs[col], 0.0)
        zeta1 = s / k_obs[col] + c3[col] * s**1.5 - s * s
        zeta1 = np.clip(zeta1, 0.0, np.maximum(q0**1.5 - q0 * q0, 0.0))
        v_radial = a[col] * zeta1 + b[col] * binom
        return (u[col] - q0) ** 2 - z * z * np.maximum(v_design, v_radial)

    steps = 2.0 ** -np.arange(_GRID)
    rows = np.arange(u.size)

    def side(end: float) -> np.ndarray:
        grid = u[:, None] + (end - u)[:, None] * steps[None, :]  # outermost first
        accepted = excess(grid) <= 0
        first = np.where(accepted.any(axis=1), accepted.argmax(axis=1), _GRID)
        inner = np.where(first < _GRID, grid[rows, np.minimum(first, _GRID - 1)], u)
        outer = np.where(first > 0, grid[rows, np.maximum(first - 1, 0)], end)
        for _ in range(_BISECTIONS):
            mid = 0.5 * (inner + outer)
            ok = excess(mid) <= 0
            inner = np.where(ok, mid, inner)
            outer = np.where(ok, outer, mid)
        return np.where(first == 0, end, outer)

    return side(0.0), side(1.0)


# --------------------------------------------------------------------------- collision probability
def _collision_from_counts(counts: np.ndarray, method: str, confidence: float) -> tuple[Estimate, str | None]:
    n = int(counts.sum())
    name = _METHOD_NAMES[method]
    if n < 2:
        est = Estimate(math.nan, math.nan, 0.0, 1.0, confidence, n, name)
        return est, _too_few(n, "the collision probability")
    st = _pair_stats(counts[None, :])
    low, high = _score_interval(st, normal_quantile(confidence))
    u = float(st["u"][0])
    se = float(_stderr(st)[0])
    if method == "unbiased":
        value = u
    else:
        value = float((counts.astype(np.float64) ** 2).sum() / float(n) ** 2)
        se *= (n - 1) / n
    return Estimate(value, se, float(low[0]), float(high[0]), confidence, n, name), None


def collision_probability_from_counts(
    counts: Any, *, method: Method = "unbiased", confidence: float = 0.95
) -> Estimate:
    r"""The collision probability :math:`\|p\|_2^2` from class counts.

    Parameters
    ----------
    counts : array-like of int, shape (K,)
        ``counts[k]`` is the number of samples with label ``k`` (list, numpy array or torch tensor
        of non-negative integers, at least one sample in total).
    method : {"unbiased", "plugin"}
        ``"unbiased"`` (default) is the U-statistic
        :math:`\hat q = \sum_k n_k(n_k-1) / (n(n-1))`, the fraction of the :math:`n(n-1)/2` pairs of
        samples that share a label, unbiased for :math:`\|p\|^2`. ``"plugin"`` is
        :math:`\sum_k (n_k/n)^2 = ((n-1)\hat q + 1)/n`, biased up by
        :math:`(1-\|p\|^2)/n`.
    confidence : float
        Level of the interval, strictly between 0 and 1.

    Returns
    -------
    Estimate
        ``stderr`` is the estimated standard deviation of the estimator: for the U-statistic

        .. math:: \operatorname{Var}\hat q = \frac{4(n-2)}{n(n-1)}\zeta_1 + \frac{2}{n(n-1)}\zeta_2,
           \quad \zeta_1 = \textstyle\sum p^3 - (\sum p^2)^2,\ \zeta_2 = \sum p^2 - (\sum p^2)^2,

        with :math:`\sum p^2` and :math:`\sum p^3` replaced by their unbiased estimators
        :math:`\hat q` and :math:`\sum n_k(n_k-1)(n_k-2)/(n(n-1)(n-2))`, and
        :math:`\hat\zeta_1` set to 0 when negative (:math:`\zeta_1 \ge 0` always). The plug-in's
        stderr is this times :math:`(n-1)/n`.

        ``[ci_low, ci_high]`` is an interval for :math:`q = \|p\|^2` (the same for both methods,
        so it may exclude the biased plug-in value): a score-type (Wilson-type) interval, the set
        of :math:`q_0 \in [0, 1]` with :math:`(\hat q - q_0)^2 \le z^2 V(q_0)`, where
        :math:`V(q_0)` is the larger of two models of the variance at :math:`q_0`: the design-effect
        model :math:`(a\hat\zeta_1/\hat\zeta_2 + b)\,q_0(1-q_0)` (a Wilson interval on the
        :math:`n(n-1)/2` pairs with a design effect), and a near-uniform model in which
        :math:`\zeta_1` is that of the distribution moved radially from the uniform one on the
        observed classes until :math:`\|p\|^2 = q_0`. It needs no special case at
        :math:`\hat q = 0` (then it is :math:`[0, \approx z^2 / \binom{n}{2}]`, a rule of three for
        pairs) or :math:`\hat q = 1`, and stays in [0, 1]. Its coverage, measured over seeded
        replications, is close to nominal for large n and for small q, conservative near a uniform
        distribution on few classes, and somewhat low for n of a few tens with a heavy tail: see
        ``docs/collision.md``.

        For fewer than 2 samples the estimate is undefined: an :class:`UndefinedMetricWarning`, a
        NaN value and stderr, and the interval [0, 1].

    Notes
    -----
    :math:`\|p\|^2` is the probability that two independent samples share a class: the quantity
    that Theorem 3.1 of Manoj (2018), "Looser is Worse", bounds through the class radius.

    Examples
    --------
    >>> est = collision_probability_from_counts([3, 1, 0, 2])
    >>> round(est.value, 6)  # (3*2 + 0 + 0 + 2*1) / (6*5)
    0.266667
    >>> est.ci_low < est.value < est.ci_high
    True
    >>> round(collision_probability_from_counts([3, 1, 0, 2], method="plugin").value, 6)  # 14/36
    0.388889
    """
    array = _as_counts(counts)
    method = check_choice("method", method, _METHODS)
    confidence = check_confidence(confidence)
    est, message = _collision_from_counts(array, method, confidence)
    if message:
        _warn(message)
    return est


def collision_probability(
    labels: Any,
    *,
    num_classes: int | None = None,
    method: Method = "unbiased",
    confidence: float = 0.95,
) -> Estimate:
    r"""The collision probability :math:`\|p\|_2^2` of the distribution the labels were drawn from.

    Counts the labels and calls :func:`collision_probability_from_counts`; see there for the
    estimators, the standard error, the interval and the policy for fewer than 2 samples.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class labels (list, numpy array or torch tensor of non-negative integers, non-empty).
    num_classes : int, optional
        If given, every label must be below it.
    method : {"unbiased", "plugin"}
        The U-statistic (default) or the plug-in estimator.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    The collision probability of Theorem 3.1 of Manoj (2018), "Looser is Worse".

    Examples
    --------
    >>> est = collision_probability([0, 0, 1, 2, 2, 2])
    >>> round(est.value, 6)  # (2*1 + 3*2) / (6*5) = 8/30
    0.266667
    >>> est.method
    'u-statistic, score interval'
    """
    counts = _label_counts(labels, num_classes)
    return collision_probability_from_counts(counts, method=method, confidence=confidence)


# --------------------------------------------------------------------------- monotone transforms
def _neg_log(x: float) -> float:
    if math.isnan(x):
        return math.nan
    return math.inf if x <= 0.0 else -math.log(x)


def _neg_log_derivative(x: float) -> float:
    return -math.inf if x <= 0.0 else -1.0 / x


def _inverse(x: float) -> float:
    if math.isnan(x):
        return math.nan
    return math.inf if x <= 0.0 else 1.0 / x


def _inverse_derivative(x: float) -> float:
    return -math.inf if x <= 0.0 else -1.0 / (x * x)


def _zero_message(what: str, *, plural: bool = False) -> str:
    are = "estimates are +inf, their" if plural else "estimate is +inf, its"
    return (
        f"no two samples share a class (collision probability estimate 0): the {what} {are} stderr NaN, "
        "and ci_low comes from the upper end of the interval for the collision probability"
    )


def _map_decreasing(
    est: Estimate, fn: Callable[[float], float], derivative: Callable[[float], float], label: str
) -> Estimate:
    """``est`` mapped through a decreasing transform; NaN stderr where the estimate is 0 (value +inf)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = est.transform(fn, increasing=False, derivative=derivative, method=f"{label} of the {est.method}")
    return replace(out, stderr=math.nan) if est.value == 0.0 else out


def _transformed_from_counts(
    counts: Any,
    method: Any,
    confidence: Any,
    fn: Any,
    derivative: Any,
    label: str,
    what: str,
) -> Estimate:
    """Validate, estimate the collision probability, and map it through a decreasing transform."""
    array = _as_counts(counts)
    method = check_choice("method", method, _METHODS)
    confidence = check_confidence(confidence)
    out, message = _decreasing_from_counts(array, method, confidence, fn, derivative, label, what)
    if message:
        _warn(message)
    return out


def _decreasing_from_counts(
    counts: np.ndarray,
    method: str,
    confidence: float,
    fn: Callable[[float], float],
    derivative: Callable[[float], float],
    label: str,
    what: str,
) -> tuple[Estimate, str | None]:
    """The collision probability of valid counts mapped through a decreasing transform, and any warning."""
    est, message = _collision_from_counts(counts, method, confidence)
    if message is None and est.value == 0.0:
        message = _zero_message(what)
    return _map_decreasing(est, fn, derivative, label), message


def collision_transforms(collision: Estimate) -> tuple[Estimate, Estimate]:
    r"""The collision entropy and the effective number of classes from a collision-probability estimate.

    The same as :func:`collision_entropy_from_counts` and :func:`effective_number_of_classes_from_counts`
    on the counts behind ``collision``, without estimating :math:`q` again: :math:`-\log\hat q` and
    :math:`1/\hat q`, the interval of :math:`q` mapped through these decreasing functions, the delta-method
    standard errors :math:`\mathrm{se}/\hat q` and :math:`\mathrm{se}/\hat q^2`. When :math:`\hat q = 0`
    (no two samples share a class) both are :math:`+\infty` with a NaN standard error and one
    :class:`~genloose.UndefinedMetricWarning`.

    Parameters
    ----------
    collision : Estimate
        A collision-probability estimate, e.g. from :func:`collision_probability_from_counts`.

    Returns
    -------
    (Estimate, Estimate)
        The collision entropy (nats) and the effective number of classes.

    Raises
    ------
    InvalidArgumentError
        ``collision`` is not an :class:`~genloose.Estimate`.

    Examples
    --------
    >>> entropy, effective = collision_transforms(collision_probability_from_counts([4, 4, 4, 4]))
    >>> round(effective.value, 4), round(entropy.value, 4)  # 1 / (48/240), log 5
    (5.0, 1.6094)
    """
    if not isinstance(collision, Estimate):
        raise fail("collision", "an Estimate of the collision probability", collision)
    entropy = _map_decreasing(collision, _neg_log, _neg_log_derivative, "-log")
    effective = _map_decreasing(collision, _inverse, _inverse_derivative, "inverse")
    if collision.value == 0.0:
        _warn(_zero_message("collision entropy and the effective number of classes", plural=True))
    return entropy, effective


def collision_entropy_from_counts(counts: Any, *, method: Method = "unbiased", confidence: float = 0.95) -> Estimate:
    r"""The collision entropy (Rényi entropy of order 2) :math:`-\log\|p\|_2^2`, in nats.

    The estimate is :math:`-\log\hat q` for the chosen estimator :math:`\hat q` of
    :func:`collision_probability_from_counts` (not itself unbiased: :math:`-\log` is convex), the
    interval is that of :math:`q` mapped through the decreasing :math:`-\log`, so it keeps its
    coverage exactly, and the stderr is the delta method's :math:`\mathrm{se}(\hat q)/\hat q`.

    When no two samples share a class (:math:`\hat q = 0`) the estimate is :math:`+\infty`: an
    :class:`UndefinedMetricWarning` is emitted, ``stderr`` is NaN, ``ci_high`` is :math:`+\infty`
    and ``ci_low`` is finite, :math:`-\log` of the upper end of the interval for :math:`q`. Fewer
    than 2 samples: a warning, NaN value and the interval :math:`[0, +\infty]`.

    Parameters
    ----------
    counts : array-like of int, shape (K,)
        Class counts.
    method : {"unbiased", "plugin"}
        Estimator of :math:`\|p\|^2` whose :math:`-\log` is taken.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    The collision entropy of Manoj (2018), "Looser is Worse" (Theorem 3.1 and footnote 4).

    Examples
    --------
    >>> est = collision_entropy_from_counts([5, 5])
    >>> round(est.value, 4)  # -log(40/90)
    0.8109
    >>> est.ci_low <= est.value <= est.ci_high
    True
    """
    return _transformed_from_counts(
        counts, method, confidence, _neg_log, _neg_log_derivative, "-log", "collision entropy"
    )


def collision_entropy(
    labels: Any,
    *,
    num_classes: int | None = None,
    method: Method = "unbiased",
    confidence: float = 0.95,
) -> Estimate:
    r"""The collision entropy :math:`-\log\|p\|_2^2` (nats) of the distribution of the labels.

    Counts the labels and calls :func:`collision_entropy_from_counts` (see there for the interval
    and the :math:`+\infty` policy when no two labels agree).

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class labels.
    num_classes : int, optional
        If given, every label must be below it.
    method : {"unbiased", "plugin"}
        Estimator of :math:`\|p\|^2` whose :math:`-\log` is taken.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    Manoj (2018), "Looser is Worse", Theorems 3.1 and 3.2 bound the class radius by a function of
    this entropy.

    Examples
    --------
    >>> round(collision_entropy([0, 0, 1, 1]).value, 4)  # -log(4/12)
    1.0986
    """
    counts = _label_counts(labels, num_classes)
    return collision_entropy_from_counts(counts, method=method, confidence=confidence)


def effective_number_of_classes_from_counts(
    counts: Any, *, method: Method = "unbiased", confidence: float = 0.95
) -> Estimate:
    r"""The effective number of classes :math:`1/\|p\|_2^2` (the exponential of the collision entropy).

    A uniform distribution on :math:`K` classes has effective number :math:`K`. The estimate is
    :math:`1/\hat q`, the interval that of :math:`q` mapped through :math:`1/x`, the stderr the
    delta method's :math:`\mathrm{se}(\hat q)/\hat q^2`. When :math:`\hat q = 0`: a warning, value
    :math:`+\infty`, stderr NaN, ``ci_high`` :math:`+\infty`, ``ci_low`` finite; fewer than 2
    samples: a warning, NaN and :math:`[1, +\infty]`.

    Parameters
    ----------
    counts : array-like of int, shape (K,)
        Class counts.
    method : {"unbiased", "plugin"}
        Estimator of :math:`\|p\|^2` that is inverted.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    Also the birthday-paradox support size of Arora et al. (2018) for a uniform distribution,
    which Manoj (2018), "Looser is Worse", relates to collision probabilities (Section 5).

    Examples
    --------
    >>> round(effective_number_of_classes_from_counts([4, 4, 4, 4]).value, 4)  # 1/(48/240)
    5.0
    """
    return _transformed_from_counts(
        counts, method, confidence, _inverse, _inverse_derivative, "inverse", "effective number of classes"
    )


def effective_number_of_classes(
    labels: Any,
    *,
    num_classes: int | None = None,
    method: Method = "unbiased",
    confidence: float = 0.95,
) -> Estimate:
    r"""The effective number of classes :math:`1/\|p\|_2^2` of the distribution of the labels.

    Counts the labels and calls :func:`effective_number_of_classes_from_counts`.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class labels.
    num_classes : int, optional
        If given, every label must be below it.
    method : {"unbiased", "plugin"}
        Estimator of :math:`\|p\|^2` that is inverted.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    The inverse of the collision probability of Manoj (2018), "Looser is Worse", Theorem 3.1.

    Examples
    --------
    >>> round(effective_number_of_classes([0, 1, 0, 1]).value, 4)  # 12/4
    3.0
    """
    counts = _label_counts(labels, num_classes)
    return effective_number_of_classes_from_counts(counts, method=method, confidence=confidence)


# --------------------------------------------------------------------------- Rényi entropies
_ORDERS = (0.0, 1.0, 2.0, math.inf)


def _check_order(order: Any) -> float:
    value = check_float("order", order, min_value=0.0, allow_inf=True)
    if value not in _ORDERS:
        raise fail("order", "one of 0, 1, 2 or math.inf", order)
    return value


def _renyi(counts: np.ndarray, order: float, num_classes: int | None, confidence: float) -> tuple[Estimate, str | None]:
    n = int(counts.sum())
    if order == 2.0:
        return _decreasing_from_counts(
            counts, "unbiased", confidence, _neg_log, _neg_log_derivative, "-log", "collision entropy"
        )
    names = {
        0.0: "plug-in log(observed support size) (a lower bound); certain interval "
        "[log observed support, log num_classes or inf]",
        1.0: "Miller-Madow, Wald interval (delta method with second-order term)",
        math.inf: "plug-in -log(max_k n_k/n) (biased down); no interval",
    }
    if n < 2:
        est = Estimate(math.nan, math.nan, 0.0, math.inf, confidence, n, names[order])
        return est, _too_few(n, "the Rényi entropy")
    observed = counts[counts > 0].astype(np.float64)
    k_obs = observed.size
    top = math.log(num_classes) if num_classes is not None else math.inf
    if order == 0.0:
        value = math.log(k_obs)
        return Estimate(value, math.nan, value, top, confidence, n, names[order]), None
    if order == math.inf:
        value = -math.log(float(observed.max()) / n)
        return Estimate(value, math.nan, math.nan, math.nan, confidence, n, names[order]), None
    p = observed / n
    logp = np.log(p)
    plugin = float(-(p * logp).sum())
    value = plugin + (k_obs - 1) / (2.0 * n)
    first = max(float((p * logp * logp).sum()) - plugin * plugin, 0.0) / n
    se = math.sqrt(first + (k_obs - 1) / (2.0 * n * n))
    half = normal_quantile(confidence) * se
    low, high = max(value - half, 0.0), min(value + half, top)
    return Estimate(value, se, low, high, confidence, n, names[order]), None


def renyi_entropy_from_counts(
    counts: Any, *, order: float, num_classes: int | None = None, confidence: float = 0.95
) -> Estimate:
    r"""The Rényi entropy :math:`H_\alpha(p) = \frac{1}{1-\alpha}\log\sum_k p_k^\alpha` (nats).

    Orders:

    - ``0``: :math:`\log|\mathrm{supp}\,p|`, estimated by the log of the number of observed classes,
      a lower bound. No stderr (NaN); the interval is the certain one
      :math:`[\log K_\mathrm{obs}, \log(\texttt{num\_classes})]` (upper end :math:`+\infty` when
      ``num_classes`` is not given).
    - ``1``: Shannon entropy :math:`-\sum p\log p`, Miller–Madow estimate
      :math:`\hat H + (K_\mathrm{obs}-1)/(2n)`; stderr from the delta method plus the second-order
      term, :math:`\sqrt{(\sum\hat p\log^2\hat p - \hat H^2)/n + (K_\mathrm{obs}-1)/(2n^2)}`; Wald
      interval clipped to the range :math:`[0, \log(\texttt{num\_classes})]`. Only trustworthy
      when every class with non-negligible mass is seen many times (:math:`n \gg K`): in the
      undersampled regime the bias of the estimate dominates and the interval undercovers badly
      (measured coverages in ``docs/collision.md``).
    - ``2``: collision entropy, exactly :func:`collision_entropy_from_counts` (unbiased method).
    - ``math.inf``: min-entropy :math:`-\log\max_k p_k`, plug-in (biased down, as the largest
      observed frequency is biased up); no stderr or interval (NaN).

    Fewer than 2 samples: an :class:`UndefinedMetricWarning`, NaN, interval :math:`[0, +\infty]`.

    Parameters
    ----------
    counts : array-like of int, shape (K,)
        Class counts.
    order : {0, 1, 2, math.inf}
        The order :math:`\alpha`.
    num_classes : int, optional
        The number of classes, if known (it bounds orders 0 and 1 by :math:`\log K`).
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    Manoj (2018), "Looser is Worse", footnote 4, recalls the Rényi family; order 2 is the
    collision entropy of Theorem 3.1.

    Examples
    --------
    >>> round(renyi_entropy_from_counts([1, 1, 2], order=0).value, 4)  # log 3
    1.0986
    >>> round(renyi_entropy_from_counts([1, 1, 2], order=math.inf).value, 4)  # -log(1/2)
    0.6931
    """
    array = _as_counts(counts)
    order = _check_order(order)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
        if array.size > num_classes and array[num_classes:].any():
            raise InvalidArgumentError(
                f"counts must be zero from index num_classes={num_classes} on; got "
                f"{int(array[num_classes:].sum())} sample(s) there"
            )
    confidence = check_confidence(confidence)
    est, message = _renyi(array, order, num_classes, confidence)
    if message:
        _warn(message)
    return est


def renyi_entropy(labels: Any, *, order: float, num_classes: int | None = None, confidence: float = 0.95) -> Estimate:
    r"""The Rényi entropy of order 0, 1, 2 or infinity of the distribution of the labels (nats).

    Counts the labels and calls :func:`renyi_entropy_from_counts`; see there for each order's
    estimator and interval.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class labels.
    order : {0, 1, 2, math.inf}
        The order :math:`\alpha`.
    num_classes : int, optional
        If given, every label must be below it; it also bounds orders 0 and 1 by :math:`\log K`.
    confidence : float
        Level of the interval.

    Returns
    -------
    Estimate

    Notes
    -----
    Manoj (2018), "Looser is Worse", footnote 4.

    Examples
    --------
    >>> labels = [0, 1, 2, 3] * 25
    >>> round(renyi_entropy(labels, order=1).value, 4)  # log 4 + 3/200
    1.4013
    >>> renyi_entropy(labels, order=2).value == collision_entropy(labels).value
    True
    """
    counts = _label_counts(labels, num_classes)
    return renyi_entropy_from_counts(counts, order=order, num_classes=num_classes, confidence=confidence)


# --------------------------------------------------------------------------- streaming form
class CollisionCounter(SumState):
    r"""Streaming, mergeable class counts for the collision metrics.

    The state is the class counts (``int64``, one entry per label up to the largest seen, or
    exactly ``num_classes`` entries when that is fixed) and the number of samples ``n``. Both are
    sums, so shards merge by addition (:meth:`merge`, :func:`~genloose.metrics._state.merge_states`;
    element-wise ``SUM`` all-reduce of the zero-padded counts under ``torch.distributed``), the
    empty state is the identity, and :meth:`compute` on a merged state equals
    :func:`collision_probability` on all the labels.

    Parameters
    ----------
    num_classes : int, optional
        If given, the counts have this length and labels ``>= num_classes`` are refused; if not,
        the counts grow to the largest label seen.

    Examples
    --------
    >>> a, b = CollisionCounter(), CollisionCounter()
    >>> a.update([0, 0, 1])
    >>> b.update([2, 2, 2])
    >>> merged = a.merge(b)
    >>> merged.counts.tolist(), merged.n
    ([2, 1, 3], 6)
    >>> merged.compute() == collision_probability([0, 0, 1, 2, 2, 2])
    True
    """

    _fields = ("counts", "n")
    _options = ("num_classes",)

    def __init__(self, num_classes: int | None = None) -> None:
        if num_classes is not None:
            num_classes = check_num_classes(num_classes)
        self.num_classes = num_classes
        super().__init__()

    def _empty_state(self) -> dict[str, np.ndarray]:
        return {
            "counts": np.zeros(self.num_classes or 0, dtype=np.int64),
            "n": np.zeros((), dtype=np.int64),
        }

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        counts, n = state["counts"], state["n"]
        if counts.size and counts.min() < 0:
            raise InvalidArgumentError(f"state['counts'] must be non-negative; got minimum {int(counts.min())}")
        if int(n) != int(counts.sum()):
            raise InvalidArgumentError(f"state['n'] must equal the sum of the counts {int(counts.sum())}; got {int(n)}")
        if self.num_classes is not None and counts.size != self.num_classes:
            raise InvalidArgumentError(
                f"state['counts'] must have num_classes={self.num_classes} entries; got {counts.size}"
            )

    @property
    def counts(self) -> np.ndarray:
        """A copy of the class counts."""
        return self._state["counts"].copy()

    @property
    def n(self) -> int:
        """The number of labels seen."""
        return int(self._state["n"])

    def update(self, labels: Any) -> None:
        """Add a batch of labels (an empty batch is allowed and changes nothing).

        Parameters
        ----------
        labels : array-like of int, shape (m,)
            Class labels (list, numpy array or torch tensor of non-negative integers).
        """
        array = as_label_array(
            labels, name="labels", num_classes=self.num_classes, allow_empty=True, max_label=MAX_NUM_CLASSES - 1
        )
        if array.size == 0:
            return
        counts = self._state["counts"]
        batch = np.bincount(array, minlength=counts.size).astype(np.int64)
        if batch.size > counts.size:
            counts = np.pad(counts, (0, batch.size - counts.size))
        self._state = {"counts": counts + batch, "n": self._state["n"] + np.int64(array.size)}

    def compute(self, *, method: Method = "unbiased", confidence: float = 0.95) -> Estimate:
        """The collision probability of all labels seen, as :func:`collision_probability`.

        Leaves the state unchanged (calling it twice gives the same result). Raises
        :class:`InvalidArgumentError` if no label was seen.
        """
        if self.n == 0:
            raise InvalidArgumentError(
                "CollisionCounter must have seen at least one label before compute(); got 0 sample(s)"
            )
        method = check_choice("method", method, _METHODS)
        confidence = check_confidence(confidence)
        est, message = _collision_from_counts(self._state["counts"], method, confidence)
        if message:
            _warn(message)
        return est
