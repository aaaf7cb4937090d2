"""Loading user objects by import path: what ``genloose evaluate --generator MODULE:ATTR`` runs.

``MODULE:ATTR`` imports ``MODULE`` (from ``sys.path``, with the current directory first, or a
``path/to/file.py``) and takes its attribute ``ATTR`` (dots allowed). A class, or a callable that can be called
with no arguments, is a *factory*: it is called once and its result is the object. Anything else (a
``torch.nn.Module`` instance, a function of a batch, a :class:`genloose.Generator` or :class:`genloose.Classifier`
adapter) is the object itself. This runs the user's code. The command line re-exports :func:`load_object` as
:func:`genloose.cli.load_object`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genloose._errors import GenlooseError

__all__ = ["UsageError", "load_object"]


class UsageError(GenlooseError):
    """A command-line usage error (exit status 2)."""


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def _import_module(module_name: str, option: str) -> Any:
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise UsageError(f"{option}: file {module_name!r} does not exist")
        name = f"_genloose_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{option}: cannot load {module_name!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        with _cwd_on_path():
            return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UsageError(f"{option}: cannot import module {module_name!r} ({error})") from None


def _is_factory(obj: Any) -> bool:
    import torch

    if isinstance(obj, type):
        return True
    if isinstance(obj, torch.nn.Module) or not callable(obj):
        return False
    from genloose.models import Classifier, Generator

    if isinstance(obj, (Generator, Classifier)):
        return False
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    takes_batch = any(p.kind in (p.VAR_POSITIONAL,) for p in signature.parameters.values())
    return not required and not takes_batch


def load_object(spec: str, *, option: str = "object") -> Any:
    """Load ``MODULE:ATTR`` (this imports and runs the user's module, and calls a factory).

    Parameters
    ----------
    spec : str
        ``"package.module:attribute"`` (``attribute`` may be dotted) or ``"path/to/file.py:attribute"``.
    option : str
        The option name for error messages.

    Returns
    -------
    object
        The attribute, or the result of calling it if it is a class or a zero-argument callable.

    Raises
    ------
    UsageError
        If the path is malformed, the module cannot be found, or the attribute does not exist.

    Examples
    --------
    >>> load_object("collections:OrderedDict")  # a class is a factory: called once
    OrderedDict()
    >>> load_object("math:tau")
    6.283185307179586
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise UsageError(f"{option} must be MODULE:ATTR (e.g. mypackage.models:generator); got {spec!r}")
    module_name, attribute = spec.split(":")
    module = _import_module(module_name, option)
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{option}: {module_name!r} has no attribute {attribute!r} (looked up {part!r})")
        obj = getattr(obj, part)
    if _is_factory(obj):
        obj = obj()
    return obj
