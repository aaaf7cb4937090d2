"""Misuse fails loudly: every registered public function refuses malformed input with genloose's own error.

The error must be an :class:`InvalidArgumentError` or :class:`ModelOutputError` (never a bare traceback from
numpy or torch) and its message must name the argument. Registry in bad_inputs.py.
"""

from __future__ import annotations

import inspect
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genloose import GenlooseError, GenlooseWarning
from tests.guarantees.bad_inputs import CASES, EXEMPT, Case

PAIRS = [(case, argument) for case in CASES for argument in case.bad]


@pytest.mark.parametrize(("case", "argument"), PAIRS, ids=[f"{c}-{a}" for c, a in PAIRS])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_malformed_argument_is_refused_with_a_named_error(case: Case, argument: str, data: st.DataObject) -> None:
    value = data.draw(case.bad[argument], label=argument)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GenlooseWarning)
        with pytest.raises(GenlooseError) as info:
            case.call(**{argument: value})
    assert isinstance(info.value, ValueError)
    assert case.message_names.get(argument, argument) in str(info.value), str(info.value)


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
