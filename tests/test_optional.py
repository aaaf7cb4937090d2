"""Optional dependencies (genloose/_optional.py): a missing one is one line naming the extra to install."""

from __future__ import annotations

import sys

import pytest

import genloose
from genloose._optional import import_optional, missing_dependency


def test_a_missing_module_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "foolbox", None)  # as if not installed
    with pytest.raises(genloose.MissingDependencyError) as info:
        import_optional("foolbox.attacks", extra="bench", needed_for="benchmarks/radius_peers.py")
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "benchmarks/radius_peers.py needs the optional dependency 'foolbox', which is not installed; "
        "install it with: pip install 'genloose[bench]'"
    )
    assert isinstance(info.value, ModuleNotFoundError)
    assert info.value.name == "foolbox"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_an_installed_module_is_returned() -> None:
    assert import_optional("json", extra="testing", needed_for="x") is sys.modules["json"]


def test_a_failing_import_inside_the_module_is_not_rephrased() -> None:
    """An optional package that is installed but broken keeps its own error: it is not 'missing'."""
    error = ModuleNotFoundError("No module named 'some_dependency_of_it'", name="some_dependency_of_it")
    assert missing_dependency(error, "hypothesis", extra="testing", needed_for="x") is error
