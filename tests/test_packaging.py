"""Every import is declared: a fresh ``pip install -e ".[test]"`` can run the package, its tests and benchmarks.

The imports of ``genloose/`` (runtime dependencies), ``tests/`` and ``conftest.py`` (plus the ``test`` extra),
``benchmarks/`` (plus ``bench``) and ``scripts/`` (plus ``docs``) are read with :mod:`ast`, every import
statement included (inside functions and ``try`` blocks too), and each third-party top-level module is mapped to
its distribution with :func:`importlib.metadata.packages_distributions` (by its own name when not installed).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The optional runtime imports: genloose.testing.strategies needs hypothesis, declared by the "testing" extra, and
# genloose.integrations.torchmetrics needs torchmetrics, declared by the "torchmetrics" extra; each says so in one
# line when it is missing (tests/testing/test_strategies.py, tests/integrations/test_torchmetrics_missing.py).
OPTIONAL_RUNTIME = {
    "hypothesis": ("testing", "genloose/testing/strategies.py"),
    "torchmetrics": ("torchmetrics", "genloose/integrations/torchmetrics.py"),
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@cache
def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared(*extras: str) -> set[str]:
    names = {_name(d) for d in _project()["dependencies"]}
    for extra in extras:
        names |= {_name(d) for d in _project()["optional-dependencies"][extra]}
    return names


@cache
def _distributions() -> dict[str, set[str]]:
    return {k: {v.lower().replace("_", "-") for v in vs} for k, vs in packages_distributions().items()}


def _third_party_imports(path: Path) -> set[str]:
    """Top-level modules that ``path`` imports, less the standard library and the project's own."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.partition(".")[0] for name in names}
    local = {"genloose", "tests", "conftest", "__future__"} | {p.stem for p in path.parent.glob("*.py")}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def _undeclared(files: list[Path], declared: set[str]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for path in files:
        for module in _third_party_imports(path):
            if not (_distributions().get(module, {module.lower().replace("_", "-")}) & declared):
                missing.setdefault(module, []).append(
                    str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                )
    return missing


def _files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_the_package_imports_only_its_runtime_dependencies() -> None:
    missing = _undeclared(_files("genloose"), _declared())
    for module, (extra, where) in OPTIONAL_RUNTIME.items():
        assert _name(module) in _declared(extra), f"{module} must be declared by the {extra!r} extra"
        assert missing.pop(module, [where]) == [where], f"{module} is optional: only {where} may import it"
    assert not missing, f"imported by genloose/ but not in [project] dependencies: {missing}"


@pytest.mark.parametrize(
    ("folders", "extras"),
    [
        (("tests",), ("test",)),
        (("benchmarks",), ("test", "bench")),
        (("scripts",), ("test", "docs")),
    ],
    ids=["tests", "benchmarks", "scripts"],
)
def test_tests_benchmarks_and_scripts_import_only_declared_distributions(
    folders: tuple[str, ...], extras: tuple[str, ...]
) -> None:
    files = _files(*folders) + ([ROOT / "conftest.py"] if "tests" in folders else [])
    missing = _undeclared(files, _declared(*extras))
    assert not missing, f"imported by {folders} but declared by neither the dependencies nor {extras}: {missing}"


def test_the_test_extra_installs_the_testing_extra() -> None:
    """The README's test command installs ``.[test]``; the strategies' tests need what ``testing`` declares."""
    assert _declared("testing") <= _declared("test")


def test_the_scan_finds_an_undeclared_import(tmp_path: Path) -> None:
    """The check above can fail: an import of a distribution nobody declared is reported with its file."""
    module = tmp_path / "uses_undeclared.py"
    module.write_text("import json\n\ndef f():\n    from surely_not_declared_pkg.sub import thing\n    import numpy\n")
    assert _third_party_imports(module) == {"surely_not_declared_pkg", "numpy"}
    assert _undeclared([module], _declared()) == {"surely_not_declared_pkg": [str(module)]}
