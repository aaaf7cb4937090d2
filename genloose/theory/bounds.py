"""The paper's bounds on the class radius, as exact numerical functions.

* :func:`fawzi_bound` (Lemma B.1 in the form of Lemma B.4): the universal cap on the class radius of *any*
  classifier, from Gaussian isoperimetry; exact for two classes split by a hyperplane.
* :func:`theorem_3_1_bound`: the collision-probability bound :math:`g(\\|p\\|_2^2)`, valid when every
  :math:`p_i \\le 1/5`; :func:`theorem_3_2_bound` is its value at the uniform distribution;
  :func:`theorem_3_3_bound` is its value under the decaying cap :math:`\\max_i p_i \\le \\min(1/5, h(K))`.
* :func:`collision_entropy_upper_bound` inverts Theorem 3.1: from a class radius to the largest collision
  entropy it allows.

Hypothesis policy
-----------------
Where a theorem's hypothesis fails for an entry, its formula is not a guarantee there, so that entry is returned
as NaN and one :class:`~genloose._errors.BoundHypothesisWarning` is emitted per call (turn it into an error with
``warnings.simplefilter("error", BoundHypothesisWarning)``). ``check_hypothesis=False`` evaluates the raw
formula instead, for plotting or study, with no warning. Invalid input (NaN, a probability outside
:math:`[0, 1]`, a distribution that does not sum to 1, ...) raises
:class:`~genloose._errors.InvalidArgumentError`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from scipy.special import lambertw, logsumexp, ndtri, ndtri_exp

from genloose._errors import BoundHypothesisWarning, InvalidArgumentError
from genloose._validation import check_choice, check_float, describe
from genloose.theory.gaussian import _as_real_array, _check_probabilities, _mean_excess, _out

__all__ = [
    "HYPOTHESIS_MAX_PROBABILITY",
    "THEOREM_3_1_RADIUS_LIMIT",
    "collision_entropy_upper_bound",
    "collision_probability_lower_bound",
    "fawzi_bound",
    "fawzi_bound_uniform",
    "fawzi_term",
    "theorem_3_1_bound",
    "theorem_3_2_bound",
    "theorem_3_3_bound",
]

HYPOTHESIS_MAX_PROBABILITY: float = 0.2
"""Theorems 3.1-3.3 assume every class probability is at most 1/5."""

THEOREM_3_1_RADIUS_LIMIT: float = 1.6759775943839035
"""The Theorem 3.1 bound at the edge of its hypothesis, :math:`g(1/5)`; its largest value under the hypothesis.

mpmath at 30 digits: 1.67597759438390346196538447681 (checked in tests/theory/test_bounds.py).
"""

_LOG_4PI = math.log(4.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_HYPOTHESIS = math.log(HYPOTHESIS_MAX_PROBABILITY)  # log(1/5); H >= log 5 <=> q <= 1/5
_ENTROPY_AT_EDGE = math.log(5.0)
_CONSISTENCY_RTOL = 1e-9


def _warn_hypothesis(message: str, count: int, total: int, stacklevel: int) -> None:
    """Warn that a hypothesis fails; ``stacklevel`` counts from the function calling this one."""
    warnings.warn(
        f"{message} ({count} of {total} entr{'y' if total == 1 else 'ies'}); "
        "NaN is returned there because the bound is not a guarantee outside its hypothesis",
        BoundHypothesisWarning,
        stacklevel=stacklevel + 1,
    )


def _g_of_entropy(entropy: np.ndarray) -> np.ndarray:
    """G(H) = log(4πH) / sqrt(2H) for H >= 0, with the limits G(0) = -inf and G(inf) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        numerator = _LOG_4PI + np.log(entropy)
        value = numerator / (math.sqrt(2.0) * np.sqrt(entropy))
    value = np.where(np.isposinf(entropy), 0.0, value)
    return np.where(entropy == 0, -np.inf, value)


def _as_num_classes(value: Any, name: str, *, min_value: int = 1) -> tuple[np.ndarray, bool]:
    """Class counts as a float64 array of integers >= min_value (floats allowed only if integral)."""
    array, scalar = _as_real_array(value, name, allow_inf=False)
    if (array != np.floor(array)).any():
        raise InvalidArgumentError(f"{name} must be integers; got {describe(value)} with a fraction")
    if (array < min_value).any():
        raise InvalidArgumentError(
            f"{name} must be integers >= {min_value}; got {describe(value)} with minimum {float(np.min(array))!r}"
        )
    return array, scalar


def _fawzi_terms(values: np.ndarray, log: bool) -> np.ndarray:
    """ψ(Φ⁻¹(p)) elementwise for validated probabilities (or log-probabilities)."""
    shape = values.shape
    values = values.reshape(-1)
    if log:
        with np.errstate(under="ignore"):
            p = np.exp(values)
        a = ndtri_exp(values)
    else:
        p = values
        a = ndtri(values)
    # For p < 1/2: p·a + φ(a) = p·m(a) with m the mean excess (no cancellation, relative error ~ulp).
    # For p >= 1/2 (a >= 0) the two terms are non-negative and are added directly.
    right = a >= 0
    if not right.any():
        return (p * _mean_excess(a)).reshape(shape)
    out = np.zeros_like(p)
    left = ~right & (p > 0)
    out[left] = p[left] * _mean_excess(a[left])
    ar = a[right]
    with np.errstate(invalid="ignore", under="ignore"):
        out[right] = p[right] * ar + np.exp(-0.5 * ar * ar) / math.sqrt(2.0 * math.pi)
    out[np.isposinf(a)] = np.inf  # p = 1: no other class, no boundary
    return out.reshape(shape)


def fawzi_term(probability: Any, *, log: bool = False) -> float | np.ndarray:
    """One class's contribution to the Fawzi bound, :math:`\\psi(\\Phi^{-1}(p))`, elementwise.

    .. math:: \\psi(\\Phi^{-1}(p)) = p\\,\\Phi^{-1}(p) + \\varphi(\\Phi^{-1}(p))
              = \\int_{-\\infty}^{\\Phi^{-1}(p)} \\Phi(t)\\,dt

    By Gaussian isoperimetry it caps :math:`E[r(z)\\,1\\{z \\in K_i\\}]` for a class region of mass :math:`p`.
    For :math:`p < 1/2` it is computed as :math:`p \\cdot m(\\Phi^{-1}(p))` with the mean excess
    :math:`m` (:func:`~genloose.theory.gaussian.normal_mean_excess`): the direct formula cancels (both
    terms are :math:`\\approx p\\,|\\Phi^{-1}(p)|` while the sum is :math:`\\approx p / |\\Phi^{-1}(p)|`).

    Parameters
    ----------
    probability : float or array_like
        Class probabilities in :math:`[0, 1]` (no need to sum to 1), or their natural logs with ``log=True``.
    log : bool, default False
        Whether ``probability`` holds :math:`\\log p` (use it for :math:`p < 10^{-300}`).

    Returns
    -------
    float or numpy.ndarray
        The term; :math:`p = 0` gives 0 (the limit) and :math:`p = 1` gives ``inf``. Terms below the
        float64 normal range (:math:`\\approx 10^{-308}`) are subnormal and lose relative precision.

    Notes
    -----
    Lemma B.4's summand; with Lemma B.3, :math:`-a_{\\neq i}\\Phi(-a_{\\neq i}) + \\varphi(a_{\\neq i})` of
    Lemma B.1 is the same number (:math:`a_{\\neq i} = -\\Phi^{-1}(p_i)`).

    Examples
    --------
    >>> round(fawzi_term(0.5), 12)
    0.398942280401
    >>> fawzi_term(-1000.0, log=True)  # p = e^-1000 underflows; its term does too
    0.0
    >>> fawzi_term([0.0, 1e-300, 1.0])
    array([0.00000000e+000, 2.69534774e-302,             inf])
    """
    array, scalar = _as_real_array(probability, "probability")
    _check_probabilities(array, "probability", log, probability)
    return _out(_fawzi_terms(array, log), scalar)


def _as_distribution(p: Any, name: str, *, log: bool, tolerance: float, max_ndim: int = 2) -> np.ndarray:
    """Validate one distribution (1-D) or a batch of them (2-D, one per row)."""
    array, _ = _as_real_array(p, name)
    if array.ndim < 1 or array.ndim > max_ndim:
        shape = "1-D (one distribution)" + (" or 2-D (one per row)" if max_ndim == 2 else "")
        raise InvalidArgumentError(f"{name} must be {shape}; got {describe(p)}")
    if array.shape[-1] == 0 or array.size == 0:
        raise InvalidArgumentError(f"{name} must hold at least one class; got {describe(p)}")
    if log:
        if np.isposinf(array).any() or (array > 0).any():
            raise InvalidArgumentError(
                f"{name} must be log-probabilities (<= 0); got {describe(p)} with maximum {float(np.max(array))!r}"
            )
        with np.errstate(divide="ignore"):
            deviation = np.abs(logsumexp(array, axis=-1))
    else:
        if np.isinf(array).any() or (array < 0).any() or (array > 1).any():
            raise InvalidArgumentError(
                f"{name} must be probabilities in [0, 1]; got {describe(p)} with range "
                f"[{float(np.min(array))!r}, {float(np.max(array))!r}]"
            )
        deviation = np.abs(np.sum(array, axis=-1) - 1.0)
    if (deviation > tolerance).any():
        worst = float(np.max(deviation))
        what = "log-sum-exp must be 0" if log else "sum must be 1"
        raise InvalidArgumentError(
            f"{name} must be a probability distribution ({what} within tolerance={tolerance!r}); "
            f"got {describe(p)} off by {worst!r}"
        )
    return array


def fawzi_bound(p: Any, *, log: bool = False, tolerance: float = 1e-9) -> float | np.ndarray:
    """The universal cap on the class radius (Fawzi et al. 2018; Lemma B.1 in the form of Lemma B.4).

    .. math:: E[r(z)] \\le U(p) = \\sum_{i=1}^{K} \\left[\\Phi^{-1}(p_i)\\, p_i
              + \\varphi\\!\\left(\\Phi^{-1}(p_i)\\right)\\right]

    It holds for *any* generator and measurable classifier whose class regions have Gaussian masses
    :math:`p_i` (Gaussian isoperimetry applied to each class), with equality for two classes split by a
    hyperplane: then it is :math:`E|s - t| = 2\\varphi(t) + t(2\\Phi(t) - 1)`, and :math:`\\sqrt{2/\\pi}`
    for :math:`p = (1/2, 1/2)`. :math:`U` is Schur-convex, so among :math:`K` classes it is smallest at the
    uniform distribution (:func:`fawzi_bound_uniform`).

    Parameters
    ----------
    p : array_like
        A class distribution, 1-D, non-negative, summing to 1 within ``tolerance``; or a 2-D batch with one
        distribution per row. With ``log=True``, the natural logs :math:`\\log p_i` (``-inf`` for an empty
        class), which reach :math:`p_i = 10^{-300}` and far below.
    log : bool, default False
        Whether ``p`` holds log-probabilities.
    tolerance : float, default 1e-9
        Allowed :math:`|\\sum_i p_i - 1|` (with ``log=True``, :math:`|\\log \\sum_i p_i|`). ``p`` is used as
        given, not renormalised.

    Returns
    -------
    float or numpy.ndarray
        :math:`U(p)` (an array of one value per row for 2-D input). Classes with :math:`p_i = 0` contribute
        0 (the limit). A single class with all the mass (:math:`K = 1`, or :math:`p = e_k`) gives ``inf``:
        there is no class boundary to reach. In linear scale a class within :math:`10^{-16}` of 1 *is* 1.0
        (so the bound is ``inf``); pass log-probabilities to keep such a class.

    Raises
    ------
    InvalidArgumentError
        If ``p`` is empty, not 1-D/2-D, not real, has NaN, a negative entry or one above 1, or does not sum
        to 1 within ``tolerance``.

    Notes
    -----
    Lemmas B.1 and B.4. Terms are computed by :func:`fawzi_term` (no cancellation for small :math:`p_i`) and
    are all positive, so numpy's pairwise summation keeps the relative error near :math:`\\epsilon \\log_2 K`
    (measured against mpmath: :math:`3 \\times 10^{-17}` for :math:`K = 10^7` equal classes).

    Examples
    --------
    >>> round(fawzi_bound([0.5, 0.5]), 12)  # sqrt(2/pi): two half-spaces, attained exactly
    0.797884560803
    >>> round(fawzi_bound([0.25] * 4), 6)
    0.596617
    >>> import math
    >>> round(fawzi_bound([-math.inf, math.log(1e-300), -1e-300], log=True), 6)
    37.047096
    >>> fawzi_bound([1.0])
    inf
    """
    tolerance = check_float("tolerance", tolerance, min_value=0.0, max_value=1.0)
    array = _as_distribution(p, "p", log=log, tolerance=tolerance)
    terms = _fawzi_terms(array, log)
    total = np.sum(terms, axis=-1)
    return float(total) if array.ndim == 1 else total


def fawzi_bound_uniform(num_classes: Any) -> float | np.ndarray:
    """The Fawzi bound for :math:`K` equally likely classes, in closed form.

    .. math:: U(1/K, \\dots, 1/K) = m(a) = a + \\frac{\\varphi(a)}{\\Phi(a)}, \\qquad a = \\Phi^{-1}(1/K)

    (:math:`K \\cdot \\psi(a) = m(a)` since :math:`\\Phi(a) = 1/K`.) It uses :math:`\\log K` directly, so
    :math:`K = 10^7` or :math:`10^{300}` loses nothing to rounding of :math:`1/K`. It is the smallest value
    of :func:`fawzi_bound` over distributions on :math:`K` classes.

    Parameters
    ----------
    num_classes : int or array_like
        :math:`K \\ge 1` (integers; integral floats are accepted for :math:`K > 2^{53}`).

    Returns
    -------
    float or numpy.ndarray
        The bound; ``inf`` for :math:`K = 1`, :math:`\\sqrt{2/\\pi} \\approx 0.7979` for :math:`K = 2`;
        decreasing, :math:`\\sim 1/\\sqrt{2\\log K}` as :math:`K \\to \\infty`.

    Notes
    -----
    Lemma B.4 at :math:`p_i = 1/K`.

    Examples
    --------
    >>> fawzi_bound_uniform([1, 2, 10])
    array([       inf, 0.79788456, 0.47343175])
    >>> round(fawzi_bound_uniform(10**7), 10)
    0.1801948988
    """
    array, scalar = _as_num_classes(num_classes, "num_classes")
    a = ndtri_exp(-np.log(array))
    return _out(_mean_excess(a), scalar)


def theorem_3_1_bound(
    collision_probability: Any,
    *,
    log: bool = False,
    max_probability: Any = None,
    check_hypothesis: bool = True,
) -> float | np.ndarray:
    """Theorem 3.1: the class radius bounded by the collision probability :math:`q = \\|p\\|_2^2`.

    .. math:: E[r(z)] \\le g(q) = \\frac{\\log(4\\pi \\log(1/q))}{\\sqrt{2 \\log(1/q)}}
              \\quad\\text{if } 0 < p_i \\le 1/5 \\;\\forall i

    Parameters
    ----------
    collision_probability : float or array_like
        :math:`q = \\sum_i p_i^2 \\in (0, 1]`, or :math:`\\log q \\in (-\\infty, 0]` with ``log=True``
        (which reaches :math:`q \\ll 10^{-300}`).
    log : bool, default False
        Whether ``collision_probability`` holds :math:`\\log q`.
    max_probability : float or array_like, optional
        :math:`\\max_i p_i`, broadcast against ``collision_probability``. The hypothesis is on
        :math:`\\max_i p_i`, and :math:`q \\le 1/5` does not imply it (:math:`p = (0.3, 0.1 \\times 7)` has
        :math:`q = 0.16`), so pass it when it is known. It must be consistent with :math:`q`:
        :math:`(\\max_i p_i)^2 \\le q \\le \\max_i p_i` (relative tolerance :math:`10^{-9}`).
    check_hypothesis : bool, default True
        If true, entries with :math:`q > 1/5` or ``max_probability`` :math:`> 1/5` are NaN, with one
        :class:`~genloose._errors.BoundHypothesisWarning`. If false, the raw formula is returned everywhere:
        it is negative above :math:`q = e^{-1/(4\\pi)} \\approx 0.9235`, :math:`-\\infty` at :math:`q = 1`,
        and increases in :math:`q` only up to :math:`q^* = e^{-e^2/(4\\pi)} \\approx 0.5554`.

    Returns
    -------
    float or numpy.ndarray
        :math:`g(q)`, in :math:`(0, g(1/5)]` = :math:`(0, 1.6760]` under the hypothesis, increasing in
        :math:`q` there and tending to 0 as :math:`q \\to 0`.

    Raises
    ------
    InvalidArgumentError
        If :math:`q \\notin (0, 1]` (:math:`q = 0` is no finite distribution's collision probability; a
        sample estimate of 0 must be handled by the caller), NaN, or inconsistent with ``max_probability``.

    Notes
    -----
    Theorem 3.1 / B.1. Its proof bounds each Fawzi term with Lemma B.2 (needs :math:`1/p_i \\ge 5`) and uses
    Jensen with the concavity of :math:`g` (Lemma B.6). Classes with :math:`p_i = 0` can be dropped, so the
    theorem's :math:`p_i > 0` is no restriction. Outside the hypothesis the formula can fail as an upper
    bound: for :math:`p = (0.95, 0.05)`, :func:`fawzi_bound` gives 1.687 while :math:`g(0.905) = 0.507`,
    and the exact radius of the half-space split with these masses is 1.687.

    Examples
    --------
    >>> round(theorem_3_1_bound(0.1), 6)
    1.568085
    >>> round(theorem_3_1_bound(-1000.0, log=True), 6)  # q = e^-1000
    0.211058
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     theorem_3_1_bound([0.1, 0.5])
    array([1.56808479,        nan])
    >>> round(theorem_3_1_bound(0.5, check_hypothesis=False), 6)
    1.838367
    """
    array, scalar = _as_real_array(collision_probability, "collision_probability")
    if log:
        if (array > 0).any() or np.isneginf(array).any():
            raise InvalidArgumentError(
                "collision_probability must be a log collision probability in (-inf, 0]; got "
                f"{describe(collision_probability)} with range "
                f"[{float(np.min(array))!r}, {float(np.max(array))!r}]"
            )
        log_q = array
    else:
        if (array <= 0).any() or (array > 1).any():
            raise InvalidArgumentError(
                "collision_probability must be in (0, 1]; got "
                f"{describe(collision_probability)} with range "
                f"[{float(np.min(array))!r}, {float(np.max(array))!r}]"
            )
        log_q = np.log(array)
    violated = log_q > _LOG_HYPOTHESIS
    if max_probability is not None:
        max_p, max_scalar = _as_real_array(max_probability, "max_probability")
        if (max_p <= 0).any() or (max_p > 1).any():
            raise InvalidArgumentError(
                f"max_probability must be in (0, 1]; got {describe(max_probability)} with range "
                f"[{float(np.min(max_p))!r}, {float(np.max(max_p))!r}]"
            )
        try:
            log_q, log_max = np.broadcast_arrays(log_q, np.log(max_p))
        except ValueError as error:
            raise InvalidArgumentError(
                "max_probability must broadcast against collision_probability; got shapes "
                f"{array.shape} and {max_p.shape}"
            ) from error
        slack = _CONSISTENCY_RTOL
        if (log_q > log_max + slack).any() or (log_q < 2.0 * log_max - slack).any():
            raise InvalidArgumentError(
                "max_probability must satisfy max_probability**2 <= collision_probability <= "
                f"max_probability; got {describe(max_probability)} against "
                f"{describe(collision_probability)}"
            )
        violated = np.broadcast_to(violated, log_q.shape) | (max_p > HYPOTHESIS_MAX_PROBABILITY)
        scalar = scalar and max_scalar
    value = _g_of_entropy(-log_q)
    if check_hypothesis and violated.any():
        value = np.where(violated, np.nan, value)
        _warn_hypothesis(
            "Theorem 3.1 assumes every class probability <= 1/5, but collision_probability > 1/5 or "
            "max_probability > 1/5",
            int(np.count_nonzero(violated)),
            int(violated.size),
            stacklevel=2,
        )
    return _out(np.asarray(value, dtype=np.float64), scalar)


def theorem_3_2_bound(num_classes: Any, *, check_hypothesis: bool = True) -> float | np.ndarray:
    """Theorem 3.2: the Theorem 3.1 bound at the uniform distribution, its minimum over :math:`K` classes.

    .. math:: \\min_{p} g(\\|p\\|_2^2) = g(1/K) = \\frac{\\log(4\\pi \\log K)}{\\sqrt{2 \\log K}}

    The minimum is over distributions on at most :math:`K` classes with every :math:`p_i \\le 1/5`: then
    :math:`\\|p\\|_2^2 \\ge 1/K` and :math:`g` increases on :math:`(0, 1/5]` (Lemma B.7). It bounds the
    *bound*, not the radius: a non-uniform distribution can have a smaller class radius than the uniform one.

    Parameters
    ----------
    num_classes : int or array_like
        :math:`K \\ge 1`; :math:`\\log K` is used directly (no :math:`1/K` round-off), so :math:`K = 10^7`
        and integral floats such as :math:`10^{300}` are fine.
    check_hypothesis : bool, default True
        If true, :math:`K < 5` (where the uniform distribution has :math:`p_i > 1/5`) gives NaN with a
        :class:`~genloose._errors.BoundHypothesisWarning`; if false the raw formula is returned
        (:math:`-\\infty` at :math:`K = 1`).

    Returns
    -------
    float or numpy.ndarray
        :math:`g(1/K)`, decreasing in :math:`K \\ge 5`, from :math:`g(1/5) = 1.6760`.

    Notes
    -----
    Theorem 3.2 / B.2.

    Examples
    --------
    >>> theorem_3_2_bound([5, 10, 10**7])
    array([1.67597759, 1.56808479, 0.9354094 ])
    >>> round(theorem_3_2_bound(1e300), 6)
    0.243988
    """
    array, scalar = _as_num_classes(num_classes, "num_classes")
    value = _g_of_entropy(np.log(array))
    violated = array < 5
    if check_hypothesis and violated.any():
        value = np.where(violated, np.nan, value)
        _warn_hypothesis(
            "Theorem 3.2 assumes num_classes >= 5 (uniform p_i = 1/K <= 1/5)",
            int(np.count_nonzero(violated)),
            int(violated.size),
            stacklevel=2,
        )
    return _out(np.asarray(value, dtype=np.float64), scalar)


def _greedy_max_collision(num_classes: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """max ||p||² over distributions on K classes with max p <= cap (feasible: cap >= 1/K).

    Lemma B.5's greedy allocation: n = floor(1/v) classes at v and the remainder r = 1 - n v in one more
    class, so ||p||² = n v² + r² = v - r (v - r). Written that way because 0 <= r < v: r is known only to
    an absolute ~1e-16 (and not at all once 1/v > 2^53), so it is confined to [0, v], which keeps the
    result in its exact range [v - v²/4, v] (relative error <= v/4 below v = 2^-52, ~1e-16 above).
    """
    count = np.minimum(np.floor(1.0 / cap), num_classes)
    remainder = np.clip(1.0 - count * cap, 0.0, cap)
    return cap - remainder * (cap - remainder)


def theorem_3_3_bound(
    num_classes: Any,
    h: Callable[[np.ndarray], Any] | Any,
    *,
    variant: Literal["exact", "simple", "paper"] = "exact",
) -> float | np.ndarray:
    """Theorem 3.3: the Theorem 3.1 bound under the cap :math:`\\max_i p_i \\le v = \\min(1/5, h(K))`.

    If :math:`h(K) = o(1)` the bound tends to 0 as :math:`K \\to \\infty`, and with it the class radius.

    .. math:: E[r(z)] \\le g(\\|p\\|_2^2) \\le g(\\bar q), \\qquad
              \\bar q \\in \\{q_{\\max}(K, v),\\; v,\\; \\min(1/5, 3v)\\}

    since :math:`g` increases on :math:`(0, 1/5]` (Lemma B.7) and :math:`\\|p\\|_2^2 \\le \\bar q` (Lemma B.5).

    Parameters
    ----------
    num_classes : int or array_like
        :math:`K \\ge 1`.
    h : callable or array_like
        The cap function: called as ``h(K)`` on a float64 array of ``num_classes`` (it must return
        positive reals of the same shape), or the values :math:`h(K)` themselves.
    variant : {"exact", "simple", "paper"}, default "exact"
        Which upper bound on :math:`\\|p\\|_2^2`: ``"exact"`` is its true maximum under the cap
        (:math:`q_{\\max} = n v^2 + (1 - n v)^2`, :math:`n = \\lfloor 1/v \\rfloor`); ``"simple"`` is
        :math:`v` (since :math:`\\|p\\|_2^2 \\le \\max_i p_i`); ``"paper"`` is Lemma B.5's
        :math:`\\min(1/5, 3h(K))`, as used in the paper's proof of Theorem B.3 (looser).

    Returns
    -------
    float or numpy.ndarray
        The bound; NaN with a :class:`~genloose._errors.BoundHypothesisWarning` where the cap is infeasible
        (:math:`v < 1/K`: no distribution on :math:`K` classes satisfies it; this includes every
        :math:`K \\le 4`).

    Raises
    ------
    InvalidArgumentError
        If ``h`` returns (or holds) NaN, non-positive values or the wrong shape, or ``variant`` is unknown.

    Notes
    -----
    Theorem 3.3 / B.3. The paper's displayed proof writes :math:`\\log(4\\pi\\log(\\min(1/5, 3h(K))))`
    in the numerator; the :math:`1/` inside the logarithm is missing there (a typo).

    Examples
    --------
    >>> import numpy as np
    >>> K = np.array([10, 10**3, 10**6, 1e100])
    >>> theorem_3_3_bound(K, lambda k: 1 / np.sqrt(k))
    array([1.67597759, 1.43388068, 1.20090461, 0.479567  ])
    >>> theorem_3_3_bound(K, lambda k: 1 / np.sqrt(k), variant="paper")
    array([1.67597759, 1.56087153, 1.25872991, 0.48123671])
    """
    variant = check_choice("variant", variant, ("exact", "simple", "paper"))
    classes, scalar = _as_num_classes(num_classes, "num_classes")
    raw = h(classes.copy()) if callable(h) else h
    values, _ = _as_real_array(raw, "h")
    if values.shape != classes.shape:
        try:
            values = np.broadcast_to(values, classes.shape)
        except ValueError as error:
            raise InvalidArgumentError(
                f"h must give one value per num_classes entry (shape {classes.shape}); got {describe(raw)}"
            ) from error
    if (values <= 0).any():
        raise InvalidArgumentError(f"h must be positive; got {describe(raw)} with a value <= 0")
    cap = np.minimum(HYPOTHESIS_MAX_PROBABILITY, values)
    infeasible = cap * classes < 1.0 - 1e-12
    safe_cap = np.where(infeasible, 1.0, cap)
    if variant == "exact":
        collision = _greedy_max_collision(classes, safe_cap)
    elif variant == "simple":
        collision = safe_cap
    else:
        collision = np.minimum(HYPOTHESIS_MAX_PROBABILITY, 3.0 * safe_cap)
    value = _g_of_entropy(-np.log(collision))
    if infeasible.any():
        value = np.where(infeasible, np.nan, value)
        _warn_hypothesis(
            "Theorem 3.3's cap min(1/5, h(K)) is below 1/K, so no distribution satisfies it",
            int(np.count_nonzero(infeasible)),
            int(infeasible.size),
            stacklevel=2,
        )
    return _out(np.asarray(value, dtype=np.float64), scalar)


def _entropy_upper_bound(radius: np.ndarray, stacklevel: int) -> np.ndarray:
    out = np.full_like(radius, np.inf)
    too_large = radius > THEOREM_3_1_RADIUS_LIMIT
    inside = (radius > 0) & ~too_large
    r = radius[inside]
    # r = log(4πH)/sqrt(2H) with u = sqrt(2H): r·u = log(2π u²)  <=>  (-r u/2) e^{-r u/2} = -r/(2 sqrt(2π)),
    # so u = -2 W_{-1}(-r / (2 sqrt(2π))) / r on the decreasing branch (H > e²/(4π)).
    with np.errstate(over="ignore", invalid="ignore"):
        w = lambertw(-r / (2.0 * math.sqrt(2.0 * math.pi)), k=-1).real
        u = -2.0 * w / r
        finite = np.isfinite(u)
        for _ in range(2):  # Newton on F(u) = r u - log(2π) - 2 log u, F' = r - 2/u > 0 here
            step = (r * u - _LOG_2PI - 2.0 * np.log(u)) / (r - 2.0 / u)
            u = np.where(finite, u - step, u)
        # The exact inverse is >= log 5 for r <= g(1/5); rounding can leave it a few ulp below (4 ulp at
        # r = THEOREM_3_1_RADIUS_LIMIT), which would put the round trip outside the hypothesis.
        entropy = np.maximum(0.5 * u * u, _ENTROPY_AT_EDGE)
    # a subnormal radius underflows the Lambert-W argument to -0 (NaN from W's branch point): there H is far
    # beyond float64, as for every radius below about 1e-151, so the bound is inf
    out[inside] = np.where(np.isnan(entropy), np.inf, entropy)
    out[too_large] = np.nan
    if too_large.any():
        _warn_hypothesis(
            f"class_radius > g(1/5) = {THEOREM_3_1_RADIUS_LIMIT:.6f}, the largest value the Theorem 3.1 "
            "bound takes under its hypothesis, so the hypothesis (every p_i <= 1/5) cannot hold",
            int(np.count_nonzero(too_large)),
            int(too_large.size),
            stacklevel=stacklevel,
        )
    return out


def collision_entropy_upper_bound(class_radius: Any) -> float | np.ndarray:
    """The largest collision entropy compatible with a class radius under Theorem 3.1 (its inversion).

    Under the hypothesis (every :math:`p_i \\le 1/5`, i.e. :math:`H \\ge \\log 5` at least),
    :math:`r \\le G(H) = \\log(4\\pi H)/\\sqrt{2H}` with :math:`H = -\\log\\|p\\|_2^2` and :math:`r = E[r(z)]`;
    :math:`G` decreases for :math:`H > e^2/(4\\pi) \\approx 0.588`, so

    .. math:: H \\le G^{-1}(r) = \\frac{2\\,W_{-1}\\!\\left(-r / (2\\sqrt{2\\pi})\\right)^2}{r^2}

    with :math:`W_{-1}` the lower branch of the Lambert W function (then polished by two Newton steps).

    Parameters
    ----------
    class_radius : float or array_like
        :math:`E[r(z)] \\ge 0`. The bound decreases in the radius, so an upper confidence limit for
        :math:`H` comes from a *lower* confidence limit for the radius (clip a negative one at 0 first).

    Returns
    -------
    float or numpy.ndarray
        The largest :math:`H` allowed, :math:`\\ge \\log 5`. A radius of 0 gives ``inf`` (no constraint:
        :math:`G(H) \\to 0^+`); so does a radius below about :math:`10^{-150}`, where :math:`H` overflows. A
        radius above :math:`g(1/5) = 1.6760` (:data:`THEOREM_3_1_RADIUS_LIMIT`) gives NaN with a
        :class:`~genloose._errors.BoundHypothesisWarning`: no :math:`H` is compatible, which means the
        hypothesis fails (some class has probability above 1/5), and Theorem 3.1 says nothing more.

    Raises
    ------
    InvalidArgumentError
        If a radius is negative or NaN.

    Notes
    -----
    Inversion of Theorem 3.1 described after its statement in Section 3.

    Examples
    --------
    >>> round(collision_entropy_upper_bound(1.0), 6)
    12.97445
    >>> collision_entropy_upper_bound([0.0, 0.5])
    array([         inf, 102.57855009])
    """
    array, scalar = _as_real_array(class_radius, "class_radius")
    if (array < 0).any():
        raise InvalidArgumentError(
            f"class_radius must be >= 0; got {describe(class_radius)} with minimum {float(np.min(array))!r}"
        )
    return _out(_entropy_upper_bound(array, stacklevel=3), scalar)


def collision_probability_lower_bound(class_radius: Any) -> float | np.ndarray:
    """The smallest collision probability compatible with a class radius under Theorem 3.1.

    .. math:: \\|p\\|_2^2 \\ge \\exp\\!\\left(-G^{-1}(E[r(z)])\\right)

    (see :func:`collision_entropy_upper_bound` for :math:`G^{-1}` and the domain).

    Parameters
    ----------
    class_radius : float or array_like
        :math:`E[r(z)] \\ge 0`.

    Returns
    -------
    float or numpy.ndarray
        The lower bound on :math:`\\|p\\|_2^2`; 0 for a radius of 0, NaN (with a
        :class:`~genloose._errors.BoundHypothesisWarning`) above :math:`g(1/5) = 1.6760`.

    Notes
    -----
    Theorem 3.1, inverted.

    Examples
    --------
    >>> float(f"{collision_probability_lower_bound(1.0):.6e}")
    2.318825e-06
    """
    array, scalar = _as_real_array(class_radius, "class_radius")
    if (array < 0).any():
        raise InvalidArgumentError(
            f"class_radius must be >= 0; got {describe(class_radius)} with minimum {float(np.min(array))!r}"
        )
    with np.errstate(under="ignore"):
        value = np.exp(-_entropy_upper_bound(array, stacklevel=3))
    return _out(value, scalar)
