"""Safe saving and loading of model weights (safetensors: no pickle, no code execution).

Files are written atomically (a temporary file in the same directory, then :func:`os.replace`), and
loading checks the file against what the caller expects: that it exists, parses as safetensors,
holds exactly the expected tensor names with the expected shapes and dtype, contains only finite
values and, optionally, has the expected SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from genloose._errors import GenlooseError
from genloose._validation import fail

__all__ = [
    "WeightsFileError",
    "file_sha256",
    "load_weights",
    "manifest_sha256",
    "read_json_file",
    "read_metadata",
    "save_weights",
]

_HEX = frozenset("0123456789abcdef")


class WeightsFileError(GenlooseError, ValueError):
    """A weights file is missing, unreadable, corrupt or does not match the expected architecture."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hexadecimal SHA-256 digest of a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "x.bin"
    ...     _ = p.write_bytes(b"abc")
    ...     file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalised_sha256(value: object) -> str | None:
    """``value`` as a lower-case SHA-256 hex digest, or None if it is not one (64 hex digits, either case)."""
    if not isinstance(value, str) or len(value) != 64:
        return None
    lower = value.lower()
    return lower if set(lower) <= _HEX else None


def manifest_sha256(entry: object, *, model: str, manifest: str, hint: str) -> str:
    """The SHA-256 digest a manifest entry records for a weights file, checked and in lower case.

    Every family loads its weights only against a recorded digest: an entry that is not an object, or has no
    ``sha256`` field, or one that is not 64 hexadecimal digits (upper case is accepted), is refused.

    Parameters
    ----------
    entry : object
        The manifest's entry for the model (a dict, if the manifest is well formed).
    model : str
        The model's name, for the message.
    manifest : str
        Where the manifest is, for the message.
    hint : str
        What to do about it, for the message.

    Returns
    -------
    str
        The digest, lower case.

    Raises
    ------
    WeightsFileError
        If the entry has no well-formed digest.

    Examples
    --------
    >>> manifest_sha256({"sha256": "AB" * 32}, model="m", manifest="manifest.json", hint="retrain")[:4]
    'abab'
    """
    recorded = entry.get("sha256") if isinstance(entry, dict) else None
    digest = _normalised_sha256(recorded)
    if digest is None:
        got = "no entry" if not isinstance(entry, dict) else f"sha256 {recorded!r}"[:120]
        raise WeightsFileError(
            f"{manifest} must record a SHA-256 digest (64 hexadecimal digits) for {model!r} before its weights "
            f"are loaded; got {got}; {hint}"
        )
    return digest


def save_weights(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    *,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write tensors to a safetensors file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its directory must exist.
    tensors : mapping of str to torch.Tensor
        Named tensors (e.g. a ``state_dict()``); saved contiguous, on CPU.
    metadata : mapping of str to str, optional
        Free-form text stored in the file header. safetensors writes several keys in an arbitrary
        order, so use a single key (e.g. a JSON string) when the file bytes must be reproducible.
    overwrite : bool, default False
        Replace an existing file; otherwise an existing file is an error.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InvalidArgumentError
        If the directory is missing, or the file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_weights(pathlib.Path(d) / "w.safetensors", {"a": torch.ones(2)})
    ...     load_weights(p, expected_shapes={"a": (2,)})["a"].tolist()
    [1.0, 1.0]
    """
    if not isinstance(tensors, Mapping) or not tensors:
        raise fail("tensors", "a non-empty mapping of names to tensors", tensors)
    for name, value in tensors.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise fail("tensors", "a mapping of str names to torch.Tensor values", tensors)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise fail("metadata", "a mapping of str to str", metadata)
    from safetensors.torch import save

    from genloose._io import atomic_write_bytes

    prepared = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}
    data = save(prepared, metadata=dict(metadata) if metadata else None)
    return atomic_write_bytes(path, data, overwrite=overwrite)


def load_weights(
    path: str | os.PathLike[str],
    *,
    expected_shapes: Mapping[str, tuple[int, ...]],
    dtype: torch.dtype = torch.float32,
    sha256: str | None = None,
) -> dict[str, torch.Tensor]:
    """Load and validate a safetensors file (CPU tensors).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    expected_shapes : mapping of str to tuple of int
        Exactly the tensor names the file must hold, with their shapes.
    dtype : torch.dtype, default torch.float32
        The dtype every tensor must have.
    sha256 : str, optional
        The expected SHA-256 digest of the file (64 hexadecimal digits, either case; checked before parsing).

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    WeightsFileError
        Missing or unreadable file, a digest mismatch, a file that is not valid safetensors,
        missing or unexpected names, wrong shapes or dtype, or non-finite values.

    Examples
    --------
    >>> load_weights("/nonexistent.safetensors", expected_shapes={})
    Traceback (most recent call last):
    ...
    genloose.reference_models.weights_io.WeightsFileError: weights file /nonexistent.safetensors ...
    """
    source = Path(path)
    if not source.is_file():
        raise WeightsFileError(f"weights file {source} does not exist (or is not a file)")
    if sha256 is not None:
        expected = _normalised_sha256(sha256)
        if expected is None:
            raise fail("sha256", "a SHA-256 digest of 64 hexadecimal digits", sha256)
        actual = file_sha256(source)
        if actual != expected:
            raise WeightsFileError(
                f"weights file {source} is corrupt or was changed: SHA-256 {actual}, expected {sha256}"
            )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(source), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsFileError(f"weights file {source} is not a valid safetensors file: {error}") from error
    missing = sorted(set(expected_shapes) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected_shapes))
    if missing or unexpected:
        raise WeightsFileError(
            f"weights file {source} does not match the architecture: missing {missing}, unexpected {unexpected}"
        )
    for name, shape in expected_shapes.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(shape):
            raise WeightsFileError(
                f"weights file {source}: tensor {name!r} has shape {tuple(tensor.shape)}, expected {tuple(shape)}"
            )
        if tensor.dtype != dtype:
            raise WeightsFileError(f"weights file {source}: tensor {name!r} has dtype {tensor.dtype}, expected {dtype}")
        if not bool(torch.isfinite(tensor).all()):
            raise WeightsFileError(f"weights file {source}: tensor {name!r} has NaN or inf")
    return tensors


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text metadata stored in a safetensors header (empty when none).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_weights(pathlib.Path(d) / "w.safetensors", {"a": torch.ones(1)},
    ...                      metadata={"name": "demo"})
    ...     read_metadata(p)
    {'name': 'demo'}
    """
    source = Path(path)
    if not source.is_file():
        raise WeightsFileError(f"weights file {source} does not exist (or is not a file)")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(source), framework="pt", device="cpu") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsFileError(f"weights file {source} is not a valid safetensors file: {error}") from error


def read_json_file(path: Path, *, missing: str, invalid: str) -> object:
    """The parsed JSON of a manifest file, or :class:`WeightsFileError` with the caller's words.

    Parameters
    ----------
    path : Path
        The manifest.
    missing : str
        The message when ``path`` is not a file.
    invalid : str
        The start of the message when it cannot be read as JSON (the parser's error follows).

    Returns
    -------
    object
        The parsed value; the caller checks its structure.

    Examples
    --------
    >>> read_json_file(Path("no-such-file.json"), missing="no manifest", invalid="bad manifest")
    Traceback (most recent call last):
    ...
    genloose.reference_models.weights_io.WeightsFileError: no manifest
    """
    if not path.is_file():
        raise WeightsFileError(missing)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsFileError(f"{invalid}: {error}") from error
