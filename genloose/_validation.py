"""Argument checks shared by the public functions.

Each check raises :class:`~genloose._errors.InvalidArgumentError` with a message of the form
``"<name> must be <expectation>; got <what was received>"``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from genloose._errors import InvalidArgumentError

__all__ = [
    "ACCESS_MODES",
    "MAX_COUNT",
    "MAX_NUM_CLASSES",
    "MIN_SAMPLES_EVALUATE",
    "MIN_SAMPLES_RADIUS",
    "as_label_array",
    "as_numpy",
    "check_access",
    "check_batch_size",
    "check_choice",
    "check_confidence",
    "check_dense_tensor",
    "check_float",
    "check_int",
    "check_memory",
    "check_num_classes",
    "check_num_samples",
    "check_progress",
    "check_seed",
    "check_size",
    "describe",
]

#: The most classes genloose holds counts for (dense per-class counts: 2**24 classes take 128 MiB). A larger
#: ``num_classes``, or a larger label where counts are held per class, is refused before anything is allocated.
MAX_NUM_CLASSES = 2**24

#: The largest total of class counts: float64 represents every integer up to 2**53 exactly.
MAX_COUNT = 2**53

#: The fewest latent points of :func:`genloose.class_radius` (a mean of one radius, with no standard error).
MIN_SAMPLES_RADIUS = 1
#: The fewest latent points of :func:`genloose.evaluate`, :func:`genloose.compare` and ``genloose evaluate``:
#: the collision probability's U-statistic counts pairs of distinct points.
MIN_SAMPLES_EVALUATE = 2

#: The search's access modes.
ACCESS_MODES = ("auto", "white-box", "black-box")


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


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: a non-negative integer (every random stream derives from it, :mod:`genloose._random`).

    Examples
    --------
    >>> check_seed(3)
    3
    """
    return check_int(name, value, min_value=0)


def check_num_samples(value: Any, *, min_value: int, name: str = "num_samples") -> int:
    """A number of latent points, at least ``min_value``.

    The minimum belongs to the function family: :data:`MIN_SAMPLES_RADIUS` for :func:`genloose.class_radius`,
    :data:`MIN_SAMPLES_EVALUATE` for :func:`genloose.evaluate`, :func:`genloose.compare` and the command line.

    Examples
    --------
    >>> check_num_samples(2, min_value=MIN_SAMPLES_EVALUATE)
    2
    """
    return check_int(name, value, min_value=min_value)


def check_batch_size(value: Any, name: str = "batch_size") -> int:
    """Points searched together: a positive integer.

    Examples
    --------
    >>> check_batch_size(256)
    256
    """
    return check_int(name, value, min_value=1)


def check_access(value: Any, name: str = "access") -> str:
    """A search access mode, one of :data:`ACCESS_MODES`.

    Examples
    --------
    >>> check_access("black-box")
    'black-box'
    """
    return check_choice(name, value, ACCESS_MODES)


def check_num_classes(value: Any, name: str = "num_classes", *, min_value: int = 1) -> int:
    """A number of classes K, at least ``min_value`` and at most :data:`MAX_NUM_CLASSES` (counts are held per class).

    Parameters
    ----------
    value : int
        The number of classes.
    name : str
        The argument's name, for the error.
    min_value : int
        The smallest K accepted.

    Returns
    -------
    int
        ``value`` as an ``int``.
    """
    value = check_int(name, value, min_value=min_value)
    if value > MAX_NUM_CLASSES:
        raise fail(name, f"at most {MAX_NUM_CLASSES} = 2**24 (genloose holds one count per class)", value)
    return value


def _physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(name: str, value: Any, nbytes: int, what: str) -> None:
    """Refuse ``value`` of argument ``name`` when what it asks for (``nbytes``) exceeds the machine's memory.

    Parameters
    ----------
    name : str
        The argument's name.
    value : Any
        Its value, for the message.
    nbytes : int
        The bytes the computation would allocate for ``what``.
    what : str
        What those bytes hold, for the message.
    """
    memory = _physical_memory()
    if memory is not None and nbytes > memory:
        raise InvalidArgumentError(
            f"{name} must fit in memory; got {value}, which needs {nbytes / 2**30:.3g} GiB for {what}, more than "
            f"this machine's {memory / 2**30:.3g} GiB"
        )


def check_progress(value: Any, name: str = "progress") -> bool | None:
    """A progress-bar policy: None (a bar on a terminal), True or False.

    Parameters
    ----------
    value : bool or None
        The policy.
    name : str
        The argument's name, for the error.

    Returns
    -------
    bool or None
        ``value`` (a numpy bool as a Python bool).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise fail(name, "True, False or None", value)


def check_size(name: str, value: Any, *, min_value: int, bytes_each: int, what: str) -> int:
    """An integer size at least ``min_value`` whose allocation (``bytes_each`` per unit) fits in memory.

    Parameters
    ----------
    name : str
        The argument's name.
    value : int
        The size.
    min_value : int
        The smallest size accepted.
    bytes_each : int
        Bytes the computation allocates per unit of the size (a lower estimate).
    what : str
        What is allocated, for the message.

    Returns
    -------
    int
        ``value`` as an ``int``.
    """
    value = check_int(name, value, min_value=min_value)
    check_memory(name, value, value * bytes_each, what)
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


def check_precision(value: Any, name: str = "precision") -> float | None:
    """A relative precision (the half-width of an interval over the estimate) strictly between 0 and 1, or None."""
    if value is None:
        return None
    return check_float(name, value, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the allowed strings."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise fail(name, f"one of {allowed}", value)
    return value


def as_label_array(
    labels: Any,
    *,
    name: str = "labels",
    num_classes: int | None = None,
    allow_empty: bool = False,
    max_label: int | None = None,
) -> np.ndarray:
    """Convert class labels (list, numpy array or torch tensor) to a 1-D ``int64`` numpy array.

    Rejects floats, booleans, negative values, values ``>= num_classes``, values above ``max_label`` (where
    counts are held per class: pass :data:`MAX_NUM_CLASSES` - 1), values beyond int64 (uint64 labels at or above
    2**63 would wrap negative) and non-1-D input.
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
    top = int(array.max())
    if num_classes is not None and top >= num_classes:
        raise InvalidArgumentError(f"{name} must be < num_classes={num_classes}; got a label {top}")
    if max_label is not None and top > max_label:
        raise InvalidArgumentError(
            f"{name} must be at most {max_label} (one count is held per class, up to {max_label + 1} classes); "
            f"got a label {top}"
        )
    if top > np.iinfo(np.int64).max:
        raise InvalidArgumentError(f"{name} must fit in int64 (at most 2**63 - 1); got a label {top}")
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
