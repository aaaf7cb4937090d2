"""Safe saving and loading of model weights, and the one reader of the bundled families' manifests.

Weights are safetensors files (no pickle, no code execution), written atomically (a temporary file in the same
directory, then :func:`os.replace`). :func:`load_weights` checks a file against what the caller expects: that it
exists, has the expected SHA-256 digest (when given), parses as safetensors, and holds exactly the expected tensor
names with the expected shapes and dtype, all finite.

Each family of bundled weights (the grid GANs, the VAE family, the image models) describes its files in a JSON
manifest beside them. :class:`WeightsManifest` says where a family keeps what, and is the one reader and verifier of
all three: every refusal is a :class:`WeightsFileError` whose message names the file, the field, what was expected
and what was got, in the same words for every family.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genloose._errors import GenlooseError
from genloose._validation import describe, fail

__all__ = [
    "BUNDLED_WEIGHTS_DIR",
    "WeightsFileError",
    "WeightsManifest",
    "file_sha256",
    "load_weights",
    "read_metadata",
    "save_weights",
    "weights_directory",
]

#: The directory of the weights bundled with the package, ``genloose/reference_models/weights``.
BUNDLED_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_HEX = frozenset("0123456789abcdef")
_DIGEST = "a SHA-256 digest (64 hexadecimal digits, either case)"
_CHANGED = "a corrupt or modified file"


class WeightsFileError(GenlooseError, ValueError):
    """A weights file is missing, unreadable, corrupt or does not match the expected architecture."""


def _refusal(where: object, field: str, expected: str, got: str, hint: str = "") -> WeightsFileError:
    """The one form of every refusal: the file, the field, what was expected and what was got (and what to do)."""
    return WeightsFileError(f"{where}: {field} must be {expected}; got {got}" + (f"; {hint}" if hint else ""))


def _normalised_sha256(value: object) -> str | None:
    """``value`` as a lower-case SHA-256 hex digest, or None if it is not one (64 hex digits, either case)."""
    if not isinstance(value, str) or len(value) != 64:
        return None
    lower = value.lower()
    return lower if set(lower) <= _HEX else None


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


def weights_directory(value: object, name: str = "weights_dir") -> Path:
    """A weights directory argument as a path: :data:`BUNDLED_WEIGHTS_DIR` for None.

    Parameters
    ----------
    value : str, os.PathLike or None
        The argument.
    name : str
        The argument's name, for the message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InvalidArgumentError
        If ``value`` is neither a path nor None.

    Examples
    --------
    >>> weights_directory(None) == BUNDLED_WEIGHTS_DIR
    True
    >>> weights_directory("/tmp/w").name
    'w'
    """
    if value is None:
        return BUNDLED_WEIGHTS_DIR
    if not isinstance(value, (str, os.PathLike)):
        raise fail(name, "a directory path or None", value)
    return Path(value)


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
    genloose.reference_models.weights_io.WeightsFileError: /nonexistent.safetensors: the weights file must be ...
    """
    source = Path(path)
    _require_file(source)
    if sha256 is not None:
        expected = _normalised_sha256(sha256)
        if expected is None:
            raise fail("sha256", _DIGEST, sha256)
        _check_bytes(source, sha256=expected, size=None, recorded="the sha256 argument")
    tensors, _ = _read_safetensors(source)
    _check_tensors(source, tensors, {name: (tuple(shape), dtype) for name, shape in expected_shapes.items()})
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
    _require_file(source)
    return _read_safetensors(source, tensors=False)[1]


def _require_file(source: Path, hint: str = "") -> None:
    if not source.is_file():
        got = "a directory" if source.is_dir() else "nothing there"
        raise _refusal(source, "the weights file", "an existing file", got, hint)


def _check_bytes(source: Path, *, sha256: str, size: int | None, recorded: str, hint: str = "") -> None:
    """The file's size (when given) and SHA-256 digest against what ``recorded`` says they are."""
    if size is not None and (actual_size := source.stat().st_size) != size:
        raise _refusal(source, "the file's size", f"{size} bytes ({recorded})", f"{actual_size} ({_CHANGED})", hint)
    if (actual := file_sha256(source)) != sha256:
        raise _refusal(source, "the file's SHA-256", f"{sha256} ({recorded})", f"{actual} ({_CHANGED})", hint)


def _read_safetensors(
    source: Path, *, tensors: bool = True, hint: str = ""
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (CPU; none unless ``tensors``) and the header's text metadata of a safetensors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(source), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            names = list(handle.keys()) if tensors else []
            return {name: handle.get_tensor(name) for name in names}, metadata
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise _refusal(source, "the file", "a valid safetensors file", str(error), hint) from error


def _check_tensors(
    source: Path,
    tensors: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    hint: str = "",
) -> None:
    """Exactly the ``expected`` tensor names, each with its shape and dtype, all values finite."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        got = f"missing {missing}, unexpected {unexpected}"
        raise _refusal(source, "the tensor names", f"the {len(expected)} names of the architecture", got, hint)
    for name, (shape, dtype) in expected.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            got = f"shape {tuple(tensor.shape)} and dtype {tensor.dtype}"
            raise _refusal(source, f"tensor {name!r}", f"of shape {shape} and dtype {dtype}", got, hint)
        if not bool(torch.isfinite(tensor).all()):
            raise _refusal(source, f"tensor {name!r}", "finite", "NaN or inf", hint)


def _recipe_json(recipe: Mapping[str, Any]) -> str:
    """How a recipe is written: JSON with sorted keys (one string, so the file's bytes are reproducible)."""
    return json.dumps(dict(recipe), sort_keys=True)


def _differences(recorded: object, recipe: Mapping[str, Any]) -> str:
    """What a recorded recipe got, in words: how it differs from ``recipe`` (both as JSON values)."""
    if not isinstance(recorded, dict):
        return describe(recorded)
    expected = json.loads(_recipe_json(recipe))
    keys = sorted(key for key in set(recorded) | set(expected) if recorded.get(key) != expected.get(key))
    return f"a recipe differing in {keys} (the weights are stale)"


@dataclass(frozen=True)
class WeightsManifest:
    """Where a family of bundled weights keeps what in its JSON manifest; the one reader and verifier of it.

    Every family loads its weights through :meth:`load_into`, which checks, in this order: the manifest (a JSON
    object with the family's ``format`` and entries), the model's entry (an object; ``sha256`` a SHA-256 digest of
    64 hexadecimal digits, either case; ``file`` the expected file name; the size field a whole number of bytes;
    ``metrics`` an object; the recipe the code's), then the weights file (it exists, has the recorded size and
    digest, parses as safetensors, carries the code's recipe in its header, and holds exactly the model's tensors
    with their shapes and dtypes, all finite). Each refusal names the file, the field, what was expected and what
    was got, then :attr:`hint`.

    Attributes
    ----------
    file_name : str
        The manifest's file name in the weights directory.
    format : int or str
        The value of the manifest's ``format`` field.
    header_field : str
        The weights file's header field holding the recipe as JSON.
    hint : str
        What to do about a refusal (how to remake the files).
    entries_field : str, default "models"
        The manifest's field holding the entries.
    listed : bool, default False
        The entries are a list of objects, each with its ``name`` (else an object of entries by name).
    size_field : str, default "bytes"
        The entry's field holding the weights file's size in bytes.
    recipe_field : str or None, default "recipe"
        The entry's field holding the recipe; None when the recipe's own fields stand in the entry.
    weights_file : str, default "{name}.safetensors"
        The weights file's name, with ``{name}`` for the model's name.
    floating_only : bool, default False
        The files hold only the floating-point tensors of the model's state dict (integer counters such as
        BatchNorm's ``num_batches_tracked`` stay as built).
    header_extra : mapping of str to str, optional
        Further header fields written with the recipe (not checked on load).

    Examples
    --------
    >>> layout = WeightsManifest(file_name="demo.json", format=1, header_field="recipe", hint="remake it")
    >>> layout.read("/nonexistent")
    Traceback (most recent call last):
    ...
    genloose.reference_models.weights_io.WeightsFileError: /nonexistent/demo.json: the manifest must be ...
    """

    file_name: str
    format: int | str
    header_field: str
    hint: str
    entries_field: str = "models"
    listed: bool = False
    size_field: str = "bytes"
    recipe_field: str | None = "recipe"
    weights_file: str = "{name}.safetensors"
    floating_only: bool = False
    header_extra: Mapping[str, str] | None = None

    def read(self, directory: str | os.PathLike[str]) -> dict[str, Any]:
        """The manifest in ``directory``, checked to be a JSON object with the family's format and entries.

        Parameters
        ----------
        directory : str or os.PathLike
            The weights directory.

        Returns
        -------
        dict
            The parsed manifest.

        Raises
        ------
        WeightsFileError
            If the manifest is missing, not JSON, not an object, of another format, or its entries are malformed.

        Examples
        --------
        >>> from genloose.reference_models.vae_family import VAE_MANIFEST
        >>> VAE_MANIFEST.read(BUNDLED_WEIGHTS_DIR)["format"]
        'genloose-vae-family-1'
        """
        path = Path(directory) / self.file_name
        if not path.is_file():
            raise _refusal(path, "the manifest", "an existing file", "nothing there", self.hint)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _refusal(path, "the manifest", "valid JSON", str(error), self.hint) from error
        if not isinstance(manifest, dict):
            raise _refusal(path, "the manifest", "a JSON object", describe(manifest), self.hint)
        if manifest.get("format") != self.format:
            got = describe(manifest["format"]) if "format" in manifest else "no such field"
            raise _refusal(path, "field 'format'", repr(self.format), got, self.hint)
        entries = manifest.get(self.entries_field)
        if self.listed:
            expected = "a list of objects, each with a string 'name'"
            ok = isinstance(entries, list) and all(
                isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in entries
            )
        else:
            expected, ok = "an object of entries by name", isinstance(entries, dict)
        if not ok:
            got = describe(entries) if self.entries_field in manifest else "no such field"
            raise _refusal(path, f"field {self.entries_field!r}", expected, got, self.hint)
        return manifest

    def record(self, path: Path) -> dict[str, Any]:
        """The fields of a manifest entry that describe a weights file just written: its name, digest and size.

        Examples
        --------
        >>> import tempfile
        >>> from genloose.reference_models.vae_family import VAE_MANIFEST
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = Path(d) / "x.safetensors"
        ...     _ = path.write_bytes(b"abc")
        ...     sorted(VAE_MANIFEST.record(path).items())[0]
        ('bytes', 3)
        """
        return {"file": path.name, "sha256": file_sha256(path), self.size_field: path.stat().st_size}

    def save(self, model: torch.nn.Module, path: Path, recipe: Mapping[str, Any], *, overwrite: bool = False) -> Path:
        """Write ``model``'s tensors (those :meth:`load_into` expects) with ``recipe`` in the header.

        Examples
        --------
        >>> import tempfile
        >>> from genloose.reference_models.vae_family import VAE_MANIFEST
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = VAE_MANIFEST.save(torch.nn.Linear(2, 1), Path(d) / "x.safetensors", {"seed": 0})
        ...     read_metadata(path)["recipe"]
        '{"seed": 0}'
        """
        tensors = {name: model.state_dict()[name] for name in self._expected(model)}
        metadata = {self.header_field: _recipe_json(recipe), **(self.header_extra or {})}
        return save_weights(path, tensors, metadata=metadata, overwrite=overwrite)

    def load_into(
        self, model: torch.nn.Module, directory: str | os.PathLike[str], name: str, recipe: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Verify ``name``'s weights file against the manifest, ``recipe`` and ``model``, then load it (eval mode).

        Parameters
        ----------
        model : torch.nn.Module
            The architecture, built; its state dict says which tensors the file holds.
        directory : str or os.PathLike
            The weights directory.
        name : str
            The model's name in the manifest.
        recipe : mapping
            The code's recipe of the model (JSON values).

        Returns
        -------
        dict
            The model's manifest entry.

        Raises
        ------
        WeightsFileError
            If any check in the class description fails.

        Examples
        --------
        >>> from genloose.reference_models.vae_family import CLASSIFIER_RECIPE, VAE_MANIFEST
        >>> from genloose.reference_models.digit_classifier import DigitClassifier
        >>> model = DigitClassifier()
        >>> entry = VAE_MANIFEST.load_into(model, BUNDLED_WEIGHTS_DIR, "digit_classifier",
        ...                                CLASSIFIER_RECIPE.to_dict())
        >>> entry["file"], model.training
        ('digit_classifier.safetensors', False)
        """
        directory = Path(directory)
        manifest_path = directory / self.file_name
        entry, sha256 = self._entry(self.read(directory), manifest_path, name, recipe)
        path = directory / self.weights_file.format(name=name)
        _require_file(path, self.hint)
        recorded = f"as {manifest_path} records"
        _check_bytes(path, sha256=sha256, size=entry[self.size_field], recorded=recorded, hint=self.hint)
        tensors, header = _read_safetensors(path, hint=self.hint)
        if header.get(self.header_field) != _recipe_json(recipe):
            stored = header.get(self.header_field)
            try:
                got = "no such field" if stored is None else _differences(json.loads(stored), recipe)
            except json.JSONDecodeError:
                got = describe(stored)
            raise _refusal(path, f"header field {self.header_field!r}", "the code's recipe as JSON", got, self.hint)
        expected = self._expected(model)
        _check_tensors(path, tensors, expected, self.hint)
        model.load_state_dict(tensors, strict=not self.floating_only)
        model.eval()
        return entry.copy()

    def _expected(self, model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """The tensors a weights file of ``model`` holds: names, shapes and dtypes."""
        return {
            key: (tuple(value.shape), value.dtype)
            for key, value in model.state_dict().items()
            if value.is_floating_point() or not self.floating_only
        }

    def _entry(
        self, manifest: dict[str, Any], path: Path, name: str, recipe: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """The model's entry, every field checked, and its digest in lower case."""
        entries = manifest[self.entries_field]
        by_name = {entry["name"]: entry for entry in entries} if self.listed else entries
        if name not in by_name:
            field = f"the entry of {name!r} in field {self.entries_field!r}"
            raise _refusal(path, field, "present", f"entries only for {sorted(by_name)}", self.hint)
        entry = by_name[name]
        if not isinstance(entry, dict):
            raise _refusal(path, f"the entry of {name!r}", "a JSON object", describe(entry), self.hint)

        def refuse(field: str, expected: str) -> WeightsFileError:
            got = describe(entry[field]) if field in entry else "no such field"
            return _refusal(path, f"field {field!r} of {name!r}", expected, got, self.hint)

        sha256 = _normalised_sha256(entry.get("sha256"))
        if sha256 is None:
            raise refuse("sha256", _DIGEST)
        file_name = self.weights_file.format(name=name)
        if entry.get("file") != file_name:
            raise refuse("file", repr(file_name))
        size = entry.get(self.size_field)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise refuse(self.size_field, "a whole number of bytes (an integer >= 0)")
        if not isinstance(entry.get("metrics"), dict):
            raise refuse("metrics", "a JSON object")
        if self.recipe_field is None:
            recorded: object = {key: entry.get(key) for key in recipe}
            field = f"fields {sorted(recipe)}"
        else:
            recorded = entry.get(self.recipe_field)
            field = f"field {self.recipe_field!r}"
        if recorded != json.loads(_recipe_json(recipe)):
            absent = self.recipe_field is not None and self.recipe_field not in entry
            got = "no such field" if absent else _differences(recorded, recipe)
            raise _refusal(path, f"{field} of {name!r}", "the code's recipe", got, self.hint)
        return entry, sha256
