"""The assertion helpers pass on correct input and fail, with a useful message, on each kind of
wrong input."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genloose import Estimate
from genloose._errors import InvalidArgumentError
from genloose.testing import (
    Testbed,
    assert_estimate_close,
    assert_radii_are_upper_bounds,
    assert_radii_at_least_exact,
    assert_radii_close_to_exact,
    grid_voronoi,
    invertible_wrapper,
    sectors,
    spheres,
)
from genloose.testing.strategies import testbeds

# ---- assert_estimate_close ------------------------------------------------------------------


def _estimate(value: float, stderr: float) -> Estimate:
    return Estimate(
        value=value, stderr=stderr, ci_low=math.nan, ci_high=math.nan, confidence=0.95, n=100, method="test"
    )


@pytest.mark.parametrize(
    ("value", "stderr", "expected", "kwargs"),
    [
        (1.0, 0.1, 1.39, {}),  # 3.9 SE
        (1.0, 0.1, 0.61, {}),
        (1.0, 0.1, 1.4, {}),  # exactly 4 SE (inclusive)
        (1.0, 0.1, 1.2, {"num_stderr": 2.0}),
        (1.0, 0.0, 1.0, {}),  # exact match with zero stderr
        (1.0, 0.0, 1.0625, {"atol": 0.0625}),  # exactly atol (inclusive)
        (1.0, 0.0, 1.1, {"rtol": 0.1}),  # rtol * |expected| = 0.11
        (math.inf, math.nan, math.inf, {}),  # equal infinities
        (2.0, math.nan, 2.1, {"atol": 0.2}),  # NaN stderr is fine with atol
        (2.0, math.inf, 2.1, {"rtol": 0.1}),
        (1.0, 0.1, 1.5, {"atol": 0.05, "rtol": 0.04}),  # 0.4 + 0.05 + 0.06 >= 0.5
    ],
)
def test_estimate_close_passes(value: float, stderr: float, expected: float, kwargs: dict[str, float]) -> None:
    assert_estimate_close(_estimate(value, stderr), expected, **kwargs)


@pytest.mark.parametrize(
    ("value", "stderr", "expected", "kwargs", "match"),
    [
        (1.0, 0.1, 1.41, {}, r"1\.0 differs from expected 1\.41 .*z-score -4\.1"),
        (1.0, 0.1, 0.5, {}, r"5 standard errors"),
        (1.0, 0.1, 1.3, {"num_stderr": 2.0}, r"allowed 0\.2"),
        (1.0, 0.0, 1.0 + 1e-12, {}, r"differs .*\(stderr 0\.0\)"),
        (math.nan, 0.1, 1.0, {}, r"NaN"),
        (1.0, math.nan, 1.0 + 1e-9, {}, r"stderr is nan; give atol or rtol"),
        (1.0, math.inf, 5.0, {}, r"stderr is inf"),
        (1.0, -0.1, 1.0 + 1e-9, {}, r"stderr is -0\.1"),
        (2.0, math.nan, 2.3, {"atol": 0.2}, r"differs"),
        (math.inf, 0.1, 1.0, {}, r"differs"),
        (1.0, 0.1, math.inf, {"rtol": 1.0}, r"differs"),
    ],
)
def test_estimate_close_fails(
    value: float, stderr: float, expected: float, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(AssertionError, match=match):
        assert_estimate_close(_estimate(value, stderr), expected, **kwargs)


def test_estimate_close_accepts_duck_typed_and_tensor_values() -> None:
    assert_estimate_close(SimpleNamespace(value=torch.tensor(1.0), stderr=np.float64(0.5)), 2.5)
    with pytest.raises(AssertionError):
        assert_estimate_close(SimpleNamespace(value=np.array(1.0), stderr=0.1), 2.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((1.0, 1.0), {}, "estimate"),
        ((SimpleNamespace(value=1.0), 1.0), {}, "estimate"),
        ((SimpleNamespace(value="1", stderr=0.1), 1.0), {}, "estimate.value"),
        ((_estimate(1.0, 0.1), math.nan), {}, "expected"),
        ((_estimate(1.0, 0.1), 1.0), {"num_stderr": -1.0}, "num_stderr"),
        ((_estimate(1.0, 0.1), 1.0), {"rtol": math.nan}, "rtol"),
        ((_estimate(1.0, 0.1), 1.0), {"atol": -1e-3}, "atol"),
    ],
)
def test_estimate_close_rejects_invalid_arguments(
    args: tuple[object, ...], kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        assert_estimate_close(*args, **kwargs)  # type: ignore[arg-type]


# ---- class-radius results ------------------------------------------------------------------


@dataclasses.dataclass
class _Result:
    latents: np.ndarray
    witnesses: np.ndarray
    radii: np.ndarray
    labels: np.ndarray
    witness_labels: np.ndarray
    censored: np.ndarray


def _labels(tb: Testbed, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return tb.classifier(tb.generator(torch.as_tensor(z))).argmax(dim=1).numpy()


def _ideal_result(
    tb: Testbed, n: int = 12, seed: int = 0, overshoot: float = 1e-6, censor: tuple[int, ...] = (2, 7)
) -> _Result:
    """Witnesses just past the nearest boundary point: a correct, nearly tight result."""
    z = np.random.default_rng(seed).standard_normal((n, tb.latent_dim))
    b = tb.nearest_boundary_point(z)
    w = z + (1 + overshoot) * (b - z)
    censored = np.zeros(n, dtype=bool)
    censored[list(censor)] = True
    w[censored] = np.nan
    radii = np.linalg.norm(w - z, axis=1)
    radii[censored] = np.inf
    witness_labels = np.full(n, -1, dtype=np.int64)
    witness_labels[~censored] = _labels(tb, w[~censored])
    return _Result(z, w, radii, _labels(tb, z).astype(np.int64), witness_labels, censored)


TB = sectors(4, 5)


def test_correct_result_passes_all_checks() -> None:
    result = _ideal_result(TB)
    assert_radii_are_upper_bounds(result, TB.generator, TB.classifier)
    assert_radii_at_least_exact(result, TB)
    assert_radii_close_to_exact(result, TB, rtol=1e-5, allow_censored=True)


def test_upper_bound_check_accepts_tensors_dtype_and_label_classifiers() -> None:
    tb = spheres(3, [1.0, 2.0])
    result = _ideal_result(tb, overshoot=1e-3)
    as_tensors = _Result(*(torch.as_tensor(v) for v in dataclasses.astuple(result)))
    assert_radii_are_upper_bounds(as_tensors, tb.generator, tb.classifier)
    assert_radii_are_upper_bounds(result, tb.generator, tb.classifier, dtype=torch.float32, batch_size=3)

    def label_classifier(x: torch.Tensor) -> torch.Tensor:
        return tb.classifier(x).argmax(dim=1)

    assert_radii_are_upper_bounds(result, tb.generator, label_classifier)


def _mutate(result: _Result, **changes: object) -> _Result:
    copy = _Result(*(np.array(v, copy=True) for v in dataclasses.astuple(result)))
    for name, change in changes.items():
        setattr(copy, name, change(getattr(copy, name)) if callable(change) else change)
    return copy


def _set(index: int, value: object) -> Callable[[np.ndarray], np.ndarray]:
    def change(array: np.ndarray) -> np.ndarray:
        array[index] = value
        return array

    return change


BASE = _ideal_result(TB)
HALFWAY = BASE.latents + 0.5 * (TB.nearest_boundary_point(BASE.latents) - BASE.latents)


@pytest.mark.parametrize(
    ("result", "match"),
    [
        (
            _mutate(
                BASE, witnesses=_set(4, HALFWAY[4]), radii=_set(4, float(np.linalg.norm(HALFWAY[4] - BASE.latents[4])))
            ),
            r"same label as its latent .*first at index 4",
        ),
        (_mutate(BASE, labels=lambda a: (a + 1) % 5), r"12 of 12 rows: stored label differs"),
        (
            _mutate(
                BASE,
                witness_labels=_set(5, 4 - BASE.witness_labels[5] % 5) if BASE.witness_labels[5] != 2 else _set(5, 0),
            ),
            r"stored witness label differs .*index 5",
        ),
        (_mutate(BASE, radii=_set(6, BASE.radii[6] * 0.999)), r"radius differs .*index 6"),
        (_mutate(BASE, radii=_set(2, 3.0)), r"censored point has a radius that is not \+inf"),
        (_mutate(BASE, witnesses=_set(3, np.nan)), r"non-finite witness.*index 3"),
        (_mutate(BASE, radii=_set(3, np.inf)), r"radius that is not finite"),
        (_mutate(BASE, radii=_set(3, -BASE.radii[3])), r"radius that is not finite and >= 0"),
        (_mutate(BASE, radii=lambda a: a[:-1]), r"result.radii must have shape \(12,\)"),
        (_mutate(BASE, witnesses=lambda a: a[:, :3]), r"result.witnesses must have shape"),
        (_mutate(BASE, latents=lambda a: a[0]), r"result.latents must be 2-D"),
        (_mutate(BASE, censored=lambda a: a.astype(np.int64)), r"censored must be boolean"),
        (_mutate(BASE, labels=lambda a: a.astype(np.float64)), r"labels must be integer"),
        (
            _mutate(BASE, radii=lambda a: np.where(np.isfinite(a), a, 0).astype(np.int64)),
            r"radii must be floating point",
        ),
    ],
)
def test_upper_bound_check_fails_on_wrong_results(result: _Result, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        assert_radii_are_upper_bounds(result, TB.generator, TB.classifier)


def test_upper_bound_check_rejects_invalid_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="result"):
        assert_radii_are_upper_bounds(SimpleNamespace(latents=BASE.latents), TB.generator, TB.classifier)
    with pytest.raises(InvalidArgumentError, match="rtol"):
        assert_radii_are_upper_bounds(BASE, TB.generator, TB.classifier, rtol=-1.0)
    with pytest.raises(InvalidArgumentError, match="dtype"):
        assert_radii_are_upper_bounds(BASE, TB.generator, TB.classifier, dtype="float32")
    with pytest.raises(InvalidArgumentError, match="classifier must return"):
        assert_radii_are_upper_bounds(BASE, TB.generator, lambda x: x.sum())


def test_at_least_exact_fails_below_the_exact_radius() -> None:
    tb = grid_voronoi(3, n=1)
    result = _ideal_result(tb, overshoot=0.0, censor=(0,))
    assert_radii_at_least_exact(result, tb)  # inf (censored) and exactly r pass
    too_small = _mutate(result, radii=_set(5, result.radii[5] * (1 - 1e-4)))
    with pytest.raises(AssertionError, match=r"1 of 12 rows: radius below .*first at index 5"):
        assert_radii_at_least_exact(too_small, tb)
    assert_radii_at_least_exact(too_small, tb, rtol=1e-3)
    with pytest.raises(AssertionError, match="index 1"):
        assert_radii_at_least_exact(_mutate(result, radii=_set(1, np.nan)), tb)
    with pytest.raises(AssertionError, match="latents must have shape"):
        assert_radii_at_least_exact(result, grid_voronoi(4))
    with pytest.raises(AssertionError, match="radii must be a float array"):
        assert_radii_at_least_exact(_mutate(result, radii=lambda a: a[:3]), tb)
    with pytest.raises(InvalidArgumentError, match="testbed"):
        assert_radii_at_least_exact(result, "not a testbed")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="atol"):
        assert_radii_at_least_exact(result, tb, atol=-1.0)


def test_close_to_exact() -> None:
    tb = spheres(5, [2.0])
    result = _ideal_result(tb, overshoot=1e-4, censor=())
    assert_radii_close_to_exact(result, tb, rtol=2e-4)
    with pytest.raises(AssertionError, match="index 0"):
        assert_radii_close_to_exact(result, tb, rtol=5e-5)
    too_small = _mutate(result, radii=_set(3, result.radii[3] / 2))
    with pytest.raises(AssertionError, match="first at index 3"):
        assert_radii_close_to_exact(too_small, tb, rtol=2e-4)
    assert_radii_close_to_exact(too_small, tb, atol=10.0)
    censored = _ideal_result(tb, overshoot=1e-4, censor=(4,))
    with pytest.raises(AssertionError, match="index 4"):
        assert_radii_close_to_exact(censored, tb, rtol=2e-4)
    assert_radii_close_to_exact(censored, tb, rtol=2e-4, allow_censored=True)
    with pytest.raises(InvalidArgumentError, match="result"):
        assert_radii_close_to_exact(
            SimpleNamespace(latents=censored.latents, radii=censored.radii), tb, allow_censored=True
        )
    with pytest.raises(AssertionError, match="censored must be a boolean array"):
        assert_radii_close_to_exact(_mutate(censored, censored=lambda a: a[:2]), tb, allow_censored=True)
    with pytest.raises(InvalidArgumentError, match="allow_censored"):
        assert_radii_close_to_exact(result, tb, allow_censored=1)  # type: ignore[arg-type]


@settings(max_examples=20)
@given(testbeds(), st.integers(0, 2**32 - 1))
def test_ideal_results_pass_on_every_testbed(tb: Testbed, seed: int) -> None:
    result = _ideal_result(tb, seed=seed, overshoot=1e-5)
    keep = result.radii > 1e-9
    keep[list((2, 7))] = True
    if not np.all(keep):  # a latent on a boundary (r = 0) has no witness strictly beyond it
        return
    assert_radii_are_upper_bounds(result, tb.generator, tb.classifier)
    assert_radii_at_least_exact(result, tb)
    assert_radii_close_to_exact(result, tb, rtol=2e-5, atol=1e-12, allow_censored=True)


def test_float32_witness_with_wrapped_model() -> None:
    tb = invertible_wrapper(sectors(3, 3), image_shape=8)
    result = _ideal_result(tb, overshoot=1e-3)
    assert_radii_are_upper_bounds(result, tb.generator, tb.classifier, dtype=torch.float32)
    assert_radii_at_least_exact(result, tb, atol=1e-4)


def test_docs_testing_page_examples_run() -> None:
    """Every ```python block of docs/testing.md runs, and so does every test it defines."""
    page = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 4
    for test in tests:
        test()  # type: ignore[operator]
