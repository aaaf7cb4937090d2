"""Every value the strategies generate satisfies its contract; invalid arguments are refused."""

from __future__ import annotations

import importlib
import math
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from scipy import special

from genloose.testing import (
    GridVoronoiTestbed,
    HalfspaceTestbed,
    SectorsTestbed,
    SpheresTestbed,
    Testbed,
)
from genloose.testing.strategies import (
    TESTBED_KINDS,
    TESTBED_WRAPPERS,
    class_distributions,
    label_arrays,
    latent_batches,
    testbeds,
)


def _exact_sum(p: np.ndarray) -> Fraction:
    return sum((Fraction(x) for x in p.tolist()), Fraction(0))


def _check_distribution(p: np.ndarray, *, min_classes: int, max_classes: int, lo: float, hi: float) -> None:
    assert isinstance(p, np.ndarray)
    assert p.ndim == 1
    assert p.dtype == np.float64
    assert min_classes <= p.size <= max_classes
    assert np.all(np.isfinite(p))
    assert np.all(p >= lo)
    assert np.all(p <= hi)
    assert np.all(p >= 0)
    residual = abs(_exact_sum(p) - 1)
    assert residual <= Fraction(1, 2**53)
    all_at_a_bound = bool(np.all(p == hi) or np.all(p == lo))
    if not all_at_a_bound:
        assert residual <= Fraction(1, 2**54)
        assert math.fsum(p) == 1.0
    assert abs(float(p.sum()) - 1.0) <= p.size * 2.0**-52


# ---- class_distributions ----------------------------------------------------------------------


@given(class_distributions())
def test_default_class_distributions(p: np.ndarray) -> None:
    _check_distribution(p, min_classes=1, max_classes=20, lo=0.0, hi=1.0)


@given(class_distributions(max_probability=1 / 5))
def test_theorem_3_1_distributions(p: np.ndarray) -> None:
    _check_distribution(p, min_classes=5, max_classes=20, lo=0.0, hi=1 / 5)


@given(st.data())
def test_class_distributions_for_any_valid_bounds(data: st.DataObject) -> None:
    min_classes = data.draw(st.integers(1, 30), label="min_classes")
    max_classes = data.draw(st.integers(min_classes, 40), label="max_classes")
    lo = data.draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)), label="min_probability")
    hi = data.draw(
        st.one_of(
            st.none(),
            st.floats(lo, 1.0).filter(lambda v: v > 0),
            st.integers(1, 40).map(lambda k: 1 / k).filter(lambda v: v >= lo),
        ),
        label="max_probability",
    )
    cap = 1.0 if hi is None else hi
    feasible = [
        k
        for k in range(min_classes, max_classes + 1)
        if k * Fraction(cap) >= 1 - Fraction(1, 2**53) and k * Fraction(lo) <= 1 + Fraction(1, 2**53)
    ]
    if not feasible:
        with pytest.raises(InvalidArgument):
            class_distributions(
                min_classes=min_classes, max_classes=max_classes, max_probability=hi, min_probability=lo
            )
        return
    p = data.draw(
        class_distributions(min_classes=min_classes, max_classes=max_classes, max_probability=hi, min_probability=lo)
    )
    _check_distribution(p, min_classes=min(feasible), max_classes=max(feasible), lo=lo, hi=cap)


def test_class_distributions_reach_the_edge_cases() -> None:
    from hypothesis import find

    uniform = find(class_distributions(max_probability=1 / 5), lambda p: True)
    assert uniform.size == 5
    assert np.all(uniform == 0.2)
    one_hot = find(class_distributions(min_classes=3), lambda p: p.max() == 1.0)
    assert sorted(one_hot.tolist()) == [0.0, 0.0, 1.0]
    skewed = find(class_distributions(min_classes=4, min_probability=1e-9), lambda p: p.min() < 1e-6)
    assert skewed.min() >= 1e-9


@settings(max_examples=5)
@given(class_distributions(min_classes=49, max_classes=49, max_probability=1 / 49))
def test_class_distributions_with_inexact_bound(p: np.ndarray) -> None:
    # 49 * fl(1/49) falls short of 1 by round-off; the only distribution is all entries = fl(1/49)
    assert np.all(p == 1 / 49)
    assert abs(_exact_sum(p) - 1) <= Fraction(1, 2**53)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_classes": 0},
        {"min_classes": 2.0},
        {"min_classes": True},
        {"min_classes": 5, "max_classes": 4},
        {"max_probability": 0.0},
        {"max_probability": 1.5},
        {"max_probability": float("nan")},
        {"max_probability": "0.2"},
        {"min_probability": -0.1},
        {"min_probability": 0.3, "max_probability": 0.2},
        {"max_probability": 1 / 5, "max_classes": 4},  # needs K >= 5
        {"min_probability": 0.3, "min_classes": 4},  # needs K <= 3
        {"min_probability": 0.26, "max_probability": 0.3},  # K = 4 too many, 3 too few
    ],
)
def test_class_distributions_reject_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        class_distributions(**kwargs)  # type: ignore[arg-type]


# ---- label_arrays -----------------------------------------------------------------------------


@given(label_arrays())
def test_default_label_arrays(labels: np.ndarray) -> None:
    assert labels.dtype == np.int64
    assert labels.ndim == 1
    assert 1 <= labels.size <= 100
    assert np.all((labels >= 0) & (labels < 20))


@given(st.data())
def test_label_arrays_respect_arguments(data: st.DataObject) -> None:
    k = data.draw(st.integers(1, 50))
    min_size = data.draw(st.integers(0, 20))
    max_size = data.draw(st.integers(min_size, 40))
    as_strategy = data.draw(st.booleans())
    num_classes = st.just(k) if as_strategy else k
    labels = data.draw(label_arrays(num_classes=num_classes, min_size=min_size, max_size=max_size))
    assert labels.dtype == np.int64
    assert labels.shape[0] == labels.size
    assert min_size <= labels.size <= max_size
    assert np.all((labels >= 0) & (labels < k))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 0},
        {"num_classes": 2.5},
        {"num_classes": "3"},
        {"min_size": -1},
        {"min_size": 5, "max_size": 4},
        {"max_size": 1.0},
    ],
)
def test_label_arrays_reject_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        label_arrays(**kwargs)  # type: ignore[arg-type]


def test_label_arrays_check_drawn_num_classes() -> None:
    @settings(max_examples=5)
    @given(label_arrays(num_classes=st.just(0)))
    def inner(labels: np.ndarray) -> None:
        pass

    with pytest.raises(InvalidArgument, match="num_classes"):
        inner()


# ---- latent_batches ---------------------------------------------------------------------------


@given(st.data())
def test_latent_batches_respect_arguments(data: st.DataObject) -> None:
    d = data.draw(st.integers(1, 8))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    bound = data.draw(st.sampled_from([1.0, 8.0, 100.0]))
    z = data.draw(latent_batches(latent_dim=d, min_size=2, max_size=9, dtype=dtype, min_value=-bound, max_value=bound))
    assert z.dtype == dtype
    assert z.ndim == 2
    assert z.shape[1] == d
    assert 2 <= z.shape[0] <= 9
    assert np.all(np.isfinite(z))
    assert np.all(np.abs(z) <= bound)


@given(latent_batches())
def test_default_latent_batches(z: np.ndarray) -> None:
    assert z.dtype == np.float64
    assert 1 <= z.shape[0] <= 64
    assert 1 <= z.shape[1] <= 16
    assert np.all(np.abs(z) <= 8.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latent_dim": 0},
        {"latent_dim": 1.5},
        {"min_size": 3, "max_size": 2},
        {"dtype": np.int64},
        {"dtype": "not a dtype"},
        {"dtype": np.float16},
        {"min_value": 1.0, "max_value": -1.0},
        {"min_value": float("nan")},
        {"max_value": float("inf")},
        {"dtype": np.float32, "max_value": 0.1},
    ],
)
def test_latent_batches_reject_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        latent_batches(**kwargs)  # type: ignore[arg-type]


# ---- testbeds ---------------------------------------------------------------------------------


def _universal_cap(p: np.ndarray) -> float:
    p = p[p > 0]
    a = special.ndtri(p)
    return float(np.sum(p * a + np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)))


@settings(max_examples=25)
@given(testbeds(), st.integers(0, 2**32 - 1))
def test_testbeds_are_consistent(tb: Testbed, seed: int) -> None:
    assert isinstance(tb, Testbed)
    assert 2 <= tb.latent_dim <= 16
    z = np.random.default_rng(seed).standard_normal((64, tb.latent_dim))
    with torch.no_grad():
        scores = tb.classifier(tb.generator(torch.as_tensor(z)))
    assert scores.shape == (64, tb.num_classes)
    assert np.array_equal(scores.argmax(dim=1).numpy(), tb.label(z))
    r = tb.exact_radius(z)
    assert np.all(np.isfinite(r) & (r >= 0))
    p = tb.class_probabilities()
    assert abs(p.sum() - 1) <= 1e-12
    assert 0 < tb.exact_mean_radius() <= _universal_cap(p) + 1e-9


_TYPES = {
    "halfspace": HalfspaceTestbed,
    "sectors": SectorsTestbed,
    "spheres": SpheresTestbed,
    "grid_voronoi": GridVoronoiTestbed,
}


@settings(max_examples=25)
@given(st.data())
def test_testbeds_respect_kinds_and_wrappers(data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.sampled_from(TESTBED_KINDS), min_size=1, unique=True))
    wrappers = data.draw(st.lists(st.sampled_from(TESTBED_WRAPPERS), min_size=1, unique=True))
    d = data.draw(st.integers(2, 6))
    tb = data.draw(testbeds(latent_dims=d, kinds=kinds, wrappers=wrappers))
    assert tb.latent_dim == d
    assert type(tb) in {_TYPES[k] for k in kinds}
    if tb.name.startswith("invertible("):
        assert "invertible" in wrappers
    elif tb.name.startswith("logit_scale("):
        assert "logit_scale" in wrappers
    else:
        assert "none" in wrappers
        assert tb.name.startswith(("halfspace(", "sectors(", "spheres(", "grid_voronoi("))


@settings(max_examples=10)
@given(testbeds(latent_dims=1, kinds=["halfspace", "spheres", "sectors"]))
def test_testbeds_in_one_dimension(tb: Testbed) -> None:
    assert tb.latent_dim == 1
    assert isinstance(tb, (HalfspaceTestbed, SpheresTestbed))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latent_dims": 0},
        {"latent_dims": 2.0},
        {"kinds": []},
        {"kinds": "sectors"},
        {"kinds": ["cubes"]},
        {"wrappers": ["none", "bogus"]},
        {"wrappers": ()},
        {"latent_dims": 1, "kinds": ["sectors", "grid_voronoi"]},
    ],
)
def test_testbeds_reject_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        testbeds(**kwargs)  # type: ignore[arg-type]


# ---- optional dependency --------------------------------------------------------------------


def test_import_without_hypothesis_explains_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "hypothesis" or m.startswith("hypothesis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "genloose.testing.strategies")
    with pytest.raises(ModuleNotFoundError, match=r"pip install .genloose\[testing\].") as info:
        importlib.import_module("genloose.testing.strategies")
    assert info.value.name == "hypothesis"
    # the rest of genloose.testing does not need hypothesis
    assert importlib.import_module("genloose.testing").halfspace is not None
