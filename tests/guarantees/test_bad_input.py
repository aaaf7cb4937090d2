"""Misuse fails loudly: every registered public function refuses malformed input with genloose's own error.

The error must be an :class:`InvalidArgumentError` or :class:`ModelOutputError` (never a bare traceback from
numpy or torch) and its message must name the argument. Registry in bad_inputs.py.
"""

from __future__ import annotations

import inspect
import math
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genloose
from genloose import GenlooseError, GenlooseWarning, ModelOutputError, SearchConfig
from tests.guarantees.bad_inputs import BED, CASES, EXEMPT, Case

PAIRS = [(case, argument) for case in CASES for argument in case.bad]


def _assert_refused_naming(case: Case, argument: str, value: object) -> None:
    """``case`` called with ``argument=value`` raises a GenlooseError that is a ValueError and names the argument."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GenlooseWarning)
        with pytest.raises(GenlooseError) as info:
            case.call(**{argument: value})
    assert isinstance(info.value, ValueError)
    assert case.message_names.get(argument, argument) in str(info.value), str(info.value)


@pytest.mark.parametrize(("case", "argument"), PAIRS, ids=[f"{c}-{a}" for c, a in PAIRS])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_malformed_argument_is_refused_with_a_named_error(case: Case, argument: str, data: st.DataObject) -> None:
    _assert_refused_naming(case, argument, data.draw(case.bad[argument], label=argument))


@pytest.mark.parametrize("case", [case for case in CASES if case.baseline], ids=str)
def test_the_valid_baseline_call_succeeds(case: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GenlooseWarning)
        case.call()


def _public_callables() -> set[str]:
    names = set()
    import genloose.experiments
    import genloose.reference_models
    import genloose.testing.strategies

    modules = (
        (genloose, ""),
        (genloose.metrics, "metrics."),
        (genloose.theory, "theory."),
        (genloose.testing, "testing."),
        (genloose.testing.strategies, "testing."),
        (genloose.reference_models, "reference_models."),
        (genloose.experiments, "experiments."),
    )
    for module, prefix in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not (inspect.isclass(obj) and issubclass(obj, (Exception, Warning))):
                names.add(prefix + name)
    return names


def test_every_public_function_is_covered_or_exempt_with_a_reason() -> None:
    covered = {case.name.split("(")[0] for case in CASES}
    # top-level re-exports of covered functions count as covered
    covered |= {name.split(".", 1)[1] for name in covered if "." in name}
    missing = sorted(
        name
        for name in _public_callables()
        if name not in covered and name.split(".")[-1] not in covered and name.split(".")[-1] not in EXEMPT
    )
    assert not missing, f"public callables with no bad-input case and no exemption: {missing}"


# ----------------------------------------------------------------------------- tensors the checks must expect


def _is_numeric_data(value: object) -> bool:
    """A number, or a list / array / tensor of numbers: something a caller may as well pass as a tensor."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, torch.Tensor):
        return value.dtype != torch.bool
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, (list, tuple, np.ndarray)) and array.size > 0 and array.dtype.kind in "iuf"


def _as_tensor(value: object) -> torch.Tensor:
    return value.detach().clone() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


TENSOR_ARGUMENTS = [
    (case, name) for case in CASES if case.baseline for name, value in case.valid.items() if _is_numeric_data(value)
]
FLOAT_ARGUMENTS = [(case, name) for case, name in TENSOR_ARGUMENTS if _as_tensor(case.valid[name]).is_floating_point()]
TENSOR_FORMS = {
    "meta": lambda t: t.to("meta"),
    "sparse": lambda t: t.to_sparse(),
}


@pytest.mark.parametrize("form", TENSOR_FORMS)
@pytest.mark.parametrize(("case", "argument"), TENSOR_ARGUMENTS, ids=[f"{c}-{a}" for c, a in TENSOR_ARGUMENTS])
def test_meta_and_sparse_tensors_are_refused_by_name(case: Case, argument: str, form: str) -> None:
    _assert_refused_naming(case, argument, TENSOR_FORMS[form](_as_tensor(case.valid[argument])))


@pytest.mark.parametrize(("case", "argument"), FLOAT_ARGUMENTS, ids=[f"{c}-{a}" for c, a in FLOAT_ARGUMENTS])
def test_bfloat16_tensors_work_like_their_float32_values(case: Case, argument: str) -> None:
    half = _as_tensor(case.valid[argument]).to(torch.bfloat16)
    assert _outcome(case, argument, half) == _outcome(case, argument, half.float())


def _outcome(case: Case, argument: str, value: torch.Tensor) -> tuple[str, str]:
    """The result (tensors compared by value), or the type of the error raised (a scalar option may refuse any
    tensor, and bfloat16 rounding may make a valid value invalid: then float32 of the same values must fail too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GenlooseWarning)
        try:
            result = case.call(**{argument: value})
        except GenlooseError as error:
            return "error", type(error).__name__
    if isinstance(result, torch.Tensor):
        return "tensor", repr(result.detach().float().tolist())
    return "value", repr(result)


# ----------------------------------------------------------------------------- values that drive allocations


@pytest.mark.parametrize("function", [genloose.class_radius, genloose.evaluate], ids=lambda f: f.__name__)
def test_a_broken_model_fails_before_the_latents_are_drawn(function: Callable[..., Any]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ModelOutputError, match="generator returned NaN"):
            function(lambda z: z * math.nan, BED.classifier, latent_dim=2, num_samples=10**7, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # one float64 copy of the 10**7 latents alone would take 153 MiB


@pytest.mark.parametrize("labels", [[0, 10**12, 10**12], np.array([2**40, 3], dtype=np.uint64)])
def test_huge_label_values_are_counted_without_dense_allocation(labels: object) -> None:
    tracemalloc.start()
    try:
        estimate = genloose.metrics.collision_probability(labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    compact = np.unique(np.asarray(labels), return_counts=True)[1]
    assert estimate == genloose.metrics.collision_probability_from_counts(compact)
    assert peak < 2**20


# ----------------------------------------------------------------------------- access detection on ordinary models


def _detaching_generator(z: torch.Tensor) -> torch.Tensor:
    return BED.generator(z.detach())


def _no_grad_generator(z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return BED.generator(z) * 1.0  # a new tensor, made without autograd


def _numpy_classifier(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(BED.classifier(torch.from_numpy(x.numpy())).numpy())


_PARAMETRIC = torch.nn.Sequential(torch.nn.Identity())  # a classifier with parameters: its scores require grad
_PARAMETRIC.append(torch.nn.Linear(3, 3))
with torch.no_grad():
    _PARAMETRIC[1].weight.copy_(torch.eye(3))
    _PARAMETRIC[1].bias.zero_()


def _parametric_classifier(x: torch.Tensor) -> torch.Tensor:
    return _PARAMETRIC(BED.classifier(x))


NOT_DIFFERENTIABLE = {  # (generator, classifier) pairs whose scores do not depend differentiably on the latents
    "detaching generator, classifier with parameters": (_detaching_generator, _parametric_classifier),
    "no_grad generator, classifier with parameters": (_no_grad_generator, _parametric_classifier),
    "classifier calling .numpy()": (BED.generator, _numpy_classifier),
}
ACCESS_FUNCTIONS = {"class_radius": genloose.class_radius, "evaluate": genloose.evaluate}


@pytest.mark.parametrize("function", ACCESS_FUNCTIONS)
@pytest.mark.parametrize("pair", NOT_DIFFERENTIABLE)
def test_auto_access_falls_back_to_labels_and_white_box_refuses(function: str, pair: str) -> None:
    generator, classifier = NOT_DIFFERENTIABLE[pair]
    call = ACCESS_FUNCTIONS[function]
    config = SearchConfig(pool_size=16, max_queries=300)
    kwargs = {"latent_dim": 2, "num_samples": 2, "config": config, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genloose.SearchFailureWarning)  # a small budget: radii still improving
        auto = call(generator, classifier, access="auto", **kwargs)
        black = call(generator, classifier, access="black-box", **kwargs)
    for result in (auto, black):
        assert (result if function == "class_radius" else result.radius_result).access == "black-box"
    np.testing.assert_array_equal(
        (auto if function == "class_radius" else auto.radius_result).radii,
        (black if function == "class_radius" else black.radius_result).radii,
    )
    with pytest.raises(genloose.InvalidArgumentError, match=r"access='white-box' needs a torch generator"):
        call(generator, classifier, access="white-box", **kwargs)


# ----------------------------------------------------------------------------- no false "the search has failed"

_HALF = genloose.testing.halfspace(2, normal=[1.0, 0.0])  # r(z) = |z_1|; the cap at p = (1/2, 1/2) is ~ 0.80
_FAR = np.array([[6.0, 0.0], [-5.0, 1.0], [7.0, -2.0]])  # exact radii 6, 5, 7: far above the cap, and correct


def _one_sampled_point_above_the_cap() -> int:
    """A seed whose single sampled point has |z_1| well above the cap (the search is exact there)."""
    return next(s for s in range(1000) if abs(genloose.metrics.sample_latents(s, 2, 1)[0, 0]) > 1.5)


FALSE_FAILURE_CALLS = {
    "class_radius(latents=...)": lambda: genloose.class_radius(
        _HALF.generator, _HALF.classifier, latents=_FAR, config=SearchConfig(pool_size=64), progress=False
    ),
    "class_radius(num_samples=1)": lambda: genloose.class_radius(
        _HALF.generator,
        _HALF.classifier,
        latent_dim=2,
        num_samples=1,
        seed=_one_sampled_point_above_the_cap(),
        config=SearchConfig(pool_size=64),
        progress=False,
    ),
    "merge_radius_results(latents=...)": lambda: genloose.distributed.merge_radius_results(
        [
            genloose.class_radius(
                _HALF.generator, _HALF.classifier, latents=rows, config=SearchConfig(pool_size=64), progress=False
            )
            for rows in (_FAR[:2], _FAR[2:])
        ],
        confidence=0.95,
    ),
}


@pytest.mark.parametrize("call", FALSE_FAILURE_CALLS)
def test_exact_searches_beyond_the_cap_check_are_not_reported_as_failures(call: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", genloose.SearchFailureWarning)
        result = FALSE_FAILURE_CALLS[call]()  # (evaluate() draws its own N >= 2 points: the check applies)
    np.testing.assert_allclose(result.radii, _HALF.exact_radius(result.latents), rtol=1e-3)  # the search is exact
    assert result.estimate.value > result.fawzi_cap  # so the cap check, applied, would have fired
    assert not result.exceeds_cap


# ----------------------------------------------------------------------------- numbers at the edges

CONFIDENCE_CASES = [case for case in CASES if case.baseline and "confidence" in case.bad]


@pytest.mark.parametrize("confidence", [1 - 1e-16, 1e-300, 0.5])
@pytest.mark.parametrize("case", CONFIDENCE_CASES, ids=str)
def test_extreme_confidence_levels_give_ordered_intervals_without_numpy_warnings(case: Case, confidence: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from numpy (inf * 0, nan comparisons) fails the test
        warnings.simplefilter("ignore", GenlooseWarning)
        result = case.call(confidence=confidence)
    estimates = [value for value in vars(result).values() if isinstance(value, genloose.Estimate)]
    for estimate in [result, *estimates] if isinstance(result, genloose.Estimate) else estimates:
        assert estimate.ci_low <= estimate.ci_high, estimate


PROGRESS_CASES = [case for case in CASES if "progress" in inspect.signature(case.function).parameters]


@pytest.mark.parametrize("case", PROGRESS_CASES, ids=str)
@pytest.mark.parametrize("progress", ["yes", 1, 0.0, object()])
def test_progress_must_be_a_bool_or_none(case: Case, progress: object) -> None:
    with pytest.raises(genloose.InvalidArgumentError, match="progress must be True, False or None"):
        case.call(progress=progress)


def test_the_progress_cases_cover_every_public_function_with_a_progress_argument() -> None:
    assert {"class_radius", "evaluate", "compare", "experiments.run_grid_experiment"} <= {
        case.name for case in PROGRESS_CASES
    }


SUBNORMALS = np.array([5e-324, 1e-320, 3e-321, 2.9e-318, 1.7e-322, 2.2e-308, 1e-200, 1e-152])


def test_subnormal_radii_give_the_documented_limits_not_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entropy = genloose.theory.collision_entropy_upper_bound(SUBNORMALS)
        probability = genloose.theory.collision_probability_lower_bound(SUBNORMALS)
        scalars = [genloose.theory.collision_entropy_upper_bound(float(r)) for r in SUBNORMALS]
    np.testing.assert_array_equal(entropy, np.inf)
    np.testing.assert_array_equal(scalars, np.inf)
    np.testing.assert_array_equal(probability, 0.0)


def test_an_overflowing_radius_batch_is_refused_and_leaves_the_state_mergeable() -> None:
    accumulator = genloose.RadiusAccumulator()
    accumulator.update([1.0, 2.0])
    with pytest.raises(genloose.InvalidArgumentError, match="radii"):
        accumulator.update([1e200, 3e200])
    merged = accumulator.merge(accumulator)
    assert merged.compute().value == 1.5
    assert merged.compute().stderr > 0


def test_lipschitz_with_a_label_classifier_is_refused_before_the_search() -> None:
    seen = []

    def labels_only(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return BED.classifier(x).argmax(dim=1)

    with pytest.raises(genloose.InvalidArgumentError, match="lipschitz needs a classifier that returns scores"):
        genloose.class_radius(
            BED.generator,
            labels_only,
            num_classes=3,
            latent_dim=2,
            num_samples=50,
            config=SearchConfig(lipschitz=1.0),
            progress=False,
        )
    assert sum(seen) <= 3 * 128  # the function probe's three blocks: not one search step


SIZE_ARGUMENTS = [
    (case, name)
    for case in CASES
    if case.baseline
    for name, value in case.valid.items()
    if isinstance(value, int) and not isinstance(value, bool)
]


@pytest.mark.parametrize(("case", "argument"), SIZE_ARGUMENTS, ids=[f"{c}-{a}" for c, a in SIZE_ARGUMENTS])
def test_a_size_no_memory_holds_is_refused_by_name_not_attempted(case: Case, argument: str) -> None:
    """10**15 of anything is either harmless (a seed, K in a formula) or refused before allocating."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            case.call(**{argument: 10**15})
        except GenlooseError as error:
            message = str(error)
        else:
            return
    assert case.message_names.get(argument, argument) in message, message


@pytest.mark.parametrize("adapter", ["Generator", "Classifier"])
def test_an_adapter_batch_size_no_memory_holds_is_refused_before_any_call(adapter: str) -> None:
    calls: list[int] = []

    def generator(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return BED.generator(z)

    g = genloose.Generator(generator, latent_dim=2, batch_size=10**15 if adapter == "Generator" else None)
    c = genloose.Classifier(BED.classifier, batch_size=10**15 if adapter == "Classifier" else None)
    with pytest.raises(genloose.InvalidArgumentError, match="batch_size must fit in memory"):
        genloose.class_radius(g, c, num_samples=3, config=SearchConfig(pool_size=16), progress=False)
    assert not calls
