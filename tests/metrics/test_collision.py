"""Tests of genloose.metrics.collision (and the SumState base it uses).

Statistical tests are seeded, so each is deterministic; where a test compares an empirical
frequency with a nominal level, the stated false-failure rate is the chance that a correct method
would fail for a random seed.
"""

from __future__ import annotations

import itertools
import math
import pickle
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from genloose._errors import InvalidArgumentError, UndefinedMetricWarning
from genloose.estimate import normal_quantile
from genloose.metrics._state import merge_states
from genloose.metrics.collision import (
    CollisionCounter,
    _pair_stats,
    _score_interval,
    _u_statistic_variance,
    collision_entropy,
    collision_entropy_from_counts,
    collision_probability,
    collision_probability_from_counts,
    collision_transforms,
    effective_number_of_classes,
    effective_number_of_classes_from_counts,
    renyi_entropy,
    renyi_entropy_from_counts,
)


# --------------------------------------------------------------------------- references
def _brute_u(labels: list[int]) -> float:
    """Fraction of unordered pairs with equal labels (pairs enumeration)."""
    pairs = list(itertools.combinations(labels, 2))
    return sum(x == y for x, y in pairs) / len(pairs)


def _brute_plugin(labels: list[int]) -> float:
    """Σ_i Σ_j 1[x_i = x_j] / n² over all ordered pairs, i = j included."""
    n = len(labels)
    return sum(x == y for x in labels for y in labels) / n**2


def _brute_s3(labels: list[int]) -> float:
    """Fraction of ordered triples of distinct indices with three equal labels (unbiased Σp³)."""
    triples = list(itertools.permutations(range(len(labels)), 3))
    return sum(labels[i] == labels[j] == labels[k] for i, j, k in triples) / len(triples)


def _compositions(n: int, k: int):
    """All count vectors of length k summing to n."""
    if k == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in _compositions(n - first, k - 1):
            yield (first, *rest)


def _multinomial_moments(n: int, p: np.ndarray):
    """Exact E and Var of U, E of the plug-in and of the unbiased Σp³ by enumeration."""
    outcomes = np.array(list(_compositions(n, p.size)), dtype=np.int64)
    log_pmf = (
        math.lgamma(n + 1)
        - np.array([sum(math.lgamma(c + 1) for c in row) for row in outcomes])
        + (outcomes * np.log(p)).sum(axis=1)
    )
    pmf = np.exp(log_pmf)
    assert abs(pmf.sum() - 1) < 1e-12
    c = outcomes.astype(float)
    u = (c * (c - 1)).sum(axis=1) / (n * (n - 1))
    plug = (c * c).sum(axis=1) / n**2
    s3 = (c * (c - 1) * (c - 2)).sum(axis=1) / (n * (n - 1) * (n - 2)) if n >= 3 else 0 * u
    mean_u = float(pmf @ u)
    return mean_u, float(pmf @ (u - mean_u) ** 2), float(pmf @ plug), float(pmf @ s3)


def _count_matrix(p: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Class counts of ``reps`` samples of size n; only nonzero counts matter to the estimators,
    so for many classes the counts of the observed classes are returned, zero-padded."""
    if p.size * reps <= 4_000_000:
        return rng.multinomial(n, p, size=reps)
    labels = np.sort(rng.choice(p.size, size=(reps, n), p=p), axis=1)
    new = np.ones_like(labels, dtype=bool)
    new[:, 1:] = labels[:, 1:] != labels[:, :-1]
    run = np.cumsum(new, axis=1) - 1
    counts = np.zeros((reps, n), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(reps), n), run.ravel()), 1)
    return counts


# --------------------------------------------------------------------------- exact values
LABEL_SETS = [
    [0, 0],
    [0, 1],
    [0, 0, 0],
    [0, 1, 2],
    [0, 0, 1, 2, 2, 2],
    [3, 1, 3, 3, 0, 1, 5, 5],
    [0, 1, 2, 3, 4, 5, 6, 0],
    [7] * 5 + [2] * 3 + [4],
]


@pytest.mark.parametrize("labels", LABEL_SETS)
def test_values_and_stderr_against_pair_enumeration(labels):
    est = collision_probability(labels)
    n = len(labels)
    assert est.value == pytest.approx(_brute_u(labels), rel=1e-12, abs=1e-15)
    assert est.n == n
    plug = collision_probability(labels, method="plugin")
    assert plug.value == pytest.approx(_brute_plugin(labels), rel=1e-12)
    # the stderr is the exact variance formula at the unbiased estimates of Σp², Σp³
    s3 = _brute_s3(labels) if n >= 3 else 0.0
    expected_var = _u_statistic_variance(float(n), _brute_u(labels), s3)
    assert est.stderr == pytest.approx(math.sqrt(expected_var), rel=1e-12, abs=1e-15)
    assert plug.stderr == pytest.approx(est.stderr * (n - 1) / n, rel=1e-12, abs=1e-15)
    # the interval is for q: the same whatever the point estimator, and it contains the U-statistic
    assert (plug.ci_low, plug.ci_high) == (est.ci_low, est.ci_high)
    assert 0.0 <= est.ci_low <= est.value <= est.ci_high <= 1.0


def test_from_counts_matches_labels_and_accepts_array_types():
    labels = [3, 1, 3, 3, 0, 1, 5, 5]
    counts = np.bincount(labels)
    expected = collision_probability(labels)
    assert collision_probability_from_counts(counts) == expected
    assert collision_probability_from_counts(counts.tolist()) == expected
    assert collision_probability_from_counts(torch.tensor(counts)) == expected
    assert collision_probability_from_counts(counts.astype(np.uint16)) == expected
    assert collision_probability(torch.tensor(labels)) == expected
    assert collision_probability(np.array(labels, dtype=np.uint8)) == expected
    # zero counts and the names of the classes do not matter
    assert collision_probability_from_counts(np.r_[0, counts, 0, 0]) == expected
    assert collision_probability([9 - x for x in labels]) == expected
    assert collision_probability(labels[::-1]) == expected


# --------------------------------------------------------------------------- exact moments
PROBS = [
    np.array([0.5, 0.5]),
    np.array([0.9, 0.1]),
    np.array([0.2, 0.3, 0.5]),
    np.array([0.7, 0.1, 0.1, 0.1]),
    np.array([0.25, 0.25, 0.25, 0.25]),
]


@pytest.mark.parametrize("p", PROBS, ids=lambda p: str(p.tolist()))
@pytest.mark.parametrize("n", [2, 3, 4, 7, 10])
def test_exact_variance_formula_and_unbiasedness_by_enumeration(p, n):
    q, s3 = float((p**2).sum()), float((p**3).sum())
    mean_u, var_u, mean_plug, mean_s3 = _multinomial_moments(n, p)
    assert mean_u == pytest.approx(q, rel=1e-12)  # U is unbiased
    assert var_u == pytest.approx(_u_statistic_variance(float(n), q, s3), rel=1e-10, abs=1e-15)
    assert mean_plug - q == pytest.approx((1 - q) / n, rel=1e-10, abs=1e-15)  # plug-in bias
    if n >= 3:
        assert mean_s3 == pytest.approx(s3, rel=1e-12)


def test_unbiased_and_plugin_bias_by_simulation():
    # n=40 from a Dirichlet-drawn p on 30 classes: too large to enumerate. 20000 seeded replications.
    rng = np.random.default_rng(20240611)
    p = rng.dirichlet(np.ones(30))
    q = float((p**2).sum())
    counts = rng.multinomial(40, p, size=20000)
    u = _pair_stats(counts)["u"]
    se = u.std(ddof=1) / math.sqrt(u.size)
    assert abs(u.mean() - q) <= 4 * se
    plug = ((counts / 40.0) ** 2).sum(axis=1)
    assert abs((plug.mean() - q) - (1 - q) / 40) <= 4 * plug.std(ddof=1) / math.sqrt(plug.size)
    # the plug-in bias is many standard errors away from 0: the test can tell the two apart
    assert (plug.mean() - q) > 10 * plug.std(ddof=1) / math.sqrt(plug.size)
    # the reported stderr matches the spread of the estimator
    stderr = np.array([collision_probability_from_counts(c).stderr for c in counts[:400]])
    assert np.mean(stderr**2) == pytest.approx(u.var(), rel=0.15)


# --------------------------------------------------------------------------- interval
def test_core_matches_public_function():
    rng = np.random.default_rng(3)
    counts = rng.multinomial(25, rng.dirichlet(np.ones(6)), size=50)
    for confidence in (0.9, 0.95):
        low, high = _score_interval(_pair_stats(counts), normal_quantile(confidence))
        for row, lo, hi in zip(counts, low, high, strict=True):
            est = collision_probability_from_counts(row, confidence=confidence)
            assert (est.ci_low, est.ci_high) == (lo, hi)


def test_interval_closed_forms_at_the_edges():
    z2 = normal_quantile(0.95) ** 2
    # no collisions among n >= 9 distinct labels: Wilson on the n(n-1)/2 pairs at 0
    n = 100
    est = collision_probability(list(range(n)))
    pairs = n * (n - 1) / 2
    assert (est.value, est.stderr, est.ci_low) == (0.0, 0.0, 0.0)
    assert est.ci_high == pytest.approx(z2 / (pairs + z2), rel=1e-9)
    # all labels equal: the upper end is 1, the lower end Wilson's at 1 with n/2 effective pairs
    est = collision_probability([4] * n)
    assert (est.value, est.ci_high) == (1.0, 1.0)
    assert est.ci_low == pytest.approx((n / 2) / (n / 2 + z2), rel=1e-9)


@given(
    st.lists(st.integers(0, 12), min_size=2, max_size=60),
    st.floats(0.5, 0.99),
    st.floats(0.5, 0.99),
)
def test_interval_properties(labels, conf_a, conf_b):
    small, large = sorted((conf_a, conf_b))
    a = collision_probability(labels, confidence=small)
    b = collision_probability(labels, confidence=large)
    for est in (a, b):
        assert 0.0 <= est.ci_low <= est.value <= est.ci_high <= 1.0
        assert est.stderr >= 0.0
    # intervals are nested in the confidence level (up to the bisection tolerance)
    assert b.ci_low <= a.ci_low + 1e-12
    assert b.ci_high >= a.ci_high - 1e-12


def _coverage(p, n: int, seed: int, confidence: float = 0.95, reps: int = 2000) -> int:
    p = np.asarray(p, dtype=float)
    p = p / p.sum()
    q = float((p**2).sum())
    counts = _count_matrix(p, n, reps, np.random.default_rng(seed))
    low, high = _score_interval(_pair_stats(counts), normal_quantile(confidence))
    return int(((low <= q) & (q <= high)).sum())


def _zipf(k: int) -> np.ndarray:
    return 1.0 / np.arange(1, k + 1)


def _near_uniform(k: int, n: int, noncentrality: float) -> np.ndarray:
    """p = uniform + d with n·k·||d||² = noncentrality (Pearson's χ² noncentrality)."""
    d = np.linspace(-1.0, 1.0, k)
    d -= d.mean()
    d /= np.linalg.norm(d)
    return 1.0 / k + math.sqrt(noncentrality / (n * k)) * d


_DIRICHLET20 = np.random.default_rng(1).dirichlet(np.ones(20))
_HEAVY_LIGHT = np.r_[np.full(10, 50.0), np.ones(1000)]

# (id, p, n, confidence, seed, pinned number of covering intervals out of 2000)
NOMINAL = [
    ("zipf50-n500", _zipf(50), 500, 0.95, 11, 1900),
    ("zipf1000-n1000", _zipf(1000), 1000, 0.95, 12, 1888),
    ("dirichlet20-n400", _DIRICHLET20, 400, 0.95, 13, 1881),
    ("geometric20-n300", 0.5 ** np.arange(20), 300, 0.95, 14, 1884),
    ("heavy+light-n1000", _HEAVY_LIGHT, 1000, 0.95, 15, 1904),
    ("skewed3-n100", [0.9, 0.05, 0.05], 100, 0.95, 16, 1916),
    ("half+tail-n50", np.r_[999.0, np.ones(999)], 50, 0.95, 17, 1918),
    ("zipf50-n500-90%", _zipf(50), 500, 0.90, 18, 1811),
    ("dirichlet20-n400-99%", _DIRICHLET20, 400, 0.99, 19, 1978),
]
CONSERVATIVE = [
    ("uniform2-n200", np.ones(2), 200, 0.95, 21, 2000),
    ("uniform10-n1000", np.ones(10), 1000, 0.95, 22, 1997),
    ("near-uniform10-nc9", _near_uniform(10, 2000, 9.0), 2000, 0.95, 23, 1979),
    ("near-uniform10-nc36", _near_uniform(10, 2000, 36.0), 2000, 0.95, 24, 1963),
    ("near-uniform10-nc144", _near_uniform(10, 2000, 144.0), 2000, 0.95, 25, 1929),
    ("binary-0.7-n300", [0.7, 0.3], 300, 0.95, 26, 1946),
    ("uniform1000-n300", np.ones(1000), 300, 0.95, 27, 1930),
    ("uniform1e5-n1000", np.ones(100_000), 1000, 0.95, 28, 1937),
]
LOW = [
    ("zipf1000-n30", _zipf(1000), 30, 0.95, 31, 1776),
    ("geometric20-n10", 0.5 ** np.arange(20), 10, 0.95, 32, 1851),
]


@pytest.mark.parametrize(
    ("p", "n", "confidence", "seed", "pinned"), [case[1:] for case in NOMINAL], ids=[case[0] for case in NOMINAL]
)
def test_coverage_consistent_with_nominal(p, n, confidence, seed, pinned):
    # Two-sided exact binomial test at level 0.01 per case (false-failure rate 1% per case for a
    # method with exact coverage and a random seed; the seeds are fixed, so this is deterministic).
    covered = _coverage(p, n, seed, confidence)
    assert covered == pinned
    assert binomtest(covered, 2000, confidence).pvalue > 0.01


@pytest.mark.parametrize(
    ("p", "n", "confidence", "seed", "pinned"),
    [case[1:] for case in CONSERVATIVE],
    ids=[case[0] for case in CONSERVATIVE],
)
def test_coverage_not_below_nominal_where_conservative(p, n, confidence, seed, pinned):
    # Near a uniform distribution on few classes, and in the rare-collision regime, the interval
    # is conservative by design (docs/collision.md): the one-sided test "coverage < nominal" must
    # not reject at level 0.01.
    covered = _coverage(p, n, seed, confidence)
    assert covered == pinned
    assert binomtest(covered, 2000, confidence, alternative="less").pvalue > 0.01


@pytest.mark.parametrize(
    ("p", "n", "confidence", "seed", "pinned"), [case[1:] for case in LOW], ids=[case[0] for case in LOW]
)
def test_coverage_documented_shortfall_for_tiny_heavy_tailed_samples(p, n, confidence, seed, pinned):
    # Known limitation (docs/collision.md): with n of a few tens and a heavy tail the coverage is
    # about 0.89-0.93 at the 95% level. Pinned, and it must not get worse than 0.87.
    covered = _coverage(p, n, seed, confidence)
    assert covered == pinned
    assert covered / 2000 >= 0.87


@pytest.mark.slow
def test_coverage_claims_with_more_replications():
    # The same cases, new seeds, 10000 replications each (standard error <= 0.003): the claims of
    # docs/collision.md. Nominal cases within 0.015 of the level, conservative ones not below
    # it by more than 0.005, the documented shortfall not below 0.87.
    for _, p, n, confidence, seed, _ in NOMINAL:
        covered = _coverage(p, n, seed + 1000, confidence, reps=10000) / 10000
        assert abs(covered - confidence) <= 0.015
    for _, p, n, confidence, seed, _ in CONSERVATIVE:
        assert _coverage(p, n, seed + 1000, confidence, reps=10000) / 10000 >= confidence - 0.005
    for _, p, n, confidence, seed, _ in LOW:
        assert _coverage(p, n, seed + 1000, confidence, reps=10000) / 10000 >= 0.87


# --------------------------------------------------------------------------- transforms
def test_entropy_and_effective_number_are_mapped_intervals():
    labels = [0, 0, 1, 2, 2, 2, 3, 3, 1, 0]
    for method in ("unbiased", "plugin"):
        q = collision_probability(labels, method=method)
        h = collision_entropy(labels, method=method)
        assert h.value == pytest.approx(-math.log(q.value))
        assert (h.ci_low, h.ci_high) == pytest.approx((-math.log(q.ci_high), -math.log(q.ci_low)))
        assert h.stderr == pytest.approx(q.stderr / q.value)
        assert h.method.startswith("-log of the ")
        e = effective_number_of_classes(labels, method=method)
        assert e.value == pytest.approx(1 / q.value)
        assert (e.ci_low, e.ci_high) == pytest.approx((1 / q.ci_high, 1 / q.ci_low))
        assert e.stderr == pytest.approx(q.stderr / q.value**2)
        counts = np.bincount(labels)
        assert collision_entropy_from_counts(counts, method=method) == h
        assert effective_number_of_classes_from_counts(counts, method=method) == e
    # uniform on K classes: effective number K and entropy log K for large exact-balanced samples
    labels = list(range(7)) * 1000
    assert effective_number_of_classes(labels).contains(7.0)
    assert collision_entropy(labels).contains(math.log(7))


def test_collision_transforms_exact_values() -> None:
    # counts (4, 4, 4, 4): q = 4 * 4 * 3 / (16 * 15) = 1/5 exactly, so -log q = log 5 and 1/q = 5
    q = collision_probability_from_counts([4, 4, 4, 4])
    entropy, effective = collision_transforms(q)
    assert q.value == 0.2
    assert entropy.value == pytest.approx(math.log(5.0), rel=1e-15)
    assert effective.value == pytest.approx(5.0, rel=1e-15)
    # delta method: se(-log q) = se(q) / q, se(1/q) = se(q) / q^2; intervals mapped through decreasing maps
    assert entropy.stderr == pytest.approx(q.stderr / 0.2, rel=1e-15)
    assert effective.stderr == pytest.approx(q.stderr / 0.04, rel=1e-15)
    assert (entropy.ci_low, entropy.ci_high) == (-math.log(q.ci_high), -math.log(q.ci_low))
    assert (effective.ci_low, effective.ci_high) == (1.0 / q.ci_high, 1.0 / q.ci_low)
    assert entropy.method == f"-log of the {q.method}"
    assert effective.method == f"inverse of the {q.method}"
    with pytest.warns(UndefinedMetricWarning, match="no two samples share a class"):
        entropy, effective = collision_transforms(collision_probability_from_counts([1, 1, 1]))
    assert entropy.value == effective.value == math.inf
    assert math.isnan(entropy.stderr)
    assert math.isnan(effective.stderr)
    with pytest.raises(InvalidArgumentError, match="collision must be an Estimate"):
        collision_transforms(0.2)


def test_zero_collisions_policy():
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    q = collision_probability(labels)
    with pytest.warns(UndefinedMetricWarning, match="no two samples share a class"):
        h = collision_entropy(labels)
    assert h.value == math.inf
    assert math.isnan(h.stderr)
    assert h.ci_high == math.inf
    assert h.ci_low == pytest.approx(-math.log(q.ci_high))
    assert math.isfinite(h.ci_low)
    with pytest.warns(UndefinedMetricWarning, match="no two samples share a class"):
        e = effective_number_of_classes(labels)
    assert e.value == math.inf
    assert math.isnan(e.stderr)
    assert e.ci_high == math.inf
    assert e.ci_low == pytest.approx(1 / q.ci_high)
    # the collision probability itself is defined (0) and does not warn; neither does the plug-in
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert collision_probability(labels).value == 0.0
        assert math.isfinite(collision_entropy(labels, method="plugin").value)


@pytest.mark.parametrize("fn", [collision_probability, collision_entropy, effective_number_of_classes])
def test_fewer_than_two_samples_policy(fn):
    with pytest.warns(UndefinedMetricWarning, match="at least 2 samples"):
        est = fn([3])
    assert math.isnan(est.value)
    assert math.isnan(est.stderr)
    assert est.n == 1
    expected = {
        collision_probability: (0.0, 1.0),
        collision_entropy: (0.0, math.inf),
        effective_number_of_classes: (1.0, math.inf),
    }[fn]
    assert (est.ci_low, est.ci_high) == expected
    with pytest.warns(UndefinedMetricWarning, match="at least 2 samples"):
        renyi_entropy([3], order=1)


# --------------------------------------------------------------------------- Rényi
def test_renyi_orders_against_closed_forms():
    labels = [0] * 6 + [1] * 3 + [2]
    n, p = 10, np.array([0.6, 0.3, 0.1])
    h0 = renyi_entropy(labels, order=0)
    assert h0.value == pytest.approx(math.log(3))
    assert math.isnan(h0.stderr)
    assert (h0.ci_low, h0.ci_high) == (pytest.approx(math.log(3)), math.inf)
    assert renyi_entropy(labels, order=0, num_classes=5).ci_high == pytest.approx(math.log(5))
    h1 = renyi_entropy(labels, order=1)
    plugin = float(-(p * np.log(p)).sum())
    assert h1.value == pytest.approx(plugin + 2 / (2 * n))  # Miller-Madow
    var = ((p * np.log(p) ** 2).sum() - plugin**2) / n + 2 / (2 * n**2)
    assert h1.stderr == pytest.approx(math.sqrt(var))
    assert h1.ci_low == pytest.approx(max(h1.value - normal_quantile(0.95) * h1.stderr, 0.0))
    assert renyi_entropy(labels, order=2) == collision_entropy(labels)
    assert renyi_entropy(labels, order=2.0) == collision_entropy(labels)
    hinf = renyi_entropy(labels, order=math.inf)
    assert hinf.value == pytest.approx(-math.log(0.6))
    assert math.isnan(hinf.ci_low)
    assert math.isnan(hinf.ci_high)
    assert renyi_entropy_from_counts([6, 3, 1], order=1) == h1
    # ordering of the Rényi family: H_0 >= H_1 >= H_2 >= H_inf for the plug-in distribution
    assert h0.value >= plugin >= -math.log((p**2).sum()) >= hinf.value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shannon_estimate_within_four_standard_errors(seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(8))
    labels = rng.choice(8, size=3000, p=p)
    est = renyi_entropy(labels, order=1, num_classes=8)
    truth = float(-(p * np.log(p)).sum())
    assert abs(est.value - truth) <= 4 * est.stderr
    assert est.ci_high <= math.log(8)


def test_shannon_interval_coverage_when_well_sampled():
    # n = 400 on 20 classes (n >> K, the regime the docstring claims): 2000 seeded replications,
    # pinned count, two-sided binomial test at level 0.01 (1% false-failure rate for a random seed).
    rng = np.random.default_rng(41)
    truth = float(-(_DIRICHLET20 * np.log(_DIRICHLET20)).sum())
    counts = rng.multinomial(400, _DIRICHLET20, size=2000)
    covered = sum(renyi_entropy_from_counts(c, order=1).contains(truth) for c in counts)
    assert covered == 1882
    assert binomtest(covered, 2000, 0.95).pvalue > 0.01


@pytest.mark.parametrize("order", [0.5, 3, -1, "2", True, math.nan, None])
def test_renyi_bad_order(order):
    with pytest.raises(InvalidArgumentError, match="order"):
        renyi_entropy([0, 1, 1], order=order)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0.0, 1.0], "labels must be integer"),
        ([0, -1, 2], "labels must be non-negative"),
        (np.array([0, np.nan]), "labels must be integer"),
        ([], "labels must hold at least one label; got 0 sample"),
        ([[0, 1], [1, 0]], "labels must be a 1-D"),
        ("0101", "labels must be a list"),
        ([True, False], "labels must be integer"),
        (torch.tensor([0.5, 1.0]), "labels must be integer"),
    ],
)
def test_bad_labels_are_named(labels, match):
    for fn in (collision_probability, collision_entropy, effective_number_of_classes):
        with pytest.raises(InvalidArgumentError, match=match):
            fn(labels)
    with pytest.raises(InvalidArgumentError, match=match):
        renyi_entropy(labels, order=1)
    if match.startswith("labels must hold"):
        CollisionCounter().update(labels)  # an empty batch is allowed in a stream
    else:
        with pytest.raises(InvalidArgumentError, match=match):
            CollisionCounter().update(labels)


def test_bad_options_are_named():
    with pytest.raises(InvalidArgumentError, match="labels must be < num_classes=3"):
        collision_probability([0, 1, 3], num_classes=3)
    with pytest.raises(InvalidArgumentError, match="num_classes must be an integer >= 1"):
        collision_probability([0, 1], num_classes=0)
    with pytest.raises(InvalidArgumentError, match="num_classes must be an integer"):
        collision_probability([0, 1], num_classes=2.0)
    with pytest.raises(InvalidArgumentError, match="method must be one of 'unbiased', 'plugin'"):
        collision_probability([0, 1], method="mle")
    for confidence in (0.0, 1.0, 1.5, math.nan, "0.95"):
        with pytest.raises(InvalidArgumentError, match="confidence must be"):
            collision_probability([0, 1], confidence=confidence)
    with pytest.raises(TypeError):
        collision_probability([0, 1], "plugin")  # options are keyword-only


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ([1.0, 2.0], "counts must be integer class counts"),
        ([3, -1], "counts must be non-negative"),
        ([0, 0], "counts must count at least one sample; got 0 sample"),
        ([], "counts must count at least one sample; got 0 sample"),
        ([[1, 2]], "counts must be a 1-D"),
        (np.array([True, True]), "counts must be integer"),
    ],
)
def test_bad_counts_are_named(counts, match):
    for fn in (
        collision_probability_from_counts,
        collision_entropy_from_counts,
        effective_number_of_classes_from_counts,
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            fn(counts)
    with pytest.raises(InvalidArgumentError, match=match):
        renyi_entropy_from_counts(counts, order=1)


def test_renyi_counts_beyond_num_classes():
    with pytest.raises(InvalidArgumentError, match="counts must be zero from index num_classes=2"):
        renyi_entropy_from_counts([1, 1, 1], order=0, num_classes=2)
    assert renyi_entropy_from_counts([1, 1, 0], order=0, num_classes=2).ci_high == math.log(2)


# --------------------------------------------------------------------------- streaming
def _counter_of(batches, num_classes=None) -> CollisionCounter:
    counter = CollisionCounter(num_classes)
    for batch in batches:
        counter.update(batch)
    return counter


labels_st = st.lists(st.integers(0, 15), min_size=0, max_size=80)


@given(labels_st, st.lists(st.integers(0, 80), max_size=6))
def test_streaming_equals_one_shot_for_any_split(labels, cuts):
    bounds = [0, *sorted(c for c in cuts if c <= len(labels)), len(labels)]
    batches = [labels[a:b] for a, b in itertools.pairwise(bounds)]
    streamed = _counter_of(batches)
    sharded = merge_states(*[_counter_of([b]) for b in batches])
    one_shot = _counter_of([labels])
    assert streamed == one_shot == sharded
    assert streamed.n == len(labels)
    assert dict(Counter(labels)) == {k: int(c) for k, c in enumerate(streamed.counts) if c}
    if len(labels) >= 2:
        assert streamed.compute() == collision_probability(labels)
        assert sharded.compute(method="plugin", confidence=0.9) == collision_probability(
            labels, method="plugin", confidence=0.9
        )


@given(labels_st, labels_st, labels_st)
def test_merge_laws(a_labels, b_labels, c_labels):
    a, b, c = (_counter_of([x]) for x in (a_labels, b_labels, c_labels))
    snapshots = [x.state_dict() for x in (a, b, c)]
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(CollisionCounter()) == a == CollisionCounter().merge(a)
    # merging leaves its inputs unchanged
    for x, snap in zip((a, b, c), snapshots, strict=True):
        after = x.state_dict()
        assert after.keys() == snap.keys()
        assert all(np.array_equal(after[k], snap[k]) for k in ("counts", "n"))


@given(labels_st)
def test_state_round_trips(labels):
    counter = _counter_of([labels], num_classes=16)
    assert pickle.loads(pickle.dumps(counter)) == counter
    state = counter.state_dict()
    assert CollisionCounter.from_state_dict(state) == counter
    other = CollisionCounter(16)
    other.load_state_dict(state)
    assert other == counter
    state["counts"][0] += 1  # the state dict is a copy
    assert other == counter


def test_counter_behaviour():
    counter = CollisionCounter(num_classes=4)
    assert counter.counts.tolist() == [0, 0, 0, 0]
    assert counter.n == 0
    with pytest.raises(InvalidArgumentError, match="0 sample"):
        counter.compute()
    counter.update([])  # an empty batch is fine (a rank with no data)
    counter.update(torch.tensor([0, 1, 1]))
    counter.update(np.array([3, 3], dtype=np.int32))
    first = counter.compute()
    assert counter.compute() == first  # idempotent
    assert first == collision_probability([0, 1, 1, 3, 3])
    with pytest.raises(InvalidArgumentError, match="labels must be < num_classes=4"):
        counter.update([4])
    assert counter.n == 5  # a refused batch changes nothing
    counter.reset()
    assert counter == CollisionCounter(4)
    growing = CollisionCounter()
    growing.update([2])
    assert growing.counts.tolist() == [0, 0, 1]
    growing.update([5, 0])
    assert growing.counts.tolist() == [1, 0, 1, 0, 0, 1]
    with pytest.warns(UndefinedMetricWarning, match="at least 2 samples"):
        assert math.isnan(_counter_of([[1]]).compute().value)
    assert "CollisionCounter(num_classes=None" in repr(growing)


def test_counter_bad_merges_and_states():
    with pytest.raises(InvalidArgumentError, match="num_classes must be an integer >= 1"):
        CollisionCounter(0)
    with pytest.raises(InvalidArgumentError, match="other must have the same options"):
        CollisionCounter(3).merge(CollisionCounter(4))
    with pytest.raises(InvalidArgumentError, match="other must be a CollisionCounter"):
        CollisionCounter().merge({"counts": np.zeros(2, dtype=np.int64)})
    with pytest.raises(InvalidArgumentError, match="states must hold at least one state"):
        merge_states()
    good = _counter_of([[0, 1, 1]]).state_dict()
    bad_states = [
        ({**good, "n": np.int64(2)}, "state\\['n'\\] must equal the sum of the counts 3"),
        ({**good, "counts": np.array([2, -1, 2])}, "state\\['counts'\\] must be non-negative"),
        ({**good, "counts": np.array([1.0, 2.0])}, "must be a 1-D array of dtype int64"),
        ({"counts": good["counts"], "n": good["n"]}, "state must have exactly the keys"),
        ({**good, "num_classes": 5}, "state must have the options"),
    ]
    for state, match in bad_states:
        with pytest.raises(InvalidArgumentError, match=match):
            CollisionCounter().load_state_dict(state)
    fixed = _counter_of([[0, 1]], num_classes=2).state_dict()
    with pytest.raises(InvalidArgumentError, match="must have num_classes=2 entries"):
        CollisionCounter(2).load_state_dict({**fixed, "counts": np.array([1, 1, 0])})
    with pytest.raises(InvalidArgumentError, match="state must be a mapping"):
        CollisionCounter.from_state_dict([1, 2])
