"""Tests of genloose.accumulators: values against references, merge laws (hypothesis), states, bad input."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genloose
from genloose import SearchConfig
from genloose._errors import InvalidArgumentError, UndefinedMetricWarning
from genloose.accumulators import CollisionAccumulator, RadiusAccumulator, merge_states
from genloose.estimate import Estimate

POOL_32 = SearchConfig(pool_size=32)  # a small seeding pool

radius_values = st.one_of(st.floats(min_value=0.0, max_value=10.0), st.just(math.inf))
radius_batches = st.lists(radius_values, min_size=0, max_size=30)
label_batches = st.lists(st.integers(min_value=0, max_value=6), min_size=0, max_size=40)


def _radius(*batches: list[float]) -> RadiusAccumulator:
    acc = RadiusAccumulator()
    for batch in batches:
        acc.update(np.asarray(batch, dtype=np.float64))
    return acc


def _collision(*batches: list[int]) -> CollisionAccumulator:
    acc = CollisionAccumulator()
    for batch in batches:
        acc.update(np.asarray(batch, dtype=np.int64))
    return acc


def _close_states(a: dict, b: dict, *, exact: bool = False) -> None:
    """Equal states: options and integer sums exactly, float sums to rounding (or exactly if asked)."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f" and not exact:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=key)
        elif isinstance(x, (np.ndarray, np.generic)):
            assert x.dtype == np.asarray(y).dtype, key
            np.testing.assert_array_equal(x, y, err_msg=key)
        else:
            assert x == y, key


# ----------------------------------------------------------------------------------------------
# radius accumulator: values
# ----------------------------------------------------------------------------------------------


def test_radius_estimate_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    radii = rng.gamma(2.0, 0.5, size=500)
    radii[::50] = np.inf
    acc = _radius(radii[:123].tolist(), radii[123:].tolist())
    finite = radii[np.isfinite(radii)]
    expected = Estimate.from_normal(
        finite.mean(), finite.std(ddof=1) / math.sqrt(finite.size), n=finite.size, confidence=0.95, method="x"
    )
    got = acc.compute()
    assert got.value == pytest.approx(expected.value, rel=1e-13)
    assert got.stderr == pytest.approx(expected.stderr, rel=1e-10)
    assert got.ci_low == pytest.approx(expected.ci_low, rel=1e-10)
    assert got.n == finite.size
    assert acc.censored == 10
    assert "10 of 500 censored points excluded" in got.method


def test_radius_accumulator_matches_class_radius() -> None:
    result = genloose.class_radius(
        torch.nn.Identity(), lambda x: x[:, :3], latent_dim=3, num_samples=60, config=POOL_32, progress=False
    )
    acc = RadiusAccumulator()
    acc.update(result)
    assert acc.compute().value == pytest.approx(result.estimate.value, rel=1e-12)
    assert acc.compute().stderr == pytest.approx(result.estimate.stderr, rel=1e-9)
    from_array = RadiusAccumulator()
    from_array.update(torch.as_tensor(result.radii))
    _close_states(from_array.state_dict(), acc.state_dict(), exact=True)


def test_radius_edge_cases() -> None:
    empty = _radius([])
    with pytest.raises(InvalidArgumentError, match="0 sample"):
        empty.compute()
    only_censored = _radius([math.inf, math.inf])
    with pytest.warns(UndefinedMetricWarning, match="every radius is censored"):
        estimate = only_censored.compute()
    assert estimate.n == 0
    assert math.isnan(estimate.value)
    single = _radius([2.0])
    estimate = single.compute()
    assert estimate.value == 2.0
    assert math.isnan(estimate.stderr)
    assert math.isnan(estimate.ci_low)
    constant = _radius([1.0] * 7)
    assert constant.compute().stderr == 0.0  # never negative or NaN from rounding


def test_radius_bad_input() -> None:
    acc = RadiusAccumulator()
    with pytest.raises(InvalidArgumentError, match="NaN"):
        acc.update([1.0, math.nan])
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        acc.update([-0.5])
    with pytest.raises(InvalidArgumentError, match="1-D"):
        acc.update(np.ones((2, 2)))
    with pytest.raises(InvalidArgumentError, match="RadiusResult"):
        acc.update("1.0")
    with pytest.raises(InvalidArgumentError, match="1-D array of numbers"):
        acc.update(np.array(["a"]))
    assert acc.count == 0  # failed updates change nothing
    with pytest.raises(InvalidArgumentError, match="confidence"):
        RadiusAccumulator(confidence=1.5)
    with pytest.raises(InvalidArgumentError, match="RadiusAccumulator"):
        acc.merge(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="same options"):
        acc.merge(RadiusAccumulator(confidence=0.9))
    with pytest.raises(InvalidArgumentError, match="exactly the keys"):
        acc.load_state_dict({"count": 1})
    bad = acc.state_dict() | {"count": np.array(-1, dtype=np.int64)}
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        acc.load_state_dict(bad)
    with pytest.raises(InvalidArgumentError, match="dtype int64"):
        acc.load_state_dict(acc.state_dict() | {"count": np.array(1.0)})


# ----------------------------------------------------------------------------------------------
# merge laws (hypothesis), for both accumulators
# ----------------------------------------------------------------------------------------------


@given(radius_batches, radius_batches, radius_batches)
def test_radius_merge_laws(a: list[float], b: list[float], c: list[float]) -> None:
    x, y, z = _radius(a), _radius(b), _radius(c)
    before = [pickle.dumps(x.state_dict()), pickle.dumps(y.state_dict())]
    _close_states(x.merge(y).state_dict(), y.merge(x).state_dict(), exact=True)  # commutative: float + is
    _close_states(x.merge(y).merge(z).state_dict(), x.merge(y.merge(z)).state_dict())  # associative (rounding)
    _close_states(x.merge(RadiusAccumulator()).state_dict(), x.state_dict(), exact=True)  # identity
    _close_states(x.merge(y).state_dict(), _radius(a + b).state_dict())  # merge(update A, update B) = update(A ∪ B)
    assert [pickle.dumps(x.state_dict()), pickle.dumps(y.state_dict())] == before  # inputs unchanged


@given(label_batches, label_batches, label_batches)
def test_collision_merge_laws(a: list[int], b: list[int], c: list[int]) -> None:
    x, y, z = _collision(a), _collision(b), _collision(c)
    before = [pickle.dumps(x.state_dict()), pickle.dumps(y.state_dict())]
    _close_states(x.merge(y).state_dict(), y.merge(x).state_dict(), exact=True)  # counts: all exact
    _close_states(x.merge(y).merge(z).state_dict(), x.merge(y.merge(z)).state_dict(), exact=True)
    _close_states(x.merge(CollisionAccumulator()).state_dict(), x.state_dict(), exact=True)
    _close_states(x.merge(y).state_dict(), _collision(a + b).state_dict(), exact=True)
    assert [pickle.dumps(x.state_dict()), pickle.dumps(y.state_dict())] == before


@given(radius_batches, radius_batches, label_batches, label_batches)
def test_merge_states_equals_accumulator_merge(a: list[float], b: list[float], c: list[int], d: list[int]) -> None:
    x, y = _radius(a), _radius(b)
    _close_states(merge_states(x.state_dict(), y.state_dict()), x.merge(y).state_dict(), exact=True)
    merged = RadiusAccumulator.from_state_dict(merge_states(x.state_dict(), y.state_dict()))
    assert merged == x.merge(y)
    assert merge_states(x, y) == x.merge(y)
    u, v = _collision(c), _collision(d)
    _close_states(merge_states(u.state_dict(), v.state_dict()), u.merge(v).state_dict(), exact=True)
    assert CollisionAccumulator.from_state_dict(merge_states(u.state_dict(), v.state_dict())) == u.merge(v)
    assert merge_states(u, v, CollisionAccumulator()) == u.merge(v)


@given(radius_batches)
def test_compute_is_idempotent_and_states_round_trip(a: list[float]) -> None:
    acc = _radius(a, [1.0, 2.0])
    first, second = acc.compute(), acc.compute()
    assert first == second
    clone = pickle.loads(pickle.dumps(acc))
    assert clone.state_dict() == acc.state_dict()
    assert clone.compute() == first
    fresh = RadiusAccumulator()
    fresh.load_state_dict(acc.state_dict())
    assert fresh.compute() == first
    acc.reset()
    assert acc.state_dict() == RadiusAccumulator().state_dict()


@given(label_batches)
def test_collision_state_round_trips(a: list[int]) -> None:
    acc = _collision(a, [0, 1, 1])
    clone = pickle.loads(pickle.dumps(acc))
    _close_states(clone.state_dict(), acc.state_dict())
    fresh = CollisionAccumulator()
    fresh.load_state_dict(acc.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert fresh.compute() == acc.compute() == acc.compute()
        assert fresh.collision_entropy() == acc.collision_entropy()
        assert fresh.effective_number_of_classes() == acc.effective_number_of_classes()


def test_collision_accumulator_matches_the_functions() -> None:
    from genloose.metrics.collision import (
        collision_entropy,
        collision_probability,
        effective_number_of_classes,
    )

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, size=300)
    acc = _collision(labels[:100].tolist(), labels[100:].tolist())
    assert acc.compute() == collision_probability(labels)
    assert acc.collision_entropy() == collision_entropy(labels)
    at_90 = CollisionAccumulator(confidence=0.9)
    at_90.update(labels)
    assert at_90.effective_number_of_classes() == effective_number_of_classes(labels, confidence=0.9)
    assert at_90.compute() == collision_probability(labels, confidence=0.9)
    with pytest.raises(InvalidArgumentError, match="0 sample"):
        CollisionAccumulator().collision_entropy()
    with pytest.raises(InvalidArgumentError, match="0 sample"):
        CollisionAccumulator().effective_number_of_classes()


def test_collision_confidence_is_a_constructor_setting_and_the_old_keyword_is_deprecated() -> None:
    labels = [0, 0, 1, 2, 2, 3]
    acc = CollisionAccumulator(confidence=0.8)
    acc.update(labels)
    assert acc.confidence == 0.8
    assert acc.state_dict()["confidence"] == 0.8
    assert CollisionAccumulator.from_state_dict(acc.state_dict()).compute() == acc.compute()
    assert acc.compute().confidence == 0.8
    assert acc.collision_entropy().confidence == 0.8
    default = CollisionAccumulator()
    default.update(labels)
    for name in ("compute", "collision_entropy", "effective_number_of_classes"):
        with pytest.warns(DeprecationWarning, match=rf"{name}\(confidence=...\) is deprecated: pass confidence to the"):
            old = getattr(default, name)(confidence=0.8)
        assert old == getattr(acc, name)()  # the old call form still gives the interval at its level
    with pytest.raises(InvalidArgumentError, match="confidence"):
        CollisionAccumulator(confidence=1.5)
    with pytest.raises(InvalidArgumentError, match="confidence"), pytest.warns(DeprecationWarning, match="deprecated"):
        default.compute(confidence=1.5)
    with pytest.raises(InvalidArgumentError, match="same options"):
        acc.merge(default)
