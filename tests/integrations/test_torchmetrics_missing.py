"""genloose.integrations.torchmetrics without torchmetrics: one line naming the extra to install.

Kept apart from test_torchmetrics.py, which skips as a whole without torchmetrics: this test runs either way.
"""

from __future__ import annotations

import importlib
import sys

import pytest

import genloose


def test_import_without_torchmetrics_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "torchmetrics" or m.startswith("torchmetrics.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "genloose.integrations.torchmetrics", raising=False)
    with pytest.raises(genloose.MissingDependencyError) as info:
        importlib.import_module("genloose.integrations.torchmetrics")
    assert str(info.value) == (
        "genloose.integrations.torchmetrics needs the optional dependency 'torchmetrics', which is not installed; "
        "install it with: pip install 'genloose[torchmetrics]'"
    )
    assert info.value.name == "torchmetrics"
    # the package itself imports nothing optional
    assert importlib.import_module("genloose.integrations").__all__ == []
