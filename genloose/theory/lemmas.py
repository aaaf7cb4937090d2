"""The appendix lemmas (B.1-B.7) and the steps of Theorem B.1's proof, as functions tests can check one by one.

* Lemma B.1 in its literal :math:`a_{\\neq i}` form (:func:`lemma_b1_bound`), to compare with Lemma B.4's form
  (:func:`~genloose.theory.bounds.fawzi_bound`).
* Lemma B.2, the Gaussian quantile bound (:func:`lemma_b2_quantile_bound`).
* Lemma B.3's identities are properties of :mod:`genloose.theory.gaussian` and are tested there.
* Lemma B.5, the range of :math:`\\|p\\|_2^2` under a cap on :math:`\\max_i p_i`: tight
  (:func:`collision_probability_range`) and as the paper states it (:func:`lemma_b5_paper_upper_bound`).
* Lemmas B.6 and B.7: :func:`g`, :func:`g_prime`, :func:`g_double_prime`, :func:`lemma_b6_numerator` and the
  landmarks of :math:`g` (:data:`G_ROOT`, :data:`G_ARGMAX`, :data:`G_MAX`); :func:`g_entropy_prime`, the slope
  of :math:`g` as a function of the collision entropy (the delta method of the inverted bound uses it).
* Theorem B.1's chain of inequalities, class by class (:func:`theorem_3_1_proof_chain`).

The hypothesis policy is the one of :mod:`genloose.theory.bounds`: NaN plus one
:class:`~genloose._errors.BoundHypothesisWarning` where a statement's hypothesis fails, unless
``check_hypothesis=False``; where a raw formula is undefined (a square root of a negative number) it gives NaN
with an :class:`~genloose._errors.UndefinedMetricWarning`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri, ndtri_exp

from genloose._errors import InvalidArgumentError, UndefinedMetricWarning
from genloose._validation import check_float, describe
from genloose.theory.bounds import (
    _LOG_4PI,
    HYPOTHESIS_MAX_PROBABILITY,
    _as_distribution,
    _as_num_classes,
    _fawzi_terms,
    _g_of_entropy,
    _greedy_max_collision,
    _warn_hypothesis,
)
from genloose.theory.gaussian import _as_real_array, _out

__all__ = [
    "G_ARGMAX",
    "G_MAX",
    "G_ROOT",
    "LEMMA_B2_SMALLEST_K",
    "LEMMA_B6_NUMERATOR_MAX",
    "CollisionProbabilityRange",
    "ProofChain",
    "QuantileBound",
    "collision_probability_range",
    "g",
    "g_double_prime",
    "g_entropy_prime",
    "g_prime",
    "lemma_b1_bound",
    "lemma_b2_quantile_bound",
    "lemma_b5_paper_upper_bound",
    "lemma_b6_numerator",
    "theorem_3_1_proof_chain",
]

G_ROOT: float = 0.9235064717231085
"""Where :math:`g` crosses 0: :math:`q = e^{-1/(4\\pi)}` (:math:`g < 0` above it). mpmath: 0.923506471723108519."""

G_ARGMAX: float = 0.5554357148375071
"""Where :math:`g` peaks: :math:`q^* = e^{-e^2/(4\\pi)}` (:math:`\\log(1/q^*) = e^2/(4\\pi) = 0.588002`).

:math:`g` increases on :math:`(0, q^*]` and decreases on :math:`[q^*, 1)`. mpmath: 0.555435714837507114.
"""

G_MAX: float = 1.8442740177915782
"""The maximum of :math:`g` on :math:`(0, 1)`, :math:`g(q^*) = 2\\sqrt{2\\pi}/e`. mpmath: 1.84427401779157823."""

LEMMA_B2_SMALLEST_K: float = 4.271539051456748
"""The smallest :math:`K > 1.1014` where Lemma B.2's right side is defined: :math:`K^2 = 4\\pi\\log K`.

For real :math:`K`, the right side :math:`\\sqrt{\\log(K^2/(4\\pi\\log K))}` is defined on
:math:`(1, 1.10133] \\cup [4.27154, \\infty)`; the inequality fails on :math:`(1, 1.10133]` (its left side is
negative there) and holds on all of :math:`[4.27154, \\infty)`. mpmath: 4.27153905145674834.
"""

LEMMA_B6_NUMERATOR_MAX: float = -1.468593283495404
"""The maximum over :math:`y > 0` of Lemma B.6's numerator (at :math:`y = 0.987712`, :math:`q = 0.372428`).

It is negative, so :math:`g'' < 0` on all of :math:`(0, 1)` and Lemma B.6 holds as stated.
mpmath: -1.46859328349540395 at y = 0.98771246467310998.
"""


def _as_collision(value: Any, name: str) -> tuple[np.ndarray, bool]:
    array, scalar = _as_real_array(value, name)
    if (array <= 0).any() or (array > 1).any():
        raise InvalidArgumentError(
            f"{name} must be in (0, 1]; got {describe(value)} with range "
            f"[{float(np.min(array))!r}, {float(np.max(array))!r}]"
        )
    return array, scalar


def g(collision_probability: Any) -> float | np.ndarray:
    """The function of Lemmas B.6 and B.7 (Theorem 3.1's right side), with no hypothesis check.

    .. math:: g(x) = \\frac{\\log(4\\pi\\log(1/x))}{\\sqrt{2\\log(1/x)}}

    Parameters
    ----------
    collision_probability : float or array_like
        :math:`x \\in (0, 1]`.

    Returns
    -------
    float or numpy.ndarray
        :math:`g(x)`: positive below :data:`G_ROOT`, peaking at :data:`G_ARGMAX`, :math:`-\\infty` at
        :math:`x = 1` (the limit).

    Notes
    -----
    Lemmas B.6 (concave on :math:`(0, 1)`) and B.7 (increasing on :math:`(0, 1/2]`; in fact on
    :math:`(0, q^*]`, :math:`q^* = 0.5554`). Use :func:`~genloose.theory.bounds.theorem_3_1_bound` for the
    bound itself.

    Examples
    --------
    >>> round(g(0.2), 6), round(g(G_ARGMAX), 6), g(1.0)
    (1.675978, 1.844274, -inf)
    """
    array, scalar = _as_collision(collision_probability, "collision_probability")
    return _out(_g_of_entropy(-np.log(array)), scalar)


def g_prime(collision_probability: Any) -> float | np.ndarray:
    """The first derivative of :func:`g`, in the closed form of Lemma B.7's proof.

    .. math:: g'(x) = \\frac{\\log(4\\pi\\log(1/x)) - 2}{2\\sqrt{2}\\, x\\, (\\log(1/x))^{3/2}}

    Parameters
    ----------
    collision_probability : float or array_like
        :math:`x \\in (0, 1]`.

    Returns
    -------
    float or numpy.ndarray
        :math:`g'(x)`: positive exactly on :math:`(0, q^*)`, :math:`q^* = e^{-e^2/(4\\pi)} = 0.5554`
        (:data:`G_ARGMAX`); :math:`-\\infty` at :math:`x = 1`. It overflows to ``inf`` for
        :math:`x \\lesssim 10^{-306}`.

    Notes
    -----
    Lemma B.7 (verified against mpmath's numerical derivative in tests/theory/test_lemmas.py).

    Examples
    --------
    >>> round(g_prime(0.2), 6), g_prime(G_ARGMAX) == 0 or abs(g_prime(G_ARGMAX)) < 1e-12
    (0.871774, True)
    """
    array, scalar = _as_collision(collision_probability, "collision_probability")
    entropy = -np.log(array)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        value = (_LOG_4PI + np.log(entropy) - 2.0) / (2.0 * math.sqrt(2.0) * array * entropy**1.5)
    value = np.where(entropy == 0, -np.inf, value)
    return _out(np.asarray(value, dtype=np.float64), scalar)


def g_entropy_prime(entropy: Any) -> float | np.ndarray:
    """The derivative of :math:`G(H) = g(e^{-H})` with respect to the collision entropy :math:`H`.

    .. math:: G'(H) = \\frac{2 - \\log(4\\pi H)}{2\\sqrt{2}\\, H^{3/2}}

    Computed in :math:`H` directly: the chain rule through :func:`g_prime`, :math:`G'(H) = -e^{-H} g'(e^{-H})`,
    would underflow :math:`q = e^{-H}` to 0 for :math:`H \\gtrsim 745`. The slope of the inverted bound
    :func:`~genloose.theory.bounds.collision_entropy_upper_bound` at a radius :math:`r` is
    :math:`1 / G'(G^{-1}(r))`.

    Parameters
    ----------
    entropy : float or array_like
        :math:`H \\ge 0` (``inf`` allowed).

    Returns
    -------
    float or numpy.ndarray
        :math:`G'(H)`: negative exactly for :math:`H > e^2/(4\\pi) = 0.588` (where :math:`G` decreases and is
        inverted), ``inf`` at :math:`H = 0` (the limit), ``-0.0`` at :math:`H = \\infty` and where it underflows
        (:math:`H \\gtrsim 10^{205}`).

    Notes
    -----
    Lemma B.7 in the variable :math:`y = \\log(1/x)` (verified against mpmath's numerical derivative in
    tests/theory/test_lemmas.py).

    Examples
    --------
    >>> round(g_entropy_prime(math.log(5.0)), 6)  # at q = 1/5: -g'(1/5) / 5
    -0.174355
    >>> g_entropy_prime([1000.0, math.inf])
    array([-8.31680834e-05, -0.00000000e+00])
    """
    array, scalar = _as_real_array(entropy, "entropy")
    if (array < 0).any():
        raise InvalidArgumentError(
            f"entropy must be >= 0; got {describe(entropy)} with minimum {float(np.min(array))!r}"
        )
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        value = (2.0 - _LOG_4PI - np.log(array)) / (2.0 * math.sqrt(2.0) * array**1.5)
    value = np.where(array == 0, np.inf, value)
    value = np.where(np.isposinf(array), -0.0, value)
    return _out(np.asarray(value, dtype=np.float64), scalar)


def lemma_b6_numerator(entropy: Any) -> float | np.ndarray:
    """The numerator of :math:`g''` in Lemma B.6, as a function of :math:`y = \\log(1/x)`.

    .. math:: N(y) = -2y\\,(\\log(4\\pi y) - 2) + 3\\log(4\\pi y) - 8

    Parameters
    ----------
    entropy : float or array_like
        :math:`y \\ge 0` (:math:`y = 0` gives ``-inf``, the limit).

    Returns
    -------
    float or numpy.ndarray
        :math:`N(y)`, at most :data:`LEMMA_B6_NUMERATOR_MAX` :math:`= -1.4686` (at :math:`y = 0.9877`).

    Notes
    -----
    Lemma B.6. The paper's proof bounds :math:`N(y) \\le \\log(e^5/(16\\pi^2))\\,y + \\log(64\\pi^3/e^9)`
    (slope -0.0620, intercept -1.4069); both are negative, and the bound is correct.

    Examples
    --------
    >>> round(lemma_b6_numerator(0.9877124646731100), 6)
    -1.468593
    """
    array, scalar = _as_real_array(entropy, "entropy")
    if (array < 0).any():
        raise InvalidArgumentError(
            f"entropy must be >= 0; got {describe(entropy)} with minimum {float(np.min(array))!r}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ell = _LOG_4PI + np.log(array)
        value = -2.0 * array * (ell - 2.0) + 3.0 * ell - 8.0
    value = np.where(array == 0, -np.inf, value)
    value = np.where(np.isposinf(array), -np.inf, value)
    return _out(np.asarray(value, dtype=np.float64), scalar)


def g_double_prime(collision_probability: Any) -> float | np.ndarray:
    """The second derivative of :func:`g`, in the closed form of Lemma B.6's proof.

    .. math:: g''(x) = \\frac{-2y\\,(\\log(4\\pi y) - 2) + 3\\log(4\\pi y) - 8}{4\\sqrt{2}\\, x^2\\, y^{5/2}},
              \\qquad y = \\log(1/x)

    Parameters
    ----------
    collision_probability : float or array_like
        :math:`x \\in (0, 1]`.

    Returns
    -------
    float or numpy.ndarray
        :math:`g''(x) < 0` on all of :math:`(0, 1)` (the numerator is at most -1.4686); :math:`-\\infty` at
        :math:`x = 1` (the limit) and, by overflow, for :math:`x \\lesssim 10^{-154}`.

    Notes
    -----
    Lemma B.6. The paper's formula is correct (checked against mpmath's numerical second derivative).

    Examples
    --------
    >>> round(g_double_prime(0.2), 6)
    -2.986127
    """
    array, scalar = _as_collision(collision_probability, "collision_probability")
    entropy = -np.log(array)
    numerator = np.asarray(lemma_b6_numerator(entropy), dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        value = numerator / (4.0 * math.sqrt(2.0) * entropy**2.5) / array / array
    value = np.where(entropy == 0, -np.inf, value)
    return _out(np.asarray(value, dtype=np.float64), scalar)


def lemma_b1_bound(p: Any, *, tolerance: float = 1e-9) -> float:
    """Lemma B.1 evaluated literally, with :math:`a_{\\neq i} = \\Phi^{-1}(P[\\cup_{j \\ne i} K_j])`.

    .. math:: \\sum_{i=1}^{K} \\left[-a_{\\neq i}\\,\\Phi(-a_{\\neq i}) + \\varphi(a_{\\neq i})\\right],
              \\qquad a_{\\neq i} = \\Phi^{-1}\\Big(\\sum_{j \\neq i} p_j\\Big)

    This is the form to compare against :func:`~genloose.theory.bounds.fawzi_bound` (Lemma B.4): by Lemma
    B.3, :math:`\\Phi(-a_{\\neq i}) = p_i` and :math:`a_{\\neq i} = -\\Phi^{-1}(p_i)`, so the two agree. It is
    numerically poor for small :math:`p_i`: :math:`\\sum_{j \\ne i} p_j` rounds to 1 below
    :math:`p_i \\approx 10^{-16}`, and the relative error of a term grows like :math:`\\epsilon / p_i`.

    Parameters
    ----------
    p : array_like
        One class distribution (1-D, summing to 1 within ``tolerance``).
    tolerance : float, default 1e-9
        Allowed :math:`|\\sum_i p_i - 1|`.

    Returns
    -------
    float
        The Lemma B.1 sum (``inf`` when one class holds all the mass).

    Notes
    -----
    Lemma B.1 (stated without proof in the paper, from Fawzi et al. 2018).

    Examples
    --------
    >>> round(lemma_b1_bound([0.5, 0.5]), 12)
    0.797884560803
    """
    tolerance = check_float("tolerance", tolerance, min_value=0.0, max_value=1.0)
    array = _as_distribution(p, "p", log=False, tolerance=tolerance, max_ndim=1)
    total = math.fsum(array.tolist())
    others = total - array  # P[union of the other classes]
    a = ndtri(np.clip(others, 0.0, 1.0))  # clip only undoes rounding of a sum that is within tolerance
    with np.errstate(invalid="ignore", over="ignore"):
        terms = -a * ndtr(-a) + np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    terms = np.where(np.isneginf(a), np.inf, terms)  # others = 0: this class holds all the mass
    terms = np.where(np.isposinf(a), 0.0, terms)  # p_i = 0 (or rounded to it): the limit
    return float(np.sum(terms))


class QuantileBound(NamedTuple):
    """Both sides of Lemma B.2: ``quantile`` :math:`\\ge` ``lower_bound`` is the claim."""

    quantile: float | np.ndarray
    """:math:`\\Phi^{-1}(1 - 1/K)`."""
    lower_bound: float | np.ndarray
    """:math:`\\sqrt{\\log(K^2 / (4\\pi\\log K))}`."""


def lemma_b2_quantile_bound(num_classes: Any, *, check_hypothesis: bool = True) -> QuantileBound:
    """Both sides of Lemma B.2, the lower bound on the upper Gaussian quantile.

    .. math:: \\Phi^{-1}\\left(1 - \\frac{1}{K}\\right) \\ge \\sqrt{\\log\\frac{K^2}{4\\pi\\log K}}
              \\quad (K \\ge 5)

    Parameters
    ----------
    num_classes : float or array_like
        :math:`K > 1`, real (Theorem B.1's proof applies the lemma at :math:`K = 1/p_i`, not an integer).
        :math:`\\log K` is used directly, so :math:`K = 10^{300}` is fine.
    check_hypothesis : bool, default True
        If true, ``lower_bound`` is NaN for :math:`K < 5` with a
        :class:`~genloose._errors.BoundHypothesisWarning`. If false it is the raw formula, NaN (with an
        :class:`~genloose._errors.UndefinedMetricWarning`) only where the logarithm is negative, i.e. on
        :math:`(1.10133, 4.27154)` (:data:`LEMMA_B2_SMALLEST_K`).

    Returns
    -------
    QuantileBound
        ``(quantile, lower_bound)``; floats for scalar input.

    Notes
    -----
    Lemma B.2. It holds for every real :math:`K \\ge 4.27154` (where the right side is defined), not only
    :math:`K \\ge 5`; for integers, :math:`K = 2, 3, 4` have an undefined right side. It is tight to first
    order: the gap :math:`\\Phi^{-1}(1 - 1/K)^2 - \\log(K^2/(4\\pi\\log K))` is 0.108 at :math:`K = 10^7`
    and 0.0051 at :math:`10^{300}`, close to its asymptote :math:`(\\log(4\\pi\\log K) - 2)/(2\\log K)`
    (0.103 and 0.0051).

    Examples
    --------
    >>> b = lemma_b2_quantile_bound(10)
    >>> round(b.quantile, 6), round(b.lower_bound, 6)
    (1.281552, 1.113604)
    """
    array, scalar = _as_real_array(num_classes, "num_classes", allow_inf=False)
    if (array <= 1).any():
        raise InvalidArgumentError(
            f"num_classes must be > 1; got {describe(num_classes)} with minimum {float(np.min(array))!r}"
        )
    log_k = np.log(array)
    quantile = -ndtri_exp(-log_k)
    argument = 2.0 * log_k - (_LOG_4PI + np.log(log_k))
    with np.errstate(invalid="ignore"):
        lower = np.sqrt(argument)
    if check_hypothesis:
        violated = array < 5
        if violated.any():
            lower = np.where(violated, np.nan, lower)
            _warn_hypothesis(
                "Lemma B.2 is stated for num_classes >= 5",
                int(np.count_nonzero(violated)),
                int(violated.size),
                stacklevel=2,
            )
    elif (argument < 0).any():
        warnings.warn(
            "Lemma B.2's right side sqrt(log(K^2/(4 pi log K))) is undefined for K in "
            "(1.10133, 4.27154); NaN is returned there",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return QuantileBound(_out(quantile, scalar), _out(np.asarray(lower), scalar))


class CollisionProbabilityRange(NamedTuple):
    """The exact range of :math:`\\|p\\|_2^2` over distributions on :math:`K` classes with a capped maximum."""

    lower: float | np.ndarray
    """:math:`1/K` (the uniform distribution)."""
    upper: float | np.ndarray
    """:math:`n v^2 + (1 - n v)^2`, :math:`n = \\lfloor 1/v \\rfloor` (the greedy allocation), :math:`\\le v`."""


def collision_probability_range(num_classes: Any, max_probability: Any) -> CollisionProbabilityRange:
    """The tight form of Lemma B.5: the range of :math:`\\|p\\|_2^2` given :math:`K` and :math:`\\max_i p_i \\le v`.

    .. math:: \\frac{1}{K} \\le \\|p\\|_2^2 \\le n v^2 + (1 - n v)^2 \\le v,
              \\qquad n = \\lfloor 1/v \\rfloor

    Both ends are attained (uniform; :math:`n` classes at :math:`v` and the rest in one class). The upper end
    is at most :math:`v` because :math:`\\|p\\|_2^2 \\le \\max_i p_i \\sum_i p_i`.

    Parameters
    ----------
    num_classes : int or array_like
        :math:`K \\ge 1`.
    max_probability : float or array_like
        The cap :math:`v \\in [1/K, 1]` (Lemma B.5 uses :math:`v = \\min(1/5, h(K))`), broadcast against
        ``num_classes``.

    Returns
    -------
    CollisionProbabilityRange
        ``(lower, upper)``.

    Raises
    ------
    InvalidArgumentError
        If :math:`v < 1/K` (no distribution satisfies the cap) or :math:`v \\notin (0, 1]`.

    Notes
    -----
    Lemma B.5. The paper states the upper end as :math:`\\min(1/5, 3h(K))` (see
    :func:`lemma_b5_paper_upper_bound`); its proof, as written, reaches :math:`3v`, not
    :math:`\\min(1/5, 3h(K))`. The statement is still true because the tight end is :math:`\\le v`.

    Examples
    --------
    >>> collision_probability_range(10, 0.2)
    CollisionProbabilityRange(lower=0.1, upper=0.2)
    >>> r = collision_probability_range(100, 0.15)
    >>> round(r.upper, 6)  # 6 classes at 0.15, one at 0.1
    0.145
    """
    classes, k_scalar = _as_num_classes(num_classes, "num_classes")
    cap, cap_scalar = _as_real_array(max_probability, "max_probability")
    if (cap <= 0).any() or (cap > 1).any():
        raise InvalidArgumentError(
            f"max_probability must be in (0, 1]; got {describe(max_probability)} with range "
            f"[{float(np.min(cap))!r}, {float(np.max(cap))!r}]"
        )
    try:
        classes, cap = np.broadcast_arrays(classes, cap)
    except ValueError as error:
        raise InvalidArgumentError(
            f"max_probability must broadcast against num_classes; got shapes {cap.shape} and {classes.shape}"
        ) from error
    if (cap * classes < 1.0 - 1e-12).any():
        raise InvalidArgumentError(
            "max_probability must be >= 1/num_classes (otherwise no distribution satisfies the cap); "
            f"got {describe(max_probability)} for num_classes {describe(num_classes)}"
        )
    scalar = k_scalar and cap_scalar
    lower = 1.0 / classes
    upper = np.maximum(_greedy_max_collision(classes, cap), lower)
    return CollisionProbabilityRange(_out(lower, scalar), _out(upper, scalar))


def lemma_b5_paper_upper_bound(max_probability: Any) -> float | np.ndarray:
    """Lemma B.5's upper bound on :math:`\\|p\\|_2^2` as the paper states it: :math:`\\min(1/5, 3v)`.

    Here :math:`v = \\min(1/5, h(K))` is the cap on :math:`\\max_i p_i`; since :math:`\\min(1/5, 3h(K)) =
    \\min(1/5, 3v)`, the function takes :math:`v`. The tight bound is :math:`\\le v` (see
    :func:`collision_probability_range`), so this is looser by up to a factor 3 (when :math:`v \\le 1/15`).

    Parameters
    ----------
    max_probability : float or array_like
        :math:`v \\in (0, 1]`; the lemma assumes :math:`v \\le 1/5`, and larger values give NaN with a
        :class:`~genloose._errors.BoundHypothesisWarning` (there :math:`\\min(1/5, 3v) = 1/5` can be below the
        true maximum, e.g. :math:`p = (1/2, 1/2)`).

    Returns
    -------
    float or numpy.ndarray
        :math:`\\min(1/5, 3v)`.

    Notes
    -----
    Lemma B.5.

    Examples
    --------
    >>> lemma_b5_paper_upper_bound([0.01, 0.1, 0.2])
    array([0.03, 0.2 , 0.2 ])
    """
    cap, scalar = _as_real_array(max_probability, "max_probability")
    if (cap <= 0).any() or (cap > 1).any():
        raise InvalidArgumentError(
            f"max_probability must be in (0, 1]; got {describe(max_probability)} with range "
            f"[{float(np.min(cap))!r}, {float(np.max(cap))!r}]"
        )
    value = np.minimum(HYPOTHESIS_MAX_PROBABILITY, 3.0 * cap)
    violated = cap > HYPOTHESIS_MAX_PROBABILITY
    if violated.any():
        value = np.where(violated, np.nan, value)
        _warn_hypothesis(
            "Lemma B.5 assumes max_probability = min(1/5, h(K)) <= 1/5",
            int(np.count_nonzero(violated)),
            int(violated.size),
            stacklevel=2,
        )
    return _out(value, scalar)


class ProofChain(NamedTuple):
    """The steps of Theorem B.1's proof, class by class.

    The proof claims ``fawzi_terms <= lemma_b2_terms <= g_terms`` entrywise and
    ``sum(g_terms) <= jensen_bound``.
    """

    fawzi_terms: np.ndarray
    """:math:`\\Phi^{-1}(p_i)p_i + \\varphi(\\Phi^{-1}(p_i))` (Lemma B.4)."""
    lemma_b2_terms: np.ndarray
    """:math:`p_i(\\sqrt{2L_i} - \\sqrt{2L_i - \\ell_i})`, :math:`L_i = \\log(1/p_i)`,
    :math:`\\ell_i = \\log(4\\pi L_i)` (after Lemma B.2)."""
    g_terms: np.ndarray
    """:math:`p_i\\,g(p_i) = p_i \\ell_i / \\sqrt{2L_i}` (after dropping :math:`\\sqrt{2L_i - \\ell_i}`)."""
    jensen_bound: float
    """:math:`g(\\|p\\|_2^2)`, the theorem's bound (Jensen with Lemma B.6)."""


def theorem_3_1_proof_chain(
    p: Any, *, log: bool = False, tolerance: float = 1e-9, check_hypothesis: bool = True
) -> ProofChain:
    """Every intermediate quantity of Theorem B.1's proof, to check each inequality separately.

    .. math:: \\psi(\\Phi^{-1}(p_i)) \\le p_i\\left(\\sqrt{2L_i} - \\sqrt{2L_i - \\ell_i}\\right)
              = \\frac{p_i\\,\\ell_i}{\\sqrt{2L_i} + \\sqrt{2L_i - \\ell_i}}
              \\le \\frac{p_i\\,\\ell_i}{\\sqrt{2L_i}} = p_i\\, g(p_i),
              \\qquad \\sum_i p_i\\, g(p_i) \\le g(\\|p\\|_2^2)

    The middle expression is evaluated in its rationalised form (no cancellation).

    Parameters
    ----------
    p : array_like
        One class distribution (1-D), or its logs with ``log=True``.
    log : bool, default False
        Whether ``p`` holds log-probabilities.
    tolerance : float, default 1e-9
        Allowed deviation of the total mass from 1.
    check_hypothesis : bool, default True
        If true and some :math:`p_i > 1/5`, ``lemma_b2_terms`` and ``g_terms`` are NaN at those classes and
        ``jensen_bound`` is NaN, with a :class:`~genloose._errors.BoundHypothesisWarning`. If false, the raw
        formulas are used; the Lemma B.2 step is then defined for :math:`p_i \\le 1/4.27154` and NaN above
        (with an :class:`~genloose._errors.UndefinedMetricWarning`).

    Returns
    -------
    ProofChain
        ``(fawzi_terms, lemma_b2_terms, g_terms, jensen_bound)``; classes with :math:`p_i = 0` give 0.

    Notes
    -----
    Theorem 3.1 / B.1. Every step holds for :math:`p_i \\le 1/4.27154 = 0.2341` (Lemma B.2 holds for real
    :math:`K \\ge 4.27154` and :math:`\\ell_i > 0` there), so the hypothesis :math:`p_i \\le 1/5` could be
    relaxed to :math:`p_i \\le 0.2341`.

    Examples
    --------
    >>> chain = theorem_3_1_proof_chain([0.1] * 10)
    >>> round(float(chain.fawzi_terms.sum()), 6), round(float(chain.lemma_b2_terms.sum()), 6)
    (0.473432, 1.032362)
    >>> round(float(chain.g_terms.sum()), 6), round(chain.jensen_bound, 6)
    (1.568085, 1.568085)
    """
    tolerance = check_float("tolerance", tolerance, min_value=0.0, max_value=1.0)
    array = _as_distribution(p, "p", log=log, tolerance=tolerance, max_ndim=1)
    fawzi_terms = _fawzi_terms(array, log)
    with np.errstate(divide="ignore", under="ignore"):
        probabilities = np.exp(array) if log else array
        entropies = -array if log else -np.log(array)  # L_i = log(1/p_i); inf for p_i = 0
    empty = probabilities == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ell = _LOG_4PI + np.log(entropies)
        root = np.sqrt(2.0 * entropies)
        inner = 2.0 * entropies - ell
        lemma_b2_terms = probabilities * ell / (root + np.sqrt(inner))
        g_terms = probabilities * ell / root
    lemma_b2_terms = np.where(empty, 0.0, lemma_b2_terms)
    g_terms = np.where(empty, 0.0, g_terms)
    log_collision = _log_collision(array, log)
    jensen = float(_g_of_entropy(np.asarray(-log_collision)))
    if check_hypothesis:
        violated = probabilities > HYPOTHESIS_MAX_PROBABILITY
        if violated.any():
            lemma_b2_terms = np.where(violated, np.nan, lemma_b2_terms)
            g_terms = np.where(violated, np.nan, g_terms)
            jensen = math.nan
            _warn_hypothesis(
                "Theorem 3.1 assumes every class probability <= 1/5",
                int(np.count_nonzero(violated)),
                int(violated.size),
                stacklevel=2,
            )
    elif (inner < 0).any():
        warnings.warn(
            "the Lemma B.2 step is undefined for classes with p_i > 1/4.27154; NaN is returned there",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return ProofChain(fawzi_terms, lemma_b2_terms, g_terms, jensen)


def _log_collision(array: np.ndarray, log: bool) -> float:
    """log ||p||² computed in log space (exact for tiny classes)."""
    if log:
        with np.errstate(divide="ignore"):
            return float(logsumexp(2.0 * array))
    return math.log(math.fsum((array * array).tolist()))
