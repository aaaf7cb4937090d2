"""Lazy exports (PEP 562): a package names what it offers, and each name is imported on first use.

``import genloose`` then costs almost nothing (no torch, scipy or hypothesis), and ``genloose --version``
answers without the scientific stack. A name's module is imported the first time the name is looked up;
the value is then stored in the package's namespace, so later look-ups are ordinary attribute reads.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on demand.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module that defines it (relative to ``package`` when it starts with a dot). A name
        whose module is ``package + "." + name`` is that submodule itself.

    Returns
    -------
    (__getattr__, __dir__)
        Functions to assign at the package's top level.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("genloose", {"Estimate": ".estimate"})
    >>> getattr_("Estimate").__name__
    'Estimate'
    >>> "Estimate" in dir_()
    True
    """

    def resolve(module: str) -> str:
        return package + module if module.startswith(".") else module

    def getattr_(name: str) -> Any:
        try:
            module = resolve(exports[name])
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return getattr_, dir_
