"""Tests of genloose.theory.lemmas: each appendix lemma as a property, its constants against mpmath, the
derivative formulas against mpmath's numerical derivatives, Theorem B.1's proof step by step."""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genloose import BoundHypothesisWarning, InvalidArgumentError, UndefinedMetricWarning
from genloose.theory import bounds as bd
from genloose.theory import lemmas as lm
from tests.theory._helpers import water_fill

DPS = 50


def _mp_g(x: mp.mpf) -> mp.mpf:
    y = mp.log(1 / x)
    return mp.log(4 * mp.pi * y) / mp.sqrt(2 * y)


def _rel(got: float, want: mp.mpf) -> float:
    with mp.workdps(DPS):
        return float(abs(mp.mpf(got) - want) / abs(want))


# --- distribution strategies (local) ---------------------------------------------------------------


@st.composite
def distributions(
    draw: st.DrawFn,
    *,
    min_classes: int = 1,
    max_classes: int = 40,
    cap: float | None = None,
    log_range: float = 60.0,
) -> np.ndarray:
    k = draw(st.integers(min_classes, max_classes))
    log_w = np.array(draw(st.lists(st.floats(-log_range, 0.0), min_size=k, max_size=k)))
    spread = draw(st.sampled_from([0.02, 0.3, 1.0]))
    w = np.exp(spread * log_w)
    p = w / np.sum(w)
    return water_fill(p, cap) if cap is not None else p


def _collision(p: np.ndarray) -> float:
    return math.fsum((p * p).tolist())


# --- constants ------------------------------------------------------------------------------------


def test_landmark_constants_match_mpmath() -> None:
    with mp.workdps(DPS):
        assert _rel(lm.G_ROOT, mp.exp(-1 / (4 * mp.pi))) <= 1e-15
        assert _rel(lm.G_ARGMAX, mp.exp(-(mp.e**2) / (4 * mp.pi))) <= 1e-15
        assert _rel(lm.G_MAX, 2 * mp.sqrt(2 * mp.pi) / mp.e) <= 1e-15
        assert _rel(lm.G_MAX, _mp_g(mp.exp(-(mp.e**2) / (4 * mp.pi)))) <= 1e-15
        k0 = mp.findroot(lambda k: k**2 - 4 * mp.pi * mp.log(k), 4.3)
        assert _rel(lm.LEMMA_B2_SMALLEST_K, k0) <= 1e-15

        def numerator(y: mp.mpf) -> mp.mpf:
            ell = mp.log(4 * mp.pi * y)
            return -2 * y * (ell - 2) + 3 * ell - 8

        y_star = mp.findroot(lambda y: mp.diff(numerator, y), 1.0)
        assert _rel(lm.LEMMA_B6_NUMERATOR_MAX, numerator(y_star)) <= 1e-15
        assert abs(y_star - mp.mpf("0.98771246467310998")) < 1e-15


def test_g_at_its_landmarks() -> None:
    assert abs(lm.g(lm.G_ROOT)) < 1e-15
    assert lm.g(lm.G_ARGMAX) == pytest.approx(lm.G_MAX, rel=1e-15)
    assert abs(lm.g_prime(lm.G_ARGMAX)) < 1e-14
    assert lm.g(1.0) == -math.inf
    assert lm.g(0.2) == pytest.approx(bd.THEOREM_3_1_RADIUS_LIMIT, rel=1e-15)


@given(st.floats(min_value=1e-300, max_value=1.0, exclude_min=False))
def test_g_is_the_raw_theorem_3_1_formula(q: float) -> None:
    assert lm.g(q) == bd.theorem_3_1_bound(q, check_hypothesis=False)


# --- Lemmas B.6 and B.7: derivatives ---------------------------------------------------------------

DERIVATIVE_POINTS = [1e-300, 1e-100, 1e-10, 0.01, 0.1, 0.2, 0.37, 0.5, 0.7, 0.9, 0.99, 1 - 1e-6]


def _mp_g_of_entropy(y: mp.mpf) -> mp.mpf:
    return mp.log(4 * mp.pi * y) / mp.sqrt(2 * y)


def _mp_derivatives(x: float) -> tuple[mp.mpf, mp.mpf]:
    """g'(x), g''(x) by mpmath's numerical differentiation at 50 digits: directly in x where its default
    step is small against x, else through y = log(1/x): g' = -G'(y)/x, g'' = (G''(y) + G'(y))/x^2."""
    with mp.workdps(DPS):
        xx = mp.mpf(x)
        if x >= 1e-10:
            return mp.diff(_mp_g, xx), mp.diff(_mp_g, xx, 2)
        y = mp.log(1 / xx)
        d1, d2 = mp.diff(_mp_g_of_entropy, y), mp.diff(_mp_g_of_entropy, y, 2)
        return -d1 / xx, (d2 + d1) / xx**2


@pytest.mark.parametrize("x", DERIVATIVE_POINTS)
def test_g_prime_matches_mpmath_derivative(x: float) -> None:
    """Lemma B.7's g' formula, against mpmath's numerical derivative of g."""
    assert _rel(lm.g_prime(x), _mp_derivatives(x)[0]) <= 1e-12


@pytest.mark.parametrize("x", DERIVATIVE_POINTS[1:])  # at 1e-300, g'' = -1e600 overflows
def test_g_double_prime_matches_mpmath_derivative(x: float) -> None:
    """Lemma B.6's g'' formula (as printed in the paper), against mpmath's second derivative."""
    assert _rel(lm.g_double_prime(x), _mp_derivatives(x)[1]) <= 1e-12


@pytest.mark.parametrize("y", [1e-3, 0.3, 1.0, math.log(5.0), 10.0, 745.0, 1e5, 1e200])
def test_g_entropy_prime_matches_mpmath_derivative(y: float) -> None:
    """G'(H) against mpmath's numerical derivative of G(H) = log(4 pi H) / sqrt(2 H), also where e^-H underflows;
    differentiated in t = log H (G'(H) = dG(e^t)/dt / H) so that mpmath's step is relative at every scale."""
    with mp.workdps(DPS):
        yy = mp.mpf(y)
        expected = mp.diff(lambda t: _mp_g_of_entropy(mp.exp(t)), mp.log(yy)) / yy
    assert _rel(lm.g_entropy_prime(y), expected) <= 1e-12


@pytest.mark.parametrize("x", [1e-100, 1e-10, 0.01, 0.2, 0.5, 0.9])
def test_g_entropy_prime_is_the_chain_rule_of_g_prime(x: float) -> None:
    """G'(H) = -x g'(x) at H = log(1/x), where x does not underflow."""
    assert lm.g_entropy_prime(-math.log(x)) == pytest.approx(-x * lm.g_prime(x), rel=1e-13)


def test_g_entropy_prime_edges_and_bad_input() -> None:
    assert lm.g_entropy_prime(0.0) == math.inf
    assert lm.g_entropy_prime(math.inf) == 0.0
    assert lm.g_entropy_prime(2000.0) < 0  # q = e^-2000 is 0 in float64; G' is not
    assert np.all(np.asarray(lm.g_entropy_prime([0.7, 5.0, 1e200])) < 0)  # G decreases above e^2/(4 pi)
    assert lm.g_entropy_prime(1e300) == 0.0  # about -1e-448: underflows
    for bad in (-1.0, math.nan, "1"):
        with pytest.raises(InvalidArgumentError, match="entropy"):
            lm.g_entropy_prime(bad)


def test_derivatives_at_the_ends() -> None:
    assert lm.g_prime(1.0) == -math.inf
    assert lm.g_double_prime(1.0) == -math.inf
    assert lm.g_double_prime(1e-300) == -math.inf  # -1e600 overflows
    assert lm.g_prime(1e-300) > 0


@given(st.floats(min_value=1e-300, max_value=1.0, exclude_max=True))
def test_lemma_b6_g_is_concave_on_all_of_0_1(x: float) -> None:
    """Lemma B.6: g'' < 0 on (0, 1), including near 1 where log(1/x) -> 0 and g -> -inf."""
    assert lm.g_double_prime(x) < 0


@pytest.mark.parametrize("x", [1 - 1e-15, 1 - 1e-12, 1 - 1e-9, 0.99999, 0.95, 0.923])
def test_lemma_b6_concavity_near_one(x: float) -> None:
    assert lm.g_double_prime(x) < 0


@given(st.floats(min_value=1e-300, max_value=1e300))
def test_lemma_b6_numerator_is_negative_and_the_papers_linear_bound_holds(y: float) -> None:
    """N(y) <= max N = -1.4686 < 0; and the paper's proof step N(y) <= log(e^5/(16 pi^2)) y
    + log(64 pi^3/e^9), whose slope and intercept are both negative."""
    n = lm.lemma_b6_numerator(y)
    assert n <= lm.LEMMA_B6_NUMERATOR_MAX * (1 - 1e-15)
    slope = 5.0 - math.log(16 * math.pi**2)
    intercept = math.log(64 * math.pi**3) - 9.0
    assert slope < 0
    assert intercept < 0
    assert n <= slope * y + intercept + 1e-12 * max(1.0, abs(slope * y))


def test_lemma_b6_numerator_edges() -> None:
    assert lm.lemma_b6_numerator(0.0) == -math.inf
    assert lm.lemma_b6_numerator(math.inf) == -math.inf
    with pytest.raises(InvalidArgumentError, match="entropy"):
        lm.lemma_b6_numerator(-1.0)


@given(st.floats(min_value=1e-300, max_value=0.5))
def test_lemma_b7_g_is_increasing_on_0_to_half(x: float) -> None:
    """Lemma B.7: g' > 0 on (0, 1/2]."""
    assert lm.g_prime(x) > 0


@given(st.floats(min_value=1e-300, max_value=1.0, exclude_max=True))
def test_g_is_increasing_exactly_below_its_argmax(x: float) -> None:
    """g' > 0 on (0, q*) and < 0 on (q*, 1), q* = e^{-e^2/(4 pi)} = 0.5554: Lemma B.7's (0, 1/2] is
    correct but not the largest such interval."""
    slope = lm.g_prime(x)
    if x < lm.G_ARGMAX * (1 - 1e-9):
        assert slope > 0
    elif x > lm.G_ARGMAX * (1 + 1e-9):
        assert slope < 0


@given(
    st.floats(min_value=1e-300, max_value=0.5),
    st.floats(min_value=1e-300, max_value=0.5),
)
def test_lemma_b7_monotone_pairs(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    assert lm.g(lo) <= lm.g(hi)


# --- Lemma B.2 -----------------------------------------------------------------------------------


@given(st.floats(min_value=math.log10(5.0), max_value=300.0))
def test_lemma_b2_holds_for_k_at_least_5(log10_k: float) -> None:
    k = 10.0**log10_k
    b = lm.lemma_b2_quantile_bound(k)
    assert b.quantile > b.lower_bound


@given(st.floats(min_value=lm.LEMMA_B2_SMALLEST_K, max_value=5.0))
def test_lemma_b2_also_holds_between_4_27_and_5(k: float) -> None:
    b = lm.lemma_b2_quantile_bound(k, check_hypothesis=False)
    assert b.quantile > b.lower_bound


@given(st.floats(min_value=1.0, max_value=1.10133, exclude_min=True))
def test_lemma_b2_fails_just_above_1(k: float) -> None:
    """For real K in (1, 1.10133] the right side is defined but the left side is negative."""
    b = lm.lemma_b2_quantile_bound(k, check_hypothesis=False)
    assert b.quantile < 0 <= b.lower_bound


@pytest.mark.parametrize("k", [1.2, 2, 3, 4, 4.27])
def test_lemma_b2_right_side_undefined_between(k: float) -> None:
    """K^2 < 4 pi log K on (1.10133, 4.27154): the square root has a negative argument."""
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        b = lm.lemma_b2_quantile_bound(k, check_hypothesis=False)
    assert math.isnan(b.lower_bound)
    assert math.isfinite(b.quantile)


def test_lemma_b2_hypothesis_and_values() -> None:
    with pytest.warns(BoundHypothesisWarning, match=">= 5"):
        b = lm.lemma_b2_quantile_bound([4.5, 5.0])
    assert math.isnan(b.lower_bound[0])
    assert math.isfinite(b.lower_bound[1])
    with mp.workdps(DPS):
        for k in [5, 10, 10**7, mp.mpf(10) ** 300]:
            kk = mp.mpf(k)
            start = float(lm.lemma_b2_quantile_bound(float(kk)).quantile)
            want_q = mp.findroot(lambda a, kk=kk: mp.log(mp.ncdf(-a)) + mp.log(kk), start)
            want_l = mp.sqrt(mp.log(kk**2 / (4 * mp.pi * mp.log(kk))))
            got = lm.lemma_b2_quantile_bound(float(kk))
            assert _rel(got.quantile, want_q) <= 1e-12
            assert _rel(got.lower_bound, want_l) <= 1e-12
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        lm.lemma_b2_quantile_bound(1.0)
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        lm.lemma_b2_quantile_bound(math.inf)


def test_lemma_b2_gap_quoted_in_docs() -> None:
    """At K = 10^7: quantile 5.199338, lower bound 5.188952 (squares differ by 0.1079)."""
    b = lm.lemma_b2_quantile_bound(1e7)
    assert b.quantile == pytest.approx(5.1993375821928, rel=1e-12)
    assert b.lower_bound == pytest.approx(5.1889521543992, rel=1e-12)
    assert b.quantile**2 - b.lower_bound**2 == pytest.approx(0.1079, abs=1e-4)


# --- Lemma B.1 (literal a_{!=i} form) versus Lemma B.4 --------------------------------------------


@given(distributions(min_classes=2, log_range=10.0))
def test_lemma_b4_rewrite_equals_lemma_b1(p: np.ndarray) -> None:
    """Lemma B.4: the a_{!=i} form of Lemma B.1 equals the p_i form, because Phi(-a_{!=i}) = p_i.

    In floats the two forms read a class's "1 - p_i" differently (the sum of the others vs the complement
    of p_i), which differ by the ~1e-16 rounding of sum(p); relative to p_i that is ~1e-16 / p_i, so the
    comparison keeps p_i >~ 1e-6 (weights within e^-10) for a 1e-9 tolerance. For p = (1 - 2e-9, 2e-9)
    the forms differ by 1.5e-9 relative, which is this conditioning, not an error of either."""
    assert lm.lemma_b1_bound(p) == pytest.approx(bd.fawzi_bound(p), rel=1e-9)


def test_lemma_b1_literal_form_values() -> None:
    assert lm.lemma_b1_bound([0.5, 0.5]) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert lm.lemma_b1_bound([1.0, 0.0]) == math.inf
    assert lm.lemma_b1_bound([0.2] * 5) == pytest.approx(bd.fawzi_bound_uniform(5), rel=1e-13)


def test_lemma_b1_literal_form_loses_tiny_classes() -> None:
    """1 - 1e-20 rounds to 1: the literal form drops the class (the B.4 form keeps its 1e-20/9.3)."""
    p = np.array([1e-20, 0.5 - 1e-20, 0.5])
    assert bd.fawzi_term(1e-20) > 0
    # the dropped term is far below the sum's precision, so the totals still agree
    assert lm.lemma_b1_bound(p) == pytest.approx(bd.fawzi_bound(p), rel=1e-12)


# --- Lemma B.5 -----------------------------------------------------------------------------------


@given(distributions(min_classes=1, max_classes=50), st.floats(0.0, 1.0))
def test_lemma_b5_range_contains_every_distribution(p: np.ndarray, slack: float) -> None:
    k = p.size
    v = min(1.0, float(p.max()) + slack * (1.0 - float(p.max())))
    lower, upper = lm.collision_probability_range(k, v)
    q = _collision(p)
    assert lower * (1 - 1e-12) <= q <= upper * (1 + 1e-12)
    assert upper <= v * (1 + 1e-15)  # ||p||^2 <= max p (the tight form of the lemma)
    if v <= 0.2:
        assert upper <= lm.lemma_b5_paper_upper_bound(v)


@given(st.integers(5, 10_000), st.floats(0.0, 1.0))
def test_lemma_b5_range_is_attained(k: int, t: float) -> None:
    v = 1.0 / k + t * (1.0 - 1.0 / k)
    lower, upper = lm.collision_probability_range(k, v)
    n = min(math.floor(1.0 / v), k)
    greedy = np.zeros(k)
    greedy[:n] = v
    if n < k:
        greedy[n] = max(0.0, 1.0 - n * v)
    assert _collision(greedy) == pytest.approx(upper, rel=1e-12)
    assert lower == 1.0 / k


def test_lemma_b5_paper_bound_gap() -> None:
    """The paper's min(1/5, 3h) is up to 3x the tight bound (for v <= 1/15), and its proof as written
    reaches 3v, not min(1/5, 3h): e.g. v = 0.15 gives 3v = 0.45 > 1/5, tight maximum 0.145."""
    for v, ratio in [(0.01, 3.0), (1 / 15, 3.0), (0.1, 2.0), (0.15, 0.2 / 0.145), (0.2, 1.0)]:
        tight = lm.collision_probability_range(1000, v).upper
        assert lm.lemma_b5_paper_upper_bound(v) / tight == pytest.approx(ratio, rel=1e-12)


def test_lemma_b5_domain() -> None:
    with pytest.warns(BoundHypothesisWarning, match="<= 1/5"):
        got = lm.lemma_b5_paper_upper_bound([0.1, 0.5])
    assert math.isnan(got[1])
    assert got[0] == pytest.approx(0.2)
    # with v = 1/2 the true maximum is 1/2 (p = (1/2, 1/2)), above the formula's 1/5
    assert lm.collision_probability_range(2, 0.5).upper == 0.5
    with pytest.raises(InvalidArgumentError, match="1/num_classes"):
        lm.collision_probability_range(10, 0.05)
    with pytest.raises(InvalidArgumentError, match="max_probability"):
        lm.collision_probability_range(10, 0.0)
    with pytest.raises(InvalidArgumentError, match="max_probability"):
        lm.lemma_b5_paper_upper_bound(1.5)
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        lm.collision_probability_range(0, 0.5)
    with pytest.raises(InvalidArgumentError, match="broadcast"):
        lm.collision_probability_range([10, 20], [0.2, 0.2, 0.2])
    r = lm.collision_probability_range([10, 100], 0.2)
    np.testing.assert_allclose(r.lower, [0.1, 0.01])
    np.testing.assert_allclose(r.upper, [0.2, 0.2])


# --- Theorem B.1's proof, step by step -----------------------------------------------------------


@given(distributions(min_classes=5, cap=0.2))
def test_theorem_b1_proof_chain(p: np.ndarray) -> None:
    """Each class: fawzi term <= Lemma B.2 step <= p_i g(p_i); then Jensen: sum <= g(||p||^2)."""
    chain = lm.theorem_3_1_proof_chain(p)
    assert np.all(chain.fawzi_terms <= chain.lemma_b2_terms * (1 + 1e-12))
    assert np.all(chain.lemma_b2_terms <= chain.g_terms * (1 + 1e-12))
    assert math.fsum(chain.g_terms.tolist()) <= chain.jensen_bound * (1 + 1e-12)
    assert chain.jensen_bound == pytest.approx(bd.theorem_3_1_bound(_collision(p)), rel=1e-13)
    log_chain = lm.theorem_3_1_proof_chain(np.log(p), log=True)
    np.testing.assert_allclose(log_chain.fawzi_terms, chain.fawzi_terms, rtol=1e-12)
    np.testing.assert_allclose(log_chain.g_terms, chain.g_terms, rtol=1e-12)


@given(distributions(min_classes=5, cap=1.0 / lm.LEMMA_B2_SMALLEST_K))
def test_theorem_b1_proof_chain_with_relaxed_cap(p: np.ndarray) -> None:
    """Every step also holds for max p <= 1/4.27154 = 0.2341 (Lemma B.2 holds for real K >= 4.27154)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chain = lm.theorem_3_1_proof_chain(p, check_hypothesis=False)
    assert np.all(chain.fawzi_terms <= chain.lemma_b2_terms * (1 + 1e-12))
    assert np.all(chain.lemma_b2_terms <= chain.g_terms * (1 + 1e-12))
    assert math.fsum(chain.g_terms.tolist()) <= chain.jensen_bound * (1 + 1e-12)


def test_theorem_b1_proof_chain_tiny_classes_and_zeros() -> None:
    logs = [-math.inf, math.log(1e-300), math.log(1e-200)] + [math.log(0.1)] * 10
    chain = lm.theorem_3_1_proof_chain(logs, log=True)
    assert chain.fawzi_terms[0] == chain.lemma_b2_terms[0] == chain.g_terms[0] == 0.0
    assert np.all(chain.fawzi_terms[1:] > 0)
    assert np.all(chain.fawzi_terms <= chain.lemma_b2_terms)


def test_theorem_b1_proof_chain_domain() -> None:
    with pytest.warns(BoundHypothesisWarning):
        chain = lm.theorem_3_1_proof_chain([0.3] + [0.1] * 7)
    assert math.isnan(chain.lemma_b2_terms[0])
    assert math.isnan(chain.jensen_bound)
    assert np.isfinite(chain.lemma_b2_terms[1:]).all()
    with pytest.warns(UndefinedMetricWarning):
        chain = lm.theorem_3_1_proof_chain([0.3] + [0.1] * 7, check_hypothesis=False)
    assert math.isnan(chain.lemma_b2_terms[0])
    assert math.isfinite(chain.jensen_bound)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [lm.g, lm.g_prime, lm.g_double_prime])
@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, math.nan, True, "0.5", [0.5, math.nan]])
def test_g_functions_bad_input(function, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match="collision_probability"):
        function(bad)


@pytest.mark.parametrize("bad", [[0.5, 0.4], [], [[0.5, 0.5]], [math.nan, 1.0], [True, False]])
def test_lemma_b1_bad_input(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^p must"):
        lm.lemma_b1_bound(bad)


def test_proof_chain_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^p must"):
        lm.theorem_3_1_proof_chain([[0.5, 0.5]])
    with pytest.raises(InvalidArgumentError, match="tolerance"):
        lm.theorem_3_1_proof_chain([0.5, 0.5], tolerance=2.0)


def test_warnings_point_at_the_caller() -> None:
    calls = [
        (lambda: lm.lemma_b2_quantile_bound(4.5), BoundHypothesisWarning),
        (lambda: lm.lemma_b2_quantile_bound(3.0, check_hypothesis=False), UndefinedMetricWarning),
        (lambda: lm.lemma_b5_paper_upper_bound(0.5), BoundHypothesisWarning),
        (lambda: lm.theorem_3_1_proof_chain([0.3] + [0.1] * 7), BoundHypothesisWarning),
        (
            lambda: lm.theorem_3_1_proof_chain([0.3] + [0.1] * 7, check_hypothesis=False),
            UndefinedMetricWarning,
        ),
    ]
    for call, category in calls:
        with pytest.warns(category) as record:
            call()
        assert len(record) == 1
        assert record[0].filename == __file__
