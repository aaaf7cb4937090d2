"""Lazy exports (genloose/_lazy.py, genloose/__init__.py): cheap imports, and every public name still there."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import genloose
from genloose._lazy import lazy_exports

INIT = Path(genloose.__file__)


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter and return what it prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_genloose_loads_neither_torch_nor_scipy_nor_hypothesis() -> None:
    heavy = ["torch", "scipy", "numpy", "pandas", "hypothesis", "matplotlib", "faiss"]
    code = f"import sys, genloose; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    assert _fresh(code) == "[]"


def test_version_and_help_answer_without_torch() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from genloose.cli import main\n"
        "for flag in ('--version', '--help'):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main([flag])\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)"
    )
    assert _fresh(code) == "False False"


def test_the_main_api_does_not_load_the_testing_tools() -> None:
    code = (
        "import sys, genloose\n"
        "genloose.evaluate, genloose.class_radius, genloose.compare, genloose.theory.fawzi_bound\n"
        "print('hypothesis' in sys.modules, 'genloose.testing' in sys.modules, 'torch' in sys.modules)"
    )
    assert _fresh(code) == "False False True"


@pytest.mark.parametrize("name", genloose.__all__)
def test_every_public_name_resolves_and_is_listed(name: str) -> None:
    assert getattr(genloose, name) is not None
    assert name in dir(genloose)


def test_functions_named_like_their_private_modules_stay_functions() -> None:
    import genloose._compare
    import genloose._evaluate

    assert callable(genloose.evaluate)
    assert genloose.evaluate is genloose._evaluate.evaluate
    assert genloose.compare is genloose._compare.compare


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'genloose' has no attribute 'no_such_thing'"):
        genloose.no_such_thing  # noqa: B018
    assert not hasattr(genloose, "no_such_thing")


def test_the_type_checking_imports_match_the_lazy_table() -> None:
    """What IDEs and type checkers see (the ``if TYPE_CHECKING:`` block) is exactly what the table provides."""
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            seen[alias.name] = node.module
    table = {
        name: ("genloose" + module if module.startswith(".") else module) for name, module in genloose._EXPORTS.items()
    }
    submodules = {name for name, module in table.items() if module == f"genloose.{name}"}
    assert set(seen) == set(table)
    assert {name: module for name, module in seen.items() if name not in submodules} == {
        name: module for name, module in table.items() if name not in submodules
    }
    assert all(seen[name] == "genloose" for name in submodules)
    assert set(genloose.__all__) - {"__version__"} <= set(table)


def test_lazy_exports_store_the_value_once_loaded() -> None:
    getattr_, dir_ = lazy_exports("genloose", {"Estimate": ".estimate", "theory": ".theory"})
    assert getattr_("Estimate") is genloose.estimate.Estimate
    assert getattr_("theory") is sys.modules["genloose.theory"]
    assert {"Estimate", "theory"} <= set(dir_())
    with pytest.raises(AttributeError):
        getattr_("missing")
