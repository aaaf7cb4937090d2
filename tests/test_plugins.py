"""Tests for genloose._plugins: what ``MODULE:ATTR`` loads, which objects are factories, and the usage errors."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import pytest
import torch

from genloose import Classifier, Generator
from genloose._plugins import UsageError, _is_factory, load_object


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (collections.OrderedDict, True),  # a class: called once
        (lambda: 3, True),  # no required argument
        (lambda scale=2.0: scale, True),
        (lambda x: x, False),  # takes a batch
        (lambda *xs: xs, False),
        (lambda x, *, k=1: x, False),
        (torch.nn.Identity(), False),  # a module instance is the model itself
        (Generator(torch.nn.Identity(), latent_dim=2), False),
        (Classifier(lambda x: x), False),
        (3.0, False),  # not callable
    ],
)
def test_is_factory(obj: object, expected: bool) -> None:
    assert _is_factory(obj) is expected


def test_load_object_takes_dotted_attributes_and_calls_factories() -> None:
    assert load_object("math:tau") == math.tau
    assert load_object("collections:OrderedDict.fromkeys") == collections.OrderedDict.fromkeys
    made = load_object("collections:OrderedDict")
    assert isinstance(made, collections.OrderedDict)
    assert made is not load_object("collections:OrderedDict")  # a factory is called on every load


def test_load_object_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "user_models.py"
    path.write_text("def make():\n    return 7\n\n\ndef model(x):\n    return x\n")
    assert load_object(f"{path}:make") == 7
    assert load_object(f"{path}:model").__name__ == "model"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("math", "--generator must be MODULE:ATTR"),
        ("math:tau:pi", "--generator must be MODULE:ATTR"),
        (":tau", "--generator must be MODULE:ATTR"),
        ("math:", "--generator must be MODULE:ATTR"),
        ("genloose_no_such_module:x", "--generator: cannot import module 'genloose_no_such_module'"),
        ("math:no_such.attr", r"--generator: 'math' has no attribute 'no_such.attr' \(looked up 'no_such'\)"),
        ("math:tau.nope", r"looked up 'nope'"),
        ("no/such/file.py:x", "--generator: file 'no/such/file.py' does not exist"),
    ],
)
def test_load_object_usage_errors_name_the_option(spec: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        load_object(spec, option="--generator")


def test_a_non_string_spec_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="object must be MODULE:ATTR"):
        load_object(3)  # type: ignore[arg-type]
