"""Argument checks shared by the public functions.

Each check raises :class:`~genloose._errors.InvalidArgumentError` with a message of the form
``"<name> must be <expectation>; got <what was received>"``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from genloose._errors import InvalidArgumentError

__all__ = [
    "as_label_array",
    "as_numpy",
    "check_choice",
    "check_confidence",
    "check_dense_tensor",
    "check_float",
    "check_int",
    "describe",
]


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages (type, and shape/dtype for arrays)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        where = ""
        if is_tensor(value):
            layout = str(value.layout).removeprefix("torch.")
            where = f" on device {value.device}" + ("" if layout == "strided" else f" with {layout} layout")
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}{where}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (checked without importing torch)."""
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "layout")


def as_numpy(tensor: Any, name: str) -> np.ndarray:
    """A torch tensor's values as a numpy array, or an error naming ``name``.

    Tensors without data (meta device) and non-strided layouts (sparse, mkldnn) are refused; dtypes numpy lacks
    are converted without loss where one exists (bfloat16 and float8 to float32, complex32 to complex64);
    other dtypes (quantized tensors) are refused. Conjugate and negative views are resolved.

    Parameters
    ----------
    tensor : torch.Tensor
        The tensor.
    name : str
        The argument's name, for the error.

    Returns
    -------
    numpy.ndarray
        A CPU copy (or view) of the values.

    Raises
    ------
    InvalidArgumentError
        A meta or non-strided tensor, or a dtype numpy cannot represent.
    """
    check_dense_tensor(name, tensor)
    value = tensor.detach().cpu().resolve_conj().resolve_neg()
    try:
        return value.numpy()
    except (TypeError, RuntimeError) as error:
        if value.is_floating_point():  # bfloat16, float8: float32 holds every value exactly
            return value.float().numpy()
        if value.is_complex():
            return value.to(dtype=_complex64()).numpy()
        raise fail(name, "a tensor of a dtype numpy can represent", tensor) from error


def check_dense_tensor(name: str, tensor: Any) -> Any:
    """Return ``tensor`` if it holds data (not on the meta device) in a dense (strided) layout.

    Parameters
    ----------
    name : str
        The argument's name, for the error.
    tensor : torch.Tensor
        The tensor.

    Returns
    -------
    torch.Tensor
        ``tensor`` itself.

    Raises
    ------
    InvalidArgumentError
        A meta-device tensor, or a sparse or other non-strided one.
    """
    device = getattr(tensor, "device", None)
    if getattr(device, "type", None) == "meta" or getattr(tensor, "is_meta", False):
        raise fail(name, "a tensor holding data (a meta-device tensor holds none)", tensor)
    if str(tensor.layout) != "torch.strided":
        raise fail(name, "a dense (strided) tensor; call .to_dense() first", tensor)
    return tensor


def _complex64() -> Any:
    import torch

    return torch.complex64


def fail(name: str, expectation: str, value: Any) -> InvalidArgumentError:
    """Build the standard error for argument ``name``."""
    return InvalidArgumentError(f"{name} must be {expectation}; got {describe(value)}")


def check_int(name: str, value: Any, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(name, "an integer", value)
    value = int(value)
    if min_value is not None and value < min_value:
        raise fail(name, f"an integer >= {min_value}", value)
    if max_value is not None and value > max_value:
        raise fail(name, f"an integer <= {max_value}", value)
    return value


def check_float(
    name: str,
    value: Any,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` (or inf if allowed) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, "a real number", value)
    result = float(value)
    if np.isnan(result) or (np.isinf(result) and not allow_inf):
        raise fail(name, "a finite real number", value)
    if min_value is not None and (result < min_value or (result == min_value and not min_inclusive)):
        op = ">=" if min_inclusive else ">"
        raise fail(name, f"a number {op} {min_value}", value)
    if max_value is not None and (result > max_value or (result == max_value and not max_inclusive)):
        op = "<=" if max_inclusive else "<"
        raise fail(name, f"a number {op} {max_value}", value)
    return result


def check_confidence(value: Any, name: str = "confidence") -> float:
    """A confidence level strictly between 0 and 1."""
    return check_float(name, value, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the allowed strings."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise fail(name, f"one of {allowed}", value)
    return value


def as_label_array(
    labels: Any, *, name: str = "labels", num_classes: int | None = None, allow_empty: bool = False
) -> np.ndarray:
    """Convert class labels (list, numpy array or torch tensor) to a 1-D ``int64`` numpy array.

    Rejects floats, booleans, negative values, values ``>= num_classes`` and non-1-D input.
    """
    array = _to_numpy(labels, name)
    if array.ndim != 1:
        raise fail(name, "a 1-D sequence of class labels", labels)
    if array.size == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int64)
        raise InvalidArgumentError(f"{name} must hold at least one label; got 0 sample(s)")
    if array.dtype.kind not in "iu":
        raise fail(name, "integer class labels (int dtype; floats and booleans are refused)", labels)
    if array.dtype.kind == "i" and array.min() < 0:
        raise InvalidArgumentError(f"{name} must be non-negative class labels; got minimum {int(array.min())}")
    if num_classes is not None and array.max() >= num_classes:
        raise InvalidArgumentError(f"{name} must be < num_classes={num_classes}; got a label {int(array.max())}")
    return array.astype(np.int64, copy=False)


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if is_tensor(value):
        value = as_numpy(value, name)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.generic, range)):
        raise fail(name, "a list, numpy array or torch tensor", value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise fail(name, "a rectangular list, numpy array or torch tensor", value) from error
    if array.dtype == object:
        raise fail(name, "a sequence of numbers", value)
    if array.size == 0:
        array = array.astype(np.int64)
    return array
