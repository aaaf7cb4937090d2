"""Optional dependencies: import them on demand, and say in one line which extra installs a missing one."""

from __future__ import annotations

import importlib
from types import ModuleType

from genloose._errors import MissingDependencyError

__all__ = ["import_optional", "missing_dependency"]


def import_optional(module: str, *, extra: str, needed_for: str) -> ModuleType:
    """Import ``module``, or raise :class:`~genloose.MissingDependencyError` naming the extra to install.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"hypothesis"``.
    extra : str
        The genloose extra that declares it, e.g. ``"testing"`` (``pip install 'genloose[testing]'``).
    needed_for : str
        What needs it, for the message, e.g. ``"genloose.testing.strategies"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        When ``module`` (or a module it imports) is not installed. An error raised by the module itself while it
        imports is not hidden.

    Examples
    --------
    >>> import_optional("json", extra="testing", needed_for="an example").__name__
    'json'
    >>> import_optional("no_such_module_here", extra="bench", needed_for="the peer benchmark")
    Traceback (most recent call last):
    ...
    genloose._errors.MissingDependencyError: the peer benchmark needs ... install it with: pip install 'genloose[bench]'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise missing_dependency(error, module, extra=extra, needed_for=needed_for) from None


def missing_dependency(error: ModuleNotFoundError, module: str, *, extra: str, needed_for: str) -> Exception:
    """The exception to raise for ``error``, caught while importing the optional ``module``.

    A :class:`~genloose.MissingDependencyError` naming the extra when ``module`` itself is missing; ``error``
    unchanged when the module is installed and one of *its* imports failed (not ours to rephrase).

    Parameters
    ----------
    error : ModuleNotFoundError
        The caught error.
    module : str
        The optional module that was being imported.
    extra, needed_for : str
        As in :func:`import_optional`.

    Returns
    -------
    Exception
        The exception to raise (``raise missing_dependency(...) from None``).

    Examples
    --------
    >>> try:
    ...     import no_such_module_here
    ... except ModuleNotFoundError as error:
    ...     print(missing_dependency(error, "no_such_module_here", extra="bench", needed_for="this"))
    this needs the optional dependency 'no_such_module_here', ... pip install 'genloose[bench]'
    """
    top = module.partition(".")[0]
    if error.name is None or error.name.partition(".")[0] != top:
        return error
    return MissingDependencyError(
        f"{needed_for} needs the optional dependency {top!r}, which is not installed; "
        f"install it with: pip install 'genloose[{extra}]'",
        name=top,
    )
