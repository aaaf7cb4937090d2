"""Tests of genloose.theory.gaussian: values against mpmath (50 digits), Lemma B.3's identities, bad input."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genloose import InvalidArgumentError
from genloose.theory import gaussian as ga

DPS = 50
RTOL = 1e-12  # the brief asks for <= 1e-10; measured errors are <= 3e-14 (see docs/theory.md)


def _mp_lower_quantile(log_p: mp.mpf) -> mp.mpf:
    """Phi^-1(exp(log_p)) for log_p <= log(1/2), by Newton on log Phi (mpmath's ncdf is exact in tails)."""
    start = mp.mpf(float(ga.normal_ppf(float(log_p), log=True)))
    return mp.findroot(lambda a: mp.log(mp.ncdf(a)) - log_p, start)


def _mp_ppf_log(log_p: float) -> mp.mpf:
    """Phi^-1(exp(log_p)) to DPS digits; above p = 1/2 through the upper tail 1 - p = -expm1(log_p)."""
    with mp.workdps(DPS):
        target = mp.mpf(log_p)
        if target <= mp.log(mp.mpf(1) / 2):
            return _mp_lower_quantile(target)
        return -_mp_lower_quantile(mp.log(-mp.expm1(target)))


def _mp_ppf(p: float) -> mp.mpf:
    with mp.workdps(DPS):
        return _mp_ppf_log(mp.log(mp.mpf(p)))


def _mp_mean_excess(x: float) -> mp.mpf:
    with mp.workdps(DPS):
        a = mp.mpf(x)
        return a + mp.npdf(a) / mp.ncdf(a)


def _rel(got: float, want: mp.mpf) -> float:
    """Relative error; near a zero of the reference (Phi^-1(1/2)) it is measured against 1e-30."""
    with mp.workdps(DPS):
        return float(abs(mp.mpf(got) - want) / max(abs(want), mp.mpf("1e-30")))


# --- values against mpmath ------------------------------------------------------------------------

POINTS = [-1000.0, -300.0, -38.0, -37.0, -20.0, -6.0, -5.999, -2.0, -0.3, 0.0, 0.3, 2.0, 6.0, 8.0, 30.0]


@pytest.mark.parametrize("x", POINTS)
def test_pdf_cdf_logcdf_match_mpmath(x: float) -> None:
    with mp.workdps(DPS):
        a = mp.mpf(x)
        if abs(x) < 38:
            assert _rel(ga.normal_pdf(x), mp.npdf(a)) <= RTOL
        assert _rel(ga.normal_logpdf(x), mp.log(mp.npdf(a))) <= RTOL
        if x > -37:  # Phi(-37) ~ 6e-300: still a normal float; beyond it, use logcdf
            assert _rel(ga.normal_cdf(x), mp.ncdf(a)) <= RTOL
        if x < 8:  # log Phi(x) ~ -Phi(-x) above: relative accuracy of a tiny number, tested to 1e-10
            assert _rel(ga.normal_logcdf(x), mp.log(mp.ncdf(a))) <= RTOL
        else:
            assert _rel(ga.normal_logcdf(x), mp.log(mp.ncdf(a))) <= 1e-10


@pytest.mark.parametrize("p", [1e-300, 1e-200, 1e-20, 1e-7, 0.01, 0.2, 0.5, 0.7, 0.99, 1 - 1e-12])
def test_ppf_matches_mpmath(p: float) -> None:
    want = _mp_ppf(p)
    assert _rel(ga.normal_ppf(p), want) <= RTOL
    assert _rel(ga.normal_upper_quantile(p), -want) <= RTOL


@pytest.mark.parametrize("log_p", [-1e5, -2000.0, -700.0, -50.0, -1.0, -1e-3, -1e-20, -1e-300])
def test_ppf_of_log_probability_matches_mpmath(log_p: float) -> None:
    want = _mp_ppf_log(log_p)
    assert _rel(ga.normal_ppf(log_p, log=True), want) <= RTOL
    assert _rel(ga.normal_upper_quantile(log_p, log=True), -want) <= RTOL


def test_mean_excess_matches_mpmath() -> None:
    """Dense check over both regimes (direct erfcx formula, continued-fraction bands) and their seams."""
    rng = np.random.default_rng(20240601)
    seams = [6.0, 8.0, 10.0, 14.0, 20.0, 30.0]
    xs = np.concatenate(
        [
            -np.logspace(-3, 3, 150),
            rng.uniform(-40.0, 40.0, 150),
            np.array([-s for s in seams] + [-s + 1e-9 for s in seams] + [-s - 1e-9 for s in seams]),
        ]
    )
    got = ga.normal_mean_excess(xs)
    errors = [_rel(float(value), _mp_mean_excess(float(x))) for x, value in zip(xs, got, strict=True)]
    assert max(errors) <= 5e-14, (max(errors), xs[int(np.argmax(errors))])


@pytest.mark.parametrize("x", [-500.0, -38.0, -30.0, -7.0, -1.0, 0.0, 1.5, 9.0])
def test_integrated_cdf_matches_mpmath(x: float) -> None:
    with mp.workdps(DPS):
        a = mp.mpf(x)
        want = a * mp.ncdf(a) + mp.npdf(a)  # 50 digits absorb the ~x^2 cancellation
        if want < mp.mpf("1e-300"):
            assert ga.normal_integrated_cdf(x) == 0.0 or _rel(ga.normal_integrated_cdf(x), want) < 1
        else:
            assert _rel(ga.normal_integrated_cdf(x), want) <= RTOL


def test_limits_at_infinity() -> None:
    inf = math.inf
    assert ga.normal_pdf(inf) == 0.0
    assert ga.normal_cdf(-inf) == 0.0
    assert ga.normal_cdf(inf) == 1.0
    assert ga.normal_logcdf(-inf) == -inf
    assert ga.normal_ppf(0.0) == -inf
    assert ga.normal_ppf(1.0) == inf
    assert ga.normal_ppf(-inf, log=True) == -inf
    assert ga.normal_mean_excess(-inf) == 0.0
    assert ga.normal_mean_excess(inf) == inf
    assert ga.normal_integrated_cdf(-inf) == 0.0
    assert ga.normal_integrated_cdf(inf) == inf


def test_shapes_and_types() -> None:
    assert isinstance(ga.normal_pdf(0), float)
    assert isinstance(ga.normal_cdf(np.float32(0.5)), float)
    out = ga.normal_ppf(np.full((2, 3), 0.25))
    assert isinstance(out, np.ndarray)
    assert out.shape == (2, 3)
    assert out.dtype == np.float64
    assert ga.normal_mean_excess(np.zeros((0,))).shape == (0,)


# --- Lemma B.3 ------------------------------------------------------------------------------------

finite_x = st.floats(min_value=-38.0, max_value=38.0, allow_nan=False)


@given(finite_x)
def test_lemma_b3_pdf_is_symmetric(x: float) -> None:
    """Lemma B.3 (B.3): phi(x) = phi(-x), exactly (x enters squared)."""
    assert ga.normal_pdf(x) == ga.normal_pdf(-x)


@given(finite_x)
def test_lemma_b3_cdf_reflection(x: float) -> None:
    """Lemma B.3 (B.4): Phi(-x) = 1 - Phi(x), to an absolute ulp."""
    assert abs(ga.normal_cdf(-x) - (1.0 - ga.normal_cdf(x))) <= 2.3e-16


@given(st.floats(min_value=1e-300, max_value=1.0 - 1e-12))
def test_lemma_b3_quantile_reflection(p: float) -> None:
    """Lemma B.3 (B.5): Phi^-1(1 - p) = -Phi^-1(p) (where 1 - p is exact in float, p >= 1/2 or small)."""
    upper = ga.normal_upper_quantile(p)
    assert upper == -ga.normal_ppf(p)
    if p >= 0.25:  # then 1 - p is computed exactly (Sterbenz) and ndtri(1 - p) is a fair comparison
        assert abs(ga.normal_ppf(1.0 - p) - upper) <= 1e-12 * max(1.0, abs(upper))


@given(st.floats(min_value=-30.0, max_value=30.0))
def test_integrated_cdf_identity(x: float) -> None:
    """psi(x) - psi(-x) = x (the definition integrates Phi; psi' = Phi and Phi(x) + Phi(-x) = 1)."""
    assert math.isclose(ga.normal_integrated_cdf(x) - ga.normal_integrated_cdf(-x), x, rel_tol=1e-12, abs_tol=1e-15)


@given(st.floats(min_value=1e-300, max_value=0.999))
def test_ppf_round_trips_through_cdf(p: float) -> None:
    x = ga.normal_ppf(p)
    assert math.isclose(ga.normal_cdf(x), p, rel_tol=1e-12)
    assert math.isclose(ga.normal_ppf(math.log(p), log=True), x, rel_tol=1e-12, abs_tol=1e-15)


# --- bad input ------------------------------------------------------------------------------------

ALL = [
    ga.normal_pdf,
    ga.normal_logpdf,
    ga.normal_cdf,
    ga.normal_logcdf,
    ga.normal_mean_excess,
    ga.normal_integrated_cdf,
    ga.normal_ppf,
    ga.normal_upper_quantile,
]


@pytest.mark.parametrize("function", ALL)
@pytest.mark.parametrize("bad", [math.nan, [0.1, math.nan], True, np.array([True]), "0.5", None, 1j, [object()]])
def test_bad_input_raises(function, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError):
        function(bad)


@pytest.mark.parametrize("function", [ga.normal_ppf, ga.normal_upper_quantile])
def test_probability_out_of_range_raises(function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match="probability"):
        function(1.5)
    with pytest.raises(InvalidArgumentError, match="probability"):
        function([-0.1, 0.5])
    with pytest.raises(InvalidArgumentError, match=r"log-probabilities \(<= 0\)"):
        function(0.1, log=True)


def test_ragged_input_raises() -> None:
    with pytest.raises(InvalidArgumentError, match="x must be"):
        ga.normal_pdf([[1.0], [1.0, 2.0]])
