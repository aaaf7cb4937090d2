"""The class radius to a requested precision (multilevel Monte Carlo over search budgets)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

import genloose
from genloose import testing
from genloose.metrics.radius.precision import class_radius_to_precision, run_to_precision


def _stub(radius_at: dict[int | None, object]):
    """A range search whose point i has radius ``f(i)`` at each budget (one call per point and budget)."""
    log: list[tuple[int, int, int | None]] = []

    def search(start: int, count: int, budget: int | None):
        log.append((start, count, budget))
        index = np.arange(start, start + count)
        radii = np.asarray(radius_at[budget](index), dtype=np.float64)  # type: ignore[operator]
        return radii, np.full(count, budget or 960, dtype=np.int64), 0, "white-box"

    return search, log


def _hash_uniform(index: np.ndarray, salt: int) -> np.ndarray:
    """A fixed pseudo-random number in (0, 1) per index (independent of which range asks for it)."""
    return np.array([np.random.default_rng([salt, int(i)]).random() for i in index])


def test_coarse_searches_that_are_exact_make_every_level_but_the_cheapest_tiny():
    # every budget finds the same radius: the differences vanish, all but the pilot go to the cheapest level
    radius = {b: (lambda i: 1.0 + _hash_uniform(i, 1)) for b in (None, 30, 60, 120, 240)}
    search, _log = _stub(radius)
    result = run_to_precision(
        search, precision=0.01, confidence=0.95, max_queries=None, max_points=10_000, pilot_points=16
    )
    assert [level.budget for level in result.levels] == [30, 960]
    assert result.levels[1].num_points == 16
    assert result.levels[1].variance == 0.0
    assert result.met
    assert result.precision_reached <= 0.01
    # with exact coarse levels the estimate is the plain mean of the points searched at 30
    n = result.levels[0].num_points
    assert result.estimate.value == pytest.approx(float(np.mean(1.0 + _hash_uniform(np.arange(n), 1))), rel=1e-12)


def test_coarse_searches_that_say_nothing_fall_back_to_plain_sampling():
    # coarse radii independent of the full ones: the ladder of one level is the cheapest
    radius: dict[int | None, object] = {b: (lambda i, b=b: 1.0 + _hash_uniform(i, b)) for b in (30, 60, 120, 240)}
    radius[None] = lambda i: 1.0 + _hash_uniform(i, 7)
    search, _ = _stub(radius)
    result = run_to_precision(
        search, precision=0.05, confidence=0.95, max_queries=None, max_points=10_000, pilot_points=16
    )
    assert [level.budget for level in result.levels] == [960]
    assert result.met


def test_points_are_disjoint_index_ranges_and_every_call_is_counted():
    radius = {b: (lambda i, b=b: 1.0 + _hash_uniform(i, 1) + (b or 960) ** -1.0) for b in (None, 30, 60, 120, 240)}
    search, log = _stub(radius)
    result = run_to_precision(
        search, precision=0.01, confidence=0.95, max_queries=None, max_points=10_000, pilot_points=16
    )
    starts = sorted({(start, count) for start, count, _ in log})
    assert starts[0] == (0, 16)
    for (a, n), (b, _) in itertools.pairwise(starts):
        assert a + n <= b  # after the pilot, each range is searched by one level only
    assert result.total_calls == sum(count * (budget or 960) for _, count, budget in log)


def test_max_points_stops_the_run_with_a_warning_and_reports_what_was_reached():
    radius = {b: (lambda i: _hash_uniform(i, 3)) for b in (None, 30, 60, 120, 240)}
    search, _ = _stub(radius)
    with pytest.warns(genloose.GenlooseWarning, match="max_points=50"):
        result = run_to_precision(
            search, precision=0.001, confidence=0.95, max_queries=None, max_points=50, pilot_points=16
        )
    assert not result.met
    assert result.precision_reached > 0.001
    assert result.num_points == 50


@pytest.fixture(scope="module")
def sectors_testbed():
    return testing.sectors(3, 5)


def test_estimate_on_an_exact_testbed_is_within_its_error(sectors_testbed):
    tb = sectors_testbed
    result = class_radius_to_precision(
        tb.generator, tb.classifier, latent_dim=tb.latent_dim, precision=0.05, seed=3, progress=False
    )
    exact = tb.exact_mean_radius()
    assert result.met
    assert result.precision_reached <= 0.05
    # 4 standard errors: a correct estimator fails this for one seed in 16000; the search's own error is 1e-4
    assert abs(result.estimate.value - exact) <= 4 * result.estimate.stderr + 1e-4 * exact
    assert result.total_calls > 0
    assert result.pool_calls > 0


@pytest.mark.slow
def test_interval_covers_the_exact_mean_at_the_nominal_rate(sectors_testbed):
    tb = sectors_testbed
    exact = tb.exact_mean_radius()
    replications = 60
    covered = 0
    for seed in range(replications):
        result = class_radius_to_precision(
            tb.generator,
            tb.classifier,
            latent_dim=tb.latent_dim,
            precision=0.15,
            seed=100 + seed,
            progress=False,
            pilot_points=16,
        )
        covered += result.estimate.ci_low <= exact <= result.estimate.ci_high
    # at a true coverage of 0.95, fewer covered than this happens with probability below 1e-3
    assert covered >= stats.binom.ppf(1e-3, replications, 0.95)


def test_result_does_not_depend_on_the_batch_size(sectors_testbed):
    tb = sectors_testbed
    runs = [
        class_radius_to_precision(
            tb.generator,
            tb.classifier,
            latent_dim=tb.latent_dim,
            precision=0.2,
            seed=1,
            batch_size=b,
            progress=False,
            pilot_points=8,
        )
        for b in (7, 256)
    ]
    assert runs[0].estimate == runs[1].estimate
    assert runs[0].total_calls == runs[1].total_calls


@pytest.mark.parametrize("precision", [0, 1, -0.1, math.nan, math.inf, True, "0.1", None])
def test_bad_precision_is_refused_by_name(precision):
    with pytest.raises(genloose.InvalidArgumentError, match="precision"):
        class_radius_to_precision(torch.nn.Identity(), lambda x: x, latent_dim=2, precision=precision)


@pytest.mark.parametrize(("argument", "value"), [("pilot_points", 4), ("max_points", 0), ("pilot_points", 200)])
def test_bad_sizes_are_refused_by_name(argument, value):
    kwargs = {"max_points": 100, argument: value}
    with pytest.raises(genloose.InvalidArgumentError, match=argument):
        class_radius_to_precision(torch.nn.Identity(), lambda x: x, latent_dim=2, precision=0.1, **kwargs)
