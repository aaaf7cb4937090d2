"""Exact JSON encoding of reports and comparisons, so that they can be read back (``from_json``).

A saved report holds, next to its flat summary keys (:meth:`~genloose.Report.to_dict`), the keys
``format`` (``"genloose.Report"`` or ``"genloose.Comparison"``), ``schema_version`` and ``exact``: every
field of the object, recursively, encoded so that decoding gives it back bit for bit.

* floats are JSON numbers (Python writes the shortest text that reads back to the same double); NaN and
  the infinities, which JSON lacks, are the strings ``"nan"``, ``"inf"``, ``"-inf"`` in a float field, and
  ``{"__float__": "nan"}`` in a free-form dict;
* arrays are ``{"__ndarray__": base64 of the raw little-endian bytes, "dtype": ..., "shape": [...]}``, so
  dtype, shape, NaN, inf and every bit are kept, at 4/3 of the binary size (latents and witnesses are
  :math:`2 n d` float64 values: about 2.7 MB for n = 10 000 points in d = 16);
* dataclasses are objects whose ``__type__`` names the class, decoded field by field from the annotations.

A file written by a newer genloose (a larger ``schema_version``), a file that is not a genloose report, and
a truncated or edited file are refused with an :class:`~genloose.InvalidArgumentError` that says which.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import describe

__all__ = ["SCHEMA_VERSION", "decode_object", "encode_object", "read_document"]

SCHEMA_VERSION = 3
"""The version of the ``exact`` section; a reader refuses files with a larger one.

1: the first. 2: ``RadiusResult.class_counts`` renamed ``class_counts_with_pool`` (the counts hold the
seeding pool too). Files of version 1 are read with their old names mapped (:data:`_RENAMED`). 3:
``PrecisionSummary.proxy_scale`` and ``proxy_power`` added; older files, which had no proxy level,
are read with them NaN (:data:`_ADDED`).

Within version 2, ``RunMetadata.dtype`` was first written as ``"torch.float32"`` and is now ``"float32"``,
the spelling of the search's metadata; older files are read with their values respelled
(:data:`_RESPELLED`). The field is a string either way, so an older genloose reads the newer files. Likewise
``RunMetadata.seed`` was ``-1`` for latents given by the caller and is now ``None``.
"""

_RENAMED: dict[str, dict[str, str]] = {"RadiusResult": {"class_counts": "class_counts_with_pool"}}
"""Old field name -> new field name, per class, for files written before a rename."""

_ADDED: dict[str, dict[str, Any]] = {"PrecisionSummary": {"proxy_scale": "nan", "proxy_power": "nan"}}
"""Field -> its encoded value in files written before it existed, per class (what those files meant)."""


def _dtype_name(value: Any) -> Any:
    return value.removeprefix("torch.") if isinstance(value, str) else value


def _seed_or_none(value: Any) -> Any:
    return None if value == -1 and not isinstance(value, bool) else value


_RESPELLED: dict[str, dict[str, Callable[[Any], Any]]] = {"RunMetadata": {"dtype": _dtype_name, "seed": _seed_or_none}}
"""Field -> the function giving a value an older genloose wrote its current spelling, per class."""


class _BrokenFieldError(Exception):
    """A field that does not decode; turned into an InvalidArgumentError naming the field."""


def _registry() -> dict[str, type]:
    from genloose._compare import Comparison, QuantityComparison
    from genloose.estimate import Estimate
    from genloose.metrics.radius.precision import PrecisionSummary
    from genloose.metrics.radius.result import RadiusResult
    from genloose.report import BoundEstimate, Bounds, Diagnostics, Report, RunMetadata

    classes = (
        Estimate,
        BoundEstimate,
        Bounds,
        Diagnostics,
        RunMetadata,
        PrecisionSummary,
        RadiusResult,
        Report,
        QuantityComparison,
        Comparison,
    )
    return {cls.__name__: cls for cls in classes}


# ----------------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------------


def _encode_float(value: float) -> float | str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _encode_array(array: np.ndarray) -> dict[str, Any]:
    if array.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"cannot save an array of dtype {array.dtype} (numbers and booleans only)")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {
        "__ndarray__": base64.b64encode(little.tobytes()).decode("ascii"),
        "dtype": little.dtype.str,
        "shape": list(array.shape),
    }


def encode_object(value: Any) -> Any:
    """Encode a report, comparison, their parts, arrays and scalars as JSON-ready values (exactly).

    Examples
    --------
    >>> import numpy as np
    >>> encode_object(np.array([1.0, np.inf]))["dtype"]
    '<f8'
    >>> encode_object(float("nan"))
    'nan'
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"__type__": type(value).__name__}
        for field in dataclasses.fields(value):
            out[field.name] = encode_object(getattr(value, field.name))
        return out
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _encode_float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [encode_object(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_free(v) for k, v in value.items()}
    raise InvalidArgumentError(f"cannot save a value of type {type(value).__name__} as JSON")


def _encode_free(value: Any) -> Any:
    """A value of a free-form dict (no annotation to decode by): non-finite floats are tagged."""
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return {"__float__": _encode_float(value)}
    if isinstance(value, dict):
        return {str(k): _encode_free(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_free(v) for v in value]
    return encode_object(value)


# ----------------------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------------------


def _decode_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _BrokenFieldError(f"{where} must be a number or 'nan', 'inf', '-inf'; got {describe(value)}")
    if isinstance(value, str):
        if value not in ("nan", "inf", "-inf"):
            raise _BrokenFieldError(f"{where} must be a number or 'nan', 'inf', '-inf'; got {value!r}")
        return float(value)
    return float(value)


def _decode_array(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, dict) or set(value) != {"__ndarray__", "dtype", "shape"}:
        raise _BrokenFieldError(f"{where} must be an encoded array (__ndarray__, dtype, shape); got {describe(value)}")
    try:
        dtype = np.dtype(value["dtype"])
        shape = tuple(int(s) for s in value["shape"])
        raw = base64.b64decode(value["__ndarray__"], validate=True)
    except (TypeError, ValueError) as error:
        raise _BrokenFieldError(f"{where} is not a valid encoded array ({error})") from None
    if dtype.kind not in "biuf" or len(raw) != dtype.itemsize * math.prod(shape):
        raise _BrokenFieldError(f"{where} holds {len(raw)} bytes, not an array of dtype {dtype} and shape {shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _decode_free(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        if "__ndarray__" in value:
            return _decode_array(value, "array")
        return {k: _decode_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_free(v) for v in value]
    return value


def _decode(annotation: str, value: Any, where: str) -> Any:
    annotation = annotation.strip()
    if annotation.endswith("| None"):
        if value is None:
            return None
        annotation = annotation.removesuffix("| None").strip()
    if annotation == "float":
        return _decode_float(value, where)
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BrokenFieldError(f"{where} must be an integer; got {describe(value)}")
        return value
    if annotation == "bool":
        if not isinstance(value, bool):
            raise _BrokenFieldError(f"{where} must be true or false; got {describe(value)}")
        return value
    if annotation == "str":
        if not isinstance(value, str):
            raise _BrokenFieldError(f"{where} must be a string; got {describe(value)}")
        return value
    if annotation == "np.ndarray":
        return _decode_array(value, where)
    if annotation == "tuple[str, str]":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise _BrokenFieldError(f"{where} must be two strings; got {describe(value)}")
        return (value[0], value[1])
    if annotation == "dict[str, Any]":
        if not isinstance(value, dict):
            raise _BrokenFieldError(f"{where} must be an object; got {describe(value)}")
        return _decode_free(value)
    return _decode_dataclass(annotation, value, where)


def _renamed_fields(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with the fields an older genloose wrote under another name (or spelling), or did not write, made
    current."""
    renamed = {old: new for old, new in _RENAMED.get(name, {}).items() if old in value and new not in value}
    value = {renamed.get(key, key): item for key, item in value.items()} if renamed else value
    respelled = {key: respell(value[key]) for key, respell in _RESPELLED.get(name, {}).items() if key in value}
    added = {key: old for key, old in _ADDED.get(name, {}).items() if key not in value}
    return {**value, **respelled, **added} if respelled or added else value


def _decode_dataclass(expected: str, value: Any, where: str) -> Any:
    registry = _registry()
    if expected not in registry:  # pragma: no cover - a field type this module does not know yet
        raise _BrokenFieldError(f"{where} has a type genloose cannot read back: {expected}")
    if not isinstance(value, dict) or "__type__" not in value:
        raise _BrokenFieldError(f"{where} must be an encoded {expected}; got {describe(value)}")
    name = value["__type__"]
    cls = registry.get(name) if isinstance(name, str) else None
    if cls is None or not issubclass(cls, registry[expected]):
        raise _BrokenFieldError(f"{where} must be an encoded {expected}; got __type__ {name!r}")
    value = _renamed_fields(name, value)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in value:
            raise _BrokenFieldError(f"{where}.{field.name} is missing")
        kwargs[field.name] = _decode(str(field.type), value[field.name], f"{where}.{field.name}")
    extra = sorted(set(value) - {"__type__"} - {f.name for f in dataclasses.fields(cls)})
    if extra:
        raise _BrokenFieldError(f"{where} has fields this genloose does not know: {', '.join(extra)}")
    return cls(**kwargs)


def decode_object(expected: str, value: Any, *, source: str = "source") -> Any:
    """Rebuild an object of class ``expected`` (by name) from :func:`encode_object`'s output.

    Raises
    ------
    InvalidArgumentError
        A field is missing, has the wrong type, or an array's bytes do not match its dtype and shape.

    Examples
    --------
    >>> from genloose.estimate import Estimate
    >>> e = Estimate(1.0, float("nan"), float("-inf"), float("inf"), 0.95, 3, "x")
    >>> decode_object("Estimate", encode_object(e)).ci_high
    inf
    """
    try:
        return _decode_dataclass(expected, value, "exact")
    except _BrokenFieldError as error:
        raise InvalidArgumentError(f"{source} is not a complete genloose file: {error}") from None


# ----------------------------------------------------------------------------------------------
# documents
# ----------------------------------------------------------------------------------------------


def _read_text(source: Any) -> tuple[str, str]:
    """The JSON text of ``source`` (a path, or the text itself) and how to name it in errors."""
    if isinstance(source, (str, os.PathLike)) and not isinstance(source, bytes):
        text = os.fspath(source)
        if isinstance(source, str) and text.lstrip().startswith("{"):  # a path object is always a path
            return text, "source (JSON text)"
        path = Path(text)
        if not path.is_file():
            raise InvalidArgumentError(
                f"source must be a JSON file written by save_json/to_json, or its text; got {str(path)!r}, "
                + ("a directory" if path.is_dir() else "which does not exist")
            )
        try:
            return path.read_text(encoding="utf-8"), f"source {str(path)!r}"
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                f"source must be a UTF-8 JSON file; got {str(path)!r}, which is not text"
            ) from None
    raise InvalidArgumentError(f"source must be a file path or JSON text (str); got {describe(source)}")


def read_document(source: Any, kind: str) -> tuple[dict[str, Any], str]:
    """Parse ``source`` and check that it is a genloose ``kind`` file this version can read.

    Returns the ``exact`` section and the name of the source for error messages.

    Examples
    --------
    >>> read_document('{"format": "genloose.Comparison", "schema_version": 1, "exact": {}}', "Report")
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: source (JSON text) is a saved genloose.Comparison, not a genloose.Report; ...
    """
    text, name = _read_text(source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        ends_early = not text.rstrip().endswith("}")
        raise InvalidArgumentError(
            f"{name} is not valid JSON ({error.msg}: line {error.lineno}, column {error.colno})"
            + ("; the file ends early: was it truncated, or is it still being written?" if ends_early else "")
        ) from None
    expected = f"genloose.{kind}"
    if not isinstance(document, dict) or "format" not in document:
        flat = isinstance(document, dict) and "class_radius_value" in document
        raise InvalidArgumentError(
            f"{name} is not a saved {expected}: it has no 'format' key"
            + (
                " (it looks like a report written by an older genloose, which kept no per-point results; "
                "evaluate again to get a file that can be read back)"
                if flat
                else " (a JSON file from another program?)"
            )
        )
    found = document["format"]
    if found != expected:
        hint = f"; read it with {found}.from_json" if found in ("genloose.Report", "genloose.Comparison") else ""
        raise InvalidArgumentError(f"{name} is a saved {found}, not a {expected}{hint}")
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(f"{name} has an invalid schema_version: expected an integer >= 1; got {version!r}")
    if version > SCHEMA_VERSION:
        from genloose._version import __version__

        raise InvalidArgumentError(
            f"{name} was written by a newer genloose (schema version {version}; genloose {__version__} reads "
            f"up to {SCHEMA_VERSION}): upgrade genloose to read it"
        )
    exact = document.get("exact")
    if not isinstance(exact, dict):
        raise InvalidArgumentError(f"{name} has no 'exact' section: expected an object; got {describe(exact)}")
    return exact, name


def document(kind: str, flat: dict[str, Any], exact: Any, *, indent: int | None) -> str:
    """The JSON text of a saved ``kind``: format, schema version, the flat summary keys, the exact section."""
    out: dict[str, Any] = {"format": f"genloose.{kind}", "schema_version": SCHEMA_VERSION}
    out.update(flat)
    out["exact"] = exact
    return json.dumps(out, indent=indent, allow_nan=False) + "\n"
