"""Atomic file writes: a result file is either complete or absent, never half-written.

Every writer goes through :func:`atomic_open`: the data go to a temporary file in the destination's
directory, which is flushed, synced and then moved over the destination with :func:`os.replace` (atomic
on POSIX and Windows within one file system). If anything fails before the move, the temporary file is
removed and the destination is untouched. An existing destination is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from genloose._errors import InvalidArgumentError
from genloose._validation import describe

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_destination",
    "check_writable_directory",
    "make_output_directory",
]


def _as_path(path: Any, name: str) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"{name} must be a file path (str or os.PathLike); got {describe(path)}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(f"{name} must be a non-empty file path; got {describe(path)}")
    return Path(text)


def check_destination(path: Any, *, overwrite: bool = False, name: str = "path") -> Path:
    """Check that ``path`` can be written: its directory exists, it is not a directory, and it does not
    exist unless ``overwrite`` is true.

    Call it before long work, so that a bad destination fails fast; :func:`atomic_open` checks again.

    Parameters
    ----------
    path : str or os.PathLike
        The destination file.
    overwrite : bool, default False
        Whether an existing file may be replaced.
    name : str, default "path"
        The argument name used in error messages.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    InvalidArgumentError
        If the directory is missing, ``path`` is a directory, or it exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_destination(folder / "report.json").name
    'report.json'
    >>> check_destination(folder / "missing" / "report.json")
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: path must be in an existing directory; got '...report.json' (... is missing)
    """
    target = _as_path(path, name)
    if not isinstance(overwrite, bool):
        raise InvalidArgumentError(f"overwrite must be a bool; got {describe(overwrite)}")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgumentError(
            f"{name} must be in an existing directory; got {str(target)!r} ({parent} is missing)"
        )
    if target.is_dir():
        raise InvalidArgumentError(f"{name} must be a file, not a directory; got {str(target)!r}")
    if target.exists() and not overwrite:
        raise InvalidArgumentError(
            f"{name} must not exist already (pass overwrite=True, or --overwrite on the command line, to "
            f"replace it); got {str(target)!r}, which exists"
        )
    check_writable_directory(parent, name=name)
    return target


#: A directory with less free space than this is refused as full before any work is done.
MIN_FREE_BYTES = 64 * 1024


def check_writable_directory(directory: Path, *, name: str) -> None:
    """Refuse a directory that cannot take a new file: not writable (permissions, a read-only file system) or
    full. Probes by creating and removing an empty temporary file, so it answers for this process.

    Parameters
    ----------
    directory : pathlib.Path
        An existing directory.
    name : str
        The argument the directory comes from, for the message.

    Raises
    ------
    InvalidArgumentError
        If a file cannot be created there, or the file system has less than :data:`MIN_FREE_BYTES` free.
    """
    try:
        descriptor, probe = tempfile.mkstemp(dir=directory, prefix=".genloose-probe.", suffix=".tmp")
    except OSError as error:
        raise InvalidArgumentError(
            f"{name} must be in a writable directory; got {str(directory)!r} ({error.strerror or error})"
        ) from None
    os.close(descriptor)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if free < MIN_FREE_BYTES:
        raise InvalidArgumentError(
            f"{name} must be on a file system with free space; got {str(directory)!r}, with {free} bytes free"
        )


def make_output_directory(path: Any, *, name: str = "out_dir") -> tuple[Path, bool]:
    """Create the output directory ``path`` (with its parents) if needed, and check that files can be written
    there.

    Parameters
    ----------
    path : str or os.PathLike
        The directory.
    name : str
        The argument's name, for the message.

    Returns
    -------
    tuple of (pathlib.Path, bool)
        The directory, and whether this call created it (so that a caller interrupted before writing anything
        can remove it again).

    Raises
    ------
    InvalidArgumentError
        If ``path`` is an existing file, a parent is a file, or the directory cannot be created or written.
    """
    directory = _as_path(path, name)
    if directory.exists() and not directory.is_dir():
        raise InvalidArgumentError(f"{name} must be a directory; got {str(directory)!r}, which is an existing file")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidArgumentError(
            f"{name} must be a directory that can be created; got {str(directory)!r} ({error.strerror or error})"
        ) from None
    check_writable_directory(directory, name=name)
    return directory, created


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022  # the common default; reading the real one portably would change process state


@contextlib.contextmanager
def atomic_open(
    path: Any,
    mode: Literal["w", "wb"] = "w",
    *,
    overwrite: bool = False,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it atomically becomes ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination file.
    mode : {"w", "wb"}, default "w"
        Text or binary.
    overwrite : bool, default False
        Whether an existing destination may be replaced. Without it, an existing file is refused, also when
        it appears while the data are being written (no-clobber link where the file system supports it).
    encoding, newline : str, optional
        Passed to :func:`open` in text mode.

    Yields
    ------
    file object
        Write to it; do not close it.

    Raises
    ------
    InvalidArgumentError
        As :func:`check_destination`.

    Notes
    -----
    On an exception inside the block, the temporary file is deleted and the exception propagates: no
    partial output is ever left at ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_open(target) as handle:
    ...     _ = handle.write("done")
    >>> target.read_text()
    'done'
    >>> try:
    ...     with atomic_open(target, overwrite=True) as handle:
    ...         _ = handle.write("half")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> target.read_text()  # unchanged
    'done'
    """
    if mode not in ("w", "wb"):
        raise InvalidArgumentError(f"mode must be 'w' or 'wb'; got {describe(mode)}")
    target = check_destination(path, overwrite=overwrite)
    directory = target.parent if str(target.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    done = False
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(descriptor, "wb")
        else:
            handle = os.fdopen(descriptor, "w", encoding=encoding, newline=newline)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists() and overwrite:
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        if overwrite:
            os.replace(temporary, target)
        else:
            _move_no_clobber(temporary, target)
        done = True
    finally:
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _move_no_clobber(temporary: str, target: Path) -> None:
    try:
        os.link(temporary, target)  # fails if target exists: no race with another writer
    except FileExistsError:
        raise InvalidArgumentError(
            f"path must not exist already (pass overwrite=True to replace it); got {str(target)!r}, which "
            "appeared while it was being written"
        ) from None
    except OSError:  # hard links unsupported here: fall back to check-then-replace
        if target.exists():
            raise InvalidArgumentError(
                f"path must not exist already (pass overwrite=True to replace it); got {str(target)!r}"
            ) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)


def atomic_write_text(path: Any, text: str, *, overwrite: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_text(target, "hello").read_text()
    'hello'
    >>> atomic_write_text(target, "again")
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: path must not exist already ...
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"text must be a str; got {describe(text)}")
    with atomic_open(path, "w", overwrite=overwrite, encoding=encoding, newline="") as handle:
        handle.write(text)
    return Path(os.fspath(path))


def atomic_write_bytes(path: Any, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write_bytes(target, b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidArgumentError(f"data must be bytes; got {describe(data)}")
    with atomic_open(path, "wb", overwrite=overwrite) as handle:
        handle.write(bytes(data))
    return Path(os.fspath(path))
